//! Bad input gets one clear message, the documented exit code, and changes nothing.

use crate::harness::*;

/// The store's leases and audit events, and the target's grants: what must not change.
fn snapshot(w: &World) -> (Vec<serde_json::Value>, usize, serde_json::Value) {
    (w.leases(), w.event_count(), w.grants())
}

#[track_caller]
fn refused(w: &World, args: &[&str], code: i32, message: &str) {
    let before = snapshot(w);
    let run = w.jit(args).run().code(code).stderr_has(message);
    assert_eq!(run.stdout, "", "nothing on stdout for a refusal");
    assert_eq!(
        run.stderr.lines().count(),
        1,
        "one clear message: {}",
        run.stderr
    );
    assert_eq!(snapshot(w), before, "{args:?} changed something");
}

/// A refusal by policy: one clear message and exit 3, no lease and nothing on the target, and
/// the refusal itself recorded: one `denied` event of no lease, naming `rule`.
#[track_caller]
fn denied(w: &World, jit: Jit, message: &str, rule: &str) {
    let (leases, events, grants) = snapshot(w);
    let run = jit.run().code(3).stderr_has(message);
    assert_eq!(run.stdout, "", "nothing on stdout for a refusal");
    assert_eq!(
        run.stderr.lines().count(),
        1,
        "one clear message: {}",
        run.stderr
    );
    assert_eq!((w.leases(), w.grants()), (leases, grants), "{rule}");
    let trail = w.jit(["audit", "--json"]).run().success().json();
    let trail = trail.as_array().unwrap();
    assert_eq!(trail.len(), events + 1, "{rule}");
    let last = trail.last().unwrap();
    assert_eq!(last["kind"], "denied");
    assert_eq!(last["lease_id"], serde_json::Value::Null);
    assert_eq!(last["details"]["rule"], rule);
}

#[test]
fn bad_durations_are_usage_errors() {
    let w = World::new();
    let live = w.granted("web-root", &[]);
    for ttl in ["0", "-5m", "abc", "99999h", "10ms"] {
        refused(
            &w,
            &["request", "--role", "web-root", "--ttl", ttl],
            2,
            "--ttl",
        );
        refused(&w, &["extend", &live, "--ttl", ttl], 2, "--ttl");
    }
    refused(
        &w,
        &["request", "--role", "web-root", "--ttl", "99999h"],
        2,
        "longer than 366 days",
    );
    refused(
        &w,
        &["request", "--role", "web-root", "--ttl", "-5m"],
        2,
        "negative",
    );
}

#[test]
fn policy_refusals_exit_3() {
    let w = World::new();
    denied(
        &w,
        w.jit(["request", "--role", "web-root", "--ttl", "2h"]),
        "requested ttl 2h is over the cap: eligibility rule #1 max_ttl is 1h",
        "eligibility rule #1 max_ttl",
    );
    denied(
        &w,
        w.jit(["request", "--role", "db-admin"]),
        "this role requires --ticket matching ^CHG-[0-9]+$",
        "roles.db-admin.ticket.required",
    );
    denied(
        &w,
        w.jit(["request", "--role", "db-admin", "--ticket", "INC-7"]),
        "does not match the role's pattern",
        "roles.db-admin.ticket.pattern",
    );
    for ticket in [
        "CHG-1'",
        "CHG-1\"",
        "CHG-1;DROP",
        "CHG-1\nCHG-2",
        "CHG-1é",
        "CHG 1",
        "",
    ] {
        denied(
            &w,
            w.jit(["request", "--role", "db-admin", "--ticket", ticket]),
            "is not valid: a ticket is 1 to 64 letters",
            "ticket syntax",
        );
    }
    denied(
        &w,
        w.jit(["request", "--role", "web-root"]).by(APPROVER),
        "bin is not eligible for role \"web-root\"",
        "eligibility",
    );
}

#[test]
fn unknown_or_malformed_roles_and_ids_exit_2() {
    let w = World::new();
    refused(
        &w,
        &["request", "--role", "nope"],
        2,
        "unknown role \"nope\"",
    );
    for role in ["db-admin'", "db;admin", "db\nadmin", "rôle", "a b", ""] {
        refused(&w, &["request", "--role", role], 2, "is not a role name");
    }
    for id in ["aaaaaaaaaa", "x'; DROP TABLE leases; --", "ÄÖ"] {
        refused(&w, &["show", id], 2, "no lease");
        refused(&w, &["revoke", id], 2, "no lease");
        refused(&w, &["extend", id, "--ttl", "5m"], 2, "no lease");
        refused(&w, &["approve", id], 2, "no lease");
    }
    // One bad id among good ones: nothing is revoked.
    let good = w.granted("web-root", &[]);
    refused(
        &w,
        &["revoke", &good, "zzzzzzzzzz"],
        2,
        "no lease \"zzzzzzzzzz\"",
    );
    assert_eq!(w.state_of(&good), "active");
    refused(
        &w,
        &["list", "--state", "approved"],
        2,
        "is not a lease state",
    );
    refused(
        &w,
        &["request", "--role", "web-root", "--reason", "two\nlines"],
        2,
        "control characters",
    );
    refused(
        &w,
        &["request", "--role", "web-root", "--bogus"],
        2,
        "unexpected argument '--bogus'",
    );
    refused(
        &w,
        &["request", "--role", "web-root", "--pubkey", "/etc/hostname"],
        2,
        "--pubkey applies to ssh roles",
    );
}

#[test]
fn a_corrupt_store_is_refused_and_left_alone() {
    let w = World::new();
    std::fs::create_dir_all(w.state_dir()).unwrap();
    let garbage = b"this is not a database, it is a grocery list\n".repeat(100);
    std::fs::write(w.store_path(), &garbage).unwrap();
    for args in [&["list"][..], &["request", "--role", "web-root"]] {
        w.jit(args)
            .run()
            .code(1)
            .stderr_has("is not usable: file is not a database");
    }
    assert_eq!(std::fs::read(w.store_path()).unwrap(), garbage);
    assert!(w.grant_keys().is_empty());
}

#[test]
fn a_store_that_cannot_be_created_is_refused() {
    let w = World::new();
    std::fs::write(w.path("file"), "").unwrap();
    w.jit(["request", "--role", "web-root"])
        .env("JIT_STATE_DIR", w.path("file").join("state"))
        .run()
        .code(1)
        .stderr_has("creating the state directory");
    assert!(w.grant_keys().is_empty());
}

#[test]
fn a_read_only_store_is_refused_and_left_alone() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    w.granted("web-root", &[]);
    let before = std::fs::read(w.store_path()).unwrap();
    let grants = w.grants();
    // Root ignores file modes, so check from an unprivileged user where we are root.
    let run = if me() == "root" {
        for path in [w.dir.path().to_path_buf(), w.state_dir()] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(w.store_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(w.config_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut config = w.default_config();
        config = config.replace("service_account = \"root\"", "service_account = \"nobody\"");
        config.push_str("\n[[eligibility]]\nsubjects = [\"user:nobody\"]\nroles = [\"*\"]\n");
        w.write_config(&config);
        let output = std::process::Command::new("setpriv")
            .args([
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                JIT,
                "request",
                "--role",
                "web-root",
            ])
            .env("JIT_CONFIG", w.config_path())
            .env("JIT_STATE_DIR", w.state_dir())
            .env("HOME", w.dir.path())
            .output()
            .unwrap();
        Run::from(output)
    } else {
        std::fs::set_permissions(w.store_path(), std::fs::Permissions::from_mode(0o400)).unwrap();
        w.jit(["request", "--role", "web-root"]).run()
    };
    let run = run.code(1);
    assert_eq!(
        run.stderr,
        format!(
            "jit: error: the store {} is read-only for this user: jit cannot record anything (make it writable by the user jit runs as, mode 0600)\n",
            w.store_path().display()
        )
    );
    assert_eq!(std::fs::read(w.store_path()).unwrap(), before);
    assert_eq!(w.grants(), grants);
}

#[test]
fn acting_for_another_user_refuses_what_they_could_abuse() {
    let w = World::new();
    let config = w.config_path();
    // Through sudo, the requester names no configuration, and no file jit writes or reads.
    w.jit(["--config", config.to_str().unwrap(), "list"])
        .by(REQUESTER)
        .run()
        .code(2)
        .stderr_has("--config is refused under sudo");
    let id = {
        let lease = w
            .jit(["request", "--role", "web-root", "--json"])
            .by(REQUESTER)
            .run()
            .success()
            .json();
        lease["id"].as_str().unwrap().to_owned()
    };
    let target = w.path("trail.jsonl");
    w.jit(["revoke", &id, "--export", target.to_str().unwrap()])
        .by(REQUESTER)
        .run()
        .code(2)
        .stderr_has("--export is refused under sudo delegation");
    assert_eq!(
        w.state_of(&id),
        "active",
        "a refused command changes nothing"
    );
    w.jit([
        "audit",
        "export",
        "--format",
        "jsonl",
        "--output",
        target.to_str().unwrap(),
    ])
    .by(REQUESTER)
    .run()
    .code(2);
    assert!(!target.exists());
    w.jit(["request", "--role", "web-root", "--pubkey", "/etc/hostname"])
        .by(REQUESTER)
        .run()
        .code(2);
}

#[test]
fn exec_for_another_user_runs_the_command_as_them() {
    let w = World::new();
    let run = w
        .jit(["exec", "--role", "web-root", "--", "id", "-un"])
        .by(REQUESTER)
        .run();
    if me() == "root" {
        run.success().stdout_is(&format!("{REQUESTER}\n"));
    } else {
        run.code(2).stderr_has("needs jit to run as root");
    }
}

#[test]
fn missing_required_arguments_are_named() {
    let w = World::new();
    let named = |what: &str| {
        format!(
            "jit: error: the following required arguments were not provided: {what} (see `jit --help`)\n"
        )
    };
    for (args, what) in [
        (&["request"][..], "--role <ROLE>"),
        (&["show"][..], "<ID>"),
        (&["deny", "aaaaaaaaaa"][..], "--reason <TEXT>"),
    ] {
        let before = snapshot(&w);
        let run = w.jit(args).run().code(2);
        assert_eq!(run.stderr, named(what), "{args:?}");
        assert_eq!(run.stdout, "");
        assert_eq!(snapshot(&w), before);
    }
}

#[test]
fn long_input_is_echoed_cut_short() {
    let w = World::new();
    let long = "r".repeat(10_000);
    let cut = format!("\"{}\"... (10000 characters)", "r".repeat(64));
    for (args, code, message) in [
        (
            vec!["request", "--role", long.as_str()],
            2,
            format!("jit: error: {cut} is not a role name\n"),
        ),
        (
            vec!["request", "--role", "web-root", "--ticket", long.as_str()],
            3,
            format!(
                "jit: error: ticket {cut} is not valid: a ticket is 1 to 64 letters, digits and . _ : / # -\n"
            ),
        ),
        (
            vec!["show", long.as_str()],
            2,
            format!("jit: error: no lease {cut}\n"),
        ),
        (
            vec!["list", "--state", long.as_str()],
            2,
            format!("{cut} is not a lease state"),
        ),
        (
            vec!["request", "--role", "web-root", "--ttl", long.as_str()],
            2,
            format!("{cut} is not a duration"),
        ),
        (
            vec![long.as_str()],
            2,
            format!(
                "jit: error: unrecognized subcommand '{}'... (10000 characters) (see `jit --help`)\n",
                "r".repeat(64)
            ),
        ),
        (
            vec!["list", long.as_str()],
            2,
            format!(
                "jit: error: unexpected argument '{}'... (10000 characters) found (see `jit --help`)\n",
                "r".repeat(64)
            ),
        ),
    ] {
        if code == 3 {
            denied(&w, w.jit(&args), &message, "ticket syntax");
        } else {
            refused(&w, &args, code, &message);
        }
        let run = w.jit(&args).run();
        assert!(
            run.stderr.len() < 400,
            "{args:?} echoes too much: {}",
            run.stderr
        );
    }
}

#[test]
fn unicode_format_characters_are_refused_naming_the_code_point() {
    let w = World::new();
    let pending = w
        .jit(["request", "--role", "gated", "--json"])
        .run()
        .code(4)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let format_char = |what: &str, point: &str| {
        format!(
            "jit: error: {what} holds {point}, a Unicode format character (such as a right-to-left override or a zero-width space) that makes text read differently from what it is; remove it\n"
        )
    };
    for (text, point) in [
        ("fix \u{202e}txt.exe", "U+202E"),
        ("a\u{200b}b", "U+200B"),
        ("\u{2066}isolate", "U+2066"),
        ("bom\u{feff}", "U+FEFF"),
        ("mark\u{200f}", "U+200F"),
    ] {
        let message = format_char("the reason", point);
        refused(
            &w,
            &["request", "--role", "web-root", "--reason", text],
            2,
            &message,
        );
        let before = snapshot(&w);
        w.jit(["deny", &pending, "--reason", text])
            .by(APPROVER)
            .run()
            .code(2)
            .stderr_has(&message);
        w.jit(["approve", &pending, "--reason", text])
            .by(APPROVER)
            .run()
            .code(2)
            .stderr_has(&message);
        assert_eq!(snapshot(&w), before);
    }
    refused(
        &w,
        &["request", "--role", "db-admin", "--ticket", "CHG-1\u{202e}"],
        2,
        &format_char("the ticket", "U+202E"),
    );
    refused(
        &w,
        &["request", "--role", "web-root\u{200b}"],
        2,
        &format_char("the role name", "U+200B"),
    );
    assert_eq!(w.state_of(&pending), "pending");
    // What clap repeats is escaped too.
    refused(
        &w,
        &["list", "--bogus\u{202e}txt"],
        2,
        "jit: error: unexpected argument '--bogus\\u{202e}txt' found (see `jit --help`)\n",
    );
}
