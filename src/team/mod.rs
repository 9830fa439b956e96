//! Team mode: people ask, workers act. With a team store, `jit request`, `approve`, `deny`,
//! `revoke` and `extend` do not touch a lease or a target themselves: they put a request in
//! the store's work queue (as their own database login, which the database checks) and wait
//! for a worker (`jit worker`, holding the target credentials and the authoritative
//! configuration) to answer it. Credentials come back sealed to the asking process.

pub mod client;
pub mod handoff;
pub mod worker;

use crate::lease::{Lease, LeaseState};
use crate::store::Store;
use anyhow::Result;

/// What a lease that ended while its request waited means to the requester.
pub fn outcome_of(store: &dyn Store, lease: &Lease) -> Result<(i32, String)> {
    let id = &lease.id;
    Ok(match lease.state {
        LeaseState::Denied => (3, lease.denial()),
        LeaseState::Cancelled => (3, crate::engine::cancellation(store, lease)?),
        other => (
            1,
            match &lease.last_error {
                Some(error) => format!("lease {id} is {other}: {error}"),
                None => format!("lease {id} is {other}"),
            },
        ),
    })
}
