use crate::cli::RequestArgs;
use crate::context::Context;
use crate::engine::{RequestInput, Requested};
use crate::exit::Exit;
use anyhow::Result;

pub fn run(ctx: &Context, args: RequestArgs) -> Result<Exit> {
    let engine = ctx.engine();
    let input = RequestInput::from(args.lease);
    if args.dry_run {
        let evaluation = engine.evaluate(&ctx.identity, &input)?;
        ctx.printer.dry_run(&evaluation);
        return Ok(Exit::Success);
    }
    match engine.request(&ctx.identity, &input, args.wait.then_some(args.timeout))? {
        Requested::Granted { lease, credentials } => {
            ctx.printer
                .granted(&lease, credentials.as_ref(), ctx.clock.now());
            Ok(Exit::Success)
        }
        Requested::Pending { lease } => {
            let approvers: Vec<String> = engine
                .role(&lease.role)
                .map(|role| role.approvals.approvers())
                .unwrap_or_default();
            ctx.printer.pending(&lease, &approvers);
            Ok(Exit::Pending)
        }
    }
}
