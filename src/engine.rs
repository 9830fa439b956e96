//! The lease engine: the order of policy, store, backend and audit for request, grant,
//! revoke, extend, approval and sweep (SPEC §7).
//!
//! Invariants:
//! - `granting` (with what the backend needs to find the entitlement again) is committed
//!   *before* the backend is called, `active` after it returns;
//! - every state change commits together with its audit event (the in-flight markers
//!   `granting` and `revoking` are recorded with the event of the step that leads to them,
//!   or the outcome's event);
//! - revocation is idempotent and a failed one is never reported as done;
//! - a shared entitlement stays while another live lease of the same role and subject
//!   still covers it;
//! - each step loads the lease from the store, so the grant step may run in a different
//!   process (or host) from the request step.

use crate::audit::{EventKind, NewEvent};
use crate::backend::{
    self, Backend, BackendError, Credentials, EndRequest, GrantRequest, Presence, Sharing,
};
use crate::clock::Clock;
use crate::config::{self, Config, Role};
use crate::identity::Identity;
use crate::lease::{self, Approval, Ending, Lease, LeaseState, Verdict};
use crate::policy::{self, Decision};
use crate::store::LeaseFilter;
use crate::store::{self, Store, Tx};
use crate::ticket::{self, Standing};
use crate::{credential_cache, duration, entitlement, exit, fault, notify, shipping, text};
use anyhow::{Context as _, Result, anyhow};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A request not decided within this long is cancelled by the sweeper, unless its role sets
/// `approvals.timeout`.
pub const PENDING_TIMEOUT: Duration = config::ApprovalRule::DEFAULT_TIMEOUT;
/// An in-flight step whose worker cannot be seen alive for this long is taken over.
pub const STALE_AFTER: Duration = Duration::from_secs(300);
/// How often a waiting requester says it is still there.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// A waiter on another host counts as gone when silent this long.
const HEARTBEAT_STALE: Duration = Duration::from_secs(15);
/// How often `jit sweep --watch` asks the ticketing system about the tickets of live leases
/// whose role revokes when the ticket closes.
pub const TICKET_RECHECK: Duration = Duration::from_secs(60);
/// How long a grant waits for a revocation of the same entitlement to finish.
const WAIT_FOR_REVOKE: Duration = Duration::from_secs(30);
/// How long a step waits for another process's change to the end of the same shared
/// entitlement.
const WAIT_FOR_ENTITLEMENT: Duration = Duration::from_secs(60);

/// Delay before retry number `attempts` of a failed revocation: 30 s, doubling, at most 1 h.
pub fn retry_delay(attempts: u32) -> Duration {
    let secs = 30u64.saturating_mul(1u64 << attempts.saturating_sub(1).min(16));
    Duration::from_secs(secs.min(3600))
}

/// Whether, and how, a denial because of a ticket's status is recorded in the audit trail.
#[derive(Clone, Copy)]
enum Recorded<'l> {
    /// Not at all (a dry run).
    Not,
    /// As an event of no lease: the request was refused before a lease existed.
    Request,
    /// As an event of this lease.
    Lease(&'l str),
}

/// What an event should also say, key by key.
type Notes = serde_json::Map<String, Value>;

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 1000))
}

/// This process, as recorded on leases it is working on: `host:pid`.
#[derive(Clone, Debug)]
pub struct Worker {
    pub id: String,
    host: String,
}

impl Worker {
    pub fn this_process() -> Worker {
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".to_owned());
        Worker {
            id: format!("{host}:{}", std::process::id()),
            host,
        }
    }

    /// Can the worker `other`, last heard from at `seen`, be taken to be still at work?
    pub fn sees_alive(
        &self,
        other: &str,
        seen: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        patience: Duration,
    ) -> bool {
        if other == self.id {
            return true;
        }
        if let Some((host, pid)) = other.rsplit_once(':')
            && host == self.host
            && let Ok(pid) = pid.parse::<i32>()
        {
            use nix::errno::Errno;
            return !matches!(
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
                Err(Errno::ESRCH)
            );
        }
        seen.is_some_and(|seen| now - seen < delta(patience))
    }
}

/// What someone asks for.
#[derive(Clone, Debug, Default)]
pub struct RequestInput {
    pub role: String,
    pub ttl: Option<Duration>,
    pub ticket: Option<String>,
    pub reason: Option<String>,
    /// The subject's public key, for backends that certify one (ssh). Not a secret.
    pub public_key: Option<String>,
}

/// The policy decision for a request, before anything changes.
pub struct Evaluation<'c> {
    pub role: &'c Role,
    pub backend: &'static str,
    pub decision: Decision,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The ticket's status in the ticketing system, where the role checks it.
    pub ticket_status: Option<String>,
}

pub enum Requested {
    Granted {
        lease: Lease,
        credentials: Option<Credentials>,
        /// What the backend wants the requester to know about the grant.
        notice: Option<String>,
    },
    Pending {
        lease: Lease,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// The entitlement is gone (or, for a shared one, still held only for `kept_for`).
    Done { kept_for: Option<String> },
    /// The lease had already ended; nothing to do.
    AlreadyEnded,
    /// A pending request was withdrawn.
    Cancelled,
    /// Another live process is working on it right now.
    InFlight,
    /// Not due (the sweeper found it extended or already retried).
    NotDue,
    /// The backend failed; the lease is `revoke-failed` and will be retried.
    Failed { error: String },
}

pub struct Revocation {
    pub lease: Lease,
    pub outcome: RevokeOutcome,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RevokeMode {
    Manual,
    Sweep,
}

pub enum Decided {
    Denied {
        lease: Lease,
    },
    Approved {
        lease: Lease,
        remaining: u32,
    },
    /// The final approval granted the lease in this process, with the credentials the
    /// backend issued: they belong to the requester (`jit approve` withholds them; a team
    /// worker seals them to the requesting process).
    Granted {
        lease: Lease,
        credentials: Option<Credentials>,
    },
    /// The final approval handed the grant to the waiting requester.
    HandedOver {
        lease: Lease,
    },
}

#[derive(Default)]
pub struct SweepReport {
    pub revocations: Vec<Revocation>,
    pub cancelled: Vec<Lease>,
    /// Leases the pass could not handle, with why.
    pub errors: Vec<(String, String)>,
    /// `revoke-failed` leases whose next attempt is not due yet (filled in by
    /// [`Engine::waiting_revocations`] for a one-shot sweep).
    pub waiting: Vec<Lease>,
}

impl SweepReport {
    /// Revocations not achieved: those that failed in this pass and those still waiting
    /// for their retry.
    pub fn incomplete(&self) -> usize {
        self.revocations
            .iter()
            .filter(|r| matches!(r.outcome, RevokeOutcome::Failed { .. }))
            .count()
            + self.waiting.len()
    }
}

/// A role the caller may request, with its effective limits.
pub struct RoleView<'c> {
    pub role: &'c Role,
    pub backend: &'static str,
    pub max_ttl: Duration,
}

pub struct Engine<'a> {
    pub config: &'a Config,
    pub store: &'a dyn Store,
    pub clock: Clock,
    pub worker: Worker,
    /// Who is acting, for the audit trail.
    pub actor: String,
    /// One backend per target for the life of the engine (and the engines made from it by
    /// [`Engine::acting_as`]), so that connections are reused (a sweep of a thousand leases
    /// on one server opens one connection).
    backends: Rc<RefCell<BTreeMap<String, Rc<dyn Backend>>>>,
    /// Keep credentials the backend asks to cache in this process's keyring. Off in a team
    /// store's worker: the credentials are the requester's, sealed to them.
    pub keeps_credentials: bool,
    /// When this engine last asked the ticketing system about live leases.
    tickets_rechecked: Cell<Option<Instant>>,
}

impl<'a> Engine<'a> {
    pub fn new(config: &'a Config, store: &'a dyn Store, clock: Clock, actor: &str) -> Self {
        Engine {
            config,
            store,
            clock,
            worker: Worker::this_process(),
            actor: actor.to_owned(),
            backends: Rc::new(RefCell::new(BTreeMap::new())),
            keeps_credentials: true,
            tickets_rechecked: Cell::new(None),
        }
    }

    /// The same engine (configuration, store, connections) recording `actor` in the audit
    /// trail: a worker acts for the person whose request or approval it carries out.
    pub fn acting_as(&self, actor: &str) -> Engine<'a> {
        Engine {
            config: self.config,
            store: self.store,
            clock: self.clock,
            worker: self.worker.clone(),
            actor: actor.to_owned(),
            backends: Rc::clone(&self.backends),
            keeps_credentials: self.keeps_credentials,
            tickets_rechecked: Cell::new(self.tickets_rechecked.get()),
        }
    }

    fn event(&self, lease: &Lease, kind: EventKind, details: Value) -> NewEvent {
        NewEvent {
            at: self.clock.now(),
            actor: self.actor.clone(),
            lease_id: Some(lease.id.clone()),
            kind,
            details,
        }
    }

    /// End a request that never reached the target (cancelled, denied), with its event.
    fn close(
        &self,
        tx: &mut dyn Tx,
        lease: &mut Lease,
        state: LeaseState,
        kind: EventKind,
        details: Value,
        now: DateTime<Utc>,
    ) -> Result<()> {
        lease.become_(state)?;
        lease.ended_at = Some(now);
        lease.worker = None;
        lease.worker_at = None;
        tx.update(lease)?;
        tx.append(&self.event(lease, kind, details))?;
        Ok(())
    }

    /// Record a failed attempt to end a lease that is `revoking`: `revoke-failed`, retried
    /// with backoff, the reason on the lease and in the audit trail.
    fn revoke_failed(
        &self,
        tx: &mut dyn Tx,
        lease: &mut Lease,
        err: &BackendError,
        notes: &Notes,
        now: DateTime<Utc>,
    ) -> Result<RevokeOutcome> {
        lease.become_(LeaseState::RevokeFailed)?;
        lease.worker = None;
        lease.worker_at = None;
        lease.attempts += 1;
        let next = now + delta(retry_delay(lease.attempts));
        lease.next_attempt_at = Some(next);
        lease.last_error = Some(err.message.clone());
        tx.update(lease)?;
        let mut details = json!({
            "error": err.message,
            "retryable": err.retryable(),
            "attempt": lease.attempts,
            "next_attempt_at": next,
        });
        for (key, value) in notes {
            details[key] = value.clone();
        }
        tx.append(&self.event(lease, EventKind::RevokeFailed, details))?;
        Ok(RevokeOutcome::Failed {
            error: err.message.clone(),
        })
    }

    pub fn role(&self, name: &str) -> Result<&'a Role> {
        text::check_format("the role name", name).map_err(exit::usage)?;
        if !config::is_valid_name(name) {
            return Err(exit::usage(format!(
                "{} is not a role name",
                text::quoted(name)
            )));
        }
        self.config.roles.get(name).ok_or_else(|| {
            exit::usage(format!(
                "unknown role {name:?}; `jit roles` lists the roles you may request"
            ))
        })
    }

    pub fn backend_for(&self, target: &str) -> Result<Rc<dyn Backend>> {
        if let Some(backend) = self.backends.borrow().get(target) {
            return Ok(Rc::clone(backend));
        }
        let settings = self.config.targets.get(target).ok_or_else(|| {
            exit::config(format!(
                "target {target:?} is no longer in the configuration"
            ))
        })?;
        let backend: Rc<dyn Backend> = Rc::from(backend::for_target(settings));
        self.backends
            .borrow_mut()
            .insert(target.to_owned(), Rc::clone(&backend));
        Ok(backend)
    }

    /// Tell the `[[notify]]` webhooks about the events this process has committed since the
    /// last call ([`Engine::announce`]), and if there were any, forward the audit trail to the
    /// `[[audit.ship]]` destinations (on the side: once, and not while paused after a
    /// failure). Neither can fail the change; a webhook's failure is recorded as
    /// `notify-failed`, a destination's in its checkpoint.
    pub fn publish(&self) {
        if !self.announce() {
            return;
        }
        let _ = shipping::ship(
            &self.config.ship,
            self.store,
            self.clock,
            shipping::Mode::Alongside,
        );
    }

    /// Tell the `[[notify]]` webhooks about the events this process has committed since the
    /// last call; whether there were any.
    pub fn announce(&self) -> bool {
        let events = self.store.take_committed();
        if events.is_empty() {
            return false;
        }
        notify::announce(
            &self.config.notify,
            self.store,
            self.clock,
            &self.actor,
            &events,
        );
        true
    }

    /// Look a lease up by id; an unknown or malformed id is a usage error.
    pub fn lease(&self, id: &str) -> Result<Lease> {
        let found = if lease::is_valid_id(id) {
            self.store.lease(id)?
        } else {
            None
        };
        found.ok_or_else(|| exit::usage(format!("no lease {}", text::quoted(id))))
    }

    /// For a request left waiting for approval: the credentials a grant of its role issues
    /// are shown only to a request that waits (`--wait`), so this one's never will be.
    /// `None` when the role issues none.
    pub fn unshown_credentials(&self, lease: &Lease) -> Option<String> {
        let role = self.config.roles.get(&lease.role)?;
        let issues = match self
            .backend_for(&role.target)
            .ok()?
            .issues_credentials(&role.grant)
        {
            Some(false) => return None,
            Some(true) => "issues credentials",
            None => "may issue credentials (its target decides)",
        };
        Some(format!(
            "role {} {issues}, and credentials are shown only to a request that waits for its approval: this request's will never be shown; to receive them, withdraw it (`jit revoke {}`) and request again with --wait",
            role.name, lease.id
        ))
    }

    /// Check policy for a request, changing nothing.
    pub fn evaluate(&self, who: &Identity, input: &RequestInput) -> Result<Evaluation<'a>> {
        self.evaluate_and(who, input, Recorded::Not)
    }

    /// [`Engine::evaluate`], recording a denial because of the ticket's status as `record`
    /// says.
    fn evaluate_and(
        &self,
        who: &Identity,
        input: &RequestInput,
        record: Recorded<'_>,
    ) -> Result<Evaluation<'a>> {
        let role = self.role(&input.role)?;
        if let Some(reason) = &input.reason {
            policy::check_reason(reason).map_err(exit::usage)?;
        }
        if let Some(ticket) = &input.ticket {
            text::check_format("the ticket", ticket).map_err(exit::usage)?;
        }
        let backend = self.backend_for(&role.target)?;
        let decision = policy::evaluate(
            self.config,
            who,
            role,
            input.ttl,
            input.ticket.as_deref(),
            backend.limits(&role.grant),
        )
        .map_err(|denial| exit::denied(denial.0))?;
        policy::check_break_glass(role, input.reason.as_deref())
            .map_err(|denial| exit::denied(denial.0))?;
        let ticket_status = self.ticket_status(&who.user, role, input.ticket.as_deref(), record)?;
        let starts_at = self.clock.now();
        let ends_at = starts_at + delta(decision.ttl);
        Ok(Evaluation {
            role,
            backend: backend.kind(),
            decision,
            starts_at,
            ends_at,
            ticket_status,
        })
    }

    /// Ask the ticketing system about the ticket, where the role says so: its status when it
    /// allows access; a denial (exit 3) when it does not; a runtime error (exit 1) when the
    /// ticketing system cannot be asked, so that nothing is granted on a ticket nobody read.
    fn ticket_status(
        &self,
        subject: &str,
        role: &Role,
        ticket: Option<&str>,
        record: Recorded<'_>,
    ) -> Result<Option<String>> {
        let (Some(check), Some(ticket)) = (&role.ticket.check, ticket) else {
            return Ok(None);
        };
        let standing = ticket::Checker::new(check)
            .standing(ticket)
            .map_err(|err| anyhow!(err))?;
        let Some(denial) = standing.denial(ticket, check) else {
            return Ok(standing.status().map(str::to_owned));
        };
        if let Recorded::Request | Recorded::Lease(_) = record {
            let event = NewEvent {
                at: self.clock.now(),
                actor: self.actor.clone(),
                lease_id: match record {
                    Recorded::Lease(id) => Some(id.to_owned()),
                    _ => None,
                },
                kind: EventKind::Denied,
                details: json!({
                    "role": role.name,
                    "subject": subject,
                    "ticket": ticket,
                    "ticket_status": standing.status(),
                    "reason": denial,
                }),
            };
            store::write(self.store, |tx| tx.append(&event).map(drop))?;
        }
        Err(exit::denied(denial))
    }

    /// Evaluate, record, and grant now (or leave pending for approval).
    pub fn request(
        &self,
        who: &Identity,
        input: &RequestInput,
        wait: Option<Duration>,
    ) -> Result<Requested> {
        let evaluation = self.evaluate_and(who, input, Recorded::Request)?;
        let role = evaluation.role;
        let backend = self.backend_for(&role.target)?;
        let now = evaluation.starts_at;
        let pending = evaluation.decision.approvals_required > 0;
        let claims_grant = !pending || wait.is_some();
        let mut lease = Lease {
            id: lease::new_id(),
            role: role.name.clone(),
            target: role.target.clone(),
            backend: backend.kind().to_owned(),
            subject: who.user.clone(),
            requester: who.user.clone(),
            state: if pending {
                LeaseState::Pending
            } else {
                LeaseState::Granting
            },
            ticket: input.ticket.clone(),
            reason: input.reason.clone(),
            created_at: now,
            granted_at: None,
            expires_at: None,
            ended_at: None,
            approvals: Vec::new(),
            break_glass: role.break_glass,
            last_error: None,
            ttl_secs: i64::try_from(evaluation.decision.ttl.as_secs()).unwrap_or(i64::MAX),
            approvals_required: evaluation.decision.approvals_required,
            handle: Value::Null,
            params: match &input.public_key {
                Some(key) => {
                    let mut params = role.grant.clone();
                    params["public_key"] = json!(key);
                    params
                }
                None => role.grant.clone(),
            },
            ending: None,
            worker: claims_grant.then(|| self.worker.id.clone()),
            worker_at: claims_grant.then_some(now),
            attempts: 0,
            next_attempt_at: None,
        };
        // A lease whose entitlement is its own alone (no other lease to wait for or to cover)
        // gets its window now, so that the grant needs no second transaction to claim it.
        let fresh_window = (!pending && backend.sharing_for(&lease.params) == Sharing::PerLease)
            .then(|| now + TimeDelta::seconds(lease.ttl_secs));
        if let Some(end) = fresh_window {
            lease.granted_at = Some(now);
            lease.expires_at = Some(end);
        }
        lease.handle = backend.plan(&lease, &lease.params);
        let mut details = json!({
            "role": lease.role,
            "target": lease.target,
            "backend": lease.backend,
            "ttl": duration::format(evaluation.decision.ttl),
            "ttl_source": evaluation.decision.ttl_source,
            "caps": evaluation.decision.caps,
            "ticket": lease.ticket,
            "reason": lease.reason,
            "approvals_required": lease.approvals_required,
        });
        if let Some(status) = &evaluation.ticket_status {
            details["ticket_status"] = json!(status);
        }
        if lease.break_glass {
            details["break_glass"] = json!(true);
        }
        store::write(self.store, |tx| {
            tx.insert(&lease)?;
            tx.append(&self.event(&lease, EventKind::Requested, details))?;
            Ok(())
        })?;
        if pending {
            // The approvers hear of it now, not when the wait ends.
            self.publish();
            return match wait {
                Some(timeout) => self.await_approval(&lease.id, timeout),
                None => Ok(Requested::Pending { lease }),
            };
        }
        fault::point("before-grant");
        let (lease, credentials, notice) = match fresh_window {
            // An entitlement of its own, claimed and windowed at creation: straight on.
            Some(end) => self.finish_grant(lease, backend, end, false)?,
            None => self.grant(&lease.id)?,
        };
        let notice = self.delivered(&lease, credentials.as_ref(), notice);
        Ok(Requested::Granted {
            lease,
            credentials,
            notice,
        })
    }

    /// Credentials have reached the requester's own process: keep them in the requester's
    /// keyring for the rest of the lease where the backend asks (AWS `credential_process`).
    /// A failure to keep them is said, not fatal: they have been handed over.
    fn delivered(
        &self,
        lease: &Lease,
        credentials: Option<&Credentials>,
        notice: Option<String>,
    ) -> Option<String> {
        let (Some(credentials), Some(end), true) =
            (credentials, lease.expires_at, self.keeps_credentials)
        else {
            return notice;
        };
        let caches = self
            .backend_for(&lease.target)
            .is_ok_and(|b| b.caches_credentials(&lease.params));
        if !caches {
            return notice;
        }
        let seconds = (end - self.clock.now()).num_seconds();
        match credential_cache::store(&lease.id, credentials, seconds) {
            Ok(()) => notice,
            Err(err) => {
                let failed =
                    format!("the credentials were not kept for `jit credential-process`: {err:#}");
                Some(match notice {
                    Some(notice) => format!("{notice}\n{failed}"),
                    None => failed,
                })
            }
        }
    }

    /// The grant step, for a lease in `granting` claimed by this process. Any process may
    /// run it: everything it needs is in the store.
    pub fn grant(&self, id: &str) -> Result<(Lease, Option<Credentials>, Option<String>)> {
        // A shared entitlement's lock is taken first and held to the grant's record: its
        // end is read from the store and set on the target while no other change to it can
        // run, so that grants at the same time reach the target one after another, each
        // with an end that counts the others' windows. (Taken before the claim, it also
        // keeps the claims that lock several of its leases' rows in a team store from
        // running at the same time, and so from deadlocking.)
        let pre = self
            .store
            .lease(id)?
            .with_context(|| format!("lease {id} vanished"))?;
        let held = match self.backend_for(&pre.target) {
            Ok(backend) => match self.hold(&pre, backend.as_ref(), WAIT_FOR_ENTITLEMENT) {
                Ok(held) => held,
                Err(err) if pre.worker.as_deref() == Some(self.worker.id.as_str()) => {
                    let refused = BackendError::refused(format!("{err:#}"));
                    return Err(self.grant_failed(pre, backend.as_ref(), &refused));
                }
                Err(err) => return Err(err),
            },
            Err(_) => None,
        };
        let started = Instant::now();
        let (lease, backend, own_end) = loop {
            let now = self.clock.now();
            // Only the `granting` record written before this step must survive a power loss;
            // if what follows is lost, the lease is `granting` again and the sweeper
            // reconciles it: no wait for the disk here.
            let claimed = store::write_relaxed(self.store, |tx| {
                let mut lease = tx
                    .lease(id)?
                    .with_context(|| format!("lease {id} vanished"))?;
                anyhow::ensure!(
                    lease.state == LeaseState::Granting
                        && lease.worker.as_deref() == Some(self.worker.id.as_str()),
                    "lease {id} is {} and not being granted by this process",
                    lease.state
                );
                let backend = self.backend_for(&lease.target)?;
                let own_end = now + TimeDelta::seconds(lease.ttl_secs);
                let revoking = match backend.sharing_for(&lease.params) {
                    Sharing::PerSubject => {
                        tx.holding(&lease.role, &lease.subject)?
                            .iter()
                            .any(|other| {
                                other.id != lease.id
                                    && other.state == LeaseState::Revoking
                                    && other.worker.as_deref().is_some_and(|w| {
                                        self.worker.sees_alive(w, other.worker_at, now, STALE_AFTER)
                                    })
                            })
                    }
                    Sharing::PerLease => false,
                };
                // The window is fixed here, before the backend call, so that the lease
                // and the target agree on the end to the second; from now on it counts
                // in the end of a shared entitlement.
                lease.granted_at = Some(now);
                lease.expires_at = Some(own_end);
                lease.worker_at = Some(now);
                tx.update(&lease)?;
                Ok((lease, backend, own_end, revoking))
            })?;
            let (lease, backend, own_end, revoking) = claimed;
            if !revoking || started.elapsed() > WAIT_FOR_REVOKE {
                break (lease, backend, own_end);
            }
            // Another process is taking this shared entitlement away; let it finish first.
            std::thread::sleep(Duration::from_millis(100));
        };

        let others = self.holders(&lease, backend.as_ref())?;
        // Another lease that got as far as holding it means what the target has is jit's to
        // renew (one still granting, or abandoned while granting, does not).
        let renewal = others
            .iter()
            .any(|other| other.state != LeaseState::Granting);
        let entitlement_end = entitlement::end(&others).map_or(own_end, |end| end.max(own_end));
        let granted = self.finish_grant(lease, backend, entitlement_end, renewal);
        drop(held);
        granted
    }

    /// For a shared entitlement, its lock: the changes to its end on the target happen one
    /// at a time, each computed from the store while the lock is held and recorded before
    /// it is let go. `None` for an entitlement of the lease's own.
    fn hold(
        &self,
        lease: &Lease,
        backend: &dyn Backend,
        patience: Duration,
    ) -> Result<Option<store::Guard>> {
        if backend.sharing_for(&lease.params) == Sharing::PerLease {
            return Ok(None);
        }
        let lock = store::Lock::Entitlement {
            role: &lease.role,
            subject: &lease.subject,
        };
        match self.store.lock(lock, patience)? {
            Some(guard) => Ok(Some(guard)),
            None => Err(anyhow!(
                "another jit process has been changing the entitlement of role {:?} for {} for {}s; try again",
                lease.role,
                lease.subject,
                patience.as_secs()
            )),
        }
    }

    /// The rest of the grant step, for a lease this process has claimed (window fixed).
    fn finish_grant(
        &self,
        lease: Lease,
        backend: Rc<dyn Backend>,
        entitlement_end: DateTime<Utc>,
        renewal: bool,
    ) -> Result<(Lease, Option<Credentials>, Option<String>)> {
        let id = lease.id.clone();
        let id = id.as_str();
        // What the backend must record before it goes on (the program it started, say),
        // while this process still holds the grant.
        let checkpoint = |handle: &Value| -> Result<(), BackendError> {
            store::write_relaxed(self.store, |tx| {
                let mut current = tx
                    .lease(id)?
                    .with_context(|| format!("lease {id} vanished"))?;
                anyhow::ensure!(
                    current.state == LeaseState::Granting
                        && current.worker.as_deref() == Some(self.worker.id.as_str()),
                    "lease {id} is {} and not being granted by this process",
                    current.state
                );
                current.handle = handle.clone();
                tx.update(&current)
            })
            .map_err(|err| BackendError::transient(format!("{err:#}")))
        };
        let outcome = backend.grant(&GrantRequest {
            target: &lease.target,
            lease: &lease,
            params: &lease.params,
            expires_at: entitlement_end,
            renewal,
            checkpoint: Some(&checkpoint),
        });
        fault::point("after-grant");
        let grant = match outcome {
            Ok(grant) => grant,
            Err(err) => return Err(self.grant_failed(lease, backend.as_ref(), &err)),
        };

        let recorded = store::write_relaxed(self.store, |tx| {
            let mut current = tx
                .lease(id)?
                .with_context(|| format!("lease {id} vanished"))?;
            if current.state != LeaseState::Granting {
                return Ok(None);
            }
            current.become_(LeaseState::Active)?;
            current.handle = grant.handle.clone();
            current.granted_at = lease.granted_at;
            current.expires_at = lease.expires_at;
            current.worker = None;
            current.worker_at = None;
            tx.update(&current)?;
            let mut details = json!({
                "expires_at": current.expires_at,
                "target_expires_at": entitlement_end,
                "native_expiry": grant.native_expiry,
                "credentials_issued": grant.credentials.is_some(),
            });
            if current.break_glass {
                details["break_glass"] = json!(true);
            }
            tx.append(&self.event(&current, EventKind::Granted, details))?;
            Ok(Some(current))
        })?;
        match recorded {
            Some(lease) => Ok((lease, grant.credentials, grant.notice)),
            None => {
                // The lease was reconciled away while the grant ran: take the grant back.
                let revoked = backend.revoke(&EndRequest {
                    target: &lease.target,
                    lease: &lease,
                    params: &lease.params,
                });
                Err(anyhow!(
                    "lease {id} was ended while it was being granted; the grant was {}",
                    if revoked.is_ok() {
                        "taken back"
                    } else {
                        "left for `jit sweep` to remove"
                    }
                ))
            }
        }
    }

    /// Record a failed grant, making sure nothing stays held.
    fn grant_failed(
        &self,
        lease: Lease,
        backend: &dyn Backend,
        failure: &BackendError,
    ) -> anyhow::Error {
        let error = failure.message.as_str();
        let covered = self
            .covering(&lease, backend)
            .map(|c| !c.is_empty())
            .unwrap_or(false);
        // A refusal changed nothing on the target, and nothing reached a target that could
        // not be reached; anything else may have left a part behind.
        let cleanup = if covered || failure.nothing_changed() {
            Ok(())
        } else {
            backend.revoke(&EndRequest {
                target: &lease.target,
                lease: &lease,
                params: &lease.params,
            })
        };
        let now = self.clock.now();
        let recorded = store::write_relaxed(self.store, |tx| {
            let mut current = tx
                .lease(&lease.id)?
                .with_context(|| format!("lease {} vanished", lease.id))?;
            if current.state != LeaseState::Granting {
                return Ok(());
            }
            current.worker = None;
            current.worker_at = None;
            current.last_error = Some(error.to_owned());
            // The backend's call has ended (and with it any program it started): the plan
            // made before it is the handle again.
            current.handle = lease.handle.clone();
            let details = match &cleanup {
                Ok(()) => {
                    current.become_(LeaseState::Failed)?;
                    current.ended_at = Some(now);
                    json!({ "error": error })
                }
                Err(cleanup_error) => {
                    current.become_(LeaseState::RevokeFailed)?;
                    current.ending = Some(Ending::Failed);
                    current.attempts = 1;
                    current.next_attempt_at = Some(now + delta(retry_delay(1)));
                    json!({ "error": error, "cleanup_error": cleanup_error.message })
                }
            };
            tx.update(&current)?;
            tx.append(&self.event(&current, EventKind::GrantFailed, details))?;
            Ok(())
        });
        match recorded {
            Ok(()) => anyhow!(
                "granting role {:?} on target {:?} failed: {error}",
                lease.role,
                lease.target
            ),
            Err(err) => err.context(format!(
                "granting failed ({error}), and recording that failed too"
            )),
        }
    }

    /// Live leases that hold the same shared entitlement as `lease`.
    fn covering(&self, lease: &Lease, backend: &dyn Backend) -> Result<Vec<Lease>> {
        let mut others = self.holders(lease, backend)?;
        others.retain(|other| matches!(other.state, LeaseState::Active | LeaseState::Granting));
        Ok(others)
    }

    /// The other leases that may hold the same shared entitlement as `lease` now (none for
    /// an entitlement of its own).
    fn holders(&self, lease: &Lease, backend: &dyn Backend) -> Result<Vec<Lease>> {
        if backend.sharing_for(&lease.params) == Sharing::PerLease {
            return Ok(Vec::new());
        }
        store::write(self.store, |tx| {
            let mut others = tx.holding(&lease.role, &lease.subject)?;
            others.retain(|other| other.id != lease.id);
            Ok(others)
        })
    }

    /// May `who` end this lease? Its requester and subject may, and so may anyone who may
    /// approve its role.
    pub fn may_end(&self, who: &Identity, lease: &Lease) -> Result<()> {
        if who.user == lease.requester || who.user == lease.subject {
            return Ok(());
        }
        let approver = self
            .config
            .roles
            .get(&lease.role)
            .is_some_and(|role| role.approvals.from.iter().any(|s| who.matches(s)));
        if approver {
            return Ok(());
        }
        Err(exit::denied(format!(
            "{} may not revoke lease {} of {} (only its holder or an approver of role {:?} may)",
            who.user, lease.id, lease.subject, lease.role
        )))
    }

    /// Revoke a lease now (`jit revoke`). Idempotent.
    pub fn revoke(&self, id: &str) -> Result<Revocation> {
        let lease = self.lease(id)?;
        self.end(&lease.id, Ending::Revoked, RevokeMode::Manual, Notes::new())
    }

    /// End a lease; `notes` go into the event of the outcome (why it was ended, say).
    fn end(&self, id: &str, ending: Ending, mode: RevokeMode, notes: Notes) -> Result<Revocation> {
        enum Claim {
            Settled(Lease, RevokeOutcome),
            Revoke(Lease, Vec<Lease>, Rc<dyn Backend>),
        }
        // A shared entitlement's lock is taken first and held to the outcome's record: the
        // leases that still cover it are read, and its end changed on the target, while no
        // other change to it can run.
        // The sweeper does not wait for it: a live process changing this entitlement right now
        // makes the lease in flight for this pass, as a lease that process is granting is.
        let _held = match self.store.lease(id)? {
            Some(lease) if !lease.state.is_final() && lease.state != LeaseState::Pending => {
                match self.backend_for(&lease.target) {
                    Ok(backend) if mode == RevokeMode::Sweep => {
                        match self.hold(&lease, backend.as_ref(), Duration::ZERO) {
                            Ok(held) => held,
                            Err(_) => {
                                return Ok(Revocation {
                                    lease,
                                    outcome: RevokeOutcome::InFlight,
                                });
                            }
                        }
                    }
                    Ok(backend) => self.hold(&lease, backend.as_ref(), WAIT_FOR_ENTITLEMENT)?,
                    Err(_) => None,
                }
            }
            _ => None,
        };
        let now = self.clock.now();
        // Revocation bookkeeping can be derived again after a power loss (the lease would
        // look live and be revoked again): it does not wait for the disk.
        let claim = store::write_relaxed(self.store, |tx| {
            let mut lease = tx
                .lease(id)?
                .ok_or_else(|| exit::usage(format!("no lease {}", text::quoted(id))))?;
            if lease.state.is_final() {
                return Ok(Claim::Settled(lease, RevokeOutcome::AlreadyEnded));
            }
            if lease.state == LeaseState::Pending {
                let details = json!({ "reason": "withdrawn" });
                self.close(
                    tx,
                    &mut lease,
                    LeaseState::Cancelled,
                    EventKind::Cancelled,
                    details,
                    now,
                )?;
                return Ok(Claim::Settled(lease, RevokeOutcome::Cancelled));
            }
            let in_flight = matches!(lease.state, LeaseState::Granting | LeaseState::Revoking)
                && lease.worker.as_deref().is_some_and(|w| {
                    w != self.worker.id
                        && self.worker.sees_alive(w, lease.worker_at, now, STALE_AFTER)
                });
            if in_flight && (mode == RevokeMode::Sweep || lease.state == LeaseState::Granting) {
                return Ok(Claim::Settled(lease, RevokeOutcome::InFlight));
            }
            if mode == RevokeMode::Sweep {
                let not_due = match lease.state {
                    LeaseState::Active => lease.expires_at.is_some_and(|end| end > now),
                    LeaseState::RevokeFailed => {
                        lease.next_attempt_at.is_some_and(|next| next > now)
                    }
                    _ => false,
                };
                if not_due {
                    return Ok(Claim::Settled(lease, RevokeOutcome::NotDue));
                }
            }
            let ending = match lease.state {
                LeaseState::Granting => Ending::Failed,
                _ => lease.ending.unwrap_or(ending),
            };
            if lease.state != LeaseState::Revoking {
                lease.become_(LeaseState::Revoking)?;
            }
            lease.ending = Some(ending);
            let backend = match self.backend_for(&lease.target) {
                Ok(backend) => backend,
                Err(err) => {
                    // Its target left the configuration (say): a failed attempt like any
                    // other, with the reason recorded and the same backoff, so that
                    // `sweep --watch` does not try again at once, forever.
                    let failure = BackendError::permanent(format!("{err:#}"));
                    let outcome =
                        self.revoke_failed(tx, &mut lease, &failure, &Notes::new(), now)?;
                    return Ok(Claim::Settled(lease, outcome));
                }
            };
            lease.worker = Some(self.worker.id.clone());
            lease.worker_at = Some(now);
            tx.update(&lease)?;
            let cover: Vec<Lease> = match backend.sharing_for(&lease.params) {
                Sharing::PerSubject => tx
                    .holding(&lease.role, &lease.subject)?
                    .into_iter()
                    .filter(|other| {
                        other.id != lease.id
                            && matches!(other.state, LeaseState::Active | LeaseState::Granting)
                    })
                    .collect(),
                Sharing::PerLease => Vec::new(),
            };
            Ok(Claim::Revoke(lease, cover, backend))
        })?;
        let (lease, cover, backend) = match claim {
            Claim::Settled(lease, outcome) => return Ok(Revocation { lease, outcome }),
            Claim::Revoke(lease, cover, backend) => (lease, cover, backend),
        };

        // What the event of the outcome should also say.
        let mut notes = notes;
        let request = EndRequest {
            target: &lease.target,
            lease: &lease,
            params: &lease.params,
        };
        let result = match cover.first() {
            Some(keeper) => {
                // Still covered: leave the entitlement, but bring its end back to the
                // latest end among the leases that remain.
                if let Some(end) = entitlement::end(&cover) {
                    let shrunk = backend.extend(&GrantRequest {
                        target: &keeper.target,
                        lease: keeper,
                        params: &keeper.params,
                        expires_at: end,
                        renewal: true,
                        checkpoint: None,
                    });
                    if let Err(err) = shrunk {
                        notes.insert("shrink_error".into(), json!(err.message));
                    }
                }
                Ok(Some(keeper.id.clone()))
            }
            None => {
                // A grant that was interrupted or failed may never have reached the
                // target: ask it first, and revoke what is there (or when it cannot say).
                let present = match lease.ending {
                    Some(Ending::Failed) => match backend.inspect(&request) {
                        Ok(Presence::Absent) => {
                            notes.insert("found".into(), json!("absent"));
                            false
                        }
                        Ok(Presence::Present) => {
                            notes.insert("found".into(), json!("present"));
                            true
                        }
                        Err(_) => true,
                    },
                    _ => true,
                };
                if present {
                    backend.revoke(&request).map(|()| None)
                } else {
                    Ok(None)
                }
            }
        };
        // Nothing more is served from the cache, whatever the outcome.
        if backend.caches_credentials(&lease.params) {
            credential_cache::forget(id);
        }
        fault::point("after-revoke");

        let now = self.clock.now();
        store::write_relaxed(self.store, |tx| {
            let mut current = tx
                .lease(id)?
                .with_context(|| format!("lease {id} vanished"))?;
            if current.state != LeaseState::Revoking {
                return Ok(Revocation {
                    lease: current,
                    outcome: RevokeOutcome::AlreadyEnded,
                });
            }
            let ending = current.ending.unwrap_or(Ending::Revoked);
            current.worker = None;
            current.worker_at = None;
            let outcome = match &result {
                Ok(kept_for) => {
                    current.become_(ending.state())?;
                    current.ended_at = Some(now);
                    current.next_attempt_at = None;
                    let kind = match ending {
                        Ending::Revoked => EventKind::Revoked,
                        Ending::Expired => EventKind::Expired,
                        Ending::Failed => EventKind::Reconciled,
                    };
                    let mut details = json!({ "attempts": current.attempts + 1 });
                    if let Some(keeper) = kept_for {
                        details["entitlement_kept_for"] = json!(keeper);
                    }
                    if let Some(error) = current.last_error.take() {
                        details["after_error"] = json!(error);
                    }
                    for (key, value) in &notes {
                        details[key] = value.clone();
                    }
                    tx.update(&current)?;
                    tx.append(&self.event(&current, kind, details))?;
                    RevokeOutcome::Done {
                        kept_for: kept_for.clone(),
                    }
                }
                Err(err) => self.revoke_failed(tx, &mut current, err, &notes, now)?,
            };
            Ok(Revocation {
                lease: current,
                outcome,
            })
        })
    }

    /// Move an active lease's end to now + `ttl`, within policy; the target's own expiry
    /// moves with it.
    pub fn extend(&self, id: &str, who: &Identity, ttl: Duration) -> Result<Lease> {
        let lease = self.lease(id)?;
        if who.user != lease.requester && who.user != lease.subject {
            return Err(exit::denied(format!(
                "{} may not extend a lease of {}",
                who.user, lease.subject
            )));
        }
        if lease.state != LeaseState::Active {
            return Err(exit::usage(format!(
                "lease {id} is {}; only an active lease can be extended",
                lease.state
            )));
        }
        let input = RequestInput {
            role: lease.role.clone(),
            ttl: Some(ttl),
            ticket: lease.ticket.clone(),
            reason: lease.reason.clone(),
            public_key: None,
        };
        let evaluation = self.evaluate_and(who, &input, Recorded::Lease(&lease.id))?;
        let backend = self.backend_for(&lease.target)?;
        let new_end = evaluation.ends_at;
        // The new end is set on the target and recorded with a shared entitlement's lock
        // held, so that no grant or revocation of it at the same time sets an end that
        // misses this one.
        let _held = self.hold(&lease, backend.as_ref(), WAIT_FOR_ENTITLEMENT)?;
        let lease = self.lease(id)?;
        if lease.state != LeaseState::Active {
            return Err(exit::usage(format!(
                "lease {id} is {}; only an active lease can be extended",
                lease.state
            )));
        }
        let others = self.covering(&lease, backend.as_ref())?;
        let entitlement_end = entitlement::end(&others).map_or(new_end, |end| end.max(new_end));
        backend
            .extend(&GrantRequest {
                target: &lease.target,
                lease: &lease,
                params: &lease.params,
                expires_at: entitlement_end,
                renewal: true,
                checkpoint: None,
            })
            .map_err(|err| {
                anyhow!(
                    "moving the end on target {:?} failed: {}",
                    lease.target,
                    err.message
                )
            })?;
        store::write(self.store, |tx| {
            let mut current = tx
                .lease(id)?
                .with_context(|| format!("lease {id} vanished"))?;
            anyhow::ensure!(
                current.state == LeaseState::Active,
                "lease {id} became {} meanwhile",
                current.state
            );
            let from = current.expires_at;
            current.expires_at = Some(new_end);
            if backend.caches_credentials(&current.params) {
                credential_cache::retime(id, (new_end - self.clock.now()).num_seconds());
            }
            current.ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
            tx.update(&current)?;
            tx.append(&self.event(
                &current,
                EventKind::Extended,
                json!({ "from": from, "to": new_end, "ttl": duration::format(ttl), "caps": evaluation.decision.caps }),
            ))?;
            Ok(current)
        })
    }

    /// Approve or deny a pending request.
    pub fn decide(
        &self,
        id: &str,
        who: &Identity,
        verdict: Verdict,
        reason: Option<&str>,
    ) -> Result<Decided> {
        if let Some(reason) = reason {
            policy::check_reason(reason).map_err(exit::usage)?;
        }
        let lease = self.lease(id)?;
        // An approval is given on the ticket as it is now, not as it was when requested; by
        // someone who may approve (checked first, so that nobody else can have a ticket read
        // and a denial recorded on the lease).
        if verdict == Verdict::Approve
            && lease.state == LeaseState::Pending
            && let Some(role) = self.config.roles.get(&lease.role)
        {
            policy::check_approver(role, who, &lease.requester, &lease.subject)
                .map_err(|d| exit::denied(d.0))?;
            self.ticket_status(
                &lease.subject,
                role,
                lease.ticket.as_deref(),
                Recorded::Lease(&lease.id),
            )
            .map_err(|err| err.context(format!("lease {id} cannot be approved")))?;
        }
        let now = self.clock.now();
        let decided = store::write(self.store, |tx| {
            let mut lease = tx
                .lease(&lease.id)?
                .with_context(|| format!("lease {id} vanished"))?;
            if lease.state != LeaseState::Pending {
                return Err(exit::usage(format!(
                    "lease {id} is {}, not pending",
                    lease.state
                )));
            }
            let role = self.role(&lease.role)?;
            policy::check_approver(role, who, &lease.requester, &lease.subject)
                .map_err(|d| exit::denied(d.0))?;
            if lease.approvals.iter().any(|a| a.by == who.user) {
                return Err(exit::usage(format!(
                    "{} has already decided lease {id}",
                    who.user
                )));
            }
            let approval = Approval {
                by: who.user.clone(),
                at: now,
                decision: verdict,
                reason: reason.map(str::to_owned),
            };
            tx.add_approval(&lease.id, &approval)?;
            lease.approvals.push(approval);
            if verdict == Verdict::Deny {
                let details = json!({ "by": who.user, "reason": reason });
                self.close(
                    tx,
                    &mut lease,
                    LeaseState::Denied,
                    EventKind::Denied,
                    details,
                    now,
                )?;
                return Ok(Decided::Denied { lease });
            }
            let given = u32::try_from(lease.approvals_given()).unwrap_or(u32::MAX);
            let required = lease.approvals_required;
            let details = json!({ "by": who.user, "reason": reason, "approvals": given, "required": required });
            if given < required {
                tx.update(&lease)?;
                tx.append(&self.event(&lease, EventKind::Approved, details))?;
                return Ok(Decided::Approved {
                    lease,
                    remaining: required - given,
                });
            }
            lease.become_(LeaseState::Granting)?;
            let waiter = lease.worker.as_deref().is_some_and(|w| {
                self.worker
                    .sees_alive(w, lease.worker_at, now, HEARTBEAT_STALE)
            });
            if !waiter {
                lease.worker = Some(self.worker.id.clone());
                lease.worker_at = Some(now);
            }
            tx.update(&lease)?;
            tx.append(&self.event(&lease, EventKind::Approved, details))?;
            Ok(if waiter {
                Decided::HandedOver { lease }
            } else {
                Decided::Granted {
                    lease,
                    credentials: None,
                }
            })
        })?;
        match decided {
            Decided::Granted { lease, .. } => {
                let (lease, credentials, _) = self.grant(&lease.id)?;
                Ok(Decided::Granted { lease, credentials })
            }
            other => Ok(other),
        }
    }

    /// Wait for a pending request to be decided, then grant it in this process.
    pub fn await_approval(&self, id: &str, timeout: Duration) -> Result<Requested> {
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.clock.now();
            let timed_out = Instant::now() >= deadline;
            let lease = store::write(self.store, |tx| {
                let mut lease = tx
                    .lease(id)?
                    .with_context(|| format!("lease {id} vanished"))?;
                if lease.state == LeaseState::Pending
                    && lease.worker.as_deref() == Some(self.worker.id.as_str())
                {
                    if timed_out {
                        lease.worker = None;
                        lease.worker_at = None;
                    } else {
                        lease.worker_at = Some(now);
                    }
                    tx.update(&lease)?;
                }
                Ok(lease)
            })?;
            match lease.state {
                LeaseState::Pending if timed_out => return Ok(Requested::Pending { lease }),
                LeaseState::Pending => {}
                LeaseState::Granting
                    if lease.worker.as_deref() == Some(self.worker.id.as_str()) =>
                {
                    let (lease, credentials, notice) = self.grant(id)?;
                    let notice = self.delivered(&lease, credentials.as_ref(), notice);
                    return Ok(Requested::Granted {
                        lease,
                        credentials,
                        notice,
                    });
                }
                LeaseState::Granting | LeaseState::Active => {
                    return Ok(Requested::Granted {
                        lease,
                        credentials: None,
                        notice: None,
                    });
                }
                LeaseState::Denied => return Err(exit::denied(lease.denial())),
                LeaseState::Cancelled => {
                    return Err(exit::denied(cancellation(self.store, &lease)?));
                }
                other => return Err(exit::denied(format!("request {id} is {other}"))),
            }
            std::thread::sleep(HEARTBEAT.min(deadline.saturating_duration_since(Instant::now())));
        }
    }

    /// One pass of the reaper: end leases past their end, retry failed revocations,
    /// reconcile interrupted grants and revocations, cancel requests pending too long.
    pub fn sweep(&self) -> Result<SweepReport> {
        let now = self.clock.now();
        let mut report = SweepReport::default();
        let pending_cutoff = now - delta(policy::shortest_pending_timeout(self.config));
        for lease in self.store.due(now, pending_cutoff)? {
            // One lease that cannot be handled (its target left the configuration, say)
            // must not stop the others.
            let handled = match lease.state {
                LeaseState::Pending => self
                    .cancel_stale(&lease.id, now)
                    .map(|cancelled| report.cancelled.extend(cancelled)),
                LeaseState::Active => self
                    .end(&lease.id, Ending::Expired, RevokeMode::Sweep, Notes::new())
                    .map(|r| report.revocations.push(r)),
                LeaseState::RevokeFailed | LeaseState::Granting | LeaseState::Revoking => {
                    let ending = lease.ending.unwrap_or(Ending::Revoked);
                    self.end(&lease.id, ending, RevokeMode::Sweep, Notes::new())
                        .map(|r| report.revocations.push(r))
                }
                _ => Ok(()),
            };
            if let Err(err) = handled {
                report.errors.push((lease.id.clone(), format!("{err:#}")));
            }
        }
        let recheck = self
            .tickets_rechecked
            .get()
            .is_none_or(|at| at.elapsed() >= TICKET_RECHECK);
        if recheck {
            self.tickets_rechecked.set(Some(Instant::now()));
            self.recheck_tickets(&mut report);
        }
        report.revocations.retain(|r| {
            !matches!(
                r.outcome,
                RevokeOutcome::InFlight | RevokeOutcome::NotDue | RevokeOutcome::AlreadyEnded
            )
        });
        Ok(report)
    }

    /// `revoke-failed` leases whose next attempt is later than now, oldest first: the
    /// entitlement is still on the target, and a sweep now would leave it there.
    pub fn waiting_revocations(&self) -> Result<Vec<Lease>> {
        let now = self.clock.now();
        let filter = LeaseFilter {
            states: vec![LeaseState::RevokeFailed],
            ..LeaseFilter::default()
        };
        let mut waiting = Vec::new();
        // The summaries leave the retry schedule out: read each lease whole.
        for summary in self.store.leases(&filter)? {
            if let Some(lease) = self.store.lease(&summary.id)? {
                let later = lease.next_attempt_at.is_some_and(|next| next > now);
                if lease.state == LeaseState::RevokeFailed && later {
                    waiting.push(lease);
                }
            }
        }
        Ok(waiting)
    }

    /// Revoke the active leases of roles with `ticket.revoke_when_closed` whose ticket has
    /// left the allowed statuses (or the ticketing system). A ticket that cannot be read
    /// leaves its leases alone and is reported.
    fn recheck_tickets(&self, report: &mut SweepReport) {
        for role in self.config.roles.values() {
            let Some(check) = role
                .ticket
                .check
                .as_ref()
                .filter(|_| role.ticket.revoke_when_closed)
            else {
                continue;
            };
            let filter = LeaseFilter {
                states: vec![LeaseState::Active],
                role: Some(role.name.clone()),
                person: None,
            };
            let leases = match self.store.leases(&filter) {
                Ok(leases) => leases,
                Err(err) => {
                    report.errors.push((role.name.clone(), format!("{err:#}")));
                    continue;
                }
            };
            let checker = ticket::Checker::new(check);
            let mut standings: BTreeMap<String, Result<Standing, String>> = BTreeMap::new();
            for lease in leases {
                let Some(ticket) = lease.ticket.as_deref() else {
                    continue;
                };
                let standing = standings
                    .entry(ticket.to_owned())
                    .or_insert_with(|| checker.standing(ticket));
                let standing = match standing {
                    Ok(standing) => standing,
                    Err(err) => {
                        report.errors.push((lease.id.clone(), err.clone()));
                        continue;
                    }
                };
                let Some(denial) = standing.denial(ticket, check) else {
                    continue;
                };
                let mut notes = Notes::new();
                notes.insert("cause".into(), json!(denial));
                notes.insert("ticket_status".into(), json!(standing.status()));
                match self.end(&lease.id, Ending::Revoked, RevokeMode::Manual, notes) {
                    Ok(revocation) => report.revocations.push(revocation),
                    Err(err) => report.errors.push((lease.id.clone(), format!("{err:#}"))),
                }
            }
        }
    }

    fn cancel_stale(&self, id: &str, now: DateTime<Utc>) -> Result<Option<Lease>> {
        store::write(self.store, |tx| {
            let Some(mut lease) = tx.lease(id)? else {
                return Ok(None);
            };
            // The role's own timeout holds even while the requester waits; the default one
            // spares a waiting requester. A role that has left the configuration has the
            // default.
            let explicit = self
                .config
                .roles
                .get(&lease.role)
                .and_then(|role| role.approvals.timeout);
            let timeout = explicit.unwrap_or(PENDING_TIMEOUT);
            let waiting = explicit.is_none()
                && lease.worker.as_deref().is_some_and(|w| {
                    self.worker
                        .sees_alive(w, lease.worker_at, now, HEARTBEAT_STALE)
                });
            if lease.state != LeaseState::Pending
                || lease.created_at > now - delta(timeout)
                || waiting
            {
                return Ok(None);
            }
            let details =
                json!({ "reason": format!("not decided within {}", duration::format(timeout)) });
            self.close(
                tx,
                &mut lease,
                LeaseState::Cancelled,
                EventKind::Cancelled,
                details,
                now,
            )?;
            Ok(Some(lease))
        })
    }

    /// The roles `who` may request, with the effective cap for them.
    pub fn roles_for(&self, who: &Identity) -> Vec<RoleView<'a>> {
        self.config
            .roles
            .values()
            .filter_map(|role| {
                let rules: Vec<_> = self
                    .config
                    .eligibility
                    .iter()
                    .filter(|rule| {
                        rule.covers_role(&role.name) && rule.subjects.iter().any(|s| who.matches(s))
                    })
                    .collect();
                if rules.is_empty() {
                    return None;
                }
                let backend = backend::for_target(self.config.targets.get(&role.target)?);
                let max_ttl = rules
                    .iter()
                    .filter_map(|rule| rule.max_ttl)
                    .chain(backend.limits(&role.grant).max)
                    .fold(role.max_ttl, Duration::min);
                Some(RoleView {
                    role,
                    backend: backend.kind(),
                    max_ttl,
                })
            })
            .collect()
    }
}

/// Why a cancelled request was cancelled, for the requester: `request ID was cancelled:
/// not decided within 30m`.
pub fn cancellation(store: &dyn Store, lease: &Lease) -> Result<String> {
    let events = store.events(&store::EventFilter {
        lease_id: Some(lease.id.clone()),
        since: None,
    })?;
    let why = events
        .iter()
        .rev()
        .find(|e| e.kind == EventKind::Cancelled.as_str())
        .and_then(|e| e.details["reason"].as_str());
    let id = &lease.id;
    Ok(match why {
        Some(why) => format!("request {id} was cancelled: {why}"),
        None => format!("request {id} was cancelled"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_backoff_doubles_to_an_hour() {
        let delays: Vec<u64> = (1..=10).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
    }

    #[test]
    fn a_dead_local_worker_is_seen_dead() {
        let me = Worker::this_process();
        let now = Utc::now();
        assert!(me.sees_alive(&me.id, None, now, STALE_AFTER));
        let gone = format!("{}:{}", me.host, i32::MAX - 1);
        assert!(!me.sees_alive(&gone, Some(now), now, STALE_AFTER));
        assert!(me.sees_alive("elsewhere:1", Some(now), now, STALE_AFTER));
        assert!(!me.sees_alive(
            "elsewhere:1",
            Some(now - TimeDelta::seconds(600)),
            now,
            STALE_AFTER
        ));
    }
}
