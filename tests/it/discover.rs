//! `jit discover` as the command sees it, on the file backend: jit's own leftovers known by
//! the store's mark, another store's grants left alone, unmarked ones reported only, the
//! filters, `--fail`, `--adopt` and its audit record. Each backend's own findings are proven
//! against its real server in the `discover_*` modules.

use crate::harness::*;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn leases_dir(path: &Path) {
    std::fs::create_dir(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// A world whose `notes` target keeps its lease files in `directory`.
fn world_on(directory: &Path) -> World {
    let w = World::empty();
    w.write_config(&format!(
        "[targets.notes]\nbackend = \"file\"\ndirectory = \"{dir}\"\n\n\
         [roles.note]\ntarget = \"notes\"\nmax_ttl = \"1h\"\n\n\
         [[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"*\"]\n",
        dir = directory.display(),
        me = me(),
    ));
    w
}

fn granted(w: &World) -> String {
    w.jit(["request", "--role", "note", "--ttl", "20m", "--quiet"])
        .run()
        .success()
        .stdout
        .trim()
        .to_owned()
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

fn findings(w: &World, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["discover", "--json"];
    all.extend_from_slice(args);
    let report = w.jit(all).run().success().json();
    crate::json_contract::conforms(&report, &["discover"]);
    assert_eq!(report["errors"], json!([]), "{report}");
    report["findings"].as_array().unwrap().clone()
}

#[test]
fn a_live_lease_is_no_finding_and_fail_passes() {
    let dir = tempfile::tempdir().unwrap();
    let leases = dir.path().join("leases");
    leases_dir(&leases);
    let w = world_on(&leases);
    let id = granted(&w);
    assert!(leases.join(format!("jit-{id}")).exists());
    w.jit(["discover", "--json"])
        .run()
        .success()
        .stdout_is("{\"errors\":[],\"findings\":[],\"notes\":[]}\n");
    w.jit(["discover", "--fail"])
        .run()
        .success()
        .stderr_has("no standing access found");
}

#[test]
fn a_grant_the_restored_store_forgot_is_a_leftover_removed_on_command() {
    let dir = tempfile::tempdir().unwrap();
    let leases = dir.path().join("leases");
    leases_dir(&leases);
    let w = world_on(&leases);
    w.jit(["list"]).run().success();
    let mut id = String::new();
    restored_after(&w, || id = granted(&w));
    let file = leases.join(format!("jit-{id}"));
    assert!(file.exists(), "the grant outlived the store's memory of it");
    assert_eq!(
        w.jit(["show", &id]).run().code(2).stderr,
        format!("jit: error: no lease \"{id}\"\n")
    );

    let found = findings(&w, &[]);
    assert_eq!(found.len(), 1, "{found:?}");
    let finding = &found[0];
    let finding_id = finding["id"].as_str().unwrap().to_owned();
    assert_eq!(finding_id.len(), 12);
    assert_eq!(
        finding,
        &json!({
            "action": format!("remove: lease {id} is not live in this store"),
            "backend": "file",
            "entitlement": format!("lease file jit-{id}"),
            "holder": me(),
            "id": finding_id,
            "kind": "leftover",
            "removable": true,
            "role": "note",
            "since": null,
            "subject": null,
            "target": "notes",
        })
    );
    // The same id at every run, and in the table.
    assert_eq!(findings(&w, &[])[0]["id"], finding["id"]);
    let table = w.jit(["discover"]).run().success().stdout;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        cells[..4],
        [finding_id.as_str(), "notes", "leftover", me().as_str()]
    );

    // A CI job gates on it.
    let failed = w.jit(["discover", "--fail", "--quiet"]).run().code(7);
    assert_eq!(failed.stdout, format!("{finding_id}\n"));

    // --adopt wants --yes, and changes nothing without it.
    let events = w.event_count();
    let refused = w.jit(["discover", "--adopt", &finding_id]).run().code(2);
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    assert!(file.exists());
    assert_eq!(w.event_count(), events);

    w.jit(["discover", "--adopt", &finding_id, "--yes"])
        .run()
        .success()
        .stdout_is(&format!(
            "removed lease file jit-{id} from {me} on target \"notes\" (finding {finding_id})\n",
            me = me()
        ));
    assert!(!file.exists(), "the leftover is gone from the target");
    assert_eq!(findings(&w, &[]), Vec::<Value>::new());
    let trail = w.jit(["audit", "--json"]).run().success().json();
    let last = trail.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "adopted");
    assert_eq!(last["actor"], me());
    assert_eq!(last["lease_id"], Value::Null);
    assert_eq!(
        last["details"],
        json!({
            "finding": finding_id,
            "target": "notes",
            "kind": "leftover",
            "holder": me(),
            "entitlement": format!("lease file jit-{id}"),
            "role": "note",
            "subject": null,
        })
    );
    w.jit(["audit", "verify"]).run().success();

    // Gone already: the id is no finding any more.
    let again = w
        .jit(["discover", "--adopt", &finding_id, "--yes"])
        .run()
        .code(2);
    assert_eq!(
        again.stderr,
        format!("jit: error: no finding \"{finding_id}\" (run `jit discover` to list them)\n")
    );
}

#[test]
fn another_stores_grants_are_left_alone_and_unmarked_ones_only_reported() {
    let dir = tempfile::tempdir().unwrap();
    let leases = dir.path().join("leases");
    leases_dir(&leases);
    let ours = world_on(&leases);
    let theirs = world_on(&leases);
    // Their grant, which their store then forgets: a leftover of theirs, not ours.
    theirs.jit(["list"]).run().success();
    let mut their_id = String::new();
    restored_after(&theirs, || their_id = granted(&theirs));
    let their_file = leases.join(format!("jit-{their_id}"));
    assert!(their_file.exists());
    // A lease file with no store's mark, as a jit before marks wrote it.
    let unmarked = leases.join("jit-abcdefgh23");
    std::fs::write(
        &unmarked,
        format!(
            "{{\"lease\":\"abcdefgh23\",\"role\":\"note\",\"subject\":\"{}\"}}\n",
            me()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&unmarked, std::fs::Permissions::from_mode(0o600)).unwrap();

    let found = findings(&ours, &[]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["kind"], "unmarked");
    assert_eq!(found[0]["entitlement"], "lease file jit-abcdefgh23");
    assert_eq!(found[0]["removable"], false);
    assert_eq!(found[0]["action"], "check by hand: no store's mark");
    let unmarked_id = found[0]["id"].as_str().unwrap().to_owned();
    let events = ours.event_count();
    let refused = ours
        .jit(["discover", "--adopt", &unmarked_id, "--yes"])
        .run()
        .code(2);
    assert_eq!(
        refused.stderr,
        format!(
            "jit: error: finding {unmarked_id} (unmarked on target \"notes\") is not one jit removes: check by hand: no store's mark\n"
        )
    );
    assert!(unmarked.exists());
    assert_eq!(ours.event_count(), events);

    // Their store knows its own leftover; ours never removes it.
    let theirs_found = findings(&theirs, &["--kind", "leftover"]);
    assert_eq!(theirs_found.len(), 1, "{theirs_found:?}");
    assert_eq!(
        theirs_found[0]["entitlement"],
        format!("lease file jit-{their_id}")
    );
    assert!(their_file.exists());
    assert_eq!(
        findings(&ours, &["--kind", "leftover"]),
        Vec::<Value>::new()
    );
    let adopted = theirs
        .jit([
            "discover",
            "--adopt",
            theirs_found[0]["id"].as_str().unwrap(),
            "--yes",
            "--json",
        ])
        .run()
        .success()
        .json();
    crate::json_contract::conforms(&adopted, &["adoption"]);
    crate::json_contract::conforms(&adopted["finding"], &["finding"]);
    assert_eq!(adopted["finding"], theirs_found[0]);
    assert_eq!(adopted["eligibility"], Value::Null);
    assert!(!their_file.exists());
    assert!(unmarked.exists(), "what is not theirs stays");
}

#[test]
fn a_target_that_cannot_be_asked_is_an_error_and_the_others_are_still_asked() {
    let dir = tempfile::tempdir().unwrap();
    let leases = dir.path().join("leases");
    leases_dir(&leases);
    let w = world_on(&leases);
    let mut config = std::fs::read_to_string(w.config_path()).unwrap();
    config.push_str(&format!(
        "\n[targets.gone]\nbackend = \"file\"\ndirectory = \"{}\"\n",
        dir.path().join("missing").display()
    ));
    w.write_config(&config);
    w.jit(["list"]).run().success();
    let mut id = String::new();
    restored_after(&w, || id = granted(&w));

    let run = w.jit(["discover", "--json"]).run().code(1);
    let report = run.json();
    crate::json_contract::conforms(&report, &["discover"]);
    assert_eq!(report["findings"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["findings"][0]["target"], "notes");
    assert_eq!(report["errors"][0]["target"], "gone");
    assert!(
        report["errors"][0]["text"]
            .as_str()
            .unwrap()
            .contains("missing"),
        "{report}"
    );
    // Only the target asked for.
    assert_eq!(findings(&w, &["--target", "notes"]).len(), 1);
    let unknown = w.jit(["discover", "--target", "nope"]).run().code(2);
    assert_eq!(
        unknown.stderr,
        "jit: error: unknown target \"nope\"; configured: gone, notes\n"
    );
    let bad_kind = w.jit(["discover", "--kind", "everything"]).run().code(2);
    assert!(
        bad_kind
            .stderr
            .contains("standing, admin, no-expiry, leftover, unmarked"),
        "{}",
        bad_kind.stderr
    );
}

#[test]
fn a_removal_the_target_refuses_records_nothing_and_changes_nothing() {
    // The default world's command target: its program answers discover and remove, and
    // fails removals (as revocations) while `fail-revoke` exists.
    let w = World::new();
    let grants = w.path("grants.json");
    std::fs::write(
        &grants,
        json!({ format!("web-root/{REQUESTER}"): { "expires_at": null } }).to_string(),
    )
    .unwrap();
    let found = findings(&w, &["--target", "files"]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["kind"], "standing");
    assert_eq!(found[0]["holder"], REQUESTER);
    let id = found[0]["id"].as_str().unwrap().to_owned();
    let before = std::fs::read_to_string(&grants).unwrap();
    let events = w.event_count();

    w.fail_revokes(true);
    let failed = w.jit(["discover", "--adopt", &id, "--yes"]).run().code(1);
    assert_eq!(
        failed.stderr,
        format!(
            "jit: error: removing finding {id} on target \"files\" failed: target unreachable (fixture)\n"
        )
    );
    assert_eq!(std::fs::read_to_string(&grants).unwrap(), before);
    assert_eq!(
        w.event_count(),
        events,
        "a removal that failed is not recorded"
    );

    w.fail_revokes(false);
    w.jit(["discover", "--adopt", &id, "--yes"]).run().success();
    assert_eq!(w.event_count(), events + 1);
    let state: Value = serde_json::from_str(&std::fs::read_to_string(&grants).unwrap()).unwrap();
    assert!(
        state.get(format!("web-root/{REQUESTER}")).is_none(),
        "{state}"
    );
}
