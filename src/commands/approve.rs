use crate::cli::ApproveArgs;
use crate::context::Context;
use crate::engine::Decided;
use crate::exit::Exit;
use crate::lease::Verdict;
use anyhow::Result;

pub fn run(ctx: &Context, args: ApproveArgs) -> Result<Exit> {
    if let Some(store) = ctx.team() {
        let (lease, text) =
            crate::team::decide(store, &args.id, Verdict::Approve, args.reason.as_deref())?;
        ctx.printer.decided(&lease, &text);
        return Ok(Exit::Success);
    }
    let decided = ctx.engine().decide(
        &args.id,
        &ctx.identity,
        Verdict::Approve,
        args.reason.as_deref(),
    )?;
    let (lease, text) = match decided {
        Decided::Approved { lease, remaining } => {
            let text = format!("approved {}; {remaining} more approval(s) needed", lease.id);
            (lease, text)
        }
        Decided::Granted { lease, credentials } => {
            let mut text = format!(
                "approved and granted {}: role {} for {}",
                lease.id, lease.role, lease.subject
            );
            if credentials.is_some() {
                text.push_str(
                    " (it issued credentials, which approvers never see and jit does not keep: \
                     for such roles the requester should wait with `jit request --wait`, \
                     or revoke and request again)",
                );
            }
            (lease, text)
        }
        Decided::HandedOver { lease } => {
            let text = format!(
                "approved {}; the waiting requester is granting it now",
                lease.id
            );
            (lease, text)
        }
        Decided::Denied { lease } => {
            let text = format!("denied {}", lease.id);
            (lease, text)
        }
    };
    ctx.printer.decided(&lease, &text);
    Ok(Exit::Success)
}
