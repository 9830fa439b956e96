//! `jit audit export --format ocsf`: a history with every kind of event the CLI can
//! produce, exported as OCSF records and validated offline against the OCSF 1.5.0 schema
//! (scripts/ocsf-validate.py, with the `ocsf-emitter` package from PyPI), and jit's own
//! fields found where docs/ocsf.md says. Kinds the CLI cannot reach in one local world
//! (ship-refused) are validated by the unit tests of src/ocsf.rs; `refused`, in team mode, by
//! tests/it/team.rs.

use crate::harness::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

fn world(leases: &std::path::Path, hook: &str) -> World {
    let w = World::empty();
    w.write_config(&format!(
        "{default}\n\
         [targets.notes]\nbackend = \"file\"\ndirectory = \"{dir}\"\n\n\
         [roles.note]\ntarget = \"notes\"\nmax_ttl = \"1h\"\n\n\
         [[conflicts]]\nroles = [\"web-root\", \"db-admin\"]\nreason = \"four eyes\"\n\n\
         [[notify]]\nname = \"ops\"\nurl = \"{hook}\"\nretries = 0\nevents = [\"extended\"]\n",
        default = w.default_config(),
        dir = leases.display(),
    ));
    w
}

/// The store as it was before `change`: what a restore from a backup does.
fn restored_after(w: &World, change: impl FnOnce()) {
    let backup = w.path("backup.db");
    open_store(w)
        .execute("VACUUM INTO ?1", [backup.to_str().unwrap()])
        .unwrap();
    change();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", w.store_path().display()));
    }
    std::fs::rename(&backup, w.store_path()).unwrap();
}

fn pending(w: &World) -> String {
    let lease = w
        .jit(["request", "--role", "gated", "--json"])
        .by(REQUESTER)
        .run()
        .code(4)
        .json();
    lease["id"].as_str().unwrap().to_owned()
}

/// Each line through the validator: the exit code, and its standard output and error.
pub fn validate(lines: &str) -> (i32, String, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/ocsf-validate.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_event_exports_as_a_valid_ocsf_record_with_jits_fields_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let leases = dir.path().join("leases");
    std::fs::create_dir(&leases).unwrap();
    std::fs::set_permissions(&leases, std::fs::Permissions::from_mode(0o700)).unwrap();
    // A port nothing listens on: each notification fails at once.
    let hook = format!("http://127.0.0.1:{}/hook", free_port());
    let w = world(&leases, &hook);

    // adopted: a leftover grant the restored store forgot, taken away.
    w.jit(["list"]).run().success();
    restored_after(&w, || {
        w.jit(["request", "--role", "note", "--ttl", "20m", "--quiet"])
            .run()
            .success();
    });
    let found = w.jit(["discover", "--json"]).run().success().json();
    let finding = found["findings"][0]["id"].as_str().unwrap().to_owned();
    w.jit(["discover", "--adopt", &finding, "--yes"])
        .run()
        .success();

    // requested, approved, granted; requested, denied; requested, cancelled.
    let approved = pending(&w);
    w.jit(["approve", &approved, "--reason", "on call"])
        .by(APPROVER)
        .run()
        .success();
    let denied = pending(&w);
    w.jit(["deny", &denied, "--reason", "not today"])
        .by(APPROVER)
        .run()
        .success();
    let cancelled = pending(&w);
    w.jit(["revoke", &cancelled]).by(REQUESTER).run().success();

    // grant-failed (and its clean-up).
    w.fail_grants(true);
    w.jit(["request", "--role", "web-root"]).run().code(1);
    w.fail_grants(false);

    // extended (with a notify-failed), revoked.
    let revoked = w.granted("web-root", &["--ttl", "10m", "--ticket", "CHG-7"]);
    w.jit(["extend", &revoked, "--ttl", "20m"]).run().success();
    w.jit(["revoke", &revoked]).run().success();

    // expired, by the sweeper after the end.
    let expired = w.granted("tokens", &["--ttl", "1m"]);
    w.jit(["sweep"]).later(120).run().success();
    assert_eq!(w.state_of(&expired), "expired");

    // revoke-failed, then revoked on the retry.
    let stuck = w.granted("web-root", &[]);
    w.fail_revokes(true);
    w.jit(["revoke", &stuck]).run().code(6);
    w.fail_revokes(false);
    w.jit(["sweep"]).later(3600).run().success();
    assert_eq!(w.state_of(&stuck), "revoked");

    // denied by a policy rule: holding web-root, db-admin conflicts with it.
    let held = w.granted("web-root", &[]);
    w.jit(["request", "--role", "db-admin", "--ticket", "CHG-1"])
        .run()
        .code(3);

    // certified, decertified: by someone the rule does not cover.
    w.jit(["review", "certify", "#1", "--reason", "still needed"])
        .by(APPROVER)
        .run()
        .success();
    w.jit([
        "review",
        "revoke-eligibility",
        "#1",
        &format!("user:{REQUESTER}"),
        "--reason",
        "left the team",
    ])
    .by(APPROVER)
    .run()
    .success();

    let out = w.path("trail.ocsf");
    w.jit([
        "audit",
        "export",
        "--format",
        "ocsf",
        "--output",
        out.to_str().unwrap(),
    ])
    .run()
    .success();
    let text = std::fs::read_to_string(&out).unwrap();
    let stdout = w
        .jit(["audit", "export", "--format", "ocsf"])
        .run()
        .success()
        .stdout;
    assert_eq!(
        stdout, text,
        "standard output and --output carry the same records"
    );
    let records: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(records.len(), w.event_count(), "one record per event");

    let (code, valid, problems) = validate(&text);
    assert_eq!(code, 0, "{problems}");
    assert_eq!(valid.lines().count(), records.len(), "{valid}");

    let kinds: BTreeSet<&str> = records
        .iter()
        .map(|r| r["unmapped"]["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "requested",
        "approved",
        "denied",
        "granted",
        "grant-failed",
        "extended",
        "revoked",
        "expired",
        "revoke-failed",
        "cancelled",
        "notify-failed",
        "adopted",
        "certified",
        "decertified",
    ] {
        assert!(kinds.contains(kind), "no {kind} among {kinds:?}");
    }

    // The trail, in order, with its chain: seq, prev_hash, hash as `jit audit` shows them.
    let trail = w.jit(["audit", "--json"]).run().success().json();
    let trail = trail.as_array().unwrap();
    for (record, event) in records.iter().zip(trail) {
        assert_eq!(record["unmapped"]["seq"], event["seq"]);
        assert_eq!(record["metadata"]["sequence"], event["seq"]);
        assert_eq!(record["unmapped"]["hash"], event["hash"]);
        assert_eq!(record["metadata"]["uid"], event["hash"]);
        assert_eq!(record["unmapped"]["prev_hash"], event["prev_hash"]);
        assert_eq!(record["unmapped"]["lease_id"], event["lease_id"]);
        assert_eq!(record["unmapped"]["details"], event["details"]);
        assert_eq!(record["actor"]["user"]["name"], event["actor"]);
        let at = chrono::DateTime::parse_from_rfc3339(event["at"].as_str().unwrap()).unwrap();
        assert_eq!(record["time"], json!(at.timestamp_millis()));
        assert_eq!(record["metadata"]["version"], "1.5.0");
        // The event, and so its hash, can be rebuilt from the record (docs/ocsf.md).
        let canonical = json!({
            "actor": record["actor"]["user"]["name"],
            "at": record["metadata"]["original_time"],
            "details": record["unmapped"]["details"],
            "kind": record["unmapped"]["kind"],
            "lease_id": record["unmapped"]["lease_id"],
            "seq": record["unmapped"]["seq"],
        });
        let mut hasher = Sha256::new();
        hasher.update(record["unmapped"]["prev_hash"].as_str().unwrap());
        hasher.update(canonical.to_string());
        assert_eq!(
            record["unmapped"]["hash"],
            json!(hex::encode(hasher.finalize())),
            "{record}"
        );
        assert_eq!(
            record["metadata"]["product"],
            json!({"name": "jit", "vendor_name": "jit", "version": env!("CARGO_PKG_VERSION")})
        );
    }

    let of = |lease: &str, kind: &str| -> Value {
        records
            .iter()
            .find(|r| r["unmapped"]["lease_id"] == lease && r["unmapped"]["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} of {lease}"))
            .clone()
    };

    // granted: User Access Management, Assign Privileges; the role a privilege of the
    // subject on the target.
    let granted = of(&revoked, "granted");
    assert_eq!(
        (
            &granted["class_uid"],
            &granted["activity_id"],
            &granted["type_uid"]
        ),
        (&json!(3005), &json!(1), &json!(300501))
    );
    assert_eq!(granted["privileges"], json!(["web-root"]));
    assert_eq!(granted["user"]["name"], json!(me()));
    assert_eq!(granted["resources"][0]["uid"], "files");
    assert_eq!(
        granted["resources"][0]["labels"],
        json!(["backend:command"])
    );
    assert_eq!(granted["metadata"]["correlation_uid"], json!(revoked));
    assert_eq!(granted["unmapped"]["role"], "web-root");
    assert_eq!(granted["unmapped"]["target"], "files");
    assert_eq!(granted["unmapped"]["ticket"], "CHG-7");
    assert_eq!(granted["status_id"], 1);
    let lease = w.lease(&revoked);
    let granted_until = chrono::DateTime::parse_from_rfc3339(
        of(&revoked, "granted")["unmapped"]["details"]["expires_at"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(granted["end_time"], json!(granted_until.timestamp_millis()));
    assert_eq!(lease["role"], "web-root");

    // revoked, expired: Revoke Privileges; revoke-failed the same, as a failure.
    for (lease, kind) in [
        (&revoked, "revoked"),
        (&expired, "expired"),
        (&stuck, "revoked"),
    ] {
        let record = of(lease, kind);
        assert_eq!(record["type_uid"], 300502, "{kind}");
        assert_eq!(record["status_id"], 1, "{kind}");
    }
    let stuck_failed = of(&stuck, "revoke-failed");
    assert_eq!(stuck_failed["type_uid"], 300502);
    assert_eq!(stuck_failed["status_id"], 2);
    assert_eq!(stuck_failed["severity_id"], 4);
    assert!(stuck_failed["status_detail"].as_str().unwrap() != "");
    assert_eq!(of(&expired, "expired")["privileges"], json!(["tokens"]));

    // The request's life: Entity Management of the lease.
    let requested = of(&approved, "requested");
    assert_eq!(requested["type_uid"], 300401);
    assert_eq!(requested["entity"]["uid"], json!(approved));
    assert_eq!(requested["entity"]["name"], "gated");
    assert_eq!(requested["entity"]["user"]["name"], REQUESTER);
    let approval = of(&approved, "approved");
    assert_eq!(approval["type_uid"], 300403);
    assert_eq!(approval["actor"]["user"]["name"], APPROVER);
    assert_eq!(approval["comment"], "on call");
    let denial = of(&denied, "denied");
    assert_eq!(
        (&denial["type_uid"], &denial["status_id"]),
        (&json!(300403), &json!(2))
    );
    assert_eq!(denial["status_detail"], "not today");
    assert_eq!(of(&cancelled, "cancelled")["type_uid"], 300404);
    let grant_failed = records
        .iter()
        .find(|r| r["unmapped"]["kind"] == "grant-failed")
        .unwrap();
    assert_eq!(
        (&grant_failed["type_uid"], &grant_failed["status_id"]),
        (&json!(300501), &json!(2))
    );

    // The policy's refusal names its rule; the adoption names the holder and what was held.
    let policy = records
        .iter()
        .find(|r| r["unmapped"]["details"]["rule"].is_string())
        .expect("a policy denial");
    assert_eq!(policy["type_uid"], 300403);
    assert_eq!(policy["status_id"], 2);
    assert_eq!(policy["entity"]["name"], "db-admin");
    assert_eq!(policy["unmapped"]["role"], "db-admin");
    let adopted = records
        .iter()
        .find(|r| r["unmapped"]["kind"] == "adopted")
        .unwrap();
    assert_eq!(adopted["type_uid"], 300502);
    assert_eq!(adopted["user"]["name"], json!(me()));
    assert_eq!(adopted["resources"][0]["uid"], "notes");
    assert_eq!(adopted["unmapped"]["target"], "notes");
    let notify = records
        .iter()
        .find(|r| r["unmapped"]["kind"] == "notify-failed")
        .unwrap();
    assert_eq!(
        (
            &notify["class_uid"],
            &notify["category_uid"],
            &notify["type_uid"]
        ),
        (&json!(1008), &json!(1), &json!(100803))
    );
    assert_eq!(notify["log_name"], "ops");
    assert_eq!(notify["status_id"], 2);
    assert_eq!(w.state_of(&held), "active");

    // Certification: the rule as an entity; decertification detaches it from the subject.
    let kind = |kind: &str| -> Value {
        records
            .iter()
            .find(|r| r["unmapped"]["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
            .clone()
    };
    let certified = kind("certified");
    assert_eq!(certified["type_uid"], 300403);
    assert_eq!(certified["entity"]["type"], "jit eligibility rule");
    assert_eq!(certified["entity"]["uid"], "#1");
    assert_eq!(certified["comment"], "still needed");
    assert_eq!(certified["actor"]["user"]["name"], APPROVER);
    let decertified = kind("decertified");
    assert_eq!(
        (
            &decertified["class_uid"],
            &decertified["activity_id"],
            &decertified["type_uid"]
        ),
        (&json!(3001), &json!(8), &json!(300108))
    );
    assert_eq!(decertified["user"]["name"], REQUESTER);
    assert_eq!(decertified["policy"]["uid"], "#1");
    assert_eq!(decertified["status_detail"], "left the team");

    // A record the schema does not allow is refused by the validator (it checks).
    let mut broken = records[0].clone();
    broken["type_uid"] = json!(999);
    broken["metadata"]["product"]["vendor"] = json!("x");
    let (code, _, problems) = validate(&format!("{broken}\n"));
    assert_eq!(code, 1);
    assert!(problems.contains("type_uid"), "{problems}");
    assert!(problems.contains("metadata.product.vendor"), "{problems}");
}

/// `format = "ocsf"` on an `[[audit.ship]]` destination: the collector and the syslog
/// socket receive the records `jit audit export --format ocsf` writes, valid, in order,
/// with the same checkpoint by `seq`; a format jit does not know is a configuration error.
#[test]
fn a_destination_with_format_ocsf_receives_valid_ocsf_records() {
    use crate::http_server::{HttpServer, Reply};
    let collector = HttpServer::start();
    collector.route("POST", "/ingest", Reply::status(202));
    let socket = tempfile::tempdir().unwrap();
    let socket = socket.path().join("log");
    let listener = std::os::unix::net::UnixDatagram::bind(&socket).unwrap();
    listener
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let w = World::new();
    let ship = format!(
        "[[audit.ship]]\nkind = \"http\"\nurl = \"{}\"\nformat = \"ocsf\"\n\n\
         [[audit.ship]]\nkind = \"syslog\"\nsocket = \"{}\"\nformat = \"ocsf\"\n",
        collector.url("/ingest"),
        socket.display()
    );
    w.write_config(&format!("{}\n{ship}", w.default_config()));
    let id = w.granted("web-root", &["--ttl", "10m"]);
    w.jit(["revoke", &id]).run().success();

    let exported = w
        .jit(["audit", "export", "--format", "ocsf"])
        .run()
        .success()
        .stdout;
    let batches = collector.requests();
    assert_eq!(batches.len(), 2, "one batch per command");
    let received: String = batches.iter().map(|b| b.body.clone()).collect();
    assert_eq!(received, exported);
    assert_eq!(batches[0].header("x-jit-first-seq"), Some("1"));
    assert_eq!(batches[0].header("x-jit-last-seq"), Some("2"));
    let (code, _, problems) = validate(&received);
    assert_eq!(code, 0, "{problems}");
    let kinds: Vec<Value> = received
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["type_uid"].clone())
        .collect();
    assert_eq!(kinds, [json!(300401), json!(300501), json!(300502)]);

    let mut buffer = vec![0u8; 65536];
    let mut logged = String::new();
    for _ in 0..3 {
        let n = listener.recv(&mut buffer).unwrap();
        let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
        let json = &message[message.find("]: ").unwrap() + 3..];
        logged.push_str(json);
        logged.push('\n');
    }
    assert_eq!(logged, exported);
    w.jit(["audit", "ship"])
        .run()
        .success()
        .stdout_has("http: sent 0 event(s); has the chain through seq 3 of 3");

    w.write_config(&format!(
        "{}\n[[audit.ship]]\nkind = \"http\"\nurl = \"{}\"\nformat = \"cef\"\n",
        w.default_config(),
        collector.url("/ingest")
    ));
    let refused = w.jit(["list"]).run().code(5);
    assert!(
        refused
            .stderr
            .contains("format \"cef\" is not one of \"jsonl\", \"ocsf\""),
        "{}",
        refused.stderr
    );
}
