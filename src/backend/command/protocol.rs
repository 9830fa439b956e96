//! The v1 protocol's request envelope, one type for both transports: a program's stdin
//! (`backend = "command"`) and an HTTP body (`backend = "http"`). See
//! docs/command-protocol.md. Fields are declared in the order they are sent (by name), so the
//! text is the same whichever backend sends it.

use crate::backend::BackendError;
use crate::backend::discover::{Discovery, Finding, FindingKind, Scope};
use crate::lease::{Lease, rfc3339};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

pub const PROTOCOL_VERSION: u64 = 1;

/// `{"v": 1, "op": ..., "target": ..., "lease": ..., "params": ..., "handle": ...}`; `check`
/// carries no lease, params or handle.
#[derive(Serialize)]
pub struct Envelope<'a> {
    /// `remove`: the finding to take away, as `discover` answered it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseFields<'a>>,
    /// `discover`: the live leases on the target, whose grants are not findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<Vec<LiveLease<'a>>>,
    pub op: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<&'a Value>,
    /// `discover`: the target's roles and their grant parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<RoleParams<'a>>>,
    /// `grant`, `extend` and `discover`: the name of the store that records the leases, the
    /// `STORE` of the mark `jit:STORE:LEASE` a program leaves on what it grants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<&'a str>,
    pub target: &'a str,
    pub v: u64,
}

/// A live lease, as `discover` is told of it.
#[derive(Serialize)]
pub struct LiveLease<'a> {
    pub handle: &'a Value,
    pub id: &'a str,
    pub role: &'a str,
    pub subject: &'a str,
}

/// A role of the target, as `discover` is told of it.
#[derive(Serialize)]
pub struct RoleParams<'a> {
    pub params: &'a Value,
    pub role: &'a str,
}

/// What the program or service is told about the lease.
#[derive(Serialize)]
pub struct LeaseFields<'a> {
    #[serde(serialize_with = "rfc3339::maybe")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rfc3339::maybe")]
    pub granted_at: Option<DateTime<Utc>>,
    pub id: &'a str,
    pub reason: Option<&'a str>,
    pub requester: &'a str,
    pub role: &'a str,
    pub subject: &'a str,
    pub ticket: Option<&'a str>,
}

impl<'a> Envelope<'a> {
    /// `op` about `lease`: `expires_at` is the end the target should hold (the lease's own
    /// when `None`).
    pub fn about(
        op: &'a str,
        target: &'a str,
        lease: &'a Lease,
        expires_at: Option<DateTime<Utc>>,
        params: &'a Value,
        handle: &'a Value,
    ) -> Self {
        Envelope {
            finding: None,
            handle: Some(handle),
            lease: Some(LeaseFields {
                expires_at: expires_at.or(lease.expires_at),
                granted_at: lease.granted_at,
                id: &lease.id,
                reason: lease.reason.as_deref(),
                requester: &lease.requester,
                role: &lease.role,
                subject: &lease.subject,
                ticket: lease.ticket.as_deref(),
            }),
            live: None,
            op,
            params: Some(params),
            roles: None,
            store: None,
            target,
            v: PROTOCOL_VERSION,
        }
    }

    /// The envelope of a grant or a new end: as [`Envelope::about`], with the store's name.
    pub fn granting(
        op: &'a str,
        request: &'a crate::backend::GrantRequest<'a>,
        handle: &'a Value,
    ) -> Self {
        let lease = request.lease;
        Envelope {
            store: Some(request.store),
            ..Envelope::about(
                op,
                &lease.target,
                lease,
                Some(request.expires_at),
                &lease.params,
                handle,
            )
        }
    }

    /// `op: "discover"`: the target's roles, its live leases and the store's name.
    pub fn discover(scope: &'a crate::backend::discover::Scope<'a>) -> Self {
        Envelope {
            live: Some(
                scope
                    .live
                    .iter()
                    .map(|lease| LiveLease {
                        handle: &lease.handle,
                        id: &lease.id,
                        role: &lease.role,
                        subject: &lease.subject,
                    })
                    .collect(),
            ),
            roles: Some(
                scope
                    .roles
                    .iter()
                    .map(|(role, params)| RoleParams { params, role })
                    .collect(),
            ),
            op: "discover",
            store: Some(scope.store),
            ..Envelope::check(scope.target)
        }
    }

    /// `op: "remove"`: take away a finding that `discover` answered.
    pub fn remove(target: &'a str, finding: Value) -> Self {
        Envelope {
            finding: Some(finding),
            op: "remove",
            ..Envelope::check(target)
        }
    }

    /// `op: "check"`, for `jit doctor`.
    pub fn check(target: &'a str) -> Self {
        Envelope {
            finding: None,
            handle: None,
            lease: None,
            live: None,
            op: "check",
            params: None,
            roles: None,
            store: None,
            target,
            v: PROTOCOL_VERSION,
        }
    }

    /// The envelope as sent: one line of JSON.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("an envelope is always JSON")
    }
}

/// Whether an answer to `discover` or `remove` says that the program (or service) does not
/// know the op: `ok: false` with `"code": "unknown-op"`, or with `"retryable": false` (what
/// the protocol has always asked of a program given an op it does not know). What it said.
pub fn unknown_op(text: &str) -> Option<String> {
    let answer: Value = serde_json::from_str(text.trim()).ok()?;
    let said = answer.get("error").and_then(Value::as_str).unwrap_or("");
    let said: String = said.chars().take(200).collect();
    if answer.get("code").and_then(Value::as_str) == Some("unknown-op") {
        return Some(said);
    }
    (answer.get("v").and_then(Value::as_u64) == Some(PROTOCOL_VERSION)
        && answer.get("ok").and_then(Value::as_bool) != Some(true)
        && answer.get("retryable").and_then(Value::as_bool) == Some(false))
    .then_some(said)
}

/// The findings of a `discover` answer (`"findings": [...]`, each with the fields of a
/// [`Finding`], and `"notes": ["..."]`). A finding that is not well formed, or names a role
/// that is not one of the target's, makes the answer a permanent error. A finding's
/// `removal` is kept with the target's name, for `remove`.
pub fn discovery(
    answer: &serde_json::Map<String, Value>,
    scope: &Scope<'_>,
) -> Result<Discovery, BackendError> {
    let bad = |at: usize, what: &str| BackendError::permanent(format!("discover: finding {at}: {what}"));
    let findings = answer
        .get("findings")
        .and_then(Value::as_array)
        .ok_or_else(|| BackendError::permanent("discover answered without \"findings\": [...]"))?;
    let mut discovery = Discovery::default();
    for (at, found) in findings.iter().enumerate() {
        let text = |field: &str| found.get(field).and_then(Value::as_str);
        let optional = |field: &str| -> Result<Option<String>, BackendError> {
            match found.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) => Ok(Some(text.clone())),
                Some(_) => Err(bad(at, &format!("\"{field}\" must be a string or null"))),
            }
        };
        let kind = text("kind")
            .and_then(|name| {
                <FindingKind as clap::ValueEnum>::value_variants()
                    .iter()
                    .copied()
                    .find(|kind| kind.as_str() == name)
            })
            .ok_or_else(|| bad(at, "\"kind\" must be standing, admin, no-expiry, leftover or unmarked"))?;
        let holder = text("holder")
            .filter(|holder| !holder.is_empty())
            .ok_or_else(|| bad(at, "\"holder\" must be a non-empty string"))?;
        let entitlement = text("entitlement")
            .filter(|text| !text.is_empty())
            .ok_or_else(|| bad(at, "\"entitlement\" must be a non-empty string"))?;
        let subject = optional("subject")?;
        if let Some(subject) = &subject {
            let named = subject
                .strip_prefix("user:")
                .or_else(|| subject.strip_prefix("group:"))
                .is_some_and(|name| !name.is_empty());
            if !named {
                return Err(bad(at, "\"subject\" must be user:NAME or group:NAME"));
            }
        }
        let role = optional("role")?;
        if let Some(role) = &role
            && !scope.roles.iter().any(|(name, _)| name == role)
        {
            return Err(bad(at, &format!("role {role:?} is not a role of this target")));
        }
        let since = match optional("since")? {
            None => None,
            Some(text) => Some(
                DateTime::parse_from_rfc3339(&text)
                    .map_err(|err| bad(at, &format!("\"since\" {text:?}: {err}")))?
                    .with_timezone(&Utc),
            ),
        };
        let removal = match found.get("removal") {
            None | Some(Value::Null) => Value::Null,
            Some(removal) => serde_json::json!({ "target": scope.target, "removal": removal }),
        };
        discovery.findings.push(Finding {
            kind,
            holder: holder.to_owned(),
            subject,
            role,
            entitlement: entitlement.to_owned(),
            since,
            action: optional("action")?.unwrap_or_default(),
            removal,
        });
    }
    for note in answer
        .get("notes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(note) = note.as_str() {
            discovery.notes.push(note.chars().take(500).collect());
        }
    }
    Ok(discovery)
}

/// What `remove` sends for a finding of [`discovery`]: the target's name, and the finding as
/// the program answered it (with its own `removal`).
pub fn removal(finding: &Finding) -> Result<(String, Value), BackendError> {
    let target = finding.removal["target"]
        .as_str()
        .ok_or_else(|| BackendError::refused("the finding holds no removal of the program's"))?;
    Ok((
        target.to_owned(),
        serde_json::json!({
            "action": finding.action,
            "entitlement": finding.entitlement,
            "holder": finding.holder,
            "kind": finding.kind.as_str(),
            "removal": finding.removal["removal"],
            "role": finding.role,
            "since": finding.since.map(|since| rfc3339::format(&since)),
            "subject": finding.subject,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_is_sent_as_docs_http_md_shows_it() {
        let time = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc)
        };
        let params = serde_json::json!({"environment": "prod", "groups": ["deployers"]});
        let envelope = Envelope {
            finding: None,
            handle: Some(&Value::Null),
            lease: Some(LeaseFields {
                expires_at: Some(time("2026-11-22T14:46:42.5Z")),
                granted_at: Some(time("2026-11-22T13:46:42Z")),
                id: "kf536dmqyx",
                reason: Some("release 4.2"),
                requester: "alice",
                role: "deploy-prod",
                subject: "alice",
                ticket: Some("CHG-4711"),
            }),
            live: None,
            op: "grant",
            params: Some(&params),
            roles: None,
            store: Some("0f3a9c1200d4e5b6"),
            target: "deploy-api",
            v: PROTOCOL_VERSION,
        };
        assert_eq!(
            envelope.to_text(),
            r#"{"handle":null,"lease":{"expires_at":"2026-11-22T14:46:42Z","granted_at":"2026-11-22T13:46:42Z","id":"kf536dmqyx","reason":"release 4.2","requester":"alice","role":"deploy-prod","subject":"alice","ticket":"CHG-4711"},"op":"grant","params":{"environment":"prod","groups":["deployers"]},"store":"0f3a9c1200d4e5b6","target":"deploy-api","v":1}"#
        );
        assert_eq!(
            Envelope::check("deploy-api").to_text(),
            r#"{"op":"check","target":"deploy-api","v":1}"#
        );
    }

    #[test]
    fn an_op_the_program_does_not_know_is_told_from_a_failure() {
        assert_eq!(
            unknown_op(r#"{"v":1,"ok":false,"error":"unsupported op discover","retryable":false}"#),
            Some("unsupported op discover".to_owned())
        );
        assert_eq!(
            unknown_op(r#"{"ok":false,"code":"unknown-op"}"#),
            Some(String::new())
        );
        assert_eq!(unknown_op(r#"{"v":1,"ok":false,"error":"down"}"#), None);
        assert_eq!(unknown_op(r#"{"v":1,"ok":true,"findings":[]}"#), None);
        assert_eq!(unknown_op("not json"), None);
    }

    #[test]
    fn findings_are_checked_before_they_are_taken() {
        let params = serde_json::json!({});
        let scope = Scope {
            target: "t",
            roles: vec![("app", &params)],
            live: &[],
            store: "0f3a",
            now: Utc::now(),
        };
        let answer = |finding: Value| {
            let value = serde_json::json!({ "findings": [finding] });
            discovery(value.as_object().unwrap(), &scope)
        };
        let found = answer(serde_json::json!({
            "kind": "standing", "holder": "bob", "subject": "user:bob", "role": "app",
            "entitlement": "e", "since": "2026-01-02T03:04:05Z", "removal": {"k": 1},
        }))
        .unwrap();
        let finding = &found.findings[0];
        assert_eq!(finding.kind, FindingKind::Standing);
        assert_eq!(finding.removal, serde_json::json!({"target": "t", "removal": {"k": 1}}));
        let (target, sent) = removal(finding).unwrap();
        assert_eq!(target, "t");
        assert_eq!(sent["removal"], serde_json::json!({"k": 1}));
        assert_eq!(sent["since"], "2026-01-02T03:04:05Z");
        for (bad, message) in [
            (serde_json::json!({"kind": "owned", "holder": "b", "entitlement": "e"}), "\"kind\""),
            (serde_json::json!({"kind": "admin", "holder": "", "entitlement": "e"}), "\"holder\""),
            (serde_json::json!({"kind": "admin", "holder": "b", "entitlement": "e", "role": "other"}), "not a role"),
            (serde_json::json!({"kind": "admin", "holder": "b", "entitlement": "e", "subject": "bob"}), "user:NAME"),
            (serde_json::json!({"kind": "admin", "holder": "b", "entitlement": "e", "since": "May"}), "\"since\""),
        ] {
            let err = answer(bad).unwrap_err();
            assert!(err.message.contains(message), "{}", err.message);
        }
    }
}
