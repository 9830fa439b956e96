use crate::cli::ApproveArgs;
use crate::context::Context;
use crate::exit::Exit;
use crate::lease::Verdict;
use anyhow::Result;

pub fn run(ctx: &Context, args: ApproveArgs) -> Result<Exit> {
    let decision = ctx
        .leases()
        .decide(&args.id, Verdict::Approve, args.reason.as_deref())?;
    ctx.printer.decision(&decision, None);
    Ok(Exit::Success)
}
