//! The audit trail as OCSF records (the Open Cybersecurity Schema Framework, version
//! [`SCHEMA_VERSION`]), one per event, for `jit audit export --format ocsf`: what a
//! security data lake or SIEM loads without a parser of its own. Pure: an event and what
//! is known of its lease in, one JSON object out. The mapping table is docs/ocsf.md.
//!
//! Every kind of event is mapped in [`class_of`], a `match` with no catch-all, so that a
//! new kind does not compile until it is given its class.

use crate::audit::{AuditEvent, EventKind};
use anyhow::{Context as _, Result};
use chrono::DateTime;
use serde_json::{Map, Value, json};

/// The OCSF schema version the records follow (`metadata.version`).
pub const SCHEMA_VERSION: &str = "1.5.0";

/// What the export knows of the lease an event is about (from the lease store).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseFacts {
    pub role: String,
    pub target: String,
    pub backend: String,
    pub subject: String,
    pub ticket: Option<String>,
}

impl LeaseFacts {
    pub fn of(lease: &crate::lease::Lease) -> LeaseFacts {
        LeaseFacts {
            role: lease.role.clone(),
            target: lease.target.clone(),
            backend: lease.backend.clone(),
            subject: lease.subject.clone(),
            ticket: lease.ticket.clone(),
        }
    }
}

/// An OCSF class jit's events are recorded in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// 3001, Identity & Access Management.
    AccountChange,
    /// 3004, Identity & Access Management.
    EntityManagement,
    /// 3005, Identity & Access Management.
    UserAccessManagement,
    /// 1008, System Activity.
    EventLogActivity,
}

impl Class {
    pub fn uid(self) -> u32 {
        match self {
            Class::AccountChange => 3001,
            Class::EntityManagement => 3004,
            Class::UserAccessManagement => 3005,
            Class::EventLogActivity => 1008,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Class::AccountChange => "Account Change",
            Class::EntityManagement => "Entity Management",
            Class::UserAccessManagement => "User Access Management",
            Class::EventLogActivity => "Event Log Activity",
        }
    }

    fn category(self) -> (u32, &'static str) {
        match self {
            Class::EventLogActivity => (1, "System Activity"),
            _ => (3, "Identity & Access Management"),
        }
    }
}

/// Where an event goes: class, activity (id and name), and whether it reports a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub class: Class,
    pub activity_id: u32,
    pub activity: &'static str,
    pub failure: bool,
    /// OCSF `severity_id`: 1 informational, 2 low, 3 medium, 4 high.
    pub severity_id: u32,
}

const fn map(
    class: Class,
    activity_id: u32,
    activity: &'static str,
    failure: bool,
    severity_id: u32,
) -> Mapping {
    Mapping {
        class,
        activity_id,
        activity,
        failure,
        severity_id,
    }
}

use Class::{
    AccountChange as Account, EntityManagement as Entity, EventLogActivity as EventLog,
    UserAccessManagement as Access,
};

/// The class and activity of each kind of event (docs/ocsf.md).
pub fn class_of(kind: EventKind) -> Mapping {
    match kind {
        EventKind::Requested => map(Entity, 1, "Create", false, 1),
        EventKind::Approved => map(Entity, 3, "Update", false, 1),
        EventKind::Denied => map(Entity, 3, "Update", true, 2),
        EventKind::Cancelled => map(Entity, 4, "Delete", false, 1),
        EventKind::Refused => map(Entity, 3, "Update", true, 3),
        EventKind::Granted => map(Access, 1, "Assign Privileges", false, 1),
        EventKind::GrantFailed => map(Access, 1, "Assign Privileges", true, 3),
        EventKind::Extended => map(Access, 1, "Assign Privileges", false, 1),
        EventKind::Revoked => map(Access, 2, "Revoke Privileges", false, 1),
        EventKind::Expired => map(Access, 2, "Revoke Privileges", false, 1),
        EventKind::Reconciled => map(Access, 2, "Revoke Privileges", false, 1),
        EventKind::RevokeFailed => map(Access, 2, "Revoke Privileges", true, 4),
        EventKind::Adopted => map(Access, 2, "Revoke Privileges", false, 2),
        EventKind::NotifyFailed => map(EventLog, 3, "Export", true, 3),
        EventKind::ShipRefused => map(EventLog, 3, "Export", true, 4),
        EventKind::Certified => map(Entity, 3, "Update", false, 1),
        EventKind::Decertified => map(Account, 8, "Detach Policy", false, 2),
    }
}

/// A kind this build does not know (a newer jit wrote the store): kept, as Entity
/// Management "Other", with everything in `unmapped`.
const UNKNOWN: Mapping = map(Entity, 99, "Other", false, 1);

/// The OCSF record of `event`; `lease` is what the store knows of its lease, if any.
pub fn record(event: &AuditEvent, lease: Option<&LeaseFacts>, jit_version: &str) -> Result<Value> {
    let kind = EventKind::parse(&event.kind);
    let mapping = kind.map_or(UNKNOWN, class_of);
    let time = event
        .time()
        .with_context(|| format!("audit event {}: time {:?}", event.seq, event.at))?
        .timestamp_millis();
    let details = &event.details;
    let text = |key: &str| details.get(key).and_then(Value::as_str);
    // What the event is about: the lease as stored, else what the event itself names.
    let role = lease.map(|l| l.role.as_str()).or(text("role"));
    let target = lease.map(|l| l.target.as_str()).or(text("target"));
    let backend = lease.map(|l| l.backend.as_str()).or(text("backend"));
    let ticket = lease.and_then(|l| l.ticket.as_deref()).or(text("ticket"));
    let subject = lease
        .map(|l| l.subject.as_str())
        .or(text("subject"))
        .or(match kind {
            Some(EventKind::Requested) => Some(event.actor.as_str()),
            _ => None,
        });
    // Why: the requester's or approver's words, the error, or the re-evaluation's cause.
    let why = text("reason").or(text("error")).or(text("cause"));

    let (category_uid, category_name) = mapping.class.category();
    let class_uid = mapping.class.uid();
    let mut out = Map::new();
    out.insert("class_uid".into(), json!(class_uid));
    out.insert("class_name".into(), json!(mapping.class.name()));
    out.insert("category_uid".into(), json!(category_uid));
    out.insert("category_name".into(), json!(category_name));
    out.insert("activity_id".into(), json!(mapping.activity_id));
    out.insert("activity_name".into(), json!(mapping.activity));
    out.insert(
        "type_uid".into(),
        json!(class_uid * 100 + mapping.activity_id),
    );
    out.insert(
        "type_name".into(),
        json!(format!("{}: {}", mapping.class.name(), mapping.activity)),
    );
    out.insert("time".into(), json!(time));
    let break_glass = details.get("break_glass") == Some(&Value::Bool(true));
    let severity_id = if break_glass {
        mapping.severity_id.max(3)
    } else {
        mapping.severity_id
    };
    out.insert("severity_id".into(), json!(severity_id));
    out.insert("severity".into(), json!(severity_name(severity_id)));
    let (status_id, status) = if mapping.failure {
        (2, "Failure")
    } else {
        (1, "Success")
    };
    out.insert("status_id".into(), json!(status_id));
    out.insert("status".into(), json!(status));
    if let Some(why) = why {
        out.insert("status_detail".into(), json!(why));
    }
    out.insert(
        "message".into(),
        json!(message(event, role, target, subject)),
    );
    let mut metadata = json!({
        "version": SCHEMA_VERSION,
        "product": {"name": "jit", "vendor_name": "jit", "version": jit_version},
        "uid": event.hash,
        "sequence": event.seq,
        "event_code": event.kind,
        "log_name": "audit",
        "original_time": event.at,
    });
    if let Some(id) = &event.lease_id {
        metadata["correlation_uid"] = json!(id);
    }
    out.insert("metadata".into(), metadata);
    out.insert(
        "actor".into(),
        json!({"user": {"name": event.actor}, "app_name": "jit"}),
    );

    let end_time = match kind {
        Some(EventKind::Granted) => text("expires_at"),
        Some(EventKind::Extended) => text("to"),
        _ => None,
    }
    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
    .map(|t| t.timestamp_millis());
    if let Some(end) = end_time {
        out.insert("end_time".into(), json!(end));
    }

    match mapping.class {
        Class::UserAccessManagement => {
            // Adopted: a standing holding taken away, the holder's, not a lease's.
            let (user, privilege) = match kind {
                Some(EventKind::Adopted) => (text("holder"), text("entitlement").or(role)),
                _ => (subject, role),
            };
            out.insert("user".into(), user_object(user));
            out.insert(
                "privileges".into(),
                json!(privilege.map(|p| vec![p]).unwrap_or_default()),
            );
            if let Some(target) = target {
                let mut resource = json!({"uid": target, "name": target, "type": "jit target"});
                if let Some(backend) = backend {
                    resource["labels"] = json!([format!("backend:{backend}")]);
                }
                out.insert("resources".into(), json!([resource]));
            }
        }
        Class::EntityManagement => {
            let mut entity = match (&event.lease_id, kind) {
                (Some(id), _) => json!({"type": "jit lease", "uid": id}),
                (None, Some(EventKind::Refused)) => {
                    json!({"type": "jit team request", "uid": details.get("request").map(scalar_text)})
                }
                (None, Some(EventKind::Certified)) => json!({
                    "type": "jit eligibility rule",
                    "uid": text("rule"),
                    "data": rule_data(details),
                }),
                (None, _) => json!({"type": "jit lease request"}),
            };
            if let Some(role) = role {
                entity["name"] = json!(role);
            }
            if let Some(subject) = subject {
                entity["user"] = json!({"name": subject});
            }
            out.insert("entity".into(), entity);
            if let Some(reason) = text("reason") {
                out.insert("comment".into(), json!(reason));
            }
        }
        Class::AccountChange => {
            // Decertified: the subject loses the eligibility rule, a policy of its account.
            out.insert("user".into(), rule_subject(subject));
            out.insert(
                "policy".into(),
                json!({"uid": text("rule"), "name": text("rule"), "data": rule_data(details)}),
            );
        }
        Class::EventLogActivity => {
            out.insert("log_provider".into(), json!("jit"));
            out.insert(
                "log_name".into(),
                json!(text("destination").or(text("notify")).unwrap_or("audit")),
            );
        }
    }

    let mut unmapped = Map::new();
    unmapped.insert("kind".into(), json!(event.kind));
    unmapped.insert("seq".into(), json!(event.seq));
    unmapped.insert("prev_hash".into(), json!(event.prev_hash));
    unmapped.insert("hash".into(), json!(event.hash));
    unmapped.insert("lease_id".into(), json!(event.lease_id));
    for (key, value) in [
        ("role", role),
        ("target", target),
        ("backend", backend),
        ("subject", subject),
        ("ticket", ticket),
    ] {
        if let Some(value) = value {
            unmapped.insert(key.into(), json!(value));
        }
    }
    unmapped.insert("details".into(), details.clone());
    out.insert("unmapped".into(), Value::Object(unmapped));
    Ok(Value::Object(out))
}

/// A rule's subject (`user:NAME`, `group:NAME`) as an OCSF user: a user by name, else by uid.
fn rule_subject(subject: Option<&str>) -> Value {
    match subject {
        Some(subject) => match subject.strip_prefix("user:") {
            Some(name) => json!({"name": name, "uid": subject}),
            None => json!({"uid": subject}),
        },
        None => json!({}),
    }
}

/// What an eligibility rule covered when it was certified or decertified.
fn rule_data(details: &Value) -> Value {
    json!({
        "position": details.get("position"),
        "subjects": details.get("subjects"),
        "roles": details.get("roles"),
    })
}

fn user_object(name: Option<&str>) -> Value {
    match name {
        Some(name) => json!({"name": name}),
        None => json!({}),
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn severity_name(id: u32) -> &'static str {
    match id {
        1 => "Informational",
        2 => "Low",
        3 => "Medium",
        4 => "High",
        5 => "Critical",
        _ => "Unknown",
    }
}

/// One sentence for people reading the SIEM: who did what to which lease.
fn message(
    event: &AuditEvent,
    role: Option<&str>,
    target: Option<&str>,
    subject: Option<&str>,
) -> String {
    let mut out = format!("jit {}", event.kind);
    if let Some(id) = &event.lease_id {
        out.push_str(&format!(" lease {id}"));
    }
    if let Some(role) = role {
        out.push_str(&format!(" role {role}"));
    }
    if let Some(target) = target {
        out.push_str(&format!(" on {target}"));
    }
    if let Some(subject) = subject {
        out.push_str(&format!(" for {subject}"));
    }
    if let Some(rule) = event.details.get("rule").and_then(Value::as_str) {
        out.push_str(&format!(" under rule {rule}"));
    }
    out.push_str(&format!(" by {}", event.actor));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, lease_id: Option<&str>, details: Value) -> AuditEvent {
        AuditEvent {
            seq: 7,
            at: "2026-01-31T12:00:00Z".into(),
            actor: "alice".into(),
            lease_id: lease_id.map(str::to_owned),
            kind: kind.as_str().into(),
            details,
            prev_hash: "a".repeat(64),
            hash: "b".repeat(64),
        }
    }

    fn facts() -> LeaseFacts {
        LeaseFacts {
            role: "db-read".into(),
            target: "pg-main".into(),
            backend: "postgres".into(),
            subject: "bob".into(),
            ticket: Some("OPS-1".into()),
        }
    }

    #[test]
    fn every_kind_has_a_consistent_type_uid_and_the_required_attributes() {
        for kind in EventKind::ALL {
            let record = record(
                &event(kind, Some("l-1"), json!({})),
                Some(&facts()),
                "0.1.0",
            )
            .unwrap();
            let m = class_of(kind);
            assert_eq!(record["class_uid"], json!(m.class.uid()), "{kind:?}");
            assert_eq!(
                record["type_uid"],
                json!(m.class.uid() * 100 + m.activity_id),
                "{kind:?}"
            );
            for key in [
                "category_uid",
                "activity_id",
                "time",
                "severity_id",
                "status_id",
                "message",
                "metadata",
                "actor",
                "unmapped",
            ] {
                assert!(record.get(key).is_some(), "{kind:?} lacks {key}");
            }
            assert_eq!(record["metadata"]["version"], json!(SCHEMA_VERSION));
            assert_eq!(record["metadata"]["product"]["name"], json!("jit"));
            assert_eq!(record["time"], json!(1_769_860_800_000_i64));
            assert_eq!(record["actor"]["user"]["name"], json!("alice"));
            assert_eq!(record["unmapped"]["hash"], json!("b".repeat(64)));
            assert_eq!(record["unmapped"]["lease_id"], json!("l-1"));
            if m.class == Class::UserAccessManagement {
                assert!(record["privileges"].is_array(), "{kind:?}");
                assert!(record["user"].is_object(), "{kind:?}");
            }
        }
    }

    #[test]
    fn grants_and_revocations_are_privileges_of_the_subject_on_the_target() {
        let granted = record(
            &event(
                EventKind::Granted,
                Some("l-1"),
                json!({"expires_at": "2026-01-31T13:00:00Z"}),
            ),
            Some(&facts()),
            "0.1.0",
        )
        .unwrap();
        assert_eq!(granted["type_uid"], json!(300501));
        assert_eq!(granted["user"]["name"], json!("bob"));
        assert_eq!(granted["privileges"], json!(["db-read"]));
        assert_eq!(granted["resources"][0]["name"], json!("pg-main"));
        assert_eq!(granted["end_time"], json!(1_769_864_400_000_i64));
        assert_eq!(granted["unmapped"]["ticket"], json!("OPS-1"));
        let revoked = record(
            &event(EventKind::Revoked, Some("l-1"), json!({"attempts": 1})),
            Some(&facts()),
            "0.1.0",
        )
        .unwrap();
        assert_eq!(revoked["type_uid"], json!(300502));
        assert_eq!(revoked["status_id"], json!(1));
        let failed = record(
            &event(
                EventKind::RevokeFailed,
                Some("l-1"),
                json!({"error": "connection refused"}),
            ),
            Some(&facts()),
            "0.1.0",
        )
        .unwrap();
        assert_eq!(failed["status_id"], json!(2));
        assert_eq!(failed["status_detail"], json!("connection refused"));
        assert_eq!(failed["severity_id"], json!(4));
    }

    #[test]
    fn infrastructure_events_are_event_log_activity() {
        let shipped = record(
            &event(
                EventKind::ShipRefused,
                None,
                json!({"destination": "siem", "seq": 3}),
            ),
            None,
            "0.1.0",
        )
        .unwrap();
        assert_eq!(shipped["class_uid"], json!(1008));
        assert_eq!(shipped["category_uid"], json!(1));
        assert_eq!(shipped["type_uid"], json!(100803));
        assert_eq!(shipped["log_name"], json!("siem"));
        assert_eq!(shipped["unmapped"]["lease_id"], Value::Null);
        let refused = record(
            &event(
                EventKind::Refused,
                None,
                json!({"request": 12, "reason": "not yours"}),
            ),
            None,
            "0.1.0",
        )
        .unwrap();
        assert_eq!(refused["entity"]["uid"], json!("12"));
        assert_eq!(refused["status_detail"], json!("not yours"));
    }

    #[test]
    fn events_without_a_stored_lease_take_what_they_name() {
        let denied = record(
            &event(
                EventKind::Denied,
                None,
                json!({"role": "db", "subject": "carol", "rule": "r", "reason": "no"}),
            ),
            None,
            "0.1.0",
        )
        .unwrap();
        assert_eq!(denied["entity"]["name"], json!("db"));
        assert_eq!(denied["entity"]["user"]["name"], json!("carol"));
        assert_eq!(denied["status_id"], json!(2));
        assert_eq!(denied["unmapped"]["details"]["rule"], json!("r"));
        let adopted = record(
            &event(
                EventKind::Adopted,
                None,
                json!({"holder": "dave", "entitlement": "SUPERUSER", "target": "pg"}),
            ),
            None,
            "0.1.0",
        )
        .unwrap();
        assert_eq!(adopted["user"]["name"], json!("dave"));
        assert_eq!(adopted["privileges"], json!(["SUPERUSER"]));
        assert_eq!(adopted["resources"][0]["uid"], json!("pg"));
    }

    #[test]
    fn an_unknown_kind_is_kept_as_other_and_a_bad_time_is_an_error() {
        let mut odd = event(EventKind::Requested, None, json!({}));
        odd.kind = "from-the-future".into();
        let kept = record(&odd, None, "0.1.0").unwrap();
        assert_eq!(kept["type_uid"], json!(300499));
        assert_eq!(kept["unmapped"]["kind"], json!("from-the-future"));
        odd.at = "yesterday".into();
        assert!(record(&odd, None, "0.1.0").is_err());
    }

    /// Details as the engine writes them, for each kind.
    fn sample(kind: EventKind) -> (Option<&'static str>, Value) {
        match kind {
            EventKind::Requested => (
                Some("l-1"),
                json!({"role": "db-read", "target": "pg-main", "backend": "postgres",
                       "ttl": "1h", "ttl_source": "requested", "caps": [], "ticket": "OPS-1",
                       "reason": "incident", "approvals_required": 1, "break_glass": true}),
            ),
            EventKind::Approved => (
                Some("l-1"),
                json!({"by": "carol", "reason": null, "approvals": 1, "required": 1}),
            ),
            EventKind::Denied => (
                None,
                json!({"role": "db-read", "subject": "bob", "by": "bob", "rule": "window",
                       "reason": "outside the window"}),
            ),
            EventKind::Cancelled => (Some("l-1"), json!({"reason": "withdrawn"})),
            EventKind::Granted => (
                Some("l-1"),
                json!({"expires_at": "2026-01-31T13:00:00Z",
                       "target_expires_at": "2026-01-31T13:00:00Z", "native_expiry": null,
                       "credentials_issued": true}),
            ),
            EventKind::GrantFailed => (Some("l-1"), json!({"error": "refused"})),
            EventKind::Extended => (
                Some("l-1"),
                json!({"from": "2026-01-31T13:00:00Z", "to": "2026-01-31T14:00:00Z",
                       "ttl": "2h", "caps": []}),
            ),
            EventKind::Revoked | EventKind::Expired | EventKind::Reconciled => {
                (Some("l-1"), json!({"attempts": 1}))
            }
            EventKind::RevokeFailed => (
                Some("l-1"),
                json!({"error": "down", "retryable": true, "attempt": 1,
                       "next_attempt_at": "2026-01-31T12:01:00Z"}),
            ),
            EventKind::Refused => (
                Some("l-1"),
                json!({"request": 4, "request_kind": "revoke", "reason": "not yours"}),
            ),
            EventKind::NotifyFailed => (
                Some("l-1"),
                json!({"notify": "chat", "url": "http://127.0.0.1:9/", "event_seq": 6,
                       "event_kind": "granted", "error": "connection refused"}),
            ),
            EventKind::ShipRefused => (
                None,
                json!({"destination": "siem", "seq": 3, "expected_hash": "x",
                       "found_hash": "y", "by": "seq", "checkpoint": 3}),
            ),
            EventKind::Certified => (
                None,
                json!({"rule": "#2", "position": 2, "subjects": ["user:bob", "group:ops"],
                       "roles": ["db-read"], "reason": "still needed"}),
            ),
            EventKind::Decertified => (
                None,
                json!({"rule": "#2", "position": 2, "subject": "user:bob",
                       "subjects": ["user:bob"], "roles": ["db-read"], "reason": "left"}),
            ),
            EventKind::Adopted => (
                None,
                json!({"finding": "f-1", "target": "pg-main", "kind": "standing",
                       "holder": "dave", "entitlement": "db-read", "role": "db-read",
                       "subject": "dave"}),
            ),
        }
    }

    /// Every kind, as the engine writes it, validates against the OCSF schema
    /// (scripts/ocsf-validate.py, with the `ocsf-emitter` package scripts/test.sh installs).
    #[test]
    fn every_kind_validates_against_the_ocsf_schema() {
        use std::io::Write as _;
        let mut lines = String::new();
        for kind in EventKind::ALL {
            let (lease_id, details) = sample(kind);
            let lease = lease_id.map(|_| facts());
            let record = record(&event(kind, lease_id, details), lease.as_ref(), "0.1.0").unwrap();
            lines.push_str(&record.to_string());
            lines.push('\n');
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/ocsf-validate.py");
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(lines.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let valid = String::from_utf8_lossy(&out.stdout).lines().count();
        assert_eq!(valid, EventKind::ALL.len());
    }

    #[test]
    fn a_lease_the_rules_no_longer_allow_says_why() {
        let shortened = record(
            &event(
                EventKind::Extended,
                Some("l-1"),
                json!({"from": "2026-01-31T13:00:00Z", "to": "2026-01-31T12:30:00Z",
                       "ttl": "30m", "shortened": true, "cause": "cap of rule #1",
                       "recheck": "caps", "rule": "#1"}),
            ),
            Some(&facts()),
            "0.1.0",
        )
        .unwrap();
        assert_eq!(shortened["type_uid"], json!(300501));
        assert_eq!(shortened["end_time"], json!(1_769_862_600_000_i64));
        assert_eq!(shortened["status_detail"], json!("cap of rule #1"));
        let revoked = record(
            &event(
                EventKind::Revoked,
                Some("l-1"),
                json!({"attempts": 1, "cause": "not in group:ops", "recheck": "eligibility"}),
            ),
            Some(&facts()),
            "0.1.0",
        )
        .unwrap();
        assert_eq!(revoked["status_detail"], json!("not in group:ops"));
    }

    #[test]
    fn certification_is_the_rule_and_decertification_detaches_it_from_the_subject() {
        let (_, details) = sample(EventKind::Certified);
        let certified = record(&event(EventKind::Certified, None, details), None, "0.1.0").unwrap();
        assert_eq!(certified["type_uid"], json!(300403));
        assert_eq!(certified["entity"]["type"], json!("jit eligibility rule"));
        assert_eq!(certified["entity"]["uid"], json!("#2"));
        assert_eq!(certified["entity"]["data"]["roles"], json!(["db-read"]));
        assert_eq!(certified["comment"], json!("still needed"));
        let (_, details) = sample(EventKind::Decertified);
        let decertified =
            record(&event(EventKind::Decertified, None, details), None, "0.1.0").unwrap();
        assert_eq!(decertified["class_uid"], json!(3001));
        assert_eq!(decertified["type_uid"], json!(300108));
        assert_eq!(decertified["activity_name"], json!("Detach Policy"));
        assert_eq!(
            decertified["user"],
            json!({"name": "bob", "uid": "user:bob"})
        );
        assert_eq!(decertified["policy"]["uid"], json!("#2"));
        assert_eq!(decertified["status_detail"], json!("left"));
        assert_eq!(decertified["unmapped"]["subject"], json!("user:bob"));
    }

    #[test]
    fn break_glass_raises_the_severity() {
        let record = record(
            &event(
                EventKind::Granted,
                Some("l-1"),
                json!({"break_glass": true}),
            ),
            Some(&facts()),
            "0.1.0",
        )
        .unwrap();
        assert_eq!(record["severity_id"], json!(3));
    }
}
