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
