//! Live leases follow the rules as they change: each cause, on each store.

use super::*;
use crate::config::{Conflict, Eligibility, SubjectPattern};
use crate::engine::recheck::Membership;

/// A directory where `dave` is in `groups` (and nobody else in any).
fn directory(groups: &'static [&'static str]) -> Directory {
    Rc::new(move |_named: &[String]| {
        let membership: Membership = Box::new(move |name: &str| {
            Ok(if name == "dave" {
                groups.iter().map(|g| g.to_string()).collect()
            } else {
                Vec::new()
            })
        });
        Ok(membership)
    })
}

impl World {
    /// A sweep that looks subjects up in `directory`.
    fn sweep_with(&self, directory: Directory) -> SweepReport {
        self.engine("sweeper")
            .with_directory(directory)
            .sweep()
            .unwrap()
    }

    /// A rule letting `group:dba` request `temp`.
    fn admit_dba(&mut self) {
        self.config.eligibility.push(Eligibility {
            name: "eligibility rule #4".into(),
            label: None,
            position: 4,
            subjects: vec![SubjectPattern::Group("dba".into())],
            roles: vec!["temp".into()],
            max_ttl: None,
            expires: None,
            window: None,
            review_every: None,
            review_overdue: Default::default(),
        });
    }
}

/// What a revocation by the re-evaluation says in its event.
fn revoked_because(world: &World, id: &str) -> Value {
    assert_eq!(world.lease(id).state, LeaseState::Revoked);
    let events = world.events(id);
    let last = events.last().unwrap();
    assert_eq!(last.kind, "revoked");
    assert_eq!(last.actor, "sweeper");
    last.details.clone()
}

fn a_subject_who_left_the_group_loses_the_lease_at_the_next_sweep(new: fn() -> World) {
    let mut world = new();
    world.admit_dba();
    let mut dave = who("dave");
    dave.groups = vec!["dba".into()];
    let lease = match world
        .engine("dave")
        .request(&dave, &asking("temp", Some(30)), None)
        .unwrap()
    {
        Requested::Granted { lease, .. } => lease,
        Requested::Pending { .. } => panic!("pending"),
    };
    world.own.forget_calls();
    world.at(5);
    // Still in the group: nothing happens.
    let report = world.sweep_with(directory(&["dba"]));
    assert!(report.revocations.is_empty() && report.errors.is_empty());
    assert_eq!(report.rechecked.unwrap().leases, 1);
    assert!(world.own.calls().is_empty());
    assert_eq!(world.kinds(&lease.id), ["requested", "granted"]);

    // Out of the group: revoked, on the target and in the store, with the cause.
    world.at(6);
    let report = world.sweep_with(directory(&["web"]));
    assert_eq!(report.revocations.len(), 1, "{:?}", report.errors);
    assert_eq!(
        report.revocations[0].outcome,
        RevokeOutcome::Done { kept_for: None }
    );
    assert_eq!(
        world.own.calls(),
        [call(Op::Revoke, &lease, None, LeaseState::Revoking)]
    );
    let details = revoked_because(&world, &lease.id);
    assert_eq!(details["recheck"], "not-eligible");
    assert_eq!(
        details["cause"],
        "dave is no longer eligible for role \"temp\": no eligibility rule admits them (not in group:dba)"
    );
    assert!(details.get("rule").is_none());
    // Once.
    assert!(world.sweep_with(directory(&["web"])).revocations.is_empty());
    assert_eq!(world.own.calls().len(), 1);
}

fn a_deleted_rule_or_role_revokes_the_lease(new: fn() -> World) {
    let mut world = new();
    let own = world.granted("own", None);
    let temp = world.granted("temp", None);
    world.at(1);
    world.config.roles.remove("temp");
    let report = world.sweep();
    assert_eq!(report.revocations.len(), 1);
    let details = revoked_because(&world, &temp.id);
    assert_eq!(details["recheck"], "role-removed");
    assert_eq!(
        details["cause"],
        "role \"temp\" is no longer in the configuration"
    );
    assert_eq!(world.lease(&own.id).state, LeaseState::Active);

    // alice's rule for every role is deleted.
    world.config.eligibility.remove(0);
    world.sweep();
    let details = revoked_because(&world, &own.id);
    assert_eq!(details["recheck"], "not-eligible");
}

fn an_expired_rule_revokes_at_the_first_sweep_after_it_ended(new: fn() -> World) {
    let world = new();
    let lease = match world
        .engine("carol")
        .request(&who("carol"), &asking("temp", Some(60)), None)
        .unwrap()
    {
        Requested::Granted { lease, .. } => lease,
        Requested::Pending { .. } => panic!("pending"),
    };
    world.at(29);
    assert!(world.sweep().revocations.is_empty());
    world.at(30);
    assert_eq!(world.sweep().revocations.len(), 1);
    let details = revoked_because(&world, &lease.id);
    assert_eq!(details["recheck"], "rule-expired");
    assert_eq!(details["rule"], "eligibility rule #3");
    assert_eq!(
        details["cause"],
        "carol is no longer eligible for role \"temp\": eligibility rule #3 expired at 2026-12-01T10:30:00Z"
    );
}

fn a_new_conflict_revokes_the_later_lease(new: fn() -> World) {
    let mut world = new();
    let earlier = world.granted("own", None);
    world.at(5);
    let later = world.granted("temp", None);
    world.at(6);
    assert!(world.sweep().revocations.is_empty());
    world.config.conflicts.push(Conflict {
        name: "conflicts #2".into(),
        roles: vec!["temp".into(), "own".into()],
        reason: "not both".into(),
    });
    let report = world.sweep();
    assert_eq!(report.revocations.len(), 1);
    assert_eq!(report.revocations[0].lease.id, later.id);
    let details = revoked_because(&world, &later.id);
    assert_eq!(details["recheck"], "conflict");
    assert_eq!(details["rule"], "conflicts #2");
    assert_eq!(
        details["cause"],
        format!(
            "alice may not hold role \"temp\" while lease {} of role \"own\" is live: not both (conflicts #2); the later lease is revoked",
            earlier.id
        )
    );
    assert_eq!(world.lease(&earlier.id).state, LeaseState::Active);
}

fn a_lowered_cap_shortens_the_lease_and_its_end_on_the_target(new: fn() -> World) {
    let mut world = new();
    let lease = world.granted("own", Some(60));
    world.own.forget_calls();
    world.at(10);
    world.config.roles.get_mut("own").unwrap().max_ttl = secs(30 * 60);
    let report = world.sweep();
    assert!(report.revocations.is_empty() && report.errors.is_empty());
    assert_eq!(report.shortened.len(), 1);
    assert_eq!(report.shortened[0].from, Some(minutes(60)));
    assert_eq!(
        world.own.calls(),
        [renewal(call(
            Op::Extend,
            &lease,
            Some(minutes(30)),
            LeaseState::Active
        ))]
    );
    let stored = world.lease(&lease.id);
    assert_eq!(stored.state, LeaseState::Active);
    assert_eq!(stored.expires_at, Some(minutes(30)));
    assert_eq!(world.kinds(&lease.id), ["requested", "granted", "extended"]);
    let details = world.last_details(&lease.id);
    assert_eq!(details["shortened"], true);
    assert_eq!(details["recheck"], "cap");
    assert_eq!(details["rule"], "roles.own.max_ttl");
    assert_eq!(details["from"], "2026-12-01T11:00:00Z");
    assert_eq!(details["to"], "2026-12-01T10:30:00Z");
    assert_eq!(details["ttl"], "30m");
    // Shortened once; then it expires at its new end.
    world.at(20);
    assert!(world.sweep().shortened.is_empty());
    assert_eq!(world.own.calls().len(), 1);
    world.at(30);
    assert_eq!(world.sweep().revocations.len(), 1);
    assert_eq!(world.lease(&lease.id).state, LeaseState::Expired);
}

fn an_extended_lease_is_held_to_the_cap_from_its_extension(new: fn() -> World) {
    let mut world = new();
    let lease = world.granted("own", Some(60));
    world.at(50);
    world
        .engine("alice")
        .extend(&lease.id, &who("alice"), secs(3600))
        .unwrap();
    assert_eq!(world.lease(&lease.id).expires_at, Some(minutes(110)));
    // 90m from the extension (10:50) is past its end: kept, though 90m from the grant is not.
    world.at(60);
    world.config.roles.get_mut("own").unwrap().max_ttl = secs(90 * 60);
    let report = world.sweep();
    assert!(report.shortened.is_empty() && report.revocations.is_empty());
    // 30m from the extension: shortened to 11:20.
    world.config.roles.get_mut("own").unwrap().max_ttl = secs(30 * 60);
    let report = world.sweep();
    assert_eq!(report.shortened.len(), 1);
    assert_eq!(world.lease(&lease.id).expires_at, Some(minutes(80)));
}

fn a_cap_lowered_below_the_time_already_held_revokes(new: fn() -> World) {
    let mut world = new();
    let lease = world.granted("own", Some(60));
    world.at(10);
    world.config.roles.get_mut("own").unwrap().max_ttl = secs(5 * 60);
    let report = world.sweep();
    assert_eq!(report.revocations.len(), 1);
    let details = revoked_because(&world, &lease.id);
    assert_eq!(details["recheck"], "cap");
    assert_eq!(
        details["cause"],
        format!(
            "roles.own.max_ttl is now 5m: lease {} may last until 2026-12-01T10:05:00Z (5m from 2026-12-01T10:00:00Z), not 2026-12-01T11:00:00Z",
            lease.id
        )
    );
}

fn a_target_that_cannot_move_its_end_still_has_the_lease_shortened(new: fn() -> World) {
    let mut world = new();
    let lease = world.granted("own", Some(60));
    world.own.fail(Op::Extend, ErrorKind::Permanent);
    world.at(10);
    world.config.roles.get_mut("own").unwrap().max_ttl = secs(30 * 60);
    let report = world.sweep();
    assert_eq!(report.shortened.len(), 1);
    assert_eq!(world.lease(&lease.id).expires_at, Some(minutes(30)));
    let details = world.last_details(&lease.id);
    assert!(details["target_error"].is_string(), "{details}");
    world.at(30);
    assert_eq!(world.sweep().revocations.len(), 1);
}

fn a_pending_request_no_longer_eligible_is_cancelled(new: fn() -> World) {
    let mut world = new();
    let lease = world.pending("asked");
    world.at(1);
    assert!(world.sweep().cancelled.is_empty());
    world.config.eligibility.remove(0);
    let report = world.sweep();
    assert_eq!(report.cancelled.len(), 1);
    assert_eq!(world.lease(&lease.id).state, LeaseState::Cancelled);
    let details = world.last_details(&lease.id);
    assert_eq!(details["recheck"], "not-eligible");
    assert_eq!(
        details["reason"],
        "alice is no longer eligible for role \"asked\": no eligibility rule admits them"
    );
    assert_eq!(
        cancellation(&*world.store, &world.lease(&lease.id)).unwrap(),
        format!(
            "request {} was cancelled: alice is no longer eligible for role \"asked\": no eligibility rule admits them",
            lease.id
        )
    );
    assert!(world.own.calls().is_empty());
}

fn a_break_glass_lease_is_held_to_eligibility(new: fn() -> World) {
    let mut world = new();
    let input = RequestInput {
        reason: Some("outage".into()),
        ..asking("sos", Some(30))
    };
    let lease = match world
        .engine("bob")
        .request(&who("bob"), &input, None)
        .unwrap()
    {
        Requested::Granted { lease, .. } => lease,
        Requested::Pending { .. } => panic!("pending"),
    };
    assert!(lease.break_glass);
    world.at(1);
    world.config.eligibility.remove(1);
    world.sweep();
    assert_eq!(
        revoked_because(&world, &lease.id)["recheck"],
        "not-eligible"
    );
}

fn unreadable_groups_leave_the_leases_alone(new: fn() -> World) {
    let mut world = new();
    world.admit_dba();
    let mut dave = who("dave");
    dave.groups = vec!["dba".into()];
    let lease = match world
        .engine("dave")
        .request(&dave, &asking("temp", Some(30)), None)
        .unwrap()
    {
        Requested::Granted { lease, .. } => lease,
        Requested::Pending { .. } => panic!("pending"),
    };
    world.at(1);
    let report = world.sweep_with(Rc::new(|_: &[String]| {
        let membership: Membership = Box::new(|_: &str| Err(anyhow!("no directory")));
        Ok(membership)
    }));
    assert!(report.revocations.is_empty());
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].0, "dave");
    assert!(
        report.errors[0].1.contains("no directory"),
        "{:?}",
        report.errors
    );
    assert_eq!(world.lease(&lease.id).state, LeaseState::Active);
}

fn the_plan_shows_what_a_sweep_would_do_and_changes_nothing(new: fn() -> World) {
    let mut world = new();
    let short = world.granted("own", Some(60));
    let gone = world.granted("temp", None);
    let kept = world.granted("shared", None);
    world.at(10);
    world.config.roles.get_mut("own").unwrap().max_ttl = secs(30 * 60);
    world.config.roles.remove("temp");
    world.own.forget_calls();
    world.shared.forget_calls();
    let before: Vec<_> = [&short, &gone, &kept]
        .iter()
        .map(|l| (world.lease(&l.id), world.kinds(&l.id)))
        .collect();
    let plan = world.engine("alice").recheck_plan().unwrap();
    assert_eq!(plan.leases, 3);
    assert_eq!(plan.subjects, 1);
    let mut planned: Vec<(&str, &str)> = plan
        .planned
        .iter()
        .map(|p| {
            let word = match &p.verdict {
                policy::recheck::Verdict::Shorten { .. } => "shorten",
                policy::recheck::Verdict::Revoke(_) => "revoke",
                _ => "other",
            };
            (p.lease.id.as_str(), word)
        })
        .collect();
    planned.sort();
    let mut expected = [(short.id.as_str(), "shorten"), (gone.id.as_str(), "revoke")];
    expected.sort();
    assert_eq!(planned, expected);
    let after: Vec<_> = [&short, &gone, &kept]
        .iter()
        .map(|l| (world.lease(&l.id), world.kinds(&l.id)))
        .collect();
    assert_eq!(format!("{before:?}"), format!("{after:?}"));
    assert!(world.own.calls().is_empty() && world.shared.calls().is_empty());
}

on_each_store!(
    a_subject_who_left_the_group_loses_the_lease_at_the_next_sweep,
    a_deleted_rule_or_role_revokes_the_lease,
    an_expired_rule_revokes_at_the_first_sweep_after_it_ended,
    a_new_conflict_revokes_the_later_lease,
    a_lowered_cap_shortens_the_lease_and_its_end_on_the_target,
    an_extended_lease_is_held_to_the_cap_from_its_extension,
    a_cap_lowered_below_the_time_already_held_revokes,
    a_target_that_cannot_move_its_end_still_has_the_lease_shortened,
    a_pending_request_no_longer_eligible_is_cancelled,
    a_break_glass_lease_is_held_to_eligibility,
    unreadable_groups_leave_the_leases_alone,
    the_plan_shows_what_a_sweep_would_do_and_changes_nothing,
);
