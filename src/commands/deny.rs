use crate::cli::DenyArgs;
use crate::context::Context;
use crate::engine::Decided;
use crate::exit::Exit;
use crate::lease::Verdict;
use anyhow::Result;

pub fn run(ctx: &Context, args: DenyArgs) -> Result<Exit> {
    if let Some(store) = ctx.team() {
        let (lease, _) = crate::team::decide(store, &args.id, Verdict::Deny, Some(&args.reason))?;
        ctx.printer
            .decided(&lease, &format!("denied {}: {}", lease.id, args.reason));
        return Ok(Exit::Success);
    }
    let decided =
        ctx.engine()
            .decide(&args.id, &ctx.identity, Verdict::Deny, Some(&args.reason))?;
    let lease = match decided {
        Decided::Denied { lease }
        | Decided::Approved { lease, .. }
        | Decided::Granted { lease, .. }
        | Decided::HandedOver { lease } => lease,
    };
    ctx.printer
        .decided(&lease, &format!("denied {}: {}", lease.id, args.reason));
    Ok(Exit::Success)
}
