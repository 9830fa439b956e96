use crate::cli::{StoreArgs, StoreCommand};
use crate::context::Context;
use crate::exit::Exit;
use anyhow::Result;

pub fn run(ctx: &Context, args: StoreArgs) -> Result<Exit> {
    let store = ctx.team_store(
        "jit store init sets up a team store: set [store] kind = \"postgres\" first (the embedded store needs no setup)",
    )?;
    match args.command {
        StoreCommand::Init => {
            let init = store.init()?;
            ctx.printer.store_set_up(&init, store);
            Ok(Exit::Success)
        }
    }
}
