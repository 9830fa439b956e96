use crate::cli::DenyArgs;
use crate::context::Context;
use crate::exit::Exit;
use crate::lease::Verdict;
use anyhow::Result;

pub fn run(ctx: &Context, args: DenyArgs) -> Result<Exit> {
    let decision = ctx
        .leases()
        .decide(&args.id, Verdict::Deny, Some(&args.reason))?;
    ctx.printer.decision(&decision, Some(&args.reason));
    Ok(Exit::Success)
}
