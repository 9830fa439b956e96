//! What each audit event of a lease says, as types: the kind of an event follows from its
//! details, so that the two cannot disagree, and every field is named once. They serialise
//! to the `details` object of the audit record (SPEC §8); an absent optional field is left
//! out rather than written as null only where it always was.

use crate::audit::EventKind;
use crate::policy::Cap;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// The details of one kind of audit event.
pub trait Details: Serialize {
    fn kind(&self) -> EventKind;
}

/// What an event should also say, key by key (why a lease was ended, what was found).
pub type Notes = serde_json::Map<String, Value>;

fn is_false(value: &bool) -> bool {
    !*value
}

#[derive(Serialize)]
pub struct Requested<'a> {
    pub role: &'a str,
    pub target: &'a str,
    pub backend: &'a str,
    pub ttl: String,
    pub ttl_source: &'a str,
    pub caps: &'a [Cap],
    pub ticket: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub approvals_required: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_status: Option<&'a str>,
    #[serde(skip_serializing_if = "is_false")]
    pub break_glass: bool,
    /// Asked by an AI agent through `jit mcp`: its client and task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<&'a crate::lease::Agent>,
}

impl Details for Requested<'_> {
    fn kind(&self) -> EventKind {
        EventKind::Requested
    }
}

/// A request refused because of its ticket's status in the ticketing system.
#[derive(Serialize)]
pub struct TicketDenied<'a> {
    pub role: &'a str,
    pub subject: &'a str,
    pub ticket: &'a str,
    pub ticket_status: Option<&'a str>,
    pub reason: &'a str,
}

impl Details for TicketDenied<'_> {
    fn kind(&self) -> EventKind {
        EventKind::Denied
    }
}

/// A request, approval or extension refused by a policy rule (a `[[conflicts]]` rule, say).
#[derive(Serialize)]
pub struct PolicyDenied<'a> {
    pub role: &'a str,
    pub subject: &'a str,
    /// Who was refused: the requester, or the approver.
    pub by: &'a str,
    pub rule: &'a str,
    pub reason: &'a str,
}

impl Details for PolicyDenied<'_> {
    fn kind(&self) -> EventKind {
        EventKind::Denied
    }
}

#[derive(Serialize)]
pub struct Approved<'a> {
    pub by: &'a str,
    pub reason: Option<&'a str>,
    pub approvals: u32,
    pub required: u32,
}

impl Details for Approved<'_> {
    fn kind(&self) -> EventKind {
        EventKind::Approved
    }
}

/// A request denied by an approver.
#[derive(Serialize)]
pub struct Denied<'a> {
    pub by: &'a str,
    pub reason: Option<&'a str>,
}

impl Details for Denied<'_> {
    fn kind(&self) -> EventKind {
        EventKind::Denied
    }
}

#[derive(Serialize)]
pub struct Cancelled {
    pub reason: String,
}

impl Details for Cancelled {
    fn kind(&self) -> EventKind {
        EventKind::Cancelled
    }
}

/// A pending request cancelled by the sweeper because the rules no longer allow it.
#[derive(Serialize)]
pub struct Unallowed<'a> {
    pub reason: &'a str,
    pub recheck: &'a str,
    pub rule: Option<&'a str>,
}

impl Details for Unallowed<'_> {
    fn kind(&self) -> EventKind {
        EventKind::Cancelled
    }
}

#[derive(Serialize)]
pub struct Granted {
    pub expires_at: Option<DateTime<Utc>>,
    /// The end set on the target: the latest among the leases the entitlement covers.
    pub target_expires_at: DateTime<Utc>,
    pub native_expiry: Option<DateTime<Utc>>,
    pub credentials_issued: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub break_glass: bool,
}

impl Details for Granted {
    fn kind(&self) -> EventKind {
        EventKind::Granted
    }
}

#[derive(Serialize)]
pub struct GrantFailed<'a> {
    pub error: &'a str,
    /// Taking back what the failed grant may have left failed too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleanup_error: Option<&'a str>,
}

impl Details for GrantFailed<'_> {
    fn kind(&self) -> EventKind {
        EventKind::GrantFailed
    }
}

#[derive(Serialize)]
pub struct Extended<'a> {
    pub from: Option<DateTime<Utc>>,
    pub to: DateTime<Utc>,
    pub ttl: String,
    pub caps: &'a [Cap],
}

impl Details for Extended<'_> {
    fn kind(&self) -> EventKind {
        EventKind::Extended
    }
}

/// A lease's end brought earlier by the sweeper, because a cap on it is now shorter than its
/// window (`shortened` tells it from an extension).
#[derive(Serialize)]
pub struct Shortened<'a> {
    pub from: Option<DateTime<Utc>>,
    pub to: DateTime<Utc>,
    pub ttl: String,
    pub shortened: bool,
    pub cause: &'a str,
    pub recheck: &'a str,
    pub rule: Option<&'a str>,
    /// The target's own end could not be moved (the sweeper ends the lease at `to`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_error: Option<&'a str>,
}

impl Details for Shortened<'_> {
    fn kind(&self) -> EventKind {
        EventKind::Extended
    }
}

/// A lease ended at the target: `revoked`, `expired`, or `reconciled` (an interrupted or
/// failed grant cleaned up).
#[derive(Serialize)]
pub struct Ended<'a> {
    #[serde(skip)]
    pub kind: EventKind,
    pub attempts: u32,
    /// Another live lease still holds the shared entitlement, which stays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entitlement_kept_for: Option<&'a str>,
    /// The error of the attempt before this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_error: Option<String>,
    #[serde(flatten)]
    pub notes: &'a Notes,
}

impl Details for Ended<'_> {
    fn kind(&self) -> EventKind {
        self.kind
    }
}

#[derive(Serialize)]
pub struct RevokeFailed<'a> {
    pub error: &'a str,
    pub retryable: bool,
    pub attempt: u32,
    pub next_attempt_at: DateTime<Utc>,
    #[serde(flatten)]
    pub notes: &'a Notes,
}

impl Details for RevokeFailed<'_> {
    fn kind(&self) -> EventKind {
        EventKind::RevokeFailed
    }
}

/// `jit discover --adopt` took a standing holding (or a leftover of jit's own) away.
#[derive(Serialize)]
pub struct Adopted<'a> {
    /// The finding's id, as `jit discover` listed it.
    pub finding: &'a str,
    pub target: &'a str,
    /// The kind of finding: `standing`, `leftover`, ...
    pub kind: &'a str,
    pub holder: &'a str,
    pub entitlement: &'a str,
    /// The role whose entitlement it was, where one is.
    pub role: Option<&'a str>,
    /// The subject the printed eligibility rule names, where the target names one.
    pub subject: Option<&'a str>,
}

impl Details for Adopted<'_> {
    fn kind(&self) -> EventKind {
        EventKind::Adopted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(details: &impl Details) -> String {
        serde_json::to_value(details).unwrap().to_string()
    }

    #[test]
    fn optional_fields_are_left_out_only_where_they_always_were() {
        let plain = Requested {
            role: "db",
            target: "pg",
            backend: "postgres",
            ttl: "1h".into(),
            ttl_source: "requested",
            caps: &[],
            ticket: None,
            reason: None,
            approvals_required: 0,
            ticket_status: None,
            break_glass: false,
            agent: None,
        };
        assert_eq!(
            json(&plain),
            r#"{"approvals_required":0,"backend":"postgres","caps":[],"reason":null,"role":"db","target":"pg","ticket":null,"ttl":"1h","ttl_source":"requested"}"#
        );
        let marked = Requested {
            ticket_status: Some("Open"),
            break_glass: true,
            ..plain
        };
        assert!(json(&marked).contains(r#""break_glass":true"#));
        assert!(json(&marked).contains(r#""ticket_status":"Open""#));
        assert_eq!(marked.kind(), EventKind::Requested);
    }

    #[test]
    fn an_ending_carries_its_notes_beside_its_own_fields() {
        let mut notes = Notes::new();
        notes.insert("found".into(), Value::from("absent"));
        let ended = Ended {
            kind: EventKind::Reconciled,
            attempts: 2,
            entitlement_kept_for: None,
            after_error: Some("timed out".into()),
            notes: &notes,
        };
        assert_eq!(
            json(&ended),
            r#"{"after_error":"timed out","attempts":2,"found":"absent"}"#
        );
        assert_eq!(ended.kind(), EventKind::Reconciled);
    }
}

/// `jit review certify`: a rule still holds, as it stood when certified.
#[derive(Serialize)]
pub struct Certified<'a> {
    /// The rule's `name`, or `#N` by its place in the file.
    pub rule: &'a str,
    pub position: usize,
    pub subjects: &'a [String],
    pub roles: &'a [String],
    pub reason: &'a str,
}

impl Details for Certified<'_> {
    fn kind(&self) -> EventKind {
        EventKind::Certified
    }
}

/// `jit review revoke-eligibility`: `subject` may no longer request under the rule while it
/// names the subjects and roles it named then.
#[derive(Serialize)]
pub struct Decertified<'a> {
    pub rule: &'a str,
    pub position: usize,
    pub subject: &'a str,
    pub subjects: &'a [String],
    pub roles: &'a [String],
    pub reason: &'a str,
}

impl Details for Decertified<'_> {
    fn kind(&self) -> EventKind {
        EventKind::Decertified
    }
}
