use crate::backend::delivery::Said;
use crate::cli::RequestArgs;
use crate::context::Context;
use crate::engine::Requested;
use crate::exit::Exit;
use anyhow::Result;

pub fn run(ctx: &Context, args: RequestArgs) -> Result<Exit> {
    let leases = ctx.leases();
    if args.out.is_some() && ctx.identity.delegated() {
        return Err(crate::exit::usage(
            "--out is refused under sudo delegation: the certificate goes beside your key",
        ));
    }
    let (input, pubkey) = super::request_input(ctx, args.lease, !args.dry_run)?;
    if args.dry_run {
        let evaluation = leases.evaluate(&input)?;
        ctx.printer.dry_run(&evaluation);
        return Ok(Exit::Success);
    }
    // Waiting for approvals, where the request stands is shown as it changes.
    let mut progress = None;
    let mut news = |lease: &crate::lease::Lease| {
        progress
            .get_or_insert_with(|| ctx.printer.progress())
            .update(&crate::output::waiting(lease));
    };
    let requested = leases.request(&input, args.wait.then_some(args.timeout), &mut news)?;
    drop(progress);
    match requested {
        Requested::Granted {
            lease,
            credentials,
            notice,
        } => {
            ctx.printer
                .granted(&lease, credentials.as_ref(), ctx.clock.now());
            if let Some(notice) = notice {
                ctx.printer.note(&format!("jit: note: {notice}"));
            }
            let params = ctx.config.roles.get(&lease.role).map(|role| &role.grant);
            for said in crate::backend::delivery::deliver(
                &ctx.identity,
                ctx.clock.now(),
                &lease,
                params,
                credentials.as_ref(),
                pubkey.as_deref(),
                args.out.clone(),
            ) {
                match said {
                    Said::Note(text) => ctx.printer.note(&text),
                    Said::Warn(text) => ctx.printer.warn(&text),
                }
            }
            Ok(Exit::Success)
        }
        Requested::Pending { lease, notice } => {
            let approvers = ctx.approvers(&lease);
            ctx.printer.pending(&lease, &approvers, notice.as_deref());
            Ok(Exit::Pending)
        }
    }
}
