use crate::cli::ExtendArgs;
use crate::context::Context;
use crate::exit::Exit;
use anyhow::Result;

pub fn run(ctx: &Context, args: ExtendArgs) -> Result<Exit> {
    let lease = ctx.leases().extend(&args.id, args.ttl)?;
    ctx.printer.extended(&lease, ctx.clock.now());
    Ok(Exit::Success)
}
