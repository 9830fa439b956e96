//! The postgres backend against a real server: every proof logs in over TCP with the
//! issued password, as a user would.

use crate::harness::*;
use crate::pg_cluster::{self, Cluster, DATABASE, GROUP};
use std::time::{Duration, Instant};

fn config(cluster: &Cluster, w: &World, extra: &str) -> String {
    format!(
        r#"[identity]
service_account = "{me}"

{target}
[roles.db-eph]
target = "db"
max_ttl = "1h"
grant = {{ mode = "ephemeral", roles = ["{GROUP}"], database_privileges = ["CONNECT"], schema_privileges = {{ public = ["USAGE", "CREATE"] }} }}

[roles.db-member]
target = "db"
max_ttl = "1h"
grant = {{ mode = "membership", roles = ["{GROUP}"], login = "app_{{user}}" }}
{extra}
[[eligibility]]
subjects = ["user:{me}"]
roles = ["*"]
"#,
        me = me(),
        target = cluster.target("db", w.dir.path()),
    )
}

fn pg_world(cluster: &Cluster) -> World {
    let w = World::empty();
    w.write_config(&config(cluster, &w, ""));
    w
}

/// Request an ephemeral login: (lease id, user, password).
fn ephemeral(w: &World, extra: &[&str]) -> (String, String, String) {
    let mut args = vec!["request", "--role", "db-eph", "--json"];
    args.extend_from_slice(extra);
    let lease = w.jit(args).run().success().json();
    let credentials = &lease["credentials"];
    (
        lease["id"].as_str().unwrap().to_owned(),
        credentials["PGUSER"].as_str().unwrap().to_owned(),
        credentials["PGPASSWORD"].as_str().unwrap().to_owned(),
    )
}

/// What the server said.
fn reason(err: &postgres::Error) -> String {
    err.as_db_error()
        .map_or_else(|| err.to_string(), |db| db.message().to_owned())
}

fn count_accounts(client: &mut postgres::Client) -> Result<i64, postgres::Error> {
    Ok(client
        .query_one("SELECT count(*) FROM accounts", &[])?
        .get(0))
}

#[test]
fn the_login_ends_at_the_lease_end_without_jit() {
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    let (id, user, password) = ephemeral(&w, &["--ttl", "2s"]);
    cluster
        .login(&user, &password)
        .expect("works during the lease");
    // No sweep runs: PostgreSQL itself refuses the login once VALID UNTIL passes.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match cluster.login(&user, &password) {
            Err(err) => {
                assert!(
                    reason(&err).contains("password authentication failed"),
                    "{err:?}"
                );
                break;
            }
            Ok(_) => assert!(
                Instant::now() < deadline,
                "the login still works past VALID UNTIL"
            ),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        w.state_of(&id),
        "active",
        "jit did nothing: the server enforced the end"
    );
    w.jit(["sweep"])
        .run()
        .success()
        .stdout_has(&format!("{id}: expired"));
    assert!(!cluster.role_exists(&user));
}

#[test]
fn a_session_open_at_revoke_is_terminated() {
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    let (id, user, password) = ephemeral(&w, &[]);
    let mut session = cluster.login(&user, &password).unwrap();
    assert_eq!(count_accounts(&mut session).unwrap(), 2);
    w.jit(["revoke", &id]).run().success();
    let after = count_accounts(&mut session);
    assert!(
        after.is_err(),
        "the open session survived the revoke: {after:?}"
    );
}

#[test]
fn a_login_that_created_a_table_can_still_be_dropped() {
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    let (id, user, password) = ephemeral(&w, &[]);
    let table = format!("made_by_{id}");
    let mut session = cluster.login(&user, &password).unwrap();
    session
        .batch_execute(&format!(
            "CREATE TABLE {table} (x int); INSERT INTO {table} VALUES (7)"
        ))
        .unwrap();
    drop(session);

    w.jit(["revoke", &id]).run().success();
    assert!(!cluster.role_exists(&user));
    // What it made is kept, now owned by the admin login.
    let owner: String = cluster
        .superuser(Some(DATABASE))
        .unwrap()
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = $1",
            &[&table],
        )
        .unwrap()
        .get(0);
    assert_eq!(owner, pg_cluster::ADMIN);
}

#[test]
fn a_server_down_during_revoke_leaves_revoke_failed_until_sweep() {
    // A cluster of its own: this test stops it.
    let cluster = Cluster::create();
    cluster.start();
    cluster.setup();
    let w = pg_world(&cluster);
    let (id, user, _) = ephemeral(&w, &[]);

    cluster.stop();
    w.jit(["revoke", &id])
        .run()
        .code(6)
        .stdout_has("revocation failed");
    assert_eq!(w.state_of(&id), "revoke-failed");

    cluster.start();
    assert!(
        cluster.role_exists(&user),
        "the login is still there: nothing was reported done"
    );
    w.jit(["sweep"])
        .later(31)
        .run()
        .success()
        .stdout_has(&format!("{id}: revoked"));
    assert!(!cluster.role_exists(&user));
    assert_eq!(
        w.event_kinds(&id),
        ["requested", "granted", "revoke-failed", "revoked"]
    );
}

#[test]
fn hostile_names_are_quoted_or_refused() {
    // A cluster of its own, so that "unchanged" means the whole server.
    let cluster = &Cluster::create();
    cluster.start();
    cluster.setup();
    // A group role whose name is SQL: quoted, so it is simply a role that does not exist.
    let w = World::empty();
    let hostile = r#"
[roles.evil-group]
target = "db"
max_ttl = "1h"
grant = { mode = "ephemeral", roles = ['app_rw"; DROP ROLE app_rw; --'] }

[roles.evil-login]
target = "db"
max_ttl = "1h"
grant = { mode = "membership", roles = ["app_rw"], login = "{user}'; DROP TABLE accounts; --" }
"#;
    w.write_config(&config(cluster, &w, hostile));
    let before = cluster.roles();
    w.jit(["request", "--role", "evil-group"])
        .run()
        .code(1)
        .stderr_has("role \"app_rw\"; DROP ROLE app_rw; --\" does not exist");
    w.jit(["request", "--role", "evil-login"])
        .run()
        .code(1)
        .stderr_has("does not exist");
    assert_eq!(cluster.roles(), before, "the database is unchanged");
    assert_eq!(
        count_accounts(&mut cluster.superuser(Some(DATABASE)).unwrap()).unwrap(),
        2,
        "accounts is still there"
    );

    // A real role with a quote in its name is granted correctly.
    let odd = format!("we\"ird_{}", std::process::id());
    cluster
        .superuser(None)
        .unwrap()
        .batch_execute(&format!(
            "CREATE ROLE \"{}\" NOLOGIN",
            odd.replace('"', "\"\"")
        ))
        .unwrap();
    let w = World::empty();
    let quoted = format!(
        "\n[roles.odd]\ntarget = \"db\"\nmax_ttl = \"1h\"\ngrant = {{ mode = \"ephemeral\", roles = ['{odd}'] }}\n"
    );
    w.write_config(&config(cluster, &w, &quoted));
    let lease = w
        .jit(["request", "--role", "odd", "--json"])
        .run()
        .success()
        .json();
    let user = lease["credentials"]["PGUSER"].as_str().unwrap();
    let member: bool = cluster
        .superuser(None)
        .unwrap()
        .query_one("SELECT pg_has_role($1, $2, 'MEMBER')", &[&user, &odd])
        .unwrap()
        .get(0);
    assert!(member);
}

#[test]
fn doctor_checks_connectivity_and_names_a_missing_right() {
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    w.jit(["doctor"])
        .run()
        .success()
        .stdout_has("ok   target db: connect: jit_admin on 127.0.0.1:")
        .stdout_has("ok   target db: right CREATEROLE: jit_admin may create and drop roles")
        .stdout_has("ok   target db: role app_rw: jit_admin may grant \"app_rw\"");

    let weak = format!("weak_admin_{}", std::process::id());
    cluster
        .superuser(None)
        .unwrap()
        .batch_execute(&format!(
            "CREATE ROLE {weak} LOGIN PASSWORD '{}'",
            pg_cluster::ADMIN_PASSWORD
        ))
        .unwrap();
    let weakened =
        config(cluster, &w, "").replace("postgres://jit_admin@", &format!("postgres://{weak}@"));
    w.write_config(&weakened);
    w.jit(["doctor"])
        .run()
        .code(1)
        .stdout_has(&format!(
            "FAIL target db: right CREATEROLE: {weak} lacks CREATEROLE: ALTER ROLE {weak} CREATEROLE\n"
        ))
        .stdout_has(&format!(
            "FAIL target db: role app_rw: {weak} may not grant \"app_rw\": before PostgreSQL 16 that needs CREATEROLE or ADMIN OPTION on the role: ALTER ROLE {weak} CREATEROLE (or GRANT app_rw TO {weak} WITH ADMIN OPTION)\n"
        ));
    // With ADMIN OPTION on the group role, granting it is right; creating roles still is not.
    cluster
        .superuser(None)
        .unwrap()
        .batch_execute(&format!("GRANT app_rw TO {weak} WITH ADMIN OPTION"))
        .unwrap();
    w.jit(["doctor"])
        .run()
        .code(1)
        .stdout_has(&format!(
            "ok   target db: role app_rw: {weak} may grant \"app_rw\"\n"
        ))
        .stdout_has(&format!(
            "FAIL target db: right CREATEROLE: {weak} lacks CREATEROLE"
        ));

    // An unreachable server is named, with the reason.
    let w = World::empty();
    let unreachable = config(cluster, &w, "").replace(&format!(":{}/", cluster.port), ":1/");
    w.write_config(&unreachable);
    w.jit(["doctor"])
        .run()
        .code(1)
        .stdout_has("FAIL target db: connect: connecting to 127.0.0.1:1/app");
}

#[test]
fn postgres_configuration_errors() {
    let w = World::empty();
    let cases = [
        (
            "url = \"postgres://admin:hunter2@db/app\"",
            "url holds a password: a literal secret is refused",
        ),
        (
            "url = \"postgres://admin@db/app?sslmode=maybe\"",
            "sslmode \"maybe\" is not one of",
        ),
        (
            "url = \"postgres://admin@db/app\"\npassword = \"hunter2\"",
            "password: a secret must be a reference",
        ),
    ];
    for (target, message) in cases {
        w.write_config(&format!(
            "[targets.db]\nbackend = \"postgres\"\n{target}\n\n[roles.r]\ntarget = \"db\"\nmax_ttl = \"1h\"\ngrant = {{ mode = \"ephemeral\", roles = [\"x\"] }}\n"
        ));
        let run = w.jit(["config", "check"]).run().code(5).stderr_has(message);
        assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);
    }
    w.write_config("[targets.db]\nbackend = \"postgres\"\nurl = \"postgres://admin@db/app\"\n\n[roles.r]\ntarget = \"db\"\nmax_ttl = \"1h\"\ngrant = { mode = \"sometimes\" }\n");
    w.jit(["config", "check"])
        .run()
        .code(5)
        .stderr_has(":8:18: grant.mode \"sometimes\" is not one of ephemeral, membership");
}

#[test]
fn exec_puts_the_login_in_the_environment_and_revokes_after() {
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    let run = w
        .jit([
            "exec",
            "--role",
            "db-eph",
            "--",
            "psql",
            "-tAc",
            "SELECT current_user || ' ' || count(*) FROM accounts",
        ])
        .run()
        .success();
    let line = run.stdout.trim();
    let (user, count) = line.split_once(' ').unwrap();
    assert!(user.starts_with("jit_"), "{line}");
    assert_eq!(count, "2");
    assert!(!cluster.role_exists(user), "revoked when the command ended");
}

#[test]
fn concurrent_requests_on_one_server_all_succeed() {
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    let children: Vec<_> = (0..8)
        .map(|_| w.jit(["request", "--role", "db-eph", "-q"]).spawn())
        .collect();
    let ids: Vec<String> = children
        .into_iter()
        .map(|child| {
            let run = Run::from(child.wait_with_output().unwrap()).success();
            // -q prints the id, then the credentials as KEY=VALUE lines.
            assert!(run.stdout.contains("PGPASSWORD="));
            run.stdout.lines().next().unwrap().to_owned()
        })
        .collect();
    for id in &ids {
        assert!(cluster.role_exists(&format!("jit_{id}")));
    }
    let revokes: Vec<_> = ids
        .iter()
        .map(|id| w.jit(["revoke", id.as_str()]).spawn())
        .collect();
    for child in revokes {
        Run::from(child.wait_with_output().unwrap()).success();
    }
    for id in &ids {
        assert!(!cluster.role_exists(&format!("jit_{id}")));
    }
}

#[test]
fn tls_is_used_when_the_url_asks_for_it() {
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    let with = |query: &str| config(cluster, &w, "").replace("?sslmode=disable", query);

    w.write_config(&with("?sslmode=disable"));
    w.jit(["doctor"]).run().success().stdout_has("without TLS)");

    w.write_config(&with("?sslmode=require"));
    w.jit(["doctor"]).run().success().stdout_has("over TLS)");
    let lease = w
        .jit(["request", "--role", "db-eph", "--json"])
        .run()
        .success()
        .json();
    assert_eq!(lease["credentials"]["PGSSLMODE"], "require");

    // verify-full checks the self-signed certificate: refused unless it is trusted.
    w.write_config(&with("?sslmode=verify-full"));
    w.jit(["doctor"])
        .run()
        .code(1)
        .stdout_has("FAIL target db: connect:");
    let trusted = format!(
        "?sslmode=verify-full&sslrootcert={}",
        cluster.certificate().display()
    );
    w.write_config(&with(&trusted));
    w.jit(["doctor"]).run().success().stdout_has("over TLS)");

    // By another name for the same server: verify-ca checks only the chain, verify-full the
    // name too (the certificate is for 127.0.0.1).
    let by_name = |query: &str| with(query).replace("@127.0.0.1:", "@localhost:");
    let ca = format!(
        "?sslmode=verify-ca&sslrootcert={}",
        cluster.certificate().display()
    );
    w.write_config(&by_name(&ca));
    w.jit(["doctor"]).run().success().stdout_has("over TLS)");
    w.write_config(&by_name(&trusted));
    w.jit(["doctor"])
        .run()
        .code(1)
        .stdout_has("FAIL target db: connect:");
}

#[test]
fn what_a_login_owns_in_other_databases_is_taken_over_too() {
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    let other = format!("other_{}", std::process::id());
    cluster
        .superuser(None)
        .unwrap()
        .batch_execute(&format!("CREATE DATABASE {other}"))
        .unwrap();
    cluster
        .superuser(Some(&other))
        .unwrap()
        .batch_execute(&format!("GRANT CREATE ON SCHEMA public TO {GROUP}"))
        .unwrap();
    let (id, user, password) = ephemeral(&w, &[]);
    let mut session = postgres::Config::new()
        .host("127.0.0.1")
        .port(cluster.port)
        .user(&user)
        .password(&password)
        .dbname(&other)
        .connect(postgres::NoTls)
        .unwrap();
    session
        .batch_execute("CREATE TABLE elsewhere (x int)")
        .unwrap();
    drop(session);

    w.jit(["revoke", &id]).run().success();
    assert!(
        !cluster.role_exists(&user),
        "dropped, although it owned a table in {other}"
    );
    let owner: String = cluster
        .superuser(Some(&other))
        .unwrap()
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = 'elsewhere'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(owner, pg_cluster::ADMIN);
}

#[test]
fn a_membership_held_outside_jit_is_neither_taken_over_nor_taken_away() {
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    let login = format!("app_{}", me());
    let mut su = cluster.superuser(None).unwrap();
    su.batch_execute(&format!(
        "DROP ROLE IF EXISTS {login}; CREATE ROLE {login} LOGIN; GRANT {GROUP} TO {login}"
    ))
    .unwrap();
    w.jit(["request", "--role", "db-member"])
        .run()
        .code(1)
        .stderr_has("already holds app_rw outside jit");
    let still: bool = su
        .query_one("SELECT pg_has_role($1, $2, 'MEMBER')", &[&login, &GROUP])
        .unwrap()
        .get(0);
    assert!(still, "the failed request did not take the membership away");
    assert_eq!(w.leases()[0]["state"], "failed");
    su.batch_execute(&format!("DROP ROLE {login}")).unwrap();
}

#[test]
fn a_privilege_the_admin_cannot_hand_on_fails_the_grant_cleanly() {
    let cluster = pg_cluster::shared();
    let w = World::empty();
    let admin = format!("nogrant_{}", std::process::id());
    cluster
        .superuser(None)
        .unwrap()
        .batch_execute(&format!(
            "CREATE ROLE {admin} LOGIN CREATEROLE PASSWORD '{}'",
            pg_cluster::ADMIN_PASSWORD
        ))
        .unwrap();
    let extra = "\n[roles.creator]\ntarget = \"db\"\nmax_ttl = \"1h\"\ngrant = { mode = \"ephemeral\", roles = [], schema_privileges = { public = [\"CREATE\"] } }\n";
    let text = config(cluster, &w, extra)
        .replace("postgres://jit_admin@", &format!("postgres://{admin}@"));
    w.write_config(&text);
    w.jit(["doctor"]).run().code(1).stdout_has(&format!(
        "FAIL target db: CREATE on schema public: {admin} lacks GRANT OPTION"
    ));
    w.jit(["request", "--role", "creator"])
        .run()
        .code(1)
        .stderr_has("the admin login could not grant CREATE on schema public to jit_");
    let lease = &w.leases()[0];
    assert_eq!(lease["state"], "failed");
    assert!(
        !cluster.role_exists(&format!("jit_{}", lease["id"].as_str().unwrap())),
        "cleaned up"
    );
}

#[test]
fn a_revoke_that_cannot_drop_the_login_still_locks_it() {
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    let (id, user, password) = ephemeral(&w, &[]);
    // A privilege from another grantor: the admin cannot take it away, so DROP ROLE fails.
    cluster
        .superuser(Some(DATABASE))
        .unwrap()
        .batch_execute(&format!("GRANT DELETE ON accounts TO {user}"))
        .unwrap();
    w.jit(["revoke", &id])
        .run()
        .code(6)
        .stdout_has("revocation failed");
    let refused = cluster
        .login(&user, &password)
        .err()
        .expect("the login is locked");
    assert!(
        reason(&refused).contains("not permitted to log in"),
        "{refused:?}"
    );

    cluster
        .superuser(Some(DATABASE))
        .unwrap()
        .batch_execute(&format!("REVOKE DELETE ON accounts FROM {user}"))
        .unwrap();
    w.jit(["sweep"])
        .later(31)
        .run()
        .success()
        .stdout_has(&format!("{id}: revoked"));
    assert!(!cluster.role_exists(&user));
}

#[test]
fn a_grant_that_never_reached_the_server_is_failed_not_retried() {
    let cluster = pg_cluster::shared();
    let port = format!("127.0.0.1:{}/", cluster.port);

    // Nothing listening (a stopped server looks the same).
    let w = World::empty();
    let closed = format!("127.0.0.1:{}/", free_port());
    w.write_config(&config(cluster, &w, "").replace(&port, &closed));
    crate::crash::assert_reached_nothing(&w, "db-eph", "Connection refused");

    // TLS the server's certificate does not pass: the handshake fails.
    let w = World::empty();
    w.write_config(&config(cluster, &w, "").replace("?sslmode=disable", "?sslmode=verify-full"));
    crate::crash::assert_reached_nothing(&w, "db-eph", "connecting to");

    // A wrong admin password: the login is refused before anything is sent.
    let w = pg_world(cluster);
    std::fs::write(w.path("db.password"), "not-the-password").unwrap();
    let id = crate::crash::assert_reached_nothing(&w, "db-eph", "password authentication failed");
    assert!(!cluster.role_exists(&format!("jit_{id}")));
}

#[test]
fn tls_required_of_a_server_without_it_is_failed_not_retried() {
    // A server without TLS answers the TLS request with "N", as this one does.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 8];
            if stream.read_exact(&mut request).is_ok() {
                let _ = stream.write_all(b"N");
            }
        }
    });
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    w.write_config(
        &config(cluster, &w, "")
            .replace(
                &format!("127.0.0.1:{}/", cluster.port),
                &format!("127.0.0.1:{port}/"),
            )
            .replace("?sslmode=disable", "?sslmode=require"),
    );
    crate::crash::assert_reached_nothing(&w, "db-eph", "connecting to");
}

#[test]
fn a_grant_a_killed_jit_left_waiting_on_the_server_never_lands() {
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    // Another session holds the advisory lock the grant script takes first
    // (`ACL_LOCK`, "jit\0"): the script waits on the server.
    let mut holder = cluster.superuser(Some(DATABASE)).unwrap();
    let mut lock = holder.transaction().unwrap();
    lock.batch_execute("SELECT pg_advisory_xact_lock(1785295872)")
        .unwrap();
    let mut jit = w.jit(["request", "--role", "db-eph"]).spawn();
    let mut watch = cluster.superuser(None).unwrap();
    let mut waiting = |id: &str| -> i64 {
        watch
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE state <> 'idle' \
                 AND position('CREATE ROLE ' || $1 || ' ' IN query) > 0",
                &[&format!("jit_{id}")],
            )
            .unwrap()
            .get(0)
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

    w.jit(["sweep"])
        .run()
        .success()
        .stdout_has(&format!("{id}: failed"));
    assert_eq!(
        waiting(&id),
        0,
        "the waiting grant was ended before it was judged"
    );
    lock.commit().unwrap();
    crate::crash::await_that("the server to be done with the grant", || waiting(&id) == 0);
    assert!(
        !cluster.role_exists(&format!("jit_{id}")),
        "nothing landed once the lock was free"
    );
    assert_eq!(w.lease(&id)["events"][1]["details"]["found"], "absent");
}
