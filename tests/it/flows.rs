//! End-to-end lifecycles through the command backend, checking the target after each step.

use crate::harness::*;
use serde_json::json;

#[test]
fn request_list_revoke_end_to_end() {
    let w = World::new();
    let who = me();

    let run = w
        .jit([
            "request",
            "--role",
            "db-admin",
            "--ttl",
            "45m",
            "--ticket",
            "CHG-123",
            "--reason",
            "schema fix",
        ])
        .run()
        .success()
        .stdout_has("granted ")
        .stdout_has("role db-admin on files for ");
    // The time left is counted at printing, so it may already be a second short of 45m.
    assert!(
        run.stdout.contains("(45m left)") || run.stdout.contains("(44m59s left)"),
        "{}",
        run.stdout
    );
    let key = format!("db-admin/{who}");
    assert_eq!(w.grant_keys(), vec![key.clone()]);

    let leases = w.jit(["list", "--json"]).run().success().json();
    let leases = leases.as_array().unwrap();
    assert_eq!(leases.len(), 1);
    let lease = &leases[0];
    let id = lease["id"].as_str().unwrap().to_owned();
    for field in [
        "id",
        "role",
        "target",
        "backend",
        "subject",
        "requester",
        "state",
        "ticket",
        "reason",
        "created_at",
        "granted_at",
        "expires_at",
        "ended_at",
        "approvals",
    ] {
        assert!(
            lease.get(field).is_some(),
            "lease JSON lacks {field}: {lease}"
        );
    }
    assert_eq!(lease["role"], "db-admin");
    assert_eq!(lease["target"], "files");
    assert_eq!(lease["backend"], "command");
    assert_eq!(lease["subject"], who.as_str());
    assert_eq!(lease["state"], "active");
    assert_eq!(lease["ticket"], "CHG-123");
    assert_eq!(lease["reason"], "schema fix");
    assert_eq!(lease["ended_at"], json!(null));
    let time =
        |field: &str| chrono::DateTime::parse_from_rfc3339(lease[field].as_str().unwrap()).unwrap();
    assert_eq!(
        (time("expires_at") - time("granted_at")).num_seconds(),
        45 * 60
    );
    assert_eq!(lease["approvals"], json!([]));
    // The target enforces the same end as the lease.
    assert_eq!(w.grants()[&key]["expires_at"], lease["expires_at"]);

    let table = w.jit(["list"]).run().success();
    assert!(table.stdout.starts_with(" ID"), "{}", table.stdout);
    assert!(
        table.stdout.contains(&id)
            && table.stdout.contains("active")
            && table.stdout.contains("CHG-123")
    );

    let revoked = w
        .jit(["revoke", &id])
        .run()
        .success()
        .stdout_has(&format!("revoked {id}"));
    assert!(
        revoked.stdout.contains("requested") && revoked.stdout.contains("granted"),
        "{}",
        revoked.stdout
    );
    assert_eq!(w.grant_keys(), Vec::<String>::new());
    assert_eq!(w.state_of(&id), "revoked");
    assert_eq!(w.event_kinds(&id), ["requested", "granted", "revoked"]);
    assert_eq!(w.jit(["list", "--json"]).run().success().json(), json!([]));

    // Revoking again is success, changes nothing and writes no event.
    w.jit(["drop", &id])
        .run()
        .success()
        .stdout_has(&format!("{id}: already revoked"));
    assert_eq!(w.event_kinds(&id), ["requested", "granted", "revoked"]);
    w.jit(["audit", "verify"])
        .run()
        .success()
        .stdout_has("audit chain intact: 3 records");
}

#[test]
fn overlapping_leases_are_counted() {
    let w = World::new();
    let key = format!("web-root/{}", me());
    let first = w.granted("web-root", &["--ttl", "50m"]);
    let second = w.granted("web-root", &["--ttl", "20m"]);
    // The shared entitlement lasts until the later end.
    assert_eq!(
        w.grants()[&key]["expires_at"],
        w.lease(&first)["expires_at"]
    );

    w.jit(["revoke", &first])
        .run()
        .success()
        .stdout_has(&format!(
            "revoked {first} (the entitlement stays: lease {second} still covers it)"
        ));
    assert_eq!(w.grant_keys(), vec![key.clone()]);
    // ...and is brought back to the end of the lease that remains.
    assert_eq!(
        w.grants()[&key]["expires_at"],
        w.lease(&second)["expires_at"]
    );

    w.jit(["revoke", &second])
        .run()
        .success()
        .stdout_has(&format!("revoked {second}"));
    assert!(w.grant_keys().is_empty());
}

#[test]
fn sweep_ends_leases_past_their_end() {
    let w = World::new();
    let short = w.granted("web-root", &["--ttl", "10m"]);
    let long = w.granted("db-admin", &["--ttl", "1h", "--ticket", "CHG-9"]);

    // Nothing is due yet.
    w.jit(["sweep"]).run().success().stdout_is("");
    assert_eq!(w.grant_keys().len(), 2);

    let run = w.jit(["sweep", "--json"]).later(11 * 60).run().success();
    let report = run.json();
    assert_eq!(
        report["revocations"],
        json!([{ "id": short, "state": "expired", "outcome": "revoked", "error": null }])
    );
    assert_eq!(w.grant_keys(), vec![format!("db-admin/{}", me())]);
    assert_eq!(w.state_of(&short), "expired");
    assert_eq!(w.event_kinds(&short), ["requested", "granted", "expired"]);
    assert_eq!(w.state_of(&long), "active");
}

#[test]
fn failed_revocation_is_retried_by_sweep() {
    let w = World::new();
    let id = w.granted("web-root", &["--ttl", "30m"]);
    w.fail_revokes(true);

    w.jit(["revoke", &id])
        .run()
        .code(6)
        .stdout_has("revocation failed: target unreachable (fixture)")
        .stdout_has("`jit sweep` retries it");
    assert_eq!(w.state_of(&id), "revoke-failed");
    assert_eq!(w.grant_keys().len(), 1, "the entitlement is still there");
    let listed = w.jit(["list"]).run().success();
    assert!(listed.stdout.contains("revoke-failed"), "{}", listed.stdout);

    // Before the retry is due, sweep leaves it alone, but says that it is waiting, when it
    // is tried next and how to try now, and exits 6: the revocation is incomplete.
    let failed = &w.lease(&id)["events"][2];
    assert_eq!(failed["kind"], "revoke-failed");
    let next = failed["details"]["next_attempt_at"]
        .as_str()
        .unwrap()
        .to_owned();
    w.jit(["sweep"]).run().code(6).stdout_is(&format!(
        "{id}: revocation incomplete: attempt 1 failed: target unreachable (fixture); \
         next attempt at {next}; `jit revoke {id}` retries now\n"
    ));
    let report = w.jit(["sweep", "--json"]).run().code(6).json();
    assert_eq!(
        report,
        json!({
            "revocations": [],
            "cancelled": [],
            "waiting": [{
                "id": id,
                "state": "revoke-failed",
                "attempts": 1,
                "next_attempt_at": next,
                "error": "target unreachable (fixture)",
            }],
            "incomplete": 1,
            "errors": [],
        })
    );
    assert_eq!(
        w.event_kinds(&id),
        ["requested", "granted", "revoke-failed"]
    );
    // `jit show` says when it is tried next, and `jit list` that the target still holds it.
    w.jit(["show", &id]).run().success().stdout_has(&format!(
        "retry      {next} (attempt 1 failed: target unreachable (fixture)); \
         `jit revoke {id}` retries now\n"
    ));
    let listed = w.jit(["list"]).run().success();
    let row = listed
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with(&id));
    let cells: Vec<&str> = row.unwrap().split_whitespace().collect();
    assert_eq!(cells[4..6], ["revoke-failed", "in"], "{cells:?}");
    // 30m, or 29m-something when a second has passed since the grant.
    assert!(
        cells[6] == "30m" || cells[6].starts_with("29m"),
        "{cells:?}"
    );

    // Due, but the target is still down: a second failure, exit 6, later retry.
    w.jit(["sweep"])
        .later(31)
        .run()
        .code(6)
        .stdout_has("revocation failed");
    assert_eq!(w.state_of(&id), "revoke-failed");

    w.fail_revokes(false);
    w.jit(["sweep"])
        .later(31 + 61)
        .run()
        .success()
        .stdout_has(&format!("{id}: revoked"));
    assert_eq!(w.state_of(&id), "revoked");
    assert!(w.grant_keys().is_empty());
    assert_eq!(
        w.event_kinds(&id),
        [
            "requested",
            "granted",
            "revoke-failed",
            "revoke-failed",
            "revoked"
        ]
    );
    w.jit(["audit", "verify"]).run().success();
}

#[test]
fn extend_moves_the_end_within_policy() {
    let w = World::new();
    let id = w.granted("web-root", &["--ttl", "10m"]);
    let before = w.lease(&id);

    let extended = w
        .jit(["extend", &id, "--ttl", "50m", "--json"])
        .run()
        .success()
        .json();
    assert_ne!(extended["expires_at"], before["expires_at"]);
    assert_eq!(
        w.grants()[format!("web-root/{}", me())]["expires_at"],
        extended["expires_at"]
    );
    assert_eq!(w.event_kinds(&id), ["requested", "granted", "extended"]);

    // Over the cap: denied, nothing moves.
    w.jit(["extend", &id, "--ttl", "2h"])
        .run()
        .code(3)
        .stderr_has("over the cap");
    assert_eq!(w.lease(&id)["expires_at"], extended["expires_at"]);
    // The refusal is recorded on the lease, with the cap that refused it.
    assert_eq!(
        w.event_kinds(&id),
        ["requested", "granted", "extended", "denied"]
    );
    assert_eq!(
        w.lease(&id)["events"][3]["details"]["rule"],
        "eligibility rule #1 max_ttl"
    );
}

#[test]
fn dry_run_shows_every_cap_and_changes_nothing() {
    let w = World::new();
    let plan = w
        .jit([
            "request",
            "--role",
            "db-admin",
            "--ticket",
            "CHG-1",
            "--dry-run",
            "--json",
        ])
        .run()
        .success()
        .json();
    assert_eq!(plan["decision"], "grant");
    assert_eq!(plan["ttl"], "30m");
    assert_eq!(plan["ttl_source"], "role default_ttl");
    assert_eq!(
        plan["caps"],
        json!([{ "source": "role db-admin max_ttl", "limit": "2h" }, { "source": "eligibility rule #1 max_ttl", "limit": "1h" }])
    );
    let human = w
        .jit(["request", "--role", "gated", "--dry-run"])
        .run()
        .success();
    assert!(
        human
            .stdout
            .contains("decision: needs 1 approval(s) from user:bin, user:sys"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("eligibility rule #1 max_ttl  1h"),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("nothing was changed"));
    assert!(w.leases().is_empty());
    assert_eq!(w.event_count(), 0);
    assert!(w.grant_keys().is_empty());
}

#[test]
fn credentials_are_printed_once_and_never_stored() {
    let w = World::new();
    let lease = w
        .jit(["request", "--role", "tokens", "--json"])
        .run()
        .success()
        .json();
    let token = lease["credentials"]["TOKEN"].as_str().unwrap().to_owned();
    assert!(token.starts_with("tok-"));
    let id = lease["id"].as_str().unwrap();

    // Not in list, show, the audit trail, an export, or anywhere in the store's files.
    assert!(w.lease(id).get("credentials").is_none());
    let export = w
        .jit(["audit", "export", "--format", "jsonl"])
        .run()
        .success();
    assert!(!export.stdout.contains(&token));
    for entry in std::fs::read_dir(w.state_dir()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes
                .windows(token.len())
                .any(|win| win == token.as_bytes()),
            "token found in the store"
        );
    }
    let human = w.jit(["request", "--role", "tokens"]).run().success();
    assert!(
        human
            .stdout
            .contains("credentials (shown once, not stored):\nTOKEN=tok-"),
        "{}",
        human.stdout
    );
}

#[test]
fn a_failed_grant_holds_nothing() {
    let w = World::new();
    w.fail_grants(true);
    w.jit(["request", "--role", "web-root"])
        .run()
        .code(1)
        .stderr_has(
            "granting role \"web-root\" on target \"files\" failed: grant refused by the fixture",
        );
    let leases = w.leases();
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0]["state"], "failed");
    assert!(w.grant_keys().is_empty());
    assert_eq!(
        w.event_kinds(leases[0]["id"].as_str().unwrap()),
        ["requested", "grant-failed"]
    );
}

#[test]
fn store_and_state_directory_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    w.granted("web-root", &[]);
    let dir_mode = std::fs::metadata(w.state_dir())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    for entry in std::fs::read_dir(w.state_dir()).unwrap() {
        let path = entry.unwrap().path();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
    }
}

#[test]
fn roles_lists_what_the_caller_may_request() {
    let w = World::new();
    let roles = w.jit(["roles", "--json"]).run().success().json();
    let names: Vec<&str> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["db-admin", "gated", "tokens", "two-keys", "web-root"]
    );
    let db = &roles[0];
    assert_eq!(db["max_ttl"], "1h", "the eligibility cap applies");
    assert_eq!(db["ticket_required"], true);
    assert_eq!(db["ticket_pattern"], "^CHG-[0-9]+$");
    // Someone no rule names sees nothing.
    w.jit(["roles", "--json"])
        .by(APPROVER)
        .run()
        .success()
        .stdout_is("[]\n");
}

#[test]
fn sweep_watch_wakes_for_the_next_expiry() {
    use std::time::{Duration, Instant};
    let w = World::new();
    let mut watcher = w.jit(["sweep", "--watch"]).spawn();
    let id = w.granted("web-root", &["--ttl", "2s"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while w.state_of(&id) != "expired" {
        assert!(
            Instant::now() < deadline,
            "the watcher did not end the lease: {}",
            w.lease(&id)
        );
        assert!(watcher.try_wait().unwrap().is_none(), "the watcher died");
        std::thread::sleep(Duration::from_millis(100));
    }
    watcher.kill().unwrap();
    let output = watcher.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains(&format!("{id}: expired")));
    assert!(w.grant_keys().is_empty());
}

#[test]
fn eligibility_by_os_group() {
    let w = World::new();
    let config = w.default_config()
        + &format!(
            "\n[[eligibility]]\nsubjects = [\"group:{APPROVER}\"]\nroles = [\"web-root\"]\nmax_ttl = \"10m\"\n"
        );
    w.write_config(&config);
    // `bin` is eligible through its OS group `bin`, with that rule's cap.
    w.jit(["request", "--role", "web-root", "--ttl", "11m"])
        .by(APPROVER)
        .run()
        .code(3)
        .stderr_has("eligibility rule #2 max_ttl is 10m");
    let lease = w
        .jit(["request", "--role", "web-root", "--json"])
        .by(APPROVER)
        .run()
        .success()
        .json();
    assert_eq!(lease["subject"], APPROVER);
    assert_eq!(w.grant_keys(), vec![format!("web-root/{APPROVER}")]);
    // ...and only for the roles that rule names.
    w.jit(["request", "--role", "tokens"])
        .by(APPROVER)
        .run()
        .code(3)
        .stderr_has("is not eligible");
}

#[test]
fn sudo_user_counts_only_for_the_service_account() {
    let w = World::new();
    let config = w.default_config().replace(
        &format!("service_account = \"{}\"", me()),
        "service_account = \"jit-nobody-here\"",
    );
    w.write_config(&config);
    let lease = w
        .jit(["request", "--role", "web-root", "--json"])
        .by(REQUESTER)
        .run()
        .success()
        .json();
    assert_eq!(lease["requester"], me().as_str(), "SUDO_USER was ignored");
}

/// A second command target and its role, to append to the default configuration (and take
/// away again, stranding the leases of that role).
fn spare_target(w: &World) -> String {
    format!(
        "\n[targets.spare]\nbackend = \"command\"\nprogram = \"{}\"\nargs = [\"{}\"]\n\n[roles.spare-role]\ntarget = \"spare\"\nmax_ttl = \"1h\"\n",
        fixture().display(),
        w.path("spare.json").display()
    )
}

#[test]
fn one_unhandled_lease_does_not_stop_the_sweep() {
    let w = World::new();
    let spare = spare_target(&w);
    w.write_config(&(w.default_config() + &spare));
    let stranded = w.granted("spare-role", &["--ttl", "5m"]);
    let ordinary = w.granted("web-root", &["--ttl", "5m"]);
    w.write_config(&w.default_config());

    let gone = "target \"spare\" is no longer in the configuration";
    w.jit(["sweep"])
        .later(600)
        .run()
        .code(6)
        .stdout_has(&format!("{ordinary}: expired"))
        .stdout_has(&format!(
            "{stranded}: revocation failed: {gone} (retried later)"
        ));
    assert_eq!(w.state_of(&ordinary), "expired");
    // A failed attempt like any other: the reason recorded, retried with backoff.
    let lease = w.lease(&stranded);
    assert_eq!(lease["state"], "revoke-failed");
    let failed = &lease["events"][2];
    assert_eq!(failed["kind"], "revoke-failed");
    assert_eq!(failed["details"]["error"], gone);
    assert_eq!(failed["details"]["attempt"], 1);
    assert_eq!(failed["details"]["retryable"], false);
    // Within the backoff, a sweep does not try again (no new event), but says it waits.
    w.jit(["sweep"])
        .later(610)
        .run()
        .code(6)
        .stdout_has(&format!(
            "{stranded}: revocation incomplete: attempt 1 failed: {gone}"
        ));
    assert_eq!(w.event_kinds(&stranded).len(), 3);

    // The target is back in the configuration: the next due sweep revokes it.
    w.write_config(&(w.default_config() + &spare));
    w.jit(["sweep"])
        .later(600 + 31)
        .run()
        .success()
        .stdout_has(&format!("{stranded}: expired"));
    assert_eq!(
        w.event_kinds(&stranded),
        ["requested", "granted", "revoke-failed", "expired"]
    );
}

#[test]
fn sweep_watch_backs_off_a_lease_whose_target_left_the_configuration() {
    use std::time::{Duration, Instant};
    let w = World::new();
    let spare = spare_target(&w);
    w.write_config(&(w.default_config() + &spare));
    let stranded = w.granted("spare-role", &["--ttl", "2s"]);
    w.write_config(&w.default_config());

    let mut watcher = w.jit(["sweep", "--watch"]).spawn();
    let deadline = Instant::now() + Duration::from_secs(30);
    while w.state_of(&stranded) != "revoke-failed" {
        assert!(Instant::now() < deadline, "{}", w.lease(&stranded));
        assert!(watcher.try_wait().unwrap().is_none(), "the watcher died");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The first retry is 30 s away: for the next 3 s the watcher must not try again (it
    // used to, about 5 times a second, each time printing the same error).
    std::thread::sleep(Duration::from_secs(3));
    watcher.kill().unwrap();
    let output = watcher.wait_with_output().unwrap();
    let printed = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    let mentions = printed.matches("is no longer in the configuration").count();
    assert_eq!(mentions, 1, "{printed}");
    assert_eq!(
        w.event_kinds(&stranded),
        ["requested", "granted", "revoke-failed"]
    );
}

#[test]
fn a_program_that_hangs_is_stopped_at_its_timeout() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let program = w.path("hang");
    // It answers nothing, and leaves a child holding its output open.
    std::fs::write(&program, "#!/bin/sh\nsleep 30 &\nsleep 30\n").unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = format!(
        "[targets.slow]\nbackend = \"command\"\nprogram = \"{}\"\ntimeout = \"1s\"\n\n[roles.slow]\ntarget = \"slow\"\nmax_ttl = \"1h\"\n\n[[eligibility]]\nsubjects = [\"user:{}\"]\nroles = [\"*\"]\n",
        program.display(),
        me()
    );
    w.write_config(&config);
    let started = std::time::Instant::now();
    w.jit(["request", "--role", "slow"])
        .run()
        .code(1)
        .stderr_has("did not answer within 1s");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    // The cleanup could not confirm anything either: the lease waits for the sweeper, and
    // `jit show` says when it tries again.
    let lease = &w.leases()[0];
    assert_eq!(lease["state"], "revoke-failed");
    let id = lease["id"].as_str().unwrap();
    let shown = w.jit(["show", id]).run().success();
    let retry = shown
        .stdout
        .lines()
        .find(|l| l.starts_with("retry "))
        .unwrap();
    let cells: Vec<&str> = retry.split_whitespace().collect();
    assert!(cells[1].ends_with('Z'), "{retry}");
    assert_eq!(cells[2..5], ["(attempt", "1", "failed:"], "{retry}");
    assert!(
        retry.ends_with(&format!("; `jit revoke {id}` retries now")),
        "{retry}"
    );
}

#[test]
fn relative_paths_are_relative_to_the_configuration_file() {
    let w = World::new();
    std::os::unix::fs::symlink(fixture(), w.path("backend")).unwrap();
    let config = w.default_config().replace(
        &format!("program = \"{}\"", fixture().display()),
        "program = \"backend\"",
    );
    w.write_config(&config);
    let lease = w
        .jit([
            "--config",
            "config.toml",
            "request",
            "--role",
            "web-root",
            "--json",
        ])
        .in_dir(w.dir.path())
        .run()
        .success()
        .json();
    assert_eq!(lease["state"], "active");
    assert_eq!(w.grant_keys(), vec![format!("web-root/{}", me())]);
}

#[test]
fn list_json_shows_each_lease_as_show_does() {
    let w = World::new();
    w.granted("web-root", &["--reason", "quotes \" and ünïcode"]);
    let pending = w
        .jit(["request", "--role", "two-keys", "--json"])
        .by(REQUESTER)
        .run()
        .code(4)
        .json();
    let id = pending["id"].as_str().unwrap();
    w.jit(["approve", id, "--reason", "first"])
        .by(APPROVER)
        .run()
        .success();
    let listed = w.jit(["list", "--json"]).run().success().json();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    for lease in listed {
        let mut shown = w.lease(lease["id"].as_str().unwrap());
        shown.as_object_mut().unwrap().remove("events");
        assert_eq!(lease, &shown);
    }
    let approved = listed.iter().find(|l| l["id"] == id).unwrap();
    assert_eq!(approved["approvals"][0]["reason"], "first");
}

#[test]
fn a_store_from_schema_1_is_migrated() {
    let w = World::new();
    let id = w.granted("web-root", &[]);
    let expected = w.jit(["list", "--json"]).run().success().json();
    open_store(&w)
        .execute_batch(
            "DROP INDEX leases_live; ALTER TABLE leases DROP COLUMN document; \
             ALTER TABLE leases DROP COLUMN break_glass; \
             DROP TABLE audit_shipping; DROP TABLE store_identity; DROP INDEX audit_by_kind; \
             ALTER TABLE leases DROP COLUMN agent; ALTER TABLE leases DROP COLUMN agent_session; \
             PRAGMA user_version = 1;",
        )
        .unwrap();
    assert_eq!(w.jit(["list", "--json"]).run().success().json(), expected);
    let version: i64 = open_store(&w)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 9);
    let checkpoints: i64 = open_store(&w)
        .query_row("SELECT COUNT(*) FROM audit_shipping", [], |r| r.get(0))
        .unwrap();
    assert_eq!(checkpoints, 0, "the shipping checkpoints' table is added");
    w.jit(["revoke", &id]).run().success();
    w.jit(["audit", "verify"]).run().success();
}

#[test]
fn a_store_from_schema_4_is_migrated() {
    let w = World::new();
    let id = w.granted("web-root", &[]);
    let expected = w.jit(["list", "--json"]).run().success().json();
    assert_eq!(expected[0]["break_glass"], false);
    // A schema 4 store: no break_glass column, documents without the field, and shipping
    // checkpoints without their hash.
    open_store(&w)
        .execute_batch(
            "ALTER TABLE leases DROP COLUMN break_glass; \
             ALTER TABLE audit_shipping DROP COLUMN hash; \
             UPDATE leases SET document = json_remove(document, '$.break_glass'); \
             DROP TABLE store_identity; DROP INDEX audit_by_kind; \
             ALTER TABLE leases DROP COLUMN agent; ALTER TABLE leases DROP COLUMN agent_session; \
             PRAGMA user_version = 4;",
        )
        .unwrap();
    assert_eq!(w.jit(["list", "--json"]).run().success().json(), expected);
    let version: i64 = open_store(&w)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 9);
    let name: String = open_store(&w)
        .query_row("SELECT name FROM store_identity", [], |r| r.get(0))
        .unwrap();
    assert_eq!(name.len(), 16, "the store is given a name: {name:?}");
    w.jit(["revoke", &id]).run().success();
    assert_eq!(w.lease(&id)["break_glass"], false);
    w.jit(["audit", "verify"]).run().success();
}

#[test]
fn show_of_an_ended_or_failed_lease_says_so() {
    let w = World::new();
    let id = w.granted("web-root", &["--ttl", "30m"]);
    w.jit(["revoke", &id]).run().success();
    let shown = w.jit(["show", &id]).run().success().stdout;
    let expires = shown
        .lines()
        .find(|l| l.starts_with("expires "))
        .unwrap()
        .to_owned();
    assert_eq!(
        expires,
        format!(
            "expires    {}",
            w.lease(&id)["expires_at"].as_str().unwrap()
        ),
        "an ended lease has no time left: {shown}"
    );
    assert!(shown.contains("\nended      20"), "{shown}");

    w.fail_grants(true);
    w.jit(["request", "--role", "web-root"]).run().code(1);
    let failed = w
        .leases()
        .into_iter()
        .find(|l| l["state"] == "failed")
        .unwrap();
    let shown = w
        .jit(["show", failed["id"].as_str().unwrap()])
        .run()
        .success()
        .stdout;
    assert!(
        shown.contains("\ngranted    never: the grant failed\n"),
        "{shown}"
    );
    assert!(!shown.contains(" left)"), "{shown}");
}

#[test]
fn stored_text_is_shown_with_format_characters_escaped() {
    let w = World::new();
    let id = w.granted("web-root", &["--reason", "rotate keys"]);
    // A reason stored before such reasons were refused, and a target's error.
    open_store(&w)
        .execute(
            "UPDATE leases SET reason = ?1, last_error = ?2 WHERE id = ?3",
            rusqlite::params!["fix \u{202e}exe.txt", "no\u{1b}[2J\u{200b}pe", id],
        )
        .unwrap();
    let shown = w.jit(["show", &id]).run().success().stdout;
    assert!(
        shown.contains("\nreason     fix \\u{202e}exe.txt\n"),
        "{shown}"
    );
    assert!(
        shown.contains("\nerror      no\\u{1b}[2J\\u{200b}pe\n"),
        "{shown}"
    );
    assert!(!shown.contains('\u{202e}') && !shown.contains('\u{1b}'));
}

#[test]
fn a_grant_whose_secret_cannot_be_had_fails_and_holds_nothing() {
    let w = World::new();
    let config = w.default_config().replace(
        "[roles.db-admin]",
        "env = { K_TOKEN = \"env:JIT_TEST_NEVER_SET\" }\n\n[roles.db-admin]",
    );
    w.write_config(&config);
    w.jit(["request", "--role", "web-root"])
        .run()
        .code(1)
        .stderr_has(
            "granting role \"web-root\" on target \"files\" failed: secret env:JIT_TEST_NEVER_SET: the environment variable is not set\n",
        );
    let leases = w.leases();
    assert_eq!(leases.len(), 1);
    assert_eq!(
        leases[0]["state"], "failed",
        "nothing was asked of the target, so nothing is left to revoke"
    );
    assert_eq!(
        w.event_kinds(leases[0]["id"].as_str().unwrap()),
        ["requested", "grant-failed"]
    );
    assert!(w.grant_keys().is_empty());
}

#[test]
fn a_targets_words_are_shown_with_format_characters_escaped() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let program = w.path("liar");
    // It refuses every call, in words that would read backwards and clear the screen.
    std::fs::write(
        &program,
        "#!/bin/sh\ncat >/dev/null\nprintf '{\"v\": 1, \"ok\": false, \"retryable\": false, \"error\": \"denied \\342\\200\\256txt.exe \\\\u001b[2J\"}'\n",
    )
    .unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    w.write_config(&format!(
        "[targets.liar]\nbackend = \"command\"\nprogram = \"{}\"\n\n[roles.liar]\ntarget = \"liar\"\nmax_ttl = \"1h\"\n\n[[eligibility]]\nsubjects = [\"user:{}\"]\nroles = [\"*\"]\n",
        program.display(),
        me()
    ));
    let run = w.jit(["request", "--role", "liar"]).run().code(1);
    assert!(
        run.stderr
            .contains("failed: denied \\u{202e}txt.exe \\u{1b}[2J"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains('\u{202e}') && !run.stderr.contains('\u{1b}'));
    let id = w.leases()[0]["id"].as_str().unwrap().to_owned();
    let shown = w.jit(["show", &id]).run().success().stdout;
    assert!(
        !shown.contains('\u{202e}') && !shown.contains('\u{1b}'),
        "{shown}"
    );
    assert!(shown.contains("\\u{202e}txt.exe"), "{shown}");
}
