//! `jit worker`: the service that carries out a team store's work queue. It takes one
//! request at a time with `FOR UPDATE SKIP LOCKED` (several workers on several hosts never
//! take the same one), evaluates it against its own configuration for the person the
//! database says asked, grants once the approvals are in, seals credentials to the asking
//! process, and sweeps: expiries, failed revocations, interrupted grants, requests pending
//! too long. `LISTEN jit_work` wakes it; it also looks every few seconds.

use super::handoff;
use crate::audit::{EventKind, NewEvent};
use crate::engine::{Engine, RequestInput, Requested, RevokeOutcome};
use crate::exit;
use crate::identity::Identity;
use crate::lease::{Lease, LeaseState, Verdict};
use crate::store::LeaseStore;
use crate::store::postgres::PgStore;
use crate::store::queue::Job;
use anyhow::{Context as _, Result};
use std::time::Duration;

/// The longest a worker sleeps without a notification.
pub const POLL: Duration = Duration::from_secs(2);
/// A worker on another host that took a request and has not finished it within this is
/// taken to have stopped (one on this host is checked by its process id).
const TAKEN_STALE: Duration = Duration::from_secs(60);

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
        store.listen_for_work()?;
        Ok(Worker { engine, store })
    }

    /// The engine the worker carries requests out with.
    pub fn engine(&self) -> &Engine<'a> {
        &self.engine
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
        self.store
            .await_notifications(nap.max(Duration::from_millis(50)))
    }

    /// The oldest waiting request nobody live is working on, marked as this worker's.
    fn take(&self) -> Result<Option<Job>> {
        let now = self.engine.clock.now();
        let process = &self.engine.worker;
        self.store.take_job(&process.id, &|other, taken_at| {
            process.sees_alive(other, taken_at, now, TAKEN_STALE)
        })
    }

    /// Why a row that names a lease does not belong to the login that inserted it, if it
    /// does not: a request row is its lease's own (the one that created it, by the lease's
    /// requester); a revocation comes from someone who may end the lease; an extension
    /// from its requester or subject; a decision from someone else. The database's
    /// policies refuse such rows already; this is the second check, for a row that got in
    /// some other way (a store from before those policies, a login that bypasses them).
    fn forged(&self, job: &Job) -> Result<Option<String>> {
        if let Some(session) = &job.agent_session {
            // An agent's request is bound to the requester's own open connection: the lease
            // ends when it closes.
            let holder = match crate::engine::Session::parse(session) {
                Some(crate::engine::Session::Team { pid, tag }) => {
                    self.store.connection_of(pid, &tag)?
                }
                _ => None,
            };
            if holder.as_deref() != Some(job.requester.as_str()) {
                return Ok(Some(format!(
                    "request {} names session {session:?}, which is not an open connection of {}",
                    job.id, job.requester
                )));
            }
        }
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
            "request" => match self.store.request_of(&lease.id)? {
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
                    queued_as: Some(job.id),
                    agent: job.agent.clone(),
                    session: job.agent_session.clone(),
                };
                match engine.request(&who, &input, None)? {
                    Requested::Granted {
                        lease, credentials, ..
                    } => {
                        self.hand_over(job.id, &lease, credentials.as_ref())?;
                        Ok(format!("granted {}", lease.id))
                    }
                    Requested::Pending { lease, notice } => {
                        // The requester's configuration names no roles: this one's says
                        // whether its credentials will never be shown.
                        let text = notice.unwrap_or_else(|| format!("pending {}", lease.id));
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
                if let crate::engine::Decided::Granted { lease, credentials } = &decided
                    && let Some(request) = self.store.request_of(&lease.id)?
                {
                    self.hand_over(request, lease, credentials.as_ref())?;
                }
                let text = crate::output::decision(&decided, true);
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

    /// Seal the credentials to the asking process and answer its request, together.
    fn hand_over(
        &self,
        request: i64,
        lease: &Lease,
        credentials: Option<&crate::backend::Credentials>,
    ) -> Result<()> {
        self.store
            .hand_over(request, &lease.id, &lease.requester, &|key| {
                credentials
                    .map(|credentials| handoff::seal(key, credentials))
                    .transpose()
            })
    }

    fn answer(&self, request: i64, status: &str, code: i32, message: &str) -> Result<()> {
        self.store.answer_job(request, status, code, message)
    }

    /// Answer the requests still waiting on a lease that has ended meanwhile (denied,
    /// cancelled for want of approvals, withdrawn).
    fn settle(&self) -> Result<()> {
        for (id, lease_id) in self.store.settled_requests()? {
            if let Some(lease) = self.store.lease(&lease_id)? {
                let (code, text) = super::outcome_of(self.store, &lease)?;
                self.answer(id, "refused", code, &text)?;
            }
        }
        Ok(())
    }
}
