//! Live leases follow the rules as they change, against real parts: a subject removed from a
//! real OS group loses the lease at the next `jit sweep`, and a lowered `max_ttl` shortens a
//! PostgreSQL lease and its `VALID UNTIL`; `jit config check --live` shows both first and
//! changes nothing.

use crate::harness::*;
use crate::pg_cluster::{self, Cluster, GROUP};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

/// A real OS group for the length of a test, deleted at the end.
struct OsGroup {
    name: String,
}

/// Run a shadow tool (`groupadd`, `gpasswd`, ...); another process holding the lock on
/// /etc/group makes it fail, so it is tried again until a deadline.
fn shadow(program: &str, args: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let output = Command::new(program).args(args).output().unwrap();
        if output.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl OsGroup {
    fn with(members: &[&str]) -> OsGroup {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).unwrap();
        let suffix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let group = OsGroup {
            name: format!("jit-rc-{suffix}"),
        };
        shadow("groupadd", &[&group.name]);
        for member in members {
            shadow("gpasswd", &["-a", member, &group.name]);
        }
        group
    }

    fn remove(&self, member: &str) {
        shadow("gpasswd", &["-d", member, &self.name]);
    }
}

impl Drop for OsGroup {
    fn drop(&mut self) {
        let _ = Command::new("groupdel").arg(&self.name).output();
    }
}

/// A file target whose role `note` is for the members of `group`, and a PostgreSQL target
/// whose role `db-eph` has `cap` as its max_ttl.
fn config(w: &World, cluster: &Cluster, group: &str, cap: &str) -> String {
    format!(
        r#"[identity]
service_account = "{me}"

[targets.notes]
backend = "file"
directory = "leases"

{target}
[roles.note]
target = "notes"
max_ttl = "1h"

[roles.db-eph]
target = "db"
max_ttl = "{cap}"
grant = {{ mode = "ephemeral", roles = ["{GROUP}"], database_privileges = ["CONNECT"] }}

[[eligibility]]
subjects = ["group:{group}"]
roles = ["note"]

[[eligibility]]
subjects = ["user:{me}"]
roles = ["db-eph"]
"#,
        me = me(),
        target = cluster.target("db", w.dir.path()),
    )
}

fn valid_until(cluster: &Cluster, login: &str) -> Option<String> {
    cluster
        .superuser(None)
        .unwrap()
        .query_one(
            "SELECT to_char(rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
             FROM pg_roles WHERE rolname = $1",
            &[&login],
        )
        .unwrap()
        .get(0)
}

fn plus_minutes(time: &Value, minutes: i64) -> String {
    let at = chrono::DateTime::parse_from_rfc3339(time.as_str().unwrap()).unwrap();
    (at + chrono::TimeDelta::minutes(minutes))
        .to_utc()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The audit events of one lease.
fn events_of(w: &World, id: &str) -> Vec<Value> {
    let events = w
        .jit(["audit", "--lease", id, "--json"])
        .run()
        .success()
        .json();
    events.as_array().unwrap().clone()
}

#[test]
fn leaving_the_group_revokes_and_a_lowered_cap_shortens_at_the_next_sweep() {
    let cluster = pg_cluster::shared();
    let w = World::empty();
    std::fs::create_dir(w.path("leases")).unwrap();
    std::fs::set_permissions(w.path("leases"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let group = OsGroup::with(&[REQUESTER]);
    w.write_config(&config(&w, cluster, &group.name, "2h"));

    // daemon, in the group, holds a note; this user a PostgreSQL login for 1h30m.
    let note = w
        .jit(["request", "--role", "note", "--ttl", "20m", "--json"])
        .by(REQUESTER)
        .run()
        .success()
        .json();
    let note_id = note["id"].as_str().unwrap().to_owned();
    let note_file = w.path("leases").join(format!("jit-{note_id}"));
    assert!(note_file.exists());
    let db = w
        .jit(["request", "--role", "db-eph", "--ttl", "1h30m", "--json"])
        .run()
        .success()
        .json();
    let db_id = db["id"].as_str().unwrap().to_owned();
    let login = db["credentials"]["PGUSER"].as_str().unwrap().to_owned();
    let password = db["credentials"]["PGPASSWORD"].as_str().unwrap().to_owned();
    assert_eq!(
        valid_until(cluster, &login).as_deref(),
        db["expires_at"].as_str()
    );
    // Nothing has changed yet: the sweep leaves both.
    w.jit(["config", "check", "--live"])
        .run()
        .success()
        .stdout_has("the next sweep changes no live lease (2 leases of 2 subjects checked)");

    // daemon leaves the group; the cap of db-eph comes down to 30m.
    group.remove(REQUESTER);
    w.write_config(&config(&w, cluster, &group.name, "30m"));
    let shortened_to = plus_minutes(&db["granted_at"], 30);

    let leases = w.leases();
    let events = w.event_count();
    let listed = w.jit(["config", "check", "--live"]).run().success();
    let rows: Vec<Vec<&str>> = listed
        .stdout
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[1][..5],
        ["LEASE", "ROLE", "SUBJECT", "STATE", "ACTION"],
        "{}",
        listed.stdout
    );
    // One row per lease, in the store's order (creation time, then id).
    assert_eq!(rows.len(), 4, "{}", listed.stdout);
    let row = |id: &str| rows.iter().find(|r| r[0] == id).unwrap().clone();
    assert_eq!(
        row(&note_id)[..6],
        [
            note_id.as_str(),
            "note",
            REQUESTER,
            "active",
            "revoke",
            REQUESTER
        ],
        "{}",
        listed.stdout
    );
    assert_eq!(
        row(&db_id)[..7],
        [
            db_id.as_str(),
            "db-eph",
            me().as_str(),
            "active",
            "shorten",
            "to",
            shortened_to.as_str()
        ],
        "{}",
        listed.stdout
    );
    let live = w
        .jit(["config", "check", "--live", "--json"])
        .run()
        .success()
        .json();
    crate::json_contract::conforms(&live, &["config check --live"]);
    let changes = live["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{live}");
    let revoke = changes
        .iter()
        .find(|c| c["id"] == note_id.as_str())
        .unwrap();
    assert_eq!(revoke["action"], "revoke");
    assert_eq!(revoke["check"], "not-eligible");
    let cause = revoke["cause"].as_str().unwrap();
    assert_eq!(
        cause,
        format!(
            "{REQUESTER} is no longer eligible for role \"note\": no eligibility rule admits them (not in group:{})",
            group.name
        )
    );
    let shorten = changes.iter().find(|c| c["id"] == db_id.as_str()).unwrap();
    assert_eq!(shorten["action"], "shorten");
    assert_eq!(shorten["check"], "cap");
    assert_eq!(shorten["rule"], "roles.db-eph.max_ttl");
    assert_eq!(shorten["to"], shortened_to.as_str());
    assert_eq!(shorten["expires_at"], db["expires_at"]);

    // Nothing changed: store, audit trail, file and login as they were.
    assert_eq!(w.leases(), leases);
    assert_eq!(w.event_count(), events);
    assert!(note_file.exists());
    assert_eq!(
        valid_until(cluster, &login).as_deref(),
        db["expires_at"].as_str()
    );

    let swept = w.jit(["sweep"]).run().success();
    assert!(
        swept
            .stdout
            .contains(&format!("{note_id}: revoked: {cause}\n")),
        "{}",
        swept.stdout
    );
    assert!(
        swept.stdout.contains(&format!(
            "{db_id}: shortened to {shortened_to}: roles.db-eph.max_ttl is now 30m"
        )),
        "{}",
        swept.stdout
    );

    // The note is gone, with the cause in the audit trail.
    assert_eq!(w.state_of(&note_id), "revoked");
    assert!(!note_file.exists());
    let trail = events_of(&w, &note_id);
    let revoked = trail.last().unwrap();
    assert_eq!(revoked["kind"], "revoked");
    assert_eq!(revoked["details"]["cause"], cause);
    assert_eq!(revoked["details"]["recheck"], "not-eligible");

    // The login now ends 30 minutes after its grant, on the server too, and still works.
    assert_eq!(w.lease(&db_id)["expires_at"], shortened_to.as_str());
    assert_eq!(w.state_of(&db_id), "active");
    assert_eq!(
        valid_until(cluster, &login).as_deref(),
        Some(shortened_to.as_str())
    );
    cluster
        .login(&login, &password)
        .expect("the shortened login still works");
    let trail = events_of(&w, &db_id);
    let extended = trail.last().unwrap();
    assert_eq!(extended["kind"], "extended");
    assert_eq!(extended["details"]["shortened"], true);
    assert_eq!(extended["details"]["rule"], "roles.db-eph.max_ttl");
    assert_eq!(extended["details"]["from"], db["expires_at"]);
    assert_eq!(extended["details"]["to"], shortened_to.as_str());

    // Done once: the next sweep and the live check have nothing to do.
    w.jit(["sweep"]).run().success().stdout_is("");
    w.jit(["config", "check", "--live"])
        .run()
        .success()
        .stdout_has("the next sweep changes no live lease (1 lease of 1 subject checked)");
    w.jit(["revoke", &db_id]).run().success();
}

#[test]
fn a_cap_lowered_below_the_time_already_held_revokes_the_login() {
    let cluster = pg_cluster::shared();
    let w = World::empty();
    std::fs::create_dir(w.path("leases")).unwrap();
    std::fs::set_permissions(w.path("leases"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let group = OsGroup::with(&[]);
    w.write_config(&config(&w, cluster, &group.name, "2h"));
    let db = w
        .jit(["request", "--role", "db-eph", "--ttl", "1h", "--json"])
        .run()
        .success()
        .json();
    let id = db["id"].as_str().unwrap().to_owned();
    let login = db["credentials"]["PGUSER"].as_str().unwrap().to_owned();
    // Ten minutes on, the cap is five.
    w.write_config(&config(&w, cluster, &group.name, "5m"));
    let swept = w.jit(["sweep"]).later(600).run().success();
    let cause = format!(
        "roles.db-eph.max_ttl is now 5m: lease {id} may last until {} (5m from {}), not {}",
        plus_minutes(&db["granted_at"], 5),
        db["granted_at"].as_str().unwrap(),
        db["expires_at"].as_str().unwrap()
    );
    assert_eq!(swept.stdout, format!("{id}: revoked: {cause}\n"));
    assert!(!cluster.role_exists(&login));
    let trail = events_of(&w, &id);
    let revoked = &trail.last().unwrap()["details"];
    assert_eq!(revoked["recheck"], "cap");
    assert_eq!(revoked["rule"], "roles.db-eph.max_ttl");
    assert_eq!(revoked["cause"], cause.as_str());
}

#[test]
fn a_shortened_file_lease_is_in_the_sweep_document_and_in_its_file() {
    let w = World::empty();
    std::fs::create_dir(w.path("leases")).unwrap();
    std::fs::set_permissions(w.path("leases"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let config = |cap: &str| {
        format!(
            "[targets.notes]\nbackend = \"file\"\ndirectory = \"leases\"\n\n\
             [roles.note]\ntarget = \"notes\"\nmax_ttl = \"{cap}\"\n\n\
             [[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"*\"]\n",
            me = me(),
        )
    };
    w.write_config(&config("1h"));
    let lease = w
        .jit(["request", "--role", "note", "--ttl", "50m", "--json"])
        .run()
        .success()
        .json();
    let id = lease["id"].as_str().unwrap().to_owned();
    w.write_config(&config("20m"));
    let to = plus_minutes(&lease["granted_at"], 20);
    let swept = w.jit(["sweep", "--json"]).run().success().json();
    crate::json_contract::conforms(&swept, &["sweep"]);
    assert_eq!(
        swept["shortened"],
        serde_json::json!([{
            "cause": format!(
                "roles.note.max_ttl is now 20m: lease {id} may last until {to} (20m from {}), not {}",
                lease["granted_at"].as_str().unwrap(),
                lease["expires_at"].as_str().unwrap()
            ),
            "from": lease["expires_at"],
            "id": id,
            "to": to,
        }])
    );
    // The target's own record of the end moved with it.
    let held: Value = serde_json::from_str(
        &std::fs::read_to_string(w.path("leases").join(format!("jit-{id}"))).unwrap(),
    )
    .unwrap();
    assert_eq!(held["expires_at"], to.as_str());
    // At the new end the sweeper ends it, as any lease.
    w.jit(["sweep", "--json"])
        .later(20 * 60 + 5)
        .run()
        .success();
    assert_eq!(w.state_of(&id), "expired");
    assert!(!w.path("leases").join(format!("jit-{id}")).exists());
}
