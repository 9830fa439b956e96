//! `jit credential-process --role R`: the AWS credentials of the caller's live lease of R,
//! in the JSON the AWS CLI and SDKs read from a `credential_process` program. They come
//! from the user keyring, where `jit request` kept them for the life of the lease; nothing
//! is requested here.

use crate::cli::CredentialProcessArgs;
use crate::context::Context;
use crate::credential_cache;
use crate::exit::{self, Exit};
use crate::lease::LeaseState;
use crate::store::LeaseFilter;
use anyhow::{Result, anyhow};
use chrono::DateTime;

pub fn run(ctx: &Context, args: CredentialProcessArgs) -> Result<Exit> {
    let engine = ctx.engine();
    let role = engine.role(&args.role)?;
    let backend = engine.backend_for(&role.target)?;
    if !backend.caches_credentials(&role.grant) {
        return Err(exit::usage(format!(
            "role {:?} does not issue credentials that jit keeps (only aws assume-role roles do)",
            role.name
        )));
    }
    let now = ctx.clock.now();
    let mut leases = ctx.store().leases(&LeaseFilter {
        states: vec![LeaseState::Active],
        role: Some(role.name.clone()),
        person: Some(ctx.identity.user.clone()),
    })?;
    leases.retain(|l| l.subject == ctx.identity.user && l.expires_at.is_some_and(|e| e > now));
    leases.sort_by_key(|l| std::cmp::Reverse(l.expires_at));
    for lease in leases {
        let Some(credentials) = credential_cache::load(&lease.id)? else {
            continue;
        };
        // The CLI asks again at this time: the lease end, or the credentials' own if earlier.
        let lease_end = lease.expires_at.unwrap_or(now);
        let expiration = credentials
            .expose()
            .get("AWS_CREDENTIAL_EXPIRATION")
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or(lease_end, |t| t.to_utc().min(lease_end));
        ctx.printer.credential_process(&credentials, expiration);
        return Ok(Exit::Success);
    }
    Err(anyhow!(
        "no credentials kept for role {:?}: {} has no active lease of it whose credentials are in \
         this user's keyring; request one with `jit request --role {}`",
        role.name,
        ctx.identity.user,
        role.name
    ))
}
