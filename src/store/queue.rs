//! A team store's work queue (`jit.requests`) and its sealed credentials (`jit.handoffs`):
//! people queue what they ask as their own database login; workers take each request once
//! (`FOR UPDATE SKIP LOCKED`) and answer it. Every statement of the queue is here.

use super::postgres::PgStore;
use crate::lease::{LeaseState, RequestInput, Verdict};
use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};
use postgres::fallible_iterator::FallibleIterator;
use std::time::Duration;

/// What someone asks of the workers.
pub enum Ask<'a> {
    Request {
        input: &'a RequestInput,
        handoff_key: Vec<u8>,
    },
    Decide {
        lease_id: &'a str,
        verdict: Verdict,
        reason: Option<&'a str>,
    },
    Revoke {
        lease_id: &'a str,
    },
    Extend {
        lease_id: &'a str,
        ttl: Duration,
    },
}

/// Where a queued request stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub id: i64,
    /// `new` (not answered yet), `pending` (a lease waits for approval), `done`, `refused`.
    pub status: String,
    pub exit_code: Option<i32>,
    pub message: Option<String>,
    pub lease_id: Option<String>,
}

/// One queued request, as a worker takes it.
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub requester: String,
    pub role: Option<String>,
    pub lease_id: Option<String>,
    pub ttl_secs: Option<i64>,
    pub ticket: Option<String>,
    pub reason: Option<String>,
    pub public_key: Option<String>,
    /// An AI agent's request (`jit mcp`): who, and the requesting process's session.
    pub agent: Option<crate::lease::Agent>,
    pub agent_session: Option<String>,
}

/// Seals credentials to the public key a request sent (`None`: nothing to hand over).
pub type Seal<'a> = &'a dyn Fn(&[u8]) -> Result<Option<Vec<u8>>>;

/// A refusal the database gave because the login lacks the right.
pub struct NotAllowed(pub String);

fn duration_secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl PgStore {
    /// Queue `ask` as this session's login; returns the request's id, or the database's
    /// refusal. The session listens for answers from before the request exists, so that
    /// none is missed.
    pub fn submit(&self, ask: &Ask<'_>) -> Result<std::result::Result<i64, NotAllowed>> {
        let mut client = self.client();
        client.batch_execute("LISTEN jit_answer")?;
        let row = match ask {
            Ask::Request { input, handoff_key } => {
                let ttl = input.ttl.map(duration_secs);
                let agent = input
                    .agent
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()?;
                client.query_one(
                    "INSERT INTO jit.requests (kind, role, ttl_secs, ticket, reason, public_key, handoff_key, agent, agent_session) \
                     VALUES ('request', $1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                    &[
                        &input.role,
                        &ttl,
                        &input.ticket,
                        &input.reason,
                        &input.public_key,
                        handoff_key,
                        &agent,
                        &input.session,
                    ],
                )
            }
            Ask::Decide {
                lease_id,
                verdict,
                reason,
            } => {
                let kind = match verdict {
                    Verdict::Approve => "approve",
                    Verdict::Deny => "deny",
                };
                client.query_one(
                    "INSERT INTO jit.requests (kind, lease_id, reason) VALUES ($1, $2, $3) RETURNING id",
                    &[&kind, lease_id, reason],
                )
            }
            Ask::Revoke { lease_id } => client.query_one(
                "INSERT INTO jit.requests (kind, lease_id) VALUES ('revoke', $1) RETURNING id",
                &[lease_id],
            ),
            Ask::Extend { lease_id, ttl } => client.query_one(
                "INSERT INTO jit.requests (kind, lease_id, ttl_secs) VALUES ('extend', $1, $2) RETURNING id",
                &[lease_id, &duration_secs(*ttl)],
            ),
        };
        match row {
            Ok(row) => Ok(Ok(row.get(0))),
            Err(err) if err.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) => {
                Ok(Err(NotAllowed(err.as_db_error().map_or_else(
                    || err.to_string(),
                    |e| e.message().to_owned(),
                ))))
            }
            Err(err) => {
                Err(anyhow::Error::new(err).context("queueing the request in the team store"))
            }
        }
    }

    /// The request's answer as it stands.
    pub fn answer(&self, id: i64) -> Result<Answer> {
        let row = self.client().query_one(
            "SELECT status, exit_code, message, lease_id FROM jit.requests WHERE id = $1",
            &[&id],
        )?;
        Ok(Answer {
            id,
            status: row.get(0),
            exit_code: row.get(1),
            message: row.get(2),
            lease_id: row.get(3),
        })
    }

    /// Wait up to `nap` for any answer (or, for a worker, any work) to be announced.
    pub fn await_notification(&self, nap: Duration) -> Result<()> {
        let mut client = self.client();
        let mut notifications = client.notifications();
        let _ = notifications.timeout_iter(nap).next()?;
        Ok(())
    }

    /// Like [`PgStore::await_notification`], then drop the notifications that arrived
    /// meanwhile: one wake-up is enough.
    pub fn await_notifications(&self, nap: Duration) -> Result<()> {
        let mut client = self.client();
        let mut notifications = client.notifications();
        let _ = notifications.timeout_iter(nap).next()?;
        while notifications.iter().next()?.is_some() {}
        Ok(())
    }

    /// Whether this session's login may approve (and so revoke what it did not request).
    pub fn is_approver(&self) -> Result<bool> {
        Ok(self
            .client()
            .query_one(
                "SELECT pg_has_role(session_user, 'jit_approver', 'MEMBER')",
                &[],
            )?
            .get(0))
    }

    /// Take the credentials a worker sealed for lease `lease_id`, deleting them as they
    /// are read.
    pub fn take_handoff(&self, lease_id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .client()
            .query_opt(
                "DELETE FROM jit.handoffs WHERE lease_id = $1 RETURNING ciphertext",
                &[&lease_id],
            )?
            .map(|row| row.get(0)))
    }

    /// Listen for queued work (a worker).
    pub fn listen_for_work(&self) -> Result<()> {
        self.client().batch_execute("LISTEN jit_work")?;
        Ok(())
    }

    /// The oldest waiting request that nobody `alive` is working on, marked as `me`'s.
    /// `alive` says whether another worker that took a request at a time is still at it.
    pub fn take_job(
        &self,
        me: &str,
        alive: &dyn Fn(&str, Option<DateTime<Utc>>) -> bool,
    ) -> Result<Option<Job>> {
        let mut client = self.client();
        let mut tx = client.transaction()?;
        let rows = tx.query(
            "SELECT id, taken_by, extract(epoch FROM taken_at)::bigint FROM jit.requests \
             WHERE status = 'new' ORDER BY id LIMIT 32 FOR UPDATE SKIP LOCKED",
            &[],
        )?;
        let free = rows.iter().find(|row| {
            let taken_by: Option<&str> = row.get(1);
            let taken_at = row
                .get::<_, Option<i64>>(2)
                .and_then(|secs| DateTime::from_timestamp(secs, 0));
            match taken_by {
                None => true,
                Some(other) if other == me => false,
                Some(other) => !alive(other, taken_at),
            }
        });
        let Some(row) = free else {
            tx.commit()?;
            return Ok(None);
        };
        let id: i64 = row.get(0);
        let row = tx.query_one(
            "UPDATE jit.requests SET taken_by = $2, taken_at = now() WHERE id = $1 \
             RETURNING id, kind, requester, role, lease_id, ttl_secs, ticket, reason, public_key, \
             agent, agent_session",
            &[&id, &me],
        )?;
        tx.commit()?;
        Ok(Some(Job {
            id: row.get(0),
            kind: row.get(1),
            requester: row.get(2),
            role: row.get(3),
            lease_id: row.get(4),
            ttl_secs: row.get(5),
            ticket: row.get(6),
            reason: row.get(7),
            public_key: row.get(8),
            agent: row
                .get::<_, Option<String>>(9)
                .map(|text| serde_json::from_str(&text))
                .transpose()
                .context("the agent of a queued request")?,
            agent_session: row.get(10),
        }))
    }

    /// The queued request that created lease `id`: the one request row linked to it (the
    /// schema allows no other), inserted by the lease's requester.
    pub fn request_of(&self, id: &str) -> Result<Option<i64>> {
        Ok(self
            .client()
            .query_opt(
                "SELECT r.id FROM jit.requests r JOIN jit.leases l ON l.id = r.lease_id \
                 WHERE r.kind = 'request' AND r.lease_id = $1 AND r.requester = l.requester \
                 ORDER BY r.id LIMIT 1",
                &[&id],
            )?
            .map(|row| row.get(0)))
    }

    /// Answer request `request` as granted, with the credentials `seal` makes for the
    /// public key it sent (none: nothing is handed over), together. `requester` must be
    /// who queued it: credentials go only to the process of the person who asked.
    pub fn hand_over(
        &self,
        request: i64,
        lease_id: &str,
        requester: &str,
        seal: Seal<'_>,
    ) -> Result<()> {
        let mut client = self.client();
        let mut tx = client.transaction()?;
        let row = tx.query_one(
            "SELECT requester, handoff_key FROM jit.requests WHERE id = $1 FOR UPDATE",
            &[&request],
        )?;
        let asked_by: String = row.get(0);
        let key: Option<Vec<u8>> = row.get(1);
        anyhow::ensure!(
            asked_by == requester,
            "request {request} is from {asked_by}, not from {requester}, the requester of lease {lease_id}: nothing handed over",
        );
        if let Some(sealed) = key.map(|key| seal(&key)).transpose()?.flatten() {
            tx.execute(
                "INSERT INTO jit.handoffs (lease_id, requester, ciphertext) VALUES ($1, $2, $3) \
                 ON CONFLICT (lease_id) DO NOTHING",
                &[&lease_id, &asked_by, &sealed],
            )?;
        }
        tx.execute(
            "UPDATE jit.requests SET status = 'done', exit_code = 0, message = $2, \
             answered_at = now() WHERE id = $1",
            &[&request, &format!("granted {lease_id}")],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Answer a request.
    pub fn answer_job(&self, request: i64, status: &str, code: i32, message: &str) -> Result<()> {
        self.client().execute(
            "UPDATE jit.requests SET status = $2, exit_code = $3, message = $4, \
             answered_at = now() WHERE id = $1",
            &[&request, &status, &code, &message],
        )?;
        Ok(())
    }

    /// The requests still answered `pending` whose lease has ended meanwhile (denied,
    /// cancelled for want of approvals, withdrawn), with their lease ids.
    pub fn settled_requests(&self) -> Result<Vec<(i64, String)>> {
        let finals: Vec<&str> = LeaseState::ALL
            .iter()
            .filter(|s| s.is_final())
            .map(|s| s.as_str())
            .collect();
        let rows = self.client().query(
            "SELECT r.id, r.lease_id FROM jit.requests r JOIN jit.leases l ON l.id = r.lease_id \
             WHERE r.kind = 'request' AND r.status = 'pending' AND l.state = ANY($1)",
            &[&finals],
        )?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// How many requests wait for a worker's answer, and when the oldest was queued.
    pub fn depth(&self) -> Result<(i64, Option<DateTime<Utc>>)> {
        let row = self.client().query_one(
            "SELECT count(*), (extract(epoch FROM min(created_at)) * 1000)::bigint \
             FROM jit.requests WHERE status = 'new'",
            &[],
        )?;
        // In milliseconds: whole seconds (rounded) would make a request queued a moment ago
        // read as queued in the future, and its age as 0.
        let oldest = row
            .get::<_, Option<i64>>(1)
            .and_then(DateTime::from_timestamp_millis);
        Ok((row.get(0), oldest))
    }
}
