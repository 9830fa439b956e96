//! The jit side of an MCP session: one thread owns the [`Context`] and the lease service,
//! takes the tool calls one at a time, and holds what the session was granted (in memory
//! only). When the session ends, every lease it created that is still live is ended.

use super::run;
use super::tools::{Call, error_document};
use crate::backend::Credentials;
use crate::cli::GlobalArgs;
use crate::context::Context;
use crate::engine::{Requested, RevokeOutcome};
use crate::exit::{self, Exit};
use crate::lease::{Agent, Lease, LeaseState, Verdict};
use crate::leases::{Leases, Pickup};
use anyhow::Result;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Duration, Instant};

/// How long `wait_for_approval` waits when not told, and at most.
pub const WAIT_DEFAULT: Duration = Duration::from_secs(120);
pub const WAIT_MAX: Duration = Duration::from_secs(600);
/// How long `run_with_access` lets a command run when not told (never past the lease's end).
pub const RUN_DEFAULT: Duration = Duration::from_secs(120);
/// At most one progress notification this often while waiting (and one at the end).
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// A wait is taken in steps this long, so that the end of the session or a cancelled call
/// is seen between them.
const WAIT_STEP: Duration = Duration::from_secs(1);

/// Where a wait for approval stands, for `notifications/progress`.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// Seconds waited so far.
    pub progress: f64,
    /// Seconds the wait lasts at most.
    pub total: f64,
    pub message: String,
}

/// A tool call's answer: the JSON of the result, and whether it is an error result.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub value: Value,
    pub is_error: bool,
}

impl Reply {
    /// A jit error as the tool result the design gives it: the exit code `jit` would have
    /// exited with, its kind, and the message.
    pub fn from_error(err: &anyhow::Error) -> Reply {
        Reply {
            value: error_document(exit::exit_for(err).code(), &format!("{err:#}")),
            is_error: true,
        }
    }
}

/// What the protocol side asks of the jit side.
pub enum Job {
    Call {
        call: Call,
        /// The agent's client, as `initialize` named it.
        client: String,
        /// Set when the client cancelled this call.
        cancelled: std::sync::Arc<AtomicBool>,
        /// Where progress goes, when the call asked for it.
        progress: Option<tokio::sync::mpsc::UnboundedSender<Progress>>,
        reply: tokio::sync::oneshot::Sender<Reply>,
    },
    /// The session is over: end its leases.
    End,
}

/// The session's thread: load the context (telling `ready` how that went), take the calls
/// until the session ends, then end the session's leases. Returns the exit status.
pub fn serve(
    global: GlobalArgs,
    jobs: Receiver<Job>,
    ready: SyncSender<Result<()>>,
    ending: &AtomicBool,
) -> Exit {
    let ctx = match Context::load(&global) {
        Ok(ctx) => ctx,
        Err(err) => {
            let _ = ready.send(Err(err));
            return Exit::Runtime;
        }
    };
    let _ = ready.send(Ok(()));
    let leases = ctx.leases();
    let mut session = Session::new(&ctx, leases.as_ref(), ending);
    while let Ok(job) = jobs.recv() {
        match job {
            Job::End => break,
            Job::Call {
                call,
                client,
                cancelled,
                progress,
                reply,
            } => {
                let answer = if ending.load(Ordering::SeqCst) {
                    Err(anyhow::anyhow!("the MCP session is ending"))
                } else {
                    let mut notify = |note: Progress| {
                        if let Some(progress) = &progress {
                            let _ = progress.send(note);
                        }
                    };
                    session.call(call, &client, &cancelled, &mut notify)
                };
                let answer = match answer {
                    Ok(value) => Reply {
                        value,
                        is_error: false,
                    },
                    Err(err) => Reply::from_error(&err),
                };
                drop(progress);
                let _ = reply.send(answer);
            }
        }
    }
    session.finish()
}

/// A lease this session asked for.
struct Held {
    id: String,
    pickup: Pickup,
    /// Once granted to this process (never logged; in a result only with `reveal`).
    credentials: Option<Credentials>,
    granted: bool,
}

pub struct Session<'a> {
    ctx: &'a Context,
    leases: &'a dyn Leases,
    ending: &'a AtomicBool,
    /// The session the leases are bound to, once the first is asked for.
    id: Option<String>,
    held: Vec<Held>,
}

impl<'a> Session<'a> {
    pub fn new(ctx: &'a Context, leases: &'a dyn Leases, ending: &'a AtomicBool) -> Self {
        Session {
            ctx,
            leases,
            ending,
            id: None,
            held: Vec::new(),
        }
    }

    /// Carry out one tool call.
    pub fn call(
        &mut self,
        call: Call,
        client: &str,
        cancelled: &AtomicBool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Value> {
        let ending = self.ending;
        let stop = || cancelled.load(Ordering::SeqCst) || ending.load(Ordering::SeqCst);
        match call {
            Call::ListRoles => Ok(self.list_roles()),
            Call::RequestAccess {
                role,
                ttl,
                reason,
                task,
                ticket,
            } => self.request_access(client, role, ttl, reason, task, ticket),
            Call::WaitForApproval { lease_id, timeout } => {
                let timeout = duration_arg("timeout", timeout.as_deref(), WAIT_DEFAULT)?;
                if timeout > WAIT_MAX {
                    return Err(exit::usage(format!(
                        "timeout {}: wait_for_approval waits at most {}",
                        crate::duration::format(timeout),
                        crate::duration::format(WAIT_MAX)
                    )));
                }
                self.wait_for_approval(&lease_id, timeout, &stop, progress)
            }
            Call::RunWithAccess {
                lease_id,
                command,
                arguments,
                timeout,
            } => {
                let timeout = duration_arg("timeout", timeout.as_deref(), RUN_DEFAULT)?;
                self.run_with_access(&lease_id, &command, &arguments, timeout, &stop)
            }
            Call::AccessStatus { lease_id } => {
                let ids: Vec<String> = match lease_id {
                    Some(id) => vec![self.own(&id)?.id.clone()],
                    None => self.held.iter().map(|h| h.id.clone()).collect(),
                };
                let leases = ids
                    .iter()
                    .map(|id| self.read(id).map(|l| view(&l)))
                    .collect::<Result<Vec<_>>>()?;
                Ok(json!({ "leases": leases }))
            }
            Call::DropAccess { lease_id } => self.drop_access(&lease_id),
        }
    }

    fn list_roles(&self) -> Value {
        let roles: Vec<Value> = self
            .ctx
            .engine()
            .roles_for(&self.ctx.identity)
            .into_iter()
            .filter_map(|view| {
                let role = view.role;
                let agent = role.agent.as_ref()?;
                let commands: Vec<Value> = agent
                    .commands
                    .iter()
                    .map(|(name, command)| {
                        json!({
                            "name": name,
                            "argv": command.argv,
                            "arguments": command.placeholders(),
                        })
                    })
                    .collect();
                Some(json!({
                    "name": role.name,
                    "description": role.description,
                    "target": role.target,
                    "backend": view.backend,
                    "max_ttl": crate::duration::format(view.max_ttl.min(agent.max_ttl)),
                    "default_ttl": role.default_ttl.map(crate::duration::format),
                    "approvals_required": agent.approvals.required,
                    "approvers": agent.approvals.approvers(),
                    "ticket_required": role.ticket.required,
                    "ticket_pattern": role.ticket.pattern.as_ref().map(|p| p.as_str()),
                    "commands": commands,
                    "reveal": agent.reveal,
                }))
            })
            .collect();
        json!({ "roles": roles })
    }

    fn request_access(
        &mut self,
        client: &str,
        role: String,
        ttl: Option<String>,
        reason: String,
        task: String,
        ticket: Option<String>,
    ) -> Result<Value> {
        if reason.trim().is_empty() {
            return Err(exit::usage("reason is empty: say why the access is needed"));
        }
        if task.trim().is_empty() {
            return Err(exit::usage(
                "task is empty: describe the task the access is for",
            ));
        }
        let ttl = ttl
            .map(|text| crate::duration::parse(&text).map_err(|e| exit::usage(format!("ttl {e}"))))
            .transpose()?;
        let ctx = self.ctx;
        let ssh_role = ctx
            .config
            .roles
            .get(&role)
            .and_then(|role| ctx.config.targets.get(&role.target))
            .is_some_and(|target| target.settings.takes_public_key());
        let (_, public_key) = if ssh_role {
            crate::backend::delivery::requester_key(
                &ctx.identity,
                &ctx.config.path,
                None,
                &role,
                ssh_role,
                true,
            )?
        } else {
            (None, None)
        };
        let session = self.session()?;
        let input = crate::engine::RequestInput {
            role,
            ttl,
            ticket,
            reason: Some(reason),
            public_key,
            queued_as: None,
            // The role's commands and `reveal` are recorded by the engine, from its policy.
            agent: Some(Agent {
                client: client.to_owned(),
                task,
                ..Agent::default()
            }),
            session: Some(session),
        };
        let (requested, pickup) = self.leases.request_held(&input)?;
        self.leases.publish();
        let (lease, credentials, granted) = match requested {
            Requested::Granted {
                lease, credentials, ..
            } => (lease, credentials, true),
            Requested::Pending { lease, .. } => (lease, None, false),
        };
        let result = self.access(&lease, granted, credentials.as_ref());
        self.ctx.printer.note(&format!(
            "jit: lease {} of role {} {} for {client}",
            lease.id,
            lease.role,
            if granted { "granted" } else { "pending" }
        ));
        self.held.push(Held {
            id: lease.id,
            pickup,
            credentials,
            granted,
        });
        Ok(result)
    }

    fn wait_for_approval(
        &mut self,
        id: &str,
        timeout: Duration,
        stop: &dyn Fn() -> bool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Value> {
        let index = self.index(id)?;
        let lease = self.read(id)?;
        if self.held[index].granted {
            return Ok(self.access(&lease, true, self.held[index].credentials.as_ref()));
        }
        // Approved before the wait (granting, or granted by a team worker), the grant is
        // still this session's to take up; only an ended request is refused.
        if lease.state.is_final() {
            return Err(not_pending(&lease));
        }
        let started = Instant::now();
        let deadline = started + timeout;
        let total = timeout.as_secs_f64();
        let mut last_note: Option<Instant> = None;
        let mut last_seen = lease;
        let requested = loop {
            let step = deadline
                .saturating_duration_since(Instant::now())
                .min(WAIT_STEP);
            let mut seen = |lease: &Lease| {
                let now = Instant::now();
                if last_note.is_none_or(|at| now >= at + PROGRESS_EVERY) {
                    last_note = Some(now);
                    progress(Progress {
                        progress: started.elapsed().as_secs_f64().min(total),
                        total,
                        message: waiting_message(lease),
                    });
                }
                last_seen = lease.clone();
            };
            let answer = self
                .leases
                .await_held(id, &self.held[index].pickup, step, &mut seen);
            match answer {
                Ok(Requested::Pending { lease, .. }) => {
                    last_seen = lease;
                }
                Err(err) if exit::exit_for(&err) == Exit::Pending => {}
                other => break other?,
            }
            if Instant::now() >= deadline || stop() {
                break Requested::Pending {
                    lease: last_seen.clone(),
                    notice: None,
                };
            }
        };
        self.leases.publish();
        let (lease, granted, credentials) = match requested {
            Requested::Granted {
                lease, credentials, ..
            } => (lease, true, credentials),
            Requested::Pending { lease, .. } => (lease, false, None),
        };
        progress(Progress {
            progress: started.elapsed().as_secs_f64().min(total),
            total,
            message: if granted {
                format!("lease {} granted", lease.id)
            } else {
                waiting_message(&lease)
            },
        });
        if !granted && lease.state != LeaseState::Pending {
            return Err(not_pending(&lease));
        }
        let held = &mut self.held[index];
        if granted {
            held.granted = true;
            held.credentials = credentials;
        }
        let held = &self.held[index];
        Ok(self.access(&lease, granted, held.credentials.as_ref()))
    }

    fn run_with_access(
        &mut self,
        id: &str,
        name: &str,
        arguments: &BTreeMap<String, String>,
        timeout: Duration,
        stop: &dyn Fn() -> bool,
    ) -> Result<Value> {
        let index = self.index(id)?;
        let lease = self.read(id)?;
        match lease.state {
            LeaseState::Active => {}
            LeaseState::Pending => {
                return Err(exit::with_code(
                    4,
                    format!(
                        "lease {id} is pending approval: a person approves it with `jit approve {id}`; \
                         call wait_for_approval"
                    ),
                ));
            }
            other => {
                return Err(exit::usage(format!(
                    "lease {id} is {other}: run_with_access needs an active lease"
                )));
            }
        }
        // The commands are those the lease recorded from the role's agent table when it was
        // asked for (by a team worker, from its configuration: a member's names only the
        // store). Where this configuration has the role, it must still be open to agents.
        let Some(agent) = &lease.agent else {
            return Err(exit::denied(format!(
                "lease {id} was not asked for by an agent"
            )));
        };
        if let Some(role) = self.ctx.config.roles.get(&lease.role)
            && role.agent.is_none()
        {
            return Err(exit::denied(format!(
                "role {} is no longer open to agents",
                lease.role
            )));
        }
        let Some(command) = agent
            .commands
            .get(name)
            .map(|argv| crate::config::AgentCommand { argv: argv.clone() })
        else {
            let declared: Vec<&str> = agent.commands.keys().map(String::as_str).collect();
            return Err(exit::usage(format!(
                "role {} declares no command {}; {}",
                lease.role,
                crate::text::quoted(name),
                if declared.is_empty() {
                    "it declares none".to_owned()
                } else {
                    format!("its commands are {}", declared.join(", "))
                }
            )));
        };
        let argv = command
            .argv_with(arguments)
            .map_err(|e| exit::usage(format!("command {name}: {e}")))?;
        // Acting for someone else, the command runs as them (as `jit exec` does).
        let identity = &self.ctx.identity;
        if identity.delegated() && !nix::unistd::Uid::effective().is_root() {
            return Err(exit::usage(
                "run_with_access under sudo delegation needs jit to run as root, to run the \
                 command as you",
            ));
        }
        let left = lease
            .expires_at
            .map(|end| (end - self.ctx.clock.now()).to_std().unwrap_or_default());
        if left.is_some_and(|left| left.is_zero()) {
            return Err(exit::usage(format!("lease {id} has reached its end")));
        }
        let within = left.map_or(timeout, |left| left.min(timeout));
        let mut env = vec![("JIT_LEASE_ID".to_owned(), lease.id.clone())];
        if let Some(end) = lease.expires_at {
            env.push((
                "JIT_LEASE_EXPIRES_AT".to_owned(),
                crate::lease::rfc3339::format(&end),
            ));
        }
        if let Some(credentials) = &self.held[index].credentials {
            for (key, value) in credentials.expose() {
                if crate::child::is_env_name(key) {
                    env.push((key.clone(), value.clone()));
                } else {
                    self.ctx.printer.warn(&format!(
                        "credential {key:?} is not an environment variable name; not passed on"
                    ));
                }
            }
        }
        let outcome = run::run(
            &run::Run {
                argv: &argv,
                env,
                as_user: identity.delegated().then_some((identity.uid, identity.gid)),
                deadline: Instant::now() + within,
            },
            stop,
        )
        .map_err(|err| anyhow::anyhow!("cannot run {}: {err}", crate::text::quoted(&argv[0])))?;
        Ok(serde_json::to_value(outcome)?)
    }

    fn drop_access(&mut self, id: &str) -> Result<Value> {
        let index = self.index(id)?;
        let lease = self.read(id)?;
        let revocation = self.leases.revoke(&lease);
        self.leases.publish();
        let revocation = revocation?;
        self.held[index].credentials = None;
        let outcome = match revocation.outcome {
            RevokeOutcome::Done { .. } => "revoked",
            RevokeOutcome::AlreadyEnded => "already-ended",
            RevokeOutcome::Cancelled => "cancelled",
            RevokeOutcome::Failed { error } => {
                return Err(exit::with_code(
                    6,
                    format!(
                        "revoking lease {id} failed: {error} (it is revoke-failed; `jit sweep` \
                         retries it)"
                    ),
                ));
            }
            other => {
                return Err(anyhow::anyhow!(
                    "lease {id} was not revoked ({other:?}); a person can run `jit revoke {id}`"
                ));
            }
        };
        Ok(json!({ "lease": view(&revocation.lease), "outcome": outcome }))
    }

    /// The session is over: end every lease it created that is still live (a pending one
    /// is cancelled). Exit 6 when one could not be ended.
    pub fn finish(&mut self) -> Exit {
        let mut incomplete = false;
        for held in std::mem::take(&mut self.held) {
            let lease = match self.read(&held.id) {
                Ok(lease) if lease.state.is_final() => continue,
                Ok(lease) => lease,
                Err(err) => {
                    self.ctx
                        .printer
                        .warn(&format!("lease {}: {err:#}", held.id));
                    incomplete = true;
                    continue;
                }
            };
            drop(held.credentials);
            match self.leases.revoke(&lease).map(|r| r.outcome) {
                Ok(RevokeOutcome::Done { .. } | RevokeOutcome::AlreadyEnded) => {
                    self.ctx.printer.note(&format!(
                        "jit: lease {} revoked: the MCP session ended",
                        lease.id
                    ));
                }
                Ok(RevokeOutcome::Cancelled) => {
                    self.ctx.printer.note(&format!(
                        "jit: request {} cancelled: the MCP session ended",
                        lease.id
                    ));
                }
                Ok(RevokeOutcome::Failed { error }) => {
                    self.ctx.printer.warn(&format!(
                        "revoking lease {} failed: {error} (it is revoke-failed; `jit sweep` \
                         retries it)",
                        lease.id
                    ));
                    incomplete = true;
                }
                Ok(other) => {
                    self.ctx.printer.warn(&format!(
                        "lease {} was not revoked ({other:?}); run `jit revoke {}`",
                        lease.id, lease.id
                    ));
                    incomplete = true;
                }
                Err(err) => {
                    self.ctx.printer.warn(&format!(
                        "revoking lease {}: {err:#}; run `jit revoke {}`",
                        lease.id, lease.id
                    ));
                    incomplete = true;
                }
            }
        }
        self.leases.publish();
        if incomplete {
            Exit::RevokeIncomplete
        } else {
            Exit::Success
        }
    }

    fn session(&mut self) -> Result<String> {
        if let Some(id) = &self.id {
            return Ok(id.clone());
        }
        let id = self.leases.session()?;
        self.id = Some(id.clone());
        Ok(id)
    }

    fn index(&self, id: &str) -> Result<usize> {
        self.held
            .iter()
            .position(|held| held.id == id)
            .ok_or_else(|| not_ours(id))
    }

    fn own(&self, id: &str) -> Result<&Held> {
        Ok(&self.held[self.index(id)?])
    }

    /// The lease as the store has it now.
    fn read(&self, id: &str) -> Result<Lease> {
        self.ctx
            .store()
            .lease(id)?
            .ok_or_else(|| anyhow::anyhow!("lease {id} is not in the store"))
    }

    /// What `request_access` and `wait_for_approval` return: the approvers as this
    /// configuration lists them (none where it lacks the role, as a team member's does), and
    /// the credentials only where the lease recorded its role's `reveal = true`.
    fn access(&self, lease: &Lease, granted: bool, credentials: Option<&Credentials>) -> Value {
        let approvers = self
            .ctx
            .config
            .roles
            .get(&lease.role)
            .and_then(|role| role.agent.as_ref())
            .map(|agent| agent.approvals.approvers())
            .unwrap_or_default();
        let mut result = json!({
            "lease": view(lease),
            "status": if granted { "granted" } else { "pending" },
            "approve_with": (!granted).then(|| format!("jit approve {}", lease.id)),
            "approvers": approvers,
        });
        if lease.agent.as_ref().is_some_and(|agent| agent.reveal)
            && let Some(credentials) = credentials
        {
            result["credentials"] = json!(credentials.expose());
        }
        result
    }
}

fn not_ours(id: &str) -> anyhow::Error {
    exit::usage(format!("lease {id} was not requested in this MCP session"))
}

/// A wait that found the request decided otherwise than granted.
fn not_pending(lease: &Lease) -> anyhow::Error {
    match lease.state {
        LeaseState::Denied => exit::denied(format!("lease {} was denied", lease.id)),
        LeaseState::Cancelled => exit::denied(format!("lease {} was cancelled", lease.id)),
        other => exit::denied(format!("lease {} is {other}, not pending", lease.id)),
    }
}

/// A duration argument (`ttl`, `timeout`): absent is `default`.
fn duration_arg(name: &str, text: Option<&str>, default: Duration) -> Result<Duration> {
    match text {
        None => Ok(default),
        Some(text) => crate::duration::parse(text).map_err(|e| exit::usage(format!("{name} {e}"))),
    }
}

/// How many approvals are still needed, and how a person gives one.
pub fn waiting_message(lease: &Lease) -> String {
    let needed = lease
        .approvals_required
        .saturating_sub(approvals_given(lease));
    format!(
        "waiting for {needed} more approval(s): a person approves with `jit approve {}`",
        lease.id
    )
}

fn approvals_given(lease: &Lease) -> u32 {
    let given = lease
        .approvals
        .iter()
        .filter(|a| a.decision == Verdict::Approve)
        .count();
    u32::try_from(given).unwrap_or(u32::MAX)
}

/// LEASE: the tool view of a lease.
pub fn view(lease: &Lease) -> Value {
    let time =
        |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| crate::lease::rfc3339::format(&t));
    json!({
        "id": lease.id,
        "role": lease.role,
        "target": lease.target,
        "state": lease.state.as_str(),
        "ticket": lease.ticket,
        "reason": lease.reason,
        "task": lease.agent.as_ref().map(|agent| &agent.task),
        "created_at": crate::lease::rfc3339::format(&lease.created_at),
        "granted_at": time(lease.granted_at),
        "expires_at": time(lease.expires_at),
        "ended_at": time(lease.ended_at),
        "approvals_required": lease.approvals_required,
        "approvals_given": approvals_given(lease),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::Approval;
    use chrono::{DateTime, Utc};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn lease() -> Lease {
        Lease {
            id: "k3f9x2m7qa".into(),
            role: "db-read".into(),
            target: "orders".into(),
            backend: "postgres".into(),
            subject: "alice".into(),
            requester: "alice".into(),
            state: LeaseState::Pending,
            ticket: None,
            reason: Some("count the accounts".into()),
            created_at: at("2026-01-02T03:04:05Z"),
            granted_at: None,
            expires_at: None,
            ended_at: None,
            approvals: vec![
                Approval {
                    by: "bob".into(),
                    at: at("2026-01-02T03:04:06Z"),
                    decision: Verdict::Approve,
                    reason: None,
                },
                Approval {
                    by: "carol".into(),
                    at: at("2026-01-02T03:04:07Z"),
                    decision: Verdict::Deny,
                    reason: Some("no".into()),
                },
            ],
            break_glass: false,
            last_error: None,
            ttl_secs: 600,
            approvals_required: 2,
            handle: json!({"login": "jit_k3f9x2m7qa"}),
            params: json!({"secret": "never shown"}),
            ending: None,
            worker: None,
            worker_at: None,
            attempts: 0,
            next_attempt_at: None,
            agent: Some(Agent {
                client: "claude-code 2.1.0".into(),
                task: "report the accounts".into(),
                ..Agent::default()
            }),
            agent_session: Some("session-1".into()),
        }
    }

    #[test]
    fn the_tool_view_of_a_lease_is_lease_and_nothing_else() {
        assert_eq!(
            view(&lease()),
            json!({
                "id": "k3f9x2m7qa",
                "role": "db-read",
                "target": "orders",
                "state": "pending",
                "ticket": null,
                "reason": "count the accounts",
                "task": "report the accounts",
                "created_at": "2026-01-02T03:04:05Z",
                "granted_at": null,
                "expires_at": null,
                "ended_at": null,
                "approvals_required": 2,
                "approvals_given": 1,
            })
        );
        // Its fields are exactly those the output schema lists.
        let schema = super::super::tools::lease_schema();
        let mut listed: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        listed.sort_unstable();
        let view = view(&lease());
        let mut keys: Vec<&str> = view
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, listed);
    }

    #[test]
    fn a_wait_says_how_many_approvals_are_needed_and_how_a_person_gives_one() {
        assert_eq!(
            waiting_message(&lease()),
            "waiting for 1 more approval(s): a person approves with `jit approve k3f9x2m7qa`"
        );
    }

    #[test]
    fn a_duration_argument_is_read_as_jit_reads_durations_or_refused_with_exit_2() {
        assert_eq!(
            duration_arg("timeout", None, WAIT_DEFAULT).unwrap(),
            WAIT_DEFAULT
        );
        assert_eq!(
            duration_arg("timeout", Some("90s"), WAIT_DEFAULT).unwrap(),
            Duration::from_secs(90)
        );
        let err = duration_arg("ttl", Some("soon"), WAIT_DEFAULT).unwrap_err();
        assert_eq!(exit::exit_for(&err), Exit::Usage);
        assert!(
            err.to_string()
                .starts_with("ttl \"soon\" is not a duration"),
            "{err}"
        );
    }

    #[test]
    fn a_lease_of_another_session_and_an_ended_wait_are_refused_with_their_codes() {
        let err = not_ours("abc");
        assert_eq!(exit::exit_for(&err), Exit::Usage);
        assert_eq!(
            err.to_string(),
            "lease abc was not requested in this MCP session"
        );
        let mut denied = lease();
        denied.state = LeaseState::Denied;
        let err = not_pending(&denied);
        assert_eq!(exit::exit_for(&err), Exit::Denied);
        assert_eq!(err.to_string(), "lease k3f9x2m7qa was denied");
        denied.state = LeaseState::Cancelled;
        assert_eq!(
            not_pending(&denied).to_string(),
            "lease k3f9x2m7qa was cancelled"
        );
    }
}
