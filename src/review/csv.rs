//! The review as CSV: one row per lease of the period, the columns docs/review.md lists
//! (new columns go at the end, so that a reader by position keeps working).
//! The other sections (denials, rules, the chain) are in the JSON and HTML reviews.

use super::Review;
use crate::lease::rfc3339;
use chrono::{DateTime, Utc};
use std::io::Write;

/// The columns, in order.
pub const COLUMNS: [&str; 20] = [
    "id",
    "role",
    "subject",
    "requester",
    "target",
    "state",
    "ended",
    "ticket",
    "ticket_status",
    "reason",
    "approvers",
    "requested_at",
    "granted_at",
    "ended_at",
    "duration_secs",
    "break_glass",
    "revoke_failed_at",
    "outlived_secs",
    "agent",
    "task",
];

fn time(at: Option<DateTime<Utc>>) -> String {
    at.map(|t| rfc3339::format(&t)).unwrap_or_default()
}

fn number(n: Option<i64>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

pub fn write_csv(review: &Review, sink: impl Write) -> anyhow::Result<()> {
    let mut writer = csv::Writer::from_writer(sink);
    writer.write_record(COLUMNS)?;
    for lease in &review.leases {
        writer.write_record([
            lease.id.as_str(),
            &lease.role,
            &lease.subject,
            &lease.requester,
            &lease.target,
            &lease.state,
            lease.ended.as_deref().unwrap_or(""),
            lease.ticket.as_deref().unwrap_or(""),
            lease.ticket_status.as_deref().unwrap_or(""),
            lease.reason.as_deref().unwrap_or(""),
            &lease.approvers.join(" "),
            &rfc3339::format(&lease.requested_at),
            &time(lease.granted_at),
            &time(lease.ended_at),
            &number(lease.duration_secs),
            if lease.break_glass { "true" } else { "false" },
            &time(lease.revoke_failed_at),
            &number(lease.outlived_secs),
            lease.agent.as_ref().map_or("", |a| a.client.as_str()),
            lease.agent.as_ref().map_or("", |a| a.task.as_str()),
        ])?;
    }
    writer.flush()?;
    Ok(())
}
