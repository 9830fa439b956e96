//! The mysql backend against a real MariaDB: every proof logs in over TCP with the issued
//! password.

use crate::harness::*;
use crate::mariadb_server::{self, Mariadb};
use mysql::prelude::Queryable;
use std::time::{Duration, Instant};

fn mysql_world(server: &Mariadb) -> World {
    let w = World::empty();
    w.write_config(&format!(
        "{target}\n[roles.db-eph]\ntarget = \"db\"\nmax_ttl = \"1h\"\ngrant = {{ mode = \"ephemeral\", grants = [\"SELECT, INSERT ON app.*\"] }}\n\n\
         [roles.db-role]\ntarget = \"db\"\nmax_ttl = \"1h\"\ngrant = {{ mode = \"role\", roles = [\"app_rw\"], account = \"app_{{user}}\" }}\n\n\
         [[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"*\"]\n",
        target = server.target("db", w.dir.path()),
        me = me(),
    ));
    w
}

fn ephemeral(w: &World, ttl: &str) -> (String, String, String) {
    let lease = w
        .jit(["request", "--role", "db-eph", "--ttl", ttl, "--json"])
        .run()
        .success()
        .json();
    let c = &lease["credentials"];
    (
        lease["id"].as_str().unwrap().to_owned(),
        c["MYSQL_USER"].as_str().unwrap().to_owned(),
        c["MYSQL_PWD"].as_str().unwrap().to_owned(),
    )
}

fn count(conn: &mut mysql::Conn) -> Result<Option<i64>, mysql::Error> {
    conn.query_first("SELECT COUNT(*) FROM accounts")
}

#[test]
fn the_issued_account_works_during_the_lease_and_not_after_revoke() {
    let server = mariadb_server::shared();
    let w = mysql_world(server);
    let (id, user, password) = ephemeral(&w, "20m");
    assert_eq!(user, format!("jit_{id}"));
    let mut session = server
        .login(&user, &password)
        .expect("the issued account logs in");
    assert_eq!(count(&mut session).unwrap(), Some(2));
    drop(session);
    w.jit(["revoke", &id]).run().success();
    assert!(
        server.login(&user, &password).is_err(),
        "refused after revoke"
    );
    assert!(!server.user_exists(&user));
    w.jit(["revoke", &id])
        .run()
        .success()
        .stdout_has("already revoked");
}

#[test]
fn a_connection_open_at_revoke_is_killed() {
    let server = mariadb_server::shared();
    let w = mysql_world(server);
    let (id, user, password) = ephemeral(&w, "20m");
    let mut session = server.login(&user, &password).unwrap();
    assert_eq!(count(&mut session).unwrap(), Some(2));
    w.jit(["revoke", &id]).run().success();
    assert!(
        count(&mut session).is_err(),
        "the open connection survived the revoke"
    );
}

#[test]
fn the_account_is_dropped_at_the_lease_end_without_jit() {
    let server = mariadb_server::shared();
    let w = mysql_world(server);
    let (id, user, password) = ephemeral(&w, "2s");
    let mut open = server.login(&user, &password).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.user_exists(&user) {
        assert!(
            Instant::now() < deadline,
            "the expiry event did not drop the account"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(server.login(&user, &password).is_err());
    assert_eq!(w.state_of(&id), "active", "the server ended it, not jit");
    // A session opened during the lease outlives DROP USER; sweep ends it.
    assert_eq!(count(&mut open).unwrap(), Some(2));
    w.jit(["sweep"])
        .run()
        .success()
        .stdout_has(&format!("{id}: expired"));
    assert!(count(&mut open).is_err(), "the session survived the sweep");
}

#[test]
fn a_grant_interrupted_before_active_leaves_no_account_after_sweep() {
    let server = mariadb_server::shared();
    let w = mysql_world(server);
    let run = w
        .jit(["request", "--role", "db-eph"])
        .env("JIT_FAULT", "after-grant")
        .run();
    assert_eq!(run.code, None);
    let id = w.leases()[0]["id"].as_str().unwrap().to_owned();
    assert!(server.user_exists(&format!("jit_{id}")));
    w.jit(["sweep"])
        .run()
        .success()
        .stdout_has(&format!("{id}: failed"));
    assert!(!server.user_exists(&format!("jit_{id}")));
}

#[test]
fn a_server_down_during_revoke_leaves_revoke_failed_until_sweep() {
    let server = Mariadb::create();
    server.start();
    server.setup();
    let w = mysql_world(&server);
    let (id, user, _) = ephemeral(&w, "20m");
    server.stop();
    w.jit(["revoke", &id])
        .run()
        .code(6)
        .stdout_has("revocation failed");
    assert_eq!(w.state_of(&id), "revoke-failed");
    server.start();
    assert!(server.user_exists(&user), "nothing was reported done");
    w.jit(["sweep"])
        .later(31)
        .run()
        .success()
        .stdout_has(&format!("{id}: revoked"));
    assert!(!server.user_exists(&user));
}

#[test]
fn role_mode_grants_and_revokes_on_an_existing_account() {
    let server = mariadb_server::shared();
    let w = mysql_world(server);
    let account = member_account(server, "app");
    let reads = || {
        server
            .login(&account, "member-Pass-1")
            .and_then(|mut c| count(&mut c))
            .ok()
            .flatten()
    };
    assert_eq!(reads(), None, "no access before");
    let lease = w
        .jit(["request", "--role", "db-role", "--json"])
        .run()
        .success()
        .json();
    let id = lease["id"].as_str().unwrap();
    assert_eq!(reads(), Some(2), "the role is in force in a new session");
    let mut open = server.login(&account, "member-Pass-1").unwrap();
    w.jit(["revoke", id]).run().success();
    assert!(
        count(&mut open).is_err(),
        "a session with the role enabled survived the revoke"
    );
    assert_eq!(reads(), None, "no access after");
    assert!(
        server.user_exists(&account),
        "the account itself is not jit's to drop"
    );
}

#[test]
fn a_grant_failing_after_the_account_is_created_fails_and_leaves_nothing() {
    // The account, its privileges, its roles and its event go to the server in one round
    // trip: the failing role statement comes after CREATE USER and GRANT succeeded.
    let server = mariadb_server::shared();
    let w = mysql_world(server);
    let config = std::fs::read_to_string(w.config_path()).unwrap();
    w.write_config(&format!(
        "{config}\n[roles.db-bad]\ntarget = \"db\"\nmax_ttl = \"1h\"\n\
         grant = {{ mode = \"ephemeral\", grants = [\"SELECT ON app.*\"], roles = [\"no_such_role\"] }}\n"
    ));
    w.jit(["request", "--role", "db-bad"])
        .run()
        .code(1)
        .stderr_has("granting role \"db-bad\" on target \"db\" failed: MySQL 1959: Invalid role specification `no_such_role`");
    let leases = w.leases();
    let failed = leases
        .iter()
        .find(|l| l["role"] == "db-bad")
        .expect("the lease is recorded");
    let id = failed["id"].as_str().unwrap();
    assert_eq!(failed["state"], "failed");
    assert!(
        !server.user_exists(&format!("jit_{id}")),
        "the account was dropped"
    );
    assert_eq!(event_time(server, id), None, "no expiry event was created");
}

#[test]
fn role_mode_revoke_of_a_role_an_admin_already_took_away_succeeds() {
    let server = mariadb_server::shared();
    let w = mysql_world(server);
    // An account of its own: the tests run at once on the shared server.
    let account = member_account(server, "taken");
    let config = std::fs::read_to_string(w.config_path()).unwrap();
    w.write_config(&config.replace("account = \"app_{user}\"", "account = \"taken_{user}\""));
    let mut root = server.root().unwrap();
    let lease = w
        .jit(["request", "--role", "db-role", "--json"])
        .run()
        .success()
        .json();
    let id = lease["id"].as_str().unwrap();
    root.query_drop(format!("REVOKE `app_rw` FROM '{account}'@'%'"))
        .unwrap();
    w.jit(["revoke", id])
        .run()
        .success()
        .stdout_has(&format!("revoked {id}"));
    assert_eq!(w.state_of(id), "revoked");
}

/// A fresh account `<prefix>_<me>`@'%' with the password `member-Pass-1`, for role mode.
fn member_account(server: &Mariadb, prefix: &str) -> String {
    let account = format!("{prefix}_{}", me());
    let mut root = server.root().unwrap();
    root.query_drop(format!("DROP USER IF EXISTS '{account}'@'%'"))
        .unwrap();
    root.query_drop(format!(
        "CREATE USER '{account}'@'%' IDENTIFIED BY 'member-Pass-1'"
    ))
    .unwrap();
    account
}

fn event_time(server: &Mariadb, id: &str) -> Option<String> {
    server
        .root()
        .unwrap()
        .exec_first(
            "SELECT DATE_FORMAT(EXECUTE_AT, '%Y-%m-%dT%H:%i:%s') FROM information_schema.EVENTS WHERE EVENT_NAME = ?",
            (format!("jit_expire_{id}"),),
        )
        .unwrap()
}

#[test]
fn extend_moves_the_expiry_event_and_revoke_removes_it() {
    let server = mariadb_server::shared();
    let w = mysql_world(server);
    let (id, _, _) = ephemeral(&w, "10m");
    let first = event_time(server, &id).expect("an expiry event at grant");
    let extended = w
        .jit(["extend", &id, "--ttl", "50m", "--json"])
        .run()
        .success()
        .json();
    let moved = event_time(server, &id).expect("the event is still there");
    assert_ne!(moved, first);
    // The event fires at the lease end (the server session runs in UTC).
    assert!(
        extended["expires_at"].as_str().unwrap().starts_with(&moved),
        "{moved} vs {}",
        extended["expires_at"]
    );
    w.jit(["revoke", &id]).run().success();
    assert_eq!(event_time(server, &id), None);
}

#[test]
fn with_the_scheduler_off_the_grant_and_doctor_say_expiry_needs_sweep() {
    let server = Mariadb::create();
    server.start();
    server.setup();
    server
        .root()
        .unwrap()
        .query_drop("SET GLOBAL event_scheduler = OFF")
        .unwrap();
    let w = mysql_world(&server);
    w.jit(["doctor"])
        .run()
        .success()
        .stdout_has("ok   target db: connect: jit_admin@127.0.0.1 on 127.0.0.1:")
        .stdout_has("target db: expiry backstop: the event scheduler is off (or no event_schema): expiry depends on `jit sweep`");
    let run = w
        .jit(["request", "--role", "db-eph", "--ttl", "10m"])
        .run()
        .success();
    let run = run.stderr_has(
        "jit: note: db has no event scheduler running: the account outlives the lease end until `jit sweep` runs",
    );
    let id = run
        .stdout
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(':')
        .to_owned();
    assert_eq!(event_time(&server, &id), None);
    assert!(server.user_exists(&format!("jit_{id}")));
}

#[test]
fn a_session_the_admin_cannot_kill_leaves_the_revoke_failed() {
    let server = mariadb_server::shared();
    let weak = format!("weak_{}", std::process::id());
    let mut root = server.root().unwrap();
    for statement in [
        format!("CREATE USER {weak}@'127.0.0.1' IDENTIFIED BY 'weak-Pass-1'"),
        format!("GRANT CREATE USER, PROCESS ON *.* TO {weak}@'127.0.0.1'"),
        format!("GRANT SELECT, INSERT, EVENT ON app.* TO {weak}@'127.0.0.1' WITH GRANT OPTION"),
        format!("GRANT SELECT ON mysql.user TO {weak}@'127.0.0.1'"),
    ] {
        root.query_drop(statement).unwrap();
    }
    let w = mysql_world(server);
    let config = std::fs::read_to_string(w.config_path()).unwrap().replace(
        &format!("mysql://{}@", mariadb_server::ADMIN),
        &format!("mysql://{weak}@"),
    );
    std::fs::write(w.dir.path().join("db.password"), "weak-Pass-1").unwrap();
    w.write_config(&config);
    let (id, user, password) = ephemeral(&w, "20m");
    let mut session = server.login(&user, &password).unwrap();
    w.jit(["revoke", &id])
        .run()
        .code(6)
        .stdout_has("revocation failed: MySQL 1095");
    assert_eq!(w.state_of(&id), "revoke-failed");
    assert_eq!(
        count(&mut session).unwrap(),
        Some(2),
        "the session is still open: nothing may say otherwise"
    );
    // With the right to end sessions, sweep finishes it.
    root.query_drop(format!(
        "GRANT CONNECTION ADMIN ON *.* TO {weak}@'127.0.0.1'"
    ))
    .unwrap();
    w.jit(["sweep"])
        .later(31)
        .run()
        .success()
        .stdout_has(&format!("{id}: revoked"));
    assert!(count(&mut session).is_err());
    assert!(!server.user_exists(&user));
}

#[test]
fn a_server_that_hangs_up_is_reported_in_words_not_driver_structs() {
    // A listener that takes each connection and closes it at once, before the handshake.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    let w = World::empty();
    let secret = w.path("db.password");
    std::fs::write(&secret, "unused").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    w.write_config(&format!(
        "[targets.db]\nbackend = \"mysql\"\nurl = \"mysql://jit_admin@127.0.0.1:{port}/app\"\npassword = \"file:{}\"\nconnect_timeout = \"3s\"\n\n\
         [roles.db-eph]\ntarget = \"db\"\nmax_ttl = \"1h\"\ngrant = {{ mode = \"ephemeral\", grants = [\"SELECT ON app.*\"] }}\n\n\
         [[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"*\"]\n",
        secret.display(),
        me = me(),
    ));
    let run = w.jit(["request", "--role", "db-eph"]).run().code(1);
    let error = run.stderr.lines().next().unwrap_or_default().to_owned();
    assert!(
        error.starts_with(&format!(
            "jit: error: granting role \"db-eph\" on target \"db\" failed: connecting to 127.0.0.1:{port}: MySQL connection: "
        )),
        "{error}"
    );
    for debug in ["IoError", "DriverError", "CodecError", " { ", "Kind("] {
        assert!(!error.contains(debug), "{error}");
    }
    let doctor = w.jit(["doctor"]).run().code(1).stdout;
    assert!(
        doctor.contains(&format!(
            "FAIL target db: connect: connecting to 127.0.0.1:{port}: MySQL connection: "
        )) && !doctor.contains("IoError"),
        "{doctor}"
    );
}
