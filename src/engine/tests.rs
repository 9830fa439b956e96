//! The engine's fast tier: each step's order of store, backend and audit (SPEC §7), with a
//! scripted backend ([`fake::Fake`]) and a clock the test moves, on the in-memory store and
//! on SQLite in a temporary directory. No server, no sleep.

mod fake;

use super::*;
use crate::backend::ErrorKind;
use crate::clock::Hand;
use crate::exit::Exit;
use fake::{Call, Fake, Op};
use std::path::Path;

const CONFIG: &str = r#"
[targets.shared]
backend = "command"
program = "/bin/true"

[targets.own]
backend = "command"
program = "/bin/true"

[roles.shared]
target = "shared"
max_ttl = "4h"
default_ttl = "1h"

[roles.own]
target = "own"
max_ttl = "4h"
default_ttl = "1h"

[roles.gated]
target = "own"
max_ttl = "1h"
approvals = { required = 2, from = ["user:alice", "user:bob", "user:carol"], timeout = "30m" }

[roles.asked]
target = "own"
max_ttl = "1h"
approvals = { required = 1, from = ["user:bob"] }

[roles.ledger]
target = "own"
max_ttl = "1h"

[roles.payout]
target = "own"
max_ttl = "1h"
approvals = { required = 1, from = ["user:bob", "user:carol"] }

[roles.seat]
target = "own"
max_ttl = "1h"
max_active = 1

[roles.sos]
target = "own"
max_ttl = "1h"
max_active = 1
break_glass = true

[roles.temp]
target = "own"
max_ttl = "1h"

[roles.agented]
target = "own"
max_ttl = "1h"
approvals = { required = 1, from = ["user:bob"] }
agent = { max_ttl = "15m" }

[roles.unattended]
target = "own"
max_ttl = "1h"
agent = { approvals = { required = 0 } }

[[conflicts]]
roles = ["ledger", "payout"]
reason = "who books a payment does not pay it out"

[[eligibility]]
subjects = ["user:alice"]
roles = ["*"]

[[eligibility]]
subjects = ["user:bob"]
roles = ["ledger", "seat", "sos"]

[[eligibility]]
subjects = ["user:carol"]
roles = ["temp"]
expires = "2026-12-01T10:30:00Z"
"#;

/// When every test starts.
fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
        .unwrap()
        .to_utc()
}

fn minutes(m: i64) -> DateTime<Utc> {
    t0() + TimeDelta::minutes(m)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn who(user: &str) -> Identity {
    Identity {
        user: user.to_owned(),
        groups: Vec::new(),
        os_user: user.to_owned(),
        home: std::path::PathBuf::from("/home").join(user),
        uid: 1000,
        gid: 1000,
    }
}

fn asking(role: &str, ttl: Option<u64>) -> RequestInput {
    RequestInput {
        role: role.to_owned(),
        ttl: ttl.map(|m| secs(m * 60)),
        ..RequestInput::default()
    }
}

/// A store, a configuration, a clock and one scripted backend per target: `shared` (one
/// entitlement per subject) and `own` (one per lease, also the target of `gated` and `asked`).
struct World {
    _dir: Option<tempfile::TempDir>,
    store: Rc<dyn Store>,
    config: Config,
    clock: Clock,
    hand: &'static Hand,
    shared: Rc<Fake>,
    own: Rc<Fake>,
}

impl World {
    /// On the in-memory store.
    fn memory() -> World {
        World::on(Rc::new(store::memory::MemoryStore::new()), None)
    }

    /// On an SQLite store in a directory of its own.
    fn sqlite() -> World {
        let dir = tempfile::tempdir().unwrap();
        let store = store::sqlite::SqliteStore::open(&dir.path().join("jit.db")).unwrap();
        World::on(Rc::new(store), Some(dir))
    }

    fn on(store: Rc<dyn Store>, dir: Option<tempfile::TempDir>) -> World {
        let config = config::parse(Path::new("c.toml"), CONFIG).unwrap();
        let (clock, hand) = Clock::settable(t0());
        World {
            _dir: dir,
            shared: Fake::new(Sharing::PerSubject, Rc::clone(&store)),
            own: Fake::new(Sharing::PerLease, Rc::clone(&store)),
            store,
            config,
            clock,
            hand,
        }
    }

    fn engine(&self, actor: &str) -> Engine<'_> {
        Engine::new(&self.config, &*self.store, self.clock, actor)
            .with_backend("shared", Rc::clone(&self.shared) as Rc<dyn Backend>)
            .with_backend("own", Rc::clone(&self.own) as Rc<dyn Backend>)
    }

    /// Move the clock to `m` minutes after the start.
    fn at(&self, m: i64) {
        self.hand.set(minutes(m));
    }

    /// `alice` asks for `role` and it is granted at once.
    fn granted(&self, role: &str, ttl: Option<u64>) -> Lease {
        match self
            .engine("alice")
            .request(&who("alice"), &asking(role, ttl), None)
        {
            Ok(Requested::Granted { lease, .. }) => lease,
            Ok(Requested::Pending { lease, .. }) => panic!("lease {} is pending", lease.id),
            Err(err) => panic!("request failed: {err:#}"),
        }
    }

    /// `alice` asks for `role` and it waits for approval.
    fn pending(&self, role: &str) -> Lease {
        match self
            .engine("alice")
            .request(&who("alice"), &asking(role, None), None)
        {
            Ok(Requested::Pending { lease, .. }) => lease,
            Ok(Requested::Granted { lease, .. }) => panic!("lease {} was granted", lease.id),
            Err(err) => panic!("request failed: {err:#}"),
        }
    }

    /// `alice` asks for `role` and the request fails.
    fn refused(&self, role: &str) -> anyhow::Error {
        match self
            .engine("alice")
            .request(&who("alice"), &asking(role, None), None)
        {
            Ok(_) => panic!("the request of {role} succeeded"),
            Err(err) => err,
        }
    }

    /// Mark a pending request as waited for by this process, as `jit request --wait` does.
    fn claim_for_this_process(&self, id: &str) {
        let now = self.clock.now();
        store::write(&*self.store, |tx| {
            let mut lease = tx.lease(id)?.unwrap();
            lease.worker = Some(Process::this().id);
            lease.worker_at = Some(now);
            Ok(tx.update(&lease)?)
        })
        .unwrap();
    }

    fn lease(&self, id: &str) -> Lease {
        self.store.lease(id).unwrap().unwrap()
    }

    /// The only lease in the store.
    fn only_lease(&self) -> Lease {
        let leases = self.store.leases(&LeaseFilter::default()).unwrap();
        assert_eq!(leases.len(), 1, "{leases:?}");
        self.lease(&leases[0].id)
    }

    fn events(&self, id: &str) -> Vec<crate::audit::AuditEvent> {
        self.store
            .events(&store::EventFilter {
                lease_id: Some(id.to_owned()),
                since: None,
            })
            .unwrap()
    }

    /// The kinds of a lease's audit events, in order.
    fn kinds(&self, id: &str) -> Vec<String> {
        self.events(id).into_iter().map(|e| e.kind).collect()
    }

    /// The details of the lease's last event.
    fn last_details(&self, id: &str) -> Value {
        self.events(id).pop().unwrap().details
    }

    fn sweep(&self) -> SweepReport {
        self.engine("sweeper").sweep().unwrap()
    }

    /// A lease of `role` left `granting` by a worker on another host last heard of
    /// `silent_for` minutes ago, as a killed process leaves it.
    fn stranded(&self, role: &str, silent_for: i64) -> Lease {
        self.left(role, LeaseState::Granting, silent_for, |_| {})
    }

    /// A lease of `role` left in `state` by a worker on another host last heard of
    /// `silent_for` minutes ago, with `change` made to it before it is stored.
    fn left(
        &self,
        role: &str,
        state: LeaseState,
        silent_for: i64,
        change: impl FnOnce(&mut Lease),
    ) -> Lease {
        let now = self.clock.now();
        let role = &self.config.roles[role];
        let mut lease = Lease {
            id: lease::new_id(),
            role: role.name.clone(),
            target: role.target.clone(),
            backend: "fake".into(),
            subject: "alice".into(),
            requester: "alice".into(),
            state,
            ticket: None,
            reason: None,
            created_at: now - TimeDelta::minutes(silent_for),
            granted_at: Some(now - TimeDelta::minutes(silent_for)),
            expires_at: Some(now - TimeDelta::minutes(silent_for) + TimeDelta::hours(1)),
            ended_at: None,
            approvals: Vec::new(),
            break_glass: false,
            last_error: None,
            ttl_secs: 3600,
            approvals_required: 0,
            handle: json!({ "planned": "jit_alice_1" }),
            params: role.grant.clone(),
            ending: None,
            worker: Some("otherhost:1".into()),
            worker_at: Some(now - TimeDelta::minutes(silent_for)),
            attempts: 0,
            next_attempt_at: None,
            agent: None,
            agent_session: None,
        };
        change(&mut lease);
        store::write(&*self.store, |tx| Ok(tx.insert(&lease)?)).unwrap();
        lease
    }
}

fn call(op: Op, lease: &Lease, expires_at: Option<DateTime<Utc>>, seen: LeaseState) -> Call {
    Call {
        op,
        lease: lease.id.clone(),
        expires_at,
        renewal: false,
        seen: Some(seen),
    }
}

fn renewal(call: Call) -> Call {
    Call {
        renewal: true,
        ..call
    }
}

fn exit_of<T>(result: Result<T>) -> (Exit, String) {
    match result {
        Ok(_) => panic!("it succeeded"),
        Err(err) => (exit::exit_for(&err), format!("{err:#}")),
    }
}

// The crash-safe order.

fn granting_is_recorded_before_the_grant_and_active_after_it(new: fn() -> World) {
    for role in ["own", "shared"] {
        let world = new();
        let lease = world.granted(role, None);
        let fake = if role == "own" {
            &world.own
        } else {
            &world.shared
        };
        assert_eq!(
            fake.calls(),
            [call(
                Op::Grant,
                &lease,
                Some(minutes(60)),
                LeaseState::Granting
            )],
            "{role}"
        );
        let stored = world.lease(&lease.id);
        assert_eq!(stored.state, LeaseState::Active);
        assert_eq!(stored.granted_at, Some(t0()));
        assert_eq!(stored.expires_at, Some(minutes(60)));
        assert_eq!(stored.handle, json!({ "granted": lease.id }));
        assert_eq!(stored.worker, None);
        assert_eq!(stored, lease);
        assert_eq!(world.kinds(&lease.id), ["requested", "granted"]);
        let granted = world.last_details(&lease.id);
        assert_eq!(granted["expires_at"], json!("2026-12-01T11:00:00Z"));
        assert_eq!(granted["target_expires_at"], json!("2026-12-01T11:00:00Z"));
        assert_eq!(granted["credentials_issued"], json!(false));
    }
}

fn a_revocation_is_recorded_revoking_before_the_backend_revokes(new: fn() -> World) {
    let world = new();
    let lease = world.granted("own", None);
    world.own.forget_calls();
    world.at(5);
    let revocation = world.engine("alice").revoke(&lease.id).unwrap();
    assert_eq!(revocation.outcome, RevokeOutcome::Done { kept_for: None });
    assert_eq!(
        world.own.calls(),
        [call(Op::Revoke, &lease, None, LeaseState::Revoking)]
    );
    let stored = world.lease(&lease.id);
    assert_eq!(stored.state, LeaseState::Revoked);
    assert_eq!(stored.ended_at, Some(minutes(5)));
    assert_eq!(stored.worker, None);
    assert_eq!(world.kinds(&lease.id), ["requested", "granted", "revoked"]);
    assert_eq!(world.last_details(&lease.id), json!({ "attempts": 1 }));
}

fn a_failed_revocation_is_retried_with_backoff_only_when_due(new: fn() -> World) {
    let world = new();
    let lease = world.granted("own", None);
    world.own.forget_calls();
    world.own.fail(Op::Revoke, ErrorKind::Transient);
    world.own.fail(Op::Revoke, ErrorKind::Unreached);

    let revocation = world.engine("alice").revoke(&lease.id).unwrap();
    let error = "fake Revoke failed (Transient)".to_owned();
    assert_eq!(
        revocation.outcome,
        RevokeOutcome::Failed {
            error: error.clone()
        }
    );
    let stored = world.lease(&lease.id);
    assert_eq!(stored.state, LeaseState::RevokeFailed);
    assert_eq!(stored.ending, Some(Ending::Revoked));
    assert_eq!(stored.attempts, 1);
    assert_eq!(stored.next_attempt_at, Some(t0() + TimeDelta::seconds(30)));
    assert_eq!(stored.last_error.as_deref(), Some(error.as_str()));
    assert_eq!(stored.ended_at, None);
    assert_eq!(
        world.kinds(&lease.id),
        ["requested", "granted", "revoke-failed"]
    );
    assert_eq!(
        world.last_details(&lease.id),
        json!({
            "error": error,
            "retryable": true,
            "attempt": 1,
            "next_attempt_at": "2026-12-01T10:00:30Z",
        })
    );
    let waiting = world.engine("sweeper").waiting_revocations().unwrap();
    assert_eq!(waiting.len(), 1);

    // Not due a second early: no call.
    world.hand.advance(secs(29));
    let report = world.sweep();
    assert!(report.revocations.is_empty());
    assert_eq!(world.own.calls().len(), 1);

    // Due: tried again, and failing again waits twice as long.
    world.hand.advance(secs(1));
    let report = world.sweep();
    assert_eq!(report.revocations.len(), 1);
    assert_eq!(report.incomplete(), 1);
    let stored = world.lease(&lease.id);
    assert_eq!(stored.state, LeaseState::RevokeFailed);
    assert_eq!(stored.attempts, 2);
    assert_eq!(stored.next_attempt_at, Some(t0() + TimeDelta::seconds(90)));
    assert_eq!(world.last_details(&lease.id)["retryable"], json!(true));

    world.hand.advance(secs(59));
    assert!(world.sweep().revocations.is_empty());
    assert_eq!(world.own.calls().len(), 2);

    // The third attempt succeeds: revoked, as asked, with how many attempts it took.
    world.hand.advance(secs(1));
    let report = world.sweep();
    assert_eq!(report.incomplete(), 0);
    assert_eq!(
        report.revocations[0].outcome,
        RevokeOutcome::Done { kept_for: None }
    );
    assert_eq!(
        world.own.calls(),
        [
            call(Op::Revoke, &lease, None, LeaseState::Revoking),
            call(Op::Revoke, &lease, None, LeaseState::Revoking),
            call(Op::Revoke, &lease, None, LeaseState::Revoking),
        ]
    );
    let stored = world.lease(&lease.id);
    assert_eq!(stored.state, LeaseState::Revoked);
    assert_eq!(stored.next_attempt_at, None);
    assert_eq!(stored.ended_at, Some(t0() + TimeDelta::seconds(90)));
    assert_eq!(
        world.kinds(&lease.id),
        [
            "requested",
            "granted",
            "revoke-failed",
            "revoke-failed",
            "revoked"
        ]
    );
    assert_eq!(
        world.last_details(&lease.id),
        json!({ "attempts": 3, "after_error": "fake Revoke failed (Unreached)" })
    );
}

// Every fault point of a grant.

fn a_grant_that_changed_nothing_fails_without_a_cleanup(new: fn() -> World) {
    for kind in [ErrorKind::Refused, ErrorKind::Unreached] {
        let world = new();
        world.own.fail(Op::Grant, kind);
        let (exit, message) = exit_of(world.engine("alice").request(
            &who("alice"),
            &asking("own", None),
            None,
        ));
        let error = format!("fake Grant failed ({kind:?})");
        assert_eq!(exit, Exit::Runtime);
        assert_eq!(
            message,
            format!("granting role \"own\" on target \"own\" failed: {error}")
        );
        let lease = world.only_lease();
        assert_eq!(
            world.own.calls(),
            [call(
                Op::Grant,
                &lease,
                Some(minutes(60)),
                LeaseState::Granting
            )],
            "{kind:?}"
        );
        assert_eq!(lease.state, LeaseState::Failed);
        assert_eq!(lease.ended_at, Some(t0()));
        assert_eq!(lease.last_error.as_deref(), Some(error.as_str()));
        assert_eq!(lease.worker, None);
        assert_eq!(world.kinds(&lease.id), ["requested", "grant-failed"]);
        assert_eq!(world.last_details(&lease.id), json!({ "error": error }));
    }
}

fn a_grant_that_may_have_left_a_part_is_cleaned_up(new: fn() -> World) {
    for kind in [ErrorKind::Transient, ErrorKind::Permanent] {
        let world = new();
        world.own.fail(Op::Grant, kind);
        let (exit, _) = exit_of(world.engine("alice").request(
            &who("alice"),
            &asking("own", None),
            None,
        ));
        assert_eq!(exit, Exit::Runtime);
        let lease = world.only_lease();
        assert_eq!(
            world.own.calls(),
            [
                call(Op::Grant, &lease, Some(minutes(60)), LeaseState::Granting),
                call(Op::Revoke, &lease, None, LeaseState::Granting),
            ],
            "{kind:?}"
        );
        assert_eq!(lease.state, LeaseState::Failed);
        assert_eq!(world.kinds(&lease.id), ["requested", "grant-failed"]);
    }
}

fn a_failed_cleanup_is_left_revoke_failed_and_reconciled_when_due(new: fn() -> World) {
    let world = new();
    world.own.fail(Op::Grant, ErrorKind::Transient);
    world.own.fail(Op::Revoke, ErrorKind::Transient);
    world.refused("own");
    let lease = world.only_lease();
    assert_eq!(lease.state, LeaseState::RevokeFailed);
    assert_eq!(lease.ending, Some(Ending::Failed));
    assert_eq!(lease.attempts, 1);
    assert_eq!(lease.next_attempt_at, Some(t0() + TimeDelta::seconds(30)));
    assert_eq!(lease.ended_at, None);
    assert_eq!(world.kinds(&lease.id), ["requested", "grant-failed"]);
    assert_eq!(
        world.last_details(&lease.id),
        json!({
            "error": "fake Grant failed (Transient)",
            "cleanup_error": "fake Revoke failed (Transient)",
        })
    );

    world.own.forget_calls();
    world.hand.advance(secs(29));
    assert!(world.sweep().revocations.is_empty());
    assert!(world.own.calls().is_empty());

    // Due: the target is asked first, and what is there is revoked.
    world.hand.advance(secs(1));
    let report = world.sweep();
    assert_eq!(
        report.revocations[0].outcome,
        RevokeOutcome::Done { kept_for: None }
    );
    assert_eq!(
        world.own.calls(),
        [
            call(Op::Inspect, &lease, None, LeaseState::Revoking),
            call(Op::Revoke, &lease, None, LeaseState::Revoking),
        ]
    );
    assert_eq!(world.lease(&lease.id).state, LeaseState::Failed);
    assert_eq!(
        world.kinds(&lease.id),
        ["requested", "grant-failed", "reconciled"]
    );
    assert_eq!(
        world.last_details(&lease.id),
        json!({
            "attempts": 2,
            "after_error": "fake Grant failed (Transient)",
            "found": "present",
        })
    );
}

fn a_failed_renewal_leaves_the_entitlement_another_lease_holds(new: fn() -> World) {
    let world = new();
    let first = world.granted("shared", None);
    world.shared.forget_calls();
    world.shared.fail(Op::Grant, ErrorKind::Permanent);
    world.at(10);
    world.refused("shared");
    let calls = world.shared.calls();
    assert_eq!(calls.len(), 1, "no cleanup revoke: {calls:?}");
    assert_eq!(calls[0].op, Op::Grant);
    assert!(calls[0].renewal);
    assert_eq!(world.lease(&first.id).state, LeaseState::Active);
}

fn an_interrupted_grant_is_reconciled_by_asking_the_target(new: fn() -> World) {
    // (what inspect answers, whether a revoke follows, the `found` note)
    let cases = [
        (Ok(Presence::Absent), false, Some("absent")),
        (Ok(Presence::Present), true, Some("present")),
        (Err(ErrorKind::Transient), true, None),
    ];
    for (answer, revokes, found) in cases {
        let world = new();
        match answer {
            Ok(presence) => world.own.answer_inspect(presence),
            Err(kind) => world.own.fail(Op::Inspect, kind),
        }
        let lease = world.stranded("own", 10);
        let report = world.sweep();
        assert_eq!(report.revocations.len(), 1, "{answer:?}");
        assert_eq!(
            report.revocations[0].outcome,
            RevokeOutcome::Done { kept_for: None }
        );
        let mut expected = vec![call(Op::Inspect, &lease, None, LeaseState::Revoking)];
        if revokes {
            expected.push(call(Op::Revoke, &lease, None, LeaseState::Revoking));
        }
        assert_eq!(world.own.calls(), expected, "{answer:?}");
        let stored = world.lease(&lease.id);
        assert_eq!(stored.state, LeaseState::Failed);
        assert_eq!(stored.ended_at, Some(t0()));
        assert_eq!(stored.worker, None);
        assert_eq!(world.kinds(&lease.id), ["reconciled"]);
        let mut details = json!({ "attempts": 1 });
        if let Some(found) = found {
            details["found"] = json!(found);
        }
        assert_eq!(world.last_details(&lease.id), details, "{answer:?}");
    }
}

fn a_grant_a_live_worker_is_running_is_left_alone(new: fn() -> World) {
    let world = new();
    let lease = world.stranded("own", 1);
    let report = world.sweep();
    assert!(report.revocations.is_empty());
    assert!(report.errors.is_empty());
    assert!(world.own.calls().is_empty());
    assert_eq!(world.lease(&lease.id).state, LeaseState::Granting);
    // A manual revoke does not take it over either.
    let revocation = world.engine("alice").revoke(&lease.id).unwrap();
    assert_eq!(revocation.outcome, RevokeOutcome::InFlight);
    assert!(world.own.calls().is_empty());
}

fn a_lease_ended_while_its_grant_ran_has_the_grant_taken_back(new: fn() -> World) {
    let world = new();
    let store = Rc::clone(&world.store);
    let checkpoint_after_end = Rc::new(RefCell::new(None));
    let seen = Rc::clone(&checkpoint_after_end);
    world.own.during_grant(move |request| {
        // A sweeper elsewhere reconciles the lease meanwhile.
        let id = request.lease.id.clone();
        store::write(&*store, |tx| {
            let mut lease = tx.lease(&id)?.unwrap();
            lease.become_(LeaseState::Failed)?;
            lease.ended_at = Some(lease.created_at);
            lease.worker = None;
            Ok(tx.update(&lease)?)
        })
        .unwrap();
        let checkpoint = request.checkpoint.expect("a grant has a checkpoint");
        *seen.borrow_mut() = Some(checkpoint(&json!({ "pgid": 42 })).map_err(|e| e.message));
    });
    let (exit, message) = exit_of(world.engine("alice").request(
        &who("alice"),
        &asking("own", None),
        None,
    ));
    let lease = world.only_lease();
    assert_eq!(exit, Exit::Runtime);
    assert_eq!(
        message,
        format!(
            "lease {} was ended while it was being granted; the grant was taken back",
            lease.id
        )
    );
    assert_eq!(
        world.own.calls(),
        [
            call(Op::Grant, &lease, Some(minutes(60)), LeaseState::Granting),
            call(Op::Revoke, &lease, None, LeaseState::Failed),
        ]
    );
    // The checkpoint refused to record a handle on a lease no longer being granted.
    let refused = checkpoint_after_end.borrow().clone().unwrap().unwrap_err();
    assert!(
        refused.contains("is failed and not being granted"),
        "{refused}"
    );
    assert_eq!(lease.state, LeaseState::Failed);
    assert_eq!(lease.handle, Value::Null);
    assert_eq!(world.kinds(&lease.id), ["requested"]);
}

fn the_checkpoint_records_a_handle_while_the_grant_runs(new: fn() -> World) {
    let world = new();
    let store = Rc::clone(&world.store);
    let during = Rc::new(RefCell::new(None));
    let seen = Rc::clone(&during);
    world.own.during_grant(move |request| {
        let checkpoint = request.checkpoint.expect("a grant has a checkpoint");
        checkpoint(&json!({ "pgid": 42 })).unwrap();
        *seen.borrow_mut() = store.lease(&request.lease.id).unwrap();
    });
    let lease = world.granted("own", None);
    let during = during.borrow().clone().unwrap();
    assert_eq!(during.state, LeaseState::Granting);
    assert_eq!(during.handle, json!({ "pgid": 42 }));
    // The grant's own handle replaces it.
    assert_eq!(
        world.lease(&lease.id).handle,
        json!({ "granted": lease.id })
    );
}

fn a_revoke_failure_says_whether_a_retry_may_help(new: fn() -> World) {
    let cases = [
        (ErrorKind::Transient, true),
        (ErrorKind::Unreached, true),
        (ErrorKind::Permanent, false),
        (ErrorKind::Refused, false),
    ];
    for (kind, retryable) in cases {
        let world = new();
        let lease = world.granted("own", None);
        world.own.fail(Op::Revoke, kind);
        let revocation = world.engine("alice").revoke(&lease.id).unwrap();
        assert!(
            matches!(revocation.outcome, RevokeOutcome::Failed { .. }),
            "{kind:?}"
        );
        let stored = world.lease(&lease.id);
        assert_eq!(stored.state, LeaseState::RevokeFailed, "{kind:?}");
        // Retried all the same: a person may fix what stopped it.
        assert_eq!(stored.next_attempt_at, Some(t0() + TimeDelta::seconds(30)));
        assert_eq!(
            world.last_details(&lease.id)["retryable"],
            json!(retryable),
            "{kind:?}"
        );
    }
}

fn an_interrupted_revocation_is_finished_by_the_sweeper(new: fn() -> World) {
    let cases = [
        (Ending::Revoked, LeaseState::Revoked, "revoked"),
        (Ending::Expired, LeaseState::Expired, "expired"),
    ];
    for (ending, state, kind) in cases {
        let world = new();
        let lease = world.left("own", LeaseState::Revoking, 10, |lease| {
            lease.ending = Some(ending);
        });
        let report = world.sweep();
        assert_eq!(
            report.revocations[0].outcome,
            RevokeOutcome::Done { kept_for: None }
        );
        // It was granted: no need to ask the target first.
        assert_eq!(
            world.own.calls(),
            [call(Op::Revoke, &lease, None, LeaseState::Revoking)]
        );
        assert_eq!(world.lease(&lease.id).state, state);
        assert_eq!(world.kinds(&lease.id), [kind]);
    }
}

fn a_lease_whose_target_left_the_configuration_waits_like_a_failed_revocation(new: fn() -> World) {
    let world = new();
    let lease = world.left("own", LeaseState::Active, 120, |lease| {
        lease.target = "gone".into();
    });
    let report = world.sweep();
    let error = "target \"gone\" is no longer in the configuration".to_owned();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        report.revocations[0].outcome,
        RevokeOutcome::Failed {
            error: error.clone()
        }
    );
    let stored = world.lease(&lease.id);
    assert_eq!(stored.state, LeaseState::RevokeFailed);
    assert_eq!(stored.ending, Some(Ending::Expired));
    assert_eq!(stored.next_attempt_at, Some(t0() + TimeDelta::seconds(30)));
    assert_eq!(world.kinds(&lease.id), ["revoke-failed"]);
    assert_eq!(
        world.last_details(&lease.id),
        json!({
            "error": error,
            "retryable": false,
            "attempt": 1,
            "next_attempt_at": "2026-12-01T10:00:30Z",
        })
    );
    // Not tried again at once.
    assert!(world.sweep().revocations.is_empty());
    assert_eq!(world.kinds(&lease.id), ["revoke-failed"]);
}

fn a_sweep_passes_over_an_entitlement_another_process_is_changing(new: fn() -> World) {
    let world = new();
    let lease = world.granted("shared", Some(30));
    world.shared.forget_calls();
    let lock = store::Lock::Entitlement {
        role: "shared",
        subject: "alice",
    };
    let held = world.store.lock(lock, Duration::ZERO).unwrap().unwrap();
    world.at(30);
    let report = world.sweep();
    assert!(report.revocations.is_empty());
    assert!(report.errors.is_empty());
    assert!(world.shared.calls().is_empty());
    assert_eq!(world.lease(&lease.id).state, LeaseState::Active);

    drop(held);
    assert_eq!(world.sweep().revocations.len(), 1);
    assert_eq!(world.lease(&lease.id).state, LeaseState::Expired);
    assert_eq!(world.shared.ops(), [Op::Revoke]);
}

// Idempotent revocation.

fn revoking_twice_revokes_once(new: fn() -> World) {
    let world = new();
    let lease = world.granted("own", None);
    let engine = world.engine("alice");
    let first = engine.revoke(&lease.id).unwrap();
    assert_eq!(first.outcome, RevokeOutcome::Done { kept_for: None });
    let second = engine.revoke(&lease.id).unwrap();
    assert_eq!(second.outcome, RevokeOutcome::AlreadyEnded);
    assert_eq!(second.lease.state, LeaseState::Revoked);
    assert_eq!(world.own.ops(), [Op::Grant, Op::Revoke]);
    assert_eq!(world.kinds(&lease.id), ["requested", "granted", "revoked"]);
}

fn revoking_a_pending_request_cancels_it_without_the_backend(new: fn() -> World) {
    let world = new();
    let lease = world.pending("gated");
    let revocation = world.engine("alice").revoke(&lease.id).unwrap();
    assert_eq!(revocation.outcome, RevokeOutcome::Cancelled);
    assert_eq!(revocation.lease.state, LeaseState::Cancelled);
    assert!(world.own.calls().is_empty());
    assert_eq!(world.kinds(&lease.id), ["requested", "cancelled"]);
    assert_eq!(
        world.last_details(&lease.id),
        json!({ "reason": "withdrawn" })
    );
    let again = world.engine("alice").revoke(&lease.id).unwrap();
    assert_eq!(again.outcome, RevokeOutcome::AlreadyEnded);
}

fn revoking_an_unknown_lease_is_a_usage_error(new: fn() -> World) {
    let world = new();
    let (exit, message) = exit_of(world.engine("alice").revoke("abcdefghij"));
    assert_eq!(exit, Exit::Usage);
    assert_eq!(message, "no lease \"abcdefghij\"");
}

// Overlapping leases of one shared entitlement.

fn overlapping_leases_share_one_entitlement_to_the_later_end(new: fn() -> World) {
    let world = new();
    let long = world.granted("shared", Some(120));
    world.at(10);
    let short = world.granted("shared", Some(30));
    assert_eq!(
        world.shared.calls(),
        [
            call(Op::Grant, &long, Some(minutes(120)), LeaseState::Granting),
            // A renewal, to the later of the two ends.
            renewal(call(
                Op::Grant,
                &short,
                Some(minutes(120)),
                LeaseState::Granting
            )),
        ]
    );
    assert_eq!(world.lease(&short.id).expires_at, Some(minutes(40)));
    assert_eq!(
        world.last_details(&short.id)["target_expires_at"],
        json!("2026-12-01T12:00:00Z")
    );
    world.shared.forget_calls();

    // Ending the longer one leaves the entitlement, shrunk to the other's end.
    world.at(20);
    let revocation = world.engine("alice").revoke(&long.id).unwrap();
    assert_eq!(
        revocation.outcome,
        RevokeOutcome::Done {
            kept_for: Some(short.id.clone())
        }
    );
    assert_eq!(
        world.shared.calls(),
        [renewal(call(
            Op::Extend,
            &short,
            Some(minutes(40)),
            LeaseState::Active
        ))]
    );
    assert_eq!(world.lease(&long.id).state, LeaseState::Revoked);
    assert_eq!(world.lease(&short.id).state, LeaseState::Active);
    assert_eq!(
        world.last_details(&long.id),
        json!({ "attempts": 1, "entitlement_kept_for": short.id })
    );
    world.shared.forget_calls();

    // Ending the last one takes it away.
    let revocation = world.engine("alice").revoke(&short.id).unwrap();
    assert_eq!(revocation.outcome, RevokeOutcome::Done { kept_for: None });
    assert_eq!(
        world.shared.calls(),
        [call(Op::Revoke, &short, None, LeaseState::Revoking)]
    );
}

fn an_overlapping_lease_that_expires_leaves_the_entitlement_to_the_other(new: fn() -> World) {
    let world = new();
    let short = world.granted("shared", Some(30));
    let long = world.granted("shared", Some(90));
    world.shared.forget_calls();
    world.at(30);
    let report = world.sweep();
    assert_eq!(report.revocations.len(), 1);
    assert_eq!(
        report.revocations[0].outcome,
        RevokeOutcome::Done {
            kept_for: Some(long.id.clone())
        }
    );
    assert_eq!(world.lease(&short.id).state, LeaseState::Expired);
    assert_eq!(
        world.shared.calls(),
        [renewal(call(
            Op::Extend,
            &long,
            Some(minutes(90)),
            LeaseState::Active
        ))]
    );
}

fn a_new_lease_over_a_failed_revocation_keeps_its_entitlement(new: fn() -> World) {
    let world = new();
    let first = world.granted("shared", None);
    world.shared.fail(Op::Revoke, ErrorKind::Transient);
    let revocation = world.engine("alice").revoke(&first.id).unwrap();
    assert!(matches!(revocation.outcome, RevokeOutcome::Failed { .. }));
    world.shared.forget_calls();

    // The target may still hold it: what it holds is renewed, to the new lease's end.
    world.at(1);
    let second = world.granted("shared", None);
    assert_eq!(
        world.shared.calls(),
        [renewal(call(
            Op::Grant,
            &second,
            Some(minutes(61)),
            LeaseState::Granting
        ))]
    );
    world.shared.forget_calls();

    // The retry of the first ends it without taking the second's entitlement away.
    let report = world.sweep();
    assert_eq!(
        report.revocations[0].outcome,
        RevokeOutcome::Done {
            kept_for: Some(second.id.clone())
        }
    );
    assert_eq!(
        world.shared.calls(),
        [renewal(call(
            Op::Extend,
            &second,
            Some(minutes(61)),
            LeaseState::Active
        ))]
    );
    assert_eq!(world.lease(&first.id).state, LeaseState::Revoked);
    assert_eq!(world.lease(&second.id).state, LeaseState::Active);
}

fn a_grant_after_the_last_lease_ended_is_not_a_renewal(new: fn() -> World) {
    let world = new();
    let first = world.granted("shared", None);
    world.engine("alice").revoke(&first.id).unwrap();
    world.shared.forget_calls();
    world.at(5);
    let second = world.granted("shared", None);
    assert_eq!(
        world.shared.calls(),
        [call(
            Op::Grant,
            &second,
            Some(minutes(65)),
            LeaseState::Granting
        )]
    );
}

fn extending_one_of_overlapping_leases_keeps_the_later_end_on_the_target(new: fn() -> World) {
    let world = new();
    let long = world.granted("shared", Some(120));
    let short = world.granted("shared", Some(30));
    world.shared.forget_calls();
    world.at(10);
    let engine = world.engine("alice");
    let extended = engine.extend(&short.id, &who("alice"), secs(3600)).unwrap();
    assert_eq!(extended.expires_at, Some(minutes(70)));
    let extended = engine
        .extend(&short.id, &who("alice"), secs(3 * 3600))
        .unwrap();
    assert_eq!(extended.expires_at, Some(minutes(190)));
    assert_eq!(
        world.shared.calls(),
        [
            // The other lease still needs it until its own end.
            renewal(call(
                Op::Extend,
                &short,
                Some(minutes(120)),
                LeaseState::Active
            )),
            renewal(call(
                Op::Extend,
                &short,
                Some(minutes(190)),
                LeaseState::Active
            )),
        ]
    );
    assert_eq!(world.lease(&long.id).expires_at, Some(minutes(120)));
}

fn a_shrink_that_fails_is_noted_and_the_lease_still_ends(new: fn() -> World) {
    let world = new();
    let long = world.granted("shared", Some(120));
    let short = world.granted("shared", Some(30));
    world.shared.fail(Op::Extend, ErrorKind::Transient);
    let revocation = world.engine("alice").revoke(&long.id).unwrap();
    assert_eq!(
        revocation.outcome,
        RevokeOutcome::Done {
            kept_for: Some(short.id.clone())
        }
    );
    assert_eq!(world.lease(&long.id).state, LeaseState::Revoked);
    assert_eq!(
        world.last_details(&long.id),
        json!({
            "attempts": 1,
            "entitlement_kept_for": short.id,
            "shrink_error": "fake Extend failed (Transient)",
        })
    );
}

fn an_interrupted_grant_under_another_lease_leaves_the_entitlement(new: fn() -> World) {
    let world = new();
    let active = world.granted("shared", Some(90));
    world.shared.forget_calls();
    let stranded = world.stranded("shared", 10);
    let report = world.sweep();
    assert_eq!(
        report.revocations[0].outcome,
        RevokeOutcome::Done {
            kept_for: Some(active.id.clone())
        }
    );
    // Neither asked nor revoked: the other lease holds it, to its own end.
    assert_eq!(
        world.shared.calls(),
        [renewal(call(
            Op::Extend,
            &active,
            Some(minutes(90)),
            LeaseState::Active
        ))]
    );
    assert_eq!(world.lease(&stranded.id).state, LeaseState::Failed);
    assert_eq!(world.kinds(&stranded.id), ["reconciled"]);
}

// Expiry and extension.

fn a_lease_expires_at_its_end_and_not_before(new: fn() -> World) {
    let world = new();
    let lease = world.granted("own", None);
    world.own.forget_calls();
    world.hand.set(minutes(60) - TimeDelta::seconds(1));
    let report = world.sweep();
    assert!(report.revocations.is_empty());
    assert!(world.own.calls().is_empty());
    assert_eq!(world.lease(&lease.id).state, LeaseState::Active);

    world.at(60);
    let report = world.sweep();
    assert_eq!(report.revocations.len(), 1);
    assert_eq!(
        report.revocations[0].outcome,
        RevokeOutcome::Done { kept_for: None }
    );
    assert_eq!(
        world.own.calls(),
        [call(Op::Revoke, &lease, None, LeaseState::Revoking)]
    );
    let stored = world.lease(&lease.id);
    assert_eq!(stored.state, LeaseState::Expired);
    assert_eq!(stored.ended_at, Some(minutes(60)));
    assert_eq!(world.kinds(&lease.id), ["requested", "granted", "expired"]);

    // Nothing more to do.
    assert!(world.sweep().revocations.is_empty());
    assert_eq!(world.own.calls().len(), 1);
}

fn extending_moves_the_end_on_the_target_within_policy(new: fn() -> World) {
    let world = new();
    let lease = world.granted("own", None);
    world.own.forget_calls();
    world.at(10);
    let extended = world
        .engine("alice")
        .extend(&lease.id, &who("alice"), secs(2 * 3600))
        .unwrap();
    assert_eq!(extended.expires_at, Some(minutes(130)));
    assert_eq!(
        world.own.calls(),
        [renewal(call(
            Op::Extend,
            &lease,
            Some(minutes(130)),
            LeaseState::Active
        ))]
    );
    assert_eq!(world.lease(&lease.id).expires_at, Some(minutes(130)));
    assert_eq!(world.kinds(&lease.id), ["requested", "granted", "extended"]);
    let details = world.last_details(&lease.id);
    assert_eq!(details["from"], json!("2026-12-01T11:00:00Z"));
    assert_eq!(details["to"], json!("2026-12-01T12:10:00Z"));
    assert_eq!(details["ttl"], json!("2h"));

    // Past the role's cap: denied, nothing called, nothing changed.
    world.own.forget_calls();
    let (exit, _) = exit_of(
        world
            .engine("alice")
            .extend(&lease.id, &who("alice"), secs(5 * 3600)),
    );
    assert_eq!(exit, Exit::Denied);
    assert!(world.own.calls().is_empty());
    assert_eq!(world.lease(&lease.id).expires_at, Some(minutes(130)));

    // The new end holds: no expiry at the old one.
    world.at(60);
    assert!(world.sweep().revocations.is_empty());
    world.at(130);
    assert_eq!(world.sweep().revocations.len(), 1);
    assert_eq!(world.lease(&lease.id).state, LeaseState::Expired);
}

fn a_failed_extension_changes_nothing(new: fn() -> World) {
    let world = new();
    let lease = world.granted("own", None);
    world.own.fail(Op::Extend, ErrorKind::Transient);
    let (exit, message) = exit_of(world.engine("alice").extend(
        &lease.id,
        &who("alice"),
        secs(7200),
    ));
    assert_eq!(exit, Exit::Runtime);
    assert_eq!(
        message,
        "moving the end on target \"own\" failed: fake Extend failed (Transient)"
    );
    assert_eq!(world.lease(&lease.id).expires_at, Some(minutes(60)));
    assert_eq!(world.kinds(&lease.id), ["requested", "granted"]);
}

fn only_the_holder_extends_and_only_an_active_lease(new: fn() -> World) {
    let world = new();
    let lease = world.granted("own", None);
    let (exit, message) = exit_of(world.engine("bob").extend(&lease.id, &who("bob"), secs(60)));
    assert_eq!(exit, Exit::Denied);
    assert_eq!(message, "bob may not extend a lease of alice");
    world.engine("alice").revoke(&lease.id).unwrap();
    let (exit, message) = exit_of(
        world
            .engine("alice")
            .extend(&lease.id, &who("alice"), secs(60)),
    );
    assert_eq!(exit, Exit::Usage);
    assert_eq!(
        message,
        format!(
            "lease {} is revoked; only an active lease can be extended",
            lease.id
        )
    );
    assert_eq!(world.own.ops(), [Op::Grant, Op::Revoke]);
}

// Approvals.

fn two_approvals_grant_and_nobody_approves_their_own(new: fn() -> World) {
    let world = new();
    let lease = world.pending("gated");
    assert_eq!(lease.state, LeaseState::Pending);
    assert_eq!(lease.worker, None);

    let (exit, message) = exit_of(world.engine("alice").decide(
        &lease.id,
        &who("alice"),
        Verdict::Approve,
        None,
    ));
    assert_eq!(exit, Exit::Denied);
    assert_eq!(message, "alice may not decide their own request");
    // The attempt is recorded on the lease, with the rule that refused it.
    assert_eq!(world.kinds(&lease.id), ["requested", "denied"]);
    assert_eq!(
        world.last_details(&lease.id),
        json!({
            "role": "gated",
            "subject": "alice",
            "by": "alice",
            "rule": "self-approval",
            "reason": "alice may not decide their own request",
        })
    );

    match world
        .engine("bob")
        .decide(&lease.id, &who("bob"), Verdict::Approve, Some("ok"))
        .unwrap()
    {
        Decided::Approved { lease, remaining } => {
            assert_eq!(remaining, 1);
            assert_eq!(lease.state, LeaseState::Pending);
        }
        _ => panic!("not approved"),
    }
    let (exit, message) = exit_of(world.engine("bob").decide(
        &lease.id,
        &who("bob"),
        Verdict::Approve,
        None,
    ));
    assert_eq!(exit, Exit::Usage);
    assert_eq!(
        message,
        format!("bob has already decided lease {}", lease.id)
    );
    assert!(world.own.calls().is_empty());

    world.at(5);
    let granted = match world
        .engine("carol")
        .decide(&lease.id, &who("carol"), Verdict::Approve, None)
        .unwrap()
    {
        Decided::Granted { lease, .. } => lease,
        _ => panic!("not granted"),
    };
    assert_eq!(granted.state, LeaseState::Active);
    // The window starts at the grant.
    assert_eq!(granted.expires_at, Some(minutes(65)));
    assert_eq!(
        world.own.calls(),
        [call(
            Op::Grant,
            &lease,
            Some(minutes(65)),
            LeaseState::Granting
        )]
    );
    assert_eq!(
        world.kinds(&lease.id),
        ["requested", "denied", "approved", "approved", "granted"]
    );
    let approvals: Vec<Value> = world
        .events(&lease.id)
        .into_iter()
        .filter(|e| e.kind == "approved")
        .map(|e| e.details)
        .collect();
    assert_eq!(
        approvals,
        [
            json!({ "by": "bob", "reason": "ok", "approvals": 1, "required": 2 }),
            json!({ "by": "carol", "reason": null, "approvals": 2, "required": 2 }),
        ]
    );
}

fn a_denial_ends_the_request_without_the_backend(new: fn() -> World) {
    let world = new();
    let lease = world.pending("gated");
    match world
        .engine("bob")
        .decide(&lease.id, &who("bob"), Verdict::Deny, Some("not now"))
        .unwrap()
    {
        Decided::Denied { lease } => assert_eq!(lease.state, LeaseState::Denied),
        _ => panic!("not denied"),
    }
    let stored = world.lease(&lease.id);
    assert_eq!(stored.state, LeaseState::Denied);
    assert_eq!(stored.ended_at, Some(t0()));
    assert_eq!(
        stored.denial(),
        format!("request {} was denied by bob: not now", lease.id)
    );
    assert!(world.own.calls().is_empty());
    assert_eq!(world.kinds(&lease.id), ["requested", "denied"]);
    assert_eq!(
        world.last_details(&lease.id),
        json!({ "by": "bob", "reason": "not now" })
    );
    // Decided once and for all.
    let (exit, _) = exit_of(world.engine("carol").decide(
        &lease.id,
        &who("carol"),
        Verdict::Approve,
        None,
    ));
    assert_eq!(exit, Exit::Usage);
}

fn a_request_not_decided_in_time_is_cancelled_by_the_sweeper(new: fn() -> World) {
    let world = new();
    let lease = world.pending("gated");
    world.hand.set(minutes(30) - TimeDelta::seconds(1));
    let report = world.sweep();
    assert!(report.cancelled.is_empty());
    assert_eq!(world.lease(&lease.id).state, LeaseState::Pending);

    world.at(30);
    let report = world.sweep();
    assert_eq!(report.cancelled.len(), 1);
    assert_eq!(report.cancelled[0].id, lease.id);
    let stored = world.lease(&lease.id);
    assert_eq!(stored.state, LeaseState::Cancelled);
    assert_eq!(stored.ended_at, Some(minutes(30)));
    assert!(world.own.calls().is_empty());
    assert_eq!(world.kinds(&lease.id), ["requested", "cancelled"]);
    assert_eq!(
        cancellation(&*world.store, &stored).unwrap(),
        format!("request {} was cancelled: not decided within 30m", lease.id)
    );
}

fn a_final_approval_hands_the_grant_to_a_waiting_requester(new: fn() -> World) {
    let world = new();
    let lease = world.pending("gated");
    // The requester waits (`--wait`): its process is on the lease.
    world.claim_for_this_process(&lease.id);
    world
        .engine("bob")
        .decide(&lease.id, &who("bob"), Verdict::Approve, None)
        .unwrap();
    world.at(2);
    match world
        .engine("carol")
        .decide(&lease.id, &who("carol"), Verdict::Approve, None)
        .unwrap()
    {
        Decided::HandedOver { lease } => assert_eq!(lease.state, LeaseState::Granting),
        _ => panic!("not handed over"),
    }
    // Granting, recorded before anything is granted; the waiter grants.
    assert!(world.own.calls().is_empty());
    assert_eq!(world.lease(&lease.id).state, LeaseState::Granting);
    world.at(3);
    let granted = match world
        .engine("alice")
        .await_approval(&lease.id, Duration::ZERO, &mut |_| {})
        .unwrap()
    {
        Requested::Granted { lease, .. } => lease,
        Requested::Pending { .. } => panic!("still pending"),
    };
    assert_eq!(granted.state, LeaseState::Active);
    assert_eq!(
        world.own.calls(),
        [call(
            Op::Grant,
            &lease,
            Some(minutes(63)),
            LeaseState::Granting
        )]
    );
    assert_eq!(
        world.kinds(&lease.id),
        ["requested", "approved", "approved", "granted"]
    );
}

fn a_waiting_requester_holds_off_only_the_default_timeout(new: fn() -> World) {
    let world = new();
    let waited = world.pending("asked");
    world.claim_for_this_process(&waited.id);
    let left = world.pending("asked");
    let timed = world.pending("gated");
    world.claim_for_this_process(&timed.id);

    world.hand.set(t0() + TimeDelta::days(1));
    let report = world.sweep();
    let mut cancelled: Vec<&str> = report.cancelled.iter().map(|l| l.id.as_str()).collect();
    cancelled.sort_unstable();
    let mut expected = vec![left.id.as_str(), timed.id.as_str()];
    expected.sort_unstable();
    assert_eq!(cancelled, expected);
    assert_eq!(world.lease(&waited.id).state, LeaseState::Pending);
    assert_eq!(
        world.last_details(&left.id),
        json!({ "reason": "not decided within 1d" })
    );
    assert_eq!(
        world.last_details(&timed.id),
        json!({ "reason": "not decided within 30m" })
    );
}

// The pieces the steps share.

#[test]
fn retry_backoff_doubles_to_an_hour() {
    let delays: Vec<u64> = (1..=10).map(|n| retry_delay(n).as_secs()).collect();
    assert_eq!(delays, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
}

#[test]
fn a_dead_local_worker_is_seen_dead() {
    let me = Process::this();
    let now = Utc::now();
    assert!(me.sees_alive(&me.id, None, now, STALE_AFTER));
    let gone = format!("{}:{}", me.host, i32::MAX - 1);
    assert!(!me.sees_alive(&gone, Some(now), now, STALE_AFTER));
    assert!(me.sees_alive("elsewhere:1", Some(now), now, STALE_AFTER));
    assert!(!me.sees_alive(
        "elsewhere:1",
        Some(now - TimeDelta::seconds(600)),
        now,
        STALE_AFTER
    ));
}

// Separation of duties.

/// The audit events of no lease (requests refused before a lease existed).
fn unattached_events(world: &World) -> Vec<crate::audit::AuditEvent> {
    let mut all = Vec::new();
    world
        .store
        .each_event(&mut |event| {
            if event.lease_id.is_none() {
                all.push(event.clone());
            }
            Ok(())
        })
        .unwrap();
    all
}

fn a_role_that_conflicts_with_a_live_lease_is_refused_and_the_refusal_recorded(new: fn() -> World) {
    let world = new();
    let ledger = world.granted("ledger", None);
    let calls = world.own.calls().len();

    let (exit, message) = exit_of(world.engine("alice").request(
        &who("alice"),
        &asking("payout", None),
        None,
    ));
    assert_eq!(exit, Exit::Denied);
    assert_eq!(
        message,
        format!(
            "alice may not hold role \"payout\" while lease {} of role \"ledger\" is live: who books a payment does not pay it out (conflicts #1)",
            ledger.id
        )
    );
    // Nothing was created or asked of the target; the refusal is in the audit trail.
    assert_eq!(
        world.store.leases(&LeaseFilter::default()).unwrap().len(),
        1
    );
    assert_eq!(world.own.calls().len(), calls);
    let refused = unattached_events(&world);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].kind, "denied");
    assert_eq!(
        refused[0].details,
        json!({
            "role": "payout",
            "subject": "alice",
            "by": "alice",
            "rule": "conflicts #1",
            "reason": message,
        })
    );

    // The lease's own extension is no conflict with itself.
    world
        .engine("alice")
        .extend(&ledger.id, &who("alice"), secs(50 * 60))
        .unwrap();
    // Once the conflicting lease has ended, the role may be asked for.
    world.engine("alice").revoke(&ledger.id).unwrap();
    let payout = world.pending("payout");
    assert_eq!(payout.state, LeaseState::Pending);
}

fn nobody_approves_into_a_conflict_of_the_subject_or_their_own(new: fn() -> World) {
    let world = new();
    // The subject took the conflicting role while the request waited.
    let payout = world.pending("payout");
    let ledger = world.granted("ledger", None);
    let (exit, message) = exit_of(world.engine("carol").decide(
        &payout.id,
        &who("carol"),
        Verdict::Approve,
        None,
    ));
    assert_eq!(exit, Exit::Denied);
    assert_eq!(
        message,
        format!(
            "lease {} cannot be approved: alice may not hold role \"payout\" while lease {} of role \"ledger\" is live: who books a payment does not pay it out (conflicts #1)",
            payout.id, ledger.id
        )
    );
    assert_eq!(world.lease(&payout.id).state, LeaseState::Pending);
    assert_eq!(world.kinds(&payout.id), ["requested", "denied"]);
    assert_eq!(world.last_details(&payout.id)["by"], "carol");
    world.engine("alice").revoke(&ledger.id).unwrap();

    // The approver holds the conflicting role.
    let bobs = match world
        .engine("bob")
        .request(&who("bob"), &asking("ledger", None), None)
        .unwrap()
    {
        Requested::Granted { lease, .. } => lease,
        Requested::Pending { .. } => panic!("pending"),
    };
    let (exit, message) = exit_of(world.engine("bob").decide(
        &payout.id,
        &who("bob"),
        Verdict::Approve,
        None,
    ));
    assert_eq!(exit, Exit::Denied);
    assert_eq!(
        message,
        format!(
            "bob may not approve a request for role \"payout\" while lease {} of role \"ledger\" is live: who books a payment does not pay it out (conflicts #1)",
            bobs.id
        )
    );
    assert_eq!(world.lease(&payout.id).state, LeaseState::Pending);
    // Someone without a conflict approves, and it is granted.
    match world
        .engine("carol")
        .decide(&payout.id, &who("carol"), Verdict::Approve, None)
        .unwrap()
    {
        Decided::Granted { lease, .. } => assert_eq!(lease.state, LeaseState::Active),
        _ => panic!("not granted"),
    }
    // A denial is never refused for a conflict.
    let again = world.pending("payout");
    world
        .engine("bob")
        .decide(&again.id, &who("bob"), Verdict::Deny, Some("no"))
        .unwrap();
    assert_eq!(world.lease(&again.id).state, LeaseState::Denied);
}

// Conditions.

fn a_role_at_its_max_active_refuses_another_lease_but_break_glass_does_not(new: fn() -> World) {
    let world = new();
    let seat = world.granted("seat", None);
    let (exit, message) = exit_of(world.engine("bob").request(
        &who("bob"),
        &asking("seat", None),
        None,
    ));
    assert_eq!(exit, Exit::Denied);
    assert_eq!(
        message,
        "role \"seat\" has 1 live lease, its max_active of 1: try again when one has ended"
    );
    let refused = unattached_events(&world);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].details["rule"], "roles.seat.max_active");
    assert_eq!(refused[0].details["by"], "bob");
    // The lease itself may be extended; once it has ended the seat is free.
    world
        .engine("alice")
        .extend(&seat.id, &who("alice"), secs(40 * 60))
        .unwrap();
    world.engine("alice").revoke(&seat.id).unwrap();
    match world
        .engine("bob")
        .request(&who("bob"), &asking("seat", None), None)
        .unwrap()
    {
        Requested::Granted { lease, .. } => assert_eq!(lease.state, LeaseState::Active),
        Requested::Pending { .. } => panic!("pending"),
    }

    // A break-glass role is not held to its max_active.
    let sos = RequestInput {
        reason: Some("INC-1: primary down".into()),
        ..asking("sos", None)
    };
    for user in ["alice", "bob"] {
        match world.engine(user).request(&who(user), &sos, None) {
            Ok(Requested::Granted { lease, .. }) => assert!(lease.break_glass),
            other => panic!("{user}: {:?}", other.err()),
        }
    }
}

fn an_expired_eligibility_rule_admits_nobody_and_says_when_it_ended(new: fn() -> World) {
    let world = new();
    let engine = world.engine("carol");
    match engine
        .request(&who("carol"), &asking("temp", Some(10)), None)
        .unwrap()
    {
        Requested::Granted { lease, .. } => assert_eq!(lease.state, LeaseState::Active),
        Requested::Pending { .. } => panic!("pending"),
    }
    assert_eq!(engine.roles_for(&who("carol")).len(), 1);
    world.at(30);
    let (exit, message) = exit_of(world.engine("carol").request(
        &who("carol"),
        &asking("temp", Some(10)),
        None,
    ));
    assert_eq!(exit, Exit::Denied);
    assert_eq!(
        message,
        "carol is no longer eligible for role \"temp\": eligibility rule #3 expired at 2026-12-01T10:30:00Z"
    );
    assert!(world.engine("carol").roles_for(&who("carol")).is_empty());
}

/// Each scenario above, once on each store: the engine's order must not depend on it.
macro_rules! on_each_store {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[test]
            fn memory() {
                super::$scenario(super::World::memory);
            }

            #[test]
            fn sqlite() {
                super::$scenario(super::World::sqlite);
            }
        }
    )*};
}

on_each_store!(
    granting_is_recorded_before_the_grant_and_active_after_it,
    a_revocation_is_recorded_revoking_before_the_backend_revokes,
    a_failed_revocation_is_retried_with_backoff_only_when_due,
    a_grant_that_changed_nothing_fails_without_a_cleanup,
    a_grant_that_may_have_left_a_part_is_cleaned_up,
    a_failed_cleanup_is_left_revoke_failed_and_reconciled_when_due,
    a_failed_renewal_leaves_the_entitlement_another_lease_holds,
    an_interrupted_grant_is_reconciled_by_asking_the_target,
    a_grant_a_live_worker_is_running_is_left_alone,
    a_lease_ended_while_its_grant_ran_has_the_grant_taken_back,
    the_checkpoint_records_a_handle_while_the_grant_runs,
    revoking_twice_revokes_once,
    revoking_a_pending_request_cancels_it_without_the_backend,
    revoking_an_unknown_lease_is_a_usage_error,
    overlapping_leases_share_one_entitlement_to_the_later_end,
    an_overlapping_lease_that_expires_leaves_the_entitlement_to_the_other,
    a_lease_expires_at_its_end_and_not_before,
    extending_moves_the_end_on_the_target_within_policy,
    a_failed_extension_changes_nothing,
    two_approvals_grant_and_nobody_approves_their_own,
    a_denial_ends_the_request_without_the_backend,
    a_request_not_decided_in_time_is_cancelled_by_the_sweeper,
    a_revoke_failure_says_whether_a_retry_may_help,
    an_interrupted_revocation_is_finished_by_the_sweeper,
    a_lease_whose_target_left_the_configuration_waits_like_a_failed_revocation,
    a_sweep_passes_over_an_entitlement_another_process_is_changing,
    a_new_lease_over_a_failed_revocation_keeps_its_entitlement,
    a_grant_after_the_last_lease_ended_is_not_a_renewal,
    extending_one_of_overlapping_leases_keeps_the_later_end_on_the_target,
    only_the_holder_extends_and_only_an_active_lease,
    a_shrink_that_fails_is_noted_and_the_lease_still_ends,
    an_interrupted_grant_under_another_lease_leaves_the_entitlement,
    a_final_approval_hands_the_grant_to_a_waiting_requester,
    a_waiting_requester_holds_off_only_the_default_timeout,
    a_role_that_conflicts_with_a_live_lease_is_refused_and_the_refusal_recorded,
    nobody_approves_into_a_conflict_of_the_subject_or_their_own,
    a_role_at_its_max_active_refuses_another_lease_but_break_glass_does_not,
    an_expired_eligibility_rule_admits_nobody_and_says_when_it_ended,
);

mod agents;
mod certification;
mod conditions;
mod recheck;
