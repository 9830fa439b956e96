//! Approvals by other people, against the local store.

use crate::harness::*;
use std::io::Read;

fn pending(w: &World, role: &str) -> String {
    let lease = w
        .jit(["request", "--role", role, "--json"])
        .by(REQUESTER)
        .run()
        .code(4)
        .json();
    assert_eq!(lease["state"], "pending");
    assert_eq!(lease["expires_at"], serde_json::Value::Null);
    lease["id"].as_str().unwrap().to_owned()
}

#[test]
fn approval_grants_and_self_approval_is_refused() {
    let w = World::new();
    let id = pending(&w, "gated");
    assert!(w.grant_keys().is_empty());

    w.jit(["approve", &id])
        .by(REQUESTER)
        .run()
        .code(3)
        .stderr_has("may not decide their own request");
    w.jit(["approve", &id])
        .run()
        .code(3)
        .stderr_has("may not decide requests for role \"gated\"");
    assert_eq!(w.state_of(&id), "pending");
    // Each refused attempt is recorded on the lease, with the rule that refused it.
    let refused: Vec<(String, String)> = w.lease(&id)["events"].as_array().unwrap()[1..]
        .iter()
        .map(|e| {
            assert_eq!(e["kind"], "denied");
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["details"]["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        refused,
        [
            (REQUESTER.to_owned(), "self-approval".to_owned()),
            (me(), "roles.gated.approvals.from".to_owned()),
        ]
    );

    w.jit(["approve", &id, "--reason", "on call"])
        .by(APPROVER)
        .run()
        .success()
        .stdout_has(&format!("approved and granted {id}"))
        .stdout_has("which approvers never see");
    let lease = w.lease(&id);
    assert_eq!(lease["state"], "active");
    assert_eq!(lease["approvals"][0]["by"], APPROVER);
    assert_eq!(lease["approvals"][0]["decision"], "approve");
    assert_eq!(lease["approvals"][0]["reason"], "on call");
    assert_eq!(w.grant_keys(), vec![format!("gated/{REQUESTER}")]);
    assert_eq!(
        w.event_kinds(&id),
        ["requested", "denied", "denied", "approved", "granted"]
    );

    // Deciding again is refused.
    w.jit(["deny", &id, "--reason", "late"])
        .by(OTHER_APPROVER)
        .run()
        .code(2)
        .stderr_has("not pending");
}

#[test]
fn two_approvals_when_two_are_required() {
    let w = World::new();
    let id = pending(&w, "two-keys");
    w.jit(["approve", &id])
        .by(APPROVER)
        .run()
        .success()
        .stdout_has("1 more approval(s) needed");
    w.jit(["approve", &id])
        .by(APPROVER)
        .run()
        .code(2)
        .stderr_has("has already decided");
    assert_eq!(w.state_of(&id), "pending");
    w.jit(["approve", &id])
        .by(OTHER_APPROVER)
        .run()
        .success()
        .stdout_has("approved and granted");
    assert_eq!(w.state_of(&id), "active");
}

#[test]
fn denial_ends_the_request() {
    let w = World::new();
    let id = pending(&w, "gated");
    w.jit(["deny", &id]).by(APPROVER).run().code(2);
    w.jit(["deny", &id, "--reason", "no change window"])
        .by(APPROVER)
        .run()
        .success();
    let lease = w.lease(&id);
    assert_eq!(lease["state"], "denied");
    assert_eq!(lease["approvals"][0]["decision"], "deny");
    assert!(w.grant_keys().is_empty());
    assert_eq!(w.event_kinds(&id), ["requested", "denied"]);
}

#[test]
fn a_waiting_requester_gets_the_grant_and_its_credentials() {
    let w = World::new();
    let mut waiter = w
        .jit([
            "request",
            "--role",
            "gated",
            "--wait",
            "--timeout",
            "60s",
            "--json",
        ])
        .by(REQUESTER)
        .spawn();
    // Await the pending request (a condition, not a fixed sleep).
    let id = loop {
        let leases = w.leases();
        if let Some(lease) = leases.first() {
            break lease["id"].as_str().unwrap().to_owned();
        }
        assert!(
            waiter.try_wait().unwrap().is_none(),
            "the waiter ended early"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    w.jit(["approve", &id])
        .by(APPROVER)
        .run()
        .success()
        .stdout_has("the waiting requester is granting it now");
    let status = waiter.wait().unwrap();
    let mut stdout = String::new();
    waiter
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(status.success(), "{stdout}");
    let lease: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(lease["id"], id.as_str());
    assert_eq!(lease["state"], "active");
    assert!(
        lease["credentials"]["TOKEN"]
            .as_str()
            .unwrap()
            .starts_with("tok-")
    );
}

#[test]
fn waiting_gives_up_with_exit_4() {
    let w = World::new();
    w.jit(["request", "--role", "gated", "--wait", "--timeout", "1s"])
        .by(REQUESTER)
        .run()
        .code(4)
        .stdout_has("needs 1 approval from user:bin, user:sys");
    let id = w.leases()[0]["id"].as_str().unwrap().to_owned();
    // Once the waiter is gone, the approval grants directly.
    w.jit(["approve", &id])
        .by(APPROVER)
        .run()
        .success()
        .stdout_has("approved and granted");
}

#[test]
fn the_requester_can_withdraw_and_pending_requests_lapse() {
    let w = World::new();
    let withdrawn = pending(&w, "gated");
    w.jit(["revoke", &withdrawn])
        .by(REQUESTER)
        .run()
        .success()
        .stdout_has("cancelled");
    assert_eq!(w.state_of(&withdrawn), "cancelled");

    let lapsed = pending(&w, "gated");
    w.jit(["sweep"])
        .later(23 * 3600)
        .run()
        .success()
        .stdout_is("");
    w.jit(["sweep"])
        .later(24 * 3600 + 60)
        .run()
        .success()
        .stdout_has(&format!("{lapsed}: cancelled"));
    assert_eq!(w.event_kinds(&lapsed), ["requested", "cancelled"]);
}

#[test]
fn only_holders_and_approvers_may_revoke() {
    let w = World::new();
    let lease = w
        .jit(["request", "--role", "web-root", "--json"])
        .by(REQUESTER)
        .run()
        .success()
        .json();
    let own = lease["id"].as_str().unwrap();
    w.jit(["revoke", own])
        .by(OTHER_APPROVER)
        .run()
        .code(3)
        .stderr_has("may not revoke lease");
    assert_eq!(w.state_of(own), "active");

    let gated = pending(&w, "gated");
    w.jit(["approve", &gated]).by(APPROVER).run().success();
    w.jit(["revoke", &gated])
        .by(OTHER_APPROVER)
        .run()
        .success()
        .stdout_has(&format!("revoked {gated}"));
    assert_eq!(w.grant_keys(), vec![format!("web-root/{REQUESTER}")]);
}

#[test]
fn a_request_left_pending_is_told_its_credentials_will_never_be_shown() {
    let w = World::empty();
    w.jit(["init"]).run().success();
    let approvals = format!("approvals = {{ required = 1, from = [\"user:{APPROVER}\"] }}\n");
    let config = std::fs::read_to_string(w.config_path()).unwrap().replace(
        "[roles.ssh-demo]\n",
        &format!("[roles.ssh-demo]\n{approvals}"),
    ) + &format!(
        "\n[targets.keys]\nbackend = \"ssh\"\nmode = \"authorized-keys\"\nauthorized_keys = \"{}\"\n\n\
             [roles.login]\ntarget = \"keys\"\nmax_ttl = \"1h\"\n{approvals}grant = {{ account = \"{me}\" }}\n\n\
             [targets.files]\nbackend = \"command\"\nprogram = \"{fixture}\"\nargs = [\"{grants}\"]\n\n\
             [roles.gated]\ntarget = \"files\"\nmax_ttl = \"1h\"\n{approvals}",
        w.path("authorized_keys").display(),
        me = me(),
        fixture = fixture().display(),
        grants = w.path("grants.json").display(),
    );
    w.write_config(&config);
    let request = |role: &str, json: bool| {
        let mut args = vec!["request", "--role", role, "--ticket", "DEMO-1"];
        if json {
            args.push("--json");
        }
        w.jit(args).run().code(4)
    };
    let warning = |role: &str, issues: &str, id: &str| {
        format!(
            "jit: warning: role {role} {issues}, and credentials are shown only to a request that waits for its approval: this request's will never be shown; to receive them, withdraw it (`jit revoke {id}`) and request again with --wait\n"
        )
    };

    let run = request("ssh-demo", true);
    let lease = run.json();
    let id = lease["id"].as_str().unwrap();
    let expected = warning("ssh-demo", "issues credentials", id);
    assert_eq!(run.stderr, expected);
    assert_eq!(
        lease["notice"],
        expected["jit: warning: ".len()..].trim_end()
    );
    let run = request("ssh-demo", false);
    let id = run
        .stdout
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(':');
    assert_eq!(run.stderr, warning("ssh-demo", "issues credentials", id));

    // A program's answer decides: it may.
    let run = request("gated", true);
    let id = run.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        run.stderr,
        warning("gated", "may issue credentials (its target decides)", &id)
    );

    // An authorized_keys line is no credential: nothing to say.
    let run = request("login", true);
    assert_eq!(run.stderr, "");
    assert!(run.json().get("notice").is_none());
}
