//! The `--json` documents, one type each, with the field names scripts rely on (SPEC §4 for
//! the lease; docs/json.md lists every document, and tests/it/json_contract.rs runs each
//! command against that list).
//!
//! Field order is part of what was released and is kept as printed: the lease document
//! (stored with each lease and copied out by `jit list --json`) keeps the order of SPEC §4;
//! the documents that add to a lease ([`LeaseReport`]) and the summaries have their keys in
//! alphabetical order, so their fields are declared in that order. A field that may be
//! missing says so with `skip_serializing_if`; every other `Option` is printed as `null`.
//!
//! The audit records of `jit audit --json` are [`crate::audit::AuditEvent`], the record as
//! stored and exported (SPEC §8); the events inside a lease report are [`ReportEvent`].

use crate::audit::AuditEvent;
use crate::lease::{self, LeaseState, Verdict, rfc3339};
use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

/// A lease (SPEC §4): `jit list --json` (an array of them), `jit extend`, `jit approve`,
/// `jit deny`; and the document the store keeps with each lease.
#[derive(Serialize)]
pub struct LeaseDocument<'a> {
    pub id: &'a str,
    pub role: &'a str,
    pub target: &'a str,
    pub backend: &'a str,
    pub subject: &'a str,
    pub requester: &'a str,
    pub state: LeaseState,
    pub ticket: Option<&'a str>,
    pub reason: Option<&'a str>,
    #[serde(serialize_with = "rfc3339::one")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339::maybe")]
    pub granted_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rfc3339::maybe")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rfc3339::maybe")]
    pub ended_at: Option<DateTime<Utc>>,
    pub approvals: Vec<Approval<'a>>,
    pub break_glass: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<&'a str>,
    /// Asked for by an AI agent through `jit mcp`: its client and task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<&'a lease::Agent>,
}

/// One decision on a lease, inside [`LeaseDocument`].
#[derive(Serialize)]
pub struct Approval<'a> {
    pub by: &'a str,
    #[serde(serialize_with = "rfc3339::one")]
    pub at: DateTime<Utc>,
    pub decision: Verdict,
    pub reason: Option<&'a str>,
}

impl<'a> From<&'a lease::Lease> for LeaseDocument<'a> {
    fn from(lease: &'a lease::Lease) -> Self {
        LeaseDocument {
            id: &lease.id,
            role: &lease.role,
            target: &lease.target,
            backend: &lease.backend,
            subject: &lease.subject,
            requester: &lease.requester,
            state: lease.state,
            ticket: lease.ticket.as_deref(),
            reason: lease.reason.as_deref(),
            created_at: lease.created_at,
            granted_at: lease.granted_at,
            expires_at: lease.expires_at,
            ended_at: lease.ended_at,
            approvals: lease
                .approvals
                .iter()
                .map(|a| Approval {
                    by: &a.by,
                    at: a.at,
                    decision: a.decision,
                    reason: a.reason.as_deref(),
                })
                .collect(),
            break_glass: lease.break_glass,
            last_error: lease.last_error.as_deref(),
            agent: lease.agent.as_ref(),
        }
    }
}

/// A lease serialises as its document: what the stores keep in their `document` column.
impl Serialize for lease::Lease {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        LeaseDocument::from(self).serialize(s)
    }
}

/// A lease with what one command adds to it, keys in alphabetical order:
/// `jit request` (granted: `credentials`; pending: `notice`), `jit exec` when the request is
/// left pending, `jit show` (`events`), `jit revoke` (an array: `outcome`, and `events` unless
/// they were exported).
#[derive(Serialize)]
pub struct LeaseReport<'a> {
    pub approvals: Vec<ReportApproval<'a>>,
    pub backend: &'a str,
    pub break_glass: bool,
    #[serde(serialize_with = "rfc3339::one")]
    pub created_at: DateTime<Utc>,
    /// Only on `jit request`, only when the backend issued some.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<&'a BTreeMap<String, String>>,
    #[serde(serialize_with = "rfc3339::maybe")]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<ReportEvent<'a>>>,
    #[serde(serialize_with = "rfc3339::maybe")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rfc3339::maybe")]
    pub granted_at: Option<DateTime<Utc>>,
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<&'a str>,
    /// Only on a pending request whose credentials will never be shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<&'a str>,
    /// Only on `jit revoke`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    pub reason: Option<&'a str>,
    pub requester: &'a str,
    pub role: &'a str,
    pub state: LeaseState,
    pub subject: &'a str,
    pub target: &'a str,
    pub ticket: Option<&'a str>,
}

/// One decision on a lease, inside [`LeaseReport`].
#[derive(Serialize)]
pub struct ReportApproval<'a> {
    #[serde(serialize_with = "rfc3339::one")]
    pub at: DateTime<Utc>,
    pub by: &'a str,
    pub decision: Verdict,
    pub reason: Option<&'a str>,
}

/// One audit record, inside [`LeaseReport`].
#[derive(Serialize)]
pub struct ReportEvent<'a> {
    pub actor: &'a str,
    pub at: &'a str,
    pub details: &'a serde_json::Value,
    pub hash: &'a str,
    pub kind: &'a str,
    pub lease_id: Option<&'a str>,
    pub prev_hash: &'a str,
    pub seq: i64,
}

impl<'a> From<&'a AuditEvent> for ReportEvent<'a> {
    fn from(event: &'a AuditEvent) -> Self {
        ReportEvent {
            actor: &event.actor,
            at: &event.at,
            details: &event.details,
            hash: &event.hash,
            kind: &event.kind,
            lease_id: event.lease_id.as_deref(),
            prev_hash: &event.prev_hash,
            seq: event.seq,
        }
    }
}

impl<'a> LeaseReport<'a> {
    /// The lease alone; the constructors below add what their command shows.
    pub fn of(lease: &'a lease::Lease) -> Self {
        LeaseReport {
            approvals: lease
                .approvals
                .iter()
                .map(|a| ReportApproval {
                    at: a.at,
                    by: &a.by,
                    decision: a.decision,
                    reason: a.reason.as_deref(),
                })
                .collect(),
            backend: &lease.backend,
            break_glass: lease.break_glass,
            created_at: lease.created_at,
            credentials: None,
            ended_at: lease.ended_at,
            events: None,
            expires_at: lease.expires_at,
            granted_at: lease.granted_at,
            id: &lease.id,
            last_error: lease.last_error.as_deref(),
            notice: None,
            outcome: None,
            reason: lease.reason.as_deref(),
            requester: &lease.requester,
            role: &lease.role,
            state: lease.state,
            subject: &lease.subject,
            target: &lease.target,
            ticket: lease.ticket.as_deref(),
        }
    }

    /// `jit request`, granted.
    pub fn granted(
        lease: &'a lease::Lease,
        credentials: Option<&'a BTreeMap<String, String>>,
    ) -> Self {
        LeaseReport {
            credentials,
            ..LeaseReport::of(lease)
        }
    }

    /// `jit request` (and `jit exec`), pending.
    pub fn pending(lease: &'a lease::Lease, notice: Option<&'a str>) -> Self {
        LeaseReport {
            notice,
            ..LeaseReport::of(lease)
        }
    }

    /// `jit show`.
    pub fn detail(lease: &'a lease::Lease, events: &'a [AuditEvent]) -> Self {
        LeaseReport {
            events: Some(events.iter().map(ReportEvent::from).collect()),
            ..LeaseReport::of(lease)
        }
    }

    /// One lease of `jit revoke`; `events` is `None` when they were exported to a file.
    pub fn revocation(
        lease: &'a lease::Lease,
        outcome: &'static str,
        events: Option<&'a [AuditEvent]>,
    ) -> Self {
        LeaseReport {
            outcome: Some(outcome),
            events: events.map(|events| events.iter().map(ReportEvent::from).collect()),
            ..LeaseReport::of(lease)
        }
    }
}

/// `jit request --dry-run`: the decision and the window, with every cap that applied.
#[derive(Serialize)]
pub struct DryRun<'a> {
    pub approval_timeout: Option<String>,
    pub approvals_required: u32,
    pub approvers: &'a [String],
    pub backend: &'a str,
    pub break_glass: bool,
    pub caps: Vec<Cap<'a>>,
    pub conditions: Vec<Condition<'a>>,
    /// `grant` or `pending-approval`.
    pub decision: &'static str,
    pub expires_at: DateTime<Utc>,
    pub role: &'a str,
    pub starts_at: DateTime<Utc>,
    pub target: &'a str,
    pub ticket_status: Option<&'a str>,
    pub ttl: String,
    pub ttl_source: &'a str,
}

/// One limit on a lease's length, inside [`DryRun`].
#[derive(Serialize)]
pub struct Cap<'a> {
    pub limit: String,
    pub source: &'a str,
}

/// One condition that applies to a request, inside [`DryRun`].
#[derive(Serialize)]
pub struct Condition<'a> {
    pub condition: &'a str,
    pub exempt: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// `window`, `max_active`, `expires` or `conflicts`.
    pub kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<usize>,
    pub met: bool,
    pub now: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<&'a [String]>,
    pub rule: &'a str,
}

impl<'a> From<&'a crate::policy::Condition> for Condition<'a> {
    fn from(c: &'a crate::policy::Condition) -> Self {
        Condition {
            condition: &c.condition,
            exempt: c.exempt,
            expires_at: c.expires_at,
            kind: c.kind,
            limit: c.limit,
            live: c.live,
            met: c.met,
            now: &c.now,
            roles: (c.kind == "conflicts").then_some(c.roles.as_slice()),
            rule: &c.rule,
        }
    }
}

/// One role of `jit roles` (an array of them).
#[derive(Serialize)]
pub struct RoleEntry<'a> {
    pub approval_timeout: Option<String>,
    pub approvals_required: u32,
    pub approvers: Vec<String>,
    pub backend: &'a str,
    pub break_glass: bool,
    pub default_ttl: Option<String>,
    pub description: Option<&'a str>,
    pub max_ttl: String,
    pub role: &'a str,
    pub target: &'a str,
    pub ticket_pattern: Option<&'a str>,
    pub ticket_required: bool,
}

/// `jit sweep`, and the sweep part of `jit worker`.
#[derive(Serialize)]
pub struct Sweep<'a> {
    /// Ids of the pending requests cancelled (not decided in time).
    pub cancelled: Vec<&'a str>,
    pub errors: Vec<SweepError<'a>>,
    /// Revocations not achieved: failed in this pass or still waiting for their retry.
    pub incomplete: usize,
    pub revocations: Vec<SweepRevocation<'a>>,
    /// Active leases brought to an earlier end because a cap on them was lowered (left out
    /// when there are none, as before there were any).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shortened: Vec<SweepShortening<'a>>,
    pub waiting: Vec<SweepWaiting<'a>>,
}

#[derive(Serialize)]
pub struct SweepShortening<'a> {
    pub cause: &'a str,
    pub from: Option<DateTime<Utc>>,
    pub id: &'a str,
    pub to: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
pub struct SweepError<'a> {
    pub error: &'a str,
    pub id: &'a str,
}

#[derive(Serialize)]
pub struct SweepRevocation<'a> {
    /// Why the re-evaluation of live leases revoked it (left out for an expiry or a retry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<&'a str>,
    pub error: Option<&'a str>,
    pub id: &'a str,
    pub outcome: &'static str,
    pub state: LeaseState,
}

/// A `revoke-failed` lease whose next attempt is not due yet.
#[derive(Serialize)]
pub struct SweepWaiting<'a> {
    pub attempts: u32,
    pub error: Option<&'a str>,
    pub id: &'a str,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub state: LeaseState,
}

/// `jit worker`: the team requests one pass carried out (printed when there were some).
#[derive(Serialize)]
pub struct WorkerPass<'a> {
    pub requests: Vec<WorkedRequest<'a>>,
}

#[derive(Serialize)]
pub struct WorkedRequest<'a> {
    pub by: &'a str,
    pub kind: &'a str,
    pub outcome: &'a str,
    pub request: i64,
}

/// `jit audit ship`.
#[derive(Serialize)]
pub struct Shipping<'a> {
    pub destinations: Vec<ShippedTo<'a>>,
}

#[derive(Serialize)]
pub struct ShippedTo<'a> {
    pub destination: &'a str,
    pub error: Option<&'a str>,
    pub last_seq: i64,
    pub sent: usize,
    pub through: i64,
}

/// `jit audit verify`, the chain intact.
#[derive(Serialize)]
pub struct Verified<'a> {
    /// `SEQ:HASH` of the head; `null` for an empty chain.
    pub checkpoint: Option<String>,
    pub head_hash: &'a str,
    pub head_seq: i64,
    pub kept_checkpoint: Option<String>,
    pub ok: bool,
    pub records: u64,
}

/// `jit audit verify`, the chain broken (exit 1).
#[derive(Serialize)]
pub struct Broken {
    pub error: String,
    pub ok: bool,
}

/// `jit config check`.
#[derive(Serialize)]
pub struct ConfigChecked<'a> {
    pub eligibility: usize,
    pub ok: bool,
    pub path: &'a str,
    pub roles: usize,
    pub targets: usize,
}

/// `jit config check --live`: what the next sweep would do to the live leases.
#[derive(Serialize)]
pub struct LiveCheck<'a> {
    pub changes: Vec<LiveChange<'a>>,
    pub eligibility: usize,
    pub errors: Vec<SweepError<'a>>,
    pub leases: usize,
    pub ok: bool,
    pub path: &'a str,
    pub roles: usize,
    pub subjects: usize,
    pub targets: usize,
}

/// One live lease the next sweep would revoke, shorten or cancel.
#[derive(Serialize)]
pub struct LiveChange<'a> {
    pub action: &'static str,
    pub cause: &'a str,
    pub check: &'static str,
    pub expires_at: Option<DateTime<Utc>>,
    pub id: &'a str,
    pub role: &'a str,
    pub rule: Option<&'a str>,
    pub state: LeaseState,
    pub subject: &'a str,
    /// The new end, for `shorten`.
    pub to: Option<DateTime<Utc>>,
}

/// `jit doctor`.
#[derive(Serialize)]
pub struct Doctor<'a> {
    pub checks: Vec<DoctorCheck<'a>>,
    pub ok: bool,
}

#[derive(Serialize)]
pub struct DoctorCheck<'a> {
    pub detail: &'a str,
    pub name: &'a str,
    pub ok: bool,
}

/// `jit init`, `jit store init`, `jit secret set|delete`: what was done, in words.
#[derive(Serialize)]
pub struct Done<'a> {
    pub message: &'a str,
    pub ok: bool,
}

/// `jit credential-process`: the document an AWS `credential_process` program prints
/// (version 1, the AWS field names). Holds secrets: built inside a [`crate::secret::Secret`]
/// and printed, never logged.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessCredentials {
    pub access_key_id: String,
    /// RFC 3339 UTC to the second.
    pub expiration: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub version: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::{Approval as LeaseApproval, Lease};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn json<T: Serialize>(value: &T) -> String {
        serde_json::to_string(value).unwrap()
    }

    fn lease() -> Lease {
        Lease {
            id: "abcdefgh23".into(),
            role: "db-admin".into(),
            target: "prod-db".into(),
            backend: "postgres".into(),
            subject: "alice".into(),
            requester: "alice".into(),
            state: LeaseState::Active,
            ticket: Some("CHG-1".into()),
            reason: None,
            created_at: at("2026-01-02T03:04:05Z"),
            granted_at: Some(at("2026-01-02T03:04:06Z")),
            expires_at: Some(at("2026-01-02T04:04:06Z")),
            ended_at: None,
            approvals: vec![LeaseApproval {
                by: "bob".into(),
                at: at("2026-01-02T03:04:06Z"),
                decision: Verdict::Approve,
                reason: Some("on call".into()),
            }],
            break_glass: false,
            last_error: None,
            ttl_secs: 3600,
            approvals_required: 1,
            handle: serde_json::json!({"user": "jit_abcdefgh23"}),
            params: serde_json::json!({"mode": "ephemeral"}),
            ending: None,
            worker: Some("host:1".into()),
            worker_at: None,
            attempts: 0,
            next_attempt_at: None,
            agent: None,
            agent_session: None,
        }
    }

    fn event() -> AuditEvent {
        AuditEvent {
            seq: 1,
            at: "2026-01-02T03:04:05Z".into(),
            actor: "alice".into(),
            lease_id: Some("abcdefgh23".into()),
            kind: "requested".into(),
            details: serde_json::json!({"ttl": "1h"}),
            prev_hash: "0".repeat(64),
            hash: "f".repeat(64),
        }
    }

    const LEASE: &str = r#""id":"abcdefgh23","role":"db-admin","target":"prod-db","backend":"postgres","subject":"alice","requester":"alice","state":"active","ticket":"CHG-1","reason":null,"created_at":"2026-01-02T03:04:05Z","granted_at":"2026-01-02T03:04:06Z","expires_at":"2026-01-02T04:04:06Z","ended_at":null,"approvals":[{"by":"bob","at":"2026-01-02T03:04:06Z","decision":"approve","reason":"on call"}],"break_glass":false"#;

    #[test]
    fn a_lease_is_its_document_without_the_bookkeeping() {
        let mut lease = lease();
        assert_eq!(json(&LeaseDocument::from(&lease)), format!("{{{LEASE}}}"));
        assert_eq!(json(&lease), format!("{{{LEASE}}}"));
        lease.last_error = Some("down".into());
        assert_eq!(json(&lease), format!(r#"{{{LEASE},"last_error":"down"}}"#));
    }

    const REPORT_HEAD: &str = r#""approvals":[{"at":"2026-01-02T03:04:06Z","by":"bob","decision":"approve","reason":"on call"}],"backend":"postgres","break_glass":false,"created_at":"2026-01-02T03:04:05Z""#;
    const REPORT_TIMES: &str = r#""expires_at":"2026-01-02T04:04:06Z","granted_at":"2026-01-02T03:04:06Z","id":"abcdefgh23""#;
    const REPORT_TAIL: &str = r#""reason":null,"requester":"alice","role":"db-admin","state":"active","subject":"alice","target":"prod-db","ticket":"CHG-1""#;

    #[test]
    fn a_granted_request_adds_its_credentials_in_order() {
        let lease = lease();
        let credentials = BTreeMap::from([("TOKEN".to_owned(), "tok".to_owned())]);
        assert_eq!(
            json(&LeaseReport::granted(&lease, Some(&credentials))),
            format!(
                r#"{{{REPORT_HEAD},"credentials":{{"TOKEN":"tok"}},"ended_at":null,{REPORT_TIMES},{REPORT_TAIL}}}"#
            )
        );
        assert_eq!(
            json(&LeaseReport::granted(&lease, None)),
            format!(r#"{{{REPORT_HEAD},"ended_at":null,{REPORT_TIMES},{REPORT_TAIL}}}"#)
        );
    }

    #[test]
    fn a_pending_request_may_carry_a_notice() {
        let lease = lease();
        assert_eq!(
            json(&LeaseReport::pending(&lease, Some("never shown"))),
            format!(
                r#"{{{REPORT_HEAD},"ended_at":null,{REPORT_TIMES},"notice":"never shown",{REPORT_TAIL}}}"#
            )
        );
    }

    const EVENT: &str = r#"{"actor":"alice","at":"2026-01-02T03:04:05Z","details":{"ttl":"1h"},"hash":"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff","kind":"requested","lease_id":"abcdefgh23","prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","seq":1}"#;

    #[test]
    fn a_shown_lease_has_its_events_with_sorted_keys() {
        let lease = lease();
        let events = [event()];
        assert_eq!(
            json(&LeaseReport::detail(&lease, &events)),
            format!(
                r#"{{{REPORT_HEAD},"ended_at":null,"events":[{EVENT}],{REPORT_TIMES},{REPORT_TAIL}}}"#
            )
        );
    }

    #[test]
    fn a_revocation_has_its_outcome_and_events_unless_exported() {
        let mut lease = lease();
        lease.last_error = Some("down".into());
        let events = [event()];
        assert_eq!(
            json(&LeaseReport::revocation(
                &lease,
                "revoke-failed",
                Some(&events)
            )),
            format!(
                r#"{{{REPORT_HEAD},"ended_at":null,"events":[{EVENT}],{REPORT_TIMES},"last_error":"down","outcome":"revoke-failed",{REPORT_TAIL}}}"#
            )
        );
        assert_eq!(
            json(&LeaseReport::revocation(&lease, "revoked", None)),
            format!(
                r#"{{{REPORT_HEAD},"ended_at":null,{REPORT_TIMES},"last_error":"down","outcome":"revoked",{REPORT_TAIL}}}"#
            )
        );
    }

    #[test]
    fn a_dry_run_lists_its_caps() {
        let approvers = vec!["group:dba".to_owned()];
        let doc = DryRun {
            approval_timeout: Some("1d".into()),
            approvals_required: 1,
            approvers: &approvers,
            backend: "postgres",
            break_glass: false,
            caps: vec![Cap {
                limit: "2h".into(),
                source: "role max_ttl",
            }],
            conditions: vec![Condition {
                condition: "at most 2 live leases of the role",
                exempt: false,
                expires_at: None,
                kind: "max_active",
                limit: Some(2),
                live: Some(1),
                met: true,
                now: "1 live",
                roles: None,
                rule: "roles.db-admin.max_active",
            }],
            decision: "pending-approval",
            expires_at: at("2026-01-02T04:04:05Z"),
            role: "db-admin",
            starts_at: at("2026-01-02T03:04:05Z"),
            target: "prod-db",
            ticket_status: None,
            ttl: "1h".into(),
            ttl_source: "requested",
        };
        assert_eq!(
            json(&doc),
            r#"{"approval_timeout":"1d","approvals_required":1,"approvers":["group:dba"],"backend":"postgres","break_glass":false,"caps":[{"limit":"2h","source":"role max_ttl"}],"conditions":[{"condition":"at most 2 live leases of the role","exempt":false,"kind":"max_active","limit":2,"live":1,"met":true,"now":"1 live","rule":"roles.db-admin.max_active"}],"decision":"pending-approval","expires_at":"2026-01-02T04:04:05Z","role":"db-admin","starts_at":"2026-01-02T03:04:05Z","target":"prod-db","ticket_status":null,"ttl":"1h","ttl_source":"requested"}"#
        );
    }

    #[test]
    fn a_role_entry() {
        let doc = RoleEntry {
            approval_timeout: None,
            approvals_required: 0,
            approvers: vec![],
            backend: "command",
            break_glass: false,
            default_ttl: Some("30m".into()),
            description: None,
            max_ttl: "1h".into(),
            role: "web-root",
            target: "files",
            ticket_pattern: Some("^CHG-[0-9]+$"),
            ticket_required: true,
        };
        assert_eq!(
            json(&doc),
            r#"{"approval_timeout":null,"approvals_required":0,"approvers":[],"backend":"command","break_glass":false,"default_ttl":"30m","description":null,"max_ttl":"1h","role":"web-root","target":"files","ticket_pattern":"^CHG-[0-9]+$","ticket_required":true}"#
        );
    }

    #[test]
    fn a_sweep_report() {
        let doc = Sweep {
            cancelled: vec!["bbbbbbbbbb"],
            errors: vec![SweepError {
                error: "store down",
                id: "cccccccccc",
            }],
            incomplete: 1,
            revocations: vec![SweepRevocation {
                cause: None,
                error: None,
                id: "aaaaaaaaaa",
                outcome: "revoked",
                state: LeaseState::Expired,
            }],
            shortened: Vec::new(),
            waiting: vec![SweepWaiting {
                attempts: 2,
                error: Some("unreachable"),
                id: "dddddddddd",
                next_attempt_at: Some(at("2026-01-02T03:05:05Z")),
                state: LeaseState::RevokeFailed,
            }],
        };
        assert_eq!(
            json(&doc),
            r#"{"cancelled":["bbbbbbbbbb"],"errors":[{"error":"store down","id":"cccccccccc"}],"incomplete":1,"revocations":[{"error":null,"id":"aaaaaaaaaa","outcome":"revoked","state":"expired"}],"waiting":[{"attempts":2,"error":"unreachable","id":"dddddddddd","next_attempt_at":"2026-01-02T03:05:05Z","state":"revoke-failed"}]}"#
        );
    }

    #[test]
    fn a_sweep_report_of_the_re_evaluation() {
        let doc = Sweep {
            cancelled: Vec::new(),
            errors: Vec::new(),
            incomplete: 0,
            revocations: vec![SweepRevocation {
                cause: Some("bob is no longer eligible"),
                error: None,
                id: "aaaaaaaaaa",
                outcome: "revoked",
                state: LeaseState::Revoked,
            }],
            shortened: vec![SweepShortening {
                cause: "roles.db.max_ttl is now 30m",
                from: Some(at("2026-01-02T04:00:00Z")),
                id: "bbbbbbbbbb",
                to: Some(at("2026-01-02T03:30:00Z")),
            }],
            waiting: Vec::new(),
        };
        assert_eq!(
            json(&doc),
            r#"{"cancelled":[],"errors":[],"incomplete":0,"revocations":[{"cause":"bob is no longer eligible","error":null,"id":"aaaaaaaaaa","outcome":"revoked","state":"revoked"}],"shortened":[{"cause":"roles.db.max_ttl is now 30m","from":"2026-01-02T04:00:00Z","id":"bbbbbbbbbb","to":"2026-01-02T03:30:00Z"}],"waiting":[]}"#
        );
    }

    #[test]
    fn a_worker_pass_and_a_shipping_run() {
        let pass = WorkerPass {
            requests: vec![WorkedRequest {
                by: "alice",
                kind: "request",
                outcome: "granted abcdefgh23",
                request: 7,
            }],
        };
        assert_eq!(
            json(&pass),
            r#"{"requests":[{"by":"alice","kind":"request","outcome":"granted abcdefgh23","request":7}]}"#
        );
        let shipping = Shipping {
            destinations: vec![ShippedTo {
                destination: "siem",
                error: None,
                last_seq: 9,
                sent: 3,
                through: 9,
            }],
        };
        assert_eq!(
            json(&shipping),
            r#"{"destinations":[{"destination":"siem","error":null,"last_seq":9,"sent":3,"through":9}]}"#
        );
    }

    #[test]
    fn verify_intact_and_broken() {
        let doc = Verified {
            checkpoint: Some("5:abc".into()),
            head_hash: "abc",
            head_seq: 5,
            kept_checkpoint: None,
            ok: true,
            records: 5,
        };
        assert_eq!(
            json(&doc),
            r#"{"checkpoint":"5:abc","head_hash":"abc","head_seq":5,"kept_checkpoint":null,"ok":true,"records":5}"#
        );
        let doc = Broken {
            error: "record 3 is missing".into(),
            ok: false,
        };
        assert_eq!(json(&doc), r#"{"error":"record 3 is missing","ok":false}"#);
    }

    #[test]
    fn config_doctor_and_done() {
        let doc = ConfigChecked {
            eligibility: 1,
            ok: true,
            path: "/etc/jit.toml",
            roles: 2,
            targets: 3,
        };
        assert_eq!(
            json(&doc),
            r#"{"eligibility":1,"ok":true,"path":"/etc/jit.toml","roles":2,"targets":3}"#
        );
        let doc = Doctor {
            checks: vec![DoctorCheck {
                detail: "reachable",
                name: "target files",
                ok: true,
            }],
            ok: true,
        };
        assert_eq!(
            json(&doc),
            r#"{"checks":[{"detail":"reachable","name":"target files","ok":true}],"ok":true}"#
        );
        let doc = Done {
            message: "stored keyring:x",
            ok: true,
        };
        assert_eq!(json(&doc), r#"{"message":"stored keyring:x","ok":true}"#);
    }

    #[test]
    fn process_credentials_use_the_aws_names() {
        let doc = ProcessCredentials {
            access_key_id: "AKIA".into(),
            expiration: "2026-01-02T04:04:06Z".into(),
            secret_access_key: "s".into(),
            session_token: "t".into(),
            version: 1,
        };
        assert_eq!(
            json(&doc),
            r#"{"AccessKeyId":"AKIA","Expiration":"2026-01-02T04:04:06Z","SecretAccessKey":"s","SessionToken":"t","Version":1}"#
        );
    }
}

/// `jit discover`.
#[derive(Serialize)]
pub struct Discovery<'a> {
    /// `(target, error)`: targets that could not be asked.
    pub errors: Vec<TargetText<'a>>,
    pub findings: Vec<DiscoveryFinding<'a>>,
    pub notes: Vec<TargetText<'a>>,
}

#[derive(Serialize)]
pub struct TargetText<'a> {
    pub target: &'a str,
    pub text: &'a str,
}

#[derive(Serialize)]
pub struct DiscoveryFinding<'a> {
    pub action: &'a str,
    pub backend: &'a str,
    pub entitlement: &'a str,
    pub holder: &'a str,
    pub id: &'a str,
    pub kind: &'a str,
    pub removable: bool,
    pub role: Option<&'a str>,
    #[serde(serialize_with = "rfc3339::maybe")]
    pub since: Option<DateTime<Utc>>,
    pub subject: Option<&'a str>,
    pub target: &'a str,
}

/// `jit discover --adopt`.
#[derive(Serialize)]
pub struct Adoption<'a> {
    /// The `[[eligibility]]` rule that makes the holder eligible for the role instead (TOML),
    /// or null when the finding was a leftover, or names no role or subject.
    pub eligibility: Option<String>,
    pub finding: DiscoveryFinding<'a>,
    pub removed: bool,
}
