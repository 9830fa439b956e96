//! Where leases, approvals and the audit chain live. A store is several narrow traits, one
//! per concern ([`LeaseStore`]: leases and their transaction, [`AuditLog`], [`ShippingState`],
//! [`Locks`]), gathered by [`Store`] so that the embedded SQLite store, the shared team store
//! and the in-memory store of the tests serve the same engine. Errors at this boundary are
//! [`StoreError`]s, whose words are those of the failure they wrap.

#[doc(hidden)]
pub mod conformance;
mod error;
mod lease_row;
#[cfg(test)]
pub(crate) mod memory;
pub mod postgres;
pub(crate) mod queue;
pub(crate) mod sqlite;

pub use error::StoreError;

use crate::audit::{AuditEvent, Break, NewEvent};
use crate::lease::{Approval, Lease, LeaseState};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// What a store operation returns.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which leases to read.
#[derive(Clone, Debug, Default)]
pub struct LeaseFilter {
    /// Only these states (all states when empty).
    pub states: Vec<LeaseState>,
    pub role: Option<String>,
    /// Leases this user requested or holds.
    pub person: Option<String>,
}

impl LeaseFilter {
    /// The live leases `person` requested or holds, of `role` if one is given.
    pub fn live_of(person: &str, role: Option<&str>) -> LeaseFilter {
        LeaseFilter {
            states: LeaseState::LIVE.to_vec(),
            role: role.map(str::to_owned),
            person: Some(person.to_owned()),
        }
    }
}

/// Lease JSON documents: one text, and where each document is in it, in list order.
#[derive(Debug, Default)]
pub struct LeaseDocuments {
    pub text: String,
    pub order: Vec<std::ops::Range<usize>>,
}

/// Which audit events to read.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub lease_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

/// The end of a verified chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainHead {
    pub count: u64,
    pub seq: i64,
    pub hash: String,
}

/// How far a shipping destination has received the audit chain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// The last `seq` the destination acknowledged (0: none yet).
    pub seq: i64,
    /// The chain hash of that record, as it was shipped (None: none yet, or kept by a jit
    /// from before hashes were kept): a store whose record at `seq` has another hash has
    /// forked from what the destination holds.
    pub hash: Option<String>,
    /// When the last attempt failed, while it has not succeeded since.
    pub failed_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

/// A lock [`Locks::lock`] takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock<'a> {
    /// One shipper of the audit trail at a time, so that no event is sent twice.
    Shipping,
    /// One change at a time to the end of the shared entitlement of `role` for `subject`
    /// on its target (the leases [`Tx::holding`] returns).
    Entitlement { role: &'a str, subject: &'a str },
}

/// A held [`Lock`]: dropping it lets go.
#[must_use = "the lock is let go when the guard is dropped"]
pub struct Guard(Held);

/// What each store holds a lock with.
enum Held {
    /// An flock(2)ed file next to the SQLite store.
    File(#[allow(dead_code)] nix::fcntl::Flock<std::fs::File>),
    /// A PostgreSQL session advisory lock.
    Advisory(#[allow(dead_code)] Box<self::postgres::HeldLock>),
    /// A name in the in-memory store's set of taken locks.
    #[cfg(test)]
    Memory(#[allow(dead_code)] memory::HeldLock),
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.0 {
            Held::File(_) => "file",
            Held::Advisory(_) => "advisory",
            #[cfg(test)]
            Held::Memory(_) => "memory",
        };
        f.debug_tuple("Guard").field(&kind).finish()
    }
}

/// Work done inside one write transaction: every change and its audit event commit together.
pub trait Tx {
    fn lease(&mut self, id: &str) -> Result<Option<Lease>>;
    /// Leases of `role` for `subject` that may hold the entitlement now.
    fn holding(&mut self, role: &str, subject: &str) -> Result<Vec<Lease>>;
    /// The leases `filter` selects (as [`LeaseStore::leases`] lists them, without their
    /// approvals), read so that a decision on them holds at commit: no other writer changes
    /// a lease's state meanwhile (the team store first takes the audit chain's lock, which
    /// every such change takes).
    fn leases(&mut self, filter: &LeaseFilter) -> Result<Vec<Lease>>;
    fn insert(&mut self, lease: &Lease) -> Result<()>;
    /// Write what may change of a lease (its state, times, handle and bookkeeping); what
    /// was fixed at request time stays. [`StoreError::NotFound`] when it is not there.
    fn update(&mut self, lease: &Lease) -> Result<()>;
    fn add_approval(&mut self, lease_id: &str, approval: &Approval) -> Result<()>;
    /// Append to the audit chain; returns the new record's `seq`.
    fn append(&mut self, event: &NewEvent) -> Result<i64>;
    /// Link a team store's queued request to the lease it created, in the same transaction
    /// (a lease never exists without the request it answers).
    fn link_request(&mut self, _request: i64, _lease_id: &str) -> Result<()> {
        Err(StoreError::Other(anyhow::anyhow!(
            "this store has no work queue"
        )))
    }
}

/// The work of one transaction; its failure rolls the transaction back.
pub type Work<'a> = dyn FnMut(&mut dyn Tx) -> Result<()> + 'a;

/// Leases and their approvals, read and written in transactions.
pub trait LeaseStore {
    /// Run `work` in one write transaction, serialised against every other writer: all of
    /// it commits, or (when `work` or the commit fails) none of it.
    fn write(&self, work: &mut Work<'_>) -> Result<()>;
    /// Like `write`, for records that may be lost in a power failure without harm because
    /// the sweeper derives them again: a revocation (after the loss the lease looks live and
    /// is revoked again; revoking is idempotent), or the outcome of a grant (the lease is
    /// `granting` again and is reconciled). The store stays consistent either way; only the
    /// wait for the disk is skipped. Never for creating a lease: `granting` must be on disk
    /// before the backend is called.
    fn write_relaxed(&self, work: &mut Work<'_>) -> Result<()> {
        self.write(work)
    }
    fn lease(&self, id: &str) -> Result<Option<Lease>>;
    /// Leases as the lease JSON shows them, in list order (creation time, then id). For
    /// speed on large stores the engine's bookkeeping (handle, params, worker, retry
    /// schedule) is left at its defaults: read a lease with [`LeaseStore::lease`], or
    /// inside a transaction, before acting on it.
    fn leases(&self, filter: &LeaseFilter) -> Result<Vec<Lease>>;
    /// The lease JSON of each lease `leases` would return, in the same order, as stored
    /// with the lease (for `jit list --json` over many leases).
    fn lease_documents(&self, filter: &LeaseFilter) -> Result<LeaseDocuments>;
    /// Leases the sweeper must look at: past their end, due for a retry, in flight, or
    /// pending since before `pending_cutoff`.
    fn due(&self, now: DateTime<Utc>, pending_cutoff: DateTime<Utc>) -> Result<Vec<Lease>>;
    /// When the sweeper next has something to do (`None`: nothing is scheduled).
    fn next_due(&self) -> Result<Option<DateTime<Utc>>>;
}

/// `lease` as [`LeaseStore::leases`] returns it: the engine's bookkeeping at its defaults.
pub fn as_listed(lease: Lease) -> Lease {
    Lease {
        handle: serde_json::Value::Null,
        params: serde_json::Value::Null,
        ending: None,
        worker: None,
        worker_at: None,
        attempts: 0,
        next_attempt_at: None,
        agent_session: None,
        ..lease
    }
}

/// The audit chain: appended in [`Tx::append`], read and verified here.
pub trait AuditLog {
    fn events(&self, filter: &EventFilter) -> Result<Vec<AuditEvent>>;
    /// Visit every audit event in order (for export); `visit`'s error stops the visit and
    /// is returned as it was.
    fn each_event(
        &self,
        visit: &mut dyn FnMut(&AuditEvent) -> anyhow::Result<()>,
    ) -> anyhow::Result<()>;
    /// Recompute the audit chain, and prove it still holds `checkpoint` when one is given;
    /// the inner error names the first bad record.
    fn verify(
        &self,
        checkpoint: Option<crate::audit::Checkpoint>,
    ) -> Result<std::result::Result<ChainHead, Break>>;
    /// The audit events this handle has committed since the last call, in order (for
    /// notifications, sent once the change is durable).
    fn take_committed(&self) -> Vec<AuditEvent>;
    /// The audit events of `kinds`, in order (the certifications of eligibility rules, say).
    fn events_of_kinds(&self, kinds: &[crate::audit::EventKind]) -> Result<Vec<AuditEvent>>;
    /// Up to `limit` audit events after `seq`, in order.
    fn events_after(&self, seq: i64, limit: usize) -> Result<Vec<AuditEvent>>;
    /// The `seq` of the last audit event (0 when there is none).
    fn last_seq(&self) -> Result<i64>;
}

/// How far each shipping destination has received the audit chain.
pub trait ShippingState {
    fn checkpoint(&self, destination: &str) -> Result<Checkpoint>;
    fn set_checkpoint(&self, destination: &str, checkpoint: &Checkpoint) -> Result<()>;
}

/// Locks shared by every process using the store.
pub trait Locks {
    /// Take `lock`, shared with every process using this store (on any host), waiting at
    /// most `patience` while another holds it (zero: only if it is free now). `None` when
    /// it stayed taken. Held until the guard is dropped; a holder that dies lets go of it.
    /// Never taken inside a write transaction.
    fn lock(&self, lock: Lock<'_>, patience: Duration) -> Result<Option<Guard>>;
}

/// A whole store.
pub trait Store: LeaseStore + AuditLog + ShippingState + Locks {
    /// Where the store is, for messages.
    fn location(&self) -> String;
    /// A quick health check for `jit doctor`.
    fn check(&self) -> Result<String>;
    /// This store's own name, made at random when it was created and kept by its backups:
    /// the mark on what jit grants, by which `jit discover` tells its own leftovers from
    /// another deployment's grants on a shared target.
    fn identity(&self) -> Result<String>;
    /// Is the connection of backend `pid` with `application_name` `tag` still open on this
    /// store's server (a team store's `jit mcp` session)? `None`: this store cannot tell.
    fn connection_open(&self, _pid: i32, _tag: &str) -> Result<Option<bool>> {
        Ok(None)
    }
}

/// Run `work` in one write transaction and return what it returns. An error of `work`'s
/// own comes back as it was (with its exit code); a store's is a [`StoreError`].
pub fn write<T>(
    store: &dyn Store,
    work: impl FnOnce(&mut dyn Tx) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    run_once(work, |body| store.write(body))
}

/// [`write()`], with [`LeaseStore::write_relaxed`]'s durability.
pub fn write_relaxed<T>(
    store: &dyn Store,
    work: impl FnOnce(&mut dyn Tx) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    run_once(work, |body| store.write_relaxed(body))
}

fn run_once<T>(
    work: impl FnOnce(&mut dyn Tx) -> anyhow::Result<T>,
    transaction: impl FnOnce(&mut Work<'_>) -> Result<()>,
) -> anyhow::Result<T> {
    let mut work = Some(work);
    let mut out = None;
    let mut failed = None;
    let outcome = transaction(&mut |tx| {
        let work = work.take().expect("a transaction body runs once");
        match work(tx) {
            Ok(value) => {
                out = Some(value);
                Ok(())
            }
            Err(err) => {
                failed = Some(err);
                Err(StoreError::Abandoned)
            }
        }
    });
    if let Some(err) = failed {
        return Err(err);
    }
    outcome?;
    Ok(out.expect("the transaction body ran"))
}
