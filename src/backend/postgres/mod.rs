//! `backend = "postgres"`: ephemeral login roles (with `VALID UNTIL`) or membership in group
//! roles, on a real server. See `docs/backends/postgres.md` for the exact statements.
//!
//! Every identifier and value reaches SQL through the server's own `format()` with `%I` and
//! `%L`, its arguments bound as parameters: nothing from a request is spliced into SQL here.
//! Passwords reach the server only as SCRAM-SHA-256 verifiers, never in plain text.

pub mod config;
mod discover;

use super::discover::{Discovery, Finding, Mark, Scope};
use super::{
    BackendError, Check, Credentials, EndRequest, Grant, GrantRequest, Presence, Sharing, Traits,
    TypedBackend,
};
use crate::lease::{Lease, rfc3339};
use crate::net::postgres::{Refused, base_config, host_port, open};
use crate::net::tls::TlsMode;

use config::{Ephemeral, Membership, PostgresGrant, PostgresTarget};
use postgres::types::{ToSql, Type};
use postgres::{Client, GenericClient};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::BTreeMap;

pub struct PostgresBackend {
    settings: PostgresTarget,
    /// The parsed URL, without the password (resolved at each connection).
    base: Result<postgres::Config, String>,
    /// The admin connection to the target's database: opened on first use, then reused
    /// (a sweep of many leases makes one connection, not one per lease).
    client: RefCell<Option<Client>>,
    last_used: std::cell::Cell<Option<std::time::Instant>>,
    /// The group roles this target's roles hand out, as the last discovery saw them: a
    /// removal (`jit discover --adopt`) must name one of them.
    groups: RefCell<std::collections::BTreeSet<String>>,
}

/// A cached connection unused for longer than this is checked before use.
const IDLE_CHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// The transaction-level advisory lock that the ephemeral grant and revoke scripts take
/// first: concurrent changes to one object's privileges (`GRANT ... ON DATABASE`) would
/// otherwise fail with "tuple concurrently updated".
pub const ACL_LOCK: i64 = 0x6a69_7400; // "jit\0"

/// The login role an ephemeral lease gets: found again from the lease id alone.
pub fn ephemeral_login(lease_id: &str) -> String {
    format!("jit_{lease_id}")
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

fn classify(err: &postgres::Error) -> BackendError {
    match err.as_db_error() {
        Some(db) => {
            let mut message = format!("PostgreSQL {}: {}", db.code().code(), db.message());
            if let Some(detail) = db.detail() {
                message.push_str(&format!(" ({detail})"));
            }
            // Classes 08 (connection), 40 (rollback), 53 (resources), 55 (object in use),
            // 57 (operator intervention), and concurrent updates of one catalog row.
            let code = db.code().code();
            let retry = ["08", "40", "53", "55", "57"]
                .iter()
                .any(|class| code.starts_with(class))
                || db.message().contains("tuple concurrently updated");
            if retry {
                BackendError::transient(message)
            } else {
                BackendError::permanent(message)
            }
        }
        None => {
            // The outer error says little ("error connecting to server"); its causes say why.
            let mut message = err.to_string();
            let mut cause = std::error::Error::source(err);
            while let Some(inner) = cause {
                message.push_str(&format!(": {inner}"));
                cause = inner.source();
            }
            BackendError::transient(format!("PostgreSQL connection: {message}"))
        }
    }
}

/// A failed script that ran as one transaction changed nothing: say so, so that no cleanup
/// is attempted. Connection failures stay transient (the commit may or may not have landed).
fn rolled_back(err: BackendError) -> BackendError {
    match err.kind {
        super::ErrorKind::Permanent => BackendError::refused(err.message),
        _ => err,
    }
}

/// Run one statement built by the server: `format(template, args...)` with the arguments
/// bound, so `%I` quotes identifiers and `%L` quotes values.
/// Text parameters for a typed query (one round trip: no separate prepare).
fn texts<'a>(values: &'a [&'a str]) -> Vec<(&'a (dyn ToSql + Sync), Type)> {
    values
        .iter()
        .map(|v| (v as &(dyn ToSql + Sync), Type::TEXT))
        .collect()
}

/// Have the server build a script: `format(template, args...)` with the arguments bound,
/// so `%I` quotes identifiers and `%L` quotes values.
fn render(
    client: &mut impl GenericClient,
    template: &str,
    args: &[&str],
) -> Result<String, postgres::Error> {
    let placeholders: Vec<String> = (1..=args.len() + 1)
        .map(|i| format!("${i}::text"))
        .collect();
    let query = format!("SELECT format({})", placeholders.join(", "));
    let mut values: Vec<&str> = vec![template];
    values.extend_from_slice(args);
    Ok(client.query_typed_one(&query, &texts(&values))?.get(0))
}

/// Render a script and run it (two round trips; the script is one implicit transaction).
fn run(
    client: &mut impl GenericClient,
    template: &str,
    args: &[&str],
) -> Result<(), postgres::Error> {
    let sql = render(client, template, args)?;
    client.batch_execute(&sql)
}

impl PostgresBackend {
    pub fn new(settings: PostgresTarget) -> Self {
        let base = base_config(&settings);
        PostgresBackend {
            settings,
            base,
            client: RefCell::new(None),
            last_used: std::cell::Cell::new(None),
            groups: RefCell::default(),
        }
    }

    /// The connection settings with the admin password, resolved now.
    fn config(&self) -> Result<postgres::Config, BackendError> {
        let mut config = self.base.clone().map_err(BackendError::permanent)?;
        if let Some(reference) = &self.settings.password {
            // A secret that cannot be had stops the call before the target is asked anything.
            let password = reference
                .resolve()
                .map_err(|err| BackendError::refused(err.to_string()))?;
            config.password(password.expose());
        }
        Ok(config)
    }

    fn database(&self) -> String {
        self.base
            .as_ref()
            .ok()
            .and_then(|c| c.get_dbname().or(c.get_user()).map(str::to_owned))
            .unwrap_or_else(|| "postgres".to_owned())
    }

    /// A new connection. Nothing is sent before it is open: a failure here (unreachable,
    /// TLS refused, login refused, password unreadable) reached nothing.
    fn connect(&self, dbname: Option<&str>) -> Result<Client, BackendError> {
        self.open_connection(dbname)
            .map_err(BackendError::before_sending)
    }

    fn open_connection(&self, dbname: Option<&str>) -> Result<Client, BackendError> {
        let mut config = self.config()?;
        if let Some(dbname) = dbname {
            config.dbname(dbname);
        }
        let connected = match open(&config, &self.settings.tls) {
            Ok(client) => Ok(client),
            Err(Refused::Tls(message)) => return Err(BackendError::permanent(message)),
            Err(Refused::Server(err)) => Err(err),
        };
        connected.map_err(|err| {
            let mut failure = classify(&err);
            failure.message = format!("connecting to {}: {}", self.describe(), failure.message);
            failure
        })
    }

    /// host:port/database, for messages (never the password).
    fn describe(&self) -> String {
        let (host, port) = self.host_port();
        format!("{host}:{port}/{}", self.database())
    }

    fn host_port(&self) -> (String, u16) {
        self.base
            .as_ref()
            .map(host_port)
            .unwrap_or_else(|_| ("localhost".to_owned(), 5432))
    }

    /// Run `work` on the admin connection, reconnecting if it was lost.
    fn with_client<T>(
        &self,
        work: impl FnOnce(&Self, &mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, BackendError> {
        let mut slot = self.client.borrow_mut();
        // A connection idle for a while may have been closed by the server (restart,
        // idle timeout): check it before trusting a statement to it.
        let idle = self
            .last_used
            .get()
            .is_none_or(|t| t.elapsed() > IDLE_CHECK);
        if let Some(client) = slot.as_mut()
            && (client.is_closed()
                || (idle && client.is_valid(self.settings.connect_timeout).is_err()))
        {
            *slot = None;
        }
        if slot.is_none() {
            *slot = Some(self.connect(None)?);
        }
        self.last_used.set(Some(std::time::Instant::now()));
        let client = slot.as_mut().expect("connected above");
        match work(self, client) {
            Ok(value) => Ok(value),
            Err(err) => {
                if err.as_db_error().is_none() || client.is_closed() {
                    *slot = None;
                }
                Err(classify(&err))
            }
        }
    }

    fn grant_ephemeral(
        &self,
        grant: &Ephemeral,
        request: &GrantRequest<'_>,
    ) -> Result<Grant, BackendError> {
        let (lease, until) = (request.lease, request.expires_at);
        let login = ephemeral_login(&lease.id);
        // The store's mark, in the same transaction as the login: a login jit made is known
        // as its own by this comment, never by its name alone (`jit discover`).
        let mark = Mark::of(request.store, lease).text();
        let password = random_password();
        let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
        let until_text = rfc3339::format(&until);
        let database = self.database();
        // One script, built by the server from bound values and run as one implicit
        // transaction: the login exists with all its memberships, or not at all.
        let limit = grant
            .connection_limit
            .map_or_else(|| "-1".to_owned(), |n| n.to_string());
        let mut template = String::from(
            "SELECT pg_advisory_xact_lock(%5$s); \
             CREATE ROLE %1$I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION \
             PASSWORD %2$L VALID UNTIL %3$L CONNECTION LIMIT %4$s; \
             COMMENT ON ROLE %1$I IS %6$L;",
        );
        let lock = ACL_LOCK.to_string();
        let mut args: Vec<&str> = vec![&login, &verifier, &until_text, &limit, &lock, &mark];
        for role in &grant.roles {
            args.push(role);
            template.push_str(&format!(" GRANT %{}$I TO %1$I;", args.len()));
        }
        if !grant.database_privileges.is_empty() {
            args.push(&database);
            template.push_str(&format!(
                " GRANT {} ON DATABASE %{}$I TO %1$I;",
                grant.database_privileges.join(", "),
                args.len()
            ));
        }
        for (schema, privileges) in &grant.schema_privileges {
            args.push(schema);
            template.push_str(&format!(
                " GRANT {} ON SCHEMA %{}$I TO %1$I;",
                privileges.join(", "),
                args.len()
            ));
        }
        self.with_client(|_, client| run(client, &template, &args))
            .map_err(rolled_back)?;
        // PostgreSQL only warns when the admin login may not hand a privilege on: check
        // that the login really holds all it was given.
        let missing =
            self.with_client(|this, client| this.missing(client, grant, &login, &database))?;
        if !missing.is_empty() {
            return Err(BackendError::permanent(format!(
                "the admin login could not grant {} to {login} (see `jit doctor`)",
                missing.join(", ")
            )));
        }
        let (host, port) = self.host_port();
        let mut credentials = BTreeMap::new();
        credentials.insert("PGHOST".to_owned(), host);
        credentials.insert("PGPORT".to_owned(), port.to_string());
        credentials.insert("PGUSER".to_owned(), login.clone());
        credentials.insert("PGPASSWORD".to_owned(), password);
        credentials.insert("PGDATABASE".to_owned(), database);
        if self.settings.tls.mode != TlsMode::Prefer {
            credentials.insert(
                "PGSSLMODE".to_owned(),
                tls_mode_name(&self.settings.tls.mode).to_owned(),
            );
        }
        Ok(Grant {
            handle: json!({ "login": login }),
            credentials: Some(Credentials::new(credentials)),
            native_expiry: Some(until),
            notice: None,
        })
    }

    /// End an ephemeral login and everything it opened and owns. Already gone is success.
    fn revoke_ephemeral(&self, login: &str) -> Result<(), BackendError> {
        // Membership first: it lets the admin end the login's sessions and take over what it
        // owns (PostgreSQL 15 and earlier do not give a role's creator those rights); then no
        // new sessions; then end the open ones.
        const CLOSE: &str = "SELECT pg_advisory_xact_lock(%2$s); GRANT %1$I TO CURRENT_USER; \
             ALTER ROLE %1$I NOLOGIN; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE usename = %1$L AND pid <> pg_backend_pid();";
        // What it owns is kept (now the admin's); its privileges go, here and on shared
        // objects such as the database itself; then the login.
        const DISOWN: &str = "SELECT pg_advisory_xact_lock(%2$s); \
             REASSIGN OWNED BY %1$I TO CURRENT_USER; DROP OWNED BY %1$I;";
        const DROP: &str = "DROP ROLE IF EXISTS %1$I;";
        let lock = ACL_LOCK.to_string();
        let finish = format!("{DISOWN} {DROP}");
        let elsewhere = self.with_client(|_, client| {
            // One round trip: does it exist, where else does it own or hold anything, and
            // both scripts, built by the server.
            let row = client.query_typed_opt(
                "SELECT ARRAY(SELECT DISTINCT d.datname::text FROM pg_shdepend s \
                 JOIN pg_database d ON d.oid = s.dbid \
                 WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = r.oid \
                 AND d.datname <> current_database() ORDER BY 1), \
                 format($2, r.rolname, $4), format($3, r.rolname, $4) \
                 FROM pg_roles r WHERE r.rolname = $1",
                &texts(&[login, CLOSE, &finish, &lock]),
            )?;
            let Some(row) = row else { return Ok(None) };
            // Committed on its own: whatever happens next, the login cannot log in again.
            client.batch_execute(row.get::<_, &str>(1))?;
            Ok(Some((
                row.get::<_, Vec<String>>(0),
                row.get::<_, String>(2),
            )))
        })?;
        let Some((databases, finish)) = elsewhere else {
            return Ok(());
        };
        for database in databases {
            let mut client = self.connect(Some(&database))?;
            run(&mut client, DISOWN, &[login, &lock]).map_err(|err| classify(&err))?;
        }
        self.with_client(|_, client| client.batch_execute(&finish))
    }

    /// End the server sessions still running the grant script of `login`. A jit killed
    /// while its script waited on the server (for a lock, say) leaves the server to run and
    /// commit it once it can: an interrupted grant judged absent must not land afterwards.
    /// (A membership grant needs none of this: its statements go one by one, and the server
    /// rolls back a transaction whose client is gone.)
    fn end_grant_sessions(&self, login: &str) -> Result<(), BackendError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let left: i64 = self.with_client(|_, client| {
                Ok(client
                    .query_one(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                         WHERE pid <> pg_backend_pid() AND usename = current_user \
                         AND application_name = 'jit' AND state <> 'idle' \
                         AND position(format('CREATE ROLE %I ', $1::text) IN query) > 0",
                        &[&login],
                    )?
                    .get(0))
            })?;
            if left == 0 {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(BackendError::transient(format!(
                    "the server still runs an interrupted grant of {login} after it was ended"
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Grant the group roles to an existing login. A membership the login holds from outside
    /// jit is refused, not taken over: ending the lease would otherwise take it away.
    fn grant_membership(
        &self,
        grant: &Membership,
        request: &GrantRequest<'_>,
    ) -> Result<Grant, BackendError> {
        let login = Self::membership_login(grant, request.lease);
        let held = self.with_client(|_, client| {
            if client
                .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&login])?
                .is_none()
            {
                return Ok(None);
            }
            let rows = client.query(
                "SELECT g.rolname::text FROM pg_auth_members m \
                 JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member \
                 WHERE u.rolname = $1 AND g.rolname = ANY($2) GROUP BY 1 ORDER BY 1",
                &[&login, &grant.roles],
            )?;
            Ok(Some(
                rows.iter()
                    .map(|r| r.get::<_, String>(0))
                    .collect::<Vec<_>>(),
            ))
        })?;
        let Some(held) = held else {
            return Err(BackendError::refused(format!(
                "login {login:?} does not exist on {}",
                self.describe()
            )));
        };
        if !held.is_empty() && !request.renewal {
            return Err(BackendError::refused(format!(
                "login {login:?} already holds {} outside jit; jit neither grants nor takes away a membership it did not give",
                held.join(", ")
            )));
        }
        self.with_client(|_, client| {
            let mut tx = client.transaction()?;
            for role in &grant.roles {
                run(&mut tx, "GRANT %I TO %I", &[role, &login])?;
            }
            tx.commit()
        })
        .map_err(rolled_back)?;
        Ok(Grant {
            handle: json!({ "login": login }),
            credentials: None,
            native_expiry: None,
            notice: None,
        })
    }

    /// What the grant asked for that `login` does not hold (one round trip).
    fn missing(
        &self,
        client: &mut Client,
        grant: &Ephemeral,
        login: &str,
        database: &str,
    ) -> Result<Vec<String>, postgres::Error> {
        let (schemas, schema_privileges): (Vec<&str>, Vec<&str>) = grant
            .schema_privileges
            .iter()
            .flat_map(|(schema, privileges)| {
                privileges
                    .iter()
                    .map(move |p| (schema.as_str(), p.as_str()))
            })
            .unzip();
        let row = client.query_typed_one(
            "SELECT \
             ARRAY(SELECT format('membership in %I', r) FROM unnest($2::text[]) r \
                   WHERE NOT pg_has_role($1, r, 'MEMBER')) \
             || ARRAY(SELECT format('%s on database %I', p, $3) FROM unnest($4::text[]) p \
                   WHERE NOT has_database_privilege($1, $3, p)) \
             || ARRAY(SELECT format('%s on schema %I', p, s) FROM unnest($5::text[], $6::text[]) AS x(s, p) \
                   WHERE NOT has_schema_privilege($1, s, p))",
            &[
                (&login, Type::TEXT),
                (&grant.roles, Type::TEXT_ARRAY),
                (&database, Type::TEXT),
                (&grant.database_privileges, Type::TEXT_ARRAY),
                (&schemas, Type::TEXT_ARRAY),
                (&schema_privileges, Type::TEXT_ARRAY),
            ],
        )?;
        Ok(row.get(0))
    }

    fn membership_login(grant: &Membership, lease: &Lease) -> String {
        grant.login.replace("{user}", &lease.subject)
    }
}

fn tls_mode_name(mode: &TlsMode) -> &'static str {
    match mode {
        TlsMode::Disable => "disable",
        TlsMode::Prefer => "prefer",
        TlsMode::Require => "require",
        TlsMode::VerifyCa => "verify-ca",
        TlsMode::VerifyFull => "verify-full",
    }
}

fn handle_login(lease: &Lease) -> Option<String> {
    lease
        .handle
        .get("login")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

impl TypedBackend for PostgresBackend {
    type Grant = PostgresGrant;
    const GRANT: &'static str = "a postgres";

    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn traits(&self, grant: &PostgresGrant) -> Traits {
        let membership = matches!(grant, PostgresGrant::Membership(_));
        Traits {
            sharing: if membership {
                Sharing::PerSubject
            } else {
                Sharing::PerLease
            },
            issues_credentials: Some(!membership),
            ..Traits::default()
        }
    }

    fn plan(&self, lease: &Lease, grant: &PostgresGrant) -> Value {
        match grant {
            PostgresGrant::Membership(grant) => {
                json!({ "login": Self::membership_login(grant, lease) })
            }
            PostgresGrant::Ephemeral(_) => json!({ "login": ephemeral_login(&lease.id) }),
        }
    }

    fn grant(
        &self,
        request: &GrantRequest<'_>,
        grant: &PostgresGrant,
    ) -> Result<Grant, BackendError> {
        match grant {
            PostgresGrant::Ephemeral(grant) => {
                self.grant_ephemeral(grant, request)
            }
            PostgresGrant::Membership(grant) => self.grant_membership(grant, request),
        }
    }

    fn revoke(
        &self,
        request: &EndRequest<'_>,
        grant: Result<&PostgresGrant, BackendError>,
    ) -> Result<(), BackendError> {
        match grant? {
            PostgresGrant::Ephemeral(_) => {
                let login = handle_login(request.lease)
                    .unwrap_or_else(|| ephemeral_login(&request.lease.id));
                if request.lease.ending == Some(crate::lease::Ending::Failed) {
                    self.end_grant_sessions(&login)?;
                }
                self.revoke_ephemeral(&login)
            }
            PostgresGrant::Membership(grant) => {
                let login = handle_login(request.lease)
                    .unwrap_or_else(|| Self::membership_login(grant, request.lease));
                self.with_client(|_, client| {
                    if client
                        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&login])?
                        .is_none()
                    {
                        return Ok(());
                    }
                    for role in &grant.roles {
                        if client
                            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[role])?
                            .is_some()
                        {
                            run(client, "REVOKE %I FROM %I", &[role, &login])?;
                        }
                    }
                    Ok(())
                })
            }
        }
    }

    fn extend(
        &self,
        request: &GrantRequest<'_>,
        grant: &PostgresGrant,
    ) -> Result<(), BackendError> {
        match grant {
            PostgresGrant::Ephemeral(_) => {
                let login = handle_login(request.lease)
                    .unwrap_or_else(|| ephemeral_login(&request.lease.id));
                let until = rfc3339::format(&request.expires_at);
                self.with_client(|_, client| {
                    run(client, "ALTER ROLE %I VALID UNTIL %L", &[&login, &until])
                })
            }
            // Membership has no end PostgreSQL enforces: the sweeper ends it.
            PostgresGrant::Membership(_) => Ok(()),
        }
    }

    fn inspect(
        &self,
        request: &EndRequest<'_>,
        grant: Result<&PostgresGrant, BackendError>,
    ) -> Result<Presence, BackendError> {
        let present = match grant? {
            PostgresGrant::Ephemeral(_) => {
                let login = handle_login(request.lease)
                    .unwrap_or_else(|| ephemeral_login(&request.lease.id));
                self.end_grant_sessions(&login)?;
                self.with_client(|_, client| {
                    Ok(client
                        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&login])?
                        .is_some())
                })?
            }
            PostgresGrant::Membership(grant) => {
                let login = handle_login(request.lease)
                    .unwrap_or_else(|| Self::membership_login(grant, request.lease));
                let roles = grant.roles.clone();
                self.with_client(|_, client| {
                    let row = client.query_one(
                        "SELECT count(*) FROM pg_auth_members m \
                         JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member \
                         WHERE u.rolname = $1 AND g.rolname = ANY($2)",
                        &[&login, &roles],
                    )?;
                    Ok(row.get::<_, i64>(0) > 0)
                })?
            }
        };
        Ok(if present {
            Presence::Present
        } else {
            Presence::Absent
        })
    }

    fn discover(
        &self,
        scope: &Scope<'_>,
        roles: &[(&str, PostgresGrant)],
    ) -> Result<Discovery, BackendError> {
        self.discover_standing(scope, roles)
    }

    fn remove(&self, finding: &Finding) -> Result<(), BackendError> {
        self.remove_finding(finding)
    }

    fn check(&self, target: &str, grants: &[PostgresGrant]) -> Vec<Check> {
        let name = |what: &str| format!("target {target}: {what}");
        let mut checks = Vec::new();
        let connected = self.with_client(|_, client| {
            let row = client.query_one(
                "SELECT current_user::text, current_database()::text, current_setting('server_version'), \
                 current_setting('server_version_num')::int, r.rolsuper, r.rolcreaterole, \
                 coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false) \
                 FROM pg_roles r WHERE r.rolname = current_user",
                &[],
            )?;
            Ok((
                row.get::<_, String>(0),
                row.get::<_, String>(1),
                row.get::<_, String>(2),
                row.get::<_, i32>(3),
                row.get::<_, bool>(4),
                row.get::<_, bool>(5),
                row.get::<_, bool>(6),
            ))
        });
        let (user, database, version, version_num, superuser, createrole, tls) = match connected {
            Ok(facts) => facts,
            Err(err) => {
                checks.push(Check {
                    name: name("connect"),
                    ok: false,
                    detail: err.message,
                });
                return checks;
            }
        };
        checks.push(Check {
            name: name("connect"),
            ok: true,
            detail: format!(
                "{user} on {} (PostgreSQL {version}, {})",
                self.describe(),
                if tls { "over TLS" } else { "without TLS" }
            ),
        });
        checks.push(Check {
            name: name("right CREATEROLE"),
            ok: superuser || createrole,
            detail: if superuser || createrole {
                format!("{user} may create and drop roles")
            } else {
                format!("{user} lacks CREATEROLE: ALTER ROLE {user} CREATEROLE")
            },
        });
        let mut roles: Vec<String> = grants
            .iter()
            .flat_map(|grant| grant.roles().iter().cloned())
            .collect();
        roles.sort();
        roles.dedup();
        for role in roles {
            let verdict = self.with_client(|_, client| {
                let row = client.query_opt(
                    "SELECT rolsuper, pg_has_role(current_user, oid, 'USAGE WITH ADMIN OPTION') \
                     FROM pg_roles WHERE rolname = $1",
                    &[&role],
                )?;
                Ok(row.map(|r| (r.get::<_, bool>(0), r.get::<_, bool>(1))))
            });
            let (ok, detail) = match verdict {
                Err(err) => (false, err.message),
                Ok(None) => (false, format!("group role {role:?} does not exist")),
                Ok(Some((true, _))) if !superuser => (
                    false,
                    format!(
                        "group role {role:?} is a superuser role; only a superuser may grant it"
                    ),
                ),
                // Before PostgreSQL 16, CREATEROLE may grant any role but a superuser one; from
                // 16 on, granting a role takes ADMIN OPTION on it, CREATEROLE or not.
                Ok(Some((_, false))) if !superuser && version_num < 160000 && !createrole => (
                    false,
                    format!(
                        "{user} may not grant {role:?}: before PostgreSQL 16 that needs CREATEROLE or ADMIN OPTION on the role: ALTER ROLE {user} CREATEROLE (or GRANT {role} TO {user} WITH ADMIN OPTION)"
                    ),
                ),
                Ok(Some((_, false))) if !superuser && version_num >= 160000 => (
                    false,
                    format!(
                        "{user} needs ADMIN OPTION on {role:?}: GRANT {role} TO {user} WITH ADMIN OPTION"
                    ),
                ),
                Ok(Some(_)) => (true, format!("{user} may grant {role:?}")),
            };
            checks.push(Check {
                name: name(&format!("role {role}")),
                ok,
                detail,
            });
        }
        // Privileges handed on need GRANT OPTION (PostgreSQL only warns without it).
        let mut wanted: Vec<(&str, String, String)> = Vec::new();
        for grant in grants.iter().filter_map(|grant| match grant {
            PostgresGrant::Ephemeral(grant) => Some(grant),
            PostgresGrant::Membership(_) => None,
        }) {
            for privilege in &grant.database_privileges {
                wanted.push(("database", database.clone(), privilege.clone()));
            }
            for (schema, privileges) in &grant.schema_privileges {
                for privilege in privileges {
                    wanted.push(("schema", schema.clone(), privilege.clone()));
                }
            }
        }
        wanted.sort();
        wanted.dedup();
        for (kind, object, privilege) in wanted {
            let query = match kind {
                // Held by PUBLIC already (CONNECT and TEMPORARY on databases by default), the
                // login has it without the admin handing it on.
                "database" => {
                    "SELECT has_database_privilege(current_user, $1, $2 || ' WITH GRANT OPTION') \
                     OR has_database_privilege('public', $1, $2)"
                }
                _ => {
                    "SELECT has_schema_privilege(current_user, $1, $2 || ' WITH GRANT OPTION') \
                     OR has_schema_privilege('public', $1, $2)"
                }
            };
            let held = self.with_client(|_, client| {
                Ok(client
                    .query_one(query, &[&object, &privilege])?
                    .get::<_, bool>(0))
            });
            let (ok, detail) = match held {
                Ok(true) => (
                    true,
                    format!("{user} may grant {privilege} on {kind} {object:?}"),
                ),
                Ok(false) => (
                    false,
                    format!(
                        "{user} lacks GRANT OPTION for {privilege} on {kind} {object:?}: GRANT {privilege} ON {} {object} TO {user} WITH GRANT OPTION",
                        kind.to_uppercase()
                    ),
                ),
                Err(err) => (false, err.message),
            };
            checks.push(Check {
                name: name(&format!("{privilege} on {kind} {object}")),
                ok,
                detail,
            });
        }
        checks
    }
}
