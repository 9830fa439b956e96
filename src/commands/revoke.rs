use crate::cli::RevokeArgs;
use crate::context::Context;
use crate::engine::RevokeOutcome;
use crate::exit::{self, Exit};
use crate::leases::Which;
use crate::store::EventFilter;
use anyhow::{Context as _, Result};
use std::io::Write;

pub fn run(ctx: &Context, args: RevokeArgs) -> Result<Exit> {
    if args.export.is_some() && ctx.identity.delegated() {
        return Err(exit::usage(
            "--export is refused under sudo delegation; redirect the printed trail instead",
        ));
    }
    let leases = ctx.leases();
    // Resolve and check every lease before revoking any: bad input changes nothing.
    let which = match args.ids.is_empty() {
        true => Which::Mine {
            role: args.role.as_deref(),
        },
        false => Which::Ids(&args.ids),
    };
    let chosen = leases.to_revoke(&which)?;
    let mut results = Vec::with_capacity(chosen.len());
    for lease in &chosen {
        let revocation = leases.revoke(lease)?;
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
