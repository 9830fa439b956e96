//! One file per subcommand: arguments in, engine call, output out.

mod approve;
mod audit;
mod completions;
mod config;
mod deny;
mod doctor;
mod exec;
mod extend;
mod list;
mod man;
mod request;
mod revoke;
mod roles;
mod secret;
mod show;
mod sweep;

use crate::cli::{Cli, Command};
use crate::context::Context;
use crate::exit::Exit;
use anyhow::Result;

impl From<crate::cli::LeaseArgs> for crate::engine::RequestInput {
    fn from(args: crate::cli::LeaseArgs) -> Self {
        crate::engine::RequestInput {
            role: args.role,
            ttl: args.ttl,
            ticket: args.ticket,
            reason: args.reason,
        }
    }
}

pub fn dispatch(cli: Cli) -> Result<Exit> {
    let global = cli.global;
    match cli.command {
        Command::Completions(args) => completions::run(&global, args),
        Command::Man => man::run(&global),
        Command::Config(args) => config::run(&global, args),
        Command::Doctor => doctor::run(&global),
        Command::Secret(args) => secret::run(&global, args),
        command => {
            let ctx = Context::load(&global)?;
            match command {
                Command::Request(args) => request::run(&ctx, args),
                Command::Exec(args) => exec::run(&ctx, args),
                Command::List(args) => list::run(&ctx, args),
                Command::Show(args) => show::run(&ctx, args),
                Command::Revoke(args) => revoke::run(&ctx, args),
                Command::Extend(args) => extend::run(&ctx, args),
                Command::Approve(args) => approve::run(&ctx, args),
                Command::Deny(args) => deny::run(&ctx, args),
                Command::Roles => roles::run(&ctx),
                Command::Sweep(args) => sweep::run(&ctx, args),
                Command::Audit(args) => audit::run(&ctx, args),
                Command::Completions(_)
                | Command::Man
                | Command::Config(_)
                | Command::Doctor
                | Command::Secret(_) => {
                    unreachable!("handled above")
                }
            }
        }
    }
}
