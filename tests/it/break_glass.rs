//! Break-glass roles (self-granted, with a reason, marked) and per-role approval timeouts.

use crate::harness::*;
use serde_json::{Value, json};
use std::io::{BufRead, Read};

/// The default configuration and two more roles: `sos` (break-glass) and `quick` (its
/// requests lapse after 30 minutes).
fn world() -> World {
    let w = World::new();
    w.write_config(&format!(
        "{}\n[roles.sos]\ntarget = \"files\"\nmax_ttl = \"30m\"\nbreak_glass = true\n\n\
         [roles.quick]\ntarget = \"files\"\nmax_ttl = \"1h\"\n\
         approvals = {{ required = 1, from = [\"user:{APPROVER}\"], timeout = \"30m\" }}\n",
        w.default_config()
    ));
    w
}

fn events(w: &World, id: &str) -> Vec<Value> {
    w.lease(id)["events"].as_array().unwrap().clone()
}

/// The line of `jit list` that shows lease `id`.
fn list_row(w: &World, id: &str) -> String {
    let table = w.jit(["list"]).run().success();
    table
        .stdout
        .lines()
        .find(|line| line.contains(id))
        .unwrap_or_else(|| panic!("{id} is not listed:\n{}", table.stdout))
        .to_owned()
}

#[test]
fn a_break_glass_role_is_self_granted_with_a_reason_and_marked() {
    let w = world();
    let lease = w
        .jit([
            "request",
            "--role",
            "sos",
            "--reason",
            "db down, INC-9",
            "--json",
        ])
        .by(REQUESTER)
        .run()
        .success()
        .json();
    let id = lease["id"].as_str().unwrap().to_owned();
    assert_eq!(lease["state"], "active");
    assert_eq!(lease["break_glass"], true);
    assert_eq!(lease["reason"], "db down, INC-9");
    assert_eq!(lease["approvals"], json!([]));
    assert_eq!(w.grant_keys(), vec![format!("sos/{REQUESTER}")]);

    let events = events(&w, &id);
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["requested", "granted"]);
    assert_eq!(events[0]["details"]["break_glass"], true);
    assert_eq!(events[0]["details"]["approvals_required"], 0);
    assert_eq!(events[0]["details"]["ttl"], "30m");
    assert_eq!(events[1]["details"]["break_glass"], true);

    let normal = w.granted("web-root", &[]);
    let normal_events = self::events(&w, &normal);
    assert_eq!(normal_events[0]["details"]["break_glass"], Value::Null);
    assert_eq!(normal_events[1]["details"]["break_glass"], Value::Null);

    // The flag is in the lease JSON of every lease, as stored: list and show agree.
    let listed = w.jit(["list", "--json"]).run().success().json();
    // (Both were created in the same second, maybe: listed in the order of their ids.)
    let mut flags: Vec<(&str, Option<bool>)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["id"].as_str().unwrap(), l["break_glass"].as_bool()))
        .collect();
    flags.sort();
    let mut expected = [(id.as_str(), Some(true)), (normal.as_str(), Some(false))];
    expected.sort();
    assert_eq!(flags, expected);
    assert_eq!(w.lease(&normal)["break_glass"], false);
    assert_eq!(w.lease(&id)["break_glass"], true);

    // The table marks the role of a break-glass lease.
    let row = list_row(&w, &id);
    assert!(row.contains(" sos (break-glass) "), "{row}");
    assert!(row.contains(" active "), "{row}");
    let row = list_row(&w, &normal);
    assert!(row.contains(" web-root "), "{row}");
    assert!(!row.contains("break-glass"), "{row}");
    w.jit(["show", &id])
        .run()
        .success()
        .stdout_has("role       sos (break-glass)\n");

    // Revoked like any lease; the flag stays on the ended lease.
    w.jit(["revoke", &id]).by(REQUESTER).run().success();
    assert_eq!(w.state_of(&id), "revoked");
    assert_eq!(w.lease(&id)["break_glass"], true);
    w.jit(["audit", "verify"])
        .run()
        .success()
        .stdout_has("audit chain intact: 5 records");
}

#[test]
fn a_break_glass_request_without_a_reason_is_denied_and_leaves_nothing() {
    let w = world();
    for reason in [None, Some("   ")] {
        let mut args = vec!["request", "--role", "sos"];
        if let Some(reason) = reason {
            args.extend(["--reason", reason]);
        }
        w.jit(args)
            .by(REQUESTER)
            .run()
            .code(3)
            .stderr_has("jit: error: role sos is break-glass: --reason is required");
    }
    w.jit(["exec", "--role", "sos", "--", "true"])
        .by(REQUESTER)
        .run()
        .code(3)
        .stderr_has("role sos is break-glass: --reason is required");
    w.jit(["request", "--role", "sos", "--dry-run"])
        .by(REQUESTER)
        .run()
        .code(3)
        .stderr_has("role sos is break-glass: --reason is required");
    assert!(w.leases().is_empty());
    assert!(w.grant_keys().is_empty());
    // Each refusal (not the dry run) is recorded, with the rule, on no lease.
    let trail = w.jit(["audit", "--json"]).run().success().json();
    let trail = trail.as_array().unwrap();
    assert_eq!(trail.len(), 3);
    for denied in trail {
        assert_eq!(denied["kind"], "denied");
        assert_eq!(denied["lease_id"], serde_json::Value::Null);
        assert_eq!(
            denied["details"],
            serde_json::json!({
                "role": "sos", "subject": REQUESTER, "by": REQUESTER,
                "rule": "roles.sos.break_glass",
                "reason": "role sos is break-glass: --reason is required",
            })
        );
    }

    // Eligibility still comes first: someone no rule names is told that.
    w.jit(["request", "--role", "sos"])
        .by(APPROVER)
        .run()
        .code(3)
        .stderr_has("bin is not eligible for role \"sos\"");

    let plan = w
        .jit([
            "request",
            "--role",
            "sos",
            "--reason",
            "outage",
            "--dry-run",
        ])
        .by(REQUESTER)
        .run()
        .success();
    assert!(
        plan.stdout.starts_with(
            "decision: grant now (break-glass: self-granted, marked on the lease and in the audit trail)\n"
        ),
        "{}",
        plan.stdout
    );
    assert!(w.leases().is_empty());
}

#[test]
fn a_break_glass_lease_is_extended_within_its_cap() {
    let w = world();
    let id = w
        .jit(["request", "--role", "sos", "--reason", "outage", "--json"])
        .by(REQUESTER)
        .run()
        .success()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    w.jit(["extend", &id, "--ttl", "20m"])
        .by(REQUESTER)
        .run()
        .success();
    w.jit(["extend", &id, "--ttl", "31m"])
        .by(REQUESTER)
        .run()
        .code(3)
        .stderr_has("role sos max_ttl is 30m");
    assert_eq!(
        w.event_kinds(&id),
        ["requested", "granted", "extended", "denied"]
    );
    assert_eq!(
        w.lease(&id)["events"][3]["details"]["rule"],
        "role sos max_ttl"
    );
}

/// Run `config check` on `text` (after the default target) and return its stderr, with the
/// file's path as CONFIG; nothing may be created.
fn config_error(w: &World, roles: &str) -> String {
    w.write_config(&format!(
        "[targets.files]\nbackend = \"command\"\nprogram = \"/bin/true\"\n\n{roles}"
    ));
    let run = w.jit(["config", "check"]).run().code(5);
    w.jit(["request", "--role", "x", "--reason", "r"])
        .run()
        .code(5);
    assert!(!w.store_path().exists(), "no store was created");
    run.stderr
        .replace(&w.config_path().display().to_string(), "CONFIG")
}

#[test]
fn break_glass_configuration_errors_point_at_the_key() {
    let w = World::empty();
    assert_eq!(
        config_error(
            &w,
            "[roles.x]\ntarget = \"files\"\nmax_ttl = \"1h\"\nbreak_glass = true\napprovals = { required = 1, from = [\"user:a\"] }\n"
        ),
        "jit: error: CONFIG:9:13: [roles.x] has break_glass = true: break_glass roles are self-granted; remove `approvals`\n"
    );
    assert_eq!(
        config_error(
            &w,
            "[roles.x]\ntarget = \"files\"\nmax_ttl = \"2h\"\nbreak_glass = true\n"
        ),
        "jit: error: CONFIG:7:11: max_ttl (2h) is over the 1h cap for break_glass roles\n"
    );
    assert_eq!(
        config_error(
            &w,
            "[roles.x]\ntarget = \"files\"\nmax_ttl = \"1h\"\nbreak_glass = \"yes\"\n"
        ),
        "jit: error: CONFIG:8:15: break_glass must be true or false, not a string\n"
    );
    assert_eq!(
        config_error(
            &w,
            "[roles.x]\ntarget = \"files\"\nmax_ttl = \"1h\"\nbreak_glass = 1\n"
        ),
        "jit: error: CONFIG:8:15: break_glass must be true or false, not an integer\n"
    );
}

#[test]
fn approval_timeout_configuration_errors_point_at_the_value() {
    let w = World::empty();
    let role = |timeout: &str| {
        format!(
            "[roles.x]\ntarget = \"files\"\nmax_ttl = \"1h\"\napprovals = {{ from = [\"user:a\"], timeout = {timeout} }}\n"
        )
    };
    assert_eq!(
        config_error(&w, &role("\"0s\"")),
        "jit: error: CONFIG:8:44: approvals.timeout: \"0s\" is zero; use a positive duration such as 90s, 15m, 1h30m or 2h\n"
    );
    assert_eq!(
        config_error(&w, &role("\"-5m\"")),
        "jit: error: CONFIG:8:44: approvals.timeout: \"-5m\" is negative; use a positive duration such as 90s, 15m, 1h30m or 2h\n"
    );
    assert!(config_error(&w, &role("\"half an hour\"")).starts_with(
        "jit: error: CONFIG:8:44: approvals.timeout: \"half an hour\" is not a duration ("
    ));
    assert_eq!(
        config_error(&w, &role("30")),
        "jit: error: CONFIG:8:44: approvals.timeout must be a string, not an integer\n"
    );
    assert_eq!(
        config_error(
            &w,
            "[roles.x]\ntarget = \"files\"\nmax_ttl = \"1h\"\napprovals = { timeout = \"30m\" }\n"
        ),
        "jit: error: CONFIG:8:25: approvals.timeout is how long a request waits for approval; it needs required of 1 or more\n"
    );
    assert_eq!(
        config_error(
            &w,
            "[roles.x]\ntarget = \"files\"\nmax_ttl = \"1h\"\napprovals = { from = [\"user:a\"], timout = \"30m\" }\n"
        ),
        "jit: error: CONFIG:8:34: unknown key `timout` in approvals; valid keys: required, from, timeout\n"
    );
}

fn pending(w: &World, role: &str) -> String {
    let lease = w
        .jit(["request", "--role", role, "--json"])
        .by(REQUESTER)
        .run()
        .code(4)
        .json();
    assert_eq!(lease["state"], "pending");
    assert_eq!(lease["break_glass"], false);
    lease["id"].as_str().unwrap().to_owned()
}

#[test]
fn a_request_lapses_after_its_roles_approval_timeout() {
    let w = world();
    let quick = pending(&w, "quick");
    let gated = pending(&w, "gated");

    w.jit(["sweep"])
        .later(30 * 60 - 5)
        .run()
        .success()
        .stdout_is("");
    assert_eq!(w.state_of(&quick), "pending");
    assert_eq!(w.state_of(&gated), "pending");

    w.jit(["sweep"])
        .later(30 * 60 + 5)
        .run()
        .success()
        .stdout_is(&format!("{quick}: cancelled (not decided in time)\n"));
    assert_eq!(w.state_of(&quick), "cancelled");
    assert_eq!(
        w.state_of(&gated),
        "pending",
        "the default timeout is a day"
    );
    let events = events(&w, &quick);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["kind"], "requested");
    assert_eq!(events[1]["kind"], "cancelled");
    assert_eq!(
        events[1]["details"],
        json!({ "reason": "not decided within 30m" })
    );
    // Too late to approve.
    w.jit(["approve", &quick])
        .by(APPROVER)
        .run()
        .code(2)
        .stderr_has("is cancelled, not pending");

    w.jit(["sweep"])
        .later(24 * 3600 + 5)
        .run()
        .success()
        .stdout_is(&format!("{gated}: cancelled (not decided in time)\n"));
    assert_eq!(
        events_of_kind(&w, &gated, "cancelled"),
        [json!({ "reason": "not decided within 1d" })]
    );
}

fn events_of_kind(w: &World, id: &str, kind: &str) -> Vec<Value> {
    events(w, id)
        .into_iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["details"].clone())
        .collect()
}

#[test]
fn a_request_whose_role_left_the_configuration_has_the_default_timeout() {
    let w = world();
    let quick = pending(&w, "quick");
    w.write_config(&w.default_config());
    w.jit(["sweep"])
        .later(30 * 60 + 5)
        .run()
        .success()
        .stdout_is("");
    w.jit(["sweep"])
        .later(24 * 3600 + 5)
        .run()
        .success()
        .stdout_is(&format!("{quick}: cancelled (not decided in time)\n"));
    assert_eq!(
        events_of_kind(&w, &quick, "cancelled"),
        [json!({ "reason": "not decided within 1d" })]
    );
}

/// A `jit request --role ROLE --wait` of the requester's that is waiting: its pending
/// request, and what it has written on stderr after its first line.
struct Waiter {
    child: std::process::Child,
    id: String,
    stderr: std::io::BufReader<std::process::ChildStderr>,
}

/// Start `jit request --role ROLE --wait` as the requester and return it once it is in its
/// wait: its first line on stderr (it is not at a terminal) says where the request stands.
fn waiter(w: &World, role: &str) -> Waiter {
    let mut child = w
        .jit(["request", "--role", role, "--wait", "--timeout", "60s"])
        .by(REQUESTER)
        .spawn();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    // Read as the wait begins (a condition, not a fixed sleep).
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(
        first.starts_with("jit: waiting"),
        "the waiter ended early: {first}"
    );
    let leases = w.leases();
    let id = leases[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(leases.len(), 1);
    assert_eq!(
        first,
        format!("jit: waiting for approval of {id}: 0 of 1\n")
    );
    Waiter { child, id, stderr }
}

#[test]
fn a_waiting_requester_does_not_hold_off_the_roles_timeout() {
    let w = world();
    let Waiter {
        mut child,
        id,
        mut stderr,
    } = waiter(&w, "quick");
    w.jit(["sweep"])
        .later(30 * 60 + 5)
        .run()
        .success()
        .stdout_is(&format!("{id}: cancelled (not decided in time)\n"));
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert_eq!(status.code(), Some(3), "{rest}");
    assert_eq!(
        rest,
        format!("jit: error: request {id} was cancelled: not decided within 30m\n")
    );
    assert_eq!(w.state_of(&id), "cancelled");
    assert_eq!(w.event_kinds(&id), ["requested", "cancelled"]);
}

#[test]
fn a_waiting_requester_holds_off_the_default_timeout() {
    let w = world();
    let Waiter { mut child, id, .. } = waiter(&w, "gated");
    w.jit(["sweep"])
        .later(24 * 3600 + 5)
        .run()
        .success()
        .stdout_is("");
    assert_eq!(w.state_of(&id), "pending");
    child.kill().unwrap();
    child.wait().unwrap();
    w.jit(["sweep"])
        .later(24 * 3600 + 5)
        .run()
        .success()
        .stdout_is(&format!("{id}: cancelled (not decided in time)\n"));
}

#[test]
fn roles_show_break_glass_and_the_approval_timeout() {
    let w = world();
    let roles = w.jit(["roles", "--json"]).run().success().json();
    let summary: Vec<(&str, &Value, &Value)> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["role"].as_str().unwrap(),
                &r["break_glass"],
                &r["approval_timeout"],
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("db-admin", &json!(false), &json!(null)),
            ("gated", &json!(false), &json!("1d")),
            ("quick", &json!(false), &json!("30m")),
            ("sos", &json!(true), &json!(null)),
            ("tokens", &json!(false), &json!(null)),
            ("two-keys", &json!(false), &json!("1d")),
            ("web-root", &json!(false), &json!(null)),
        ]
    );
    let table = w.jit(["roles"]).run().success().stdout;
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(&format!(" {name} ")))
            .unwrap_or_else(|| panic!("{name}:\n{table}"))
            .to_owned()
    };
    assert!(
        row("quick").contains(" 1 from user:bin within 30m"),
        "{table}"
    );
    assert!(
        row("gated").contains(" 1 from user:bin, user:sys within 1d"),
        "{table}"
    );
    assert!(
        row("sos").contains(" none: break-glass, --reason required"),
        "{table}"
    );

    let plan = w
        .jit(["request", "--role", "quick", "--dry-run", "--json"])
        .by(REQUESTER)
        .run()
        .success()
        .json();
    assert_eq!(plan["decision"], "pending-approval");
    assert_eq!(plan["approval_timeout"], "30m");
    assert_eq!(plan["break_glass"], false);
    w.jit(["request", "--role", "quick", "--dry-run"])
        .by(REQUESTER)
        .run()
        .success()
        .stdout_has("decision: needs 1 approval(s) from user:bin within 30m\n");
}
