//! `[[notify]]` webhooks: once a change has committed, each audit event it appended is sent
//! to the webhooks that want its kind, as jit's JSON or as a Slack-style text. A webhook that
//! fails never undoes or holds up the change: its failure is recorded in the audit trail as
//! a `notify-failed` event, and the events after it in the same batch are not sent to it.

use crate::audit::{AuditEvent, EventKind, NewEvent};
use crate::clock::Clock;
use crate::config::notify::{Notify, NotifyFormat};
use crate::http::{Call, Client};
use crate::lease::Lease;
use crate::store::{self, Store};
use serde_json::{Value, json};

/// The version of the JSON payload.
pub const PAYLOAD_VERSION: u64 = 1;

/// Send `events` to every webhook that wants them; record the failures.
pub fn announce(
    webhooks: &[Notify],
    store: &dyn Store,
    clock: Clock,
    actor: &str,
    events: &[AuditEvent],
) {
    let events: Vec<&AuditEvent> = events
        .iter()
        .filter(|e| e.kind != EventKind::NotifyFailed.as_str())
        .collect();
    if events.is_empty() || webhooks.is_empty() {
        return;
    }
    let mut failures = Vec::new();
    for webhook in webhooks {
        let client = Client::new(webhook.endpoint.clone());
        let mut failed: Option<String> = None;
        for event in events.iter().filter(|e| webhook.wants(&e.kind)) {
            let error = match &failed {
                Some(earlier) => format!("not sent after an earlier failure: {earlier}"),
                None => {
                    let lease = event
                        .lease_id
                        .as_deref()
                        .and_then(|id| store.lease(id).ok().flatten());
                    let body = payload(webhook.format, event, lease.as_ref()).to_string();
                    match client.send(&Call {
                        method: reqwest::Method::POST,
                        values: &[],
                        body: Some((&body, "application/json")),
                        headers: &[],
                    }) {
                        Ok(_) => continue,
                        Err(err) => {
                            let error = err.to_string();
                            failed = Some(error.clone());
                            error
                        }
                    }
                }
            };
            failures.push(NewEvent {
                at: clock.now(),
                actor: actor.to_owned(),
                lease_id: event.lease_id.clone(),
                kind: EventKind::NotifyFailed,
                details: json!({
                    "notify": webhook.name,
                    "url": webhook.endpoint.url.shown(),
                    "event_seq": event.seq,
                    "event_kind": event.kind,
                    "error": error,
                }),
            });
        }
    }
    if !failures.is_empty() {
        // The change itself has committed; if the store cannot take the record of a failed
        // notification either, that record is lost (nothing here can do better).
        let _ = store::write(store, |tx| {
            for failure in &failures {
                tx.append(failure)?;
            }
            Ok(())
        });
    }
}

/// The body sent for `event`.
pub fn payload(format: NotifyFormat, event: &AuditEvent, lease: Option<&Lease>) -> Value {
    match format {
        NotifyFormat::Json => json!({
            "v": PAYLOAD_VERSION,
            "event": event,
            "lease": lease.map(lease_fields),
        }),
        NotifyFormat::Slack => json!({ "text": slack_escape(&text(event, lease)) }),
    }
}

/// The lease in a JSON payload; `agent` (`client`, `task`) only for a lease an AI agent asked
/// for, as in the lease JSON.
fn lease_fields(l: &Lease) -> Value {
    let mut fields = json!({
        "id": l.id,
        "role": l.role,
        "target": l.target,
        "subject": l.subject,
        "requester": l.requester,
        "state": l.state,
        "ticket": l.ticket,
        "reason": l.reason,
        "expires_at": l.expires_at,
    });
    if let Some(agent) = &l.agent {
        fields["agent"] = json!(agent);
    }
    fields
}

/// Slack's control characters as its message format wants them, so that a reason such as
/// `<!channel>` is shown, not acted on.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One line for a chat channel: what happened, to which lease, and by whom.
pub fn text(event: &AuditEvent, lease: Option<&Lease>) -> String {
    let detail = |key: &str| event.details.get(key).and_then(Value::as_str);
    let mut line = format!("jit: {}", event.kind);
    match lease {
        Some(lease) => {
            line.push_str(&format!(
                ": role {} on {} for {} (lease {}",
                lease.role,
                lease.target,
                lease.subject_words(),
                lease.id
            ));
            if let Some(ticket) = &lease.ticket {
                line.push_str(&format!(", ticket {ticket}"));
            }
            line.push(')');
            if event.kind == EventKind::Granted.as_str()
                && let Some(end) = lease.expires_at
            {
                line.push_str(&format!(" until {}", end.format("%Y-%m-%dT%H:%M:%SZ")));
            }
        }
        None => {
            if let (Some(role), Some(subject)) = (detail("role"), detail("subject")) {
                line.push_str(&format!(": role {role} for {subject}"));
            }
        }
    }
    let subject = lease
        .map(|l| l.subject.as_str())
        .or_else(|| detail("subject"));
    if subject != Some(event.actor.as_str()) {
        line.push_str(&format!(", by {}", event.actor));
    }
    if let Some(why) = detail("cause")
        .or_else(|| detail("reason"))
        .or_else(|| detail("error"))
    {
        line.push_str(&format!(": {why}"));
    }
    // An agent's request says what it is for, to those who approve it.
    if event.kind == EventKind::Requested.as_str()
        && let Some(agent) = lease.and_then(|l| l.agent.as_ref())
    {
        line.push_str(&format!(" (task: {})", agent.task));
    }
    crate::text::escaped(&line).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, actor: &str, lease_id: Option<&str>, details: Value) -> AuditEvent {
        AuditEvent {
            seq: 7,
            at: "2026-11-22T10:00:00Z".into(),
            actor: actor.into(),
            lease_id: lease_id.map(str::to_owned),
            kind: kind.into(),
            details,
            prev_hash: "0".repeat(64),
            hash: "1".repeat(64),
        }
    }

    #[test]
    fn a_denial_without_a_lease_names_role_subject_and_why() {
        let denied = event(
            "denied",
            "alice",
            None,
            json!({"role": "db-admin", "subject": "alice", "reason": "ticket CHG-1 is \"Done\""}),
        );
        assert_eq!(
            text(&denied, None),
            "jit: denied: role db-admin for alice: ticket CHG-1 is \"Done\""
        );
        let by_other = event(
            "denied",
            "bob",
            None,
            json!({"role": "db-admin", "subject": "alice"}),
        );
        assert_eq!(
            text(&by_other, None),
            "jit: denied: role db-admin for alice, by bob"
        );
        assert_eq!(
            payload(NotifyFormat::Slack, &denied, None),
            json!({"text": "jit: denied: role db-admin for alice: ticket CHG-1 is \"Done\""})
        );
        let shouting = event(
            "denied",
            "alice",
            None,
            json!({"role": "r", "subject": "alice", "reason": "<!channel> & <https://x|y>"}),
        );
        assert_eq!(
            payload(NotifyFormat::Slack, &shouting, None)["text"],
            "jit: denied: role r for alice: &lt;!channel&gt; &amp; &lt;https://x|y&gt;"
        );
        let doc = payload(NotifyFormat::Json, &denied, None);
        assert_eq!(doc["v"], 1);
        assert_eq!(doc["event"]["seq"], 7);
        assert_eq!(doc["lease"], Value::Null);
    }

    #[test]
    fn an_agents_lease_is_announced_via_agent_with_its_task_on_request() {
        let mut lease = crate::store::conformance::lease("k3f9x2m7qa", "db-read", "alice", 0);
        lease.agent = Some(crate::lease::Agent {
            client: "claude-code 1.0.3".into(),
            task: "<!channel> the slow query".into(),
        });
        lease.ticket = None;
        let requested = event(
            "requested",
            "alice",
            Some("k3f9x2m7qa"),
            json!({"reason": "slow"}),
        );
        assert_eq!(
            payload(NotifyFormat::Slack, &requested, Some(&lease))["text"],
            "jit: requested: role db-read on db for alice via agent claude-code 1.0.3 \
             (lease k3f9x2m7qa): slow (task: &lt;!channel&gt; the slow query)"
        );
        let approved = event("approved", "bob", Some("k3f9x2m7qa"), json!({}));
        assert_eq!(
            text(&approved, Some(&lease)),
            "jit: approved: role db-read on db for alice via agent claude-code 1.0.3 \
             (lease k3f9x2m7qa), by bob"
        );
        let doc = payload(NotifyFormat::Json, &approved, Some(&lease));
        assert_eq!(
            doc["lease"]["agent"],
            json!({"client": "claude-code 1.0.3", "task": "<!channel> the slow query"})
        );
        lease.agent = None;
        let doc = payload(NotifyFormat::Json, &approved, Some(&lease));
        assert_eq!(doc["lease"].get("agent"), None);
    }
}
