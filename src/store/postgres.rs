//! The team store: leases, approvals, the audit chain and the work queue in one PostgreSQL
//! database shared by everyone (`[store] kind = "postgres"`). Each person logs in as
//! themselves; what a login may read and write is the database's to enforce (grants and
//! row-level security, see postgres.sql), so a requester's login cannot approve, change a
//! lease or write the audit trail even with raw SQL. Writers lock the lease rows they read
//! and the head of the audit chain, so workers on several hosts keep one chain.

use super::error::Context as _;
use super::lease_row::{self, EVENT_COLUMNS};
use super::{
    AuditLog, ChainHead, Checkpoint, EventFilter, Guard, Held, LeaseDocuments, LeaseFilter,
    LeaseStore, Lock, Locks, Result as StoreResult, ShippingState, Store, StoreError, Tx, Work,
};
use crate::audit::{AuditEvent, Break, NewEvent, RawRecord, Verifier};
use crate::lease::{Approval, Lease};
use crate::net::postgres::Connection;
use anyhow::{Context as _, Result, bail};
use chrono::{DateTime, Utc};
use postgres::types::ToSql;
use postgres::{Client, Row, Transaction};
use std::cell::{RefCell, RefMut};
use std::rc::Rc;
use std::time::Duration;

pub const SCHEMA: &str = include_str!("postgres.sql");
/// Who may insert which rows into the work queue: run after [`SCHEMA`], and again by the
/// upgrade from any earlier schema.
const REQUEST_POLICIES: &str = include_str!("postgres-requests.sql");
pub const SCHEMA_VERSION: i32 = 4;

/// From schema 3 to 4: leases and requests by AI agents (`jit mcp`); the work queue's
/// insert policies, made again, let only a request carry them.
const UPGRADE_TO_4: &str = "
    ALTER TABLE jit.leases ADD COLUMN IF NOT EXISTS agent TEXT, ADD COLUMN IF NOT EXISTS agent_session TEXT;
    ALTER TABLE jit.requests ADD COLUMN IF NOT EXISTS agent TEXT,
        ADD COLUMN IF NOT EXISTS agent_session TEXT;
    GRANT INSERT (agent, agent_session) ON jit.requests TO jit_requester, jit_approver;
    DROP POLICY IF EXISTS ask ON jit.requests;
    DROP POLICY IF EXISTS decide ON jit.requests;
";

/// From schema 2 to 3: the store has a name of its own, the mark on what jit grants.
const UPGRADE_TO_3: &str = "
    ALTER TABLE jit.meta ADD COLUMN store_id TEXT NOT NULL
        DEFAULT substr(md5(gen_random_uuid()::text), 1, 16);
";

/// From schema 1 to 2: the shipping checkpoints keep the hash of the last record shipped;
/// one request row per lease (a second one, which only a forged insert could make, is
/// unlinked and refused); the work queue's insert policies check whose lease a row names.
const UPGRADE_TO_2: &str = "
    ALTER TABLE jit.audit_shipping ADD COLUMN hash TEXT;
    LOCK TABLE jit.requests IN EXCLUSIVE MODE;
    UPDATE jit.requests r SET lease_id = NULL,
        status = CASE WHEN r.status IN ('new', 'pending') THEN 'refused' ELSE r.status END,
        exit_code = CASE WHEN r.status IN ('new', 'pending') THEN 3 ELSE r.exit_code END,
        answered_at = COALESCE(r.answered_at, now()),
        message = COALESCE(r.message || '; ', '') || 'unlinked from lease ' || r.lease_id
            || ' by the upgrade to schema 2: that lease was created by another request'
    WHERE r.kind = 'request' AND r.lease_id IS NOT NULL
      AND r.id IS DISTINCT FROM (
          SELECT min(o.id) FROM jit.requests o JOIN jit.leases l ON l.id = o.lease_id
          WHERE o.kind = 'request' AND o.lease_id = r.lease_id AND o.requester = l.requester);
    DROP INDEX jit.requests_by_lease;
    CREATE UNIQUE INDEX requests_one_per_lease ON jit.requests (lease_id) WHERE kind = 'request';
    DROP POLICY ask ON jit.requests;
    DROP POLICY decide ON jit.requests;
";

/// What `jit store init` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    Created,
    /// Brought up to [`SCHEMA_VERSION`] from this schema.
    Upgraded(i32),
    AlreadyCurrent,
}
/// The database roles `jit store init` creates; logins are made members of them.
pub const ROLES: [&str; 3] = ["jit_requester", "jit_approver", "jit_worker"];

/// A parameter of a PostgreSQL statement.
fn mark(index: usize) -> String {
    format!("${index}")
}

pub struct PgStore {
    client: RefCell<Client>,
    /// How this session connected, for a second connection (the shipping lock).
    config: postgres::Config,
    tls: crate::net::tls::Tls,
    location: String,
    /// The login of this session: who is acting, as the database knows it.
    user: String,
    committed: RefCell<Vec<AuditEvent>>,
    /// Connections of their own for advisory locks, idle between locks: a worker takes an
    /// entitlement's lock for every shared grant and revoke, and a new connection for each
    /// costs more than the rest of the step.
    lock_sessions: Rc<RefCell<Vec<Client>>>,
}

/// A held advisory lock: released when dropped, and its session kept for the next lock (a
/// session that cannot say it released the lock is closed instead, which releases it).
pub(super) struct HeldLock {
    client: Option<Client>,
    key: &'static str,
    name: String,
    idle: Rc<RefCell<Vec<Client>>>,
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        let Some(mut client) = self.client.take() else {
            return;
        };
        let unlock = format!("SELECT pg_advisory_unlock({})", self.key);
        let released = client
            .query_one(&unlock, &[&self.name])
            .is_ok_and(|row| row.get::<_, bool>(0));
        if released {
            self.idle.borrow_mut().push(client);
        }
    }
}

impl PgStore {
    /// Log in to the team store. A URL without a user logs in as `default_user` (the OS
    /// user, as libpq does).
    pub fn open(settings: &Connection, default_user: &str) -> Result<PgStore> {
        let mut config = crate::net::postgres::base_config(settings).map_err(anyhow::Error::msg)?;
        if config.get_user().is_none() {
            config.user(default_user);
        }
        if let Some(reference) = &settings.password {
            let password = reference.resolve()?;
            config.password(password.expose());
        }
        let user_name = config.get_user().unwrap_or(default_user).to_owned();
        let dbname = config.get_dbname().unwrap_or("postgres").to_owned();
        let location_of = |config: &postgres::Config| {
            let (host, port) = crate::net::postgres::host_port(config);
            format!("postgres://{user_name}@{host}:{port}/{dbname}")
        };
        use crate::net::postgres::Refused;
        // With several hosts (a primary and its standbys), each is tried in turn here, so
        // that messages name the one reached, or each one tried and why it would not do;
        // the second connection (the shipping lock) goes to the same one.
        let candidates: Vec<postgres::Config> = if config.get_hosts().len() > 1 {
            (0..config.get_hosts().len())
                .map(|index| single_host(&config, index))
                .collect()
        } else {
            vec![config.clone()]
        };
        let mut refusals = Vec::new();
        let mut reached = None;
        for candidate in candidates {
            match crate::net::postgres::open(&candidate, &settings.tls) {
                Ok(client) => {
                    reached = Some((candidate, client));
                    break;
                }
                Err(Refused::Tls(message)) => {
                    bail!("team store {}: {message}", location_of(&candidate))
                }
                Err(Refused::Server(err)) => refusals.push((location_of(&candidate), err)),
            }
        }
        let Some((config, mut client)) = reached else {
            if let [(location, err)] = refusals.as_slice() {
                let cause = match err.as_db_error() {
                    Some(db) => db.message().to_owned(),
                    None => err.to_string(),
                };
                bail!("connecting to the team store {location}: {cause}");
            }
            let tried: Vec<String> = refusals
                .iter()
                .map(|(location, err)| format!("{location}: {}", why_refused(err)))
                .collect();
            bail!(
                "connecting to the team store: no host would do ({})",
                tried.join("; ")
            );
        };
        let location = location_of(&config);
        let user: String = client.query_one("SELECT session_user::text", &[])?.get(0);
        let store = PgStore {
            client: RefCell::new(client),
            config,
            tls: settings.tls.clone(),
            location,
            user,
            committed: Default::default(),
            lock_sessions: Rc::default(),
        };
        if let Some(version) = store.schema_version()?
            && version > SCHEMA_VERSION
        {
            bail!(
                "the team store {} has schema {version}, written by a newer jit; this jit knows {SCHEMA_VERSION}",
                store.location
            );
        }
        Ok(store)
    }

    /// The login of this session.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The connection, for the work queue.
    pub fn client(&self) -> RefMut<'_, Client> {
        self.client.borrow_mut()
    }

    /// Name this process's connection as a `jit mcp` session, `pg:PID:TAG` (see
    /// [`crate::engine::Session`]): its backend pid, and a random `application_name`, which
    /// every login can read back from `pg_stat_activity` while the connection is open.
    /// Named once: asked again, the same name.
    pub fn open_session(&self) -> Result<String> {
        let row = self.client().query_one(
            "SELECT pg_backend_pid(), current_setting('application_name')",
            &[],
        )?;
        let (pid, named): (i32, String) = (row.get(0), row.get(1));
        if named.starts_with("jit-mcp-") {
            return Ok(format!("pg:{pid}:{named}"));
        }
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).context("the OS random source")?;
        let tag = format!("jit-mcp-{}", hex::encode(bytes));
        self.client()
            .execute("SELECT set_config('application_name', $1, false)", &[&tag])?;
        Ok(format!("pg:{pid}:{tag}"))
    }

    /// The login of the open connection of backend `pid` named `tag`, if there is one.
    pub fn connection_of(&self, pid: i32, tag: &str) -> StoreResult<Option<String>> {
        Ok(self
            .client()
            .query_opt(
                "SELECT usename::text FROM pg_stat_activity WHERE pid = $1 AND application_name = $2",
                &[&pid, &tag],
            )?
            .map(|row| row.get(0)))
    }

    /// Is the schema there, and one this jit knows?
    pub fn schema_version(&self) -> Result<Option<i32>> {
        let mut client = self.client();
        let exists: bool = client
            .query_one("SELECT to_regclass('jit.meta') IS NOT NULL", &[])?
            .get(0);
        if !exists {
            return Ok(None);
        }
        Ok(Some(
            client
                .query_one("SELECT version FROM jit.meta WHERE id = 1", &[])?
                .get(0),
        ))
    }

    /// Create the roles and the schema (as the database owner), or bring a schema written
    /// by an earlier jit up to this one, in one transaction. Nothing is changed when the
    /// schema is already current.
    pub fn init(&self) -> Result<Init> {
        match self.schema_version()? {
            Some(version) if version > SCHEMA_VERSION => {
                bail!("the team store has schema {version}; this jit knows {SCHEMA_VERSION}")
            }
            Some(version) if version == SCHEMA_VERSION => return Ok(Init::AlreadyCurrent),
            Some(version) => {
                self.upgrade(version)?;
                return Ok(Init::Upgraded(version));
            }
            None => {}
        }
        let mut client = self.client();
        let mut tx = client.transaction()?;
        for role in ROLES {
            let exists: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)",
                    &[&role],
                )?
                .get(0);
            if !exists {
                tx.batch_execute(&format!("CREATE ROLE {role} NOLOGIN"))?;
            }
        }
        tx.batch_execute(SCHEMA).context("creating the schema")?;
        tx.batch_execute(REQUEST_POLICIES)
            .context("creating the work queue's policies")?;
        tx.commit()?;
        Ok(Init::Created)
    }

    fn upgrade(&self, from: i32) -> Result<()> {
        let mut client = self.client();
        let mut tx = client.transaction()?;
        // Another `jit store init` upgrading at the same time waits here, then finds the
        // schema current.
        let version: i32 = tx
            .query_one("SELECT version FROM jit.meta WHERE id = 1 FOR UPDATE", &[])?
            .get(0);
        if version != from {
            return Ok(());
        }
        if version < 2 {
            tx.batch_execute(UPGRADE_TO_2)
                .context("upgrading the schema to 2")?;
        }
        if version < 3 {
            tx.batch_execute(UPGRADE_TO_3)
                .context("upgrading the schema to 3")?;
        }
        if version < 4 {
            tx.batch_execute(UPGRADE_TO_4)
                .context("upgrading the schema to 4")?;
            tx.batch_execute(REQUEST_POLICIES)
                .context("creating the work queue's policies")?;
        }
        tx.execute(
            "UPDATE jit.meta SET version = $1 WHERE id = 1",
            &[&SCHEMA_VERSION],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// A worker serves only a store of this jit's schema: one written by an earlier jit
    /// lacks the checks this one relies on until `jit store init` upgrades it.
    pub fn require_current(&self) -> Result<()> {
        match self.schema_version()? {
            Some(version) if version == SCHEMA_VERSION => Ok(()),
            Some(version) => bail!(
                "the team store {} has schema {version}; this jit needs {SCHEMA_VERSION}: run `jit store init` as the database owner to upgrade it",
                self.location
            ),
            None => bail!(
                "the team store {} has no jit schema: run `jit store init` as the database owner",
                self.location
            ),
        }
    }

    fn attach_approvals(
        client: &mut impl postgres::GenericClient,
        leases: &mut [Lease],
    ) -> StoreResult<()> {
        if leases.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = leases.iter().map(|l| l.id.as_str()).collect();
        let rows = client.query(
            &format!(
                "SELECT {} FROM jit.approvals WHERE lease_id = ANY($1) ORDER BY at, by",
                lease_row::APPROVAL_COLUMNS
            ),
            &[&ids],
        )?;
        for row in rows {
            let id: &str = row.get(0);
            if let Some(lease) = leases.iter_mut().find(|l| l.id == id) {
                lease.approvals.push(lease_row::approval(&row)?);
            }
        }
        Ok(())
    }

    fn query_leases(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        whole: bool,
    ) -> StoreResult<Vec<Lease>> {
        let mut client = self.client();
        let rows = client.query(sql, params)?;
        let mut leases = rows
            .iter()
            .map(|row| {
                if whole {
                    lease_row::whole(row)
                } else {
                    lease_row::shown(row)
                }
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Self::attach_approvals(&mut *client, &mut leases)?;
        Ok(leases)
    }
}

/// `config` with only its host number `index` (and that host's port and address).
fn single_host(config: &postgres::Config, index: usize) -> postgres::Config {
    let mut one = postgres::Config::new();
    match &config.get_hosts()[index] {
        postgres::config::Host::Tcp(name) => one.host(name),
        postgres::config::Host::Unix(path) => one.host_path(path),
    };
    if let Some(address) = config.get_hostaddrs().get(index) {
        one.hostaddr(*address);
    }
    let ports = config.get_ports();
    if let Some(port) = ports
        .get(index)
        .or(ports.first().filter(|_| ports.len() == 1))
    {
        one.port(*port);
    }
    if let Some(user) = config.get_user() {
        one.user(user);
    }
    if let Some(password) = config.get_password() {
        one.password(password);
    }
    if let Some(dbname) = config.get_dbname() {
        one.dbname(dbname);
    }
    if let Some(options) = config.get_options() {
        one.options(options);
    }
    if let Some(name) = config.get_application_name() {
        one.application_name(name);
    }
    if let Some(timeout) = config.get_connect_timeout() {
        one.connect_timeout(*timeout);
    }
    if let Some(timeout) = config.get_tcp_user_timeout() {
        one.tcp_user_timeout(*timeout);
    }
    one.keepalives(config.get_keepalives())
        .keepalives_idle(config.get_keepalives_idle());
    if let Some(interval) = config.get_keepalives_interval() {
        one.keepalives_interval(interval);
    }
    if let Some(retries) = config.get_keepalives_retries() {
        one.keepalives_retries(retries);
    }
    one.ssl_mode(config.get_ssl_mode())
        .ssl_negotiation(config.get_ssl_negotiation())
        .target_session_attrs(config.get_target_session_attrs())
        .channel_binding(config.get_channel_binding());
    one
}

/// Why one host of several would not do, in a few words.
fn why_refused(err: &postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        return db.message().to_owned();
    }
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return if io.kind() == std::io::ErrorKind::PermissionDenied {
                // target_session_attrs=read-write on a standby.
                format!("read-only ({io})")
            } else {
                format!("unreachable ({io})")
            };
        }
        source = cause.source();
    }
    err.to_string()
}

fn secs(time: Option<DateTime<Utc>>) -> Option<i64> {
    time.map(|t| t.timestamp())
}

fn time(row: &Row, index: usize) -> Option<DateTime<Utc>> {
    row.get::<_, Option<i64>>(index)
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
}

/// The WHERE clause for a lease filter, with its values in order.
fn lease_condition(filter: &LeaseFilter) -> (String, Vec<Box<dyn ToSql + Sync>>) {
    let mut sql = String::from("true");
    let mut values: Vec<Box<dyn ToSql + Sync>> = Vec::new();
    if !filter.states.is_empty() {
        let states: Vec<String> = filter
            .states
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect();
        values.push(Box::new(states));
        sql.push_str(&format!(" AND state = ANY(${})", values.len()));
    }
    if let Some(role) = &filter.role {
        values.push(Box::new(role.clone()));
        sql.push_str(&format!(" AND role = ${}", values.len()));
    }
    if let Some(person) = &filter.person {
        values.push(Box::new(person.clone()));
        sql.push_str(&format!(
            " AND (requester = ${0} OR subject = ${0})",
            values.len()
        ));
    }
    (sql, values)
}

struct PgTx<'t> {
    tx: Transaction<'t>,
    appended: Vec<AuditEvent>,
}

impl Tx for PgTx<'_> {
    fn lease(&mut self, id: &str) -> StoreResult<Option<Lease>> {
        // Locked until the transaction ends: two workers never act on one lease at once.
        let row = self.tx.query_opt(
            &format!(
                "SELECT {} FROM jit.leases WHERE id = $1 FOR UPDATE",
                lease_row::columns()
            ),
            &[&id],
        )?;
        let Some(row) = row else { return Ok(None) };
        let mut leases = vec![lease_row::whole(&row)?];
        PgStore::attach_approvals(&mut self.tx, &mut leases)?;
        Ok(leases.pop())
    }

    fn holding(&mut self, role: &str, subject: &str) -> StoreResult<Vec<Lease>> {
        let rows = self.tx.query(
            &format!(
                "SELECT {} FROM jit.leases WHERE role = $1 AND subject = $2 \
                 AND state IN ('granting', 'active', 'revoking', 'revoke-failed') ORDER BY id FOR UPDATE",
                lease_row::columns()
            ),
            &[&role, &subject],
        )?;
        rows.iter().map(lease_row::whole).collect()
    }

    fn leases(&mut self, filter: &LeaseFilter) -> StoreResult<Vec<Lease>> {
        // Every change of a lease's state appends to the audit chain in its transaction, so
        // with the chain's head locked first, the leases read next stay as read until commit.
        self.tx
            .execute("SELECT 1 FROM jit.audit_head WHERE id = 1 FOR UPDATE", &[])?;
        let (condition, values) = lease_condition(filter);
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
        let rows = self.tx.query(
            &format!(
                "SELECT {} FROM jit.leases WHERE {condition} ORDER BY created_at, id",
                lease_row::shown_columns()
            ),
            &params,
        )?;
        rows.iter().map(lease_row::shown).collect()
    }

    fn insert(&mut self, lease: &Lease) -> StoreResult<()> {
        let values = lease_row::insert_values(lease)?;
        let params: Vec<_> = values.iter().map(lease_row::Value::pg).collect();
        self.tx
            .execute(&lease_row::insert_sql("jit.leases", mark), &params)?;
        Ok(())
    }

    fn link_request(&mut self, request: i64, lease_id: &str) -> StoreResult<()> {
        self.tx.execute(
            "UPDATE jit.requests SET lease_id = $1 WHERE id = $2",
            &[&lease_id, &request],
        )?;
        Ok(())
    }

    fn update(&mut self, lease: &Lease) -> StoreResult<()> {
        let values = lease_row::update_values(lease)?;
        let params: Vec<_> = values.iter().map(lease_row::Value::pg).collect();
        let changed = self
            .tx
            .execute(&lease_row::update_sql("jit.leases", mark), &params)?;
        if changed != 1 {
            return Err(StoreError::NotFound(lease.id.clone()));
        }
        if lease.state.is_final() {
            // Credentials nobody picked up go with the lease.
            self.tx
                .execute("DELETE FROM jit.handoffs WHERE lease_id = $1", &[&lease.id])?;
        }
        Ok(())
    }

    fn add_approval(&mut self, lease_id: &str, approval: &Approval) -> StoreResult<()> {
        self.tx.execute(
            "INSERT INTO jit.approvals (lease_id, by, at, decision, reason) VALUES ($1, $2, $3, $4, $5)",
            &[
                &lease_id,
                &approval.by,
                &approval.at.timestamp(),
                &approval.decision.as_str(),
                &approval.reason,
            ],
        )?;
        Ok(())
    }

    fn append(&mut self, event: &NewEvent) -> StoreResult<i64> {
        // The head row is the chain's lock: appends queue here, one after another.
        let head = self.tx.query_one(
            "SELECT seq, hash FROM jit.audit_head WHERE id = 1 FOR UPDATE",
            &[],
        )?;
        let (record, details) = event.chain(head.get::<_, i64>(0) + 1, head.get(1));
        self.tx.execute(
            "INSERT INTO jit.audit (seq, at, actor, lease_id, kind, details, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &record.seq,
                &record.at,
                &record.actor,
                &record.lease_id,
                &record.kind,
                &details,
                &record.prev_hash,
                &record.hash,
            ],
        )?;
        self.tx.execute(
            "UPDATE jit.audit_head SET seq = $1, hash = $2 WHERE id = 1",
            &[&record.seq, &record.hash],
        )?;
        let seq = record.seq;
        self.appended.push(record);
        Ok(seq)
    }
}

impl LeaseStore for PgStore {
    fn write(&self, work: &mut Work<'_>) -> StoreResult<()> {
        let mut client = self.client();
        let tx = client
            .transaction()
            .context_store(|| format!("writing to the team store {}", self.location))?;
        let mut pg = PgTx {
            tx,
            appended: Vec::new(),
        };
        let outcome = work(&mut pg);
        let PgTx { tx, appended, .. } = pg;
        match outcome {
            Ok(()) => tx
                .commit()
                .context_store(|| format!("committing to the team store {}", self.location))?,
            Err(err) => {
                let _ = tx.rollback();
                return Err(err);
            }
        }
        self.committed.borrow_mut().extend(appended);
        Ok(())
    }

    fn write_relaxed(&self, work: &mut Work<'_>) -> StoreResult<()> {
        // The commit returns before the WAL reaches the disk (still crash-consistent).
        self.client()
            .batch_execute("SET synchronous_commit = off")?;
        let outcome = self.write(work);
        self.client().batch_execute("SET synchronous_commit = on")?;
        outcome
    }

    fn lease(&self, id: &str) -> StoreResult<Option<Lease>> {
        let columns = lease_row::columns();
        let mut leases = self.query_leases(
            &format!("SELECT {columns} FROM jit.leases WHERE id = $1"),
            &[&id],
            true,
        )?;
        Ok(leases.pop())
    }

    fn leases(&self, filter: &LeaseFilter) -> StoreResult<Vec<Lease>> {
        let columns = lease_row::shown_columns();
        let (condition, values) = lease_condition(filter);
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
        self.query_leases(
            &format!("SELECT {columns} FROM jit.leases WHERE {condition} ORDER BY created_at, id"),
            &params,
            false,
        )
    }

    fn lease_documents(&self, filter: &LeaseFilter) -> StoreResult<LeaseDocuments> {
        let (condition, values) = lease_condition(filter);
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
        let rows = self.client().query(
            &format!("SELECT document FROM jit.leases WHERE {condition} ORDER BY created_at, id"),
            &params,
        )?;
        let mut documents = LeaseDocuments::default();
        for row in rows {
            let start = documents.text.len();
            documents.text.push_str(row.get(0));
            documents.order.push(start..documents.text.len());
        }
        Ok(documents)
    }

    fn due(&self, now: DateTime<Utc>, pending_cutoff: DateTime<Utc>) -> StoreResult<Vec<Lease>> {
        let columns = lease_row::columns();
        self.query_leases(
            &format!(
                "SELECT {columns} FROM jit.leases WHERE \
                 (state = 'active' AND expires_at <= $1) \
                 OR (state = 'revoke-failed' AND (next_attempt_at IS NULL OR next_attempt_at <= $1)) \
                 OR state IN ('granting', 'revoking') \
                 OR (state = 'pending' AND created_at <= $2) \
                 ORDER BY created_at, id"
            ),
            &[&now.timestamp(), &pending_cutoff.timestamp()],
            true,
        )
    }

    fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let next: Option<i64> = self
            .client()
            .query_one(
                "SELECT LEAST( \
                   (SELECT MIN(expires_at) FROM jit.leases WHERE state = 'active'), \
                   (SELECT MIN(next_attempt_at) FROM jit.leases WHERE state = 'revoke-failed'))",
                &[],
            )?
            .get(0);
        Ok(next.and_then(|secs| DateTime::from_timestamp(secs, 0)))
    }
}

impl AuditLog for PgStore {
    fn events(&self, filter: &EventFilter) -> StoreResult<Vec<AuditEvent>> {
        let since = filter
            .since
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        let rows = self.client().query(
            &format!(
                "SELECT {EVENT_COLUMNS} FROM jit.audit WHERE ($1::text IS NULL OR lease_id = $1) \
                 AND ($2::text IS NULL OR at >= $2) ORDER BY seq"
            ),
            &[&filter.lease_id, &since],
        )?;
        rows.iter().map(lease_row::event).collect()
    }

    fn each_event(
        &self,
        visit: &mut dyn FnMut(&AuditEvent) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let mut after = 0;
        loop {
            let batch = self.events_after(after, 5000)?;
            let Some(last) = batch.last() else {
                return Ok(());
            };
            after = last.seq;
            for event in &batch {
                visit(event)?;
            }
        }
    }

    fn verify(
        &self,
        checkpoint: Option<crate::audit::Checkpoint>,
    ) -> StoreResult<std::result::Result<ChainHead, Break>> {
        let mut client = self.client();
        // One snapshot: appends by workers meanwhile are not half seen.
        let mut tx = client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let mut verifier = Verifier::holding(checkpoint);
        let mut after = 0i64;
        loop {
            let rows = tx.query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM jit.audit WHERE seq > $1 ORDER BY seq LIMIT 5000"
                ),
                &[&after],
            )?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let record = RawRecord {
                    seq: row.get(0),
                    at: row.get(1),
                    actor: row.get(2),
                    lease_id: row.get(3),
                    kind: row.get(4),
                    details: row.get(5),
                    prev_hash: row.get(6),
                    hash: row.get(7),
                };
                after = record.seq;
                if let Err(found) = verifier.check(&record) {
                    return Ok(Err(found));
                }
            }
        }
        let head = tx.query_opt("SELECT seq, hash FROM jit.audit_head WHERE id = 1", &[])?;
        tx.commit()?;
        let head: Option<(i64, String)> = head.map(|row| (row.get(0), row.get(1)));
        Ok(verifier
            .finish(
                head.as_ref()
                    .map_or((0, crate::audit::GENESIS), |(seq, hash)| {
                        (*seq, hash.as_str())
                    }),
            )
            .map(|(seq, hash)| ChainHead {
                count: verifier.count,
                seq,
                hash,
            }))
    }

    fn take_committed(&self) -> Vec<AuditEvent> {
        std::mem::take(&mut *self.committed.borrow_mut())
    }

    fn events_of_kinds(&self, kinds: &[crate::audit::EventKind]) -> StoreResult<Vec<AuditEvent>> {
        let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        let rows = self.client().query(
            &format!("SELECT {EVENT_COLUMNS} FROM jit.audit WHERE kind = ANY($1) ORDER BY seq"),
            &[&kinds],
        )?;
        rows.iter().map(lease_row::event).collect()
    }

    fn events_after(&self, seq: i64, limit: usize) -> StoreResult<Vec<AuditEvent>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.client().query(
            &format!("SELECT {EVENT_COLUMNS} FROM jit.audit WHERE seq > $1 ORDER BY seq LIMIT $2"),
            &[&seq, &limit],
        )?;
        rows.iter().map(lease_row::event).collect()
    }

    fn last_seq(&self) -> StoreResult<i64> {
        Ok(self
            .client()
            .query_one("SELECT COALESCE(MAX(seq), 0)::bigint FROM jit.audit", &[])?
            .get(0))
    }
}

impl ShippingState for PgStore {
    fn checkpoint(&self, destination: &str) -> StoreResult<Checkpoint> {
        let row = self.client().query_opt(
            "SELECT seq, failed_at, error, hash FROM jit.audit_shipping WHERE destination = $1",
            &[&destination],
        )?;
        Ok(row
            .map(|r| Checkpoint {
                seq: r.get(0),
                failed_at: time(&r, 1),
                error: r.get(2),
                hash: r.get(3),
            })
            .unwrap_or_default())
    }

    fn set_checkpoint(&self, destination: &str, checkpoint: &Checkpoint) -> StoreResult<()> {
        self.client().execute(
            "INSERT INTO jit.audit_shipping (destination, seq, failed_at, error, hash) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (destination) DO UPDATE SET \
             seq = excluded.seq, failed_at = excluded.failed_at, error = excluded.error, \
             hash = excluded.hash",
            &[
                &destination,
                &checkpoint.seq,
                &secs(checkpoint.failed_at),
                &checkpoint.error,
                &checkpoint.hash,
            ],
        )?;
        Ok(())
    }
}

impl Locks for PgStore {
    fn lock(&self, lock: Lock<'_>, patience: Duration) -> StoreResult<Option<Guard>> {
        // A session advisory lock on a connection of its own, released when the guard is
        // dropped (or when that connection closes, as when the process dies).
        let idle = self.lock_sessions.borrow_mut().pop();
        let mut client =
            match idle {
                Some(client) if !client.is_closed() => client,
                _ => crate::net::postgres::open(&self.config, &self.tls).map_err(|refused| {
                    match refused {
                        crate::net::postgres::Refused::Tls(message) => anyhow::anyhow!(message),
                        crate::net::postgres::Refused::Server(err) => anyhow::Error::new(err),
                    }
                })?,
            };
        // The shipping lock's key is the one earlier versions took.
        let (key, name) = match lock {
            Lock::Shipping => ("hashtext($1)", "jit.audit_shipping".to_owned()),
            Lock::Entitlement { role, subject } => (
                "hashtext('jit.entitlement'), hashtext($1)",
                format!("{role}/{subject}"),
            ),
        };
        let arguments: &[&(dyn ToSql + Sync)] = &[&name];
        let locked = if patience.is_zero() {
            client
                .query_one(&format!("SELECT pg_try_advisory_lock({key})"), arguments)?
                .get(0)
        } else {
            let millis = patience.as_millis().max(1);
            client.batch_execute(&format!("SET lock_timeout = {millis}"))?;
            match client.query_one(&format!("SELECT pg_advisory_lock({key})::text"), arguments) {
                Ok(_) => true,
                Err(err) if err.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) => {
                    false
                }
                Err(err) => return Err(err.into()),
            }
        };
        if !locked {
            self.lock_sessions.borrow_mut().push(client);
            return Ok(None);
        }
        Ok(Some(Guard(Held::Advisory(Box::new(HeldLock {
            client: Some(client),
            key,
            name,
            idle: Rc::clone(&self.lock_sessions),
        })))))
    }
}

impl Store for PgStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn connection_open(&self, pid: i32, tag: &str) -> StoreResult<Option<bool>> {
        Ok(Some(self.connection_of(pid, tag)?.is_some()))
    }

    fn identity(&self) -> StoreResult<String> {
        Ok(self
            .client()
            .query_one("SELECT store_id FROM jit.meta WHERE id = 1", &[])?
            .get(0))
    }

    fn check(&self) -> StoreResult<String> {
        match self.schema_version()? {
            None => {
                return Err(anyhow::anyhow!(
                    "no jit schema: run `jit store init` as the database owner"
                )
                .into());
            }
            Some(version) if version != SCHEMA_VERSION => {
                return Err(
                    anyhow::anyhow!("schema {version}; this jit knows {SCHEMA_VERSION}").into(),
                );
            }
            Some(_) => {}
        }
        let count: i64 = self
            .client()
            .query_one("SELECT COUNT(*) FROM jit.leases", &[])?
            .get(0);
        Ok(format!("{count} leases, logged in as {}", self.user))
    }
}
