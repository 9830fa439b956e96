//! One file per subcommand: arguments in, engine call, output out.

mod approve;
mod audit;
mod completions;
mod config;
mod credential_process;
mod deny;
mod doctor;
mod exec;
mod extend;
mod init;
mod list;
mod man;
mod request;
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
use crate::trusted_dir::TrustedDir;
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
        .is_some_and(|target| target.settings.backend() == "ssh");
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
    // Acting for someone else: their ~/.ssh/id_ed25519.pub only, read without following a
    // link (~/.ssh is theirs; see trusted_dir), never a key of jit's own account.
    let (path, text) = if ctx.identity.delegated() {
        match (ssh_role && need_key)
            .then(|| delegated_public_key(ctx))
            .transpose()?
        {
            Some(Some((path, text))) => (Some(path), Some(text)),
            _ => (None, None),
        }
    } else {
        // ~/.ssh/id_ed25519.pub, else the key `jit init` made beside the configuration.
        let path = args.pubkey.clone().or_else(|| {
            let beside_config = ctx
                .config
                .path
                .parent()
                .map(|dir| dir.join("id_ed25519.pub"));
            [
                Some(ctx.identity.home.join(".ssh/id_ed25519.pub")),
                beside_config,
            ]
            .into_iter()
            .flatten()
            .find(|candidate| ssh_role && candidate.exists())
        });
        let text = match &path {
            Some(path) if need_key => Some(std::fs::read_to_string(path).map_err(|err| {
                crate::exit::usage(format!("--pubkey {}: {err}", path.display()))
            })?),
            _ => None,
        };
        (path, text)
    };
    let public_key = match (&path, text) {
        (Some(path), Some(text)) if need_key => {
            let key = ssh_key::PublicKey::from_openssh(text.trim()).map_err(|err| {
                crate::exit::usage(format!(
                    "--pubkey {}: not an OpenSSH public key ({err})",
                    path.display()
                ))
            })?;
            // Only the key travels: a comment could carry anything.
            Some(
                key.to_openssh()
                    .map_err(|err| crate::exit::usage(format!("--pubkey: {err}")))?
                    .split(' ')
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        }
        (None, _) if ssh_role && need_key && ctx.identity.delegated() => {
            return Err(crate::exit::usage(format!(
                "role {:?} certifies a public key: there is no {} (under sudo, jit certifies that key only)",
                args.role,
                ctx.identity.home.join(".ssh/id_ed25519.pub").display()
            )));
        }
        (None, _) if ssh_role && need_key => {
            return Err(crate::exit::usage(format!(
                "role {:?} certifies a public key: give --pubkey FILE (no {} and no id_ed25519.pub beside the configuration)",
                args.role,
                ctx.identity.home.join(".ssh/id_ed25519.pub").display()
            )));
        }
        _ => None,
    };
    let input = crate::engine::RequestInput {
        role: args.role,
        ttl: args.ttl,
        ticket: args.ticket,
        reason: args.reason,
        public_key,
        queued_as: None,
    };
    Ok((input, path))
}

/// The requester's `~/.ssh/id_ed25519.pub` and its text, read through [`TrustedDir`]: `None`
/// when they have none; an error naming the path when `~/.ssh` or the key is a link, someone
/// else's, or writable by others.
fn delegated_public_key(ctx: &Context) -> Result<Option<(std::path::PathBuf, String)>> {
    let dir = ctx.identity.home.join(".ssh");
    let owner = nix::unistd::Uid::from_raw(ctx.identity.uid);
    let dir = match TrustedDir::open(&dir, owner) {
        Err(err) if err.is_missing() => return Ok(None),
        other => other?,
    };
    let Some(body) = dir.read("id_ed25519.pub")? else {
        return Ok(None);
    };
    let path = dir.path().join("id_ed25519.pub");
    let text = String::from_utf8(body)
        .map_err(|_| crate::exit::usage(format!("{}: not UTF-8 text", path.display())))?;
    Ok(Some((path, text)))
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
                Command::Audit(args) => audit::run(&ctx, args),
                Command::Worker(args) => worker::run(&ctx, args),
                Command::Store(args) => store::run(&ctx, args),
                Command::Completions(_)
                | Command::Init(_)
                | Command::Man
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
