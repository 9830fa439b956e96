//! Policy beyond eligibility, through the CLI: separation of duties (`[[conflicts]]`), a role's
//! `max_active` and an eligibility rule's `expires`. What they refuse is refused with exit 3,
//! nothing is created on the store or the target, and each refusal is in the audit trail with
//! the rule that gave it. Two requests, or two approvals, at the same time (two processes on
//! the SQLite store) cannot both take the last seat of a `max_active` role.

use crate::harness::*;
use std::os::unix::fs::PermissionsExt;

fn world() -> World {
    let w = World::empty();
    std::fs::create_dir(w.path("leases")).unwrap();
    std::fs::set_permissions(w.path("leases"), std::fs::Permissions::from_mode(0o700)).unwrap();
    w.write_config(&format!(
        "[targets.books]\nbackend = \"file\"\ndirectory = \"leases\"\n\n\
         [roles.ledger]\ntarget = \"books\"\nmax_ttl = \"1h\"\n\n\
         [roles.payout]\ntarget = \"books\"\nmax_ttl = \"1h\"\n\n\
         [roles.seat]\ntarget = \"books\"\nmax_ttl = \"1h\"\nmax_active = 1\n\n\
         [roles.old]\ntarget = \"books\"\nmax_ttl = \"1h\"\n\n\
         [[conflicts]]\nroles = [\"ledger\", \"payout\"]\nreason = \"who books a payment does not pay it out\"\n\n\
         [[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"ledger\", \"payout\", \"seat\"]\n\n\
         [[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"old\"]\nexpires = \"2026-01-01T00:00:00Z\"\n",
        me = me(),
    ));
    w
}

fn files(w: &World) -> usize {
    std::fs::read_dir(w.path("leases")).unwrap().count()
}

#[test]
fn a_role_that_conflicts_with_a_live_lease_is_refused_and_recorded() {
    let w = world();
    let ledger = w.granted("ledger", &[]);
    let events = w.event_count();

    let refused = w
        .jit(["request", "--role", "payout", "--ttl", "10m"])
        .run()
        .code(3);
    let why = format!(
        "{me} may not hold role \"payout\" while lease {ledger} of role \"ledger\" is live: who books a payment does not pay it out (conflicts #1)",
        me = me()
    );
    assert_eq!(refused.stderr, format!("jit: error: {why}\n"));
    assert_eq!(refused.stdout, "");
    // No lease, no file on the target; one `denied` event with the rule.
    assert_eq!(w.leases().len(), 1);
    assert_eq!(files(&w), 1);
    let trail = w.jit(["audit", "--json"]).run().success().json();
    let trail = trail.as_array().unwrap();
    assert_eq!(trail.len(), events + 1);
    let denied = trail.last().unwrap();
    assert_eq!(denied["kind"], "denied");
    assert_eq!(denied["lease_id"], serde_json::Value::Null);
    assert_eq!(
        denied["details"],
        serde_json::json!({
            "role": "payout", "subject": me(), "by": me(), "rule": "conflicts #1", "reason": why,
        })
    );
    w.jit(["audit", "verify"]).run().success();

    // A dry run says the same and records nothing.
    let dry = w
        .jit(["request", "--role", "payout", "--dry-run"])
        .run()
        .code(3);
    assert_eq!(dry.stderr, format!("jit: error: {why}\n"));
    assert_eq!(w.event_count(), events + 1);

    // Once the conflicting lease has ended, the role is granted.
    w.jit(["revoke", &ledger]).run().success();
    let payout = w.granted("payout", &[]);
    assert_eq!(w.state_of(&payout), "active");
    assert_eq!(files(&w), 1);
}

#[test]
fn a_role_at_its_max_active_and_an_expired_rule_refuse_and_change_nothing() {
    let w = world();
    let seat = w.granted("seat", &[]);
    let refused = w.jit(["request", "--role", "seat"]).run().code(3);
    assert_eq!(
        refused.stderr,
        "jit: error: role \"seat\" has 1 live lease, its max_active of 1: try again when one has ended\n"
    );
    assert_eq!(w.leases().len(), 1);
    assert_eq!(files(&w), 1);
    w.jit(["revoke", &seat]).run().success();
    w.granted("seat", &[]);

    let events = w.event_count();
    let expired = w.jit(["request", "--role", "old"]).run().code(3);
    assert_eq!(
        expired.stderr,
        format!(
            "jit: error: {} is no longer eligible for role \"old\": eligibility rule #2 expired at 2026-01-01T00:00:00Z\n",
            me()
        )
    );
    let trail = w.jit(["audit", "--json"]).run().success().json();
    let trail = trail.as_array().unwrap();
    assert_eq!(trail.len(), events + 1);
    assert_eq!(
        trail.last().unwrap()["details"]["rule"],
        "eligibility rule #2 expires"
    );
    let roles = w.jit(["roles"]).run().success();
    assert!(!roles.stdout.contains("old"), "{}", roles.stdout);
}

#[test]
fn two_requests_at_once_grant_a_max_active_role_once() {
    use crate::http_server::{HttpServer, Reply};
    // No ticket read is answered before both have arrived: both processes are past the
    // first count of live leases before either records its lease.
    let tickets = HttpServer::start();
    tickets.route(
        "GET",
        "/issue/",
        Reply::json(
            200,
            serde_json::json!({"fields": {"status": {"name": "Open"}}}),
        )
        .gathering(2),
    );
    let w = World::empty();
    std::fs::create_dir(w.path("leases")).unwrap();
    std::fs::set_permissions(w.path("leases"), std::fs::Permissions::from_mode(0o700)).unwrap();
    w.write_config(&format!(
        "[targets.books]\nbackend = \"file\"\ndirectory = \"leases\"\n\n\
         [roles.seat]\ntarget = \"books\"\nmax_ttl = \"1h\"\nmax_active = 1\n\
         ticket = {{ check = {{ url = \"{}\", status_field = \"fields.status.name\", allowed = [\"Open\"] }} }}\n\n\
         [[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"seat\"]\n",
        tickets.url("/issue/{ticket}"),
        me = me(),
    ));
    let children: Vec<_> = ["CHG-1", "CHG-2"]
        .iter()
        .map(|ticket| {
            w.jit(["request", "--role", "seat", "--ticket", ticket, "--quiet"])
                .spawn()
        })
        .collect();
    let runs: Vec<Run> = children
        .into_iter()
        .map(|child| Run::from(child.wait_with_output().unwrap()))
        .collect();
    let codes: Vec<Option<i32>> = runs.iter().map(|run| run.code).collect();
    assert!(
        codes == [Some(0), Some(3)] || codes == [Some(3), Some(0)],
        "{codes:?}"
    );
    let refused = runs.iter().find(|run| run.code == Some(3)).unwrap();
    assert_eq!(
        refused.stderr,
        "jit: error: role \"seat\" has 1 live lease, its max_active of 1: try again when one has ended\n"
    );
    assert_eq!(tickets.requests_to("/issue/").len(), 2, "both were weighed");
    let leases = w.leases();
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0]["state"], "active");
    assert_eq!(files(&w), 1);
    let trail = w.jit(["audit", "--json"]).run().success().json();
    let denied: Vec<_> = trail
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "denied")
        .collect();
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0]["details"]["rule"], "roles.seat.max_active");
}

#[test]
fn two_approvals_at_once_grant_a_max_active_role_once() {
    use crate::http_server::{HttpServer, Reply};
    // The tickets are read at request time and again at approval; no approval's read is
    // answered before both have arrived: both approvals are past the first count of live
    // leases before either is recorded.
    let open = || {
        Reply::json(
            200,
            serde_json::json!({"fields": {"status": {"name": "Open"}}}),
        )
    };
    let tickets = HttpServer::start();
    tickets.route("GET", "/issue/", open());
    let w = World::empty();
    std::fs::create_dir(w.path("leases")).unwrap();
    std::fs::set_permissions(w.path("leases"), std::fs::Permissions::from_mode(0o700)).unwrap();
    w.write_config(&format!(
        "[identity]\nservice_account = \"{me}\"\n\n\
         [targets.books]\nbackend = \"file\"\ndirectory = \"leases\"\n\n\
         [roles.seat]\ntarget = \"books\"\nmax_ttl = \"1h\"\nmax_active = 1\n\
         approvals = {{ required = 1, from = [\"user:{approver}\"] }}\n\
         ticket = {{ check = {{ url = \"{}\", status_field = \"fields.status.name\", allowed = [\"Open\"] }} }}\n\n\
         [[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"seat\"]\n",
        tickets.url("/issue/{ticket}"),
        me = me(),
        approver = APPROVER,
    ));
    let ids: Vec<String> = ["CHG-1", "CHG-2"]
        .iter()
        .map(|ticket| {
            let lease = w
                .jit(["request", "--role", "seat", "--ticket", ticket, "--json"])
                .run()
                .code(4)
                .json();
            lease["id"].as_str().unwrap().to_owned()
        })
        .collect();
    tickets.route("GET", "/issue/", open().gathering(4));
    let children: Vec<_> = ids
        .iter()
        .map(|id| w.jit(["approve", id]).by(APPROVER).spawn())
        .collect();
    let runs: Vec<Run> = children
        .into_iter()
        .map(|child| Run::from(child.wait_with_output().unwrap()))
        .collect();
    let codes: Vec<Option<i32>> = runs.iter().map(|run| run.code).collect();
    assert!(
        codes == [Some(0), Some(3)] || codes == [Some(3), Some(0)],
        "{codes:?}"
    );
    let (refused, waiting) = if codes[0] == Some(3) {
        (&runs[0], &ids[0])
    } else {
        (&runs[1], &ids[1])
    };
    assert_eq!(
        refused.stderr,
        format!(
            "jit: error: lease {waiting} cannot be approved: role \"seat\" has 1 live lease, its max_active of 1: try again when one has ended\n"
        )
    );
    assert_eq!(tickets.requests_to("/issue/").len(), 4, "both were weighed");
    assert_eq!(w.state_of(waiting), "pending");
    assert_eq!(w.event_kinds(waiting), ["requested", "denied"]);
    assert_eq!(
        w.lease(waiting)["events"][1]["details"]["rule"],
        "roles.seat.max_active"
    );
    let granted = ids.iter().find(|id| *id != waiting).unwrap();
    assert_eq!(w.state_of(granted), "active");
    assert_eq!(files(&w), 1);
}
