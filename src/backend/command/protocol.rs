//! The v1 protocol's request envelope, one type for both transports: a program's stdin
//! (`backend = "command"`) and an HTTP body (`backend = "http"`). See
//! docs/command-protocol.md. Fields are declared in the order they are sent (by name), so the
//! text is the same whichever backend sends it.

use crate::lease::{Lease, rfc3339};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

pub const PROTOCOL_VERSION: u64 = 1;

/// `{"v": 1, "op": ..., "target": ..., "lease": ..., "params": ..., "handle": ...}`; `check`
/// carries no lease, params or handle.
#[derive(Serialize)]
pub struct Envelope<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseFields<'a>>,
    pub op: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<&'a Value>,
    pub target: &'a str,
    pub v: u64,
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
            op,
            params: Some(params),
            target,
            v: PROTOCOL_VERSION,
        }
    }

    /// `op: "check"`, for `jit doctor`.
    pub fn check(target: &'a str) -> Self {
        Envelope {
            handle: None,
            lease: None,
            op: "check",
            params: None,
            target,
            v: PROTOCOL_VERSION,
        }
    }

    /// The envelope as sent: one line of JSON.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("an envelope is always JSON")
    }
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
            op: "grant",
            params: Some(&params),
            target: "deploy-api",
            v: PROTOCOL_VERSION,
        };
        assert_eq!(
            envelope.to_text(),
            r#"{"handle":null,"lease":{"expires_at":"2026-11-22T14:46:42Z","granted_at":"2026-11-22T13:46:42Z","id":"kf536dmqyx","reason":"release 4.2","requester":"alice","role":"deploy-prod","subject":"alice","ticket":"CHG-4711"},"op":"grant","params":{"environment":"prod","groups":["deployers"]},"target":"deploy-api","v":1}"#
        );
        assert_eq!(
            Envelope::check("deploy-api").to_text(),
            r#"{"op":"check","target":"deploy-api","v":1}"#
        );
    }
}
