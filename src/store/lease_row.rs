//! A lease as a row of the SQL stores, written once for both: the column list, the values
//! an insert and an update bind, and the lease read back from a row. A new lease field is
//! a column in each schema and an entry here. Approvals and audit records too.

use super::error::{Result, StoreError};
use crate::audit::AuditEvent;
use crate::lease::{Approval, Ending, Lease, Verdict};
use chrono::{DateTime, Utc};

/// Every column, in the order of [`insert_values`] and of what [`whole`] reads: first those
/// the lease JSON shows ([`SHOWN`] of them), then the engine's bookkeeping.
pub const COLUMNS: [&str; 26] = [
    "id",
    "role",
    "target",
    "backend",
    "subject",
    "requester",
    "state",
    "ticket",
    "reason",
    "created_at",
    "granted_at",
    "expires_at",
    "ended_at",
    "last_error",
    "approvals_required",
    "ttl_secs",
    "break_glass",
    "agent",
    "handle",
    "params",
    "ending",
    "worker",
    "worker_at",
    "attempts",
    "next_attempt_at",
    "agent_session",
];

/// How many of [`COLUMNS`] the lease JSON shows (what [`shown`] reads).
pub const SHOWN: usize = 18;

/// The columns an update sets, after `id` (`$1`), in the order of [`update_values`]; the
/// others are fixed when the lease is created.
const UPDATED: [&str; 13] = [
    "state",
    "granted_at",
    "expires_at",
    "ended_at",
    "handle",
    "ending",
    "worker",
    "worker_at",
    "attempts",
    "next_attempt_at",
    "last_error",
    "ttl_secs",
    "document",
];

/// The columns of an approval row, in the order [`approval`] reads.
pub const APPROVAL_COLUMNS: &str = "lease_id, by, at, decision, reason";
/// The columns of an audit record, in the order [`event`] reads.
pub const EVENT_COLUMNS: &str = "seq, at, actor, lease_id, kind, details, prev_hash, hash";

/// Every column, as a SELECT lists them.
pub fn columns() -> String {
    COLUMNS.join(", ")
}

/// The columns the lease JSON shows, as a SELECT lists them.
pub fn shown_columns() -> String {
    COLUMNS[..SHOWN].join(", ")
}

/// `INSERT INTO table (every column, document) VALUES (…)`, with the store's parameter
/// marks (`mark(1)` is the first).
pub fn insert_sql(table: &str, mark: fn(usize) -> String) -> String {
    let marks: Vec<String> = (1..=COLUMNS.len() + 1).map(mark).collect();
    format!(
        "INSERT INTO {table} ({}, document) VALUES ({})",
        columns(),
        marks.join(", ")
    )
}

/// `UPDATE table SET … WHERE id = mark(1)`.
pub fn update_sql(table: &str, mark: fn(usize) -> String) -> String {
    let sets: Vec<String> = UPDATED
        .iter()
        .enumerate()
        .map(|(i, column)| format!("{column} = {}", mark(i + 2)))
        .collect();
    format!(
        "UPDATE {table} SET {} WHERE id = {}",
        sets.join(", "),
        mark(1)
    )
}

/// A value to bind, typed as the PostgreSQL schema types it (SQLite takes any).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Text(String),
    MaybeText(Option<String>),
    /// BIGINT: times (unix seconds) and lengths.
    Int(i64),
    MaybeInt(Option<i64>),
    /// INTEGER: counts.
    Small(i32),
    Flag(bool),
}

fn secs(time: Option<DateTime<Utc>>) -> Value {
    Value::MaybeInt(time.map(|t| t.timestamp()))
}

fn ending_text(ending: Option<Ending>) -> Value {
    Value::MaybeText(ending.map(|e| e.state().as_str().to_owned()))
}

/// What an insert binds: [`COLUMNS`], then the lease JSON.
pub fn insert_values(lease: &Lease) -> Result<Vec<Value>> {
    use Value::*;
    Ok(vec![
        Text(lease.id.clone()),
        Text(lease.role.clone()),
        Text(lease.target.clone()),
        Text(lease.backend.clone()),
        Text(lease.subject.clone()),
        Text(lease.requester.clone()),
        Text(lease.state.as_str().to_owned()),
        MaybeText(lease.ticket.clone()),
        MaybeText(lease.reason.clone()),
        Int(lease.created_at.timestamp()),
        secs(lease.granted_at),
        secs(lease.expires_at),
        secs(lease.ended_at),
        MaybeText(lease.last_error.clone()),
        Small(i32::try_from(lease.approvals_required)?),
        Int(lease.ttl_secs),
        Flag(lease.break_glass),
        MaybeText(
            lease
                .agent
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?,
        ),
        Text(lease.handle.to_string()),
        Text(lease.params.to_string()),
        ending_text(lease.ending),
        MaybeText(lease.worker.clone()),
        secs(lease.worker_at),
        Small(i32::try_from(lease.attempts)?),
        secs(lease.next_attempt_at),
        MaybeText(lease.agent_session.clone()),
        Text(serde_json::to_string(lease)?),
    ])
}

/// What an update binds: the id, then the updated columns.
pub fn update_values(lease: &Lease) -> Result<Vec<Value>> {
    use Value::*;
    Ok(vec![
        Text(lease.id.clone()),
        Text(lease.state.as_str().to_owned()),
        secs(lease.granted_at),
        secs(lease.expires_at),
        secs(lease.ended_at),
        Text(lease.handle.to_string()),
        ending_text(lease.ending),
        MaybeText(lease.worker.clone()),
        secs(lease.worker_at),
        Small(i32::try_from(lease.attempts)?),
        secs(lease.next_attempt_at),
        MaybeText(lease.last_error.clone()),
        Int(lease.ttl_secs),
        Text(serde_json::to_string(lease)?),
    ])
}

/// Reading a row's columns by position, as each store's driver does.
pub trait Columns {
    fn maybe_text(&self, index: usize) -> Result<Option<String>>;
    fn maybe_int(&self, index: usize) -> Result<Option<i64>>;
    fn flag(&self, index: usize) -> Result<bool>;

    fn text(&self, index: usize) -> Result<String> {
        self.maybe_text(index)?
            .ok_or_else(|| StoreError::corrupt(format!("column {index} is empty")))
    }
    fn int(&self, index: usize) -> Result<i64> {
        self.maybe_int(index)?
            .ok_or_else(|| StoreError::corrupt(format!("column {index} is empty")))
    }
    fn time(&self, index: usize) -> Result<Option<DateTime<Utc>>> {
        Ok(self
            .maybe_int(index)?
            .and_then(|secs| DateTime::from_timestamp(secs, 0)))
    }
}

fn count(row: &impl Columns, index: usize) -> Result<u32> {
    u32::try_from(row.int(index)?).map_err(|e| StoreError::corrupt(format!("column {index}: {e}")))
}

fn json(row: &impl Columns, index: usize) -> Result<serde_json::Value> {
    serde_json::from_str(&row.text(index)?)
        .map_err(|e| StoreError::corrupt(format!("column {index}: {e}")))
}

/// A lease as the lease JSON shows it, from a row whose first columns are [`SHOWN`] of
/// [`COLUMNS`]: the engine's bookkeeping stays at its defaults.
pub fn shown(row: &impl Columns) -> Result<Lease> {
    Ok(Lease {
        id: row.text(0)?,
        role: row.text(1)?,
        target: row.text(2)?,
        backend: row.text(3)?,
        subject: row.text(4)?,
        requester: row.text(5)?,
        state: row.text(6)?.parse().map_err(StoreError::corrupt)?,
        ticket: row.maybe_text(7)?,
        reason: row.maybe_text(8)?,
        created_at: row
            .time(9)?
            .ok_or_else(|| StoreError::corrupt("a lease without created_at"))?,
        granted_at: row.time(10)?,
        expires_at: row.time(11)?,
        ended_at: row.time(12)?,
        last_error: row.maybe_text(13)?,
        approvals_required: count(row, 14)?,
        ttl_secs: row.int(15)?,
        break_glass: row.flag(16)?,
        agent: row
            .maybe_text(17)?
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| StoreError::corrupt(format!("column 17: {e}")))?,
        approvals: Vec::new(),
        handle: serde_json::Value::Null,
        params: serde_json::Value::Null,
        ending: None,
        worker: None,
        worker_at: None,
        attempts: 0,
        next_attempt_at: None,
        agent_session: None,
    })
}

/// A whole lease from a row of [`COLUMNS`].
pub fn whole(row: &impl Columns) -> Result<Lease> {
    Ok(Lease {
        handle: json(row, 18)?,
        params: json(row, 19)?,
        ending: row.maybe_text(20)?.as_deref().and_then(Ending::parse),
        worker: row.maybe_text(21)?,
        worker_at: row.time(22)?,
        attempts: count(row, 23)?,
        next_attempt_at: row.time(24)?,
        agent_session: row.maybe_text(25)?,
        ..shown(row)?
    })
}

/// An approval from a row of [`APPROVAL_COLUMNS`].
pub fn approval(row: &impl Columns) -> Result<Approval> {
    Ok(Approval {
        by: row.text(1)?,
        at: row
            .time(2)?
            .ok_or_else(|| StoreError::corrupt("an approval without a time"))?,
        decision: if row.text(3)? == "approve" {
            Verdict::Approve
        } else {
            Verdict::Deny
        },
        reason: row.maybe_text(4)?,
    })
}

/// An audit record from a row of [`EVENT_COLUMNS`].
pub fn event(row: &impl Columns) -> Result<AuditEvent> {
    let details = row.text(5)?;
    Ok(AuditEvent {
        seq: row.int(0)?,
        at: row.text(1)?,
        actor: row.text(2)?,
        lease_id: row.maybe_text(3)?,
        kind: row.text(4)?,
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::String(details)),
        prev_hash: row.text(6)?,
        hash: row.text(7)?,
    })
}

impl Columns for rusqlite::Row<'_> {
    fn maybe_text(&self, index: usize) -> Result<Option<String>> {
        Ok(self.get(index)?)
    }
    fn maybe_int(&self, index: usize) -> Result<Option<i64>> {
        Ok(self.get(index)?)
    }
    fn flag(&self, index: usize) -> Result<bool> {
        Ok(self.get(index)?)
    }
}

fn unreadable(err: postgres::Error) -> StoreError {
    StoreError::Corrupt(err.into())
}

impl Columns for postgres::Row {
    fn maybe_text(&self, index: usize) -> Result<Option<String>> {
        self.try_get(index).map_err(unreadable)
    }
    fn maybe_int(&self, index: usize) -> Result<Option<i64>> {
        if *self.columns()[index].type_() == postgres::types::Type::INT4 {
            return Ok(self
                .try_get::<_, Option<i32>>(index)
                .map_err(unreadable)?
                .map(i64::from));
        }
        self.try_get(index).map_err(unreadable)
    }
    fn flag(&self, index: usize) -> Result<bool> {
        self.try_get(index).map_err(unreadable)
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Value::Text(text) => text.to_sql(),
            Value::MaybeText(text) => text.to_sql(),
            Value::Int(n) => n.to_sql(),
            Value::MaybeInt(n) => n.to_sql(),
            Value::Small(n) => n.to_sql(),
            Value::Flag(b) => b.to_sql(),
        }
    }
}

impl Value {
    /// This value for the PostgreSQL driver.
    pub fn pg(&self) -> &(dyn postgres::types::ToSql + Sync) {
        match self {
            Value::Text(text) => text,
            Value::MaybeText(text) => text,
            Value::Int(n) => n,
            Value::MaybeInt(n) => n,
            Value::Small(n) => n,
            Value::Flag(b) => b,
        }
    }
}
