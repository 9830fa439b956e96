//! Certification of eligibility rules: an overdue rule with `review_overdue = "deny"` refuses
//! (and says since when), a certification lets it admit again, a decertification refuses the
//! subject at once until the rule changes, and nobody certifies a rule that covers them; on
//! the in-memory store and on SQLite.

use super::*;

const CONFIG: &str = r#"
[targets.own]
backend = "command"
program = "/bin/true"

[roles.ledger]
target = "own"
max_ttl = "1h"

[roles.seat]
target = "own"
max_ttl = "1h"

[roles.temp]
target = "own"
max_ttl = "1h"

[roles.asked]
target = "own"
max_ttl = "1h"
approvals = { required = 1, from = ["user:alice"] }

[[eligibility]]
name = "ledger-staff"
subjects = ["user:bob"]
roles = ["ledger"]
review_every = "90d"
review_overdue = "deny"

[[eligibility]]
subjects = ["user:carol"]
roles = ["temp"]
review_every = "30d"

[[eligibility]]
name = "seats"
subjects = ["user:bob", "user:carol"]
roles = ["seat"]

[[eligibility]]
name = "carol-seat"
subjects = ["user:carol"]
roles = ["seat"]

[[eligibility]]
name = "askers"
subjects = ["user:bob"]
roles = ["asked"]
"#;

fn world(new: fn() -> World) -> World {
    let mut world = new();
    world.config = config::parse(Path::new("c.toml"), CONFIG).unwrap();
    world
}

fn all_events(world: &World) -> Vec<crate::audit::AuditEvent> {
    world.store.events(&store::EventFilter::default()).unwrap()
}

fn request(world: &World, user: &str, role: &str) -> Result<Requested> {
    world
        .engine(user)
        .request(&who(user), &asking(role, Some(10)), None)
}

fn granted(world: &World, user: &str, role: &str) -> Lease {
    match request(world, user, role) {
        Ok(Requested::Granted { lease, .. }) => lease,
        Ok(Requested::Pending { lease, .. }) => panic!("lease {} is pending", lease.id),
        Err(err) => panic!("{user}'s request of {role} failed: {err:#}"),
    }
}

fn an_overdue_rule_that_denies_refuses_until_it_is_certified(new: fn() -> World) {
    let world = world(new);
    // Never certified: overdue at once.
    let (exit, message) = exit_of(request(&world, "bob", "ledger"));
    assert_eq!(exit, Exit::Denied);
    assert_eq!(
        message,
        "eligibility rule ledger-staff has never been certified (review_every 90d): \
         review_overdue = \"deny\" refuses requests under it until `jit review certify ledger-staff`"
    );
    let denied = all_events(&world).pop().unwrap();
    assert_eq!(denied.kind, "denied");
    assert_eq!(
        denied.details["rule"],
        "eligibility rule ledger-staff review_overdue"
    );
    assert_eq!(denied.details["subject"], "bob");

    world.at(1);
    let certified = world
        .engine("alice")
        .certify(&who("alice"), "ledger-staff", "bob still books")
        .unwrap();
    assert_eq!(certified.kind, "certified");
    assert_eq!(certified.actor, "alice");
    assert_eq!(
        certified.details,
        json!({"rule": "ledger-staff", "position": 1, "subjects": ["user:bob"],
               "roles": ["ledger"], "reason": "bob still books"})
    );
    granted(&world, "bob", "ledger");
    let standings = world.engine("alice").rule_standings().unwrap();
    assert_eq!(standings.len(), 2);
    assert!(!standings[0].standing.overdue);

    // 90 days after the certification it is due again.
    world.at(1 + 90 * 24 * 60);
    let (exit, message) = exit_of(request(&world, "bob", "ledger"));
    assert_eq!(exit, Exit::Denied);
    assert!(
        message.starts_with(
            "eligibility rule ledger-staff is overdue for certification since 2027-03-01T10:01:00Z \
             (review_every 90d; last certified 2026-12-01T10:01:00Z)"
        ),
        "{message}"
    );
    assert!(
        world.engine("alice").rule_standings().unwrap()[0]
            .standing
            .overdue
    );
    // A dry run says the same and records nothing.
    let before = all_events(&world).len();
    let (exit, _) = exit_of(
        world
            .engine("bob")
            .evaluate(&who("bob"), &asking("ledger", None)),
    );
    assert_eq!(exit, Exit::Denied);
    assert_eq!(all_events(&world).len(), before);
}

fn an_overdue_rule_that_warns_still_admits(new: fn() -> World) {
    let world = world(new);
    granted(&world, "carol", "temp");
    let standings = world.engine("alice").rule_standings().unwrap();
    let unnamed = standings
        .iter()
        .find(|s| s.rule.reference() == "#2")
        .unwrap();
    assert!(unnamed.standing.overdue && !unnamed.standing.deny);
    assert_eq!(
        unnamed.standing.describe(),
        "never certified (review_every 30d)"
    );
    // An unnamed rule is certified by its place.
    world
        .engine("alice")
        .certify(&who("alice"), "#2", "carol covers the temp desk")
        .unwrap();
    let standings = world.engine("alice").rule_standings().unwrap();
    assert!(!standings[1].standing.overdue);
}

fn nobody_certifies_a_rule_that_covers_them_and_bad_input_records_nothing(new: fn() -> World) {
    let world = world(new);
    let (exit, message) = exit_of(world.engine("bob").certify(
        &who("bob"),
        "ledger-staff",
        "looks fine to me",
    ));
    assert_eq!(exit, Exit::Denied);
    assert_eq!(
        message,
        "bob may not certify eligibility rule ledger-staff: it covers them (user:bob)"
    );
    let events = all_events(&world);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "denied");
    assert_eq!(
        events[0].details["rule"],
        "eligibility rule ledger-staff self-certification"
    );

    let engine = world.engine("alice");
    let alice = who("alice");
    let cases: [(Result<crate::audit::AuditEvent>, &str); 7] = [
        (
            engine.certify(&alice, "nope", "x"),
            "no eligibility rule \"nope\"; the rules are: ledger-staff, #2, seats, carol-seat, askers",
        ),
        (
            engine.certify(&alice, "#1", "x"),
            "#1 is named \"ledger-staff\": name it so (`jit review certify ledger-staff`)",
        ),
        (
            engine.certify(&alice, "#9", "x"),
            "no eligibility rule \"#9\"",
        ),
        (
            engine.certify(&alice, "ledger-staff", " "),
            "--reason is empty: say why",
        ),
        (
            engine.decertify("seats", "bob", "x"),
            "\"bob\" is not a subject; use user:NAME or group:NAME",
        ),
        (
            engine.decertify("seats", "group:ops", "x"),
            "eligibility rule seats does not name group:ops; it names: user:bob, user:carol",
        ),
        (
            engine.decertify("seats", "user:erin", "x"),
            "eligibility rule seats does not name user:erin; it names: user:bob, user:carol",
        ),
    ];
    for (got, expected) in cases {
        let (exit, message) = exit_of(got);
        assert_eq!(exit, Exit::Usage, "{message}");
        assert!(message.starts_with(expected), "{message}");
    }
    assert_eq!(all_events(&world).len(), 1);
}

fn a_decertified_subject_is_refused_at_once_until_the_rule_changes(new: fn() -> World) {
    let world = world(new);
    granted(&world, "bob", "seat");
    let record = world
        .engine("alice")
        .decertify("seats", "user:bob", "moved to another team")
        .unwrap();
    assert_eq!(record.kind, "decertified");
    assert_eq!(
        record.details,
        json!({"rule": "seats", "position": 3, "subject": "user:bob",
               "subjects": ["user:bob", "user:carol"], "roles": ["seat"],
               "reason": "moved to another team"})
    );
    let (exit, message) = exit_of(request(&world, "bob", "seat"));
    assert_eq!(exit, Exit::Denied);
    assert_eq!(
        message,
        "bob may no longer request role \"seat\" under eligibility rule seats: user:bob was \
         decertified by alice at 2026-12-01T10:00:00Z (moved to another team)"
    );
    let denied = all_events(&world).pop().unwrap();
    assert_eq!(denied.details["rule"], "eligibility rule seats decertified");
    // Carol is not touched; and a rule that still admits is enough.
    granted(&world, "carol", "seat");
    world
        .engine("alice")
        .decertify("seats", "user:carol", "has her own rule")
        .unwrap();
    granted(&world, "carol", "seat");
    // A certification of the rule does not lift it ...
    world
        .engine("dave")
        .certify(&who("dave"), "seats", "reviewed")
        .unwrap();
    assert_eq!(exit_of(request(&world, "bob", "seat")).0, Exit::Denied);

    // ... the configuration changed to match does: the rule no longer names bob.
    let edited = CONFIG.replace(
        "subjects = [\"user:bob\", \"user:carol\"]",
        "subjects = [\"user:carol\"]",
    );
    let world = World {
        config: config::parse(Path::new("c.toml"), &edited).unwrap(),
        ..world
    };
    let (exit, message) = exit_of(request(&world, "bob", "seat"));
    assert_eq!(exit, Exit::Denied);
    assert!(message.contains("not eligible"), "{message}");
    // Named again (the rule's text changed since): the old decertification no longer applies.
    let renamed = CONFIG.replace(
        "subjects = [\"user:bob\", \"user:carol\"]",
        "subjects = [\"user:bob\", \"user:carol\", \"user:erin\"]",
    );
    let world = World {
        config: config::parse(Path::new("c.toml"), &renamed).unwrap(),
        ..world
    };
    granted(&world, "bob", "seat");
}

fn rule_names_are_unique_and_review_keys_are_checked(_new: fn() -> World) {
    let base = "[targets.own]\nbackend = \"command\"\nprogram = \"/bin/true\"\n\n\
                [roles.r]\ntarget = \"own\"\nmax_ttl = \"1h\"\n\n";
    let errors = |text: &str| {
        config::parse(Path::new("c.toml"), &format!("{base}{text}"))
            .unwrap_err()
            .to_string()
    };
    let twice = errors(
        "[[eligibility]]\nname = \"a\"\nsubjects = [\"user:x\"]\nroles = [\"r\"]\n\n\
         [[eligibility]]\nname = \"a\"\nsubjects = [\"user:y\"]\nroles = [\"r\"]\n",
    );
    assert!(
        twice.contains(
            "c.toml:14:1: a second eligibility rule named \"a\" (the first is [[eligibility]] #1): give each its own `name`"
        ),
        "{twice}"
    );
    let bad = errors(
        "[[eligibility]]\nname = \"#1\"\nsubjects = [\"user:x\"]\nroles = [\"r\"]\n\
         review_every = \"soon\"\nreview_overdue = \"block\"\n",
    );
    assert!(
        bad.contains("c.toml:10:8: name \"#1\" is not a name"),
        "{bad}"
    );
    assert!(bad.contains("c.toml:13:16: review_every"), "{bad}");
    assert!(
        bad.contains("c.toml:14:18: review_overdue \"block\" is not one of \"warn\", \"deny\""),
        "{bad}"
    );
    let alone = errors(
        "[[eligibility]]\nsubjects = [\"user:x\"]\nroles = [\"r\"]\nreview_overdue = \"deny\"\n",
    );
    assert!(alone.contains("c.toml:12:18: review_overdue says what an overdue certification does: it needs review_every"), "{alone}");
}

fn a_decertified_subject_loses_the_live_lease_at_the_next_sweep(new: fn() -> World) {
    let world = world(new);
    let bobs = granted(&world, "bob", "seat");
    let carols = granted(&world, "carol", "seat");
    let asked = match request(&world, "bob", "asked").unwrap() {
        Requested::Pending { lease, .. } => lease,
        Requested::Granted { .. } => panic!("granted without approval"),
    };
    world.at(1);
    // Nothing decertified: the sweep changes nothing.
    let report = world.engine("sweeper").sweep().unwrap();
    assert!(report.revocations.is_empty(), "{:?}", report.errors);
    for (rule, subject) in [
        ("seats", "user:bob"),
        ("seats", "user:carol"),
        ("askers", "user:bob"),
    ] {
        world
            .engine("alice")
            .decertify(rule, subject, "access review Q4")
            .unwrap();
    }
    world.at(2);
    let report = world.engine("sweeper").sweep().unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    // Bob's lease, held only through `seats`, is revoked with the decertification as cause.
    assert_eq!(world.lease(&bobs.id).state, LeaseState::Revoked);
    let revoked = world.events(&bobs.id).pop().unwrap();
    assert_eq!(revoked.kind, "revoked");
    assert_eq!(revoked.details["recheck"], "decertified");
    assert_eq!(
        revoked.details["rule"],
        "eligibility rule seats decertified"
    );
    assert_eq!(
        revoked.details["cause"],
        "bob may no longer hold role \"seat\" under eligibility rule seats: user:bob was \
         decertified by alice at 2026-12-01T10:01:00Z (access review Q4)"
    );
    // Carol's is kept: `carol-seat` still admits her.
    assert_eq!(world.lease(&carols.id).state, LeaseState::Active);
    // Bob's pending request is withdrawn.
    assert_eq!(world.lease(&asked.id).state, LeaseState::Cancelled);
    // The next sweep has nothing more to do.
    world.at(3);
    let report = world.engine("sweeper").sweep().unwrap();
    assert!(
        report.revocations.is_empty(),
        "{:?}",
        report.revocations.len()
    );
}

on_each_store!(
    a_decertified_subject_loses_the_live_lease_at_the_next_sweep,
    an_overdue_rule_that_denies_refuses_until_it_is_certified,
    an_overdue_rule_that_warns_still_admits,
    nobody_certifies_a_rule_that_covers_them_and_bad_input_records_nothing,
    a_decertified_subject_is_refused_at_once_until_the_rule_changes,
    rule_names_are_unique_and_review_keys_are_checked,
);
