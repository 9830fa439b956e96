use crate::backend::delivery::Said;
use crate::cli::RequestArgs;
use crate::context::Context;
use crate::engine::Requested;
use crate::exit::Exit;
use crate::store::Store;
use crate::store::postgres::PgStore;
use crate::team::{self, handoff::OneTimeKey};
use anyhow::{Context as _, Result};
use std::time::Instant;

pub fn run(ctx: &Context, args: RequestArgs) -> Result<Exit> {
    let engine = ctx.engine();
    if args.out.is_some() && ctx.identity.delegated() {
        return Err(crate::exit::usage(
            "--out is refused under sudo delegation: the certificate goes beside your key",
        ));
    }
    let (input, pubkey) = super::request_input(ctx, args.lease, !args.dry_run)?;
    if args.dry_run && ctx.team().is_some() {
        return Err(crate::exit::usage(
            "--dry-run is not available with a team store: the worker's configuration decides",
        ));
    }
    if args.dry_run {
        let evaluation = engine.evaluate(&ctx.identity, &input)?;
        ctx.printer.dry_run(&evaluation);
        return Ok(Exit::Success);
    }
    let (requested, worker_notice) = match ctx.team() {
        Some(store) => team_request(ctx, store, &input, args.wait, args.timeout)?,
        None => (
            engine.request(&ctx.identity, &input, args.wait.then_some(args.timeout))?,
            None,
        ),
    };
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
        Requested::Pending { lease } => {
            let approvers: Vec<String> = engine
                .role(&lease.role)
                .map(|role| role.approvals.approvers())
                .unwrap_or_default();
            let unshown = worker_notice.or_else(|| engine.unshown_credentials(&lease));
            ctx.printer.pending(&lease, &approvers, unshown.as_deref());
            Ok(Exit::Pending)
        }
    }
}

/// With a team store: queue the request, and take the answer and the credentials from the
/// worker that carries it out; for a request left pending, what the worker said about its
/// credentials.
fn team_request(
    ctx: &Context,
    store: &PgStore,
    input: &crate::engine::RequestInput,
    wait: bool,
    timeout: std::time::Duration,
) -> Result<(Requested, Option<String>)> {
    let key = OneTimeKey::generate();
    let id = team::submit(
        store,
        &team::Ask::Request {
            input,
            handoff_key: key.public(),
        },
    )?;
    let mut answer = team::answered(store, id)?;
    let lease_id = answer
        .lease_id
        .clone()
        .with_context(|| format!("the worker answered request {id} without a lease"))?;
    if answer.status == "pending" && wait {
        let mut progress = ctx.printer.progress();
        answer = team::wait_for(
            store,
            id,
            Instant::now() + timeout,
            |a| a.status == "done" || a.status == "refused",
            &mut |_| {
                if let Ok(Some(lease)) = store.lease(&lease_id) {
                    progress.update(&waiting_news(&lease));
                }
            },
        )?;
    }
    let lease = store
        .lease(&lease_id)?
        .with_context(|| format!("lease {lease_id} is not in the team store"))?;
    match answer.status.as_str() {
        "done" => Ok((
            Requested::Granted {
                credentials: team::pick_up(store, &lease_id, &key)?,
                lease,
                notice: None,
            },
            None,
        )),
        "refused" => Err(answer.refusal()),
        _ => {
            let notice = answer
                .message
                .filter(|message| *message != format!("pending {lease_id}"));
            Ok((Requested::Pending { lease }, notice))
        }
    }
}

/// Where a request waiting for approval stands, for the progress line.
fn waiting_news(lease: &crate::lease::Lease) -> String {
    let given: Vec<&str> = lease
        .approvals
        .iter()
        .filter(|a| a.decision == crate::lease::Verdict::Approve)
        .map(|a| a.by.as_str())
        .collect();
    let mut news = format!(
        "waiting for approval of {}: {} of {}",
        lease.id,
        given.len(),
        lease.approvals_required
    );
    if !given.is_empty() {
        news.push_str(&format!(" (approved by {})", given.join(", ")));
    }
    news
}
