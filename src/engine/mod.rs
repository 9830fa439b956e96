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

use crate::audit::{AuditEvent, EventKind, NewEvent};
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

mod certify;
mod decide;
pub mod discover;
mod end;
mod events;
mod extend;
mod grant;
mod local;
mod recheck;
mod request;
mod rules;
mod session;
mod sweep;

pub use certify::RuleStanding;
pub use local::Local;
pub use recheck::{Directory, RecheckPlan, Rechecked, Shortening};

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

/// Whether, and how, a denial by policy is recorded in the audit trail.
#[derive(Clone, Copy)]
enum Recorded<'l> {
    /// Not at all (a dry run).
    Not,
    /// As an event of no lease: the request was refused before a lease existed.
    Request,
    /// As an event of this lease.
    Lease(&'l str),
}

use events::{Details, Notes};

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 1000))
}

/// This process, as recorded on leases it is working on: `host:pid`.
#[derive(Clone, Debug)]
pub struct Process {
    pub id: String,
    host: String,
}

impl Process {
    pub fn this() -> Process {
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".to_owned());
        Process {
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

pub use crate::lease::RequestInput;
pub use session::Session;

/// The policy decision for a request, before anything changes.
pub struct Evaluation<'c> {
    pub role: &'c Role,
    pub backend: &'static str,
    pub decision: Decision,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The ticket's status in the ticketing system, where the role checks it.
    pub ticket_status: Option<String>,
    /// Each condition that applies (time windows, `max_active`, `expires`, `[[conflicts]]`)
    /// and how it stands: filled in for a dry run.
    pub conditions: Vec<policy::Condition>,
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
        /// Why the credentials of the role will not be shown to this request, where it
        /// issues any (see [`Engine::unshown_credentials`]).
        notice: Option<String>,
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

impl Decided {
    /// The lease as the decision left it.
    pub fn lease(&self) -> &Lease {
        match self {
            Decided::Denied { lease }
            | Decided::Approved { lease, .. }
            | Decided::Granted { lease, .. }
            | Decided::HandedOver { lease } => lease,
        }
    }
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
    /// Active leases brought to an earlier end because a cap on them was lowered.
    pub shortened: Vec<Shortening>,
    /// What the re-evaluation of live leases looked at (`None`: it could not run).
    pub rechecked: Option<Rechecked>,
    /// Why the re-evaluation revoked or cancelled a lease, by lease id.
    pub causes: BTreeMap<String, String>,
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
    /// This process, as recorded on the leases it is working on.
    pub worker: Process,
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
    /// The store's name, read once: the mark on what this engine grants.
    store_name: Rc<std::cell::OnceCell<String>>,
    /// Where the groups of the subjects of live leases are read when they are checked
    /// again: the OS user and group databases.
    directory: Directory,
    /// Told of the audit events this process commits, as they are announced (the metrics
    /// of `jit sweep --watch` and `jit worker`).
    pub observer: Option<Rc<dyn Observer>>,
}

/// What is told of the audit events an engine committed ([`Engine::announce`]).
pub trait Observer {
    fn committed(&self, engine: &Engine<'_>, events: &[AuditEvent]);
}

impl<'a> Engine<'a> {
    pub fn new(config: &'a Config, store: &'a dyn Store, clock: Clock, actor: &str) -> Self {
        Engine {
            config,
            store,
            clock,
            worker: Process::this(),
            actor: actor.to_owned(),
            backends: Rc::new(RefCell::new(BTreeMap::new())),
            keeps_credentials: true,
            tickets_rechecked: Cell::new(None),
            store_name: Rc::default(),
            directory: Rc::new(recheck::os_directory),
            observer: None,
        }
    }

    /// The store's name ([`Store::identity`]), the mark on what this engine grants.
    pub fn store_name(&self) -> Result<&str> {
        if let Some(name) = self.store_name.get() {
            return Ok(name);
        }
        let name = self.store.identity()?;
        Ok(self.store_name.get_or_init(|| name))
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
            store_name: Rc::clone(&self.store_name),
            directory: Rc::clone(&self.directory),
            observer: self.observer.clone(),
        }
    }

    fn event(&self, lease: &Lease, details: &impl Details) -> NewEvent {
        NewEvent {
            at: self.clock.now(),
            actor: self.actor.clone(),
            lease_id: Some(lease.id.clone()),
            kind: details.kind(),
            details: serde_json::to_value(details).unwrap_or(Value::Null),
        }
    }

    /// End a request that never reached the target (cancelled, denied), with its event.
    fn close(
        &self,
        tx: &mut dyn Tx,
        lease: &mut Lease,
        state: LeaseState,
        details: &impl Details,
        now: DateTime<Utc>,
    ) -> Result<()> {
        lease.end_in(state, now)?;
        tx.update(lease)?;
        tx.append(&self.event(lease, details))?;
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
        lease.release();
        lease.attempts += 1;
        let next = now + delta(retry_delay(lease.attempts));
        lease.next_attempt_at = Some(next);
        lease.last_error = Some(err.message.clone());
        tx.update(lease)?;
        let details = events::RevokeFailed {
            error: &err.message,
            retryable: err.retryable(),
            attempt: lease.attempts,
            next_attempt_at: next,
            notes,
        };
        tx.append(&self.event(lease, &details))?;
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

    /// This engine with `backend` serving `target` in place of the one its configuration
    /// describes (a scripted one, in tests).
    #[cfg(test)]
    pub fn with_backend(self, target: &str, backend: Rc<dyn Backend>) -> Self {
        self.backends
            .borrow_mut()
            .insert(target.to_owned(), backend);
        self
    }

    /// This engine looking subjects up in `directory` rather than the OS databases.
    #[cfg(test)]
    pub fn with_directory(mut self, directory: Directory) -> Self {
        self.directory = directory;
        self
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
        if let Some(observer) = &self.observer {
            observer.committed(self, &events);
        }
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
            .traits(&role.grant)
            .issues_credentials
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

    /// The roles `who` may request, with the effective cap for them.
    pub fn roles_for(&self, who: &Identity) -> Vec<RoleView<'a>> {
        let now = self.clock.now();
        self.config
            .roles
            .values()
            .filter_map(|role| {
                let rules: Vec<_> = self
                    .config
                    .eligibility
                    .iter()
                    .filter(|rule| {
                        rule.covers_role(&role.name)
                            && rule.in_force(now)
                            && rule.subjects.iter().any(|s| who.matches(s))
                    })
                    .collect();
                if rules.is_empty() {
                    return None;
                }
                let backend = backend::for_target(self.config.targets.get(&role.target)?);
                let max_ttl = rules
                    .iter()
                    .filter_map(|rule| rule.max_ttl)
                    .chain(backend.traits(&role.grant).limits.max)
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
mod tests;
