//! `jit discover` on a real PostgreSQL: standing memberships, admin roles, logins that never
//! expire, and jit's own leftovers (known by the store's mark on the login), through the CLI.

use crate::harness::*;
use crate::pg_cluster::{self, Cluster};
use serde_json::Value;

/// The group role and login prefix of this module (the cluster is shared with other tests).
const GROUP: &str = "dpg_grp";
const OTHER_GROUP: &str = "dpg_other";

fn config(cluster: &Cluster, w: &World) -> String {
    format!(
        r#"[identity]
service_account = "{me}"

{target}
[roles.db-member]
target = "db"
max_ttl = "1h"
grant = {{ mode = "membership", roles = ["{GROUP}"], login = "dpg_{{user}}" }}

[roles.db-eph]
target = "db"
max_ttl = "1h"
grant = {{ mode = "ephemeral", roles = ["{GROUP}"] }}

[[eligibility]]
subjects = ["user:{me}"]
roles = ["db-eph"]
"#,
        me = me(),
        target = cluster.target("db", w.dir.path()),
    )
}

fn world(cluster: &Cluster) -> World {
    let w = World::empty();
    w.write_config(&config(cluster, &w));
    w
}

fn su(cluster: &Cluster, sql: &str) {
    cluster.superuser(None).unwrap().batch_execute(sql).unwrap();
}

/// The groups exist once per run.
fn groups(cluster: &Cluster) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        su(
            cluster,
            &format!(
                "DO $$ BEGIN \
                 IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{GROUP}') THEN CREATE ROLE {GROUP} NOLOGIN; END IF; \
                 IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{OTHER_GROUP}') THEN CREATE ROLE {OTHER_GROUP} NOLOGIN; END IF; \
                 END $$"
            ),
        );
    });
}

fn discover(w: &World) -> Vec<Value> {
    let found = w.jit(["discover", "--json"]).run().success().json();
    assert_eq!(found["errors"], serde_json::json!([]), "{found}");
    found["findings"].as_array().unwrap().clone()
}

/// The findings about `holder`.
fn about<'a>(findings: &'a [Value], holder: &str) -> Vec<&'a Value> {
    findings.iter().filter(|f| f["holder"] == holder).collect()
}

fn is_member(cluster: &Cluster, login: &str, group: &str) -> bool {
    cluster
        .superuser(None)
        .unwrap()
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid \
             JOIN pg_roles u ON u.oid = m.member WHERE g.rolname = $1 AND u.rolname = $2)",
            &[&group, &login],
        )
        .unwrap()
        .get(0)
}

#[test]
fn a_membership_given_by_hand_is_found_once_and_adopted_into_eligibility() {
    let cluster = pg_cluster::shared();
    groups(cluster);
    let w = world(cluster);
    // daemon's login, given the group by hand; and a login holding a group no role names.
    let login = format!("dpg_{REQUESTER}");
    su(
        cluster,
        &format!(
            "DROP ROLE IF EXISTS {login}; CREATE ROLE {login} LOGIN; GRANT {GROUP} TO {login}; \
             DROP ROLE IF EXISTS dpg_bystander; CREATE ROLE dpg_bystander LOGIN VALID UNTIL '2999-01-01'; \
             GRANT {OTHER_GROUP} TO dpg_bystander"
        ),
    );
    let findings = discover(&w);
    let mine = about(&findings, &login);
    assert_eq!(mine.len(), 2, "{findings:#?}");
    let standing = mine.iter().find(|f| f["kind"] == "standing").unwrap();
    assert_eq!(standing["entitlement"], format!("member of {GROUP:?}"));
    assert_eq!(standing["role"], "db-member");
    assert_eq!(standing["subject"], format!("user:{REQUESTER}"));
    assert_eq!(standing["removable"], true);
    assert_eq!(standing["target"], "db");
    assert_eq!(standing["backend"], "postgres");
    // No VALID UNTIL on it: reported only.
    let forever = mine.iter().find(|f| f["kind"] == "no-expiry").unwrap();
    assert_eq!(forever["entitlement"], "login without VALID UNTIL");
    assert_eq!(forever["removable"], false);
    assert!(
        about(&findings, "dpg_bystander").is_empty(),
        "a group no role names is none of jit's business: {findings:#?}"
    );
    assert!(
        about(&findings, pg_cluster::ADMIN).is_empty(),
        "jit's own admin login is not reported"
    );

    // Before adoption, daemon may not ask for it.
    w.jit(["request", "--role", "db-member"])
        .by(REQUESTER)
        .run()
        .code(3);
    let id = standing["id"].as_str().unwrap();
    let adopted = w.jit(["discover", "--adopt", id, "--yes"]).run().success();
    assert!(!is_member(cluster, &login, GROUP), "the membership is gone");
    let rule = adopted
        .stdout
        .split_once('\n')
        .map(|(first, rest)| {
            assert_eq!(
                first,
                format!("removed member of {GROUP:?} from {login} on target \"db\" (finding {id})")
            );
            rest.to_owned()
        })
        .unwrap();
    assert!(rule.contains("[[eligibility]]"), "{}", adopted.stdout);
    let text = std::fs::read_to_string(w.config_path()).unwrap();
    w.write_config(&format!("{text}\n{rule}"));
    // Now the holder asks for it just in time, and holds it for the lease only.
    let lease = w
        .jit(["request", "--role", "db-member", "--json"])
        .by(REQUESTER)
        .run()
        .success()
        .json();
    assert!(is_member(cluster, &login, GROUP));
    // A live lease is no finding.
    let findings = discover(&w);
    assert!(
        about(&findings, &login)
            .iter()
            .all(|f| f["kind"] != "standing"),
        "{findings:#?}"
    );
    w.jit(["revoke", lease["id"].as_str().unwrap()])
        .by(REQUESTER)
        .run()
        .success();
    assert!(!is_member(cluster, &login, GROUP));
    // The adoption is in the audit trail.
    let audit = w.jit(["audit", "--json"]).run().success().stdout;
    assert!(audit.contains("\"adopted\""), "{audit}");
    su(
        cluster,
        &format!("DROP ROLE {login}; DROP ROLE dpg_bystander"),
    );
}

#[test]
fn a_second_superuser_is_admin_and_not_removable() {
    let cluster = pg_cluster::shared();
    groups(cluster);
    let w = world(cluster);
    su(
        cluster,
        "DROP ROLE IF EXISTS dpg_root; CREATE ROLE dpg_root LOGIN SUPERUSER; \
         DROP ROLE IF EXISTS dpg_repl; CREATE ROLE dpg_repl LOGIN REPLICATION BYPASSRLS VALID UNTIL '2999-01-01'",
    );
    let findings = discover(&w);
    let root = about(&findings, "dpg_root");
    assert_eq!(root.len(), 2, "{findings:#?}");
    let admin = root.iter().find(|f| f["kind"] == "admin").unwrap();
    assert_eq!(admin["entitlement"], "SUPERUSER");
    assert_eq!(admin["removable"], false);
    assert!(root.iter().any(|f| f["kind"] == "no-expiry"));
    let repl = about(&findings, "dpg_repl");
    assert_eq!(repl.len(), 1, "it has a VALID UNTIL: {findings:#?}");
    assert_eq!(repl[0]["entitlement"], "BYPASSRLS, REPLICATION");
    // The bootstrap superuser is admin-level too.
    let postgres = about(&findings, "postgres");
    assert!(
        postgres
            .iter()
            .any(|f| f["kind"] == "admin"
                && f["entitlement"].as_str().unwrap().starts_with("SUPERUSER")),
        "{findings:#?}"
    );
    // Adopting it is refused, and changes nothing.
    let id = admin["id"].as_str().unwrap();
    w.jit(["discover", "--adopt", id, "--yes"])
        .run()
        .code(2)
        .stderr_has("is not one jit removes");
    let still: bool = cluster
        .superuser(None)
        .unwrap()
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = 'dpg_root'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(still);
    su(cluster, "DROP ROLE dpg_root; DROP ROLE dpg_repl");
}

#[test]
fn leftover_logins_are_known_by_the_mark_of_their_store() {
    let cluster = pg_cluster::shared();
    groups(cluster);
    let w = world(cluster);
    // A lease granted, then forgotten by the store (as after a restore).
    let forgotten = w.granted("db-eph", &[]);
    let login = format!("jit_{forgotten}");
    let comment: String = cluster
        .superuser(None)
        .unwrap()
        .query_one(
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1",
            &[&login],
        )
        .unwrap()
        .get(0);
    assert_eq!(comment, format!("jit:{}:{forgotten}", store_name(&w)));
    // A live lease of the same store: no finding.
    let live = w.granted("db-eph", &[]);
    open_store(&w)
        .execute("DELETE FROM leases WHERE id = ?1", [&forgotten])
        .unwrap();
    // Another deployment's lease on the same target, and a jit_ login nobody marked.
    let other = world(cluster);
    let theirs = other.granted("db-eph", &[]);
    let unmarked = "jit_dpgnomark";
    su(
        cluster,
        &format!("DROP ROLE IF EXISTS {unmarked}; CREATE ROLE {unmarked} LOGIN"),
    );

    let findings = discover(&w);
    let left = about(&findings, &login);
    assert_eq!(left.len(), 1, "{findings:#?}");
    assert_eq!(left[0]["kind"], "leftover");
    assert_eq!(left[0]["entitlement"], format!("login {login:?}"));
    assert_eq!(left[0]["removable"], true);
    assert!(about(&findings, &format!("jit_{live}")).is_empty());
    assert!(
        about(&findings, &format!("jit_{theirs}")).is_empty(),
        "another store's login is left alone"
    );
    let nomark = about(&findings, unmarked);
    assert_eq!(nomark.len(), 1, "{findings:#?}");
    assert_eq!(nomark[0]["kind"], "unmarked");
    assert_eq!(nomark[0]["removable"], false);

    // The unmarked one is refused and stays; the leftover is dropped as a revoke drops it.
    w.jit([
        "discover",
        "--adopt",
        nomark[0]["id"].as_str().unwrap(),
        "--yes",
    ])
    .run()
    .code(2);
    assert!(cluster.role_exists(unmarked));
    let adopted = w
        .jit([
            "discover",
            "--adopt",
            left[0]["id"].as_str().unwrap(),
            "--yes",
        ])
        .run()
        .success();
    assert!(
        !adopted.stdout.contains("[[eligibility]]"),
        "a leftover gets no rule: {}",
        adopted.stdout
    );
    assert!(!cluster.role_exists(&login));
    assert!(cluster.role_exists(&format!("jit_{live}")));
    assert!(cluster.role_exists(&format!("jit_{theirs}")));
    // The other deployment sees its own lease as live, and nothing of ours.
    let theirs_found = discover(&other);
    assert!(about(&theirs_found, &format!("jit_{theirs}")).is_empty());
    assert!(about(&theirs_found, &format!("jit_{live}")).is_empty());
    w.jit(["revoke", &live]).run().success();
    other.jit(["revoke", &theirs]).run().success();
    su(cluster, &format!("DROP ROLE {unmarked}"));
}
