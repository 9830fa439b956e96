use crate::cli::ExtendArgs;
use crate::context::Context;
use crate::exit::Exit;
use anyhow::Result;

pub fn run(ctx: &Context, args: ExtendArgs) -> Result<Exit> {
    let lease = match ctx.team() {
        Some(store) => crate::team::extend(store, &args.id, args.ttl)?,
        None => ctx.engine().extend(&args.id, &ctx.identity, args.ttl)?,
    };
    ctx.printer.extended(&lease, ctx.clock.now());
    Ok(Exit::Success)
}
