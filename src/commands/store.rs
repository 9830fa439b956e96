use crate::cli::{StoreArgs, StoreCommand};
use crate::context::Context;
use crate::exit::Exit;
use crate::store::Store;
use anyhow::Result;

pub fn run(ctx: &Context, args: StoreArgs) -> Result<Exit> {
    let store = ctx.team_store(
        "jit store init sets up a team store: set [store] kind = \"postgres\" first (the embedded store needs no setup)",
    )?;
    match args.command {
        StoreCommand::Init => {
            use crate::store::postgres::{Init, SCHEMA_VERSION};
            let init = store.init()?;
            ctx.printer.done(&match init {
                Init::Created => format!(
                    "created the jit schema in {} and the roles {}; make each login a member: GRANT jit_requester TO alice;",
                    store.location(),
                    crate::store::postgres::ROLES.join(", ")
                ),
                Init::Upgraded(from) => format!(
                    "upgraded the jit schema in {} from {from} to {SCHEMA_VERSION}",
                    store.location()
                ),
                Init::AlreadyCurrent => format!(
                    "the jit schema in {} is already there; nothing changed",
                    store.location()
                ),
            });
            Ok(Exit::Success)
        }
    }
}
