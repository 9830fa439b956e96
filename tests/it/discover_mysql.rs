//! `jit discover` on a real MariaDB: roles and privileges held outside a lease, global admin
//! rights, and jit's own leftover accounts (known by the store's mark on their event).

use crate::harness::*;
use crate::mariadb_server::{self, Mariadb};
use mysql::prelude::Queryable;
use serde_json::Value;

/// This module's role and database (the server is shared with other tests).
const ROLE: &str = "dmy_rw";
const DATABASE: &str = "dmydb";

fn config(server: &Mariadb, w: &World) -> String {
    format!(
        "[identity]\nservice_account = \"{me}\"\n\n{target}\n\
         [roles.db-role]\ntarget = \"db\"\nmax_ttl = \"1h\"\n\
         grant = {{ mode = \"role\", roles = [\"{ROLE}\"], account = \"dmy_{{user}}\", host = \"%\" }}\n\n\
         [roles.db-eph]\ntarget = \"db\"\nmax_ttl = \"1h\"\n\
         grant = {{ mode = \"ephemeral\", grants = [\"SELECT, INSERT ON {DATABASE}.*\"], host = \"%\" }}\n\n\
         [[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"db-eph\"]\n",
        target = server.target("db", w.dir.path()),
        me = me(),
    )
}

fn world(server: &Mariadb) -> World {
    let w = World::empty();
    w.write_config(&config(server, &w));
    w
}

fn root(server: &Mariadb, statements: &[String]) {
    let mut root = server.root().unwrap();
    for statement in statements {
        root.query_drop(statement).unwrap();
    }
}

/// The role and database exist once per run.
fn setup(server: &Mariadb) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| setup_on(server));
}

fn setup_on(server: &Mariadb) {
    {
        root(
            server,
            &[
                format!("CREATE DATABASE IF NOT EXISTS {DATABASE}"),
                format!("CREATE ROLE IF NOT EXISTS {ROLE}"),
                format!("GRANT SELECT ON {DATABASE}.* TO {ROLE}"),
                format!(
                    "GRANT {ROLE} TO {}@'127.0.0.1' WITH ADMIN OPTION",
                    mariadb_server::ADMIN
                ),
            ],
        );
    }
}

fn discover(w: &World) -> Vec<Value> {
    let found = w.jit(["discover", "--json"]).run().success().json();
    assert_eq!(found["errors"], serde_json::json!([]), "{found}");
    found["findings"].as_array().unwrap().clone()
}

fn about<'a>(findings: &'a [Value], holder: &str) -> Vec<&'a Value> {
    findings.iter().filter(|f| f["holder"] == holder).collect()
}

fn holds_role(server: &Mariadb, user: &str) -> bool {
    let found: Option<u8> = server
        .root()
        .unwrap()
        .exec_first(
            "SELECT 1 FROM mysql.roles_mapping WHERE User = ? AND Role = ?",
            (user, ROLE),
        )
        .unwrap();
    found.is_some()
}

fn grants_of(server: &Mariadb, account: &str) -> Vec<String> {
    server
        .root()
        .unwrap()
        .query(format!("SHOW GRANTS FOR {account}"))
        .unwrap()
}

#[test]
fn a_role_and_a_privilege_held_by_hand_are_found_once_and_adopted() {
    let server = mariadb_server::shared();
    setup(server);
    let w = world(server);
    let member = format!("dmy_{REQUESTER}");
    root(
        server,
        &[
            format!("DROP USER IF EXISTS '{member}'@'%'"),
            format!("CREATE USER '{member}'@'%' IDENTIFIED BY 'member-Pass-1'"),
            format!("GRANT {ROLE} TO '{member}'@'%'"),
            "DROP USER IF EXISTS 'dmy_reader'@'%'".to_owned(),
            "CREATE USER 'dmy_reader'@'%'".to_owned(),
            format!("GRANT SELECT, UPDATE ON {DATABASE}.* TO 'dmy_reader'@'%'"),
            "DROP USER IF EXISTS 'dmy_super'@'%'".to_owned(),
            "CREATE USER 'dmy_super'@'%'".to_owned(),
            "GRANT SUPER ON *.* TO 'dmy_super'@'%'".to_owned(),
        ],
    );
    let findings = discover(&w);
    let holder = format!("'{member}'@'%'");
    let standing = about(&findings, &holder);
    assert_eq!(standing.len(), 1, "{findings:#?}");
    let standing = standing[0];
    assert_eq!(standing["kind"], "standing");
    assert_eq!(standing["entitlement"], format!("role {ROLE}"));
    assert_eq!(standing["role"], "db-role");
    assert_eq!(standing["subject"], format!("user:{REQUESTER}"));
    assert_eq!(standing["backend"], "mysql");
    // The privilege an ephemeral role hands out, held on the same database: only what the
    // role grants (SELECT), not UPDATE.
    let reader = about(&findings, "'dmy_reader'@'%'");
    assert_eq!(reader.len(), 1, "{findings:#?}");
    assert_eq!(reader[0]["kind"], "standing");
    assert_eq!(reader[0]["entitlement"], format!("SELECT ON {DATABASE}.*"));
    assert_eq!(reader[0]["role"], "db-eph");
    assert_eq!(reader[0]["subject"], Value::Null);
    // Admin-level rights: reported only; root too, but not mariadb.sys nor jit's admin.
    let sup = about(&findings, "'dmy_super'@'%'");
    assert_eq!(sup.len(), 1, "{findings:#?}");
    assert_eq!(sup[0]["kind"], "admin");
    assert_eq!(sup[0]["entitlement"], "SUPER ON *.*");
    assert_eq!(sup[0]["removable"], false);
    let root_found = about(&findings, "'root'@'localhost'");
    assert_eq!(root_found.len(), 1, "{findings:#?}");
    assert_eq!(
        root_found[0]["entitlement"],
        "ALL PRIVILEGES, GRANT OPTION ON *.*"
    );
    assert!(about(&findings, "'mariadb.sys'@'localhost'").is_empty());
    assert!(about(&findings, "'jit_admin'@'127.0.0.1'").is_empty());

    // Adopting the privilege revokes what the role hands out, and only that.
    w.jit([
        "discover",
        "--adopt",
        reader[0]["id"].as_str().unwrap(),
        "--yes",
    ])
    .run()
    .success()
    .stdout_has(&format!(
        "removed SELECT ON {DATABASE}.* from 'dmy_reader'@'%' on target \"db\""
    ));
    assert_eq!(
        grants_of(server, "'dmy_reader'@'%'"),
        [
            "GRANT USAGE ON *.* TO `dmy_reader`@`%`".to_owned(),
            format!("GRANT UPDATE ON `{DATABASE}`.* TO `dmy_reader`@`%`"),
        ]
    );

    // Before adoption the holder may not ask for the role; after, with the printed rule.
    w.jit(["request", "--role", "db-role"])
        .by(REQUESTER)
        .run()
        .code(3);
    let id = standing["id"].as_str().unwrap();
    let adopted = w.jit(["discover", "--adopt", id, "--yes"]).run().success();
    assert!(!holds_role(server, &member), "the role is revoked");
    let (first, rule) = adopted.stdout.split_once('\n').unwrap();
    assert_eq!(
        first,
        format!("removed role {ROLE} from {holder} on target \"db\" (finding {id})")
    );
    assert!(rule.contains("[[eligibility]]"), "{}", adopted.stdout);
    let text = std::fs::read_to_string(w.config_path()).unwrap();
    w.write_config(&format!("{text}\n{rule}"));
    let lease = w
        .jit(["request", "--role", "db-role", "--json"])
        .by(REQUESTER)
        .run()
        .success()
        .json();
    assert!(holds_role(server, &member));
    // A live lease is no finding.
    assert!(about(&discover(&w), &holder).is_empty());
    w.jit(["revoke", lease["id"].as_str().unwrap()])
        .by(REQUESTER)
        .run()
        .success();
    assert!(!holds_role(server, &member));
    root(
        server,
        &[
            format!("DROP USER '{member}'@'%'"),
            "DROP USER 'dmy_reader'@'%'".to_owned(),
            "DROP USER 'dmy_super'@'%'".to_owned(),
        ],
    );
}

#[test]
fn leftover_accounts_are_known_by_the_mark_on_their_event() {
    let server = mariadb_server::shared();
    setup(server);
    let w = world(server);
    let forgotten = w.granted("db-eph", &[]);
    let user = format!("jit_{forgotten}");
    let comment: Option<String> = server
        .root()
        .unwrap()
        .exec_first(
            "SELECT EVENT_COMMENT FROM information_schema.EVENTS WHERE EVENT_NAME = ?",
            (format!("jit_expire_{forgotten}"),),
        )
        .unwrap();
    assert_eq!(comment, Some(format!("jit:{}:{forgotten}", store_name(&w))));
    let live = w.granted("db-eph", &[]);
    open_store(&w)
        .execute("DELETE FROM leases WHERE id = ?1", [&forgotten])
        .unwrap();
    let other = world(server);
    let theirs = other.granted("db-eph", &[]);
    root(
        server,
        &[
            "DROP USER IF EXISTS 'jit_dmynomark'@'%'".to_owned(),
            "CREATE USER 'jit_dmynomark'@'%'".to_owned(),
        ],
    );

    let findings = discover(&w);
    let holder = format!("'{user}'@'%'");
    let left = about(&findings, &holder);
    assert_eq!(left.len(), 1, "{findings:#?}");
    assert_eq!(left[0]["kind"], "leftover");
    assert_eq!(left[0]["entitlement"], format!("account {holder}"));
    assert!(about(&findings, &format!("'jit_{live}'@'%'")).is_empty());
    assert!(
        about(&findings, &format!("'jit_{theirs}'@'%'")).is_empty(),
        "another store's account is left alone: {findings:#?}"
    );
    let nomark = about(&findings, "'jit_dmynomark'@'%'");
    assert_eq!(nomark.len(), 1, "{findings:#?}");
    assert_eq!(nomark[0]["kind"], "unmarked");
    assert_eq!(nomark[0]["removable"], false);

    w.jit([
        "discover",
        "--adopt",
        nomark[0]["id"].as_str().unwrap(),
        "--yes",
    ])
    .run()
    .code(2);
    assert!(server.user_exists("jit_dmynomark"));
    w.jit([
        "discover",
        "--adopt",
        left[0]["id"].as_str().unwrap(),
        "--yes",
    ])
    .run()
    .success();
    assert!(!server.user_exists(&user));
    let event: Option<String> = server
        .root()
        .unwrap()
        .exec_first(
            "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_NAME = ?",
            (format!("jit_expire_{forgotten}"),),
        )
        .unwrap();
    assert_eq!(event, None, "its expiry event is dropped with it");
    assert!(server.user_exists(&format!("jit_{live}")));
    assert!(server.user_exists(&format!("jit_{theirs}")));
    w.jit(["revoke", &live]).run().success();
    other.jit(["revoke", &theirs]).run().success();
    root(server, &["DROP USER 'jit_dmynomark'@'%'".to_owned()]);
}

#[test]
fn with_the_scheduler_off_a_disabled_event_carries_the_mark() {
    let server = Mariadb::create();
    server.start();
    server.setup();
    setup_on(&server);
    root(&server, &["SET GLOBAL event_scheduler = OFF".to_owned()]);
    let w = world(&server);
    let forgotten = w.granted("db-eph", &[]);
    let marker: Option<(String, String)> = server
        .root()
        .unwrap()
        .exec_first(
            "SELECT STATUS, EVENT_COMMENT FROM information_schema.EVENTS WHERE EVENT_NAME = ?",
            (format!("jit_mark_{forgotten}"),),
        )
        .unwrap();
    assert_eq!(
        marker,
        Some((
            "DISABLED".to_owned(),
            format!("jit:{}:{forgotten}", store_name(&w))
        ))
    );
    open_store(&w)
        .execute("DELETE FROM leases WHERE id = ?1", [&forgotten])
        .unwrap();
    let findings = discover(&w);
    let left = about(&findings, &format!("'jit_{forgotten}'@'%'"));
    assert_eq!(left.len(), 1, "{findings:#?}");
    assert_eq!(left[0]["kind"], "leftover");
    w.jit([
        "discover",
        "--adopt",
        left[0]["id"].as_str().unwrap(),
        "--yes",
    ])
    .run()
    .success();
    assert!(!server.user_exists(&format!("jit_{forgotten}")));
    let events: Option<u64> = server
        .root()
        .unwrap()
        .query_first("SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_NAME LIKE 'jit%'")
        .unwrap();
    assert_eq!(events, Some(0));
}
