//! Crash safety (SPEC §7): a process killed at any point leaves nothing that `jit sweep`
//! does not find and remove. The fault points exist only in debug builds.

use crate::harness::*;

fn killed_request(w: &World, point: &str) -> String {
    let run = w
        .jit(["request", "--role", "web-root"])
        .env("JIT_FAULT", point)
        .run();
    assert_eq!(
        run.code, None,
        "jit should have been killed at {point}: {run:?}"
    );
    let granting: Vec<_> = w
        .leases()
        .into_iter()
        .filter(|l| l["state"] == "granting")
        .collect();
    assert_eq!(
        granting.len(),
        1,
        "recorded as granting before the backend was called"
    );
    granting[0]["id"].as_str().unwrap().to_owned()
}

#[test]
fn killed_after_the_grant_before_active_is_reconciled() {
    let w = World::new();
    let id = killed_request(&w, "after-grant");
    assert_eq!(w.grant_keys().len(), 1, "the target holds the grant");

    w.jit(["sweep"])
        .run()
        .success()
        .stdout_has(&format!("{id}: failed"));
    assert!(
        w.grant_keys().is_empty(),
        "sweep removed what the dead process granted"
    );
    assert_eq!(w.state_of(&id), "failed");
    assert_eq!(w.event_kinds(&id), ["requested", "reconciled"]);
    assert_eq!(w.lease(&id)["events"][1]["details"]["found"], "present");
    w.jit(["audit", "verify"]).run().success();
    // A second sweep finds nothing more to do.
    w.jit(["sweep"]).run().success().stdout_is("");
}

#[test]
fn killed_before_the_grant_is_reconciled() {
    let w = World::new();
    let id = killed_request(&w, "before-grant");
    assert!(w.grant_keys().is_empty());
    w.jit(["sweep"]).run().success();
    assert_eq!(w.state_of(&id), "failed");
    assert!(w.grant_keys().is_empty());
    // The target was asked first: nothing there, nothing to revoke.
    assert_eq!(w.lease(&id)["events"][1]["details"]["found"], "absent");
}

#[test]
fn killed_during_revoke_is_finished_by_sweep() {
    let w = World::new();
    let id = w.granted("web-root", &[]);
    let run = w
        .jit(["revoke", &id])
        .env("JIT_FAULT", "after-revoke")
        .run();
    assert_eq!(run.code, None);
    assert_eq!(w.state_of(&id), "revoking");
    w.jit(["sweep"])
        .run()
        .success()
        .stdout_has(&format!("{id}: revoked"));
    assert_eq!(w.state_of(&id), "revoked");
    assert!(w.grant_keys().is_empty());
}

#[test]
fn a_reconciled_grant_does_not_take_away_a_live_lease() {
    let w = World::new();
    let live = w.granted("web-root", &["--ttl", "30m"]);
    let dead = killed_request(&w, "after-grant");
    w.jit(["sweep"]).run().success();
    assert_eq!(w.state_of(&dead), "failed");
    assert_eq!(w.state_of(&live), "active");
    assert_eq!(
        w.grant_keys(),
        vec![format!("web-root/{}", me())],
        "the live lease still covers it"
    );
}
