//! Editing, deleting or swapping audit rows in the SQLite file breaks `audit verify`, which
//! names the first bad record.

use crate::harness::*;

fn world_with_history() -> World {
    let w = World::new();
    let a = w.granted("web-root", &[]);
    w.granted("tokens", &[]);
    w.jit(["revoke", &a]).run().success();
    // requested, granted, requested, granted, revoked
    w.jit(["audit", "verify"])
        .run()
        .success()
        .stdout_has("5 records");
    w
}

fn broken(w: &World, sql: &str, expected: &str) {
    open_store(w).execute_batch(sql).unwrap();
    w.jit(["audit", "verify"])
        .run()
        .code(1)
        .stderr_has(expected);
    let json = w.jit(["audit", "verify", "--json"]).run().code(1).json();
    assert_eq!(json["ok"], false);
    assert!(json["error"].as_str().unwrap().contains(expected));
}

#[test]
fn an_edited_record_is_named() {
    let w = world_with_history();
    broken(
        &w,
        "UPDATE audit SET actor = 'mallory' WHERE seq = 3",
        "record 3 does not match its hash (edited or moved)",
    );
}

#[test]
fn edited_details_are_named() {
    let w = world_with_history();
    broken(
        &w,
        "UPDATE audit SET details = replace(details, '\"ttl\":\"1h\"', '\"ttl\":\"9h\"') WHERE seq = 1",
        "record 1 does not match its hash",
    );
}

#[test]
fn a_deleted_record_is_named() {
    let w = world_with_history();
    broken(
        &w,
        "DELETE FROM audit WHERE seq = 2",
        "record 2 is missing (deleted); the next record is 3",
    );
}

#[test]
fn a_deleted_last_record_is_named() {
    let w = world_with_history();
    broken(
        &w,
        "DELETE FROM audit WHERE seq = 5",
        "record 5 is missing (deleted): the chain ends at 4 but its head is 5",
    );
}

#[test]
fn swapped_records_are_named() {
    let w = world_with_history();
    broken(
        &w,
        "UPDATE audit SET seq = -seq WHERE seq IN (2, 3);
         UPDATE audit SET seq = 3 WHERE seq = -2;
         UPDATE audit SET seq = 2 WHERE seq = -3;",
        "record 2 does not match its hash (edited or moved)",
    );
}

#[test]
fn a_renumbered_chain_after_a_deletion_is_named() {
    let w = world_with_history();
    broken(
        &w,
        "DELETE FROM audit WHERE seq = 2;
         UPDATE audit SET seq = seq - 1 WHERE seq > 2;
         UPDATE audit_head SET seq = 4;",
        "record 2 does not match its hash",
    );
}

#[test]
fn exports_carry_the_chain() {
    let w = world_with_history();
    let jsonl = w
        .jit(["audit", "export", "--format", "jsonl"])
        .run()
        .success();
    let lines: Vec<serde_json::Value> = jsonl
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    for pair in lines.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
    }
    assert_eq!(lines[0]["prev_hash"], "0".repeat(64));

    let out = w.path("audit.csv");
    w.jit([
        "audit",
        "export",
        "--format",
        "csv",
        "--output",
        out.to_str().unwrap(),
    ])
    .run()
    .success();
    let csv = std::fs::read_to_string(&out).unwrap();
    let mut rows = csv.lines();
    assert_eq!(
        rows.next().unwrap(),
        "seq,at,actor,lease_id,kind,details,prev_hash,hash"
    );
    assert_eq!(rows.count(), 5);
}

#[test]
fn revoke_exports_the_lease_trail() {
    let w = World::new();
    let id = w.granted("web-root", &[]);
    let file = w.path("trail.jsonl");
    w.jit(["revoke", &id, "--export", file.to_str().unwrap()])
        .run()
        .success()
        .stderr_has("audit trail written to");
    let kinds: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(kinds, ["requested", "granted", "revoked"]);
}
