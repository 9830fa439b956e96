//! Many `jit` processes at once on one embedded store.

use crate::harness::*;
use std::collections::BTreeSet;

#[test]
fn thirty_two_requests_at_once() {
    let w = World::new();
    let children: Vec<_> = (0..32)
        .map(|i| {
            w.jit([
                "request",
                "--role",
                "web-root",
                "--ttl",
                "20m",
                "--reason",
                &format!("worker {i}"),
                "-q",
            ])
            .spawn()
        })
        .collect();
    let mut ids = BTreeSet::new();
    for child in children {
        let run = Run::from(child.wait_with_output().unwrap()).success();
        ids.insert(run.stdout.trim().to_owned());
    }
    assert_eq!(ids.len(), 32, "32 distinct lease ids");

    let leases = w.leases();
    assert_eq!(leases.len(), 32);
    let stored: BTreeSet<String> = leases
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stored, ids);
    assert!(leases.iter().all(|l| l["state"] == "active"));
    let reasons: BTreeSet<String> = leases
        .iter()
        .map(|l| l["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(reasons.len(), 32, "no lost or duplicated record");

    w.jit(["audit", "verify"])
        .run()
        .success()
        .stdout_has("audit chain intact: 64 records");
    let events = w.jit(["audit", "--json"]).run().success().json();
    let seqs: Vec<i64> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=64).collect::<Vec<_>>());
}

#[test]
fn concurrent_sweepers_revoke_each_lease_once() {
    let w = World::new();
    for _ in 0..6 {
        w.granted("web-root", &["--ttl", "5m"]);
    }
    let sweepers: Vec<_> = (0..4)
        .map(|_| w.jit(["sweep"]).later(600).spawn())
        .collect();
    for sweeper in sweepers {
        Run::from(sweeper.wait_with_output().unwrap()).success();
    }
    assert!(w.leases().iter().all(|l| l["state"] == "expired"));
    assert!(w.grant_keys().is_empty());
    let events = w.jit(["audit", "--json"]).run().success().json();
    let expired = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "expired")
        .count();
    assert_eq!(expired, 6, "one expired event per lease");
    w.jit(["audit", "verify"]).run().success();
}

/// `n` requests of one shared entitlement at once, each with its own TTL, while an earlier
/// lease (the longest) is revoked and another is extended. The fixture waits a random time
/// before each change, so that the backend calls reach the target in any order.
fn racing_grants_leave_the_latest_end(n: usize) {
    let w = World::new();
    w.write_config(&w.default_config().replace(
        "\"--fail-revoke-if\"",
        "\"--jitter-ms\", \"200\", \"--fail-revoke-if\"",
    ));
    let longest = w.granted("web-root", &["--ttl", "58m"]);
    let short = w.granted("web-root", &["--ttl", "5m"]);
    let mut children = Vec::new();
    for i in 0..n {
        // Every TTL once, not in the order the requests start, and the longest last.
        let ttl = format!("{}m", 55 - (n - 1 - i) * 7 % n);
        children.push(
            w.jit(["request", "--role", "web-root", "--ttl", &ttl, "-q"])
                .spawn(),
        );
        if i == n / 3 {
            children.push(w.jit(["revoke", &longest]).spawn());
        }
        if i == n / 2 {
            children.push(w.jit(["extend", &short, "--ttl", "20m"]).spawn());
        }
    }
    for child in children {
        Run::from(child.wait_with_output().unwrap()).success();
    }

    let live = w.jit(["list", "--json"]).run().success().json();
    let live = live.as_array().unwrap();
    assert_eq!(live.len(), n + 1, "the new leases and the extended one");
    assert!(live.iter().all(|l| l["state"] == "active"));
    assert!(live.iter().all(|l| l["id"] != longest.as_str()));
    let latest = live.iter().map(|l| time(&l["expires_at"])).max().unwrap();
    let grants = w.grants();
    let key = format!("web-root/{}", me());
    assert_eq!(
        time(&grants[&key]["expires_at"]),
        latest,
        "the target's end is the latest live lease's: {grants}"
    );

    let events = w.jit(["audit", "--json"]).run().success().json();
    let granted: Vec<&serde_json::Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "granted")
        .collect();
    assert_eq!(granted.len(), n + 2);
    for event in granted {
        let details = &event["details"];
        assert!(
            time(&details["target_expires_at"]) >= time(&details["expires_at"]),
            "a grant cut its own lease short: {event}"
        );
    }
    w.jit(["audit", "verify"]).run().success();
}

fn time(value: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {value}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .to_utc()
}

#[test]
fn ten_racing_grants_a_revoke_and_an_extend_leave_the_latest_end() {
    racing_grants_leave_the_latest_end(10);
}

#[test]
fn forty_racing_grants_a_revoke_and_an_extend_leave_the_latest_end() {
    racing_grants_leave_the_latest_end(40);
}

/// The lock file of a shared entitlement, beside the store.
fn entitlement_lock(w: &World, role: &str, subject: &str) -> std::path::PathBuf {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(role)
        .chain_update([0])
        .chain_update(subject)
        .finalize();
    let name: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    w.state_dir().join(format!("jit.entitlement-{name}.lock"))
}

#[test]
fn an_entitlement_lock_is_a_0600_file_and_never_followed_through_a_link() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    w.granted("web-root", &["--ttl", "5m"]);
    let lock = entitlement_lock(&w, "web-root", &me());
    let mode = std::fs::symlink_metadata(&lock)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // A link in its place is refused: the grant fails, nothing is created where it points,
    // and the target is as it was.
    let before = w.grants();
    let elsewhere = w.path("elsewhere");
    let lock = entitlement_lock(&w, "tokens", &me());
    std::os::unix::fs::symlink(&elsewhere, &lock).unwrap();
    let run = w
        .jit(["request", "--role", "tokens", "--ttl", "5m"])
        .run()
        .code(1)
        .stderr_has("granting role \"tokens\" on target \"files\" failed: opening ");
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(!elsewhere.exists());
    assert_eq!(w.grants(), before);
    let failed: Vec<_> = w
        .leases()
        .into_iter()
        .filter(|l| l["role"] == "tokens")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["state"], "failed");
}

#[test]
fn the_sweeper_does_not_wait_for_a_grant_in_flight_on_the_same_entitlement() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let hold = w.path("hold");
    let waiting = w.path("waiting");
    // The target's program: a grant waits while `hold` exists (at most 60 s).
    let program = w.path("held-grant");
    std::fs::write(
        &program,
        format!(
            "#!/bin/sh\nreq=$(cat)\ncase \"$req\" in *'\"op\":\"grant\"'*)\n  if [ -e \"{hold}\" ]; then\n    : > \"{waiting}\"; n=0\n    while [ -e \"{hold}\" ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done\n  fi;;\nesac\nprintf '%s' \"$req\" | exec \"{fixture}\" \"$@\"\n",
            hold = hold.display(),
            waiting = waiting.display(),
            fixture = fixture().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = w.default_config().replace(
        &format!("program = \"{}\"", fixture().display()),
        &format!("program = \"{}\"", program.display()),
    );
    assert_ne!(config, w.default_config());
    w.write_config(&config);

    let expiring = w.granted("web-root", &["--ttl", "10m"]);
    std::fs::write(&hold, "").unwrap();
    let granting = w
        .jit(["request", "--role", "web-root", "--ttl", "1h"])
        .spawn();
    crate::crash::await_that("the second grant to reach the target", || waiting.exists());

    // The first lease is past its end, but the entitlement is being changed by a live
    // process: the sweep leaves it for a later pass instead of waiting for that process.
    let report = w
        .jit(["sweep", "--json"])
        .later(11 * 60)
        .run()
        .success()
        .json();
    assert_eq!(report["revocations"], serde_json::json!([]));
    assert_eq!(report["errors"], serde_json::json!([]));
    assert_eq!(w.state_of(&expiring), "active");

    std::fs::remove_file(&hold).unwrap();
    let granted = Run::from(granting.wait_with_output().unwrap()).success();
    assert!(granted.stdout.starts_with("granted "), "{}", granted.stdout);
    w.jit(["sweep"])
        .later(11 * 60)
        .run()
        .success()
        .stdout_has(&format!("{expiring}: expired"));
    // The second lease still holds the entitlement.
    assert_eq!(w.grant_keys(), vec![format!("web-root/{}", me())]);
}
