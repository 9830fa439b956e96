//! `jit worker`: the service that carries out a team store's work queue. It takes one
//! request at a time with `FOR UPDATE SKIP LOCKED` (several workers on several hosts never
//! take the same one), evaluates it against its own configuration for the person the
//! database says asked, grants once the approvals are in, seals credentials to the asking
//! process, and sweeps: expiries, failed revocations, interrupted grants, requests pending
//! too long. `LISTEN jit_work` wakes it; it also looks every few seconds.

use super::handoff;
use crate::audit::{EventKind, NewEvent};
use crate::engine::{Decided, Engine, RequestInput, Requested, RevokeOutcome};
use crate::exit;
use crate::identity::Identity;
use crate::lease::{Lease, LeaseState, Verdict};
use crate::store::LeaseStore;
use crate::store::postgres::PgStore;
use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};
use postgres::fallible_iterator::FallibleIterator;
use std::time::Duration;

/// The longest a worker sleeps without a notification.
pub const POLL: Duration = Duration::from_secs(2);
/// A worker on another host that took a request and has not finished it within this is
/// taken to have stopped (one on this host is checked by its process id).
const TAKEN_STALE: Duration = Duration::from_secs(60);

/// One queued request, as a worker takes it.
struct Job {
    id: i64,
    kind: String,
    requester: String,
    role: Option<String>,
    lease_id: Option<String>,
    ttl_secs: Option<i64>,
    ticket: Option<String>,
    reason: Option<String>,
    public_key: Option<String>,
}

/// What a worker did in one pass, for its log.
#[derive(Default)]
pub struct Pass {
    /// (request id, kind, who, outcome)
    pub done: Vec<(i64, String, String, String)>,
    pub sweep: Option<crate::engine::SweepReport>,
}

pub struct Worker<'a> {
    engine: Engine<'a>,
    store: &'a PgStore,
}

impl<'a> Worker<'a> {
    pub fn new(mut engine: Engine<'a>, store: &'a PgStore) -> Result<Worker<'a>> {
        engine.keeps_credentials = false;
        store.client().batch_execute("LISTEN jit_work")?;
        Ok(Worker { engine, store })
    }

    /// Take and carry out every waiting request, settle requests whose lease ended, and
    /// sweep.
    pub fn pass(&self) -> Result<Pass> {
        let mut pass = Pass::default();
        while let Some(job) = self.take()? {
            let who = job.requester.clone();
            let kind = job.kind.clone();
            // Whatever goes wrong, the row is answered: none stays taken and unanswered.
            let outcome = match self.forged(&job) {
                Ok(Some(why)) => self.refuse(&job, &why),
                Ok(None) => self.carry_out(&job),
                Err(err) => Err(err),
            };
            let text = match outcome {
                Ok(text) => text,
                Err(err) => {
                    let code = i32::from(exit::exit_for(&err).code());
                    let message = format!("{err:#}");
                    self.answer(job.id, "refused", code, &message)?;
                    format!("refused ({code}): {message}")
                }
            };
            pass.done.push((job.id, kind, who, text));
        }
        pass.sweep = Some(self.engine.sweep()?);
        self.settle()?;
        self.engine.publish();
        Ok(pass)
    }

    /// Sleep until work arrives, the next lease is due, or [`POLL`].
    pub fn nap(&self) -> Result<()> {
        let now = self.engine.clock.now();
        let nap = match self.store.next_due()? {
            Some(next) => (next - now).to_std().unwrap_or_default().min(POLL),
            None => POLL,
        };
        let mut client = self.store.client();
        let mut notifications = client.notifications();
        let _ = notifications
            .timeout_iter(nap.max(Duration::from_millis(50)))
            .next()?;
        // One wake-up is enough: drop the others that arrived meanwhile.
        while notifications.iter().next()?.is_some() {}
        Ok(())
    }

    /// The oldest waiting request nobody live is working on, marked as this worker's.
    fn take(&self) -> Result<Option<Job>> {
        let now: DateTime<Utc> = self.engine.clock.now();
        let me = self.engine.worker.id.clone();
        let mut client = self.store.client();
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
                Some(other) => !self
                    .engine
                    .worker
                    .sees_alive(other, taken_at, now, TAKEN_STALE),
            }
        });
        let Some(row) = free else {
            tx.commit()?;
            return Ok(None);
        };
        let id: i64 = row.get(0);
        let row = tx.query_one(
            "UPDATE jit.requests SET taken_by = $2, taken_at = now() WHERE id = $1 \
             RETURNING id, kind, requester, role, lease_id, ttl_secs, ticket, reason, public_key",
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
        }))
    }

    /// Why a row that names a lease does not belong to the login that inserted it, if it
    /// does not: a request row is its lease's own (the one that created it, by the lease's
    /// requester); a revocation comes from someone who may end the lease; an extension
    /// from its requester or subject; a decision from someone else. The database's
    /// policies refuse such rows already; this is the second check, for a row that got in
    /// some other way (a store from before those policies, a login that bypasses them).
    fn forged(&self, job: &Job) -> Result<Option<String>> {
        let Some(lease_id) = job.lease_id.as_deref() else {
            return Ok(None);
        };
        let Some(lease) = self.store.lease(lease_id)? else {
            // The kind's own handling answers "no lease".
            return Ok(None);
        };
        let holder = job.requester == lease.requester || job.requester == lease.subject;
        Ok(match job.kind.as_str() {
            "request" if job.requester != lease.requester => Some(format!(
                "request {} from {} names lease {}, requested by {}",
                job.id, job.requester, lease.id, lease.requester
            )),
            "request" => match self.request_of(&lease.id)? {
                Some(own) if own != job.id => Some(format!(
                    "request {} names lease {}, which request {own} created",
                    job.id, lease.id
                )),
                _ => None,
            },
            "revoke" => {
                let who = Identity::named(&job.requester)?;
                self.engine
                    .may_end(&who, &lease)
                    .err()
                    .map(|err| format!("{err:#}"))
            }
            "extend" if !holder => Some(format!(
                "{} may not extend a lease of {}",
                job.requester, lease.subject
            )),
            "approve" | "deny" if holder => Some(format!(
                "{} may not decide their own request (lease {})",
                job.requester, lease.id
            )),
            _ => None,
        })
    }

    /// Answer a forged row as refused (exit 3) and record the refusal in the audit trail.
    fn refuse(&self, job: &Job, why: &str) -> Result<String> {
        let event = NewEvent {
            at: self.engine.clock.now(),
            actor: job.requester.clone(),
            lease_id: job.lease_id.clone(),
            kind: EventKind::Refused,
            details: serde_json::json!({
                "request": job.id,
                "request_kind": job.kind,
                "reason": why,
            }),
        };
        crate::store::write(self.store, |tx| Ok(tx.append(&event).map(drop)?))?;
        Err(exit::denied(why.to_owned()))
    }

    fn carry_out(&self, job: &Job) -> Result<String> {
        let who = Identity::named(&job.requester)?;
        let engine = self.engine.acting_as(&who.user);
        let lease_id = || {
            job.lease_id
                .as_deref()
                .with_context(|| format!("request {} names no lease", job.id))
        };
        match job.kind.as_str() {
            "request" if job.lease_id.is_some() => self.resume(job, &engine),
            "request" => {
                let input = RequestInput {
                    role: job.role.clone().unwrap_or_default(),
                    ttl: job
                        .ttl_secs
                        .map(|secs| Duration::from_secs(u64::try_from(secs).unwrap_or(0))),
                    ticket: job.ticket.clone(),
                    reason: job.reason.clone(),
                    public_key: job.public_key.clone(),
                };
                self.store.creating_for(Some(job.id));
                let requested = engine.request(&who, &input, None);
                self.store.creating_for(None);
                match requested? {
                    Requested::Granted {
                        lease, credentials, ..
                    } => {
                        self.hand_over(job.id, &lease, credentials.as_ref())?;
                        Ok(format!("granted {}", lease.id))
                    }
                    Requested::Pending { lease } => {
                        // The requester's configuration names no roles: this one's says
                        // whether its credentials will never be shown.
                        let text = engine
                            .unshown_credentials(&lease)
                            .unwrap_or_else(|| format!("pending {}", lease.id));
                        self.answer(job.id, "pending", 4, &text)?;
                        Ok(format!("pending {}", lease.id))
                    }
                }
            }
            "approve" | "deny" => {
                let verdict = if job.kind == "approve" {
                    Verdict::Approve
                } else {
                    Verdict::Deny
                };
                let decided = engine.decide(lease_id()?, &who, verdict, job.reason.as_deref())?;
                let text = match decided {
                    Decided::Approved { lease, remaining } => format!(
                        "approved {}; {remaining} more approval{} needed",
                        lease.id,
                        if remaining == 1 { "" } else { "s" }
                    ),
                    Decided::Granted { lease, credentials } => {
                        if let Some(request) = self.request_of(&lease.id)? {
                            self.hand_over(request, &lease, credentials.as_ref())?;
                        }
                        format!("approved {}; granted to {}", lease.id, lease.subject)
                    }
                    Decided::HandedOver { lease } => format!("approved {}", lease.id),
                    Decided::Denied { lease } => format!("denied {}", lease.id),
                };
                self.answer(job.id, "done", 0, &text)?;
                Ok(text)
            }
            "revoke" => {
                let lease = engine.lease(lease_id()?)?;
                engine.may_end(&who, &lease)?;
                let revocation = engine.revoke(&lease.id)?;
                let (status, code, text) = match revocation.outcome {
                    RevokeOutcome::Failed { error } => (
                        "refused",
                        6,
                        format!("lease {} is revoke-failed: {error}", lease.id),
                    ),
                    RevokeOutcome::InFlight => (
                        "refused",
                        1,
                        format!("lease {} is being worked on by another worker", lease.id),
                    ),
                    _ => (
                        "done",
                        0,
                        format!("lease {} is {}", lease.id, revocation.lease.state),
                    ),
                };
                self.answer(job.id, status, code, &text)?;
                Ok(text)
            }
            "extend" => {
                let ttl =
                    Duration::from_secs(u64::try_from(job.ttl_secs.unwrap_or(0)).unwrap_or(0));
                let lease = engine.extend(lease_id()?, &who, ttl)?;
                let text = format!("extended {}", lease.id);
                self.answer(job.id, "done", 0, &text)?;
                Ok(text)
            }
            other => Err(exit::usage(format!("unknown request kind {other:?}"))),
        }
    }

    /// A request another worker took and stopped on after creating its lease: nothing is
    /// granted twice. A lease still being granted by nobody is cleaned up; one waiting for
    /// approval is answered as pending; one that ended is answered by [`Worker::settle`].
    fn resume(&self, job: &Job, engine: &Engine<'_>) -> Result<String> {
        let lease = engine.lease(job.lease_id.as_deref().unwrap_or_default())?;
        match lease.state {
            LeaseState::Pending => {
                self.answer(job.id, "pending", 4, &format!("pending {}", lease.id))?;
                Ok(format!("pending {}", lease.id))
            }
            state if state.is_final() => {
                let (code, text) = super::outcome_of(self.store, &lease)?;
                self.answer(job.id, "refused", code, &text)?;
                Ok(text)
            }
            _ => {
                // Its credentials were never sealed (or never picked up): end it.
                let revocation = engine.revoke(&lease.id)?;
                let text = format!(
                    "the worker granting lease {} stopped; the lease is {}",
                    lease.id, revocation.lease.state
                );
                self.answer(job.id, "refused", 1, &text)?;
                Ok(text)
            }
        }
    }

    /// The queued request that created lease `id`: the one request row linked to it (the
    /// schema allows no other), inserted by the lease's requester.
    fn request_of(&self, id: &str) -> Result<Option<i64>> {
        Ok(self
            .store
            .client()
            .query_opt(
                "SELECT r.id FROM jit.requests r JOIN jit.leases l ON l.id = r.lease_id \
                 WHERE r.kind = 'request' AND r.lease_id = $1 AND r.requester = l.requester \
                 ORDER BY r.id LIMIT 1",
                &[&id],
            )?
            .map(|row| row.get(0)))
    }

    /// Seal the credentials to the asking process and answer its request, together.
    fn hand_over(
        &self,
        request: i64,
        lease: &Lease,
        credentials: Option<&crate::backend::Credentials>,
    ) -> Result<()> {
        let mut client = self.store.client();
        let mut tx = client.transaction()?;
        let row = tx.query_one(
            "SELECT requester, handoff_key FROM jit.requests WHERE id = $1 FOR UPDATE",
            &[&request],
        )?;
        let requester: String = row.get(0);
        let key: Option<Vec<u8>> = row.get(1);
        // Credentials go only to the process of the person who asked for them.
        anyhow::ensure!(
            requester == lease.requester,
            "request {request} is from {requester}, not from {}, the requester of lease {}: nothing handed over",
            lease.requester,
            lease.id
        );
        if let (Some(credentials), Some(key)) = (credentials, key) {
            let sealed = handoff::seal(&key, credentials)?;
            tx.execute(
                "INSERT INTO jit.handoffs (lease_id, requester, ciphertext) VALUES ($1, $2, $3) \
                 ON CONFLICT (lease_id) DO NOTHING",
                &[&lease.id, &requester, &sealed],
            )?;
        }
        tx.execute(
            "UPDATE jit.requests SET status = 'done', exit_code = 0, message = $2, \
             answered_at = now() WHERE id = $1",
            &[&request, &format!("granted {}", lease.id)],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn answer(&self, request: i64, status: &str, code: i32, message: &str) -> Result<()> {
        self.store.client().execute(
            "UPDATE jit.requests SET status = $2, exit_code = $3, message = $4, \
             answered_at = now() WHERE id = $1",
            &[&request, &status, &code, &message],
        )?;
        Ok(())
    }

    /// Answer the requests still waiting on a lease that has ended meanwhile (denied,
    /// cancelled for want of approvals, withdrawn).
    fn settle(&self) -> Result<()> {
        let finals: Vec<&str> = LeaseState::ALL
            .iter()
            .filter(|s| s.is_final())
            .map(|s| s.as_str())
            .collect();
        let rows = self.store.client().query(
            "SELECT r.id, r.lease_id FROM jit.requests r JOIN jit.leases l ON l.id = r.lease_id \
             WHERE r.kind = 'request' AND r.status = 'pending' AND l.state = ANY($1)",
            &[&finals],
        )?;
        for row in rows {
            let (id, lease_id): (i64, String) = (row.get(0), row.get(1));
            if let Some(lease) = self.store.lease(&lease_id)? {
                let (code, text) = super::outcome_of(self.store, &lease)?;
                self.answer(id, "refused", code, &text)?;
            }
        }
        Ok(())
    }
}
