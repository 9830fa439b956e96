use crate::cli::RevokeArgs;
use crate::context::Context;
use crate::engine::RevokeOutcome;
use crate::exit::{self, Exit};
use crate::lease::LeaseState;
use crate::store::{EventFilter, LeaseFilter};
use anyhow::{Context as _, Result};
use std::io::Write;

pub fn run(ctx: &Context, args: RevokeArgs) -> Result<Exit> {
    if args.export.is_some() && ctx.identity.delegated() {
        return Err(exit::usage(
            "--export is refused under sudo delegation; redirect the printed trail instead",
        ));
    }
    let engine = ctx.engine();
    // Resolve and check every lease before revoking any: bad input changes nothing.
    let leases = if args.ids.is_empty() {
        if let Some(role) = args.role.as_deref().filter(|_| ctx.team().is_none()) {
            engine.role(role)?;
        }
        let filter = LeaseFilter {
            states: LeaseState::ALL
                .into_iter()
                .filter(|s| !s.is_final())
                .collect(),
            role: args.role.clone(),
            person: Some(ctx.identity.user.clone()),
        };
        ctx.store().leases(&filter)?
    } else {
        args.ids
            .iter()
            .map(|id| engine.lease(id))
            .collect::<Result<Vec<_>>>()?
    };
    // With a team store, the worker checks (with its configuration).
    for lease in leases.iter().filter(|_| ctx.team().is_none()) {
        engine.may_end(&ctx.identity, lease)?;
    }

    let mut results = Vec::with_capacity(leases.len());
    for lease in &leases {
        let revocation = match ctx.team() {
            Some(store) => crate::team::revoke(store, &lease.id)?,
            None => engine.revoke(&lease.id)?,
        };
        let events = ctx.store().events(&EventFilter {
            lease_id: Some(lease.id.clone()),
            since: None,
        })?;
        results.push((revocation.lease, revocation.outcome, events));
    }

    let exported = match &args.export {
        Some(path) => {
            let mut file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            for (_, _, events) in &results {
                for event in events {
                    serde_json::to_writer(&mut file, event)?;
                    file.write_all(b"\n")?;
                }
            }
            file.sync_all()?;
            Some(path.display().to_string())
        }
        None => None,
    };
    ctx.printer.revocations(&results, exported.as_deref());
    if results.is_empty() {
        ctx.printer.note("no live leases matched");
    }
    if results
        .iter()
        .any(|(_, outcome, _)| matches!(outcome, RevokeOutcome::Failed { .. }))
    {
        return Ok(Exit::RevokeIncomplete);
    }
    if results
        .iter()
        .any(|(_, outcome, _)| matches!(outcome, RevokeOutcome::InFlight))
    {
        return Err(exit::usage(
            "some leases are being granted or revoked by another process; run the command again",
        ));
    }
    Ok(Exit::Success)
}
