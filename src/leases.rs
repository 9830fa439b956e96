//! The lease service: what a command asks of jit, whichever store it runs on. The local
//! engine ([`crate::engine::Local`]) carries each step out in this process; with a team store
//! a client ([`crate::team::client::Queued`]) queues it for a worker, which runs the same
//! engine with the authoritative configuration. Commands hold a `&dyn Leases` and never learn
//! which one they have; [`crate::output`] alone turns the typed results into words and JSON.

use crate::engine::{Decided, Evaluation, RequestInput, Requested, Revocation};
use crate::lease::{Lease, Verdict};
use anyhow::Result;
use std::time::Duration;

/// Which live leases `jit revoke` ends: those named, or the caller's own (of one role).
pub enum Which<'a> {
    Ids(&'a [String]),
    Mine { role: Option<&'a str> },
}

/// A decision on a pending request, and how its grant reached the requester.
pub struct Decision {
    pub decided: Decided,
    /// Carried out by a team store's worker: any credentials were sealed to the requesting
    /// process, and the worker's wording is kept (scripts read both).
    pub queued: bool,
}

/// What a process that asked for a lease for an agent's session (`jit mcp`) keeps, to take
/// up the grant once the request is approved.
pub enum Pickup {
    /// The local engine: the lease names this process as the one that grants it.
    Here,
    /// A team store: the worker seals the credentials to this process's one-time key, in
    /// answer to queued request `request`.
    Sealed {
        request: i64,
        key: crate::team::handoff::OneTimeKey,
    },
}

pub trait Leases {
    /// The policy decision for a request, changing nothing (`--dry-run`).
    fn evaluate(&self, input: &RequestInput) -> Result<Evaluation<'_>>;

    /// Ask for a lease: granted now, or pending for approval. With `wait`, wait that long for
    /// the approvals, telling `progress` where the request stands.
    fn request(
        &self,
        input: &RequestInput,
        wait: Option<Duration>,
        progress: &mut dyn FnMut(&Lease),
    ) -> Result<Requested>;

    /// The session this process's agent leases are bound to (see [`crate::engine::Session`]):
    /// they end when it ends.
    fn session(&self) -> Result<String>;

    /// Ask for a lease this process holds for an agent (`input.session` set): granted now,
    /// or pending, with what this process keeps to take up the grant after the approval.
    fn request_held(&self, input: &RequestInput) -> Result<(Requested, Pickup)>;

    /// Wait at most `timeout` for the approval of a request this process holds, and take up
    /// its grant; `progress` sees the lease each time it is read (about once a second).
    fn await_held(
        &self,
        lease_id: &str,
        pickup: &Pickup,
        timeout: Duration,
        progress: &mut dyn FnMut(&Lease),
    ) -> Result<Requested>;

    /// Whether a lease can be held for the life of a command (`jit exec`): the credentials
    /// must reach this process and the revocation must run here when the command ends.
    fn holds_for_a_command(&self) -> Result<()>;

    fn decide(&self, id: &str, verdict: Verdict, reason: Option<&str>) -> Result<Decision>;

    /// The live leases `which` names, each one the caller may end: all checked before any
    /// is revoked, so that bad input changes nothing.
    fn to_revoke(&self, which: &Which<'_>) -> Result<Vec<Lease>>;

    /// End a lease now. Idempotent: a lease that has ended already is reported so.
    fn revoke(&self, lease: &Lease) -> Result<Revocation>;

    /// Move an active lease's end to now + `ttl`, within policy.
    fn extend(&self, id: &str, ttl: Duration) -> Result<Lease>;

    /// Announce and ship what this process committed (see [`crate::engine::Engine::publish`]).
    fn publish(&self);
}
