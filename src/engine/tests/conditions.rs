//! Conditions on roles and eligibility rules (time windows, `max_active`), each refusal by
//! policy in the audit trail with its rule, and the rules that weigh other leases weighed
//! again where the lease is recorded: on the in-memory store and on SQLite.

use super::*;

const CONFIG: &str = r#"
[targets.own]
backend = "command"
program = "/bin/true"

[roles.office]
target = "own"
max_ttl = "1h"
window = { weekdays = ["mon-fri"], hours = "08:00-18:00", timezone = "Europe/Berlin" }

[roles.sos]
target = "own"
max_ttl = "1h"
break_glass = true
window = { weekdays = ["sat", "sun"] }

[roles.checked]
target = "own"
max_ttl = "1h"
approvals = { required = 1, from = ["user:bob"] }
window = { hours = "09:00-17:00" }

[roles.seat]
target = "own"
max_ttl = "1h"
max_active = 1

[roles.ticketed]
target = "own"
max_ttl = "1h"
ticket = { required = true, pattern = "^CHG-[0-9]+$" }

[roles.ledger]
target = "own"
max_ttl = "1h"

[roles.payout]
target = "own"
max_ttl = "1h"

[[conflicts]]
roles = ["ledger", "payout"]
reason = "who books a payment does not pay it out"

[[eligibility]]
subjects = ["user:alice"]
roles = ["*"]

[[eligibility]]
subjects = ["user:dave"]
roles = ["seat", "sos"]
window = { weekdays = ["sat", "sun"] }

[[eligibility]]
subjects = ["user:dave"]
roles = ["seat"]
window = { hours = "12:00-13:00" }
expires = "2027-01-01T00:00:00Z"
"#;

/// `new()`'s store with the configuration above. The clock starts on Tuesday
/// 2026-12-01 at 10:00 UTC (11:00 in Berlin).
fn world(new: fn() -> World) -> World {
    let mut world = new();
    world.config = config::parse(Path::new("c.toml"), CONFIG).unwrap();
    world
}

/// Saturday 2026-12-05 at 09:12 UTC, 10:12 in Berlin.
const SATURDAY: i64 = 4 * 24 * 60 - 48;

fn for_reason(role: &str, reason: &str) -> RequestInput {
    RequestInput {
        reason: Some(reason.to_owned()),
        ..asking(role, None)
    }
}

fn a_role_outside_its_window_is_refused_and_a_break_glass_one_granted(new: fn() -> World) {
    let world = world(new);
    let office = world.granted("office", None);
    world.engine("alice").revoke(&office.id).unwrap();

    world.at(SATURDAY);
    let (exit, message) = exit_of(world.engine("alice").request(
        &who("alice"),
        &asking("office", None),
        None,
    ));
    assert_eq!(exit, Exit::Denied);
    let why =
        "role \"office\" may be requested only mon-fri 08:00-18:00 Europe/Berlin (now: sat 10:12)";
    assert_eq!(message, why);
    let refused = unattached_events(&world);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].kind, "denied");
    assert_eq!(
        refused[0].details,
        json!({
            "role": "office", "subject": "alice", "by": "alice",
            "rule": "roles.office.window", "reason": why,
        })
    );
    // A dry run says the same and records nothing.
    let (exit, message) = exit_of(
        world
            .engine("alice")
            .evaluate(&who("alice"), &asking("office", None)),
    );
    assert_eq!((exit, message.as_str()), (Exit::Denied, why));
    assert_eq!(unattached_events(&world).len(), 1);

    // Break-glass is granted outside any window, its own and its eligibility rule's.
    world.at(0);
    match world.engine("dave").request(
        &who("dave"),
        &for_reason("sos", "INC-9: primary down"),
        None,
    ) {
        Ok(Requested::Granted { lease, .. }) => assert!(lease.break_glass),
        other => panic!("{:?}", other.err()),
    }
}

fn an_eligibility_rule_outside_its_window_admits_nobody_but_another_rule_may(new: fn() -> World) {
    let world = world(new);
    let seat = asking("seat", None);
    let (exit, message) = exit_of(world.engine("dave").request(&who("dave"), &seat, None));
    assert_eq!(exit, Exit::Denied);
    let why =
        "dave is eligible for role \"seat\" only sat,sun UTC (eligibility rule #2; now: tue 10:00)";
    assert_eq!(message, why);
    let refused = unattached_events(&world);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].details["rule"], "eligibility rule #2 window");
    assert_eq!(refused[0].details["reason"], why);

    // At noon the third rule admits.
    world.at(2 * 60 + 30);
    match world.engine("dave").request(&who("dave"), &seat, None) {
        Ok(Requested::Granted { lease, .. }) => assert_eq!(lease.state, LeaseState::Active),
        other => panic!("{:?}", other.err()),
    }
}

fn an_approval_that_would_grant_outside_the_window_is_refused_and_the_request_waits(
    new: fn() -> World,
) {
    let world = world(new);
    let lease = world.pending("checked");
    world.at(7 * 60 + 30);
    let (exit, message) = exit_of(world.engine("bob").decide(
        &lease.id,
        &who("bob"),
        Verdict::Approve,
        None,
    ));
    assert_eq!(exit, Exit::Denied);
    let why = "role \"checked\" may be granted only 09:00-17:00 UTC (now: tue 17:30)";
    assert_eq!(
        message,
        format!("lease {} cannot be approved: {why}", lease.id)
    );
    let stored = world.lease(&lease.id);
    assert_eq!(stored.state, LeaseState::Pending);
    assert!(stored.approvals.is_empty());
    assert_eq!(world.kinds(&lease.id), ["requested", "denied"]);
    assert_eq!(
        world.last_details(&lease.id),
        json!({
            "role": "checked", "subject": "alice", "by": "bob",
            "rule": "roles.checked.window", "reason": why,
        })
    );
    assert!(world.own.calls().is_empty());

    // The next morning the window is open again: approved and granted.
    world.at(23 * 60 + 30);
    match world
        .engine("bob")
        .decide(&lease.id, &who("bob"), Verdict::Approve, None)
        .unwrap()
    {
        Decided::Granted { lease, .. } => assert_eq!(lease.state, LeaseState::Active),
        _ => panic!("not granted"),
    }
}

fn every_refusal_by_policy_is_recorded_with_its_rule_and_a_dry_run_records_none(
    new: fn() -> World,
) {
    let world = world(new);
    let ticket = |t: &str| RequestInput {
        ticket: Some(t.to_owned()),
        ..asking("ticketed", None)
    };
    let cases: Vec<(&str, RequestInput, &str, String)> = vec![
        (
            "mallory",
            asking("office", None),
            "eligibility",
            "mallory is not eligible for role \"office\" (see `jit roles` for the roles you may request)".into(),
        ),
        (
            "alice",
            asking("office", Some(120)),
            "role office max_ttl",
            "requested ttl 2h is over the cap: role office max_ttl is 1h (ask for at most 1h)".into(),
        ),
        (
            "alice",
            asking("ticketed", None),
            "roles.ticketed.ticket.required",
            "this role requires --ticket matching ^CHG-[0-9]+$".into(),
        ),
        (
            "alice",
            ticket("INC-1"),
            "roles.ticketed.ticket.pattern",
            "ticket \"INC-1\" does not match the role's pattern ^CHG-[0-9]+$".into(),
        ),
        (
            "alice",
            ticket("CHG 1"),
            "ticket syntax",
            "ticket \"CHG 1\" is not valid: a ticket is 1 to 64 letters, digits and . _ : / # -".into(),
        ),
        (
            "alice",
            asking("sos", None),
            "roles.sos.break_glass",
            "role sos is break-glass: --reason is required".into(),
        ),
    ];
    for (user, input, rule, why) in &cases {
        // A dry run refuses in the same words and records nothing.
        let before = unattached_events(&world).len();
        let (exit, message) = exit_of(world.engine(user).evaluate(&who(user), input));
        assert_eq!((exit, &message), (Exit::Denied, why), "{rule}");
        assert_eq!(unattached_events(&world).len(), before, "{rule}");

        let (exit, message) = exit_of(world.engine(user).request(&who(user), input, None));
        assert_eq!((exit, &message), (Exit::Denied, why), "{rule}");
        let refused = unattached_events(&world);
        assert_eq!(refused.len(), before + 1, "{rule}");
        assert_eq!(
            refused.last().unwrap().details,
            json!({ "role": input.role, "subject": user, "by": user, "rule": rule, "reason": why }),
        );
    }
    assert!(
        world
            .store
            .leases(&LeaseFilter::default())
            .unwrap()
            .is_empty()
    );

    // An extension over the cap is recorded on its lease.
    let office = world.granted("office", None);
    let (exit, _) = exit_of(world.engine("alice").extend(
        &office.id,
        &who("alice"),
        secs(2 * 3600),
    ));
    assert_eq!(exit, Exit::Denied);
    assert_eq!(world.kinds(&office.id), ["requested", "granted", "denied"]);
    assert_eq!(
        world.last_details(&office.id)["rule"],
        "role office max_ttl"
    );

    // Someone who may not approve the role is refused, and that is recorded on the lease.
    let checked = world.pending("checked");
    let (exit, message) = exit_of(world.engine("carol").decide(
        &checked.id,
        &who("carol"),
        Verdict::Approve,
        None,
    ));
    assert_eq!(exit, Exit::Denied);
    assert_eq!(
        message,
        "carol may not decide requests for role \"checked\"; approvers: user:bob"
    );
    assert_eq!(world.kinds(&checked.id), ["requested", "denied"]);
    assert_eq!(
        world.last_details(&checked.id),
        json!({
            "role": "checked", "subject": "alice", "by": "carol",
            "rule": "roles.checked.approvals.from", "reason": message,
        })
    );
    assert_eq!(world.lease(&checked.id).state, LeaseState::Pending);
}

fn a_dry_run_shows_each_condition_and_how_it_stands(new: fn() -> World) {
    let world = world(new);
    let shown = |user: &str, input: &RequestInput| {
        let evaluation = world.engine(user).evaluate(&who(user), input).unwrap();
        evaluation
            .conditions
            .iter()
            .map(|c| (c.kind, c.rule.clone(), c.now.clone(), c.met, c.exempt))
            .collect::<Vec<_>>()
    };
    let office = shown("alice", &asking("office", None));
    assert_eq!(
        office,
        [(
            "window",
            "roles.office.window".to_owned(),
            "open (tue 11:00)".to_owned(),
            true,
            false
        )]
    );
    world.granted("ledger", None);
    world
        .engine("alice")
        .revoke(&world.granted("seat", None).id)
        .unwrap();
    let seat = world
        .engine("alice")
        .evaluate(&who("alice"), &asking("seat", None))
        .unwrap();
    assert_eq!(seat.conditions.len(), 1);
    assert_eq!(seat.conditions[0].kind, "max_active");
    assert_eq!(
        seat.conditions[0].condition,
        "at most 1 live lease of the role"
    );
    assert_eq!(seat.conditions[0].live, Some(0));
    assert_eq!(seat.conditions[0].limit, Some(1));
    // Dave's break-glass role outside both windows: shown closed, and exempt.
    let sos = shown("dave", &for_reason("sos", "INC-9"));
    assert_eq!(
        sos,
        [
            (
                "window",
                "roles.sos.window".to_owned(),
                "closed (tue 10:00)".to_owned(),
                false,
                true
            ),
            (
                "window",
                "eligibility rule #2 window".to_owned(),
                "closed (tue 10:00)".to_owned(),
                false,
                true
            ),
        ]
    );
    // Dave's seat at noon: the closed weekend rule, the open noon rule and its end, the
    // seat's count.
    world.at(2 * 60 + 30);
    let seat = shown("dave", &asking("seat", None));
    assert_eq!(
        seat,
        [
            (
                "window",
                "eligibility rule #2 window".to_owned(),
                "closed (tue 12:30)".to_owned(),
                false,
                false
            ),
            (
                "window",
                "eligibility rule #3 window".to_owned(),
                "open (tue 12:30)".to_owned(),
                true,
                false
            ),
            (
                "expires",
                "eligibility rule #3 expires".to_owned(),
                "in force (30d11h30m left)".to_owned(),
                true,
                false
            ),
            (
                "max_active",
                "roles.seat.max_active".to_owned(),
                "0 live".to_owned(),
                true,
                false
            ),
        ]
    );
    // A conflict rule of the role (alice holds ledger: payout is refused; ledger shows it).
    let ledger = world
        .engine("alice")
        .evaluate(&who("alice"), &asking("ledger", None));
    let ledger = ledger.unwrap();
    assert_eq!(ledger.conditions.len(), 1);
    assert_eq!(ledger.conditions[0].rule, "conflicts #1");
    assert_eq!(
        ledger.conditions[0].condition,
        "not while holding payout: who books a payment does not pay it out"
    );
    assert_eq!(ledger.conditions[0].roles, ["payout"]);
    assert!(unattached_events(&world).is_empty());
}

fn two_requests_at_once_never_pass_max_active_together(new: fn() -> World) {
    let world = world(new);
    // While alice's request is between its checks and its record, another request for the
    // same seat is granted in full.
    let (config, store, clock, own) = (
        world.config.clone(),
        Rc::clone(&world.store),
        world.clock,
        Rc::clone(&world.own),
    );
    let other: Rc<RefCell<Option<Lease>>> = Rc::default();
    let got = Rc::clone(&other);
    world.own.during_plan(move || {
        let engine = Engine::new(&config, &*store, clock, "alice")
            .with_backend("own", Rc::clone(&own) as Rc<dyn Backend>);
        match engine.request(&who("alice"), &asking("seat", None), None) {
            Ok(Requested::Granted { lease, .. }) => *got.borrow_mut() = Some(lease),
            other => panic!("the other request: {:?}", other.err()),
        }
    });
    let (exit, message) = exit_of(world.engine("alice").request(
        &who("alice"),
        &asking("seat", None),
        None,
    ));
    assert_eq!(exit, Exit::Denied);
    assert_eq!(
        message,
        "role \"seat\" has 1 live lease, its max_active of 1: try again when one has ended"
    );
    let other = other.borrow().clone().expect("the other request ran");
    let leases = world.store.leases(&LeaseFilter::default()).unwrap();
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0].id, other.id);
    assert_eq!(leases[0].state, LeaseState::Active);
    let refused = unattached_events(&world);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].details["rule"], "roles.seat.max_active");
    assert_eq!(world.own.ops(), [Op::Grant]);
}

fn a_conflicting_role_taken_meanwhile_refuses_the_request_where_it_is_recorded(new: fn() -> World) {
    let world = world(new);
    // While alice's request for payout is between its checks and its record, she is
    // granted the conflicting role.
    let (config, store, clock, own) = (
        world.config.clone(),
        Rc::clone(&world.store),
        world.clock,
        Rc::clone(&world.own),
    );
    let other: Rc<RefCell<Option<Lease>>> = Rc::default();
    let got = Rc::clone(&other);
    world.own.during_plan(move || {
        let engine = Engine::new(&config, &*store, clock, "alice")
            .with_backend("own", Rc::clone(&own) as Rc<dyn Backend>);
        match engine.request(&who("alice"), &asking("ledger", None), None) {
            Ok(Requested::Granted { lease, .. }) => *got.borrow_mut() = Some(lease),
            other => panic!("the other request: {:?}", other.err()),
        }
    });
    let (exit, message) = exit_of(world.engine("alice").request(
        &who("alice"),
        &asking("payout", None),
        None,
    ));
    let ledger = other.borrow().clone().expect("the other request ran");
    assert_eq!(exit, Exit::Denied);
    assert_eq!(
        message,
        format!(
            "alice may not hold role \"payout\" while lease {} of role \"ledger\" is live: who books a payment does not pay it out (conflicts #1)",
            ledger.id
        )
    );
    let leases = world.store.leases(&LeaseFilter::default()).unwrap();
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0].role, "ledger");
    let refused = unattached_events(&world);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].details["rule"], "conflicts #1");
}

on_each_store!(
    a_role_outside_its_window_is_refused_and_a_break_glass_one_granted,
    an_eligibility_rule_outside_its_window_admits_nobody_but_another_rule_may,
    an_approval_that_would_grant_outside_the_window_is_refused_and_the_request_waits,
    every_refusal_by_policy_is_recorded_with_its_rule_and_a_dry_run_records_none,
    a_dry_run_shows_each_condition_and_how_it_stands,
    two_requests_at_once_never_pass_max_active_together,
    a_conflicting_role_taken_meanwhile_refuses_the_request_where_it_is_recorded,
);
