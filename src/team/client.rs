//! The lease service with a team store: each step is queued as this session's database
//! login, and the answer of the worker that carried it out is waited for. The checks made
//! here (whose lease it is, who may decide) say plainly what the database's policies and the
//! worker refuse anyway.

use super::handoff::OneTimeKey;
use crate::engine::RevokeOutcome;
use crate::engine::{Decided, Engine, Evaluation, RequestInput, Requested, Revocation};
use crate::exit;
use crate::lease::{Lease, LeaseState, Verdict};
use crate::leases::{Decision, Leases, Pickup, Which};
use crate::store::postgres::PgStore;
use crate::store::queue::{Answer, Ask};
use crate::store::{LeaseFilter, LeaseStore, Store};
use anyhow::{Context as _, Result};
use std::time::{Duration, Instant};

/// How long a command waits for a worker to take up what it asked before giving up.
pub const WORKER_PATIENCE: Duration = Duration::from_secs(30);
/// Without a notification, how often a waiting command looks again.
const LOOK_AGAIN: Duration = Duration::from_millis(500);

/// A person's side of a team store.
pub struct Queued<'a> {
    pub store: &'a PgStore,
    /// For what the person's own configuration says (the approvers it lists).
    pub engine: Engine<'a>,
}

impl Answer {
    /// A refusal as the error it stands for, with the worker's exit code.
    pub fn refusal(&self) -> anyhow::Error {
        exit::with_code(
            self.exit_code.unwrap_or(1),
            self.message.clone().unwrap_or_else(|| "refused".to_owned()),
        )
    }
}

impl Queued<'_> {
    /// Queue `ask`; a refusal by the database is a denial (exit 3).
    fn submit(&self, ask: &Ask<'_>) -> Result<i64> {
        self.store.submit(ask)?.map_err(|refused| {
            exit::denied(format!(
                "the team store refused this request from {}: {}",
                self.store.user(),
                refused.0
            ))
        })
    }

    /// Wait until `settled` says the answer is one to act on, or until `deadline` (then the
    /// answer as it stands). `watch` sees every answer read, for progress.
    fn wait_for(
        &self,
        id: i64,
        deadline: Instant,
        settled: impl Fn(&Answer) -> bool,
        watch: &mut dyn FnMut(&Answer),
    ) -> Result<Answer> {
        loop {
            let answer = self.store.answer(id)?;
            watch(&answer);
            let now = Instant::now();
            if settled(&answer) || now >= deadline {
                return Ok(answer);
            }
            // Any answer wakes us: ours is read again either way.
            self.store
                .await_notification(LOOK_AGAIN.min(deadline - now))?;
        }
    }

    /// Wait for a worker to take up and answer request `id`, for at most [`WORKER_PATIENCE`].
    fn first_answer(&self, id: i64) -> Result<Answer> {
        let answer = self.wait_for(
            id,
            Instant::now() + WORKER_PATIENCE,
            |a| a.status != "new",
            &mut |_| {},
        )?;
        if answer.status == "new" {
            return Err(anyhow::anyhow!(
                "no worker answered request {id} within {}s: is `jit worker` running for {}?",
                WORKER_PATIENCE.as_secs(),
                self.store.location()
            ));
        }
        Ok(answer)
    }

    /// [`Queued::first_answer`], with a refusal as an error.
    fn answered(&self, id: i64) -> Result<Answer> {
        let answer = self.first_answer(id)?;
        match answer.status.as_str() {
            "refused" => Err(answer.refusal()),
            _ => Ok(answer),
        }
    }

    /// Did this session's login request `lease`, or is it its subject?
    fn holds(&self, lease: &Lease) -> bool {
        lease.requester == self.store.user() || lease.subject == self.store.user()
    }

    /// The lease a worker's answer to this process's request stands for: granted, with the
    /// credentials sealed to `key`; refused; or still pending.
    fn requested(&self, lease_id: &str, answer: Answer, key: &OneTimeKey) -> Result<Requested> {
        let lease = self
            .store
            .lease(lease_id)?
            .with_context(|| format!("lease {lease_id} is not in the team store"))?;
        match answer.status.as_str() {
            "done" => Ok(Requested::Granted {
                credentials: self.pick_up(lease_id, key)?,
                lease,
                notice: None,
            }),
            "refused" => Err(answer.refusal()),
            _ => {
                // What the worker said of the credentials this request will not see.
                let notice = answer
                    .message
                    .filter(|message| *message != format!("pending {lease_id}"))
                    .or_else(|| self.engine.unshown_credentials(&lease));
                Ok(Requested::Pending { lease, notice })
            }
        }
    }

    /// Take the credentials a worker sealed for this process's request.
    fn pick_up(
        &self,
        lease_id: &str,
        key: &OneTimeKey,
    ) -> Result<Option<crate::backend::Credentials>> {
        self.store
            .take_handoff(lease_id)?
            .map(|sealed| key.open(&sealed))
            .transpose()
            .with_context(|| format!("the credentials of lease {lease_id}"))
    }
}

impl Leases for Queued<'_> {
    fn evaluate(&self, _input: &RequestInput) -> Result<Evaluation<'_>> {
        Err(exit::usage(
            "--dry-run is not available with a team store: the worker's configuration decides",
        ))
    }

    /// Queue the request, and take the answer and the credentials from the worker that
    /// carries it out.
    fn request(
        &self,
        input: &RequestInput,
        wait: Option<Duration>,
        progress: &mut dyn FnMut(&Lease),
    ) -> Result<Requested> {
        let (requested, pickup) = self.request_held(input)?;
        match (requested, wait) {
            (Requested::Pending { lease, .. }, Some(timeout)) => {
                self.await_held(&lease.id, &pickup, timeout, progress)
            }
            (requested, _) => Ok(requested),
        }
    }

    fn session(&self) -> Result<String> {
        self.store.open_session()
    }

    fn request_held(&self, input: &RequestInput) -> Result<(Requested, Pickup)> {
        let key = OneTimeKey::generate();
        let id = self.submit(&Ask::Request {
            input,
            handoff_key: key.public(),
        })?;
        let answer = self.answered(id)?;
        let lease_id = answer
            .lease_id
            .clone()
            .with_context(|| format!("the worker answered request {id} without a lease"))?;
        let requested = self.requested(&lease_id, answer, &key)?;
        Ok((requested, Pickup::Sealed { request: id, key }))
    }

    fn await_held(
        &self,
        lease_id: &str,
        pickup: &Pickup,
        timeout: Duration,
        progress: &mut dyn FnMut(&Lease),
    ) -> Result<Requested> {
        let Pickup::Sealed { request, key } = pickup else {
            return Err(anyhow::anyhow!(
                "lease {lease_id} was not asked for through the team store"
            ));
        };
        let answer = self.wait_for(
            *request,
            Instant::now() + timeout,
            |a| a.status == "done" || a.status == "refused",
            &mut |_| {
                if let Ok(Some(lease)) = self.store.lease(lease_id) {
                    progress(&lease);
                }
            },
        )?;
        self.requested(lease_id, answer, key)
    }

    fn holds_for_a_command(&self) -> Result<()> {
        Err(exit::usage(
            "jit exec is not available with a team store: use `jit request --wait`, then `jit revoke`",
        ))
    }

    fn decide(&self, id: &str, verdict: Verdict, reason: Option<&str>) -> Result<Decision> {
        let lease = self.engine.lease(id)?;
        // The database refuses it too; this says so plainly.
        if self.holds(&lease) {
            return Err(exit::denied(format!(
                "{} may not decide their own request",
                self.store.user()
            )));
        }
        let request = self.submit(&Ask::Decide {
            lease_id: id,
            verdict,
            reason,
        })?;
        self.answered(request)?;
        let lease = self.store.lease(id)?.unwrap_or(lease);
        let given = u32::try_from(lease.approvals_given()).unwrap_or(u32::MAX);
        let decided = match (verdict, lease.state) {
            (Verdict::Deny, _) => Decided::Denied { lease },
            (Verdict::Approve, LeaseState::Pending) => Decided::Approved {
                remaining: lease.approvals_required.saturating_sub(given),
                lease,
            },
            (Verdict::Approve, _) => Decided::Granted {
                lease,
                credentials: None,
            },
        };
        Ok(Decision {
            decided,
            queued: true,
        })
    }

    /// The worker checks each lease against its configuration.
    fn to_revoke(&self, which: &Which<'_>) -> Result<Vec<Lease>> {
        match which {
            Which::Ids(ids) => ids.iter().map(|id| self.engine.lease(id)).collect(),
            Which::Mine { role } => Ok(self
                .store
                .leases(&LeaseFilter::live_of(self.store.user(), *role))?),
        }
    }

    fn revoke(&self, lease: &Lease) -> Result<Revocation> {
        // The database refuses a revocation of a lease that is not the login's own, except
        // from an approver (whom the worker checks against the role); this says so plainly.
        let lease = self.engine.lease(&lease.id)?;
        if !self.holds(&lease) && !self.store.is_approver()? {
            return Err(exit::denied(format!(
                "{} may not revoke lease {} of {} (only its holder or an approver of role {:?} may)",
                self.store.user(),
                lease.id,
                lease.subject,
                lease.role
            )));
        }
        let id = self.submit(&Ask::Revoke {
            lease_id: &lease.id,
        })?;
        let answer = self.first_answer(id)?;
        let outcome = match (answer.status.as_str(), answer.exit_code) {
            ("refused", Some(6)) => RevokeOutcome::Failed {
                error: answer.message.clone().unwrap_or_default(),
            },
            ("refused", _) => return Err(answer.refusal()),
            _ => RevokeOutcome::Done { kept_for: None },
        };
        let lease = self.engine.lease(&lease.id)?;
        let outcome = match lease.state {
            LeaseState::Cancelled => RevokeOutcome::Cancelled,
            _ => outcome,
        };
        Ok(Revocation { lease, outcome })
    }

    fn extend(&self, id: &str, ttl: Duration) -> Result<Lease> {
        let lease = self
            .store
            .lease(id)?
            .ok_or_else(|| exit::usage(format!("no lease {id}")))?;
        if !self.holds(&lease) {
            return Err(exit::denied(format!(
                "{} may not extend a lease of {}",
                self.store.user(),
                lease.subject
            )));
        }
        let request = self.submit(&Ask::Extend { lease_id: id, ttl })?;
        self.answered(request)?;
        self.engine.lease(id)
    }

    fn publish(&self) {
        self.engine.publish();
    }
}
