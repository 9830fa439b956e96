//! Leases, their states and the legal transitions between them (SPEC §7).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// What someone asks for.
#[derive(Clone, Debug, Default)]
pub struct RequestInput {
    pub role: String,
    pub ttl: Option<Duration>,
    pub ticket: Option<String>,
    pub reason: Option<String>,
    /// The subject's public key, for backends that certify one (ssh). Not a secret.
    pub public_key: Option<String>,
    /// The team store's queued request this asks for, linked to the lease it creates.
    pub queued_as: Option<i64>,
    /// Asked by an AI agent through `jit mcp`.
    pub agent: Option<Agent>,
    /// The `jit mcp` session the lease is bound to: it ends when the session does.
    pub session: Option<String>,
}

/// An AI agent that asked for a lease through `jit mcp`, as people see it ("via agent
/// CLIENT"): the MCP client's name and version from its `initialize`, and the task it gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub client: String,
    pub task: String,
}

impl Agent {
    /// `via agent CLIENT`, how people see that an agent asked.
    pub fn via(&self) -> String {
        format!("via agent {}", self.client)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LeaseState {
    Pending,
    Granting,
    Active,
    Revoking,
    RevokeFailed,
    Expired,
    Revoked,
    Denied,
    Failed,
    Cancelled,
}

impl LeaseState {
    pub const ALL: [LeaseState; 10] = [
        LeaseState::Pending,
        LeaseState::Granting,
        LeaseState::Active,
        LeaseState::Revoking,
        LeaseState::RevokeFailed,
        LeaseState::Expired,
        LeaseState::Revoked,
        LeaseState::Denied,
        LeaseState::Failed,
        LeaseState::Cancelled,
    ];

    /// The states that are not final: a request waiting, or a lease that may hold the
    /// entitlement.
    pub const LIVE: [LeaseState; 5] = [
        LeaseState::Pending,
        LeaseState::Granting,
        LeaseState::Active,
        LeaseState::Revoking,
        LeaseState::RevokeFailed,
    ];

    /// States in which the target may hold (or be about to hold) the entitlement.
    pub const HOLDING: [LeaseState; 4] = [
        LeaseState::Granting,
        LeaseState::Active,
        LeaseState::Revoking,
        LeaseState::RevokeFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LeaseState::Pending => "pending",
            LeaseState::Granting => "granting",
            LeaseState::Active => "active",
            LeaseState::Revoking => "revoking",
            LeaseState::RevokeFailed => "revoke-failed",
            LeaseState::Expired => "expired",
            LeaseState::Revoked => "revoked",
            LeaseState::Denied => "denied",
            LeaseState::Failed => "failed",
            LeaseState::Cancelled => "cancelled",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            LeaseState::Expired
                | LeaseState::Revoked
                | LeaseState::Denied
                | LeaseState::Failed
                | LeaseState::Cancelled
        )
    }

    /// Is `self -> next` a legal step of the lifecycle?
    pub fn may_become(self, next: LeaseState) -> bool {
        use LeaseState::*;
        matches!(
            (self, next),
            (Pending, Granting | Denied | Cancelled)
                | (Granting, Active | Failed | Revoking | RevokeFailed)
                | (Active, Active | Revoking)
                | (Revoking, Revoked | Expired | Failed | RevokeFailed)
                | (RevokeFailed, Revoking)
        )
    }
}

impl fmt::Display for LeaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LeaseState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        LeaseState::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| {
                let all: Vec<_> = LeaseState::ALL.iter().map(|s| s.as_str()).collect();
                format!(
                    "{} is not a lease state; valid: {}",
                    crate::text::quoted(text),
                    all.join(", ")
                )
            })
    }
}

/// How a lease is meant to end once its revocation completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Dropped by a person (`jit revoke`).
    Revoked,
    /// Past its end (`jit sweep`).
    Expired,
    /// An interrupted or failed grant being cleaned up.
    Failed,
}

impl Ending {
    pub fn state(self) -> LeaseState {
        match self {
            Ending::Revoked => LeaseState::Revoked,
            Ending::Expired => LeaseState::Expired,
            Ending::Failed => LeaseState::Failed,
        }
    }

    pub fn parse(text: &str) -> Option<Ending> {
        match text {
            "revoked" => Some(Ending::Revoked),
            "expired" => Some(Ending::Expired),
            "failed" => Some(Ending::Failed),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Approve,
    Deny,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Deny => "deny",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    pub by: String,
    pub at: DateTime<Utc>,
    pub decision: Verdict,
    pub reason: Option<String>,
}

/// One grant of one role to one subject for one window.
///
/// Serialises to the stable lease JSON of SPEC §4, `output::documents::LeaseDocument` (with
/// `break_glass`, and `last_error` when there is one); the fields after `last_error` are the
/// engine's bookkeeping and stay out of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub id: String,
    pub role: String,
    pub target: String,
    pub backend: String,
    pub subject: String,
    pub requester: String,
    pub state: LeaseState,
    pub ticket: Option<String>,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub granted_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub approvals: Vec<Approval>,
    /// Granted through a break-glass role: self-granted without approval.
    pub break_glass: bool,
    pub last_error: Option<String>,
    /// The granted length, fixed at request time; the window starts when the grant does.
    pub ttl_secs: i64,
    pub approvals_required: u32,
    /// What the backend needs to find the entitlement again. Never a secret.
    pub handle: serde_json::Value,
    /// The role's grant parameters as they were at request time, so that a later change
    /// of configuration cannot strand a live lease. Never a secret.
    pub params: serde_json::Value,
    pub ending: Option<Ending>,
    /// The process working on an in-flight step (`host:pid`), and when it last said so.
    pub worker: Option<String>,
    pub worker_at: Option<DateTime<Utc>>,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Asked for by an AI agent (shown in the lease JSON as `agent`).
    pub agent: Option<Agent>,
    /// The `jit mcp` session whose end ends the lease (see [`crate::engine::Session`]).
    pub agent_session: Option<String>,
}

impl Lease {
    /// Move to `next`, refusing steps the lifecycle does not allow.
    pub fn become_(&mut self, next: LeaseState) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.state.may_become(next),
            "lease {} cannot go from {} to {}",
            self.id,
            self.state,
            next
        );
        self.state = next;
        Ok(())
    }

    /// Process `worker` is working on the lease, as of `now` (see [`Lease::worker`]).
    pub fn claim(&mut self, worker: &str, now: DateTime<Utc>) {
        self.worker = Some(worker.to_owned());
        self.worker_at = Some(now);
    }

    /// No process is working on the lease any more.
    pub fn release(&mut self) {
        self.worker = None;
        self.worker_at = None;
    }

    /// End the lease in `state` at `now`, released.
    pub fn end_in(&mut self, state: LeaseState, now: DateTime<Utc>) -> anyhow::Result<()> {
        self.become_(state)?;
        self.ended_at = Some(now);
        self.release();
        Ok(())
    }

    /// Why a denied request was denied, for the requester.
    pub fn denial(&self) -> String {
        let by = self
            .approvals
            .iter()
            .rev()
            .find(|a| a.decision == Verdict::Deny);
        match by {
            Some(a) => format!(
                "request {} was denied by {}: {}",
                self.id,
                a.by,
                a.reason.as_deref().unwrap_or("no reason given")
            ),
            None => format!("request {} was denied", self.id),
        }
    }

    /// Whom the lease is for, as people read it: `alice`, or `alice via agent CLIENT` for a
    /// lease an AI agent asked for (not escaped: each place that shows it escapes it).
    pub fn subject_words(&self) -> String {
        match &self.agent {
            Some(agent) => format!("{} {}", self.subject, agent.via()),
            None => self.subject.clone(),
        }
    }

    pub fn approvals_given(&self) -> usize {
        self.approvals
            .iter()
            .filter(|a| a.decision == Verdict::Approve)
            .count()
    }
}

/// Backend limits on a lease's length (such as STS: 900 s to 12 h).
#[derive(Clone, Copy, Debug, Default)]
pub struct TtlLimits {
    pub min: Option<Duration>,
    pub max: Option<Duration>,
    /// What `max` is, for the caps a decision lists (default: "backend maximum").
    pub max_source: Option<&'static str>,
}

/// Times as RFC 3339 UTC to the second (`2026-11-22T13:49:30Z`), formatted in one step:
/// listing thousands of leases spends most of its time here otherwise.
pub mod rfc3339 {
    use chrono::{DateTime, Datelike, Timelike, Utc};
    use serde::Serializer;

    pub fn format(time: &DateTime<Utc>) -> String {
        let mut out = [0u8; 20];
        let digits = |out: &mut [u8], mut n: u32| {
            for slot in out.iter_mut().rev() {
                *slot = b'0' + u8::try_from(n % 10).unwrap_or(0);
                n /= 10;
            }
        };
        let year = u32::try_from(time.year()).unwrap_or(0).min(9999);
        digits(&mut out[0..4], year);
        out[4] = b'-';
        digits(&mut out[5..7], time.month());
        out[7] = b'-';
        digits(&mut out[8..10], time.day());
        out[10] = b'T';
        digits(&mut out[11..13], time.hour());
        out[13] = b':';
        digits(&mut out[14..16], time.minute());
        out[16] = b':';
        digits(&mut out[17..19], time.second());
        out[19] = b'Z';
        out.iter().map(|&b| char::from(b)).collect()
    }

    pub fn one<S: Serializer>(time: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(time))
    }

    pub fn maybe<S: Serializer>(time: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => one(time, s),
            None => s.serialize_none(),
        }
    }
}

/// Lease ids: 10 characters of lowercase letters and digits.
pub fn new_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

pub fn is_valid_id(text: &str) -> bool {
    text.len() == 10
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {

    #[test]
    fn live_is_every_state_that_is_not_final() {
        let live: Vec<LeaseState> = LeaseState::ALL
            .into_iter()
            .filter(|s| !s.is_final())
            .collect();
        assert_eq!(live, LeaseState::LIVE);
        assert!(
            LeaseState::HOLDING
                .iter()
                .all(|s| LeaseState::LIVE.contains(s))
        );
    }

    use super::*;

    #[test]
    fn states_round_trip() {
        for state in LeaseState::ALL {
            assert_eq!(state.as_str().parse::<LeaseState>(), Ok(state));
        }
        assert!("approved".parse::<LeaseState>().is_err());
    }

    #[test]
    fn final_states_go_nowhere() {
        for from in LeaseState::ALL.into_iter().filter(|s| s.is_final()) {
            for to in LeaseState::ALL {
                assert!(!from.may_become(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn times_format_as_rfc3339_seconds() {
        let time = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(rfc3339::format(&time), "2026-01-02T03:04:05Z");
        assert_eq!(
            rfc3339::format(&time),
            time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
    }

    #[test]
    fn ids_are_valid() {
        let id = new_id();
        assert!(is_valid_id(&id), "{id}");
        assert_ne!(new_id(), id);
        assert!(!is_valid_id("abc'; drop"));
    }
}
