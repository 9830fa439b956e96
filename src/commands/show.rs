use crate::cli::ShowArgs;
use crate::context::Context;
use crate::exit::Exit;
use crate::store::EventFilter;
use anyhow::Result;

pub fn run(ctx: &Context, args: ShowArgs) -> Result<Exit> {
    let lease = ctx.engine().lease(&args.id)?;
    let events = ctx.store().events(&EventFilter {
        lease_id: Some(lease.id.clone()),
        since: None,
    })?;
    ctx.printer.lease_detail(&lease, &events, ctx.clock.now());
    Ok(Exit::Success)
}
