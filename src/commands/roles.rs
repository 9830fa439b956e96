use crate::context::Context;
use crate::exit::Exit;
use anyhow::Result;

pub fn run(ctx: &Context) -> Result<Exit> {
    ctx.printer.roles(&ctx.engine().roles_for(&ctx.identity));
    Ok(Exit::Success)
}
