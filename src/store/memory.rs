//! A store held in memory, with the semantics of the SQL stores: a write transaction is all
//! or nothing, the audit chain is hashed as [`crate::audit`] does (so `verify` proves it),
//! times are kept to the second as the SQL stores keep them, and locks are exclusive between
//! every handle on the same store. For tests: engine unit tests run on it in microseconds.
//!
//! [`MemoryStore::handle`] opens another handle on the same data, as a second process would
//! open the same SQLite file: it shares leases, the chain and locks, and has its own list of
//! committed events.

use super::{
    AuditLog, ChainHead, Checkpoint, EventFilter, Guard, Held, LeaseDocuments, LeaseFilter,
    LeaseStore, Lock, Locks, Result, ShippingState, Store, StoreError, Tx, Work,
};
use crate::audit::{self, AuditEvent, Break, NewEvent, RawRecord, Verifier};
use crate::lease::{Approval, Lease, LeaseState};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One audit record as the SQL stores hold it: `details` is the canonical text the hash
/// covers, not re-encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub lease_id: Option<String>,
    pub kind: String,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl Record {
    fn event(&self) -> AuditEvent {
        AuditEvent {
            seq: self.seq,
            at: self.at.clone(),
            actor: self.actor.clone(),
            lease_id: self.lease_id.clone(),
            kind: self.kind.clone(),
            details: serde_json::from_str(&self.details)
                .unwrap_or_else(|_| serde_json::Value::String(self.details.clone())),
            prev_hash: self.prev_hash.clone(),
            hash: self.hash.clone(),
        }
    }
}

/// A lease row: the lease without its approvals, and its document.
#[derive(Clone, Debug)]
struct Row {
    lease: Lease,
    document: String,
}

/// Everything a store holds.
#[derive(Clone, Debug, Default)]
pub struct Data {
    leases: BTreeMap<String, Row>,
    /// Approvals by lease, in the order the SQL stores read them (`at`, then `by`).
    approvals: HashMap<String, Vec<Approval>>,
    /// The chain, in `seq` order.
    pub audit: Vec<Record>,
    /// The last record appended (`seq`, `hash`).
    pub head: Option<(i64, String)>,
    checkpoints: HashMap<String, Checkpoint>,
}

impl Data {
    fn with_approvals(&self, mut lease: Lease) -> Lease {
        lease.approvals = self.approvals.get(&lease.id).cloned().unwrap_or_default();
        lease
    }

    fn matching<'a>(&'a self, filter: &'a LeaseFilter) -> impl Iterator<Item = &'a Row> + 'a {
        self.leases.values().filter(move |row| {
            let lease = &row.lease;
            (filter.states.is_empty() || filter.states.contains(&lease.state))
                && filter.role.as_ref().is_none_or(|role| &lease.role == role)
                && filter
                    .person
                    .as_ref()
                    .is_none_or(|p| &lease.requester == p || &lease.subject == p)
        })
    }

    /// Rows in list order: by creation time (to the second), then id.
    fn sorted<'a>(rows: impl Iterator<Item = &'a Row>) -> Vec<&'a Row> {
        let mut rows: Vec<&Row> = rows.collect();
        rows.sort_by(|a, b| {
            (a.lease.created_at, &a.lease.id).cmp(&(b.lease.created_at, &b.lease.id))
        });
        rows
    }
}

/// What every handle on one store shares.
#[derive(Default)]
struct Shared {
    data: Mutex<Data>,
    /// Held for the length of a write transaction: writers queue here.
    writer: Mutex<()>,
    /// The thread in a write transaction, so that a nested one fails as in SQLite rather
    /// than waiting for itself.
    writing: Mutex<Option<std::thread::ThreadId>>,
    /// The locks taken ([`Locks::lock`](super::Locks::lock)), by name.
    locks: Mutex<HashSet<String>>,
    released: Condvar,
}

/// An in-memory store (see the module documentation).
pub struct MemoryStore {
    shared: Arc<Shared>,
    committed: Mutex<Vec<AuditEvent>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore {
            shared: Arc::default(),
            committed: Mutex::default(),
        }
    }

    /// Another handle on the same store, as another process would open it.
    pub fn handle(&self) -> MemoryStore {
        MemoryStore {
            shared: Arc::clone(&self.shared),
            committed: Mutex::default(),
        }
    }

    /// Change what the store holds behind its back (to prove that `verify` sees it).
    pub fn tamper(&self, change: impl FnOnce(&mut Data)) {
        change(&mut self.data());
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        self.shared
            .data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `time` as the SQL stores keep it: whole seconds.
fn to_second(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(time.timestamp(), 0).unwrap_or(time)
}

fn maybe_second(time: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    time.map(to_second)
}

/// `lease` as a row holds it: times to the second, no approvals.
fn stored(lease: &Lease) -> Lease {
    Lease {
        created_at: to_second(lease.created_at),
        granted_at: maybe_second(lease.granted_at),
        expires_at: maybe_second(lease.expires_at),
        ended_at: maybe_second(lease.ended_at),
        worker_at: maybe_second(lease.worker_at),
        next_attempt_at: maybe_second(lease.next_attempt_at),
        approvals: Vec::new(),
        ..lease.clone()
    }
}

fn conflict(message: &str) -> StoreError {
    StoreError::Conflict(anyhow::anyhow!("{message}"))
}

struct MemoryTx<'d> {
    data: &'d mut Data,
    appended: Vec<AuditEvent>,
}

impl Tx for MemoryTx<'_> {
    fn lease(&mut self, id: &str) -> Result<Option<Lease>> {
        Ok(self
            .data
            .leases
            .get(id)
            .map(|row| self.data.with_approvals(row.lease.clone())))
    }

    fn holding(&mut self, role: &str, subject: &str) -> Result<Vec<Lease>> {
        Ok(self
            .data
            .leases
            .values()
            .filter(|row| {
                row.lease.role == role
                    && row.lease.subject == subject
                    && LeaseState::HOLDING.contains(&row.lease.state)
            })
            .map(|row| row.lease.clone())
            .collect())
    }

    fn leases(&mut self, filter: &LeaseFilter) -> Result<Vec<Lease>> {
        Ok(Data::sorted(self.data.matching(filter))
            .into_iter()
            .map(|row| super::as_listed(row.lease.clone()))
            .collect())
    }

    fn insert(&mut self, lease: &Lease) -> Result<()> {
        if self.data.leases.contains_key(&lease.id) {
            return Err(conflict("UNIQUE constraint failed: leases.id"));
        }
        let document = serde_json::to_string(lease)?;
        self.data.leases.insert(
            lease.id.clone(),
            Row {
                lease: stored(lease),
                document,
            },
        );
        Ok(())
    }

    fn update(&mut self, lease: &Lease) -> Result<()> {
        let document = serde_json::to_string(lease)?;
        let Some(row) = self.data.leases.get_mut(&lease.id) else {
            return Err(StoreError::NotFound(lease.id.clone()));
        };
        // The columns the SQL stores' UPDATE sets; the rest is fixed at insert.
        let new = stored(lease);
        let kept = &mut row.lease;
        kept.state = new.state;
        kept.granted_at = new.granted_at;
        kept.expires_at = new.expires_at;
        kept.ended_at = new.ended_at;
        kept.handle = new.handle;
        kept.ending = new.ending;
        kept.worker = new.worker;
        kept.worker_at = new.worker_at;
        kept.attempts = new.attempts;
        kept.next_attempt_at = new.next_attempt_at;
        kept.last_error = new.last_error;
        kept.ttl_secs = new.ttl_secs;
        row.document = document;
        Ok(())
    }

    fn add_approval(&mut self, lease_id: &str, approval: &Approval) -> Result<()> {
        if !self.data.leases.contains_key(lease_id) {
            return Err(conflict("FOREIGN KEY constraint failed"));
        }
        let list = self.data.approvals.entry(lease_id.to_owned()).or_default();
        if list.iter().any(|a| a.by == approval.by) {
            return Err(conflict(
                "UNIQUE constraint failed: approvals.lease_id, approvals.by",
            ));
        }
        list.push(Approval {
            at: to_second(approval.at),
            ..approval.clone()
        });
        list.sort_by(|a, b| (a.at, &a.by).cmp(&(b.at, &b.by)));
        Ok(())
    }

    fn append(&mut self, event: &NewEvent) -> Result<i64> {
        let (prev_seq, prev_hash) = self
            .data
            .head
            .clone()
            .unwrap_or((0, audit::GENESIS.to_owned()));
        let (record, details) = event.chain(prev_seq + 1, prev_hash);
        if self.data.audit.iter().any(|r| r.seq == record.seq) {
            return Err(conflict("UNIQUE constraint failed: audit.seq"));
        }
        self.data.audit.push(Record {
            seq: record.seq,
            at: record.at.clone(),
            actor: record.actor.clone(),
            lease_id: record.lease_id.clone(),
            kind: record.kind.clone(),
            details,
            prev_hash: record.prev_hash.clone(),
            hash: record.hash.clone(),
        });
        self.data.head = Some((record.seq, record.hash.clone()));
        let seq = record.seq;
        self.appended.push(record);
        Ok(seq)
    }
}

/// A held [`Lock`]: dropping it lets go and wakes those waiting.
pub(super) struct HeldLock {
    shared: Arc<Shared>,
    name: String,
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        let mut locks = self
            .shared
            .locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        locks.remove(&self.name);
        self.shared.released.notify_all();
    }
}

impl LeaseStore for MemoryStore {
    fn write(&self, work: &mut Work<'_>) -> Result<()> {
        let me = std::thread::current().id();
        let writing = || {
            self.shared
                .writing
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        };
        if *writing() == Some(me) {
            return Err(StoreError::Other(anyhow::anyhow!(
                "cannot start a transaction within a transaction"
            )));
        }
        let _writer = self
            .shared
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *writing() = Some(me);
        // Work on a copy; it replaces the data only if the work succeeds.
        let mut copy = self.data().clone();
        let mut tx = MemoryTx {
            data: &mut copy,
            appended: Vec::new(),
        };
        let outcome = work(&mut tx);
        *writing() = None;
        outcome?;
        let appended = tx.appended;
        *self.data() = copy;
        self.committed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend(appended);
        Ok(())
    }

    fn lease(&self, id: &str) -> Result<Option<Lease>> {
        let data = self.data();
        Ok(data
            .leases
            .get(id)
            .map(|row| data.with_approvals(row.lease.clone())))
    }

    fn leases(&self, filter: &LeaseFilter) -> Result<Vec<Lease>> {
        let data = self.data();
        Ok(Data::sorted(data.matching(filter))
            .into_iter()
            .map(|row| data.with_approvals(super::as_listed(row.lease.clone())))
            .collect())
    }

    fn lease_documents(&self, filter: &LeaseFilter) -> Result<LeaseDocuments> {
        let data = self.data();
        let mut documents = LeaseDocuments::default();
        for row in Data::sorted(data.matching(filter)) {
            let start = documents.text.len();
            documents.text.push_str(&row.document);
            documents.order.push(start..documents.text.len());
        }
        Ok(documents)
    }

    fn due(&self, now: DateTime<Utc>, pending_cutoff: DateTime<Utc>) -> Result<Vec<Lease>> {
        let (now, cutoff) = (now.timestamp(), pending_cutoff.timestamp());
        let at_or_before =
            |time: Option<DateTime<Utc>>, limit: i64| time.is_some_and(|t| t.timestamp() <= limit);
        let data = self.data();
        let due = data.leases.values().filter(|row| {
            let lease = &row.lease;
            match lease.state {
                LeaseState::Active => at_or_before(lease.expires_at, now),
                LeaseState::RevokeFailed => {
                    lease.next_attempt_at.is_none() || at_or_before(lease.next_attempt_at, now)
                }
                LeaseState::Granting | LeaseState::Revoking => true,
                LeaseState::Pending => lease.created_at.timestamp() <= cutoff,
                _ => false,
            }
        });
        Ok(Data::sorted(due)
            .into_iter()
            .map(|row| data.with_approvals(row.lease.clone()))
            .collect())
    }

    fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self
            .data()
            .leases
            .values()
            .filter_map(|row| match row.lease.state {
                LeaseState::Active => row.lease.expires_at,
                LeaseState::RevokeFailed => row.lease.next_attempt_at,
                _ => None,
            })
            .min())
    }
}

impl AuditLog for MemoryStore {
    fn events(&self, filter: &EventFilter) -> Result<Vec<AuditEvent>> {
        let since = filter
            .since
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        Ok(self
            .data()
            .audit
            .iter()
            .filter(|r| {
                filter
                    .lease_id
                    .as_ref()
                    .is_none_or(|id| r.lease_id.as_ref() == Some(id))
                    && since.as_ref().is_none_or(|since| &r.at >= since)
            })
            .map(Record::event)
            .collect())
    }

    fn each_event(
        &self,
        visit: &mut dyn FnMut(&AuditEvent) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let records = self.data().audit.clone();
        for record in &records {
            visit(&record.event())?;
        }
        Ok(())
    }

    fn verify(
        &self,
        checkpoint: Option<audit::Checkpoint>,
    ) -> Result<std::result::Result<ChainHead, Break>> {
        let data = self.data();
        let mut verifier = Verifier::holding(checkpoint);
        for r in &data.audit {
            let record = RawRecord {
                seq: r.seq,
                at: &r.at,
                actor: &r.actor,
                lease_id: r.lease_id.as_deref(),
                kind: &r.kind,
                details: &r.details,
                prev_hash: &r.prev_hash,
                hash: &r.hash,
            };
            if let Err(found) = verifier.check(&record) {
                return Ok(Err(found));
            }
        }
        let head = data
            .head
            .as_ref()
            .map_or((0, audit::GENESIS), |(seq, hash)| (*seq, hash.as_str()));
        Ok(verifier.finish(head).map(|(seq, hash)| ChainHead {
            count: verifier.count,
            seq,
            hash,
        }))
    }

    fn take_committed(&self) -> Vec<AuditEvent> {
        std::mem::take(
            &mut *self
                .committed
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    fn events_of_kinds(&self, kinds: &[crate::audit::EventKind]) -> Result<Vec<AuditEvent>> {
        Ok(self
            .data()
            .audit
            .iter()
            .filter(|r| kinds.iter().any(|k| k.as_str() == r.kind))
            .map(Record::event)
            .collect())
    }

    fn events_after(&self, seq: i64, limit: usize) -> Result<Vec<AuditEvent>> {
        Ok(self
            .data()
            .audit
            .iter()
            .filter(|r| r.seq > seq)
            .take(limit)
            .map(Record::event)
            .collect())
    }

    fn last_seq(&self) -> Result<i64> {
        Ok(self.data().audit.iter().map(|r| r.seq).max().unwrap_or(0))
    }
}

impl ShippingState for MemoryStore {
    fn checkpoint(&self, destination: &str) -> Result<Checkpoint> {
        Ok(self
            .data()
            .checkpoints
            .get(destination)
            .cloned()
            .unwrap_or_default())
    }

    fn set_checkpoint(&self, destination: &str, checkpoint: &Checkpoint) -> Result<()> {
        self.data().checkpoints.insert(
            destination.to_owned(),
            Checkpoint {
                failed_at: maybe_second(checkpoint.failed_at),
                ..checkpoint.clone()
            },
        );
        Ok(())
    }
}

impl Locks for MemoryStore {
    fn lock(&self, lock: Lock<'_>, patience: Duration) -> Result<Option<Guard>> {
        let name = match lock {
            Lock::Shipping => "shipping".to_owned(),
            Lock::Entitlement { role, subject } => format!("entitlement/{role}/{subject}"),
        };
        let deadline = Instant::now() + patience;
        let mut locks = self
            .shared
            .locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        while locks.contains(&name) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            locks = self
                .shared
                .released
                .wait_timeout(locks, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        locks.insert(name.clone());
        Ok(Some(Guard(Held::Memory(HeldLock {
            shared: Arc::clone(&self.shared),
            name,
        }))))
    }
}

impl Store for MemoryStore {
    fn location(&self) -> String {
        "memory".to_owned()
    }

    fn identity(&self) -> Result<String> {
        Ok("memorystore00000".to_owned())
    }

    fn check(&self) -> Result<String> {
        Ok(format!("{} leases", self.data().leases.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::EventKind;

    fn lease(id: &str) -> Lease {
        super::super::conformance::lease(id, "db-admin", "alice", 0)
    }

    fn event(id: &str) -> NewEvent {
        NewEvent {
            at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            actor: "alice".into(),
            lease_id: Some(id.into()),
            kind: EventKind::Requested,
            details: serde_json::json!({"b": 1, "a": [2]}),
        }
    }

    #[test]
    fn a_failed_transaction_leaves_nothing() {
        let store = MemoryStore::new();
        let failed: anyhow::Result<()> = super::super::write(&store, |tx| {
            tx.insert(&lease("a"))?;
            tx.append(&event("a"))?;
            anyhow::bail!("no")
        });
        assert_eq!(failed.unwrap_err().to_string(), "no");
        assert_eq!(store.lease("a").unwrap(), None);
        assert_eq!(store.last_seq().unwrap(), 0);
        assert!(store.take_committed().is_empty());
        let nested: anyhow::Result<()> = super::super::write(&store, |_| {
            super::super::write(&store, |tx| Ok(tx.insert(&lease("b"))?))
        });
        assert_eq!(
            nested.unwrap_err().to_string(),
            "cannot start a transaction within a transaction"
        );
        assert_eq!(store.lease("b").unwrap(), None);
    }

    #[test]
    fn the_chain_verifies_and_an_edit_is_named() {
        let store = MemoryStore::new();
        for id in ["a", "b", "c"] {
            super::super::write(&store, |tx| {
                tx.insert(&lease(id))?;
                Ok(tx.append(&event(id)).map(drop)?)
            })
            .unwrap();
        }
        assert_eq!(store.take_committed().len(), 3);
        let head = store.verify(None).unwrap().unwrap();
        assert_eq!((head.count, head.seq), (3, 3));
        store.tamper(|data| data.audit[1].details = "{}".into());
        assert_eq!(store.verify(None).unwrap(), Err(Break::Edited { seq: 2 }));
    }

    #[test]
    fn a_lock_is_exclusive_across_handles_until_dropped() {
        let store = MemoryStore::new();
        let other = store.handle();
        let held = store.lock(Lock::Shipping, Duration::ZERO).unwrap();
        assert!(held.is_some());
        assert!(
            other
                .lock(Lock::Shipping, Duration::ZERO)
                .unwrap()
                .is_none()
        );
        assert!(
            other
                .lock(Lock::Shipping, Duration::from_millis(20))
                .unwrap()
                .is_none()
        );
        drop(held);
        assert!(
            other
                .lock(Lock::Shipping, Duration::ZERO)
                .unwrap()
                .is_some()
        );
    }
}
