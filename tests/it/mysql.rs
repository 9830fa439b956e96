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

/// An admin account of its own, `name@127.0.0.1`, holding `rights` (statements with `{admin}`
/// for the account), and a world whose target logs in as it.
fn world_with_admin(server: &Mariadb, name: &str, rights: &[&str]) -> World {
    let mut root = server.root().unwrap();
    root.query_drop(format!(
        "CREATE USER {name}@'127.0.0.1' IDENTIFIED BY 'narrow-Pass-1'"
    ))
    .unwrap();
    for statement in rights {
        root.query_drop(statement.replace("{admin}", &format!("{name}@'127.0.0.1'")))
            .unwrap();
    }
    let w = mysql_world(server);
    let config = std::fs::read_to_string(w.config_path()).unwrap().replace(
        &format!("mysql://{}@", mariadb_server::ADMIN),
        &format!("mysql://{name}@"),
    );
    std::fs::write(w.dir.path().join("db.password"), "narrow-Pass-1").unwrap();
    w.write_config(&config);
    w
}

/// Every right docs/backends/mysql.md lists for the roles of `mysql_world`.
const EVERY_RIGHT: [&str; 6] = [
    "GRANT CREATE USER, PROCESS, CONNECTION ADMIN ON *.* TO {admin}",
    "GRANT SELECT ON mysql.user TO {admin}",
    "GRANT UPDATE ON mysql.* TO {admin}",
    "GRANT SELECT, INSERT ON app.* TO {admin} WITH GRANT OPTION",
    "GRANT EVENT ON app.* TO {admin}",
    "GRANT app_rw TO {admin} WITH ADMIN OPTION",
];

/// Wait, at most 30 s, until root sees a session of `user` running a statement.
fn await_session(server: &Mariadb, user: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut root = server.root().unwrap();
    loop {
        let running: Option<i64> = root
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ? AND INFO LIKE 'select sleep%'",
                (user,),
            )
            .unwrap();
        if running == Some(1) {
            return;
        }
        assert!(Instant::now() < deadline, "no session of {user} appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_admin_without_process_cannot_report_a_revoke_done() {
    let server = mariadb_server::shared();
    let admin = format!("noproc_{}", std::process::id());
    let rights: Vec<&str> = EVERY_RIGHT
        .iter()
        .map(|r| {
            if r.starts_with("GRANT CREATE USER") {
                "GRANT CREATE USER, CONNECTION ADMIN ON *.* TO {admin}"
            } else {
                r
            }
        })
        .collect();
    let w = world_with_admin(server, &admin, &rights);
    let account = format!("'{admin}'@'127.0.0.1'");
    w.jit(["doctor"])
        .run()
        .code(1)
        .stdout_has(&format!(
            "FAIL target db: right PROCESS: {admin}@127.0.0.1 lacks PROCESS (a revoke cannot see the sessions it must end): GRANT PROCESS ON *.* TO {account}\n"
        ))
        .stdout_has(&format!(
            "ok   target db: right CONNECTION ADMIN: {admin}@127.0.0.1 may end other accounts' sessions\n"
        ));

    let (id, user, password) = ephemeral(&w, "20m");
    let started = Instant::now();
    let client = std::process::Command::new("mariadb")
        .args(["--no-defaults", "-h", "127.0.0.1", "-P"])
        .arg(server.port.to_string())
        .args(["-u", &user, "-e", "select sleep(20)"])
        .env("MYSQL_PWD", &password)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    await_session(server, &user);
    w.jit(["revoke", &id]).run().code(6).stdout_has(&format!(
        "{id}: revocation failed: {admin}@127.0.0.1 lacks PROCESS, so it sees no other account's sessions: the open sessions of '{user}' cannot be found and ended (GRANT PROCESS ON *.* TO {account})"
    ));
    assert_eq!(w.state_of(&id), "revoke-failed");
    let mut client = client;
    assert!(
        client.try_wait().unwrap().is_none(),
        "the session is still running: nothing may say it ended"
    );
    assert!(server.user_exists(&user), "the account stays, locked");
    assert!(server.login(&user, &password).is_err(), "locked");

    // With the right, the next revoke ends the session and the account.
    server
        .root()
        .unwrap()
        .query_drop(format!("GRANT PROCESS ON *.* TO {account}"))
        .unwrap();
    w.jit(["doctor"]).run().success().stdout_has(&format!(
        "ok   target db: right PROCESS: {admin}@127.0.0.1 sees every account's sessions\n"
    ));
    w.jit(["revoke", &id])
        .run()
        .success()
        .stdout_has(&format!("revoked {id}\n"));
    let ended = Run::from(client.wait_with_output().unwrap());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "ended by the revoke"
    );
    ended
        .code(1)
        .stderr_has("Lost connection to server during query");
    assert!(!server.user_exists(&user));
}

#[test]
fn a_role_revoke_without_process_is_not_done() {
    let server = mariadb_server::shared();
    let admin = format!("noprocr_{}", std::process::id());
    let member = member_account(server, "np");
    let rights: Vec<&str> = EVERY_RIGHT
        .iter()
        .map(|r| {
            if r.starts_with("GRANT CREATE USER") {
                "GRANT CREATE USER, CONNECTION ADMIN ON *.* TO {admin}"
            } else {
                r
            }
        })
        .collect();
    let w = world_with_admin(server, &admin, &rights);
    let config = std::fs::read_to_string(w.config_path()).unwrap().replace(
        "account = \"app_{user}\"",
        &format!("account = \"{member}\""),
    );
    w.write_config(&config);
    let id = w
        .jit(["request", "--role", "db-role", "--quiet"])
        .run()
        .success()
        .stdout
        .trim()
        .to_owned();
    w.jit(["revoke", &id]).run().code(6).stdout_has(&format!(
        "{id}: revocation failed: {admin}@127.0.0.1 lacks PROCESS, so it sees no other account's sessions: the open sessions of '{member}' cannot be found and ended"
    ));
    assert_eq!(w.state_of(&id), "revoke-failed");
}

#[test]
fn doctor_names_every_right_the_admin_lacks_and_the_statement() {
    let server = mariadb_server::shared();
    let admin = format!("bare_{}", std::process::id());
    // EVENT on app only: without a right on the URL's database, it could not even log in.
    let w = world_with_admin(server, &admin, &["GRANT EVENT ON app.* TO {admin}"]);
    let (user, account) = (
        format!("{admin}@127.0.0.1"),
        format!("'{admin}'@'127.0.0.1'"),
    );
    let run = w.jit(["doctor"]).run().code(1).stdout_has(&format!(
        "ok   target db: EVENT on app: {user} may create and drop the expiry events in \"app\"\n"
    ));
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .collect();
    assert_eq!(
        lines,
        [
            format!(
                "FAIL target db: right CREATE USER: {user} lacks CREATE USER: GRANT CREATE USER ON *.* TO {account}"
            ),
            format!(
                "FAIL target db: SELECT on mysql.user: {user} lacks SELECT on mysql.user: GRANT SELECT ON mysql.user TO {account}"
            ),
            format!(
                "FAIL target db: right PROCESS: {user} lacks PROCESS (a revoke cannot see the sessions it must end): GRANT PROCESS ON *.* TO {account}"
            ),
            format!(
                "FAIL target db: right CONNECTION ADMIN: {user} lacks CONNECTION ADMIN (a revoke cannot end the sessions it finds): GRANT CONNECTION ADMIN ON *.* TO {account}"
            ),
            format!(
                "FAIL target db: GRANT OPTION for INSERT on app.*: {user} lacks GRANT OPTION for INSERT on app.*: GRANT INSERT ON `app`.* TO {account} WITH GRANT OPTION"
            ),
            format!(
                "FAIL target db: GRANT OPTION for SELECT on app.*: {user} lacks GRANT OPTION for SELECT on app.*: GRANT SELECT ON `app`.* TO {account} WITH GRANT OPTION"
            ),
            format!(
                "FAIL target db: role app_rw: {user} lacks ADMIN OPTION on \"app_rw\": GRANT `app_rw` TO {account} WITH ADMIN OPTION"
            ),
            format!(
                "FAIL target db: UPDATE on mysql.*: {user} lacks UPDATE on mysql.* (SET DEFAULT ROLE ... FOR another account): GRANT UPDATE ON mysql.* TO {account}"
            ),
        ]
    );
    // Each statement, run as printed, is what was missing.
    let mut root = server.root().unwrap();
    for line in &lines {
        let statement = &line[line.rfind(": GRANT ").unwrap() + 2..];
        root.query_drop(statement).unwrap();
    }
    let run = w.jit(["doctor"]).run().success();
    assert!(!run.stdout.contains("FAIL"), "{}", run.stdout);
}

#[test]
fn a_grant_that_never_reached_the_server_is_failed_not_retried() {
    let server = mariadb_server::shared();
    // Nothing listening (a stopped server looks the same).
    let w = mysql_world(server);
    let config = std::fs::read_to_string(w.config_path()).unwrap();
    w.write_config(&config.replace(
        &format!("127.0.0.1:{}/", server.port),
        &format!("127.0.0.1:{}/", free_port()),
    ));
    crate::crash::assert_reached_nothing(&w, "db-eph", "connecting to");

    // A wrong admin password: the login is refused before anything is sent.
    let w = mysql_world(server);
    std::fs::write(w.path("db.password"), "not-the-password").unwrap();
    let id = crate::crash::assert_reached_nothing(&w, "db-eph", "Access denied");
    assert!(!server.user_exists(&format!("jit_{id}")));
}

#[test]
fn a_grant_a_killed_jit_left_waiting_on_the_server_never_lands() {
    let server = mariadb_server::shared();
    let w = mysql_world(server);
    // A global read lock held elsewhere: the grant's CREATE USER waits on the server.
    let mut holder = server.root().unwrap();
    holder.query_drop("FLUSH TABLES WITH READ LOCK").unwrap();
    let mut jit = w.jit(["request", "--role", "db-eph"]).spawn();
    let mut watch = server.root().unwrap();
    let mut waiting = |id: &str| -> usize {
        let ids: Vec<u64> = watch
            .exec(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE LOCATE(?, INFO) > 0",
                (format!("'jit_{id}'@"),),
            )
            .unwrap();
        ids.len()
    };
    let mut id = String::new();
    crate::crash::await_that("the grant to wait for the lock", || {
        if id.is_empty() {
            id = w
                .leases()
                .first()
                .and_then(|l| l["id"].as_str())
                .unwrap_or_default()
                .to_owned();
        }
        !id.is_empty() && waiting(&id) == 1
    });
    jit.kill().unwrap();
    jit.wait().unwrap();

    let swept = w.jit(["sweep"]).run();
    holder.query_drop("UNLOCK TABLES").unwrap();
    swept.success().stdout_has(&format!("{id}: failed"));
    crate::crash::await_that("the server to be done with the grant", || waiting(&id) == 0);
    assert!(
        !server.user_exists(&format!("jit_{id}")),
        "nothing landed once the lock was free"
    );
    assert_eq!(w.lease(&id)["events"][1]["details"]["found"], "absent");
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
