//! Editing, deleting, swapping or forging audit rows in the SQLite file breaks `audit verify`,
//! which names the first bad record; a checkpoint kept elsewhere names a past that was
//! rewritten consistently (every later hash computed again) or cut short.

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

/// `SHA-256(prev_hash ‖ canonical JSON)` as docs/architecture.md documents it, computed here
/// and not by jit.
pub fn record_hash(
    seq: i64,
    at: &str,
    actor: &str,
    lease_id: Option<&str>,
    kind: &str,
    details: &str,
    prev_hash: &str,
) -> String {
    use sha2::Digest;
    let js = |text: &str| serde_json::to_string(text).unwrap();
    let canonical = format!(
        "{{\"actor\":{},\"at\":{},\"details\":{details},\"kind\":{},\"lease_id\":{},\"seq\":{seq}}}",
        js(actor),
        js(at),
        js(kind),
        lease_id.map_or("null".to_owned(), js),
    );
    hex::encode(sha2::Sha256::digest(format!("{prev_hash}{canonical}")))
}

/// The hash of record `seq` as stored.
fn stored_hash(w: &World, seq: i64) -> String {
    open_store(w)
        .query_row("SELECT hash FROM audit WHERE seq = ?1", [seq], |r| r.get(0))
        .unwrap()
}

/// Compute every record's `prev_hash` and `hash` again, in order, and move the head to the
/// end: what a store owner does to make an edit or a cut pass plain `verify`.
fn rechain(w: &World) {
    let conn = open_store(w);
    type Row = (i64, String, String, Option<String>, String, String);
    let rows: Vec<Row> = conn
        .prepare("SELECT seq, at, actor, lease_id, kind, details FROM audit ORDER BY seq")
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut prev = "0".repeat(64);
    let mut last = 0;
    for (seq, at, actor, lease_id, kind, details) in rows {
        let hash = record_hash(
            seq,
            &at,
            &actor,
            lease_id.as_deref(),
            &kind,
            &details,
            &prev,
        );
        conn.execute(
            "UPDATE audit SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            rusqlite::params![prev, hash, seq],
        )
        .unwrap();
        prev = hash;
        last = seq;
    }
    conn.execute(
        "UPDATE audit_head SET seq = ?1, hash = ?2",
        rusqlite::params![last, prev],
    )
    .unwrap();
}

#[test]
fn a_record_forged_past_the_head_is_named() {
    let w = world_with_history();
    let prev = stored_hash(&w, 5);
    let at = "2026-01-01T00:00:00Z";
    let details = r#"{"reason":"routine"}"#;
    let hash = record_hash(6, at, "alice", None, "revoked", details, &prev);
    let forge = format!(
        "INSERT INTO audit (seq, at, actor, lease_id, kind, details, prev_hash, hash) \
         VALUES (6, '{at}', 'alice', NULL, 'revoked', '{details}', '{prev}', '{hash}')"
    );
    broken(
        &w,
        &forge,
        "record 6 is past the chain's head 5 (appended without moving the head: forged)",
    );
    // The forged record's hash is right: with the head moved too, it would pass.
    open_store(&w)
        .execute("UPDATE audit_head SET seq = 6, hash = ?1", [&hash])
        .unwrap();
    w.jit(["audit", "verify"])
        .run()
        .success()
        .stdout_has("audit chain intact: 6 records\n");
}

#[test]
fn a_deleted_head_row_is_named() {
    let w = world_with_history();
    broken(
        &w,
        "DELETE FROM audit_head",
        "record 1 is past the chain's head 0 (appended without moving the head: forged)",
    );
}

#[test]
fn verify_prints_a_checkpoint_that_a_later_chain_still_holds() {
    let w = world_with_history();
    let kept = format!("5:{}", stored_hash(&w, 5));
    w.jit(["audit", "verify"])
        .run()
        .success()
        .stdout_is(&format!(
            "audit chain intact: 5 records\ncheckpoint: {kept}\n"
        ));
    w.granted("web-root", &[]);
    let head = format!("7:{}", stored_hash(&w, 7));
    w.jit(["audit", "verify", "--checkpoint", &kept])
        .run()
        .success()
        .stdout_is(&format!(
            "audit chain intact: 7 records; it still holds checkpoint {kept}\ncheckpoint: {head}\n"
        ));
    let json = w
        .jit([
            "audit",
            "verify",
            "--checkpoint",
            &kept.to_uppercase(),
            "--json",
        ])
        .run()
        .success()
        .json();
    assert_eq!(json["ok"], true);
    assert_eq!(json["records"], 7);
    assert_eq!(json["checkpoint"], head.as_str());
    assert_eq!(json["kept_checkpoint"], kept.as_str());
}

#[test]
fn a_consistent_rewrite_is_named_by_a_kept_checkpoint() {
    let w = world_with_history();
    let first = format!("1:{}", stored_hash(&w, 1));
    let kept = format!("5:{}", stored_hash(&w, 5));
    open_store(&w)
        .execute("UPDATE audit SET actor = 'mallory' WHERE seq = 2", [])
        .unwrap();
    rechain(&w);
    let now = stored_hash(&w, 5);
    // Plain verify cannot see it: every hash follows from the records before it.
    w.jit(["audit", "verify"])
        .run()
        .success()
        .stdout_is(&format!(
            "audit chain intact: 5 records\ncheckpoint: 5:{now}\n"
        ));
    let expected = format!(
        "record 5 is not the checkpoint's: its hash is now {now} (the chain was rewritten at or before 5)"
    );
    w.jit(["audit", "verify", "--checkpoint", &kept])
        .run()
        .code(1)
        .stderr_has(&format!("jit: audit chain broken: {expected}"));
    let json = w
        .jit(["audit", "verify", "--checkpoint", &kept, "--json"])
        .run()
        .code(1)
        .json();
    assert_eq!(json["ok"], false);
    assert_eq!(json["error"], expected.as_str());
    // The record before the rewrite is still the checkpoint's.
    w.jit(["audit", "verify", "--checkpoint", &first])
        .run()
        .success();
}

#[test]
fn a_chain_cut_below_a_kept_checkpoint_is_named() {
    let w = world_with_history();
    let kept = format!("5:{}", stored_hash(&w, 5));
    open_store(&w)
        .execute_batch("DELETE FROM audit WHERE seq > 3")
        .unwrap();
    rechain(&w);
    w.jit(["audit", "verify"])
        .run()
        .success()
        .stdout_has("audit chain intact: 3 records\n");
    w.jit(["audit", "verify", "--checkpoint", &kept])
        .run()
        .code(1)
        .stderr_has(
            "jit: audit chain broken: record 5 of the checkpoint is missing: the chain ends at 3 (truncated)",
        );
}

#[test]
fn a_malformed_checkpoint_is_a_usage_error() {
    let w = world_with_history();
    let chain = |w: &World| -> String {
        open_store(w)
            .query_row(
                "SELECT group_concat(seq || ':' || hash, ' ') FROM audit ORDER BY seq",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    let before = chain(&w);
    let hash = stored_hash(&w, 5);
    for bad in [
        "5".to_owned(),
        format!("five:{hash}"),
        format!("0:{hash}"),
        format!("-1:{hash}"),
        "5:abc".to_owned(),
        format!("5:{}", "g".repeat(64)),
        format!("5:{hash}0"),
    ] {
        let run = w
            .jit(["audit", "verify", "--checkpoint", &bad])
            .run()
            .code(2)
            .stderr_has(&format!(
                "{bad:?} is not a checkpoint: use SEQ:HASH as `jit audit verify` prints it (a record number from 1, a colon, and 64 hex digits)"
            ));
        assert_eq!(run.stdout, "");
    }
    assert_eq!(chain(&w), before);
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
