//! The embedded store: one SQLite file, created 0600, in WAL mode. Every write runs in a
//! `BEGIN IMMEDIATE` transaction, so concurrent `jit` processes queue for the write lock
//! and the audit chain stays linear.

use super::error::Context as _;
use super::lease_row::{self, EVENT_COLUMNS};
use super::{
    AuditLog, ChainHead, Checkpoint, EventFilter, Guard, Held, LeaseDocuments, LeaseFilter,
    LeaseStore, Lock, Locks, Result, ShippingState, Store, StoreError, Tx, Work,
};
use crate::audit::{self, AuditEvent, Break, NewEvent, RawRecord, Verifier};
use crate::lease::{Approval, Lease};
use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, ToSql, params};
use std::collections::HashMap;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SCHEMA: &str = include_str!("schema.sql");
const SCHEMA_VERSION: i64 = 9;

/// The partial index behind `list --json` of live leases; the same text as in schema.sql,
/// whose WHERE clause `LIVE_CONDITION` must repeat word for word for SQLite to use it.
const LIVE_INDEX: &str = "CREATE INDEX leases_live ON leases (created_at, id, state, document) \
    WHERE state IN ('pending', 'granting', 'active', 'revoking', 'revoke-failed')";
/// The audit events by kind, as schema 8 added it; the same text as in schema.sql.
const AUDIT_KIND_INDEX: &str = "CREATE INDEX audit_by_kind ON audit (kind, seq)";
/// Leases asked for by AI agents, as schema 9 added them; the same text as in schema.sql.
const AGENT_COLUMNS: &str = "
    ALTER TABLE leases ADD COLUMN agent TEXT;
    ALTER TABLE leases ADD COLUMN agent_session TEXT;
";
/// The store's name, as schema 7 added it; the same text as in schema.sql.
const IDENTITY_TABLE: &str = "
    CREATE TABLE store_identity (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        name TEXT NOT NULL
    );
    INSERT INTO store_identity VALUES (1, lower(hex(randomblob(8))));
";

/// The shipping checkpoints as schema 4 created them (schema 6 adds `hash`).
const SHIPPING_TABLE: &str = "CREATE TABLE audit_shipping (\n    destination TEXT PRIMARY KEY,\n    seq         INTEGER NOT NULL,\n    failed_at   INTEGER,\n    error       TEXT\n)";
const LIVE_CONDITION: &str =
    "state IN ('pending', 'granting', 'active', 'revoking', 'revoke-failed')";
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a [`Locks::lock`](super::Locks::lock) that waits tries again.
const LOCK_POLL: Duration = Duration::from_millis(10);

/// A parameter of an SQLite statement.
fn mark(index: usize) -> String {
    format!("?{index}")
}

pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    /// Events this handle has committed and not yet handed out ([`AuditLog::take_committed`](super::AuditLog::take_committed)).
    committed: std::cell::RefCell<Vec<AuditEvent>>,
}

fn read_only(path: &Path) -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!(
        "the store {} is read-only for this user: jit cannot record anything (make it writable by the user jit runs as, mode 0600)",
        path.display()
    ))
}

impl SqliteStore {
    /// Open the store at `path`, creating it (0600, in a 0700 directory) if it is missing.
    pub fn open(path: &Path) -> anyhow::Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The store is jit's own: a state directory that is a link, someone else's or
            // writable by others would let them swap the database or its journal. Missing
            // directories are made on the way, never through a link.
            crate::trusted_dir::TrustedDir::create_all(dir, 0o700)
                .with_context(|| format!("creating the state directory {}", dir.display()))?;
        }
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(err) => {
                return Err(err).with_context(|| format!("creating the store {}", path.display()));
            }
        }
        // SQLite opens a file this process may not write read-only, and says so only at the
        // first write, naming no file; or, with its write-ahead log, not at all.
        if nix::unistd::eaccess(path, nix::unistd::AccessFlags::W_OK).is_err() {
            return Err(read_only(path).into());
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("opening the store {}", path.display()))?;
        let store = SqliteStore {
            conn,
            path: path.to_owned(),
            committed: Default::default(),
        };
        store
            .prepare()
            .with_context(|| format!("store {} is not usable", path.display()))?;
        Ok(store)
    }

    fn prepare(&self) -> anyhow::Result<()> {
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version == 0 {
            self.create_schema()?;
        } else if version < SCHEMA_VERSION {
            self.migrate()?;
        } else if version > SCHEMA_VERSION {
            bail!(
                "it was written by a newer jit (schema {version}, this jit knows {SCHEMA_VERSION})"
            );
        }
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        // Read pages in place rather than copying them: listing large stores is faster.
        self.conn
            .pragma_update(None, "mmap_size", 256 * 1024 * 1024)?;
        self.conn.pragma_update(None, "foreign_keys", true)?;
        // Leave the write-ahead log in place when the process ends: checkpointing and
        // deleting it at every exit cost each short-lived jit several disk flushes. Writers
        // checkpoint it as it grows (every 1000 pages), as usual.
        self.conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )?;
        Ok(())
    }

    fn create_schema(&self) -> anyhow::Result<()> {
        // Switching to WAL needs a moment alone with the file; a busy answer here is
        // another process creating the same store, so wait for it like any writer.
        let started = std::time::Instant::now();
        loop {
            match self
                .conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
            {
                Ok(_) => break,
                Err(rusqlite::Error::SqliteFailure(err, _))
                    if err.code == rusqlite::ErrorCode::DatabaseBusy
                        && started.elapsed() < BUSY_TIMEOUT =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(err) => return Err(err.into()),
            }
        }
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let created = (|| -> anyhow::Result<()> {
            let version: i64 = self
                .conn
                .pragma_query_value(None, "user_version", |r| r.get(0))?;
            if version == 0 {
                self.conn.execute_batch(SCHEMA)?;
                self.conn
                    .pragma_update(None, "user_version", SCHEMA_VERSION)?;
            }
            Ok(())
        })();
        finish(&self.conn, created)
    }

    /// Bring a store written by an earlier jit up to this schema.
    fn migrate(&self) -> anyhow::Result<()> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let migrated = (|| -> anyhow::Result<()> {
            let version: i64 = self
                .conn
                .pragma_query_value(None, "user_version", |r| r.get(0))?;
            if version == 1 {
                self.conn.execute_batch(
                    "ALTER TABLE leases ADD COLUMN document TEXT NOT NULL DEFAULT ''",
                )?;
            }
            // Before any lease is read back (schema 5 writes every document again): a
            // lease row is read with every column this jit knows.
            if version <= 8 {
                self.conn.execute_batch(AGENT_COLUMNS)?;
            }
            if version <= 2 {
                self.conn.execute_batch(LIVE_INDEX)?;
            }
            if version <= 3 {
                self.conn.execute_batch(SHIPPING_TABLE)?;
            }
            if version <= 4 {
                self.conn.execute_batch(
                    "ALTER TABLE leases ADD COLUMN break_glass INTEGER NOT NULL DEFAULT 0",
                )?;
                // Every document is written again: schema 2 added them, schema 5 added
                // `break_glass` to them.
                let mut tx = SqliteTx {
                    conn: &self.conn,
                    appended: Vec::new(),
                };
                let ids: Vec<String> = self
                    .conn
                    .prepare("SELECT id FROM leases")?
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                for id in ids {
                    if let Some(lease) = tx.lease(&id)? {
                        tx.update(&lease)?;
                    }
                }
            }
            if version <= 5 {
                self.conn
                    .execute_batch("ALTER TABLE audit_shipping ADD COLUMN hash TEXT")?;
            }
            if version <= 6 {
                self.conn.execute_batch(IDENTITY_TABLE)?;
            }
            if version <= 7 {
                self.conn.execute_batch(AUDIT_KIND_INDEX)?;
            }
            self.conn
                .pragma_update(None, "user_version", SCHEMA_VERSION)?;
            Ok(())
        })();
        finish(&self.conn, migrated)
    }

    fn attach_approvals(&self, leases: &mut [Lease]) -> Result<()> {
        let any: bool =
            self.conn
                .query_row("SELECT EXISTS (SELECT 1 FROM approvals)", [], |r| r.get(0))?;
        if !any || leases.is_empty() {
            return Ok(());
        }
        let mut by_id: HashMap<String, Vec<Approval>> = HashMap::new();
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {} FROM approvals ORDER BY at, by",
            lease_row::APPROVAL_COLUMNS
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            by_id
                .entry(row.get(0)?)
                .or_default()
                .push(lease_row::approval(row)?);
        }
        for lease in leases {
            if let Some(list) = by_id.remove(&lease.id) {
                lease.approvals = list;
            }
        }
        Ok(())
    }

    fn query_leases(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Vec<Lease>> {
        self.query_with(sql, params, |row| lease_row::whole(row))
    }

    fn query_with(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        from_row: fn(&Row<'_>) -> Result<Lease>,
    ) -> Result<Vec<Lease>> {
        let mut leases = query_rows(&self.conn, sql, params, from_row)?;
        self.attach_approvals(&mut leases)?;
        Ok(leases)
    }
}

/// Every row `sql` returns, read by `from_row`.
fn query_rows<T>(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
    from_row: fn(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut all = Vec::new();
    while let Some(row) = rows.next()? {
        all.push(from_row(row)?);
    }
    Ok(all)
}

/// Commit `outcome`'s transaction, or roll it back.
fn finish<E: From<rusqlite::Error>>(
    conn: &Connection,
    outcome: std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    match outcome {
        Ok(()) => match conn.execute_batch("COMMIT") {
            Ok(()) => Ok(()),
            Err(err) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(err.into())
            }
        },
        Err(err) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(err)
        }
    }
}

/// The WHERE clause for a lease filter, with its values in order.
fn lease_condition(filter: &LeaseFilter) -> (String, Vec<String>) {
    let mut sql = String::from("1 = 1");
    let mut values = Vec::new();
    if !filter.states.is_empty() {
        let marks: Vec<&str> = filter.states.iter().map(|_| "?").collect();
        sql.push_str(&format!(" AND state IN ({})", marks.join(", ")));
        values.extend(filter.states.iter().map(|s| s.as_str().to_owned()));
    }
    if let Some(role) = &filter.role {
        sql.push_str(" AND role = ?");
        values.push(role.clone());
    }
    if let Some(person) = &filter.person {
        sql.push_str(" AND (requester = ? OR subject = ?)");
        values.push(person.clone());
        values.push(person.clone());
    }
    (sql, values)
}

fn ts(time: Option<DateTime<Utc>>) -> Option<i64> {
    time.map(|t| t.timestamp())
}

struct SqliteTx<'c> {
    conn: &'c Connection,
    /// The events appended in this transaction, handed out once it commits.
    appended: Vec<AuditEvent>,
}

impl SqliteTx<'_> {
    fn approvals(&self, id: &str) -> Result<Vec<Approval>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {} FROM approvals WHERE lease_id = ?1 ORDER BY at, by",
            lease_row::APPROVAL_COLUMNS
        ))?;
        let mut rows = stmt.query([id])?;
        let mut list = Vec::new();
        while let Some(row) = rows.next()? {
            list.push(lease_row::approval(row)?);
        }
        Ok(list)
    }
}

impl Tx for SqliteTx<'_> {
    fn lease(&mut self, id: &str) -> Result<Option<Lease>> {
        let lease = query_rows(
            self.conn,
            &format!("SELECT {} FROM leases WHERE id = ?1", lease_row::columns()),
            &[&id],
            |row| lease_row::whole(row),
        )?
        .pop();
        match lease {
            Some(mut lease) => {
                lease.approvals = self.approvals(id)?;
                Ok(Some(lease))
            }
            None => Ok(None),
        }
    }

    fn holding(&mut self, role: &str, subject: &str) -> Result<Vec<Lease>> {
        query_rows(
            self.conn,
            &format!(
                "SELECT {} FROM leases WHERE role = ?1 AND subject = ?2 \
                 AND state IN ('granting', 'active', 'revoking', 'revoke-failed')",
                lease_row::columns()
            ),
            &[&role, &subject],
            |row| lease_row::whole(row),
        )
    }

    fn leases(&mut self, filter: &LeaseFilter) -> Result<Vec<Lease>> {
        // The transaction is BEGIN IMMEDIATE: no other writer runs until it ends.
        let (condition, values) = lease_condition(filter);
        let values: Vec<&dyn ToSql> = values.iter().map(|v| v as &dyn ToSql).collect();
        let sql = format!(
            "SELECT {} FROM leases WHERE {condition} ORDER BY created_at, id",
            lease_row::shown_columns()
        );
        query_rows(self.conn, &sql, &values, |row| lease_row::shown(row))
    }

    fn insert(&mut self, lease: &Lease) -> Result<()> {
        let values = lease_row::insert_values(lease)?;
        self.conn
            .prepare_cached(&lease_row::insert_sql("leases", mark))?
            .execute(rusqlite::params_from_iter(&values))?;
        Ok(())
    }

    fn update(&mut self, lease: &Lease) -> Result<()> {
        let values = lease_row::update_values(lease)?;
        let changed = self
            .conn
            .prepare_cached(&lease_row::update_sql("leases", mark))?
            .execute(rusqlite::params_from_iter(&values))?;
        if changed != 1 {
            return Err(StoreError::NotFound(lease.id.clone()));
        }
        Ok(())
    }

    fn add_approval(&mut self, lease_id: &str, approval: &Approval) -> Result<()> {
        self.conn
            .prepare_cached("INSERT INTO approvals (lease_id, by, at, decision, reason) VALUES (?1, ?2, ?3, ?4, ?5)")?
            .execute(params![
                lease_id,
                approval.by,
                approval.at.timestamp(),
                approval.decision.as_str(),
                approval.reason
            ])?;
        Ok(())
    }

    fn append(&mut self, event: &NewEvent) -> Result<i64> {
        let head: Option<(i64, String)> = self
            .conn
            .prepare_cached("SELECT seq, hash FROM audit_head WHERE id = 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (prev_seq, prev_hash) = head.unwrap_or((0, audit::GENESIS.to_owned()));
        let (record, details) = event.chain(prev_seq + 1, prev_hash);
        self.conn
            .prepare_cached(
                "INSERT INTO audit (seq, at, actor, lease_id, kind, details, prev_hash, hash) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                record.seq,
                record.at,
                record.actor,
                record.lease_id,
                record.kind,
                details,
                record.prev_hash,
                record.hash
            ])?;
        self.conn
            .prepare_cached(
                "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2) \
                 ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            )?
            .execute(params![record.seq, record.hash])?;
        let seq = record.seq;
        self.appended.push(record);
        Ok(seq)
    }
}

impl LeaseStore for SqliteStore {
    fn write(&self, work: &mut Work<'_>) -> Result<()> {
        if self.conn.is_readonly(rusqlite::MAIN_DB)? {
            return Err(read_only(&self.path));
        }
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .context_store(|| format!("locking the store {} for writing", self.path.display()))?;
        let mut tx = SqliteTx {
            conn: &self.conn,
            appended: Vec::new(),
        };
        let outcome = work(&mut tx);
        let appended = std::mem::take(&mut tx.appended);
        finish(&self.conn, outcome)?;
        self.committed.borrow_mut().extend(appended);
        Ok(())
    }

    fn write_relaxed(&self, work: &mut Work<'_>) -> Result<()> {
        // In WAL mode, NORMAL commits without waiting for the disk and stays consistent.
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let outcome = self.write(work);
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        outcome
    }

    fn lease(&self, id: &str) -> Result<Option<Lease>> {
        let mut leases = self.query_leases(
            &format!("SELECT {} FROM leases WHERE id = ?1", lease_row::columns()),
            &[&id],
        )?;
        Ok(leases.pop())
    }

    fn leases(&self, filter: &LeaseFilter) -> Result<Vec<Lease>> {
        let (condition, values) = lease_condition(filter);
        let sql = format!(
            "SELECT {} FROM leases WHERE {condition}",
            lease_row::shown_columns()
        );
        let values: Vec<&dyn ToSql> = values.iter().map(|v| v as &dyn ToSql).collect();
        // Sorting here is cheaper than SQLite's temporary b-tree for a large result.
        let mut leases = self.query_with(&sql, &values, |row| lease_row::shown(row))?;
        leases.sort_unstable_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(leases)
    }

    fn lease_documents(&self, filter: &LeaseFilter) -> Result<LeaseDocuments> {
        let live = filter.role.is_none()
            && filter.person.is_none()
            && filter.states.len() == 5
            && filter.states.iter().all(|s| !s.is_final());
        if live {
            // Everything from the covering index, already in list order.
            let mut documents = LeaseDocuments::default();
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT document FROM leases INDEXED BY leases_live WHERE {LIVE_CONDITION} \
                 ORDER BY created_at, id"
            ))?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let start = documents.text.len();
                documents.text.push_str(row.get_ref(0)?.as_str()?);
                documents.order.push(start..documents.text.len());
            }
            return Ok(documents);
        }
        let (condition, values) = lease_condition(filter);
        let sql = format!("SELECT created_at, id, document FROM leases WHERE {condition}");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(values.iter()))?;
        // One buffer for every document and a small key per lease: no allocation per row.
        let mut documents = LeaseDocuments::default();
        let mut keys: Vec<(i64, [u8; 16], std::ops::Range<usize>)> = Vec::new();
        while let Some(row) = rows.next()? {
            let id = row.get_ref(1)?.as_str()?.as_bytes();
            let mut key = [0u8; 16];
            key[..id.len().min(16)].copy_from_slice(&id[..id.len().min(16)]);
            let start = documents.text.len();
            documents.text.push_str(row.get_ref(2)?.as_str()?);
            keys.push((row.get(0)?, key, start..documents.text.len()));
        }
        keys.sort_unstable_by_key(|key| (key.0, key.1));
        documents.order = keys.into_iter().map(|(_, _, range)| range).collect();
        Ok(documents)
    }

    fn due(&self, now: DateTime<Utc>, pending_cutoff: DateTime<Utc>) -> Result<Vec<Lease>> {
        self.query_leases(
            &format!(
                "SELECT {} FROM leases WHERE \
                 (state = 'active' AND expires_at <= ?1) \
                 OR (state = 'revoke-failed' AND (next_attempt_at IS NULL OR next_attempt_at <= ?1)) \
                 OR state IN ('granting', 'revoking') \
                 OR (state = 'pending' AND created_at <= ?2) \
                 ORDER BY created_at, id",
                lease_row::columns()
            ),
            &[&now.timestamp(), &pending_cutoff.timestamp()],
        )
    }

    fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
        let next: Option<i64> = self.conn.query_row(
            "SELECT MIN(t) FROM ( \
               SELECT MIN(expires_at) AS t FROM leases WHERE state = 'active' \
               UNION ALL SELECT MIN(next_attempt_at) FROM leases WHERE state = 'revoke-failed')",
            [],
            |r| r.get(0),
        )?;
        Ok(next.and_then(|secs| DateTime::from_timestamp(secs, 0)))
    }
}

impl AuditLog for SqliteStore {
    fn events(&self, filter: &EventFilter) -> Result<Vec<AuditEvent>> {
        let since = filter
            .since
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        // Separate statements, so that a lease's events come from the index on lease_id
        // rather than a scan of the whole chain.
        let sql = match filter.lease_id {
            Some(_) => format!(
                "SELECT {EVENT_COLUMNS} FROM audit WHERE lease_id = ?1 \
                 AND (?2 IS NULL OR at >= ?2) ORDER BY seq"
            ),
            None => format!(
                "SELECT {EVENT_COLUMNS} FROM audit WHERE ?1 IS NULL \
                 AND (?2 IS NULL OR at >= ?2) ORDER BY seq"
            ),
        };
        query_rows(&self.conn, &sql, &[&filter.lease_id, &since], |row| {
            lease_row::event(row)
        })
    }

    fn each_event(
        &self,
        visit: &mut dyn FnMut(&AuditEvent) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {EVENT_COLUMNS} FROM audit ORDER BY seq"))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            visit(&lease_row::event(row)?)?;
        }
        Ok(())
    }

    fn verify(
        &self,
        checkpoint: Option<audit::Checkpoint>,
    ) -> Result<std::result::Result<ChainHead, Break>> {
        self.conn.execute_batch("BEGIN")?;
        let outcome = (|| {
            let mut verifier = Verifier::holding(checkpoint);
            let mut stmt = self
                .conn
                .prepare(&format!("SELECT {EVENT_COLUMNS} FROM audit ORDER BY seq"))?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let text = |i| row.get_ref(i).and_then(|v| v.as_str().map_err(Into::into));
                let record = RawRecord {
                    seq: row.get(0)?,
                    at: text(1)?,
                    actor: text(2)?,
                    lease_id: row.get_ref(3)?.as_str_or_null()?,
                    kind: text(4)?,
                    details: text(5)?,
                    prev_hash: text(6)?,
                    hash: text(7)?,
                };
                if let Err(found) = verifier.check(&record) {
                    return Ok(Err(found));
                }
            }
            let head: Option<(i64, String)> = self
                .conn
                .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            Ok(verifier
                .finish(
                    head.as_ref()
                        .map_or((0, audit::GENESIS), |(seq, hash)| (*seq, hash.as_str())),
                )
                .map(|(seq, hash)| ChainHead {
                    count: verifier.count,
                    seq,
                    hash,
                }))
        })();
        let _ = self.conn.execute_batch("COMMIT");
        outcome
    }

    fn take_committed(&self) -> Vec<AuditEvent> {
        std::mem::take(&mut *self.committed.borrow_mut())
    }

    fn events_of_kinds(&self, kinds: &[crate::audit::EventKind]) -> Result<Vec<AuditEvent>> {
        // One bound value: the kinds as a JSON array, read back with json_each.
        let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        let kinds = serde_json::to_string(&kinds).map_err(anyhow::Error::from)?;
        query_rows(
            &self.conn,
            &format!(
                "SELECT {EVENT_COLUMNS} FROM audit \
                 WHERE kind IN (SELECT value FROM json_each(?1)) ORDER BY seq"
            ),
            &[&kinds],
            |row| lease_row::event(row),
        )
    }

    fn events_after(&self, seq: i64, limit: usize) -> Result<Vec<AuditEvent>> {
        query_rows(
            &self.conn,
            &format!("SELECT {EVENT_COLUMNS} FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2"),
            &[&seq, &i64::try_from(limit).unwrap_or(i64::MAX)],
            |row| lease_row::event(row),
        )
    }

    fn last_seq(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM audit", [], |r| r.get(0))?)
    }
}

impl ShippingState for SqliteStore {
    fn checkpoint(&self, destination: &str) -> Result<Checkpoint> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT seq, failed_at, error, hash FROM audit_shipping WHERE destination = ?1",
            )?
            .query_row([destination], |r| {
                Ok(Checkpoint {
                    seq: r.get(0)?,
                    failed_at: r
                        .get::<_, Option<i64>>(1)?
                        .and_then(|secs| DateTime::from_timestamp(secs, 0)),
                    error: r.get(2)?,
                    hash: r.get(3)?,
                })
            })
            .optional()?;
        Ok(row.unwrap_or_default())
    }

    fn set_checkpoint(&self, destination: &str, checkpoint: &Checkpoint) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO audit_shipping (destination, seq, failed_at, error, hash) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (destination) DO UPDATE SET \
                 seq = excluded.seq, failed_at = excluded.failed_at, error = excluded.error, \
                 hash = excluded.hash",
            )?
            .execute(params![
                destination,
                checkpoint.seq,
                ts(checkpoint.failed_at),
                checkpoint.error,
                checkpoint.hash
            ])?;
        Ok(())
    }
}

impl Locks for SqliteStore {
    fn lock(&self, lock: Lock<'_>, patience: Duration) -> Result<Option<Guard>> {
        // A file next to the store, locked with flock(2): the kernel lets go when the
        // process dies. Opened without following a link, so nobody can point it elsewhere.
        let path = match lock {
            Lock::Shipping => self.path.with_extension("ship.lock"),
            Lock::Entitlement { role, subject } => {
                use sha2::{Digest, Sha256};
                let digest = Sha256::new()
                    .chain_update(role)
                    .chain_update([0])
                    .chain_update(subject)
                    .finalize();
                let name: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
                self.path.with_extension(format!("entitlement-{name}.lock"))
            }
        };
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
            .open(&path)
            .context_store(|| format!("opening {}", path.display()))?;
        let started = std::time::Instant::now();
        let mut file = file;
        loop {
            match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
                Ok(lock) => return Ok(Some(Guard(Held::File(lock)))),
                Err((_, nix::errno::Errno::EWOULDBLOCK)) if started.elapsed() >= patience => {
                    return Ok(None);
                }
                Err((back, nix::errno::Errno::EWOULDBLOCK)) => {
                    file = back;
                    std::thread::sleep(LOCK_POLL);
                }
                Err((_, err)) => {
                    return Err(StoreError::Unavailable(anyhow::anyhow!(
                        "locking {}: {err}",
                        path.display()
                    )));
                }
            }
        }
    }
}

impl Store for SqliteStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn identity(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row("SELECT name FROM store_identity WHERE id = 1", [], |r| {
                r.get(0)
            })?)
    }

    fn check(&self) -> Result<String> {
        let verdict: String = self
            .conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if verdict != "ok" {
            return Err(StoreError::corrupt(format!(
                "integrity check failed: {verdict}"
            )));
        }
        self.conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK")?;
        let count: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM leases", [], |r| r.get(0))?;
        Ok(format!("{count} leases"))
    }
}
