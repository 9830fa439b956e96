//! The backend conformance suite: one lease lifecycle, written once, run through the real
//! `jit` binary against every backend's real server. A [`Case`] knows only what is unique
//! to its backend (how to set up its target and role, how to look at the target, how a
//! person uses what was issued, what end the target enforces); [`lifecycle`] asks it the
//! same questions at every step and states the exact outcome of each.
//!
//! The lifecycle: access refused before the grant (where nothing is issued); `jit request`
//! (exit 0, `active`, the entitlement on the target, the target's own end = the lease end,
//! no secret in the state directory); the access works; `jit extend` moves the target's end
//! (or nothing, where it keeps none), or is refused with the documented error (exit 1, the
//! lease and the target unchanged); `jit revoke` (exit 0, `revoked`, the entitlement and
//! its end gone, the access refused in the target's words); `jit revoke` again (exit 0,
//! `already revoked`, nothing recorded); a grant killed after the backend was called (the
//! `after-grant` fault point) left `granting` with the entitlement present, which
//! `jit sweep` ends `failed` with a `reconciled` event that found it `present`, taking it
//! off the target.
//!
//! Adding a backend is one more `Case` and one more `#[test]`: a struct holding its server,
//! `world` writing its target and the role [`ROLE`], `present`, `native_end`, `use_it`,
//! `refusal` and `extend` answering from the real target, and
//! `#[test] fn kind() { lifecycle(&KindCase { .. }) }`.

use crate::harness::*;
use crate::http_server::{HttpServer, Reply};
use crate::mariadb_server::{self, Mariadb};
use crate::moto_server::{self, Moto, shown};
use crate::pg_cluster::{self, Cluster, GROUP};
use crate::sshd::Sshd;
use mysql::prelude::Queryable;
use serde_json::{Value, json};
use std::process::Command;

/// Every case's role.
const ROLE: &str = "conf";

/// What `jit extend` does to a lease of the case.
enum Extend {
    /// It succeeds and the end the target enforces moves with the lease's.
    MovesNativeEnd,
    /// It succeeds; the target keeps no end of its own, so nothing there moves.
    NothingToMove,
    /// It is refused, exit 1, with this error (after `jit: error: `); the lease keeps its end.
    Refused(String),
}

/// What is unique to one backend (and mode).
trait Case {
    /// A world whose configuration holds the target and the role [`ROLE`] on it.
    fn world(&self) -> World;

    /// What `jit request` needs besides the role: the `n`th request of the lifecycle.
    fn request_args(&self, _w: &World, _n: usize) -> Vec<String> {
        Vec::new()
    }

    /// Who asks for and revokes the lease (`None`: the user running the tests).
    fn requester(&self) -> Option<&'static str> {
        None
    }

    /// Is the lease's entitlement on the real target? `lease` is the request's document
    /// (or, for the interrupted grant, the stored lease).
    fn present(&self, w: &World, lease: &Value) -> bool;

    /// The end the target itself enforces for the lease, as `YYYY-MM-DDTHH:MM:SSZ`
    /// (`None`: it keeps none, or the entitlement is gone).
    fn native_end(&self, w: &World, lease: &Value) -> Option<String>;

    /// Use what the lease gave, as a person would: `Ok`, or the target's refusal in its
    /// own words. `lease` is the request's document, with the credentials shown once.
    fn use_it(&self, w: &World, lease: &Value) -> Result<(), String>;

    /// Does the access exist without anything issued (an existing login, account, user or
    /// key that the grant gives rights to)? Then it is refused before the grant too, and
    /// the request shows no credentials.
    fn without_credentials(&self) -> bool {
        false
    }

    /// A part of the refusal [`Case::use_it`] meets before the grant (where
    /// [`Case::without_credentials`]) and once the lease is revoked.
    fn refusal(&self) -> String;

    /// Wait (polling, with a deadline) until a new grant cannot be mistaken for the one
    /// just revoked.
    fn settle(&self) {}

    /// What `jit extend` does to `lease` (the request's document).
    fn extend(&self, lease: &Value) -> Extend;
}

fn id_of(lease: &Value) -> String {
    lease["id"].as_str().unwrap().to_owned()
}

fn jit(case: &dyn Case, w: &World, args: &[String]) -> Jit {
    let run = w.jit(args);
    match case.requester() {
        Some(user) => run.by(user),
        None => run,
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The one lifecycle every backend goes through.
fn lifecycle(case: &dyn Case) {
    let w = case.world();
    if case.without_credentials() {
        match case.use_it(&w, &json!({ "id": null })) {
            Ok(()) => panic!("the access works before any grant"),
            Err(refused) => assert!(refused.contains(&case.refusal()), "{refused}"),
        }
    }

    // Grant: exit 0, the lease active, the entitlement on the target.
    let mut request = args(&["request", "--role", ROLE, "--ttl", "20m", "--json"]);
    request.extend(case.request_args(&w, 0));
    let lease = jit(case, &w, &request).run().success().json();
    assert_eq!(lease["state"], "active", "{lease}");
    let id = id_of(&lease);
    assert_eq!(w.state_of(&id), "active");
    assert_eq!(w.event_kinds(&id), ["requested", "granted"]);
    assert!(case.present(&w, &lease), "the grant is on the target");
    let native = case.native_end(&w, &lease);
    if let Some(end) = &native {
        assert_eq!(
            Value::String(end.clone()),
            lease["expires_at"],
            "the target enforces the lease end"
        );
    }
    match case.extend(&lease) {
        Extend::MovesNativeEnd => assert!(native.is_some(), "the target keeps the end"),
        Extend::NothingToMove => assert_eq!(native, None),
        Extend::Refused(_) => {}
    }
    if case.without_credentials() {
        assert!(lease.get("credentials").is_none(), "{lease}");
    }

    // What was issued works, and no secret of it is kept.
    if let Err(refused) = case.use_it(&w, &lease) {
        panic!("the lease's access is refused: {refused}");
    }
    if let Some(credentials) = lease["credentials"].as_object() {
        assert!(!credentials.is_empty());
        let stored = w.lease(&id);
        assert!(stored.get("credentials").is_none(), "{stored}");
        for entry in std::fs::read_dir(w.state_dir()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            for (name, value) in credentials {
                let secret = value.as_str().unwrap().as_bytes();
                let secret_name = ["PASSWORD", "PWD", "SECRET", "TOKEN"]
                    .iter()
                    .any(|part| name.contains(part));
                if secret_name {
                    assert!(
                        !bytes.windows(secret.len()).any(|win| win == secret),
                        "{name} is in the state directory"
                    );
                }
            }
        }
    }

    // Extend: the end moves on the target too, or the refusal is the documented one.
    let extend = args(&["extend", &id, "--ttl", "50m", "--json"]);
    let ends_at = match case.extend(&lease) {
        Extend::MovesNativeEnd | Extend::NothingToMove => {
            let extended = jit(case, &w, &extend).run().success().json();
            assert_eq!(extended["state"], "active");
            assert!(
                extended["expires_at"].as_str() > lease["expires_at"].as_str(),
                "{} is later than {}",
                extended["expires_at"],
                lease["expires_at"]
            );
            assert_eq!(w.lease(&id)["expires_at"], extended["expires_at"]);
            let moved = case.native_end(&w, &lease);
            if let Extend::MovesNativeEnd = case.extend(&lease) {
                assert_eq!(
                    moved.map(Value::String),
                    Some(extended["expires_at"].clone()),
                    "the target's end moved to the new lease end"
                );
            } else {
                assert_eq!(moved, None, "the target keeps no end of its own");
                assert_eq!(native, None);
            }
            assert_eq!(w.event_kinds(&id), ["requested", "granted", "extended"]);
            extended["expires_at"].clone()
        }
        Extend::Refused(error) => {
            let run = jit(case, &w, &extend).run().code(1);
            assert_eq!(run.stderr, format!("jit: error: {error}\n"));
            assert_eq!(run.stdout, "");
            assert_eq!(w.lease(&id)["expires_at"], lease["expires_at"]);
            assert_eq!(case.native_end(&w, &lease), native, "the target unchanged");
            assert_eq!(w.event_kinds(&id), ["requested", "granted"]);
            lease["expires_at"].clone()
        }
    };
    assert!(case.present(&w, &lease), "still on the target after extend");
    assert_eq!(w.lease(&id)["expires_at"], ends_at);
    let mut trail = w.event_kinds(&id);

    // Revoke: exit 0, the lease revoked, the entitlement gone, the access refused.
    jit(case, &w, &args(&["revoke", &id, "--quiet"]))
        .run()
        .success()
        .stdout_is(&format!("revoked {id}\n"));
    assert_eq!(w.state_of(&id), "revoked");
    trail.push("revoked".to_owned());
    assert_eq!(w.event_kinds(&id), trail);
    assert!(!case.present(&w, &lease), "the entitlement is gone");
    assert_eq!(case.native_end(&w, &lease), None, "and its end with it");
    match case.use_it(&w, &lease) {
        Ok(()) => panic!("the lease's access still works after revoke"),
        Err(refused) => assert!(
            refused.contains(&case.refusal()),
            "refused, but not as expected ({:?}): {refused}",
            case.refusal()
        ),
    }

    // Revoke again: the lease had already ended; nothing changes.
    let events = w.event_count();
    jit(case, &w, &args(&["revoke", &id, "--quiet"]))
        .run()
        .success()
        .stdout_is(&format!("{id}: already revoked\n"));
    let again = jit(case, &w, &args(&["revoke", &id, "--json"]))
        .run()
        .success()
        .json();
    assert_eq!(again[0]["outcome"], "already-ended");
    assert_eq!(again[0]["state"], "revoked");
    assert_eq!(w.event_count(), events, "nothing was done or recorded");
    assert!(!case.present(&w, &lease));

    // An interrupted grant: killed after the backend was called, the lease is left
    // `granting` with the entitlement on the target; sweep finds it and takes it away.
    case.settle();
    let mut request = args(&["request", "--role", ROLE, "--ttl", "20m"]);
    request.extend(case.request_args(&w, 1));
    let run = jit(case, &w, &request)
        .env("JIT_FAULT", "after-grant")
        .run();
    assert_eq!(run.code, None, "killed at the fault point: {run:?}");
    let granting: Vec<Value> = w
        .leases()
        .into_iter()
        .filter(|l| l["id"] != id.as_str())
        .collect();
    assert_eq!(granting.len(), 1, "{granting:?}");
    let stranded = &granting[0];
    let stranded_id = id_of(stranded);
    assert_eq!(stranded["state"], "granting");
    assert!(case.present(&w, stranded), "the grant reached the target");
    w.jit(["sweep"])
        .run()
        .success()
        .stdout_is(&format!("{stranded_id}: failed\n"));
    assert_eq!(w.state_of(&stranded_id), "failed");
    assert_eq!(w.event_kinds(&stranded_id), ["requested", "reconciled"]);
    assert_eq!(
        w.lease(&stranded_id)["events"][1]["details"]["found"],
        "present"
    );
    assert!(!case.present(&w, stranded), "sweep took the grant away");
    w.jit(["sweep"]).run().success().stdout_is("");
    w.jit(["audit", "verify"]).run().success();
}

/// `2026-12-01T22:40:00Z` from a time in a target's own notation.
fn rfc3339(time: chrono::NaiveDateTime) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `YYYYMMDDHHMMSSZ` (sudoers and OpenSSH) as `YYYY-MM-DDTHH:MM:SSZ`.
fn compact_utc(text: &str) -> String {
    rfc3339(chrono::NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M%SZ").unwrap())
}

/// The `[[eligibility]]` of every case: `subject` may request every role.
fn eligible(subject: &str) -> String {
    format!("\n[[eligibility]]\nsubjects = [\"user:{subject}\"]\nroles = [\"*\"]\n")
}

// ---- command ----

/// The command backend through the grant-file example program, whose state file is the
/// target. It issues a token it does not remember, so the access a person has is the
/// grant in the state file.
struct CommandCase;

impl Case for CommandCase {
    fn world(&self) -> World {
        let w = World::empty();
        w.write_config(&format!(
            "[targets.files]\nbackend = \"command\"\nprogram = \"{}\"\nargs = [\"{}\"]\n\n\
             [roles.{ROLE}]\ntarget = \"files\"\nmax_ttl = \"1h\"\ngrant = {{ issue_credentials = true }}\n{}",
            fixture().display(),
            w.path("grants.json").display(),
            eligible(&me()),
        ));
        w
    }

    fn present(&self, w: &World, lease: &Value) -> bool {
        w.grants()[format!("{ROLE}/{}", me())]["last_lease"] == lease["id"]
    }

    fn native_end(&self, w: &World, lease: &Value) -> Option<String> {
        let grant = &w.grants()[format!("{ROLE}/{}", me())];
        (grant["last_lease"] == lease["id"]).then(|| grant["expires_at"].as_str().unwrap().into())
    }

    fn use_it(&self, w: &World, lease: &Value) -> Result<(), String> {
        let token = lease["credentials"]["TOKEN"].as_str().unwrap_or_default();
        assert!(token.starts_with("tok-"), "{lease}");
        if self.present(w, lease) {
            Ok(())
        } else {
            Err(format!(
                "the target holds no grant of lease {}",
                lease["id"]
            ))
        }
    }

    fn refusal(&self) -> String {
        "the target holds no grant".into()
    }

    fn extend(&self, _lease: &Value) -> Extend {
        Extend::MovesNativeEnd
    }
}

#[test]
fn command() {
    lifecycle(&CommandCase);
}

// ---- file ----

/// The smallest backend: a lease is a file in the target's directory.
struct FileCase;

impl FileCase {
    fn held(w: &World, lease: &Value) -> Option<Value> {
        let file = w.path("leases").join(format!("jit-{}", id_of(lease)));
        let text = std::fs::read_to_string(file).ok()?;
        Some(serde_json::from_str(&text).unwrap())
    }
}

impl Case for FileCase {
    fn world(&self) -> World {
        use std::os::unix::fs::PermissionsExt;
        let w = World::empty();
        std::fs::create_dir(w.path("leases")).unwrap();
        std::fs::set_permissions(w.path("leases"), std::fs::Permissions::from_mode(0o700)).unwrap();
        w.write_config(&format!(
            "[targets.notes]\nbackend = \"file\"\ndirectory = \"leases\"\n\n\
             [roles.{ROLE}]\ntarget = \"notes\"\nmax_ttl = \"1h\"\n{}",
            eligible(&me()),
        ));
        w
    }

    fn present(&self, w: &World, lease: &Value) -> bool {
        Self::held(w, lease).is_some_and(|held| held["lease"] == lease["id"])
    }

    fn native_end(&self, w: &World, lease: &Value) -> Option<String> {
        Self::held(w, lease).map(|held| held["expires_at"].as_str().unwrap().to_owned())
    }

    fn use_it(&self, w: &World, lease: &Value) -> Result<(), String> {
        match Self::held(w, lease) {
            Some(held) if held["subject"] == me() && held["role"] == ROLE => Ok(()),
            Some(held) => Err(format!("the file holds another lease: {held}")),
            None => Err(format!("no file for lease {}", lease["id"])),
        }
    }

    fn refusal(&self) -> String {
        "no file for lease".into()
    }

    fn extend(&self, _lease: &Value) -> Extend {
        Extend::MovesNativeEnd
    }
}

#[test]
fn file() {
    lifecycle(&FileCase);
}

// ---- postgres ----

struct Postgres {
    cluster: &'static Cluster,
    /// `membership` for an existing login, else an ephemeral one.
    membership: bool,
}

impl Postgres {
    /// The existing login of membership mode (one no other test uses).
    fn member() -> String {
        format!("conf_{}", me())
    }

    fn login(lease: &Value, membership: bool) -> (String, String) {
        if membership {
            (Postgres::member(), "conf-Pass-1".to_owned())
        } else {
            // A login of the lease's own, with a long random password.
            let c = &lease["credentials"];
            let (user, password) = (
                c["PGUSER"].as_str().unwrap(),
                c["PGPASSWORD"].as_str().unwrap(),
            );
            assert_eq!(user, format!("jit_{}", lease["id"].as_str().unwrap()));
            assert!(password.len() >= 32, "{}", password.len());
            (user.to_owned(), password.to_owned())
        }
    }
}

impl Case for Postgres {
    fn world(&self) -> World {
        let w = World::empty();
        let grant = if self.membership {
            self.cluster
                .superuser(None)
                .unwrap()
                .batch_execute(&format!(
                    "DROP ROLE IF EXISTS {login}; CREATE ROLE {login} LOGIN PASSWORD 'conf-Pass-1'",
                    login = Postgres::member()
                ))
                .unwrap();
            format!("{{ mode = \"membership\", roles = [\"{GROUP}\"], login = \"conf_{{user}}\" }}")
        } else {
            format!("{{ mode = \"ephemeral\", roles = [\"{GROUP}\"] }}")
        };
        w.write_config(&format!(
            "{}\n[roles.{ROLE}]\ntarget = \"db\"\nmax_ttl = \"1h\"\ngrant = {grant}\n{}",
            self.cluster.target("db", w.dir.path()),
            eligible(&me()),
        ));
        w
    }

    fn present(&self, _w: &World, lease: &Value) -> bool {
        if self.membership {
            self.cluster
                .superuser(None)
                .unwrap()
                .query_one(
                    "SELECT pg_has_role($1, $2, 'MEMBER')",
                    &[&Postgres::member(), &GROUP],
                )
                .unwrap()
                .get(0)
        } else {
            self.cluster
                .role_exists(&format!("jit_{}", lease["id"].as_str().unwrap()))
        }
    }

    fn native_end(&self, _w: &World, lease: &Value) -> Option<String> {
        if self.membership {
            return None;
        }
        self.cluster
            .superuser(None)
            .unwrap()
            .query_opt(
                "SELECT to_char(rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
                 FROM pg_roles WHERE rolname = $1",
                &[&format!("jit_{}", lease["id"].as_str().unwrap())],
            )
            .unwrap()
            .map(|row| row.get(0))
    }

    fn use_it(&self, _w: &World, lease: &Value) -> Result<(), String> {
        let (user, password) = Postgres::login(lease, self.membership);
        let reason = |err: postgres::Error| {
            err.as_db_error()
                .map_or_else(|| err.to_string(), |db| db.message().to_owned())
        };
        let mut session = self.cluster.login(&user, &password).map_err(reason)?;
        let count: i64 = session
            .query_one("SELECT count(*) FROM accounts", &[])
            .map_err(reason)?
            .get(0);
        assert_eq!(count, 2);
        Ok(())
    }

    fn without_credentials(&self) -> bool {
        self.membership
    }

    fn refusal(&self) -> String {
        if self.membership {
            "permission denied for table accounts".into()
        } else {
            "password authentication failed".into()
        }
    }

    fn extend(&self, _lease: &Value) -> Extend {
        if self.membership {
            Extend::NothingToMove
        } else {
            Extend::MovesNativeEnd
        }
    }
}

#[test]
fn postgres_ephemeral() {
    lifecycle(&Postgres {
        cluster: pg_cluster::shared(),
        membership: false,
    });
}

#[test]
fn postgres_membership() {
    lifecycle(&Postgres {
        cluster: pg_cluster::shared(),
        membership: true,
    });
}

// ---- mysql ----

struct Mysql {
    server: &'static Mariadb,
    /// `role` mode on an existing account, else an ephemeral account.
    role: bool,
}

impl Mysql {
    /// The existing account of role mode (one no other test uses).
    fn account() -> String {
        format!("conf_{}", me())
    }

    fn account_of(&self, lease: &Value) -> (String, String) {
        if self.role {
            (Mysql::account(), "conf-Pass-1".to_owned())
        } else {
            // An account of the lease's own.
            let c = &lease["credentials"];
            let user = c["MYSQL_USER"].as_str().unwrap();
            assert_eq!(user, format!("jit_{}", lease["id"].as_str().unwrap()));
            (user.to_owned(), c["MYSQL_PWD"].as_str().unwrap().to_owned())
        }
    }
}

impl Case for Mysql {
    fn world(&self) -> World {
        let w = World::empty();
        let grant = if self.role {
            let mut root = self.server.root().unwrap();
            let account = Mysql::account();
            root.query_drop(format!("DROP USER IF EXISTS '{account}'@'%'"))
                .unwrap();
            root.query_drop(format!(
                "CREATE USER '{account}'@'%' IDENTIFIED BY 'conf-Pass-1'"
            ))
            .unwrap();
            "{ mode = \"role\", roles = [\"app_rw\"], account = \"conf_{user}\" }"
        } else {
            "{ mode = \"ephemeral\", grants = [\"SELECT, INSERT ON app.*\"] }"
        };
        w.write_config(&format!(
            "{}\n[roles.{ROLE}]\ntarget = \"db\"\nmax_ttl = \"1h\"\ngrant = {grant}\n{}",
            self.server.target("db", w.dir.path()),
            eligible(&me()),
        ));
        w
    }

    fn present(&self, _w: &World, lease: &Value) -> bool {
        if self.role {
            let held: Option<u8> = self
                .server
                .root()
                .unwrap()
                .exec_first(
                    "SELECT 1 FROM mysql.roles_mapping WHERE User = ? AND Role = 'app_rw'",
                    (Mysql::account(),),
                )
                .unwrap();
            held.is_some()
        } else {
            self.server
                .user_exists(&format!("jit_{}", lease["id"].as_str().unwrap()))
        }
    }

    fn native_end(&self, _w: &World, lease: &Value) -> Option<String> {
        // The expiry event, in the server's time zone (UTC here).
        self.server
            .root()
            .unwrap()
            .exec_first(
                "SELECT DATE_FORMAT(EXECUTE_AT, '%Y-%m-%dT%H:%i:%sZ') FROM information_schema.EVENTS WHERE EVENT_NAME = ?",
                (format!("jit_expire_{}", lease["id"].as_str().unwrap()),),
            )
            .unwrap()
    }

    fn use_it(&self, _w: &World, lease: &Value) -> Result<(), String> {
        let (user, password) = self.account_of(lease);
        let mut session = self
            .server
            .login(&user, &password)
            .map_err(|e| e.to_string())?;
        let count: Option<i64> = session
            .query_first("SELECT COUNT(*) FROM accounts")
            .map_err(|e| e.to_string())?;
        assert_eq!(count, Some(2));
        Ok(())
    }

    fn without_credentials(&self) -> bool {
        self.role
    }

    fn refusal(&self) -> String {
        if self.role {
            "to database 'app'".into()
        } else {
            "(using password: YES)".into()
        }
    }

    fn extend(&self, _lease: &Value) -> Extend {
        if self.role {
            Extend::NothingToMove
        } else {
            Extend::MovesNativeEnd
        }
    }
}

#[test]
fn mysql_ephemeral() {
    lifecycle(&Mysql {
        server: mariadb_server::shared(),
        role: false,
    });
}

#[test]
fn mysql_role() {
    lifecycle(&Mysql {
        server: mariadb_server::shared(),
        role: true,
    });
}

// ---- ssh ----

struct SshCertificate {
    sshd: Sshd,
}

impl SshCertificate {
    /// Where the `n`th request writes its certificate.
    fn certificate(w: &World, n: usize) -> std::path::PathBuf {
        w.path(&format!("cert-{n}.pub"))
    }

    /// The lease's certificate serial, as jit recorded it with the lease before signing
    /// (`jit show` does not print a lease's handle).
    fn serial(w: &World, lease: &Value) -> u64 {
        let handle: String = open_store(w)
            .query_row(
                "SELECT handle FROM leases WHERE id = ?1",
                [lease["id"].as_str().unwrap()],
                |row| row.get(0),
            )
            .unwrap();
        let handle: Value = serde_json::from_str(&handle).unwrap();
        handle["serial"]
            .as_u64()
            .unwrap_or_else(|| panic!("no serial in {handle}"))
    }

    /// The serials in the revocation list sshd reads.
    fn revoked(&self) -> Vec<u64> {
        let listed = Command::new("ssh-keygen")
            .args(["-Q", "-l", "-f"])
            .arg(self.sshd.path("revoked.krl"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter_map(|line| line.trim().strip_prefix("serial: "))
            .map(|serial| serial.trim().parse().unwrap())
            .collect()
    }
}

impl Case for SshCertificate {
    fn world(&self) -> World {
        let w = World::empty();
        w.write_config(&format!(
            "[targets.hosts]\nbackend = \"ssh\"\nmode = \"certificate\"\nca_key = \"file:{}\"\nkrl = \"{}\"\n\n\
             [roles.{ROLE}]\ntarget = \"hosts\"\nmax_ttl = \"1h\"\ngrant = {{ principals = [\"{me}\"] }}\n{}",
            self.sshd.path("ca").display(),
            self.sshd.path("revoked.krl").display(),
            eligible(&me()),
            me = me(),
        ));
        w
    }

    fn request_args(&self, w: &World, n: usize) -> Vec<String> {
        vec![
            "--pubkey".into(),
            self.sshd.path("user.pub").display().to_string(),
            "--out".into(),
            SshCertificate::certificate(w, n).display().to_string(),
        ]
    }

    /// The hosts hold nothing of a lease but the revocation list: present while its serial
    /// is not in it.
    fn present(&self, w: &World, lease: &Value) -> bool {
        !self.revoked().contains(&SshCertificate::serial(w, lease))
    }

    /// The certificate's validity, as `ssh-keygen -L` shows it (none once it is revoked).
    fn native_end(&self, w: &World, lease: &Value) -> Option<String> {
        if !self.present(w, lease) {
            return None;
        }
        let shown = Command::new("ssh-keygen")
            .arg("-L")
            .arg("-f")
            .arg(SshCertificate::certificate(w, 0))
            .env("TZ", "UTC")
            .output()
            .unwrap();
        let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
        assert!(
            shown.contains(&format!("Serial: {}", SshCertificate::serial(w, lease))),
            "{shown}"
        );
        let valid = shown
            .lines()
            .find_map(|l| l.trim().strip_prefix("Valid: from "))
            .unwrap_or_else(|| panic!("{shown}"));
        let (_, to) = valid.split_once(" to ").unwrap();
        Some(rfc3339(
            chrono::NaiveDateTime::parse_from_str(to, "%Y-%m-%dT%H:%M:%S").unwrap(),
        ))
    }

    fn use_it(&self, w: &World, _lease: &Value) -> Result<(), String> {
        let login = self.sshd.login(&me(), &SshCertificate::certificate(w, 0));
        if login.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{}{}",
                String::from_utf8_lossy(&login.stderr),
                self.sshd.log()
            ))
        }
    }

    fn refusal(&self) -> String {
        // sshd names the revocation in its log.
        format!(
            "revoked by file {}",
            self.sshd.path("revoked.krl").display()
        )
    }

    fn extend(&self, _lease: &Value) -> Extend {
        Extend::Refused(
            "moving the end on target \"hosts\" failed: an OpenSSH certificate's end cannot be moved; revoke the lease and request a new one".into(),
        )
    }
}

#[test]
fn ssh_certificate() {
    lifecycle(&SshCertificate {
        sshd: Sshd::start(),
    });
}

struct SshAuthorizedKeys {
    sshd: Sshd,
}

impl SshAuthorizedKeys {
    fn file(&self) -> std::path::PathBuf {
        self.sshd.path(&format!("authorized_keys_{}", me()))
    }

    /// The lease's line in the account's authorized_keys.
    fn line(&self, lease: &Value) -> Option<String> {
        let marker = format!(" jit:{}", lease["id"].as_str().unwrap());
        std::fs::read_to_string(self.file())
            .unwrap_or_default()
            .lines()
            .find(|line| line.ends_with(&marker))
            .map(str::to_owned)
    }
}

impl Case for SshAuthorizedKeys {
    fn world(&self) -> World {
        let w = World::empty();
        w.write_config(&format!(
            "[targets.local]\nbackend = \"ssh\"\nmode = \"authorized-keys\"\nauthorized_keys = \"{}\"\n\n\
             [roles.{ROLE}]\ntarget = \"local\"\nmax_ttl = \"1h\"\ngrant = {{ account = \"{me}\" }}\n{}",
            self.sshd.path("authorized_keys_%u").display(),
            eligible(&me()),
            me = me(),
        ));
        w
    }

    fn request_args(&self, _w: &World, _n: usize) -> Vec<String> {
        vec![
            "--pubkey".into(),
            self.sshd.path("user.pub").display().to_string(),
        ]
    }

    fn present(&self, _w: &World, lease: &Value) -> bool {
        self.line(lease).is_some()
    }

    /// The line's `expiry-time`, which sshd enforces.
    fn native_end(&self, _w: &World, lease: &Value) -> Option<String> {
        let line = self.line(lease)?;
        let time = line
            .strip_prefix("expiry-time=\"")
            .and_then(|rest| rest.split_once('"'))
            .unwrap_or_else(|| panic!("{line}"))
            .0;
        Some(compact_utc(time))
    }

    fn use_it(&self, _w: &World, _lease: &Value) -> Result<(), String> {
        let login = self.sshd.login_with_key(&me());
        if login.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&login.stderr).into_owned())
        }
    }

    fn without_credentials(&self) -> bool {
        true
    }

    fn refusal(&self) -> String {
        "Permission denied (publickey)".into()
    }

    fn extend(&self, _lease: &Value) -> Extend {
        Extend::MovesNativeEnd
    }
}

#[test]
fn ssh_authorized_keys() {
    lifecycle(&SshAuthorizedKeys {
        sshd: Sshd::start_with("%d/authorized_keys_%u"),
    });
}

// ---- sudo ----

/// Real sudo: drop-ins in /etc/sudoers.d, seen with `sudo -l` and used with `sudo -n` as
/// the requester. jit runs as root, as it must for sudo roles.
struct Sudo {
    /// An argument of this run's own, so that no other test's rule allows the command.
    unique: String,
}

impl Sudo {
    fn drop_in(lease: &Value) -> std::path::PathBuf {
        std::path::Path::new("/etc/sudoers.d")
            .join(format!("jit-{}", lease["id"].as_str().unwrap()))
    }
}

impl Case for Sudo {
    fn world(&self) -> World {
        assert_eq!(
            me(),
            "root",
            "the sudo case needs root (jit writes /etc/sudoers.d)"
        );
        let w = World::empty();
        w.write_config(&format!(
            "[identity]\nservice_account = \"{me}\"\n\n[targets.local]\nbackend = \"sudo\"\n\n\
             [roles.{ROLE}]\ntarget = \"local\"\nmax_ttl = \"1h\"\n\
             grant = {{ commands = [\"/usr/bin/test -n {unique}\"], nopasswd = true }}\n{}",
            eligible(REQUESTER),
            me = me(),
            unique = self.unique,
        ));
        w
    }

    fn requester(&self) -> Option<&'static str> {
        Some(REQUESTER)
    }

    /// The drop-in is there and sudo lists the command for the requester.
    fn present(&self, _w: &World, lease: &Value) -> bool {
        let listed = Command::new("sudo")
            .args(["-l", "-U", REQUESTER])
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
        let file = Sudo::drop_in(lease).exists();
        let rule = listed.contains(&format!("/usr/bin/test -n {}", self.unique));
        assert_eq!(file, rule, "the drop-in and sudo -l agree: {listed}");
        file
    }

    /// The drop-in's `NOTAFTER`, which sudo enforces.
    fn native_end(&self, _w: &World, lease: &Value) -> Option<String> {
        let text = std::fs::read_to_string(Sudo::drop_in(lease)).ok()?;
        let until = text
            .split_whitespace()
            .find_map(|word| word.strip_prefix("NOTAFTER="))
            .unwrap_or_else(|| panic!("{text}"));
        Some(compact_utc(until))
    }

    fn use_it(&self, _w: &World, _lease: &Value) -> Result<(), String> {
        let output = Command::new("setpriv")
            .args([
                &format!("--reuid={REQUESTER}"),
                &format!("--regid={REQUESTER}"),
                "--init-groups",
                "sudo",
                "-n",
                "/usr/bin/test",
                "-n",
                &self.unique,
            ])
            .output()
            .unwrap();
        if output.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    fn without_credentials(&self) -> bool {
        true
    }

    fn refusal(&self) -> String {
        "a password is required".into()
    }

    fn extend(&self, _lease: &Value) -> Extend {
        Extend::MovesNativeEnd
    }
}

#[test]
fn sudo() {
    lifecycle(&Sudo {
        unique: format!("jit-conformance-{}", std::process::id()),
    });
}

// ---- aws ----

/// moto with authentication and authorization enforced.
struct Aws {
    moto: &'static Moto,
    mode: AwsMode,
}

#[derive(Clone, Copy, PartialEq)]
enum AwsMode {
    /// An STS session of a role.
    AssumeRole,
    /// An inline policy on an IAM user with keys of its own.
    InlinePolicy,
    /// A managed policy attached to an IAM user with keys of its own.
    ManagedPolicy,
}

/// What the policies let their user do (and what the role allows its sessions).
const LIST_USERS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*"}]}"#;

impl Aws {
    /// The role or user of the case, which no other test uses (`{user}` for the subject).
    fn name(&self) -> String {
        let prefix = match self.mode {
            AwsMode::AssumeRole => "conf-role",
            AwsMode::InlinePolicy => "conf-inline",
            AwsMode::ManagedPolicy => "conf-managed",
        };
        format!("{prefix}-{{user}}")
    }

    fn named(&self) -> String {
        self.name().replace("{user}", &me())
    }

    /// The user's own access key (iam-policy), kept beside the world's configuration.
    fn user_keys(w: &World) -> (String, String) {
        let keys: Value =
            serde_json::from_str(&std::fs::read_to_string(w.path("user-keys.json")).unwrap())
                .unwrap();
        (
            keys[0].as_str().unwrap().to_owned(),
            keys[1].as_str().unwrap().to_owned(),
        )
    }

    /// The lease's inline policy on the user: its document.
    fn inline_policy(&self, lease: &Value) -> Option<Value> {
        let user = self.named();
        let names: Vec<String> = serde_json::from_str(&self.moto.boto(&format!(
            "print(json.dumps(iam.list_user_policies(UserName='{user}')['PolicyNames']))"
        )))
        .unwrap();
        let policy = format!("jit-{}", lease["id"].as_str().unwrap());
        names.contains(&policy).then(|| {
            serde_json::from_str(&self.moto.boto(&format!(
                "print(json.dumps(iam.get_user_policy(UserName='{user}', PolicyName='{policy}')['PolicyDocument']))"
            )))
            .unwrap()
        })
    }

    /// The managed policies attached to the user.
    fn attached(&self) -> Vec<String> {
        serde_json::from_str(&self.moto.boto(&format!(
            "print(json.dumps([p['PolicyArn'] for p in iam.list_attached_user_policies(UserName='{}')['AttachedPolicies']]))",
            self.named()
        )))
        .unwrap()
    }

    fn managed_arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:policy/{}",
            moto_server::ACCOUNT,
            self.named()
        )
    }

    /// When the role's sessions issued before are denied (assume-role revocation).
    fn sessions_denied_before(&self) -> Option<chrono::DateTime<chrono::FixedOffset>> {
        let document: Value = serde_json::from_str(&self.moto.boto(&format!(
            "names = iam.list_role_policies(RoleName='{role}')['PolicyNames']\n\
             print(json.dumps(iam.get_role_policy(RoleName='{role}', PolicyName='AWSRevokeOlderSessions')['PolicyDocument'] if 'AWSRevokeOlderSessions' in names else None))",
            role = self.named()
        )))
        .unwrap();
        document["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
            .as_str()
            .map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap())
    }
}

impl Case for Aws {
    fn world(&self) -> World {
        let w = World::empty();
        let (name, template) = (self.named(), self.name());
        let grant = if self.mode == AwsMode::AssumeRole {
            let arn = self.moto.boto(&format!(
                r#"
trust = {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
    "Principal": {{"AWS": "arn:aws:iam::123456789012:user/jit-admin"}}, "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]}}]}}
role = iam.create_role(RoleName="{name}", AssumeRolePolicyDocument=json.dumps(trust), MaxSessionDuration=7200)
iam.put_role_policy(RoleName="{name}", PolicyName="work", PolicyDocument='{LIST_USERS}')
print(role["Role"]["Arn"])
"#
            ));
            format!(
                "{{ mode = \"assume-role\", role_arn = \"{}\", max_session = \"2h\" }}",
                arn.trim()
            )
        } else {
            let keys = self.moto.boto(&format!(
                r#"
iam.create_user(UserName="{name}")
key = iam.create_access_key(UserName="{name}")["AccessKey"]
print(json.dumps([key["AccessKeyId"], key["SecretAccessKey"]]))
"#
            ));
            std::fs::write(w.path("user-keys.json"), keys).unwrap();
            if self.mode == AwsMode::InlinePolicy {
                format!(
                    "{{ mode = \"iam-policy\", user = \"{template}\", policy = '{LIST_USERS}' }}"
                )
            } else {
                self.moto.boto(&format!(
                    "iam.create_policy(PolicyName='{name}', PolicyDocument='{LIST_USERS}')"
                ));
                format!(
                    "{{ mode = \"iam-policy\", user = \"{template}\", policy_arn = \"{}\" }}",
                    self.managed_arn()
                )
            }
        };
        w.write_config(&format!(
            "{}\n[roles.{ROLE}]\ntarget = \"cloud\"\nmax_ttl = \"4h\"\ngrant = {grant}\n{}",
            self.moto.target("cloud", w.dir.path()),
            eligible(&me()),
        ));
        w
    }

    /// iam-policy: the policy is on the user (inline) or attached to it (managed).
    /// assume-role: no API lists a role's sessions; a session is live unless the role
    /// denies sessions issued before a time after the lease was asked for.
    fn present(&self, _w: &World, lease: &Value) -> bool {
        match self.mode {
            AwsMode::AssumeRole => {
                let asked =
                    chrono::DateTime::parse_from_rfc3339(lease["created_at"].as_str().unwrap())
                        .unwrap();
                self.sessions_denied_before()
                    .is_none_or(|cutoff| cutoff <= asked)
            }
            AwsMode::InlinePolicy => self.inline_policy(lease).is_some(),
            AwsMode::ManagedPolicy => self.attached() == [self.managed_arn()],
        }
    }

    /// Inline: the policy's `aws:CurrentTime` condition. Managed: none (an attachment has
    /// no end). assume-role: none that jit sets; STS picks the session's end itself (a
    /// second either side of the lease end, or 15 minutes at least), which aws.rs checks.
    fn native_end(&self, _w: &World, lease: &Value) -> Option<String> {
        if self.mode != AwsMode::InlinePolicy {
            return None;
        }
        let document = self.inline_policy(lease)?;
        Some(
            document["Statement"][0]["Condition"]["DateLessThan"]["aws:CurrentTime"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    }

    fn use_it(&self, w: &World, lease: &Value) -> Result<(), String> {
        let output = if self.mode == AwsMode::AssumeRole {
            let c = &lease["credentials"];
            let env = [
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_SESSION_TOKEN",
            ]
            .map(|name| (name, c[name].as_str().unwrap()));
            self.moto.aws(&env, &["iam", "list-users"])
        } else {
            let (id, secret) = Aws::user_keys(w);
            self.moto.aws(
                &[
                    ("AWS_ACCESS_KEY_ID", id.as_str()),
                    ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
                ],
                &["iam", "list-users"],
            )
        };
        if output.status.success() {
            Ok(())
        } else {
            Err(shown(&output))
        }
    }

    fn without_credentials(&self) -> bool {
        self.mode != AwsMode::AssumeRole
    }

    fn refusal(&self) -> String {
        "AccessDenied".into()
    }

    /// assume-role: a revoke denies the role's sessions issued before a second after it
    /// (for clocks a little apart), and [`Case::present`] compares that cutoff with when a
    /// lease was asked for; so the interrupted grant is asked for once the clock has passed
    /// the cutoff. (moto denies every session of a role with such a policy, newer ones
    /// too; the lifecycle uses only the first lease's session.)
    fn settle(&self) {
        if self.mode != AwsMode::AssumeRole {
            return;
        }
        let cutoff = self
            .sessions_denied_before()
            .expect("the revoke denied older sessions");
        crate::crash::await_that("the clock to pass the revocation cutoff", || {
            chrono::Utc::now() >= cutoff + chrono::Duration::seconds(1)
        });
    }

    fn extend(&self, lease: &Value) -> Extend {
        match self.mode {
            AwsMode::AssumeRole => Extend::Refused(format!(
                "moving the end on target \"cloud\" failed: STS credentials cannot be extended: these end at {}; request a new lease",
                lease["credentials"]["AWS_CREDENTIAL_EXPIRATION"]
                    .as_str()
                    .unwrap()
            )),
            AwsMode::InlinePolicy => Extend::MovesNativeEnd,
            AwsMode::ManagedPolicy => Extend::NothingToMove,
        }
    }
}

#[test]
fn aws_assume_role() {
    lifecycle(&Aws {
        moto: moto_server::shared(),
        mode: AwsMode::AssumeRole,
    });
}

#[test]
fn aws_inline_policy() {
    lifecycle(&Aws {
        moto: moto_server::shared(),
        mode: AwsMode::InlinePolicy,
    });
}

#[test]
fn aws_managed_policy() {
    lifecycle(&Aws {
        moto: moto_server::shared(),
        mode: AwsMode::ManagedPolicy,
    });
}

// ---- http ----

/// The suite's HTTP server playing an access service: it records every call, and what it
/// has granted is what its calls add up to (a grant adds the lease with its end, an extend
/// moves the end, a revoke takes it away).
struct Http {
    service: HttpServer,
}

impl Http {
    /// The service's grants: lease id -> the end it enforces.
    fn grants(&self) -> serde_json::Map<String, Value> {
        let mut grants = serde_json::Map::new();
        for call in self.service.requests() {
            let body = call.json();
            let id = body["lease"]["id"].as_str().unwrap().to_owned();
            match body["op"].as_str().unwrap() {
                "grant" | "extend" => {
                    grants.insert(id, body["lease"]["expires_at"].clone());
                }
                "revoke" => {
                    grants.remove(&id);
                }
                op => panic!("unexpected op {op}"),
            }
        }
        grants
    }
}

impl Case for Http {
    fn world(&self) -> World {
        let w = World::empty();
        let token = w.path("token");
        std::fs::write(&token, "Bearer conf-7d1e").unwrap();
        std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        w.write_config(&format!(
            "[targets.access]\nbackend = \"http\"\nurl = \"{}\"\nauth = \"file:{}\"\n\
             revoke_url = \"{}\"\nrevoke_method = \"DELETE\"\n\n\
             [roles.{ROLE}]\ntarget = \"access\"\nmax_ttl = \"1h\"\ngrant = {{ groups = [\"deployers\"] }}\n{}",
            self.service.url("/grants"),
            token.display(),
            self.service.url("/grants/{lease_id}"),
            eligible(&me()),
        ));
        w
    }

    fn present(&self, _w: &World, lease: &Value) -> bool {
        self.grants().contains_key(lease["id"].as_str().unwrap())
    }

    fn native_end(&self, _w: &World, lease: &Value) -> Option<String> {
        self.grants()
            .get(lease["id"].as_str().unwrap())
            .map(|end| end.as_str().unwrap().to_owned())
    }

    /// The service answers an access token with each grant; it honours it while it holds
    /// the grant.
    fn use_it(&self, w: &World, lease: &Value) -> Result<(), String> {
        assert_eq!(lease["credentials"]["ACCESS_TOKEN"], "at-conformance-5c2");
        if self.present(w, lease) {
            Ok(())
        } else {
            Err(format!(
                "the service holds no grant of lease {}",
                lease["id"]
            ))
        }
    }

    fn refusal(&self) -> String {
        "the service holds no grant".into()
    }

    fn extend(&self, _lease: &Value) -> Extend {
        Extend::MovesNativeEnd
    }
}

#[test]
fn http() {
    let service = HttpServer::start();
    service.route(
        "POST",
        "/grants",
        Reply::json(
            200,
            json!({ "credentials": { "ACCESS_TOKEN": "at-conformance-5c2" }, "handle": { "grant": "g-1" } }),
        ),
    );
    service.route("DELETE", "/grants/", Reply::status(204));
    lifecycle(&Http { service });
}
