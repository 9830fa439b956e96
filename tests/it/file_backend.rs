//! The file backend: a file per lease in the target's directory, through the CLI.

use crate::harness::*;
use std::os::unix::fs::PermissionsExt;

/// A world whose one target is a file backend in `leases/` (quick: granted and revoked in
/// the process), with a role `note` anyone may request.
pub fn file_world() -> World {
    let w = World::empty();
    std::fs::create_dir(w.path("leases")).unwrap();
    std::fs::set_permissions(w.path("leases"), std::fs::Permissions::from_mode(0o700)).unwrap();
    w.write_config(&format!(
        "[targets.notes]\nbackend = \"file\"\ndirectory = \"leases\"\n\n\
         [roles.note]\ntarget = \"notes\"\nmax_ttl = \"1h\"\n\n\
         [[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"*\"]\n",
        me = me(),
    ));
    w
}

#[test]
fn a_lease_is_a_file_from_request_to_revoke() {
    let w = file_world();
    let granted = w
        .jit(["request", "--role", "note", "--ttl", "20m"])
        .run()
        .success();
    let id = granted
        .stdout
        .strip_prefix("granted ")
        .and_then(|rest| rest.split(':').next())
        .unwrap()
        .to_owned();
    let file = w.path("leases").join(format!("jit-{id}"));
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let held: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let end = held["expires_at"].as_str().unwrap();
    assert_eq!(
        held,
        serde_json::json!({
            "lease": id, "role": "note", "subject": me(), "expires_at": end,
            "mark": format!("jit:{}:{id}", store_name(&w)),
        })
    );
    // The time left is counted at printing, so it may already be a second short of 20m.
    let line = |left: &str| {
        format!(
            "granted {id}: role note on notes for {me} until {end} ({left} left)\n",
            me = me()
        )
    };
    assert!(
        granted.stdout == line("20m") || granted.stdout == line("19m59s"),
        "{}",
        granted.stdout
    );
    assert_eq!(w.lease(&id)["backend"], "file");

    let listed = w.jit(["list"]).run().success();
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", listed.stdout);
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(cells[..5], [id.as_str(), "note", "notes", &me(), "active"]);

    let revoked = w.jit(["revoke", &id]).run().success();
    assert_eq!(
        revoked.stdout.lines().next(),
        Some(&*format!("revoked {id}"))
    );
    assert!(!file.exists(), "the lease's file is removed");
    assert_eq!(w.state_of(&id), "revoked");
    // Revoking again is success: already gone.
    let again = w.jit(["revoke", &id]).run().success();
    assert_eq!(
        again.stdout.lines().next(),
        Some(&*format!("{id}: already revoked"))
    );
    w.jit(["list"]).run().success().stdout_is("");
}

#[test]
fn a_directory_others_may_write_is_refused_and_nothing_is_held() {
    let w = file_world();
    std::fs::set_permissions(w.path("leases"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let refused = w
        .jit(["request", "--role", "note", "--ttl", "20m", "--json"])
        .run()
        .code(1);
    assert!(
        refused.stderr.contains("writable by group or others"),
        "{}",
        refused.stderr
    );
    assert_eq!(std::fs::read_dir(w.path("leases")).unwrap().count(), 0);
    let leases = w.leases();
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0]["state"], "failed");
}

fn config_error(text: &str) -> String {
    let w = World::empty();
    w.write_config(text);
    let run = w.jit(["config", "check"]).run().code(5);
    let path = w.config_path().display().to_string();
    run.stderr.replace(&path, "CONFIG")
}

#[test]
fn a_target_needs_a_directory_and_a_grant_table_has_no_keys() {
    assert_eq!(
        config_error("[targets.notes]\nbackend = \"file\"\n"),
        "jit: error: CONFIG:1:1: [targets.notes] needs `directory` (where the lease files go)\n"
    );
    assert_eq!(
        config_error(
            "[targets.notes]\nbackend = \"file\"\ndirectory = \"leases\"\n\n\
             [roles.note]\ntarget = \"notes\"\nmax_ttl = \"1h\"\ngrant = { mode = \"x\" }\n"
        ),
        "jit: error: CONFIG:8:11: unknown key `mode` in grant: a file role's grant takes no keys; leave `grant` out\n"
    );
}
