//! Team mode: people ask, workers act. With a team store, `jit request`, `approve`, `deny`,
//! `revoke` and `extend` do not touch a lease or a target themselves: they put a request in
//! the store's work queue (as their own database login, which the database checks) and wait
//! for a worker (`jit worker`, holding the target credentials and the authoritative
//! configuration) to answer it. Credentials come back sealed to the asking process.

pub mod handoff;
pub mod worker;

use crate::engine::RequestInput;
use crate::exit;
use crate::lease::{Lease, LeaseState, Verdict};
use crate::store::postgres::PgStore;
use crate::store::{LeaseStore, Store};
use anyhow::{Context as _, Result};
use postgres::fallible_iterator::FallibleIterator;
use std::time::{Duration, Instant};

/// How long a command waits for a worker to take up what it asked before giving up.
pub const WORKER_PATIENCE: Duration = Duration::from_secs(30);
/// Without a notification, how often a waiting command looks again.
const LOOK_AGAIN: Duration = Duration::from_millis(500);

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

impl Answer {
    /// A refusal as the error it stands for, with the worker's exit code.
    pub fn refusal(&self) -> anyhow::Error {
        exit::with_code(
            self.exit_code.unwrap_or(1),
            self.message.clone().unwrap_or_else(|| "refused".to_owned()),
        )
    }
}

/// Queue `ask` as this session's login; returns the request's id. The session listens for
/// answers from before the request exists, so that none is missed.
pub fn submit(store: &PgStore, ask: &Ask<'_>) -> Result<i64> {
    let mut client = store.client();
    client.batch_execute("LISTEN jit_answer")?;
    let row = match ask {
        Ask::Request { input, handoff_key } => {
            let ttl = input.ttl.map(duration_secs);
            client.query_one(
                "INSERT INTO jit.requests (kind, role, ttl_secs, ticket, reason, public_key, handoff_key) \
                 VALUES ('request', $1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &input.role,
                    &ttl,
                    &input.ticket,
                    &input.reason,
                    &input.public_key,
                    handoff_key,
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
        Ok(row) => Ok(row.get(0)),
        Err(err) if err.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) => {
            Err(exit::denied(format!(
                "the team store refused this request from {}: {}",
                store.user(),
                err.as_db_error()
                    .map_or_else(|| err.to_string(), |e| e.message().to_owned())
            )))
        }
        Err(err) => Err(anyhow::Error::new(err).context("queueing the request in the team store")),
    }
}

fn duration_secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// The request's answer as it stands.
pub fn answer(store: &PgStore, id: i64) -> Result<Answer> {
    let row = store.client().query_one(
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

/// Wait until `settled` says the answer is one to act on, or until `deadline` (then the
/// answer as it stands). `watch` sees every answer read, for progress.
pub fn wait_for(
    store: &PgStore,
    id: i64,
    deadline: Instant,
    settled: impl Fn(&Answer) -> bool,
    watch: &mut dyn FnMut(&Answer),
) -> Result<Answer> {
    loop {
        let answer = answer(store, id)?;
        watch(&answer);
        let now = Instant::now();
        if settled(&answer) || now >= deadline {
            return Ok(answer);
        }
        let nap = LOOK_AGAIN.min(deadline - now);
        let mut client = store.client();
        let mut notifications = client.notifications();
        // Any answer wakes us: ours is read again either way.
        let _ = notifications.timeout_iter(nap).next()?;
    }
}

/// Wait for a worker to take up and answer request `id`, for at most [`WORKER_PATIENCE`].
fn first_answer(store: &PgStore, id: i64) -> Result<Answer> {
    let answer = wait_for(
        store,
        id,
        Instant::now() + WORKER_PATIENCE,
        |a| a.status != "new",
        &mut |_| {},
    )?;
    if answer.status == "new" {
        return Err(anyhow::anyhow!(
            "no worker answered request {id} within {}s: is `jit worker` running for {}?",
            WORKER_PATIENCE.as_secs(),
            store.location()
        ));
    }
    Ok(answer)
}

/// [`first_answer`], with a refusal as an error.
pub fn answered(store: &PgStore, id: i64) -> Result<Answer> {
    let answer = first_answer(store, id)?;
    match answer.status.as_str() {
        "refused" => Err(answer.refusal()),
        _ => Ok(answer),
    }
}

/// `jit approve` / `jit deny` with a team store: queue the decision and wait for the
/// worker's answer. Returns the lease as it is then, and what the worker said.
pub fn decide(
    store: &PgStore,
    lease_id: &str,
    verdict: Verdict,
    reason: Option<&str>,
) -> Result<(Lease, String)> {
    let lease = store
        .lease(lease_id)?
        .ok_or_else(|| exit::usage(format!("no lease {}", crate::text::quoted(lease_id))))?;
    // The database refuses it too; this says so plainly.
    if lease.requester == store.user() || lease.subject == store.user() {
        return Err(exit::denied(format!(
            "{} may not decide their own request",
            store.user()
        )));
    }
    let id = submit(
        store,
        &Ask::Decide {
            lease_id,
            verdict,
            reason,
        },
    )?;
    let answer = answered(store, id)?;
    let lease = store.lease(lease_id)?.unwrap_or(lease);
    Ok((lease, answer.message.unwrap_or_default()))
}

/// Did this session's login request `lease`, or is it its subject?
fn holds(store: &PgStore, lease: &Lease) -> bool {
    lease.requester == store.user() || lease.subject == store.user()
}

/// `jit revoke` with a team store: queue the revocation and wait for the worker.
pub fn revoke(store: &PgStore, lease_id: &str) -> Result<crate::engine::Revocation> {
    use crate::engine::{Revocation, RevokeOutcome};
    // The database refuses a revocation of a lease that is not the login's own, except from
    // an approver (whom the worker checks against the role); this says so plainly.
    let lease = store
        .lease(lease_id)?
        .ok_or_else(|| exit::usage(format!("no lease {lease_id}")))?;
    let approver: bool = store
        .client()
        .query_one(
            "SELECT pg_has_role(session_user, 'jit_approver', 'MEMBER')",
            &[],
        )?
        .get(0);
    if !holds(store, &lease) && !approver {
        return Err(exit::denied(format!(
            "{} may not revoke lease {} of {} (only its holder or an approver of role {:?} may)",
            store.user(),
            lease.id,
            lease.subject,
            lease.role
        )));
    }
    let id = submit(store, &Ask::Revoke { lease_id })?;
    let answer = first_answer(store, id)?;
    let outcome = match (answer.status.as_str(), answer.exit_code) {
        ("refused", Some(6)) => RevokeOutcome::Failed {
            error: answer.message.clone().unwrap_or_default(),
        },
        ("refused", _) => return Err(answer.refusal()),
        _ => RevokeOutcome::Done { kept_for: None },
    };
    let lease = store
        .lease(lease_id)?
        .ok_or_else(|| exit::usage(format!("no lease {}", crate::text::quoted(lease_id))))?;
    let outcome = match lease.state {
        LeaseState::Cancelled => RevokeOutcome::Cancelled,
        _ => outcome,
    };
    Ok(Revocation { lease, outcome })
}

/// `jit extend` with a team store.
pub fn extend(store: &PgStore, lease_id: &str, ttl: Duration) -> Result<Lease> {
    let lease = store
        .lease(lease_id)?
        .ok_or_else(|| exit::usage(format!("no lease {lease_id}")))?;
    if !holds(store, &lease) {
        return Err(exit::denied(format!(
            "{} may not extend a lease of {}",
            store.user(),
            lease.subject
        )));
    }
    let id = submit(store, &Ask::Extend { lease_id, ttl })?;
    answered(store, id)?;
    store
        .lease(lease_id)?
        .ok_or_else(|| exit::usage(format!("no lease {}", crate::text::quoted(lease_id))))
}

/// Take the credentials a worker sealed for this process's request, deleting them from
/// the store as they are read.
pub fn pick_up(
    store: &PgStore,
    lease_id: &str,
    key: &handoff::OneTimeKey,
) -> Result<Option<crate::backend::Credentials>> {
    let row = store.client().query_opt(
        "DELETE FROM jit.handoffs WHERE lease_id = $1 RETURNING ciphertext",
        &[&lease_id],
    )?;
    row.map(|row| key.open(row.get(0)))
        .transpose()
        .with_context(|| format!("the credentials of lease {lease_id}"))
}

/// What a lease that ended while its request waited means to the requester.
pub fn outcome_of(store: &dyn Store, lease: &Lease) -> Result<(i32, String)> {
    let id = &lease.id;
    Ok(match lease.state {
        LeaseState::Denied => (3, lease.denial()),
        LeaseState::Cancelled => (3, crate::engine::cancellation(store, lease)?),
        other => (
            1,
            match &lease.last_error {
                Some(error) => format!("lease {id} is {other}: {error}"),
                None => format!("lease {id} is {other}"),
            },
        ),
    })
}
