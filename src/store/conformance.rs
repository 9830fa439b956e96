//! What every store must do, written once: each check takes a fresh, empty store and states
//! exact results. `cargo test --lib` runs them on the in-memory and the SQLite store; the
//! integration suite runs them on PostgreSQL (tests/it/store.rs).

use super::{Checkpoint, EventFilter, LeaseFilter, Lock, Store, StoreError, Tx};
use crate::audit::{self, Break, EventKind, NewEvent};
use crate::lease::{Approval, Ending, Lease, LeaseState, Verdict};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// A fresh, empty store to check, and what the checks cannot do through the store itself.
pub trait Fixture {
    fn store(&self) -> &dyn Store;
    /// Another handle on the same store, as another process would open it.
    fn another(&self) -> Box<dyn Store>;
    /// Replace the stored `details` text of audit record `seq`, behind the store's back.
    fn tamper(&self, seq: i64, details: &str);
}

/// One check: it fails by panicking.
pub type Check = fn(&dyn Fixture);

/// Every check, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("a lease round-trips every field", lease_round_trip),
    (
        "an update changes only what may change",
        update_keeps_fixed_fields,
    ),
    ("a failed transaction changes nothing", failed_transaction),
    ("holding returns the leases that may hold", holding),
    (
        "leases filters by state, role and person, in order",
        lease_filters,
    ),
    (
        "lease documents are the lease JSON, in list order",
        lease_documents,
    ),
    ("due and next_due", due_and_next_due),
    ("approvals are kept in order, once per approver", approvals),
    (
        "the audit chain is appended, read and verified",
        audit_chain,
    ),
    ("verify names an edited record", tamper_detected),
    ("committed events are handed out once", take_committed),
    ("checkpoints round-trip", checkpoints),
    ("a lock is exclusive and let go on drop", locks),
];

/// Run every check, each on a store of its own from `fresh`; panics naming each check
/// that failed.
pub fn run(fresh: &dyn Fn() -> Box<dyn Fixture>) {
    let mut failed = Vec::new();
    for (name, check) in CHECKS {
        let fixture = fresh();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&*fixture)));
        if let Err(panic) = outcome {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failed.push(format!("{name}: {why}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} store checks failed:\n{}",
        failed.len(),
        CHECKS.len(),
        failed.join("\n")
    );
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("a time")
}

/// A pending lease with every field the request sets.
pub fn lease(id: &str, role: &str, subject: &str, created: i64) -> Lease {
    Lease {
        id: id.into(),
        role: role.into(),
        target: "db".into(),
        backend: "postgres".into(),
        subject: subject.into(),
        requester: subject.into(),
        state: LeaseState::Pending,
        ticket: Some("OPS-1".into()),
        reason: Some("a \"quoted\" reason".into()),
        created_at: at(created),
        granted_at: None,
        expires_at: None,
        ended_at: None,
        approvals: Vec::new(),
        break_glass: false,
        last_error: None,
        ttl_secs: 600,
        approvals_required: 1,
        handle: serde_json::Value::Null,
        params: serde_json::json!({"grant": "SELECT", "schemas": ["a", "b"]}),
        ending: None,
        worker: None,
        worker_at: None,
        attempts: 0,
        next_attempt_at: None,
        agent: Some(crate::lease::Agent {
            client: "pytest-agent 9.8.7".into(),
            task: "a \"quoted\" task".into(),
        }),
        agent_session: Some("host:4242:17".into()),
    }
}

fn in_state(mut lease: Lease, state: LeaseState) -> Lease {
    lease.state = state;
    lease
}

fn event(lease_id: Option<&str>, kind: EventKind, secs: i64) -> NewEvent {
    NewEvent {
        at: at(secs),
        actor: "alice".into(),
        lease_id: lease_id.map(str::to_owned),
        kind,
        details: serde_json::json!({"z": 1, "a": {"y": "é\n", "b": [1, 2]}}),
    }
}

fn write(store: &dyn Store, work: impl FnOnce(&mut dyn Tx) -> super::Result<()>) {
    super::write(store, |tx| Ok(work(tx)?)).expect("the transaction commits");
}

fn insert_all(store: &dyn Store, leases: &[Lease]) {
    write(store, |tx| {
        for lease in leases {
            tx.insert(lease)?;
        }
        Ok(())
    });
}

/// The kind of a store's error, without what it wraps.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    NotFound,
    Conflict,
    Unavailable,
    Corrupt,
    Other,
    Abandoned,
    /// Not a store's error, or no error at all.
    None,
}

fn kind<T>(outcome: anyhow::Result<T>) -> Kind {
    match outcome
        .err()
        .as_ref()
        .and_then(|e| e.downcast_ref::<StoreError>())
    {
        Some(StoreError::NotFound(_)) => Kind::NotFound,
        Some(StoreError::Conflict(_)) => Kind::Conflict,
        Some(StoreError::Unavailable(_)) => Kind::Unavailable,
        Some(StoreError::Corrupt(_)) => Kind::Corrupt,
        Some(StoreError::Other(_)) => Kind::Other,
        Some(StoreError::Abandoned) => Kind::Abandoned,
        None => Kind::None,
    }
}

fn ids(leases: &[Lease]) -> Vec<&str> {
    leases.iter().map(|l| l.id.as_str()).collect()
}

fn summary(lease: &Lease) -> Lease {
    super::as_listed(lease.clone())
}

/// A lease with every field set to something other than its default.
fn full_lease() -> Lease {
    Lease {
        state: LeaseState::RevokeFailed,
        granted_at: Some(at(10)),
        expires_at: Some(at(610)),
        ended_at: Some(at(700)),
        break_glass: true,
        last_error: Some("the target said no".into()),
        ttl_secs: 3600,
        approvals_required: 2,
        handle: serde_json::json!({"user": "jit_abc", "n": 3}),
        ending: Some(Ending::Expired),
        worker: Some("host:42".into()),
        worker_at: Some(at(20)),
        attempts: 4,
        next_attempt_at: Some(at(800)),
        ..lease("l-full", "db-admin", "alice", 0)
    }
}

fn lease_round_trip(f: &dyn Fixture) {
    let store = f.store();
    let mut written = full_lease();
    written.requester = "bob".into();
    // Times are kept to the second.
    let mut with_nanos = written.clone();
    with_nanos.worker_at = Some(at(20) + chrono::Duration::milliseconds(250));
    insert_all(store, &[with_nanos]);
    assert_eq!(store.lease("l-full").unwrap(), Some(written.clone()));
    assert_eq!(store.lease("l-missing").unwrap(), None);
    let mut in_tx = None;
    write(store, |tx| {
        in_tx = tx.lease("l-full")?;
        Ok(())
    });
    assert_eq!(in_tx, Some(written.clone()));
    assert_eq!(
        store.leases(&LeaseFilter::default()).unwrap(),
        vec![summary(&written)]
    );
    // A second lease with that id is refused, and the first stays as it was.
    let again = super::write(store, |tx| {
        Ok(tx.insert(&lease("l-full", "other", "carol", 5))?)
    });
    assert_eq!(kind(again), Kind::Conflict);
    assert_eq!(store.lease("l-full").unwrap(), Some(written));
}

fn update_keeps_fixed_fields(f: &dyn Fixture) {
    let store = f.store();
    let first = lease("l-1", "db-admin", "alice", 0);
    insert_all(store, std::slice::from_ref(&first));
    let changed = Lease {
        // What an update writes:
        state: LeaseState::Active,
        granted_at: Some(at(1)),
        expires_at: Some(at(601)),
        ended_at: Some(at(602)),
        handle: serde_json::json!({"user": "jit_1"}),
        ending: Some(Ending::Revoked),
        worker: Some("h:1".into()),
        worker_at: Some(at(3)),
        attempts: 2,
        next_attempt_at: Some(at(4)),
        last_error: Some("once".into()),
        ttl_secs: 1200,
        // What is fixed at insert, and stays:
        role: "other".into(),
        target: "other".into(),
        backend: "other".into(),
        subject: "other".into(),
        requester: "other".into(),
        ticket: None,
        reason: None,
        created_at: at(99),
        break_glass: true,
        approvals_required: 7,
        params: serde_json::json!({}),
        ..first.clone()
    };
    write(store, |tx| tx.update(&changed));
    let expected = Lease {
        role: first.role.clone(),
        target: first.target.clone(),
        backend: first.backend.clone(),
        subject: first.subject.clone(),
        requester: first.requester.clone(),
        ticket: first.ticket.clone(),
        reason: first.reason.clone(),
        created_at: first.created_at,
        break_glass: first.break_glass,
        approvals_required: first.approvals_required,
        params: first.params.clone(),
        ..changed.clone()
    };
    assert_eq!(store.lease("l-1").unwrap(), Some(expected));
    // Updating a lease that is not there fails, naming it.
    let missing = super::write(store, |tx| Ok(tx.update(&lease("l-2", "r", "s", 0))?));
    let missing = missing.unwrap_err();
    assert_eq!(missing.to_string(), "lease l-2 is not in the store");
    assert!(matches!(
        missing.downcast_ref::<StoreError>(),
        Some(StoreError::NotFound(id)) if id == "l-2"
    ));
}

fn failed_transaction(f: &dyn Fixture) {
    let store = f.store();
    insert_all(store, &[lease("l-1", "db-admin", "alice", 0)]);
    write(store, |tx| {
        tx.append(&event(Some("l-1"), EventKind::Requested, 0))
            .map(drop)
    });
    let before = (
        store.lease("l-1").unwrap(),
        store.events(&EventFilter::default()).unwrap(),
        store.verify(None).unwrap(),
    );
    let _ = store.take_committed();
    for relaxed in [false, true] {
        let work = |tx: &mut dyn Tx| -> anyhow::Result<()> {
            tx.insert(&lease("l-2", "db-admin", "bob", 1))?;
            tx.update(&in_state(
                lease("l-1", "db-admin", "alice", 0),
                LeaseState::Active,
            ))?;
            tx.add_approval(
                "l-1",
                &Approval {
                    by: "carol".into(),
                    at: at(2),
                    decision: Verdict::Approve,
                    reason: None,
                },
            )?;
            tx.append(&event(Some("l-2"), EventKind::Requested, 1))?;
            anyhow::bail!("the work failed")
        };
        let outcome = if relaxed {
            super::write_relaxed(store, work)
        } else {
            super::write(store, work)
        };
        // The work's own error comes back as it was, and so does its exit code.
        assert_eq!(outcome.unwrap_err().to_string(), "the work failed");
        let denied = super::write(store, |tx| -> anyhow::Result<()> {
            tx.insert(&lease("l-5", "db-admin", "bob", 1))?;
            Err(crate::exit::denied("not you"))
        })
        .unwrap_err();
        assert_eq!(denied.to_string(), "not you");
        assert_eq!(crate::exit::exit_for(&denied), crate::exit::Exit::Denied);
        // A store error inside the work undoes what came before it, too.
        let outcome = super::write(store, |tx| {
            tx.insert(&lease("l-3", "db-admin", "bob", 1))?;
            tx.append(&event(Some("l-3"), EventKind::Requested, 1))?;
            Ok(tx.update(&lease("l-4", "db-admin", "bob", 1))?)
        });
        assert_eq!(
            outcome.unwrap_err().to_string(),
            "lease l-4 is not in the store"
        );
        let after = (
            store.lease("l-1").unwrap(),
            store.events(&EventFilter::default()).unwrap(),
            store.verify(None).unwrap(),
        );
        assert_eq!(after, before);
        assert_eq!(store.lease("l-2").unwrap(), None);
        assert_eq!(store.lease("l-3").unwrap(), None);
        assert_eq!(store.lease("l-5").unwrap(), None);
        assert_eq!(store.last_seq().unwrap(), 1);
        assert!(store.take_committed().is_empty());
    }
    // And the store goes on: the next transaction commits.
    write(store, |tx| tx.insert(&lease("l-2", "db-admin", "bob", 1)));
    assert!(store.lease("l-2").unwrap().is_some());
    let relaxed = super::write_relaxed(store, |tx| {
        Ok(tx.update(&in_state(
            lease("l-2", "db-admin", "bob", 1),
            LeaseState::Cancelled,
        ))?)
    });
    relaxed.unwrap();
    assert_eq!(
        store.lease("l-2").unwrap().map(|l| l.state),
        Some(LeaseState::Cancelled)
    );
}

fn holding(f: &dyn Fixture) {
    let store = f.store();
    let mut leases = Vec::new();
    for (i, state) in LeaseState::ALL.into_iter().enumerate() {
        leases.push(in_state(
            lease(&format!("l-{i:02}"), "db-admin", "alice", 0),
            state,
        ));
    }
    leases.push(in_state(
        lease("o-role", "other", "alice", 0),
        LeaseState::Active,
    ));
    leases.push(in_state(
        lease("o-subject", "db-admin", "bob", 0),
        LeaseState::Active,
    ));
    insert_all(store, &leases);
    let mut held = Vec::new();
    write(store, |tx| {
        held = tx.holding("db-admin", "alice")?;
        Ok(())
    });
    held.sort_by(|a, b| a.id.cmp(&b.id));
    // granting, active, revoking and revoke-failed, whole.
    let expected: Vec<Lease> = leases
        .iter()
        .filter(|l| {
            LeaseState::HOLDING.contains(&l.state) && l.role == "db-admin" && l.subject == "alice"
        })
        .cloned()
        .collect();
    assert_eq!(ids(&held), ["l-01", "l-02", "l-03", "l-04"]);
    for (got, want) in held.iter().zip(&expected) {
        assert_eq!(
            Lease {
                approvals: Vec::new(),
                ..got.clone()
            },
            *want
        );
    }
    let mut none = vec![lease("x", "x", "x", 0)];
    write(store, |tx| {
        none = tx.holding("db-admin", "carol")?;
        Ok(())
    });
    assert!(none.is_empty());
}

/// Leases whose creation order is not their id order: `c` first, then `a` and `b` in the
/// same second.
fn listed() -> Vec<Lease> {
    let mut bob_for_alice = lease("b", "db-admin", "alice", 5);
    bob_for_alice.requester = "bob".into();
    vec![
        in_state(lease("c", "ops", "carol", 1), LeaseState::Active),
        in_state(bob_for_alice, LeaseState::Pending),
        in_state(lease("a", "db-admin", "dave", 5), LeaseState::Expired),
        in_state(lease("d", "ops", "bob", 9), LeaseState::Revoked),
    ]
}

fn lease_filters(f: &dyn Fixture) {
    let store = f.store();
    assert!(store.leases(&LeaseFilter::default()).unwrap().is_empty());
    insert_all(store, &listed());
    let list = |filter: LeaseFilter| {
        let leases = store.leases(&filter).unwrap();
        ids(&leases).join(" ")
    };
    assert_eq!(list(LeaseFilter::default()), "c a b d");
    assert_eq!(
        list(LeaseFilter {
            states: vec![LeaseState::Active, LeaseState::Pending],
            ..Default::default()
        }),
        "c b"
    );
    assert_eq!(
        list(LeaseFilter {
            role: Some("db-admin".into()),
            ..Default::default()
        }),
        "a b"
    );
    // A person: leases they requested or hold.
    assert_eq!(
        list(LeaseFilter {
            person: Some("bob".into()),
            ..Default::default()
        }),
        "b d"
    );
    assert_eq!(
        list(LeaseFilter {
            states: vec![LeaseState::Revoked],
            role: Some("ops".into()),
            person: Some("bob".into()),
        }),
        "d"
    );
    assert_eq!(
        list(LeaseFilter {
            role: Some("nobody".into()),
            ..Default::default()
        }),
        ""
    );
    let all = store.leases(&LeaseFilter::default()).unwrap();
    let mut expected = listed();
    expected.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    assert_eq!(all, expected.iter().map(summary).collect::<Vec<_>>());
}

fn lease_documents(f: &dyn Fixture) {
    let store = f.store();
    let mut leases = listed();
    insert_all(store, &leases);
    // A document is the lease JSON as last written.
    leases[0].last_error = Some("slow".into());
    leases[0].expires_at = Some(at(700));
    write(store, |tx| tx.update(&leases[0]));
    let live = LeaseFilter {
        states: LeaseState::LIVE.to_vec(),
        ..Default::default()
    };
    for filter in [
        LeaseFilter::default(),
        live,
        LeaseFilter {
            person: Some("bob".into()),
            ..Default::default()
        },
        LeaseFilter {
            role: Some("nobody".into()),
            ..Default::default()
        },
    ] {
        let documents = store.lease_documents(&filter).unwrap();
        let got: Vec<&str> = documents
            .order
            .iter()
            .map(|range| &documents.text[range.clone()])
            .collect();
        let want: Vec<String> = store
            .leases(&filter)
            .unwrap()
            .iter()
            .map(|listed| {
                let lease = leases.iter().find(|l| l.id == listed.id).unwrap();
                serde_json::to_string(lease).unwrap()
            })
            .collect();
        assert_eq!(got, want, "{filter:?}");
    }
}

fn due_and_next_due(f: &dyn Fixture) {
    let store = f.store();
    assert_eq!(store.next_due().unwrap(), None);
    let with =
        |id: &str, created: i64, state: LeaseState, expires: Option<i64>, retry: Option<i64>| {
            Lease {
                expires_at: expires.map(at),
                next_attempt_at: retry.map(at),
                ..in_state(lease(id, "r", "s", created), state)
            }
        };
    let leases = vec![
        with("active-past", 3, LeaseState::Active, Some(100), None),
        with("active-now", 2, LeaseState::Active, Some(200), None),
        with("active-later", 1, LeaseState::Active, Some(201), None),
        with("retry-due", 4, LeaseState::RevokeFailed, None, Some(200)),
        with("retry-unset", 4, LeaseState::RevokeFailed, None, None),
        with("retry-later", 5, LeaseState::RevokeFailed, None, Some(150)),
        with("granting", 6, LeaseState::Granting, None, None),
        with("revoking", 0, LeaseState::Revoking, None, None),
        with("pending-old", 10, LeaseState::Pending, None, None),
        with("pending-new", 11, LeaseState::Pending, None, None),
        with("expired", 0, LeaseState::Expired, Some(0), Some(0)),
    ];
    insert_all(store, &leases);
    // retry-later's retry is at 150: due at 200.
    let due = store.due(at(200), at(10)).unwrap();
    assert_eq!(
        ids(&due),
        [
            "revoking",
            "active-now",
            "active-past",
            "retry-due",
            "retry-unset",
            "retry-later",
            "granting",
            "pending-old"
        ]
    );
    // Whole leases, bookkeeping and all.
    let retry = due.iter().find(|l| l.id == "retry-due").unwrap();
    assert_eq!(
        *retry,
        leases.iter().find(|l| l.id == "retry-due").unwrap().clone()
    );
    let early = store.due(at(99), at(9)).unwrap();
    assert_eq!(ids(&early), ["revoking", "retry-unset", "granting"]);
    // The earliest end of an active lease or retry of a failed revocation.
    assert_eq!(store.next_due().unwrap(), Some(at(100)));
    write(store, |tx| {
        for id in ["active-past", "active-now", "active-later"] {
            tx.update(&with(id, 0, LeaseState::Revoked, None, None))?;
        }
        Ok(())
    });
    assert_eq!(store.next_due().unwrap(), Some(at(150)));
}

fn approvals(f: &dyn Fixture) {
    let store = f.store();
    let first = lease("l-1", "db-admin", "alice", 0);
    insert_all(store, &[first.clone(), lease("l-2", "db-admin", "bob", 0)]);
    let approval = |by: &str, secs: i64, decision: Verdict| Approval {
        by: by.into(),
        at: at(secs),
        decision,
        reason: (decision == Verdict::Deny).then(|| "no".to_owned()),
    };
    write(store, |tx| {
        tx.add_approval("l-1", &approval("zed", 5, Verdict::Approve))?;
        tx.add_approval("l-1", &approval("carol", 7, Verdict::Deny))?;
        tx.add_approval("l-1", &approval("bob", 5, Verdict::Approve))
    });
    // In order of time, then approver.
    let expected = vec![
        approval("bob", 5, Verdict::Approve),
        approval("zed", 5, Verdict::Approve),
        approval("carol", 7, Verdict::Deny),
    ];
    let read = store.lease("l-1").unwrap().unwrap();
    assert_eq!(read.approvals, expected);
    let mut in_tx = None;
    write(store, |tx| {
        in_tx = tx.lease("l-1")?;
        Ok(())
    });
    assert_eq!(in_tx.unwrap().approvals, expected);
    let listed = store.leases(&LeaseFilter::default()).unwrap();
    assert_eq!(listed[0].approvals, expected);
    assert!(listed[1].approvals.is_empty());
    // One decision per approver.
    let twice = super::write(store, |tx| {
        Ok(tx.add_approval("l-1", &approval("bob", 9, Verdict::Deny))?)
    });
    assert_eq!(kind(twice), Kind::Conflict);
    let unknown = super::write(store, |tx| {
        Ok(tx.add_approval("l-9", &approval("bob", 9, Verdict::Deny))?)
    });
    assert_eq!(kind(unknown), Kind::Conflict);
    assert_eq!(store.lease("l-1").unwrap().unwrap().approvals, expected);
    // Adding an approval leaves the document as the lease was last written.
    let documents = store.lease_documents(&LeaseFilter::default()).unwrap();
    assert_eq!(
        &documents.text[documents.order[0].clone()],
        serde_json::to_string(&first).unwrap()
    );
}

fn audit_chain(f: &dyn Fixture) {
    let store = f.store();
    assert_eq!(store.last_seq().unwrap(), 0);
    let empty = store.verify(None).unwrap().unwrap();
    assert_eq!(
        (empty.count, empty.seq, empty.hash.as_str()),
        (0, 0, audit::GENESIS)
    );
    let events = [
        event(Some("l-1"), EventKind::Requested, 0),
        event(Some("l-2"), EventKind::Requested, 10),
        event(None, EventKind::NotifyFailed, 20),
        event(Some("l-1"), EventKind::Granted, 30),
    ];
    let mut seqs = Vec::new();
    write(store, |tx| {
        seqs.push(tx.append(&events[0])?);
        seqs.push(tx.append(&events[1])?);
        Ok(())
    });
    write(store, |tx| {
        seqs.push(tx.append(&events[2])?);
        seqs.push(tx.append(&events[3])?);
        Ok(())
    });
    assert_eq!(seqs, [1, 2, 3, 4]);
    assert_eq!(store.last_seq().unwrap(), 4);
    // Each record hashed as audit.rs says: over the previous hash and the canonical text.
    let all = store.events(&EventFilter::default()).unwrap();
    let mut prev = audit::GENESIS.to_owned();
    for (record, new) in all.iter().zip(&events) {
        let details = audit::canonical_details(&new.details);
        let body = audit::canonical(
            record.seq,
            &new.at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            &new.actor,
            new.lease_id.as_deref(),
            new.kind.as_str(),
            &details,
        );
        let hash = audit::chain_hash(&prev, &body);
        assert_eq!(record.prev_hash, prev);
        assert_eq!(record.hash, hash);
        assert_eq!(record.details, new.details);
        assert_eq!(record.kind, new.kind.as_str());
        assert_eq!(record.lease_id, new.lease_id);
        prev = hash;
    }
    let seqs_of = |events: Vec<audit::AuditEvent>| events.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(seqs_of(all.clone()), [1, 2, 3, 4]);
    let filtered = |lease_id: Option<&str>, since: Option<i64>| {
        seqs_of(
            store
                .events(&EventFilter {
                    lease_id: lease_id.map(str::to_owned),
                    since: since.map(at),
                })
                .unwrap(),
        )
    };
    assert_eq!(filtered(Some("l-1"), None), [1, 4]);
    assert_eq!(filtered(None, Some(10)), [2, 3, 4]);
    assert_eq!(filtered(Some("l-1"), Some(10)), [4]);
    assert_eq!(filtered(Some("l-9"), None), Vec::<i64>::new());
    let of_kinds = |kinds: &[EventKind]| seqs_of(store.events_of_kinds(kinds).unwrap());
    assert_eq!(of_kinds(&[EventKind::Requested]), [1, 2]);
    assert_eq!(
        of_kinds(&[EventKind::Granted, EventKind::NotifyFailed]),
        [3, 4]
    );
    assert_eq!(of_kinds(&[EventKind::Certified]), Vec::<i64>::new());
    assert_eq!(of_kinds(&[]), Vec::<i64>::new());
    assert_eq!(seqs_of(store.events_after(1, 2).unwrap()), [2, 3]);
    assert_eq!(seqs_of(store.events_after(3, 10).unwrap()), [4]);
    assert_eq!(
        seqs_of(store.events_after(4, 10).unwrap()),
        Vec::<i64>::new()
    );
    let mut visited = Vec::new();
    store
        .each_event(&mut |event| {
            visited.push(event.clone());
            Ok(())
        })
        .unwrap();
    assert_eq!(visited, all);
    let head = store.verify(None).unwrap().unwrap();
    assert_eq!((head.count, head.seq), (4, 4));
    assert_eq!(head.hash, all[3].hash);
    // A kept checkpoint holds; one the chain does not hold is named.
    let kept = |seq: i64, hash: &str| {
        Some(audit::Checkpoint {
            seq,
            hash: hash.to_owned(),
        })
    };
    assert_eq!(store.verify(kept(2, &all[1].hash)).unwrap(), Ok(head));
    assert_eq!(
        store.verify(kept(2, &all[0].hash)).unwrap(),
        Err(Break::Rewritten {
            seq: 2,
            found: all[1].hash.clone()
        })
    );
    assert_eq!(
        store.verify(kept(9, &all[0].hash)).unwrap(),
        Err(Break::ShortOfCheckpoint { seq: 9, last: 4 })
    );
}

fn tamper_detected(f: &dyn Fixture) {
    let store = f.store();
    write(store, |tx| {
        for secs in 0..3 {
            tx.append(&event(Some("l-1"), EventKind::Requested, secs))?;
        }
        Ok(())
    });
    assert!(store.verify(None).unwrap().is_ok());
    f.tamper(2, "{\"z\":2}");
    assert_eq!(store.verify(None).unwrap(), Err(Break::Edited { seq: 2 }));
}

fn take_committed(f: &dyn Fixture) {
    let store = f.store();
    let other = f.another();
    assert!(store.take_committed().is_empty());
    write(store, |tx| {
        tx.append(&event(Some("l-1"), EventKind::Requested, 0))?;
        tx.append(&event(Some("l-1"), EventKind::Granted, 1))
            .map(drop)
    });
    let committed = store.take_committed();
    assert_eq!(committed, store.events(&EventFilter::default()).unwrap());
    assert!(store.take_committed().is_empty());
    // Only the handle that committed them hands them out.
    assert!(other.take_committed().is_empty());
    write(&*other, |tx| {
        tx.append(&event(None, EventKind::NotifyFailed, 2))
            .map(drop)
    });
    assert!(store.take_committed().is_empty());
    let theirs = other.take_committed();
    assert_eq!(theirs.iter().map(|e| e.seq).collect::<Vec<_>>(), [3]);
    // Both handles see one chain.
    assert_eq!(store.last_seq().unwrap(), 3);
    assert!(store.verify(None).unwrap().is_ok());
}

fn checkpoints(f: &dyn Fixture) {
    let store = f.store();
    assert_eq!(store.checkpoint("syslog").unwrap(), Checkpoint::default());
    let failing = Checkpoint {
        seq: 0,
        hash: None,
        failed_at: Some(at(5)),
        error: Some("connection refused".into()),
    };
    store.set_checkpoint("syslog", &failing).unwrap();
    assert_eq!(store.checkpoint("syslog").unwrap(), failing);
    let shipped = Checkpoint {
        seq: 12,
        hash: Some("ab".repeat(32)),
        failed_at: None,
        error: None,
    };
    store.set_checkpoint("syslog", &shipped).unwrap();
    store.set_checkpoint("s3", &failing).unwrap();
    assert_eq!(store.checkpoint("syslog").unwrap(), shipped);
    assert_eq!(store.checkpoint("s3").unwrap(), failing);
    assert_eq!(f.another().checkpoint("syslog").unwrap(), shipped);
}

fn locks(f: &dyn Fixture) {
    let store = f.store();
    let other = f.another();
    let alice = Lock::Entitlement {
        role: "db-admin",
        subject: "alice",
    };
    let bob = Lock::Entitlement {
        role: "db-admin",
        subject: "bob",
    };
    let shipping = store.lock(Lock::Shipping, Duration::ZERO).unwrap();
    assert!(shipping.is_some());
    assert!(
        other
            .lock(Lock::Shipping, Duration::ZERO)
            .unwrap()
            .is_none()
    );
    let started = std::time::Instant::now();
    assert!(
        other
            .lock(Lock::Shipping, Duration::from_millis(100))
            .unwrap()
            .is_none()
    );
    assert!(started.elapsed() >= Duration::from_millis(90));
    // Other locks are other locks.
    let held_alice = other.lock(alice, Duration::ZERO).unwrap();
    assert!(held_alice.is_some());
    assert!(store.lock(alice, Duration::ZERO).unwrap().is_none());
    assert!(store.lock(bob, Duration::ZERO).unwrap().is_some());
    drop(shipping);
    drop(held_alice);
    assert!(
        other
            .lock(Lock::Shipping, Duration::ZERO)
            .unwrap()
            .is_some()
    );
    assert!(store.lock(alice, Duration::from_secs(5)).unwrap().is_some());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use crate::store::sqlite::SqliteStore;

    struct Memory(MemoryStore);

    impl Fixture for Memory {
        fn store(&self) -> &dyn Store {
            &self.0
        }
        fn another(&self) -> Box<dyn Store> {
            Box::new(self.0.handle())
        }
        fn tamper(&self, seq: i64, details: &str) {
            self.0.tamper(|data| {
                for record in data.audit.iter_mut().filter(|r| r.seq == seq) {
                    record.details = details.to_owned();
                }
            });
        }
    }

    struct Sqlite {
        store: SqliteStore,
        path: std::path::PathBuf,
        _dir: tempfile::TempDir,
    }

    impl Fixture for Sqlite {
        fn store(&self) -> &dyn Store {
            &self.store
        }
        fn another(&self) -> Box<dyn Store> {
            Box::new(SqliteStore::open(&self.path).unwrap())
        }
        fn tamper(&self, seq: i64, details: &str) {
            rusqlite::Connection::open(&self.path)
                .unwrap()
                .execute(
                    "UPDATE audit SET details = ?1 WHERE seq = ?2",
                    rusqlite::params![details, seq],
                )
                .unwrap();
        }
    }

    #[test]
    fn the_memory_store_conforms() {
        run(&|| Box::new(Memory(MemoryStore::new())));
    }

    #[test]
    fn the_sqlite_store_conforms() {
        run(&|| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("state").join("jit.db");
            Box::new(Sqlite {
                store: SqliteStore::open(&path).unwrap(),
                path,
                _dir: dir,
            })
        });
    }
}
