//! Team mode against a real PostgreSQL: a team store created by `jit store init` in a
//! database of the suite's cluster, people logging in with their own passwords (the
//! requester, an approver and another approver), and `jit worker`s in processes of their
//! own holding the target configuration.

use crate::crash::await_that;
use crate::harness::*;
use crate::http_server::{HttpServer, Reply};
use crate::pg_cluster;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::process::Child;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A person with a login of their own who is only a requester (an OS user too, so that a
/// worker can look them up).
const MALLORY: &str = "mail";

/// Each login and its password.
const LOGINS: [(&str, &str); 6] = [
    (REQUESTER, "pw-requester-71"),
    (APPROVER, "pw-approver-72"),
    (OTHER_APPROVER, "pw-other-73"),
    ("jit_owner", "pw-owner-74"),
    ("jit_service", "pw-service-75"),
    (MALLORY, "pw-mallory-76"),
];

fn password(login: &str) -> &'static str {
    LOGINS.iter().find(|(l, _)| *l == login).unwrap().1
}

/// Logins and role memberships are the cluster's, shared by every test: set up one at a time.
static SETUP: Mutex<()> = Mutex::new(());
static DATABASES: AtomicUsize = AtomicUsize::new(0);

pub(crate) struct Team {
    pub(crate) w: World,
    cluster: &'static pg_cluster::Cluster,
    database: String,
    workers: Vec<Child>,
}

impl Team {
    /// A team store with the default roles, plus `extra` in the workers' configuration.
    pub(crate) fn new(extra: &str) -> Team {
        Team::on(pg_cluster::shared(), extra)
    }

    /// [`Team::new`] in `cluster`.
    fn on(cluster: &'static pg_cluster::Cluster, extra: &str) -> Team {
        let database = format!(
            "team_{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::SeqCst)
        );
        let w = World::empty();
        let team = Team {
            w,
            cluster,
            database,
            workers: Vec::new(),
        };
        let owner_password = team.w.path("owner.password");
        write_secret(&owner_password, password("jit_owner"));
        let service_password = team.w.path("service.password");
        write_secret(&service_password, password("jit_service"));
        let store = |login: Option<&str>, secret: String| {
            format!(
                "[store]\nkind = \"postgres\"\nurl = \"postgres://{}127.0.0.1:{}/{}?sslmode=disable\"\npassword = \"{secret}\"\nconnect_timeout = \"5s\"\n",
                login.map(|l| format!("{l}@")).unwrap_or_default(),
                cluster.port,
                team.database
            )
        };
        // The workers: the whole policy and the targets.
        team.w.write_config(&format!(
            "{}\n{}\n{extra}",
            store(
                Some("jit_service"),
                format!("file:{}", service_password.display())
            ),
            team.w.default_config()
        ));
        // People: only where the store is; each logs in as themselves.
        std::fs::write(
            team.client_config(),
            format!(
                "[identity]\nservice_account = \"{}\"\n\n{}",
                me(),
                store(None, "env:JIT_STORE_PASSWORD".into())
            ),
        )
        .unwrap();
        std::fs::write(
            team.w.path("owner.toml"),
            store(
                Some("jit_owner"),
                format!("file:{}", owner_password.display()),
            ),
        )
        .unwrap();
        {
            let _one_at_a_time = SETUP.lock().unwrap_or_else(|e| e.into_inner());
            let mut su = cluster.superuser(None).unwrap();
            for (login, secret) in LOGINS {
                let exists = su
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)",
                        &[&login],
                    )
                    .unwrap()
                    .get::<_, bool>(0);
                if !exists {
                    su.batch_execute(&format!(
                        "CREATE ROLE \"{login}\" LOGIN PASSWORD '{secret}'"
                    ))
                    .unwrap();
                }
            }
            su.batch_execute("ALTER ROLE jit_owner CREATEROLE").unwrap();
            su.batch_execute(&format!(
                "CREATE DATABASE {} OWNER jit_owner",
                team.database
            ))
            .unwrap();
            team.w
                .jit(["store", "init"])
                .env("JIT_CONFIG", team.w.path("owner.toml"))
                .run()
                .success()
                .stdout_has("created the jit schema");
            su.batch_execute(&format!(
                "GRANT jit_requester TO \"{REQUESTER}\", \"{APPROVER}\", \"{OTHER_APPROVER}\", \"{MALLORY}\";
                 GRANT jit_approver TO \"{APPROVER}\", \"{OTHER_APPROVER}\";
                 GRANT jit_worker TO jit_service;"
            ))
            .unwrap();
        }
        team
    }

    fn client_config(&self) -> std::path::PathBuf {
        self.w.path("client.toml")
    }

    /// `jit` as `user`, with their own store login.
    pub(crate) fn person<I, S>(&self, user: &str, args: I) -> Jit
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.w
            .jit(args)
            .env("JIT_CONFIG", self.client_config())
            .env("JIT_STORE_PASSWORD", password(user))
            .by(user)
    }

    /// The environment in which [`Team::person`] runs `jit` as `user`, for a `jit` started
    /// some other way (by an MCP client).
    pub(crate) fn person_env(&self, user: &str) -> Vec<(String, std::ffi::OsString)> {
        let mut env = self.w.env();
        env.retain(|(key, _)| key != "JIT_CONFIG");
        env.push(("JIT_CONFIG".into(), self.client_config().into_os_string()));
        env.push(("JIT_STORE_PASSWORD".into(), password(user).into()));
        env.push(("SUDO_USER".into(), user.into()));
        env
    }

    /// Run `request` (with `--quiet`, as given) and return the id of the lease it granted.
    fn lease_granted_by(&self, request: Jit) -> String {
        request
            .run()
            .success()
            .stdout
            .lines()
            .next()
            .unwrap()
            .to_owned()
    }

    /// `REQUESTER` asks for role `gated` with `--wait`, in the background: the waiting
    /// process and the lease id, once the request is pending.
    fn waiting_for_gated(&self) -> (std::process::Child, String) {
        let waiting = self
            .person(
                REQUESTER,
                ["request", "--role", "gated", "--wait", "--timeout", "1m"],
            )
            .spawn();
        await_that("the pending request", || {
            self.count("SELECT count(*) FROM jit.leases WHERE role = 'gated' AND state = 'pending'")
                == 1
        });
        let id = self
            .db()
            .query_one("SELECT id FROM jit.leases WHERE role = 'gated'", &[])
            .unwrap()
            .get(0);
        (waiting, id)
    }

    /// Start a worker in a process of its own.
    pub(crate) fn worker(&mut self, jit: impl FnOnce(Jit) -> Jit) {
        let child = jit(self.w.jit(["worker"])).spawn();
        self.workers.push(child);
    }

    /// Stop every worker (SIGTERM, as systemd does) and return what each printed.
    pub(crate) fn stop_workers(&mut self) -> Vec<String> {
        self.workers
            .drain(..)
            .map(|child| {
                let pid = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
                let run = Run::from(child.wait_with_output().unwrap());
                format!("{}{}", run.stdout, run.stderr)
            })
            .collect()
    }

    fn db(&self) -> postgres::Client {
        self.cluster.superuser(Some(&self.database)).unwrap()
    }

    fn login(&self, user: &str) -> postgres::Client {
        postgres::Config::new()
            .host("127.0.0.1")
            .port(self.cluster.port)
            .user(user)
            .password(password(user))
            .dbname(&self.database)
            .connect(postgres::NoTls)
            .unwrap()
    }

    pub(crate) fn state(&self, id: &str) -> String {
        self.db()
            .query_one("SELECT state FROM jit.leases WHERE id = $1", &[&id])
            .unwrap()
            .get(0)
    }

    pub(crate) fn count(&self, sql: &str) -> i64 {
        self.db().query_one(sql, &[]).unwrap().get(0)
    }

    /// (kind, actor) of a lease's audit events, in order.
    fn events(&self, id: &str) -> Vec<(String, String)> {
        self.db()
            .query(
                "SELECT kind, actor FROM jit.audit WHERE lease_id = $1 ORDER BY seq",
                &[&id],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }

    /// Every row of the store as text, to look for what must not be there.
    fn everything(&self) -> String {
        let mut db = self.db();
        let mut all = String::new();
        for table in [
            "leases",
            "approvals",
            "audit",
            "requests",
            "handoffs",
            "audit_head",
        ] {
            for row in db
                .query(&format!("SELECT t::text FROM jit.{table} t"), &[])
                .unwrap()
            {
                all.push_str(row.get::<_, &str>(0));
                all.push('\n');
            }
        }
        all
    }

    fn grants(&self) -> Value {
        std::fs::read_to_string(self.w.path("grants.json"))
            .map(|text| serde_json::from_str(&text).unwrap())
            .unwrap_or_else(|_| json!({}))
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        for child in &mut self.workers {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn write_secret(path: &std::path::Path, value: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, value).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn two_approvals_from_other_people_and_exactly_one_worker_grants() {
    let mut t = Team::new("");
    t.worker(|j| j);
    t.worker(|j| j);
    let pending = t
        .person(REQUESTER, ["request", "--role", "two-keys", "--json"])
        .run()
        .code(4);
    let id = pending.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(pending.json()["state"], "pending");
    assert_eq!(pending.json()["requester"], REQUESTER);

    t.person(REQUESTER, ["approve", &id])
        .run()
        .code(3)
        .stderr_has(&format!("{REQUESTER} may not decide their own request"));
    t.person(APPROVER, ["approve", &id])
        .run()
        .success()
        .stdout_is(&format!("approved {id}; 1 more approval needed\n"));
    assert_eq!(t.state(&id), "pending");
    assert_eq!(t.grants(), json!({}));
    // The same approver twice does not count twice.
    t.person(APPROVER, ["approve", &id])
        .run()
        .code(2)
        .stderr_has(&format!("{APPROVER} has already decided lease {id}"));
    assert_eq!(t.state(&id), "pending");

    t.person(OTHER_APPROVER, ["approve", &id])
        .run()
        .success()
        .stdout_is(&format!("approved {id}; granted to {REQUESTER}\n"));
    assert_eq!(t.state(&id), "active");
    assert_eq!(
        t.grants()[format!("two-keys/{REQUESTER}")]["last_lease"],
        json!(id)
    );
    let events = t.events(&id);
    assert_eq!(
        events,
        vec![
            ("requested".into(), REQUESTER.into()),
            ("approved".into(), APPROVER.into()),
            ("approved".into(), OTHER_APPROVER.into()),
            ("granted".into(), OTHER_APPROVER.into()),
        ]
    );
    // Exactly one of the two workers carried out the grant.
    let logs = t.stop_workers();
    let granting: Vec<&String> = logs
        .iter()
        .filter(|log| log.contains(&format!("granted to {REQUESTER}")))
        .collect();
    assert_eq!(granting.len(), 1, "worker logs: {logs:?}");
    t.person(APPROVER, ["audit", "verify"])
        .run()
        .success()
        .stdout_has("audit chain intact: 4 records");
}

#[test]
fn the_database_refuses_a_requester_who_writes_approvals_leases_or_audit_by_hand() {
    let mut t = Team::new(&format!(
        "[[eligibility]]\nsubjects = [\"user:{APPROVER}\"]\nroles = [\"two-keys\"]\n"
    ));
    t.worker(|j| j);
    let id = t
        .person(REQUESTER, ["request", "--role", "two-keys", "--quiet"])
        .run()
        .code(4)
        .stdout
        .trim()
        .to_owned();
    let before = t.everything();
    let mut requester = t.login(REQUESTER);
    let refused = |client: &mut postgres::Client, sql: &str| {
        let err = client.batch_execute(sql).expect_err(sql);
        assert_eq!(
            err.code(),
            Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{sql}: {err}"
        );
    };
    let at = chrono::Utc::now().timestamp();
    for sql in [
        format!("INSERT INTO jit.approvals VALUES ('{id}', '{APPROVER}', {at}, 'approve', NULL)"),
        format!("UPDATE jit.leases SET state = 'granting' WHERE id = '{id}'"),
        format!("UPDATE jit.leases SET approvals_required = 0 WHERE id = '{id}'"),
        format!("DELETE FROM jit.leases WHERE id = '{id}'"),
        "INSERT INTO jit.audit VALUES (99, 'x', 'x', NULL, 'granted', '{}', 'x', 'x')".into(),
        "UPDATE jit.audit SET actor = 'nobody'".into(),
        "UPDATE jit.audit_head SET seq = 0".into(),
        // An approval through the queue: the requester is no approver.
        format!("INSERT INTO jit.requests (kind, lease_id) VALUES ('approve', '{id}')"),
        // A request in someone else's name.
        format!(
            "INSERT INTO jit.requests (kind, role, requester) VALUES ('request', 'gated', '{APPROVER}')"
        ),
        // Answering a request (its own, even).
        "UPDATE jit.requests SET status = 'done'".into(),
        // Through a group role it belongs to, still as itself.
        format!(
            "SET ROLE jit_requester; INSERT INTO jit.requests (kind, lease_id) VALUES ('approve', '{id}')"
        ),
    ] {
        refused(&mut requester, &sql);
        let _ = requester.batch_execute("RESET ROLE");
    }
    // An approver approving their own request through the queue: refused by the database.
    let own = t
        .person(APPROVER, ["request", "--role", "two-keys", "--quiet"])
        .run()
        .code(4)
        .stdout
        .trim()
        .to_owned();
    let mut approver = t.login(APPROVER);
    refused(
        &mut approver,
        &format!("INSERT INTO jit.requests (kind, lease_id) VALUES ('approve', '{own}')"),
    );
    // Nothing changed but the second request.
    assert_eq!(t.state(&id), "pending");
    assert_eq!(t.count("SELECT count(*) FROM jit.approvals"), 0);
    assert!(
        t.everything()
            .starts_with(&before[..before.find("\n").unwrap()])
    );
    assert_eq!(
        t.count("SELECT count(*) FROM jit.requests"),
        2,
        "only the two requests made through jit"
    );
    t.person(REQUESTER, ["audit", "verify"]).run().success();
}

#[test]
fn credentials_reach_only_the_requesting_process_and_leave_the_store() {
    let mut t = Team::new("");
    t.worker(|j| j);
    let run = t
        .person(REQUESTER, ["request", "--role", "tokens", "--json"])
        .run()
        .success();
    let doc = run.json();
    let token = doc["credentials"]["TOKEN"].as_str().unwrap().to_owned();
    assert!(token.starts_with("tok-"));
    assert_eq!(doc["state"], "active");
    assert_eq!(t.count("SELECT count(*) FROM jit.handoffs"), 0);
    assert!(!t.everything().contains(&token));

    // Granted after an approval, to a requester waiting for it.
    let (waiting, id) = t.waiting_for_gated();
    t.person(APPROVER, ["approve", &id, "--reason", "on call"])
        .run()
        .success()
        .stdout_is(&format!("approved {id}; granted to {REQUESTER}\n"));
    let waited = Run::from(waiting.wait_with_output().unwrap()).success();
    let line = waited
        .stdout
        .lines()
        .find(|l| l.starts_with("TOKEN=tok-"))
        .unwrap_or_else(|| panic!("no credentials in {}", waited.stdout))
        .to_owned();
    assert!(waited.stdout.contains(&format!("granted {id}")));
    assert!(
        waited
            .stderr
            .contains(&format!("waiting for approval of {id}: 0 of 1"))
    );
    assert_eq!(t.count("SELECT count(*) FROM jit.handoffs"), 0);
    assert!(!t.everything().contains(&line["TOKEN=".len()..]));

    // Nobody waiting: the sealed credentials wait, unreadable to anyone else, and go with
    // the lease.
    let id = t
        .person(REQUESTER, ["request", "--role", "gated", "--quiet"])
        .run()
        .code(4)
        .stdout
        .trim()
        .to_owned();
    t.person(OTHER_APPROVER, ["approve", &id]).run().success();
    assert_eq!(t.count("SELECT count(*) FROM jit.handoffs"), 1);
    let seen_by_approver: i64 = t
        .login(OTHER_APPROVER)
        .query_one("SELECT count(*) FROM jit.handoffs", &[])
        .map(|r| r.get(0))
        .unwrap_or(-1);
    assert_eq!(seen_by_approver, 0, "another login sees no hand-off");
    let seen_by_requester: i64 = t
        .login(REQUESTER)
        .query_one("SELECT count(*) FROM jit.handoffs", &[])
        .unwrap()
        .get(0);
    assert_eq!(seen_by_requester, 1);
    t.person(REQUESTER, ["revoke", &id]).run().success();
    assert_eq!(t.state(&id), "revoked");
    assert_eq!(t.count("SELECT count(*) FROM jit.handoffs"), 0);
}

#[test]
fn a_denied_or_unknown_request_is_answered_and_changes_nothing() {
    let mut t = Team::new("");
    t.worker(|j| j);
    t.person(REQUESTER, ["request", "--role", "db-admin"])
        .run()
        .code(3)
        .stderr_has("ticket");
    t.person(REQUESTER, ["request", "--role", "no-such-role"])
        .run()
        .code(2)
        .stderr_has("no-such-role");
    // Not eligible.
    t.person(APPROVER, ["request", "--role", "web-root"])
        .run()
        .code(3);
    assert_eq!(t.count("SELECT count(*) FROM jit.leases"), 0);
    assert_eq!(t.grants(), json!({}));
    // A wrong password is the database's refusal, before anything is asked.
    t.person(REQUESTER, ["list"])
        .env("JIT_STORE_PASSWORD", "wrong")
        .run()
        .code(1)
        .stderr_has("password authentication failed");
    t.person(REQUESTER, ["exec", "--role", "tokens", "--", "true"])
        .run()
        .code(2)
        .stderr_has("jit exec is not available with a team store");
    let doctor = t.person(REQUESTER, ["doctor"]).run();
    assert!(
        doctor
            .stdout
            .contains(&format!("0 leases, logged in as {REQUESTER}")),
        "{}",
        doctor.stdout
    );
    // A denial by an approver ends the request.
    let waiting = t
        .person(REQUESTER, ["request", "--role", "gated", "--wait"])
        .spawn();
    await_that("the pending request", || {
        t.count("SELECT count(*) FROM jit.leases WHERE state = 'pending'") == 1
    });
    let id: String = t
        .db()
        .query_one("SELECT id FROM jit.leases", &[])
        .unwrap()
        .get(0);
    t.person(OTHER_APPROVER, ["deny", &id, "--reason", "not today"])
        .run()
        .success();
    Run::from(waiting.wait_with_output().unwrap())
        .code(3)
        .stderr_has(&format!(
            "request {id} was denied by {OTHER_APPROVER}: not today"
        ));
    assert_eq!(t.state(&id), "denied");
    assert_eq!(t.grants(), json!({}));
}

#[test]
fn a_hundred_requests_with_two_workers_are_granted_and_revoked_exactly_once() {
    let server = HttpServer::start();
    server.route(
        "POST",
        "/grants",
        Reply::json(200, json!({ "handle": { "grant": "g" } })),
    );
    server.route("DELETE", "/grants/", Reply::status(204));
    let mut t = Team::new(&format!(
        "[targets.access]\nbackend = \"http\"\nurl = \"{}\"\nrevoke_url = \"{}\"\nrevoke_method = \"DELETE\"\n\n[roles.deploy]\ntarget = \"access\"\nmax_ttl = \"1h\"\n",
        server.url("/grants"),
        server.url("/grants/{lease_id}")
    ));
    t.worker(|j| j);
    t.worker(|j| j);
    let children: Vec<Child> = (0..100)
        .map(|_| {
            t.person(
                REQUESTER,
                ["request", "--role", "deploy", "--ttl", "10m", "--quiet"],
            )
            .spawn()
        })
        .collect();
    let ids: BTreeSet<String> = children
        .into_iter()
        .map(|child| {
            Run::from(child.wait_with_output().unwrap())
                .success()
                .stdout
                .trim()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 100);
    let granted: Vec<String> = server
        .requests_to("/grants")
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.json()["lease"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(granted.len(), 100, "one grant call per lease");
    assert_eq!(granted.iter().cloned().collect::<BTreeSet<_>>(), ids);

    // Ten minutes on, two fresh workers end every lease once.
    t.stop_workers();
    t.worker(|j| j.later(700));
    t.worker(|j| j.later(700));
    let revoked = server.wait_for("/grants/", 100);
    await_that("every lease expired", || {
        t.count("SELECT count(*) FROM jit.leases WHERE state = 'expired'") == 100
    });
    let revoked: Vec<String> = revoked
        .iter()
        .map(|r| r.path.trim_start_matches("/grants/").to_owned())
        .collect();
    assert_eq!(revoked.len(), 100);
    assert_eq!(revoked.iter().cloned().collect::<BTreeSet<_>>(), ids);
    for id in &ids {
        let kinds: Vec<String> = t.events(id).into_iter().map(|(kind, _)| kind).collect();
        assert_eq!(kinds, ["requested", "granted", "expired"], "lease {id}");
    }
    t.stop_workers();
    assert_eq!(
        server.requests_to("/grants/").len(),
        100,
        "nothing revoked twice"
    );
    t.person(APPROVER, ["audit", "verify"])
        .run()
        .success()
        .stdout_has("audit chain intact: 300 records");
}

#[test]
fn a_worker_killed_mid_grant_leaves_nothing_the_other_does_not_clean_up() {
    let mut t = Team::new("");
    t.worker(|j| j.env("JIT_FAULT", "after-grant"));
    let asking = t.person(REQUESTER, ["request", "--role", "tokens"]).spawn();
    // The first worker grants on the target and dies before recording it.
    let mut first = t.workers.pop().unwrap();
    let status = first.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    assert!(t.grants().get(format!("tokens/{REQUESTER}")).is_some());
    let id: String = t
        .db()
        .query_one("SELECT id FROM jit.leases", &[])
        .unwrap()
        .get(0);
    assert_eq!(t.state(&id), "granting");
    // The second finds the request and the lease of a worker that is gone, and cleans up.
    t.worker(|j| j);
    Run::from(asking.wait_with_output().unwrap())
        .code(1)
        .stderr_has(&format!(
            "the worker granting lease {id} stopped; the lease is failed"
        ));
    // Failed: the entitlement the dead worker made was found and removed.
    assert_eq!(t.state(&id), "failed");
    assert_eq!(t.grants(), json!({}));
    assert_eq!(t.count("SELECT count(*) FROM jit.handoffs"), 0);
    assert_eq!(
        t.count("SELECT count(*) FROM jit.requests WHERE status IN ('new', 'pending')"),
        0
    );
    t.stop_workers();
    t.person(APPROVER, ["audit", "verify"]).run().success();
}

/// 32 bytes, as a one-time public key is.
const KEY: &str = "'\\x0101010101010101010101010101010101010101010101010101010101010101'::bytea";

#[test]
fn the_worker_refuses_a_request_that_conflicts_with_a_live_lease() {
    let mut t = Team::new(
        "[[conflicts]]\nroles = [\"tokens\", \"gated\"]\nreason = \"no self-issued keys while gated\"\n",
    );
    t.worker(|j| j);
    let tokens =
        t.lease_granted_by(t.person(REQUESTER, ["request", "--role", "tokens", "--quiet"]));
    let refused = t
        .person(REQUESTER, ["request", "--role", "gated"])
        .run()
        .code(3);
    assert_eq!(
        refused.stderr,
        format!(
            "jit: error: {REQUESTER} may not hold role \"gated\" while lease {tokens} of role \"tokens\" is live: no self-issued keys while gated (conflicts #1)\n"
        )
    );
    assert_eq!(
        t.count("SELECT count(*) FROM jit.leases WHERE role = 'gated'"),
        0
    );
    assert_eq!(
        t.count(
            &format!(
                "SELECT count(*) FROM jit.audit WHERE kind = 'denied' AND lease_id IS NULL \
                 AND details::jsonb->>'rule' = 'conflicts #1' AND details::jsonb->>'by' = '{REQUESTER}'"
            )
        ),
        1
    );
    t.stop_workers();
}

#[test]
fn two_workers_never_grant_a_max_active_role_past_its_limit() {
    // No ticket read is answered before both have arrived: the two workers are both past
    // the first count of live leases before either records its lease, however the machine
    // schedules them.
    let tickets = HttpServer::start();
    tickets.route(
        "GET",
        "/issue/",
        Reply::json(200, json!({"fields": {"status": {"name": "Open"}}})).gathering(2),
    );
    let mut t = Team::new(&format!(
        "[roles.seat]\ntarget = \"files\"\nmax_ttl = \"1h\"\nmax_active = 1\n\
         ticket = {{ check = {{ url = \"{}\", status_field = \"fields.status.name\", allowed = [\"Open\"] }} }}\n",
        tickets.url("/issue/{ticket}")
    ));
    t.worker(|j| j);
    t.worker(|j| j);
    let children: Vec<Child> = ["CHG-1", "CHG-2"]
        .iter()
        .map(|ticket| {
            t.person(
                REQUESTER,
                [
                    "request", "--role", "seat", "--ticket", ticket, "--ttl", "10m", "--quiet",
                ],
            )
            .spawn()
        })
        .collect();
    let runs: Vec<Run> = children
        .into_iter()
        .map(|child| Run::from(child.wait_with_output().unwrap()))
        .collect();
    let codes: Vec<Option<i32>> = runs.iter().map(|run| run.code).collect();
    assert!(
        codes == [Some(0), Some(3)] || codes == [Some(3), Some(0)],
        "{codes:?}"
    );
    let refused = runs.iter().find(|run| run.code == Some(3)).unwrap();
    assert_eq!(
        refused.stderr,
        "jit: error: role \"seat\" has 1 live lease, its max_active of 1: try again when one has ended\n"
    );
    assert_eq!(tickets.requests_to("/issue/").len(), 2, "both were weighed");
    assert_eq!(
        t.count("SELECT count(*) FROM jit.leases WHERE role = 'seat'"),
        1
    );
    assert_eq!(
        t.count("SELECT count(*) FROM jit.leases WHERE role = 'seat' AND state = 'active'"),
        1
    );
    assert_eq!(
        t.count(
            "SELECT count(*) FROM jit.audit WHERE kind = 'denied' AND lease_id IS NULL \
             AND details::jsonb->>'rule' = 'roles.seat.max_active'"
        ),
        1
    );
    t.stop_workers();
    t.person(APPROVER, ["audit", "verify"]).run().success();
}

#[test]
fn a_row_naming_someone_elses_lease_is_refused_by_the_database_and_by_the_worker() {
    let mut t = Team::new("");
    t.worker(|j| j);
    let active =
        t.lease_granted_by(t.person(REQUESTER, ["request", "--role", "tokens", "--quiet"]));
    assert_eq!(t.state(&active), "active");
    let (waiting, pending) = t.waiting_for_gated();
    let requests_before = t.count("SELECT count(*) FROM jit.requests");

    // Mallory, a requester, with psql: every row that names someone else's lease is the
    // database's to refuse.
    for (login, sql) in [
        (
            MALLORY,
            format!("INSERT INTO jit.requests (kind, lease_id) VALUES ('request', '{active}')"),
        ),
        (
            MALLORY,
            format!(
                "INSERT INTO jit.requests (kind, lease_id, handoff_key) VALUES ('request', '{pending}', {KEY})"
            ),
        ),
        (
            MALLORY,
            format!("INSERT INTO jit.requests (kind, lease_id) VALUES ('revoke', '{active}')"),
        ),
        (
            MALLORY,
            format!(
                "INSERT INTO jit.requests (kind, lease_id, ttl_secs) VALUES ('extend', '{active}', 60)"
            ),
        ),
        (
            MALLORY,
            format!(
                "INSERT INTO jit.requests (kind, role, lease_id) VALUES ('request', 'tokens', '{active}')"
            ),
        ),
        // An approver may decide, but not smuggle a key or a lease into a request.
        (
            OTHER_APPROVER,
            format!(
                "INSERT INTO jit.requests (kind, lease_id, handoff_key) VALUES ('request', '{pending}', {KEY})"
            ),
        ),
        (
            OTHER_APPROVER,
            format!(
                "INSERT INTO jit.requests (kind, lease_id, handoff_key) VALUES ('approve', '{pending}', {KEY})"
            ),
        ),
    ] {
        let err = t.login(login).batch_execute(&sql).expect_err(&sql);
        assert_eq!(
            err.code(),
            Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{sql}: {err}"
        );
    }
    assert_eq!(
        t.count("SELECT count(*) FROM jit.requests"),
        requests_before
    );

    // Through jit, the same is refused before anything is queued.
    t.person(MALLORY, ["revoke", &active])
        .run()
        .code(3)
        .stderr_has(&format!(
            "{MALLORY} may not revoke lease {active} of {REQUESTER} (only its holder or an approver of role \"tokens\" may)"
        ));
    t.person(MALLORY, ["extend", &active, "--ttl", "30m"])
        .run()
        .code(3)
        .stderr_has(&format!("{MALLORY} may not extend a lease of {REQUESTER}"));
    assert_eq!(
        t.count("SELECT count(*) FROM jit.requests"),
        requests_before
    );

    // Behind the policies' back (as the database owner), one request row per lease still
    // holds.
    let err = t
        .db()
        .batch_execute(&format!(
            "INSERT INTO jit.requests (kind, requester, lease_id, handoff_key) \
             VALUES ('request', '{MALLORY}', '{pending}', {KEY})"
        ))
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&postgres::error::SqlState::UNIQUE_VIOLATION),
        "{err}"
    );
    // And with that index gone too, the worker refuses each forged row, and records why.
    t.db()
        .batch_execute("DROP INDEX jit.requests_one_per_lease")
        .unwrap();
    let forged: Vec<(i64, String)> = [
        format!("('request', '{MALLORY}', '{active}', NULL, NULL)"),
        format!("('request', '{MALLORY}', '{pending}', NULL, {KEY})"),
        format!("('request', '{REQUESTER}', '{pending}', NULL, {KEY})"),
        format!("('revoke', '{MALLORY}', '{active}', NULL, NULL)"),
        format!("('extend', '{MALLORY}', '{active}', 600, NULL)"),
        format!("('approve', '{REQUESTER}', '{pending}', NULL, NULL)"),
    ]
    .iter()
    .map(|values| {
        let id: i64 = t
            .db()
            .query_one(
                &format!(
                    "INSERT INTO jit.requests (kind, requester, lease_id, ttl_secs, handoff_key) \
                     VALUES {values} RETURNING id"
                ),
                &[],
            )
            .unwrap()
            .get(0);
        (id, values.clone())
    })
    .collect();
    await_that("the forged rows answered", || {
        t.count("SELECT count(*) FROM jit.requests WHERE status = 'new'") == 0
    });
    let answers: Vec<(String, Option<i32>, String)> = t
        .db()
        .query(
            "SELECT status, exit_code, message FROM jit.requests WHERE id = ANY($1) ORDER BY id",
            &[&forged.iter().map(|(id, _)| *id).collect::<Vec<i64>>()],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let id = |n: usize| forged[n].0;
    let original: i64 = t
        .db()
        .query_one(
            "SELECT min(id) FROM jit.requests WHERE lease_id = $1",
            &[&pending],
        )
        .unwrap()
        .get(0);
    let expected: Vec<(String, Option<i32>, String)> = [
        format!("request {} from {MALLORY} names lease {active}, requested by {REQUESTER}", id(0)),
        format!("request {} from {MALLORY} names lease {pending}, requested by {REQUESTER}", id(1)),
        format!("request {} names lease {pending}, which request {original} created", id(2)),
        format!(
            "{MALLORY} may not revoke lease {active} of {REQUESTER} (only its holder or an approver of role \"tokens\" may)"
        ),
        format!("{MALLORY} may not extend a lease of {REQUESTER}"),
        format!("{REQUESTER} may not decide their own request (lease {pending})"),
    ]
    .into_iter()
    .map(|message| ("refused".to_owned(), Some(3), message))
    .collect();
    assert_eq!(answers, expected);
    let refusals: Vec<(String, Option<String>, i64)> = t
        .db()
        .query(
            "SELECT actor, lease_id, (details::json->>'request')::bigint FROM jit.audit \
             WHERE kind = 'refused' ORDER BY seq",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        refusals,
        vec![
            (MALLORY.to_owned(), Some(active.clone()), id(0)),
            (MALLORY.to_owned(), Some(pending.clone()), id(1)),
            (REQUESTER.to_owned(), Some(pending.clone()), id(2)),
            (MALLORY.to_owned(), Some(active.clone()), id(3)),
            (MALLORY.to_owned(), Some(active.clone()), id(4)),
            (REQUESTER.to_owned(), Some(pending.clone()), id(5)),
        ]
    );

    // A row whose login is nobody the worker host knows is answered too, not left taken.
    let unknown: i64 = t
        .db()
        .query_one(
            &format!(
                "INSERT INTO jit.requests (kind, requester, lease_id) \
                 VALUES ('revoke', 'nobody-here', '{active}') RETURNING id"
            ),
            &[],
        )
        .unwrap()
        .get(0);
    await_that("the row of an unknown login answered", || {
        t.count(&format!(
            "SELECT count(*) FROM jit.requests WHERE id = {unknown} AND status = 'refused'"
        )) == 1
    });

    // Alice's leases are untouched: the active one still is, and the pending one is
    // approved and its credentials reach her waiting process.
    assert_eq!(t.state(&active), "active");
    assert_eq!(t.state(&pending), "pending");
    t.person(APPROVER, ["approve", &pending])
        .run()
        .success()
        .stdout_is(&format!("approved {pending}; granted to {REQUESTER}\n"));
    let waited = Run::from(waiting.wait_with_output().unwrap()).success();
    assert!(
        waited.stdout.lines().any(|l| l.starts_with("TOKEN=tok-")),
        "{}",
        waited.stdout
    );
    assert!(waited.stdout.contains(&format!("granted {pending}")));
    assert_eq!(t.count("SELECT count(*) FROM jit.handoffs"), 0);
    assert_eq!(t.state(&active), "active");
    t.stop_workers();
    t.person(REQUESTER, ["audit", "verify"]).run().success();

    // The refusals exported as OCSF: valid records, the refused lease as the entity.
    let ocsf = t
        .person(REQUESTER, ["audit", "export", "--format", "ocsf"])
        .run()
        .success()
        .stdout;
    let (code, _, problems) = crate::ocsf::validate(&ocsf);
    assert_eq!(code, 0, "{problems}");
    let refused: Vec<serde_json::Value> = ocsf
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|r| r["unmapped"]["kind"] == "refused")
        .collect();
    assert_eq!(refused.len(), 7, "{ocsf}");
    assert_eq!(refused[0]["type_uid"], 300403);
    assert_eq!(refused[0]["status_id"], 2);
    assert_eq!(refused[0]["entity"]["uid"], serde_json::json!(active));
    assert_eq!(refused[0]["actor"]["user"]["name"], MALLORY);
}

#[test]
fn with_several_hosts_messages_name_the_one_reached_or_each_one_tried() {
    let mut t = Team::new("");
    // A server that takes logins but not writes, as a standby does.
    let standby = pg_cluster::Cluster::create();
    standby.start();
    {
        let mut su = standby.superuser(None).unwrap();
        for login in ["jit_owner", "jit_service", REQUESTER] {
            su.batch_execute(&format!(
                "CREATE ROLE \"{login}\" LOGIN PASSWORD '{}'",
                password(login)
            ))
            .unwrap();
        }
        su.batch_execute(&format!("CREATE DATABASE {}", t.database))
            .unwrap();
        su.batch_execute("ALTER SYSTEM SET default_transaction_read_only = on")
            .unwrap();
        su.batch_execute("SELECT pg_reload_conf()").unwrap();
    }
    await_that("the standby refusing writes", || {
        standby
            .superuser(None)
            .unwrap()
            .query_one("SHOW transaction_read_only", &[])
            .unwrap()
            .get::<_, String>(0)
            == "on"
    });
    let primary = format!("127.0.0.1:{}", t.cluster.port);
    let read_only = format!("127.0.0.1:{}", standby.port);
    // The first host has nothing listening; the second is read-only.
    let hosts = |config: &std::path::Path, list: &str| {
        let text = std::fs::read_to_string(config)
            .unwrap()
            .replace(&primary, list)
            .replace(
                "sslmode=disable",
                "sslmode=disable&target_session_attrs=read-write",
            );
        let path = config.with_extension("hosts.toml");
        std::fs::write(&path, text).unwrap();
        path
    };
    let db = &t.database.clone();
    let owner = hosts(
        &t.w.path("owner.toml"),
        &format!("127.0.0.1:1,{read_only},{primary}"),
    );
    t.w.jit(["store", "init"])
        .env("JIT_CONFIG", &owner)
        .run()
        .success()
        .stdout_is(&format!(
            "the jit schema in postgres://jit_owner@{primary}/{db} is already there; nothing changed\n"
        ));
    let client = hosts(
        &t.client_config(),
        &format!("127.0.0.1:1,{read_only},{primary}"),
    );
    let doctor = t
        .person(REQUESTER, ["doctor"])
        .env("JIT_CONFIG", &client)
        .run();
    assert!(
        doctor.stdout.contains(&format!(
            "postgres://{REQUESTER}@{primary}/{db} (0 leases, logged in as {REQUESTER})"
        )),
        "{}",
        doctor.stdout
    );
    assert!(!doctor.stdout.contains("127.0.0.1:1/"), "{}", doctor.stdout);
    let workers = hosts(
        &t.w.config_path(),
        &format!("127.0.0.1:1,{read_only},{primary}"),
    );
    t.worker(|j| j.env("JIT_CONFIG", &workers));
    t.person(REQUESTER, ["request", "--role", "tokens", "--quiet"])
        .env("JIT_CONFIG", &client)
        .run()
        .success();
    let logs = t.stop_workers();
    assert!(
        logs[0].contains(&format!("serving postgres://jit_service@{primary}/{db}")),
        "{}",
        logs[0]
    );

    // No host will do: each is named, with why.
    let nowhere = hosts(&t.w.path("owner.toml"), &format!("127.0.0.1:1,{read_only}"));
    let run =
        t.w.jit(["store", "init"])
            .env("JIT_CONFIG", &nowhere)
            .run()
            .code(1);
    assert!(
        run.stderr.contains(&format!(
            "connecting to the team store: no host would do (postgres://jit_owner@127.0.0.1:1/{db}: unreachable ("
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "; postgres://jit_owner@{read_only}/{db}: read-only (database does not allow writes))"
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn store_init_upgrades_a_schema_1_store_and_unlinks_a_forged_request_row() {
    let mut t = Team::new("");
    t.worker(|j| j);
    let active =
        t.lease_granted_by(t.person(REQUESTER, ["request", "--role", "tokens", "--quiet"]));
    t.stop_workers();
    // The store as schema 1 had it.
    t.db()
        .batch_execute(
            "DROP POLICY ask ON jit.requests; DROP POLICY decide ON jit.requests;
             CREATE POLICY ask ON jit.requests FOR INSERT TO jit_requester
                 WITH CHECK (requester = session_user AND status = 'new'
                             AND kind IN ('request', 'revoke', 'extend'));
             CREATE POLICY decide ON jit.requests FOR INSERT TO jit_approver
                 WITH CHECK (requester = session_user AND status = 'new'
                             AND kind IN ('approve', 'deny') AND lease_id IS NOT NULL
                             AND NOT EXISTS (SELECT 1 FROM jit.leases l WHERE l.id = lease_id
                                             AND (l.requester = session_user OR l.subject = session_user)));
             DROP INDEX jit.requests_one_per_lease;
             CREATE INDEX requests_by_lease ON jit.requests (lease_id) WHERE kind = 'request';
             ALTER TABLE jit.audit_shipping DROP COLUMN hash;
             ALTER TABLE jit.meta DROP COLUMN store_id;
             ALTER TABLE jit.leases DROP COLUMN agent, DROP COLUMN agent_session;
             ALTER TABLE jit.requests DROP COLUMN agent, DROP COLUMN agent_session;
             UPDATE jit.meta SET version = 1;",
        )
        .unwrap();
    // Schema 1 let a requester queue a row naming someone else's lease.
    let forged: i64 = t
        .login(MALLORY)
        .query_one(
            &format!(
                "INSERT INTO jit.requests (kind, lease_id) VALUES ('request', '{active}') RETURNING id"
            ),
            &[],
        )
        .unwrap()
        .get(0);
    let db = t.database.clone();
    t.w.jit(["worker", "--once"]).run().code(1).stderr_has(&format!(
        "the team store postgres://jit_service@127.0.0.1:{}/{db} has schema 1; this jit needs 4: run `jit store init` as the database owner to upgrade it",
        t.cluster.port
    ));
    t.w.jit(["store", "init"])
        .env("JIT_CONFIG", t.w.path("owner.toml"))
        .run()
        .success()
        .stdout_is(&format!(
            "upgraded the jit schema in postgres://jit_owner@127.0.0.1:{}/{db} from 1 to 4\n",
            t.cluster.port
        ));
    let row = t
        .db()
        .query_one(
            "SELECT status, exit_code, message, lease_id FROM jit.requests WHERE id = $1",
            &[&forged],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "refused");
    assert_eq!(row.get::<_, Option<i32>>(1), Some(3));
    assert_eq!(
        row.get::<_, String>(2),
        format!(
            "unlinked from lease {active} by the upgrade to schema 2: that lease was created by another request"
        )
    );
    assert_eq!(row.get::<_, Option<String>>(3), None);
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM jit.requests WHERE lease_id = '{active}'"
        )),
        1,
        "the request that created the lease keeps its link"
    );
    let err = t
        .login(MALLORY)
        .batch_execute(&format!(
            "INSERT INTO jit.requests (kind, lease_id) VALUES ('request', '{active}')"
        ))
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );
    t.w.jit(["worker", "--once"]).run().success();
    assert_eq!(t.state(&active), "active");
    t.w.jit(["store", "init"])
        .env("JIT_CONFIG", t.w.path("owner.toml"))
        .run()
        .success()
        .stdout_has("is already there; nothing changed");
}

/// A copy of the configuration `config` whose store URL names the hosts `list` (instead of
/// `host`) and asks for a read-write session.
fn with_hosts(config: &std::path::Path, host: &str, list: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(config)
        .unwrap()
        .replace(host, list)
        .replace(
            "sslmode=disable",
            "sslmode=disable&target_session_attrs=read-write",
        );
    let path = config.with_extension("failover.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn after_a_failover_to_a_replica_that_lost_the_tail_shipping_stops_at_the_fork() {
    let collector = HttpServer::start();
    collector.route("POST", "/ingest", Reply::status(200));
    let primary: &'static pg_cluster::Cluster = Box::leak(Box::new(pg_cluster::Cluster::create()));
    primary.start();
    let mut t = Team::on(
        primary,
        &format!(
            "[[audit.ship]]\nkind = \"http\"\nname = \"siem\"\nurl = \"{}\"\n",
            collector.url("/ingest")
        ),
    );
    let db = t.database.clone();
    let standby = pg_cluster::Cluster::replica_of(primary);
    let on_standby = || standby.superuser(Some(&db)).unwrap();
    t.worker(|j| j);
    let first = t.lease_granted_by(t.person(REQUESTER, ["request", "--role", "tokens", "--quiet"]));
    // Shipped, and the checkpoint (seq 2) streamed to the standby.
    await_that("seq 2 shipped and on the standby", || {
        on_standby()
            .query_opt(
                "SELECT 1 FROM jit.audit_shipping WHERE seq = 2 AND hash IS NOT NULL",
                &[],
            )
            .unwrap()
            .is_some()
    });
    // The standby stops receiving (as an asynchronous one lags); the primary goes on.
    standby.stop();
    t.person(REQUESTER, ["revoke", &first]).run().success();
    await_that("seq 3 shipped", || received_lines(&collector) == 3);
    let h3 = collector.requests()[1].body.lines().next().map(|l| {
        serde_json::from_str::<Value>(l).unwrap()["hash"]
            .as_str()
            .unwrap()
            .to_owned()
    });
    let h3 = h3.unwrap();
    t.stop_workers();
    primary.stop();

    // Before promotion: the old primary is gone, the standby is read-only.
    standby.start();
    let old = format!("127.0.0.1:{}", primary.port);
    let new = format!("127.0.0.1:{}", standby.port);
    let hosts = format!("127.0.0.1:1,{old},{new}");
    let owner = with_hosts(&t.w.path("owner.toml"), &old, &hosts);
    let run =
        t.w.jit(["store", "init"])
            .env("JIT_CONFIG", &owner)
            .run()
            .code(1);
    for host in ["127.0.0.1:1", old.as_str()] {
        assert!(
            run.stderr
                .contains(&format!("postgres://jit_owner@{host}/{db}: unreachable (")),
            "{}",
            run.stderr
        );
    }
    assert!(
        run.stderr.contains(&format!(
            "postgres://jit_owner@{new}/{db}: read-only (database does not allow writes))"
        )),
        "{}",
        run.stderr
    );

    // Promoted: the workers serve again there; the chain continues from seq 2, so seq 3 is
    // another record than the one the collector holds.
    standby.promote();
    let workers = with_hosts(&t.w.config_path(), &old, &hosts);
    let client = with_hosts(&t.client_config(), &old, &hosts);
    collector.route(
        "POST",
        "/ingest",
        Reply::json(
            409,
            json!({ "v": 1, "seq": 3, "hash": h3, "error": "fork at seq 3" }),
        ),
    );
    t.worker(|j| j.env("JIT_CONFIG", &workers));
    let second = t.lease_granted_by(
        t.person(REQUESTER, ["request", "--role", "tokens", "--quiet"])
            .env("JIT_CONFIG", &client),
    );
    await_that("the fork recorded", || {
        on_standby()
            .query_opt("SELECT 1 FROM jit.audit WHERE kind = 'ship-refused'", &[])
            .unwrap()
            .is_some()
    });
    let logs = t.stop_workers();
    assert!(
        logs[0].contains(&format!("serving postgres://jit_service@{new}/{db}")),
        "{}",
        logs[0]
    );
    let mine: String = on_standby()
        .query_one("SELECT hash FROM jit.audit WHERE seq = 3", &[])
        .unwrap()
        .get(0);
    assert_ne!(mine, h3);
    let run =
        t.w.jit(["audit", "ship"])
            .env("JIT_CONFIG", &workers)
            .run()
            .code(1);
    assert_eq!(
        run.stdout,
        "siem: sent 0 event(s); has the chain through seq 2 of 5\n"
    );
    assert!(
        run.stderr.contains(&format!(
            "jit: error: siem: the audit chain forked at seq 3: the destination holds hash {h3} there (its answer), this store has {mine}; not shipping over it"
        )),
        "{}",
        run.stderr
    );
    let refused: (String, String) = on_standby()
        .query_one(
            "SELECT details, actor FROM jit.audit WHERE kind = 'ship-refused'",
            &[],
        )
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    let details: Value = serde_json::from_str(&refused.0).unwrap();
    assert_eq!(details["destination"], "siem");
    assert_eq!(details["seq"], 3);
    assert_eq!(details["expected_hash"], h3.as_str());
    assert_eq!(details["found_hash"], mine.as_str());
    assert_eq!(
        on_standby()
            .query_one("SELECT state FROM jit.leases WHERE id = $1", &[&second])
            .unwrap()
            .get::<_, String>(0),
        "active"
    );
    t.person(REQUESTER, ["audit", "verify"])
        .env("JIT_CONFIG", &client)
        .run()
        .success();
}

fn received_lines(collector: &HttpServer) -> usize {
    collector
        .requests()
        .iter()
        .map(|r| r.body.lines().count())
        .sum()
}

#[test]
fn a_record_the_database_owner_forges_or_rewrites_is_named() {
    let mut t = Team::new("");
    t.worker(|j| j);
    t.person(REQUESTER, ["request", "--role", "tokens", "--quiet"])
        .run()
        .success();
    // requested, granted
    let mut owner = t.login("jit_owner");
    let hash_of = |db: &mut postgres::Client, seq: i64| -> String {
        db.query_one("SELECT hash FROM jit.audit WHERE seq = $1", &[&seq])
            .unwrap()
            .get(0)
    };
    let kept = format!("2:{}", hash_of(&mut owner, 2));
    t.person(APPROVER, ["audit", "verify"])
        .run()
        .success()
        .stdout_is(&format!(
            "audit chain intact: 2 records\ncheckpoint: {kept}\n"
        ));

    // A record appended with a correctly computed hash, the head left alone.
    let prev = hash_of(&mut owner, 2);
    let (at, details) = ("2026-01-01T00:00:00Z", r#"{"reason":"routine"}"#);
    let hash = crate::audit_tamper::record_hash(3, at, REQUESTER, None, "revoked", details, &prev);
    owner
        .execute(
            "INSERT INTO jit.audit (seq, at, actor, lease_id, kind, details, prev_hash, hash) \
             VALUES (3, $1, $2, NULL, 'revoked', $3, $4, $5)",
            &[&at, &REQUESTER, &details, &prev, &hash],
        )
        .unwrap();
    t.person(APPROVER, ["audit", "verify"]).run().code(1).stderr_has(
        "jit: audit chain broken: record 3 is past the chain's head 2 (appended without moving the head: forged)",
    );

    // A consistent rewrite: record 1 edited, every later hash and the head computed again.
    owner
        .batch_execute(&format!(
            "DELETE FROM jit.audit WHERE seq = 3; UPDATE jit.audit SET actor = '{APPROVER}' WHERE seq = 1"
        ))
        .unwrap();
    let mut prev = "0".repeat(64);
    for seq in [1i64, 2] {
        let row = owner
            .query_one(
                "SELECT at, actor, lease_id, kind, details FROM jit.audit WHERE seq = $1",
                &[&seq],
            )
            .unwrap();
        let lease: Option<String> = row.get(2);
        let hash = crate::audit_tamper::record_hash(
            seq,
            row.get(0),
            row.get(1),
            lease.as_deref(),
            row.get(3),
            row.get(4),
            &prev,
        );
        owner
            .execute(
                "UPDATE jit.audit SET prev_hash = $1, hash = $2 WHERE seq = $3",
                &[&prev, &hash, &seq],
            )
            .unwrap();
        prev = hash;
    }
    owner
        .execute("UPDATE jit.audit_head SET seq = 2, hash = $1", &[&prev])
        .unwrap();
    t.person(APPROVER, ["audit", "verify"])
        .run()
        .success()
        .stdout_has("audit chain intact: 2 records\n");
    t.person(APPROVER, ["audit", "verify", "--checkpoint", &kept])
        .run()
        .code(1)
        .stderr_has(&format!(
            "jit: audit chain broken: record 2 is not the checkpoint's: its hash is now {prev} (the chain was rewritten at or before 2)"
        ));
    t.stop_workers();
}

#[test]
fn what_a_worker_killed_mid_grant_left_running_is_ended_before_the_other_judges_it() {
    use crate::crash::{granter, running, slow_program, slow_target};
    let mut t = Team::new("");
    let marker = t.w.path("started");
    let program = slow_program(&t.w, &marker, "3");
    let config = std::fs::read_to_string(t.w.config_path()).unwrap();
    t.w.write_config(&format!("{config}\n{}", slow_target(&t.w, &program)));
    t.worker(|j| j);
    t.worker(|j| j);
    let asking = t.person(REQUESTER, ["request", "--role", "slow"]).spawn();
    await_that("the program to have its request", || marker.exists());
    let granter = granter(&marker);
    let (id, worker): (String, String) = {
        let row = t
            .db()
            .query_one("SELECT id, worker FROM jit.leases", &[])
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(t.state(&id), "granting");
    // Kill the worker that is granting; the other one takes over.
    let pid: u32 = worker.rsplit_once(':').unwrap().1.parse().unwrap();
    let at = t.workers.iter().position(|c| c.id() == pid).unwrap();
    let mut granting = t.workers.remove(at);
    granting.kill().unwrap();
    granting.wait().unwrap();
    Run::from(asking.wait_with_output().unwrap()).code(1);
    assert_eq!(t.state(&id), "failed");
    assert!(
        !running(granter),
        "the process the program left running was ended before the target was asked"
    );
    // Past the time the grant would have landed: nothing did.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(t.grants(), json!({}));
    let events: Vec<String> = t.events(&id).into_iter().map(|(kind, _)| kind).collect();
    assert_eq!(events, ["requested", "reconciled"]);
    t.stop_workers();
    t.person(APPROVER, ["audit", "verify"]).run().success();
}

#[test]
fn a_worker_without_a_team_store_writes_nothing_and_exits_5() {
    let w = World::new();
    for args in [&["worker", "--once"][..], &["worker"][..]] {
        w.jit(args)
            .run()
            .code(5)
            .stdout_is("")
            .stderr_has(
                "jit: error: jit worker serves a team store: set [store] kind = \"postgres\" in the configuration\n",
            );
    }
    assert!(!w.state_dir().exists(), "no store was created");
}

#[test]
fn a_cancelled_request_says_why() {
    let mut t = Team::new("");
    t.worker(|j| j);
    let (waiting, id) = t.waiting_for_gated();
    // A worker a day later: the request lapses at its first sweep.
    t.stop_workers();
    t.worker(|j| j.later(24 * 3600 + 60));
    let run = Run::from(waiting.wait_with_output().unwrap()).code(3);
    assert_eq!(t.state(&id), "cancelled");
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.starts_with("jit: error:"))
            .collect::<Vec<_>>(),
        [format!(
            "jit: error: request {id} was cancelled: not decided within 1d"
        )]
    );
}

#[test]
fn a_request_left_pending_is_told_its_credentials_will_never_be_shown() {
    let mut t = Team::new("");
    t.worker(|j| j);
    let run = t
        .person(REQUESTER, ["request", "--role", "gated", "--json"])
        .run()
        .code(4);
    let lease = run.json();
    let id = lease["id"].as_str().unwrap();
    let notice = format!(
        "role gated may issue credentials (its target decides), and credentials are shown only to a request that waits for its approval: this request's will never be shown; to receive them, withdraw it (`jit revoke {id}`) and request again with --wait"
    );
    assert_eq!(run.stderr, format!("jit: warning: {notice}\n"));
    assert_eq!(lease["notice"], notice.as_str());
    // A role that needs no approval is granted at once: nothing to say.
    let run = t
        .person(REQUESTER, ["request", "--role", "web-root", "--json"])
        .run()
        .success();
    assert_eq!(run.stderr, "");
}

#[test]
fn racing_grants_of_one_entitlement_on_two_workers_leave_the_latest_end() {
    let mut t = Team::new("");
    // The fixture waits a random time before each change, so that the calls of the two
    // workers reach the target in any order.
    let config = std::fs::read_to_string(t.w.config_path()).unwrap();
    t.w.write_config(&config.replace(
        "\"--fail-revoke-if\"",
        "\"--jitter-ms\", \"300\", \"--fail-revoke-if\"",
    ));
    fn request(t: &Team, ttl: &str) -> Jit {
        t.person(
            REQUESTER,
            ["request", "--role", "web-root", "--ttl", ttl, "--quiet"],
        )
    }
    t.worker(|j| j);
    let longest = request(&t, "58m").run().success().stdout.trim().to_owned();
    let short = request(&t, "5m").run().success().stdout.trim().to_owned();
    t.stop_workers();
    // Rounds of work queued first and then taken up at once by two fresh workers: each
    // round a shorter request and, after it in the queue, one longer than any before, so
    // that both grants run at the same time and the longer one must not be cut short.
    // The revocation of the longest lease and the extension of the short one are queued
    // with two of the rounds.
    let rounds = 10;
    for round in 0..rounds {
        let mut children = vec![request(&t, &format!("{}m", 20 + round)).spawn()];
        let mut queued = 1;
        if round == rounds / 3 {
            children.push(t.person(REQUESTER, ["revoke", &longest]).spawn());
            queued += 1;
        }
        if round == rounds / 2 {
            children.push(
                t.person(REQUESTER, ["extend", &short, "--ttl", "20m"])
                    .spawn(),
            );
            queued += 1;
        }
        await_that("the round's first requests queued", || {
            t.count("SELECT count(*) FROM jit.requests WHERE status = 'new'") == queued
        });
        children.push(request(&t, &format!("{}m", 40 + round)).spawn());
        await_that("the round queued", || {
            t.count("SELECT count(*) FROM jit.requests WHERE status = 'new'") == queued + 1
        });
        t.worker(|j| j);
        t.worker(|j| j);
        for child in children {
            Run::from(child.wait_with_output().unwrap()).success();
        }
        t.stop_workers();
        let latest: i64 = t
            .db()
            .query_one(
                "SELECT max(expires_at) FROM jit.leases WHERE state = 'active'",
                &[],
            )
            .unwrap()
            .get(0);
        let grants = t.grants();
        let held = &grants[format!("web-root/{REQUESTER}")]["expires_at"];
        let held = chrono::DateTime::parse_from_rfc3339(held.as_str().unwrap()).unwrap();
        assert_eq!(
            held.timestamp(),
            latest,
            "round {round}: the target's end is the latest live lease's: {grants}"
        );
    }
    let n = 2 * rounds;

    assert_eq!(t.state(&longest), "revoked");
    assert_eq!(
        t.count("SELECT count(*) FROM jit.leases WHERE state = 'active'"),
        n as i64 + 1,
        "the new leases and the extended one"
    );
    let granted = t
        .db()
        .query("SELECT details FROM jit.audit WHERE kind = 'granted'", &[])
        .unwrap();
    assert_eq!(granted.len(), n + 2);
    for row in granted {
        let details: Value = serde_json::from_str(row.get::<_, &str>(0)).unwrap();
        let time = |key: &str| {
            chrono::DateTime::parse_from_rfc3339(details[key].as_str().unwrap()).unwrap()
        };
        assert!(
            time("target_expires_at") >= time("expires_at"),
            "a grant cut its own lease short: {details}"
        );
    }
    t.person(APPROVER, ["audit", "verify"]).run().success();
}

/// `jit worker --once --json`: a pass that carried out a queued request prints one document
/// with the fields docs/json.md lists.
#[test]
fn a_worker_pass_prints_the_requests_it_carried_out_as_json() {
    let t = Team::new("");
    let request = t
        .person(REQUESTER, ["request", "--role", "web-root", "--json"])
        .spawn();
    await_that("the queued request", || {
        t.count("SELECT count(*) FROM jit.requests WHERE status = 'new'") == 1
    });
    let pass = t.w.jit(["worker", "--once", "--json"]).run().success();
    let doc: Value = serde_json::from_str(pass.stdout.lines().next().unwrap()).unwrap();
    crate::json_contract::conforms(&doc, &["worker"]);
    let requests = doc["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "{doc}");
    crate::json_contract::conforms(&requests[0], &["worked request"]);
    assert_eq!(requests[0]["kind"], "request");
    assert_eq!(requests[0]["by"], REQUESTER);
    let granted = Run::from(request.wait_with_output().unwrap())
        .success()
        .json();
    assert_eq!(granted["state"], "active", "{granted}");
    crate::json_contract::conforms(&granted, &["lease", "request"]);
}

#[test]
fn a_decertification_recorded_where_the_policy_is_refuses_through_the_worker_and_ends_the_lease() {
    let mut t = Team::new("");
    t.worker(|j| j);
    let live =
        t.lease_granted_by(t.person(REQUESTER, ["request", "--role", "web-root", "--quiet"]));
    // Recorded with the workers' configuration and login (a person's may not append).
    let subject = format!("user:{REQUESTER}");
    t.w.jit([
        "review",
        "revoke-eligibility",
        "#1",
        &subject,
        "--reason",
        "moved to another team",
    ])
    .run()
    .success();
    assert_eq!(
        t.count(
            "SELECT count(*) FROM jit.audit WHERE kind = 'decertified' AND actor = 'jit_service'"
        ),
        1
    );
    let refused = t
        .person(REQUESTER, ["request", "--role", "tokens"])
        .run()
        .code(3);
    assert!(
        refused.stderr.starts_with(&format!(
            "jit: error: {REQUESTER} may no longer request role \"tokens\" under eligibility rule #1: {subject} was decertified by jit_service at "
        )),
        "{}",
        refused.stderr
    );
    // The worker's next pass ends the live lease, with the decertification as the cause.
    await_that("the revocation", || t.state(&live) == "revoked");
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM jit.audit WHERE lease_id = '{live}' AND kind = 'revoked' \
             AND details::jsonb->>'recheck' = 'decertified' \
             AND details::jsonb->>'rule' = 'eligibility rule #1 decertified'"
        )),
        1
    );
    assert_eq!(t.grants(), json!({}));
    t.stop_workers();
}
