//! `backend = "mysql"` (MariaDB 10.6+; MySQL 8 is not supported yet, see
//! docs/backends/mysql.md): ephemeral accounts with a server-side expiry backstop (a one-shot
//! event that drops the account at the lease end, where the event scheduler runs), or roles
//! granted to an existing account.
//!
//! Values reach SQL as literals quoted by the server (`QUOTE(?)` with the value bound);
//! database, table and role names are checked to be plain names and written as backquoted
//! identifiers. The password reaches the server only as its `mysql_native_password` hash.

use super::{
    Backend, BackendError, Check, Credentials, EndRequest, Grant, GrantRequest, Presence, Sharing,
};
use crate::config::mysql::{MysqlGrant, MysqlMode, MysqlTarget, MysqlTls, parse_privilege};
use crate::lease::Lease;
use chrono::{DateTime, Utc};
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder, SslOpts};
use serde_json::{Value, json};
use sha1::Digest;
use std::cell::RefCell;
use std::collections::BTreeMap;

pub struct MysqlBackend {
    settings: MysqlTarget,
    client: RefCell<Option<Conn>>,
}

/// The account an ephemeral lease gets (14 characters: within every server's limit).
pub fn ephemeral_user(lease_id: &str) -> String {
    format!("jit_{lease_id}")
}

fn event_name(lease_id: &str) -> String {
    format!("jit_expire_{lease_id}")
}

fn grant_of(params: &Value) -> Result<MysqlGrant, BackendError> {
    serde_json::from_value(params.clone()).map_err(|err| {
        BackendError::permanent(format!(
            "the role's grant table is not a mysql grant: {err}"
        ))
    })
}

fn classify(err: &mysql::Error) -> BackendError {
    match err {
        mysql::Error::MySqlError(server) => {
            let message = format!("MySQL {}: {}", server.code, server.message);
            // Lock waits, deadlocks, too many connections, server shutting down.
            if matches!(server.code, 1205 | 1213 | 1040 | 1053 | 2006 | 2013) {
                BackendError::transient(message)
            } else {
                BackendError::permanent(message)
            }
        }
        other => BackendError::transient(format!("MySQL connection: {other}")),
    }
}

/// A backquoted identifier; the name was checked to be plain (letters, digits, `_`, `-`).
fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The `mysql_native_password` hash: `*` and the hex of SHA1(SHA1(password)).
fn native_hash(password: &str) -> String {
    let stage1 = sha1::Sha1::digest(password.as_bytes());
    let stage2 = sha1::Sha1::digest(stage1);
    let mut out = String::from("*");
    for byte in stage2 {
        out.push_str(&format!("{byte:02X}"));
    }
    out
}

fn random_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

impl MysqlBackend {
    pub fn new(settings: MysqlTarget) -> Self {
        MysqlBackend {
            settings,
            client: RefCell::new(None),
        }
    }

    fn opts(&self) -> Result<Opts, BackendError> {
        Opts::from_url(&self.settings.url)
            .map_err(|err| BackendError::permanent(format!("url: {err}")))
    }

    fn connect(&self) -> Result<Conn, BackendError> {
        // Over the network as configured (no switch to a local socket found by asking the
        // server), and no round trip to read max_allowed_packet: statements are small.
        let mut builder = OptsBuilder::from_opts(self.opts()?)
            .tcp_connect_timeout(Some(self.settings.connect_timeout))
            .prefer_socket(false)
            .max_allowed_packet(Some(4 * 1024 * 1024));
        if let Some(reference) = &self.settings.password {
            let password = reference
                .resolve()
                .map_err(|err| BackendError::permanent(err.to_string()))?;
            builder = builder.pass(Some(password.expose().clone()));
        }
        let ssl = match &self.settings.tls {
            MysqlTls::Disabled => None,
            MysqlTls::Required => Some(SslOpts::default().with_danger_accept_invalid_certs(true)),
            MysqlTls::VerifyCa(ca) => Some(with_ca(
                SslOpts::default().with_danger_skip_domain_validation(true),
                ca,
            )),
            MysqlTls::VerifyIdentity(ca) => Some(with_ca(SslOpts::default(), ca)),
        };
        builder = builder.ssl_opts(ssl);
        Conn::new(builder).map_err(|err| {
            let mut failure = classify(&err);
            failure.message = format!("connecting to {}: {}", self.describe(), failure.message);
            failure
        })
    }

    fn describe(&self) -> String {
        self.opts()
            .map(|o| format!("{}:{}", o.get_ip_or_hostname(), o.get_tcp_port()))
            .unwrap_or_else(|_| "the server".to_owned())
    }

    fn database(&self) -> Option<String> {
        self.opts()
            .ok()
            .and_then(|o| o.get_db_name().map(str::to_owned))
    }

    fn host_port(&self) -> (String, u16) {
        self.opts()
            .map(|o| (o.get_ip_or_hostname().into_owned(), o.get_tcp_port()))
            .unwrap_or_else(|_| ("localhost".to_owned(), 3306))
    }

    fn with_conn<T>(
        &self,
        work: impl FnOnce(&mut Conn) -> Result<T, mysql::Error>,
    ) -> Result<T, BackendError> {
        let mut slot = self.client.borrow_mut();
        if let Some(conn) = slot.as_mut()
            && conn.ping().is_err()
        {
            *slot = None;
        }
        if slot.is_none() {
            *slot = Some(self.connect()?);
        }
        let conn = slot.as_mut().expect("connected above");
        work(conn).map_err(|err| {
            if !matches!(err, mysql::Error::MySqlError(_)) {
                *slot = None;
            }
            classify(&err)
        })
    }

    /// `'name'@'host'`, each part quoted by the server.
    fn account(conn: &mut Conn, name: &str, host: &str) -> Result<String, mysql::Error> {
        let quoted: Option<(String, String)> =
            conn.exec_first("SELECT QUOTE(?), QUOTE(?)", (name, host))?;
        let (name, host) = quoted.unwrap_or_default();
        Ok(format!("{name}@{host}"))
    }

    fn event_schema(&self) -> Option<String> {
        self.settings
            .event_schema
            .clone()
            .or_else(|| self.database())
    }

    fn scheduler_on(conn: &mut Conn) -> Result<bool, mysql::Error> {
        let state: Option<String> = conn.query_first("SELECT @@GLOBAL.event_scheduler")?;
        Ok(state.is_some_and(|s| s.eq_ignore_ascii_case("ON")))
    }

    /// The one-shot event that drops the account at `until` (sessions it leaves open are
    /// ended by the revoke `jit sweep` makes).
    fn schedule_expiry(
        &self,
        conn: &mut Conn,
        account: &str,
        lease_id: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, mysql::Error> {
        let Some(schema) = self.event_schema() else {
            return Ok(false);
        };
        let facts: Option<(String, String)> = conn.exec_first(
            "SELECT @@GLOBAL.event_scheduler, QUOTE(?)",
            (until.format("%Y-%m-%d %H:%M:%S").to_string(),),
        )?;
        let (scheduler, at) = facts.unwrap_or_default();
        if !scheduler.eq_ignore_ascii_case("ON") {
            return Ok(false);
        }
        // The event time is written in UTC.
        conn.query_drop("SET time_zone = '+00:00'")?;
        conn.query_drop(format!(
            "CREATE OR REPLACE EVENT {}.{} ON SCHEDULE AT {} ON COMPLETION NOT PRESERVE DO DROP USER IF EXISTS {account}",
            ident(&schema),
            ident(&event_name(lease_id)),
                        at,
        ))?;
        Ok(true)
    }

    fn drop_expiry(&self, conn: &mut Conn, lease_id: &str) -> Result<(), mysql::Error> {
        if let Some(schema) = self.event_schema() {
            conn.query_drop(format!(
                "DROP EVENT IF EXISTS {}.{}",
                ident(&schema),
                ident(&event_name(lease_id))
            ))?;
        }
        Ok(())
    }

    /// Grant `roles` to `account`, the first as its default role (in force at login).
    fn grant_roles(conn: &mut Conn, roles: &[String], account: &str) -> Result<(), mysql::Error> {
        for role in roles {
            conn.query_drop(format!("GRANT {} TO {account}", ident(role)))?;
        }
        if let Some(first) = roles.first() {
            conn.query_drop(format!("SET DEFAULT ROLE {} FOR {account}", ident(first)))?;
        }
        Ok(())
    }

    /// End every open session of `user`; one that ends meanwhile is fine.
    fn end_sessions(conn: &mut Conn, user: &str) -> Result<(), mysql::Error> {
        let sessions: Vec<u64> = conn.exec(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?",
            (user,),
        )?;
        for id in sessions {
            match conn.query_drop(format!("KILL CONNECTION {id}")) {
                // ER_NO_SUCH_THREAD: it ended meanwhile.
                Err(mysql::Error::MySqlError(err)) if err.code == 1094 => {}
                other => other?,
            }
        }
        Ok(())
    }

    fn role_account(grant: &MysqlGrant, lease: &Lease) -> String {
        grant
            .account
            .as_deref()
            .unwrap_or("{user}")
            .replace("{user}", &lease.subject)
    }

    fn exists(conn: &mut Conn, name: &str, host: &str) -> Result<bool, mysql::Error> {
        let found: Option<u8> = conn.exec_first(
            "SELECT 1 FROM mysql.user WHERE User = ? AND Host = ?",
            (name, host),
        )?;
        Ok(found.is_some())
    }
}

fn with_ca(ssl: SslOpts, ca: &Option<std::path::PathBuf>) -> SslOpts {
    match ca {
        Some(path) => ssl.with_root_cert_path(Some(path.clone())),
        None => ssl,
    }
}

impl Backend for MysqlBackend {
    fn kind(&self) -> &'static str {
        "mysql"
    }

    fn sharing_for(&self, params: &Value) -> Sharing {
        match grant_of(params).map(|g| g.mode) {
            Ok(MysqlMode::Role) => Sharing::PerSubject,
            _ => Sharing::PerLease,
        }
    }

    fn plan(&self, lease: &Lease, params: &Value) -> Value {
        match grant_of(params) {
            Ok(grant) if grant.mode == MysqlMode::Role => {
                json!({ "user": Self::role_account(&grant, lease), "host": grant.host })
            }
            Ok(grant) => json!({ "user": ephemeral_user(&lease.id), "host": grant.host }),
            Err(_) => json!({ "user": ephemeral_user(&lease.id), "host": "%" }),
        }
    }

    fn grant(&self, request: &GrantRequest<'_>) -> Result<Grant, BackendError> {
        let grant = grant_of(request.params)?;
        let lease = request.lease;
        match grant.mode {
            MysqlMode::Ephemeral => {
                let user = ephemeral_user(&lease.id);
                let password = random_password();
                let hash = native_hash(&password);
                let scheduled = self.with_conn(|conn| {
                    // Every value quoted by the server, in one round trip.
                    let quoted: Option<(String, String, String)> = conn.exec_first(
                        "SELECT QUOTE(?), QUOTE(?), QUOTE(?)",
                        (&user, &grant.host, hash.as_str()),
                    )?;
                    let (name, host, hash) = quoted.unwrap_or_default();
                    let account = format!("{name}@{host}");
                    conn.query_drop(format!(
                        "CREATE USER {account} IDENTIFIED BY PASSWORD {hash}"
                    ))?;
                    for statement in &grant.grants {
                        let (privileges, database, table) = parse_privilege(statement)
                            .map_err(|e| mysql::Error::from(std::io::Error::other(e)))?;
                        let object = |n: &str| if n == "*" { "*".to_owned() } else { ident(n) };
                        conn.query_drop(format!(
                            "GRANT {} ON {}.{} TO {account}",
                            privileges.join(", "),
                            object(&database),
                            object(&table)
                        ))?;
                    }
                    Self::grant_roles(conn, &grant.roles, &account)?;
                    self.schedule_expiry(conn, &account, &lease.id, request.expires_at)
                })?;
                let (host, port) = self.host_port();
                let mut credentials = BTreeMap::new();
                credentials.insert("MYSQL_HOST".to_owned(), host);
                credentials.insert("MYSQL_TCP_PORT".to_owned(), port.to_string());
                credentials.insert("MYSQL_USER".to_owned(), user.clone());
                credentials.insert("MYSQL_PWD".to_owned(), password);
                if let Some(database) = self.database() {
                    credentials.insert("MYSQL_DATABASE".to_owned(), database);
                }
                Ok(Grant {
                    handle: json!({ "user": user, "host": grant.host, "expiry_event": scheduled }),
                    credentials: Some(Credentials::new(credentials)),
                    native_expiry: scheduled.then_some(request.expires_at),
                    notice: (!scheduled).then(|| {
                        format!(
                            "{} has no event scheduler running: the account outlives the lease \
                             end until `jit sweep` runs",
                            request.target
                        )
                    }),
                })
            }
            MysqlMode::Role => {
                let user = Self::role_account(&grant, lease);
                self.with_conn(|conn| {
                    if !Self::exists(conn, &user, &grant.host)? {
                        return Ok(false);
                    }
                    let account = Self::account(conn, &user, &grant.host)?;
                    Self::grant_roles(conn, &grant.roles, &account)?;
                    Ok(true)
                })
                .and_then(|found| {
                    if found {
                        Ok(Grant {
                            handle: json!({ "user": user, "host": grant.host }),
                            credentials: None,
                            native_expiry: None,
                            notice: None,
                        })
                    } else {
                        Err(BackendError::refused(format!(
                            "account {user:?}@{:?} does not exist",
                            grant.host
                        )))
                    }
                })
            }
        }
    }

    fn revoke(&self, request: &EndRequest<'_>) -> Result<(), BackendError> {
        let grant = grant_of(request.params)?;
        let lease = request.lease;
        let recorded = |key: &str| {
            lease
                .handle
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        match grant.mode {
            MysqlMode::Ephemeral => {
                let user = recorded("user").unwrap_or_else(|| ephemeral_user(&lease.id));
                let host = recorded("host").unwrap_or(grant.host.clone());
                self.with_conn(|conn| {
                    // No new sessions, then end the open ones, then the account. Sessions
                    // outlive DROP USER (as when the expiry event dropped it): they are
                    // ended even when the account is already gone.
                    let found: Option<(String, String, bool)> = conn.exec_first(
                        "SELECT QUOTE(?), QUOTE(?), \
                         EXISTS (SELECT 1 FROM mysql.user WHERE User = ? AND Host = ?)",
                        (&user, &host, &user, &host),
                    )?;
                    let (name, quoted_host, present) = found.unwrap_or_default();
                    let account = format!("{name}@{quoted_host}");
                    if present {
                        conn.query_drop(format!("ALTER USER {account} ACCOUNT LOCK"))?;
                    }
                    // Sessions are listed after the lock: none can start after the list.
                    Self::end_sessions(conn, &user)?;
                    if present {
                        conn.query_drop(format!("DROP USER IF EXISTS {account}"))?;
                    }
                    self.drop_expiry(conn, &lease.id)
                })
            }
            MysqlMode::Role => {
                let user = recorded("user").unwrap_or_else(|| Self::role_account(&grant, lease));
                self.with_conn(|conn| {
                    if !Self::exists(conn, &user, &grant.host)? {
                        return Ok(());
                    }
                    let account = Self::account(conn, &user, &grant.host)?;
                    conn.query_drop(format!("SET DEFAULT ROLE NONE FOR {account}"))?;
                    for role in &grant.roles {
                        // Already revoked is fine.
                        let _ = conn.query_drop(format!("REVOKE {} FROM {account}", ident(role)));
                    }
                    // A session keeps a role it has enabled after the REVOKE: end them.
                    Self::end_sessions(conn, &user)
                })
            }
        }
    }

    fn extend(&self, request: &GrantRequest<'_>) -> Result<(), BackendError> {
        let grant = grant_of(request.params)?;
        if grant.mode == MysqlMode::Role {
            return Ok(());
        }
        let user = ephemeral_user(&request.lease.id);
        self.with_conn(|conn| {
            let account = Self::account(conn, &user, &grant.host)?;
            self.schedule_expiry(conn, &account, &request.lease.id, request.expires_at)
                .map(|_| ())
        })
    }

    fn inspect(&self, request: &EndRequest<'_>) -> Result<Presence, BackendError> {
        let grant = grant_of(request.params)?;
        let user = match grant.mode {
            MysqlMode::Ephemeral => ephemeral_user(&request.lease.id),
            MysqlMode::Role => Self::role_account(&grant, request.lease),
        };
        let present = self.with_conn(|conn| Self::exists(conn, &user, &grant.host))?;
        Ok(if present {
            Presence::Present
        } else {
            Presence::Absent
        })
    }

    fn check(&self, target: &str, _grants: &[&Value]) -> Vec<Check> {
        let name = |what: &str| format!("target {target}: {what}");
        let facts = self.with_conn(|conn| {
            let version: Option<String> = conn.query_first("SELECT VERSION()")?;
            let user: Option<String> = conn.query_first("SELECT CURRENT_USER()")?;
            let scheduler = Self::scheduler_on(conn)?;
            Ok((
                version.unwrap_or_default(),
                user.unwrap_or_default(),
                scheduler,
            ))
        });
        match facts {
            Err(err) => vec![Check {
                name: name("connect"),
                ok: false,
                detail: err.message,
            }],
            Ok((version, user, scheduler)) => vec![
                Check {
                    name: name("connect"),
                    ok: true,
                    detail: format!("{user} on {} ({version})", self.describe()),
                },
                Check {
                    name: name("expiry backstop"),
                    ok: true,
                    detail: if scheduler && self.event_schema().is_some() {
                        "the event scheduler is on: an account is dropped at its lease end even without jit".to_owned()
                    } else {
                        "the event scheduler is off (or no event_schema): expiry depends on `jit sweep`".to_owned()
                    },
                },
            ],
        }
    }
}
