use crate::cli::ListArgs;
use crate::context::Context;
use crate::exit::{self, Exit};
use crate::lease::LeaseState;
use crate::store::LeaseFilter;
use anyhow::Result;

pub fn run(ctx: &Context, args: ListArgs) -> Result<Exit> {
    let states = match &args.state {
        Some(text) => vec![text.parse::<LeaseState>().map_err(exit::usage)?],
        None if args.all => Vec::new(),
        None => LeaseState::LIVE.to_vec(),
    };
    let filter = LeaseFilter {
        states,
        role: args.role,
        person: args.mine.then(|| ctx.identity.user.clone()),
    };
    if ctx.printer.json {
        ctx.printer
            .json_documents(&ctx.store().lease_documents(&filter)?);
    } else {
        let leases = ctx.store().leases(&filter)?;
        ctx.printer.leases(&leases, ctx.clock.now());
    }
    Ok(Exit::Success)
}
