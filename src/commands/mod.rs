//! One file per subcommand: arguments in, a call to the lease service (or the context), output out.

mod approve;
mod audit;
mod certify;
mod completions;
mod config;
mod credential_process;
mod deny;
mod discover;
mod doctor;
mod exec;
mod extend;
mod init;
mod list;
mod man;
mod mcp;
mod request;
mod review;
mod revoke;
mod roles;
mod secret;
mod show;
mod store;
mod sweep;
mod worker;

use crate::cli::{Cli, Command};
use crate::context::Context;
use crate::exit::Exit;
use anyhow::Result;

/// What `request` and `exec` ask for, with the public key an ssh role certifies: `--pubkey`,
/// or the requester's `~/.ssh/id_ed25519.pub`. Returns the key's file too.
fn request_input(
    ctx: &Context,
    args: crate::cli::LeaseArgs,
    need_key: bool,
) -> Result<(crate::engine::RequestInput, Option<std::path::PathBuf>)> {
    let ssh_role = ctx
        .config
        .roles
        .get(&args.role)
        .and_then(|role| ctx.config.targets.get(&role.target))
        .is_some_and(|target| target.settings.takes_public_key());
    if args.pubkey.is_some() && ctx.identity.delegated() {
        // A privileged process must not read a file the requester names.
        return Err(crate::exit::usage(
            "--pubkey is refused under sudo delegation: jit certifies your ~/.ssh/id_ed25519.pub",
        ));
    }
    if args.pubkey.is_some() && !ssh_role {
        return Err(crate::exit::usage(format!(
            "--pubkey applies to ssh roles; role {:?} certifies no key",
            args.role
        )));
    }
    let (path, public_key) = crate::backend::delivery::requester_key(
        &ctx.identity,
        &ctx.config.path,
        args.pubkey.clone(),
        &args.role,
        ssh_role,
        need_key,
    )?;
    let input = crate::engine::RequestInput {
        role: args.role,
        ttl: args.ttl,
        ticket: args.ticket,
        reason: args.reason,
        public_key,
        queued_as: None,
        agent: None,
        session: None,
    };
    Ok((input, path))
}

/// A time on the command line (`--since`, `--until`): RFC 3339, or a duration ago.
fn time_arg(
    flag: &str,
    text: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&chrono::Utc));
    }
    let ago = crate::duration::parse(text).map_err(|_| {
        crate::exit::usage(format!(
            "{flag} {}: use RFC 3339 (2026-01-31T12:00:00Z) or a duration ago (2h, 30d)",
            crate::text::quoted(text)
        ))
    })?;
    Ok(now - chrono::TimeDelta::seconds(i64::try_from(ago.as_secs()).unwrap_or(0)))
}

pub fn dispatch(cli: Cli) -> Result<Exit> {
    let global = cli.global;
    match cli.command {
        Command::Completions(args) => completions::run(&global, args),
        Command::Man => man::run(&global),
        Command::Config(args) => config::run(&global, args),
        Command::Doctor => doctor::run(&global),
        Command::Init(args) => init::run(&global, args),
        Command::Secret(args) => secret::run(&global, args),
        // It builds its context on the thread that serves the session.
        Command::Mcp => mcp::run(global),
        command => {
            if let Command::Worker(_) = command {
                worker::check_store_kind(&global)?;
            }
            let ctx = Context::load(&global)?;
            let outcome = match command {
                Command::Request(args) => request::run(&ctx, args),
                Command::Exec(args) => exec::run(&ctx, args),
                Command::List(args) => list::run(&ctx, args),
                Command::Show(args) => show::run(&ctx, args),
                Command::Revoke(args) => revoke::run(&ctx, args),
                Command::Extend(args) => extend::run(&ctx, args),
                Command::CredentialProcess(args) => credential_process::run(&ctx, args),
                Command::Approve(args) => approve::run(&ctx, args),
                Command::Deny(args) => deny::run(&ctx, args),
                Command::Roles => roles::run(&ctx),
                Command::Sweep(args) => sweep::run(&ctx, args),
                Command::Discover(args) => discover::run(&ctx, args),
                Command::Review(args) => review::run(&ctx, args),
                Command::Audit(args) => audit::run(&ctx, args),
                Command::Worker(args) => worker::run(&ctx, args),
                Command::Store(args) => store::run(&ctx, args),
                Command::Completions(_)
                | Command::Init(_)
                | Command::Man
                | Command::Mcp
                | Command::Config(_)
                | Command::Doctor
                | Command::Secret(_) => {
                    unreachable!("handled above")
                }
            };
            // Whatever the outcome, what was committed is announced and shipped (after
            // the command's output).
            ctx.engine().publish();
            outcome
        }
    }
}
