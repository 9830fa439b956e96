//! `backend = "mysql"` (MariaDB 10.6+; MySQL 8 is not supported yet, see
//! docs/backends/mysql.md): ephemeral accounts with a server-side expiry backstop (a one-shot
//! event that drops the account at the lease end, where the event scheduler runs), or roles
//! granted to an existing account.
//!
//! Values reach SQL as literals quoted by the server (`QUOTE(X'..')`: the value travels as
//! hex digits); database, table and role names are checked to be plain names and written as
//! backquoted identifiers. The statements of one step go in one round trip. The password reaches the server only as its `mysql_native_password` hash.

pub mod config;
mod discover;
mod rights;

use super::discover::{Discovery, Finding, Mark, Scope};
use super::{
    BackendError, Check, Credentials, EndRequest, Grant, GrantRequest, Presence, Sharing, Traits,
    TypedBackend,
};
use crate::lease::Lease;
use chrono::{DateTime, Utc};
use config::{MysqlGrant, MysqlRole, MysqlTarget, MysqlTls, parse_privilege};
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder, Row, SslOpts};
use rights::Rights;
use serde_json::{Value, json};
use sha1::Digest;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// An account as [`MysqlBackend::lookup`] finds it.
struct Account {
    /// `'name'@'host'`, quoted by the server.
    account: String,
    /// `'name'`, quoted by the server.
    name: String,
    present: bool,
}

pub struct MysqlBackend {
    settings: MysqlTarget,
    client: RefCell<Option<Conn>>,
    /// What the last discovery saw this target's roles hand out.
    seen: RefCell<discover::Seen>,
}

/// The account an ephemeral lease gets (14 characters: within every server's limit).
pub fn ephemeral_user(lease_id: &str) -> String {
    format!("jit_{lease_id}")
}

/// ER_NONEXISTING_GRANT, ER_CANNOT_REVOKE_ROLE: a REVOKE of something the account does not
/// hold.
const NOT_GRANTED: [u16; 2] = [1141, 1962];

fn event_name(lease_id: &str) -> String {
    format!("jit_expire_{lease_id}")
}

/// The disabled event that carries an ephemeral account's mark where no expiry event can
/// (the event scheduler is off): MariaDB has no comment on an account.
fn mark_event_name(lease_id: &str) -> String {
    format!("jit_mark_{lease_id}")
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
        other => BackendError::transient(format!("MySQL connection: {}", driver_message(other))),
    }
}

/// What went wrong, in words: the driver's own `Display` wraps each cause in its variant's
/// name (`IoError { server disconnected }`).
fn driver_message(err: &mysql::Error) -> String {
    match err {
        mysql::Error::IoError(err) => err.to_string(),
        mysql::Error::CodecError(err) => err.to_string(),
        mysql::Error::DriverError(err) => err.to_string(),
        mysql::Error::UrlError(err) => err.to_string(),
        mysql::Error::TlsError(err) => err.to_string(),
        mysql::Error::MySqlError(err) => format!("MySQL {}: {}", err.code, err.message),
        mysql::Error::FromRowError(_) | mysql::Error::FromValueError(_) => {
            "the server's answer has an unexpected shape".to_owned()
        }
    }
}

/// An SQL expression the server turns into the quoted literal of `value`: the value travels
/// as a hex literal (only hex digits, whatever it holds), so it can be sent in a text query
/// and many of them in one round trip.
fn quoted(value: &str) -> String {
    format!("QUOTE({})", text(value))
}

/// `value` as a utf8mb4 string expression, written as a hex literal.
fn text(value: &str) -> String {
    let mut hex = String::with_capacity(value.len() * 2);
    for byte in value.bytes() {
        hex.push_str(&format!("{byte:02X}"));
    }
    format!("CONVERT(X'{hex}' USING utf8mb4)")
}

/// Run `statements` in one round trip (a multi-statement query) and return the rows of
/// every result set. The server stops at the first statement that fails, and that error
/// fails the batch: a failure after the first statement is not lost.
fn batch(conn: &mut Conn, statements: &[String]) -> Result<Vec<Row>, mysql::Error> {
    Ok(batch_sets(conn, statements)?
        .into_iter()
        .flatten()
        .collect())
}

/// [`batch`], with the rows of each result set apart, in order.
fn batch_sets(conn: &mut Conn, statements: &[String]) -> Result<Vec<Vec<Row>>, mysql::Error> {
    if statements.is_empty() {
        return Ok(Vec::new());
    }
    let mut result = conn.query_iter(statements.join(";\n"))?;
    let mut sets = Vec::new();
    while let Some(set) = result.iter() {
        let mut rows = Vec::new();
        for row in set {
            rows.push(row?);
        }
        sets.push(rows);
    }
    Ok(sets)
}

/// The admin account as `CURRENT_USER()` names it (`jit_admin@10.0.0.5`), and as a GRANT
/// statement writes it (`'jit_admin'@'10.0.0.5'`).
fn admin_account(conn: &mut Conn) -> Result<(String, String), mysql::Error> {
    let current: Option<String> = conn.query_first("SELECT CURRENT_USER()")?;
    let current = current.unwrap_or_default();
    let (user, host) = current.rsplit_once('@').unwrap_or((current.as_str(), "%"));
    let quote = |text: &str| format!("'{}'", text.replace('\'', "''"));
    let statement = format!("{}@{}", quote(user), quote(host));
    Ok((current, statement))
}

/// Why a revoke cannot trust the sessions it listed for `name` (a quoted literal): the admin
/// sees only its own sessions. `None` when it sees every account's.
fn blind(conn: &mut Conn, grants: Vec<Row>, name: &str) -> Result<Option<String>, mysql::Error> {
    let lines: Vec<String> = grants
        .into_iter()
        .map(mysql::from_row_opt::<String>)
        .collect::<Result<_, _>>()
        .map_err(mysql::Error::from)?;
    if Rights::parse(&lines).sees_sessions() {
        return Ok(None);
    }
    let (admin, statement) = admin_account(conn)?;
    Ok(Some(format!(
        "{admin} lacks PROCESS, so it sees no other account's sessions: the open sessions of {name} cannot be found and ended (GRANT PROCESS ON *.* TO {statement})"
    )))
}

/// The mark as a string literal (an event's COMMENT takes no expression). It is letters,
/// digits and colons only (a store's name, a lease id), and anything else is left out.
fn mark_literal(mark: &Mark) -> String {
    let text: String = mark
        .text()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == ':')
        .collect();
    format!("'{text}'")
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
            seen: RefCell::default(),
        }
    }

    fn opts(&self) -> Result<Opts, BackendError> {
        Opts::from_url(&self.settings.url)
            .map_err(|err| BackendError::permanent(format!("url: {err}")))
    }

    /// A new connection. Nothing is sent before it is open: a failure here (unreachable,
    /// TLS refused, login refused, password unreadable) reached nothing.
    fn connect(&self) -> Result<Conn, BackendError> {
        self.open_connection().map_err(BackendError::before_sending)
    }

    fn open_connection(&self) -> Result<Conn, BackendError> {
        // Over the network as configured (no switch to a local socket found by asking the
        // server), and no round trip to read max_allowed_packet: statements are small.
        let mut builder = OptsBuilder::from_opts(self.opts()?)
            .tcp_connect_timeout(Some(self.settings.connect_timeout))
            .prefer_socket(false)
            .max_allowed_packet(Some(4 * 1024 * 1024));
        if let Some(reference) = &self.settings.password {
            // A secret that cannot be had stops the call before the target is asked anything.
            let password = reference
                .resolve()
                .map_err(|err| BackendError::refused(err.to_string()))?;
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

    /// End the server sessions of jit's admin account still running the grant of the
    /// ephemeral account `user`. A jit killed while its statements waited on the server (for
    /// a lock, say) leaves the server to run them once it can: an interrupted grant judged
    /// absent must not land afterwards.
    fn end_grant_sessions(&self, user: &str) -> Result<(), BackendError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let sessions: Vec<u64> = self.with_conn(|conn| {
                conn.query(format!(
                    "SELECT ID FROM information_schema.PROCESSLIST \
                     WHERE ID <> CONNECTION_ID() \
                     AND USER = SUBSTRING_INDEX(CURRENT_USER(), '@', 1) \
                     AND LOCATE(CONCAT(QUOTE({}), '@'), INFO) > 0",
                    text(user)
                ))
            })?;
            if sessions.is_empty() {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(BackendError::transient(format!(
                    "the server still runs an interrupted grant of {user} after it was ended"
                )));
            }
            for id in sessions {
                // Gone meanwhile (1094, no such thread) is as good.
                let _ = self.with_conn(|conn| conn.query_drop(format!("KILL CONNECTION {id}")));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// The account `'name'@'host'` (each part quoted by the server), `'name'` alone, and
    /// whether the account exists: one round trip.
    fn lookup(conn: &mut Conn, name: &str, host: &str) -> Result<Account, mysql::Error> {
        let found: Option<(String, String, u8)> = conn.query_first(format!(
            "SELECT {}, {}, EXISTS (SELECT 1 FROM mysql.user WHERE User = {} AND Host = {})",
            quoted(name),
            quoted(host),
            text(name),
            text(host)
        ))?;
        let (name, host, present) = found.unwrap_or_default();
        Ok(Account {
            account: format!("{name}@{host}"),
            name,
            present: present == 1,
        })
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

    /// The statements that (re)create the one-shot event dropping `account` at `at` (a
    /// quoted `YYYY-MM-DD hh:mm:ss` in UTC). Sessions it leaves open are ended by the revoke
    /// `jit sweep` makes.
    /// The event's comment carries the store's mark (`jit discover` knows the account as
    /// jit's own by it).
    fn expiry_statements(schema: &str, account: &str, mark: &Mark, at: &str) -> [String; 2] {
        [
            // The event time is written in UTC.
            "SET time_zone = '+00:00'".to_owned(),
            format!(
                "CREATE OR REPLACE EVENT {}.{} ON SCHEDULE AT {at} ON COMPLETION NOT PRESERVE \
                 COMMENT {} DO DROP USER IF EXISTS {account}",
                ident(schema),
                ident(&event_name(&mark.lease)),
                mark_literal(mark),
            ),
        ]
    }

    /// Where the scheduler is off (not disabled at startup), a disabled event that only
    /// carries the mark of the account: it never runs, and the revoke drops it.
    fn mark_statements(schema: &str, account: &str, mark: &Mark, at: &str) -> [String; 2] {
        [
            "SET time_zone = '+00:00'".to_owned(),
            format!(
                "CREATE OR REPLACE EVENT {}.{} ON SCHEDULE AT {at} ON COMPLETION PRESERVE \
                 DISABLE COMMENT {} DO DROP USER IF EXISTS {account}",
                ident(schema),
                ident(&mark_event_name(&mark.lease)),
                mark_literal(mark),
            ),
        ]
    }

    /// Granting `roles` to `account`, the first as its default role (in force at login).
    fn role_statements(roles: &[String], account: &str) -> Vec<String> {
        let mut statements: Vec<String> = roles
            .iter()
            .map(|role| format!("GRANT {} TO {account}", ident(role)))
            .collect();
        if let Some(first) = roles.first() {
            statements.push(format!("SET DEFAULT ROLE {} FOR {account}", ident(first)));
        }
        statements
    }

    /// End the sessions `ids`; one that ends meanwhile is fine.
    fn kill(conn: &mut Conn, ids: &[Row]) -> Result<(), mysql::Error> {
        for row in ids {
            let id: u64 = mysql::from_row_opt(row.clone()).map_err(mysql::Error::from)?;
            match conn.query_drop(format!("KILL CONNECTION {id}")) {
                // ER_NO_SUCH_THREAD: it ended meanwhile.
                Err(mysql::Error::MySqlError(err)) if err.code == 1094 => {}
                other => other?,
            }
        }
        Ok(())
    }

    /// The sessions of the user `name` (a quoted literal).
    fn sessions_of(name: &str) -> String {
        format!("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = {name}")
    }

    /// End an ephemeral account, its sessions and its events. Already gone is success.
    fn end_account(&self, user: &str, host: &str, lease_id: &str) -> Result<(), BackendError> {
        let schema = self.event_schema();
        self.with_conn(|conn| {
            // No new sessions, then end the open ones, then the account. Sessions
            // outlive DROP USER (as when the expiry event dropped it): they are
            // ended even when the account is already gone.
            let found = Self::lookup(conn, user, host)?;
            let mut statements = Vec::new();
            if found.present {
                statements.push(format!("ALTER USER {} ACCOUNT LOCK", found.account));
            }
            // Sessions are listed after the lock: none can start after the list. The
            // admin's rights say whether the list can be trusted.
            statements.push("SHOW GRANTS".to_owned());
            statements.push(Self::sessions_of(&found.name));
            let mut sets = batch_sets(conn, &statements)?;
            let sessions = sets.pop().unwrap_or_default();
            if let Some(why) = blind(conn, sets.pop().unwrap_or_default(), &found.name)? {
                return Ok(Err(why));
            }
            Self::kill(conn, &sessions)?;
            let mut statements = Vec::new();
            if found.present {
                statements.push(format!("DROP USER IF EXISTS {}", found.account));
            }
            if let Some(schema) = &schema {
                for event in [event_name(lease_id), mark_event_name(lease_id)] {
                    statements.push(format!(
                        "DROP EVENT IF EXISTS {}.{}",
                        ident(schema),
                        ident(&event)
                    ));
                }
            }
            batch(conn, &statements).map(|_| Ok(()))
        })?
        .map_err(BackendError::permanent)
    }

    fn role_account(grant: &MysqlRole, lease: &Lease) -> String {
        grant.account.replace("{user}", &lease.subject)
    }
}

/// `GRANT privileges ON database.table` for each configured grant (the account follows).
fn privilege_grants(grants: &[String]) -> Result<Vec<String>, BackendError> {
    let object = |n: &str| if n == "*" { "*".to_owned() } else { ident(n) };
    grants
        .iter()
        .map(|statement| {
            let (privileges, database, table) =
                parse_privilege(statement).map_err(BackendError::permanent)?;
            Ok(format!(
                "GRANT {} ON {}.{}",
                privileges.join(", "),
                object(&database),
                object(&table)
            ))
        })
        .collect()
}

/// A time as MySQL's `YYYY-MM-DD hh:mm:ss`, in UTC.
fn utc_text(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn with_ca(ssl: SslOpts, ca: &Option<std::path::PathBuf>) -> SslOpts {
    match ca {
        Some(path) => ssl.with_root_cert_path(Some(path.clone())),
        None => ssl,
    }
}

impl TypedBackend for MysqlBackend {
    type Grant = MysqlGrant;
    const GRANT: &'static str = "a mysql";

    fn kind(&self) -> &'static str {
        "mysql"
    }

    fn traits(&self, grant: &MysqlGrant) -> Traits {
        let role = !grant.is_ephemeral();
        Traits {
            sharing: if role {
                Sharing::PerSubject
            } else {
                Sharing::PerLease
            },
            issues_credentials: Some(!role),
            ..Traits::default()
        }
    }

    fn plan(&self, lease: &Lease, grant: &MysqlGrant) -> Value {
        match grant {
            MysqlGrant::Role(role) => {
                json!({ "user": Self::role_account(role, lease), "host": role.host })
            }
            MysqlGrant::Ephemeral(ephemeral) => {
                json!({ "user": ephemeral_user(&lease.id), "host": ephemeral.host })
            }
        }
    }

    fn grant(&self, request: &GrantRequest<'_>, grant: &MysqlGrant) -> Result<Grant, BackendError> {
        let lease = request.lease;
        match grant {
            MysqlGrant::Ephemeral(grant) => {
                let user = ephemeral_user(&lease.id);
                let password = random_password();
                let hash = native_hash(&password);
                let privileges = privilege_grants(&grant.grants)?;
                let schema = self.event_schema();
                let scheduled = self.with_conn(|conn| {
                    // Round trip one: every value quoted by the server, and the scheduler.
                    let facts: Option<(String, String, String, String, String)> = conn
                        .query_first(format!(
                            "SELECT {}, {}, {}, {}, @@GLOBAL.event_scheduler",
                            quoted(&user),
                            quoted(&grant.host),
                            quoted(&hash),
                            quoted(&utc_text(request.expires_at)),
                        ))?;
                    let (name, host, hash, at, scheduler) = facts.unwrap_or_default();
                    let account = format!("{name}@{host}");
                    // Round trip two: the account, its rights and its expiry event.
                    let mut statements = vec![format!(
                        "CREATE USER {account} IDENTIFIED BY PASSWORD {hash}"
                    )];
                    statements.extend(privileges.iter().map(|p| format!("{p} TO {account}")));
                    statements.extend(Self::role_statements(&grant.roles, &account));
                    let mark = Mark::of(request.store, lease);
                    let on = scheduler.eq_ignore_ascii_case("ON");
                    match &schema {
                        Some(schema) if on => statements
                            .extend(Self::expiry_statements(schema, &account, &mark, &at)),
                        Some(schema) if scheduler.eq_ignore_ascii_case("OFF") => statements
                            .extend(Self::mark_statements(schema, &account, &mark, &at)),
                        _ => {}
                    }
                    batch(conn, &statements)?;
                    Ok(on && schema.is_some())
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
                            &request.lease.target
                        )
                    }),
                })
            }
            MysqlGrant::Role(grant) => {
                let user = Self::role_account(grant, lease);
                let found = self.with_conn(|conn| {
                    let found = Self::lookup(conn, &user, &grant.host)?;
                    if found.present {
                        batch(conn, &Self::role_statements(&grant.roles, &found.account))?;
                    }
                    Ok(found.present)
                })?;
                if !found {
                    return Err(BackendError::refused(format!(
                        "account {user:?}@{:?} does not exist",
                        grant.host
                    )));
                }
                Ok(Grant {
                    handle: json!({ "user": user, "host": grant.host }),
                    credentials: None,
                    native_expiry: None,
                    notice: None,
                })
            }
        }
    }

    fn revoke(
        &self,
        request: &EndRequest<'_>,
        grant: Result<&MysqlGrant, BackendError>,
    ) -> Result<(), BackendError> {
        let grant = grant?;
        let lease = request.lease;
        let recorded = |key: &str| {
            lease
                .handle
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        match grant {
            MysqlGrant::Ephemeral(grant) => {
                let user = recorded("user").unwrap_or_else(|| ephemeral_user(&lease.id));
                let host = recorded("host").unwrap_or(grant.host.clone());
                if lease.ending == Some(crate::lease::Ending::Failed) {
                    self.end_grant_sessions(&user)?;
                }
                self.end_account(&user, &host, &lease.id)
            }
            MysqlGrant::Role(grant) => {
                let user = recorded("user").unwrap_or_else(|| Self::role_account(grant, lease));
                self.with_conn(|conn| {
                    let found = Self::lookup(conn, &user, &grant.host)?;
                    if !found.present {
                        return Ok(Ok(()));
                    }
                    conn.query_drop(format!("SET DEFAULT ROLE NONE FOR {}", found.account))?;
                    for role in &grant.roles {
                        match conn.query_drop(format!(
                            "REVOKE {} FROM {}",
                            ident(role),
                            found.account
                        )) {
                            // Not held (any more).
                            Err(mysql::Error::MySqlError(err))
                                if NOT_GRANTED.contains(&err.code) => {}
                            other => other?,
                        }
                    }
                    // A session keeps a role it has enabled after the REVOKE: end them.
                    let mut sets = batch_sets(
                        conn,
                        &["SHOW GRANTS".to_owned(), Self::sessions_of(&found.name)],
                    )?;
                    let sessions = sets.pop().unwrap_or_default();
                    if let Some(why) = blind(conn, sets.pop().unwrap_or_default(), &found.name)? {
                        return Ok(Err(why));
                    }
                    Self::kill(conn, &sessions).map(Ok)
                })?
                .map_err(BackendError::permanent)
            }
        }
    }

    fn extend(&self, request: &GrantRequest<'_>, grant: &MysqlGrant) -> Result<(), BackendError> {
        let Some(schema) = self
            .event_schema()
            .filter(|_| grant.is_ephemeral())
        else {
            return Ok(());
        };
        let user = ephemeral_user(&request.lease.id);
        self.with_conn(|conn| {
            let facts: Option<(String, String, String, String)> = conn.query_first(format!(
                "SELECT {}, {}, {}, @@GLOBAL.event_scheduler",
                quoted(&user),
                quoted(grant.host()),
                quoted(&utc_text(request.expires_at)),
            ))?;
            let (name, host, at, scheduler) = facts.unwrap_or_default();
            if !scheduler.eq_ignore_ascii_case("ON") {
                return Ok(());
            }
            let account = format!("{name}@{host}");
            batch(
                conn,
                &Self::expiry_statements(
                    &schema,
                    &account,
                    &Mark::of(request.store, request.lease),
                    &at,
                ),
            )
            .map(drop)
        })
    }

    fn inspect(
        &self,
        request: &EndRequest<'_>,
        grant: Result<&MysqlGrant, BackendError>,
    ) -> Result<Presence, BackendError> {
        let grant = grant?;
        let user = match grant {
            MysqlGrant::Ephemeral(_) => ephemeral_user(&request.lease.id),
            MysqlGrant::Role(role) => Self::role_account(role, request.lease),
        };
        if grant.is_ephemeral() {
            self.end_grant_sessions(&user)?;
        }
        let found = self.with_conn(|conn| Self::lookup(conn, &user, grant.host()))?;
        Ok(if found.present {
            Presence::Present
        } else {
            Presence::Absent
        })
    }

    fn discover(
        &self,
        scope: &Scope<'_>,
        roles: &[(&str, MysqlGrant)],
    ) -> Result<Discovery, BackendError> {
        self.discover_standing(scope, roles)
    }

    fn remove(&self, finding: &Finding) -> Result<(), BackendError> {
        self.remove_finding(finding)
    }

    fn check(&self, target: &str, grants: &[MysqlGrant]) -> Vec<Check> {
        let name = |what: &str| format!("target {target}: {what}");
        let facts = self.with_conn(|conn| {
            let version: Option<String> = conn.query_first("SELECT VERSION()")?;
            let scheduler = Self::scheduler_on(conn)?;
            let (user, account) = admin_account(conn)?;
            let lines: Vec<String> = conn.query("SHOW GRANTS")?;
            Ok((
                version.unwrap_or_default(),
                user,
                account,
                scheduler,
                Rights::parse(&lines),
            ))
        });
        let (version, user, account, scheduler, rights) = match facts {
            Err(err) => {
                return vec![Check {
                    name: name("connect"),
                    ok: false,
                    detail: err.message,
                }];
            }
            Ok(facts) => facts,
        };
        let mut checks = vec![
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
                    "the event scheduler is off (or no event_schema): expiry depends on `jit sweep`"
                        .to_owned()
                },
            },
        ];
        let mut right = |what: String, ok: bool, can: String, lacks: String, statement: String| {
            checks.push(Check {
                name: name(&what),
                ok,
                detail: if ok {
                    format!("{user} {can}")
                } else {
                    format!("{user} lacks {lacks}: {statement}")
                },
            });
        };
        let parsed = grants;
        let ephemeral = parsed.iter().any(|g| g.is_ephemeral());
        if ephemeral {
            right(
                "right CREATE USER".to_owned(),
                rights.holds("CREATE USER", "*", "*", false),
                "may create, lock and drop accounts".to_owned(),
                "CREATE USER".to_owned(),
                format!("GRANT CREATE USER ON *.* TO {account}"),
            );
        }
        right(
            "SELECT on mysql.user".to_owned(),
            rights.holds("SELECT", "mysql", "user", false),
            "may look accounts up".to_owned(),
            "SELECT on mysql.user".to_owned(),
            format!("GRANT SELECT ON mysql.user TO {account}"),
        );
        right(
            "right PROCESS".to_owned(),
            rights.sees_sessions(),
            "sees every account's sessions".to_owned(),
            "PROCESS (a revoke cannot see the sessions it must end)".to_owned(),
            format!("GRANT PROCESS ON *.* TO {account}"),
        );
        right(
            "right CONNECTION ADMIN".to_owned(),
            rights.ends_sessions(),
            "may end other accounts' sessions".to_owned(),
            "CONNECTION ADMIN (a revoke cannot end the sessions it finds)".to_owned(),
            format!("GRANT CONNECTION ADMIN ON *.* TO {account}"),
        );
        // Each privilege an ephemeral grant hands on, on its object.
        let mut wanted: Vec<(String, String, String)> = parsed
            .iter()
            .filter_map(|g| match g {
                MysqlGrant::Ephemeral(g) => Some(g),
                MysqlGrant::Role(_) => None,
            })
            .flat_map(|g| g.grants.iter())
            .filter_map(|statement| parse_privilege(statement).ok())
            .flat_map(|(privileges, database, table)| {
                privileges.into_iter().map(move |privilege| {
                    let privilege = if privilege == "ALL" {
                        "ALL PRIVILEGES".to_owned()
                    } else {
                        privilege
                    };
                    (database.clone(), table.clone(), privilege)
                })
            })
            .collect();
        wanted.sort();
        wanted.dedup();
        for (database, table, privilege) in wanted {
            let object = |n: &str| if n == "*" { "*".to_owned() } else { ident(n) };
            right(
                format!("GRANT OPTION for {privilege} on {database}.{table}"),
                rights.holds(&privilege, &database, &table, true),
                format!("may grant {privilege} on {database}.{table}"),
                format!("GRANT OPTION for {privilege} on {database}.{table}"),
                format!(
                    "GRANT {privilege} ON {}.{} TO {account} WITH GRANT OPTION",
                    object(&database),
                    object(&table)
                ),
            );
        }
        let mut roles: Vec<&String> = parsed.iter().flat_map(|g| g.roles().iter()).collect();
        roles.sort();
        roles.dedup();
        for role in &roles {
            right(
                format!("role {role}"),
                rights.administers(role),
                format!("may grant and revoke {role:?}"),
                format!("ADMIN OPTION on {role:?}"),
                format!("GRANT {} TO {account} WITH ADMIN OPTION", ident(role)),
            );
        }
        if !roles.is_empty() {
            right(
                "UPDATE on mysql.*".to_owned(),
                rights.holds("UPDATE", "mysql", "*", false),
                "may set another account's default role".to_owned(),
                "UPDATE on mysql.* (SET DEFAULT ROLE ... FOR another account)".to_owned(),
                format!("GRANT UPDATE ON mysql.* TO {account}"),
            );
        }
        if let Some(schema) = self.event_schema().filter(|_| ephemeral) {
            right(
                format!("EVENT on {schema}"),
                rights.holds("EVENT", &schema, "*", false),
                format!("may create and drop the expiry events in {schema:?}"),
                format!("EVENT on {schema:?} (every ephemeral revoke drops its event)"),
                format!("GRANT EVENT ON {}.* TO {account}", ident(&schema)),
            );
        }
        checks
    }
}
