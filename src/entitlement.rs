//! The end of a shared entitlement: one entitlement on the target for every lease of a role
//! and subject (`Sharing::PerSubject`), whose end must cover each of those leases.
//!
//! The engine computes it while it holds the entitlement's lock
//! ([`crate::store::Lock::Entitlement`]) and sets it on the target before letting go, so
//! that grants, extensions and revocations of one entitlement reach the target one at a
//! time, each with an end that counts every change before it.

use crate::lease::{Lease, LeaseState};
use chrono::{DateTime, Utc};

/// The end a lease needs the entitlement to last until, if it is live: `active`, or
/// `granting` with its window fixed (its grant is under way or about to be).
pub fn needs(lease: &Lease) -> Option<DateTime<Utc>> {
    match lease.state {
        LeaseState::Active | LeaseState::Granting => lease.expires_at,
        _ => None,
    }
}

/// The end the entitlement must have for `leases` (all of one role and subject): the latest
/// end a live one needs. `None` when none needs it.
pub fn end<'l>(leases: impl IntoIterator<Item = &'l Lease>) -> Option<DateTime<Utc>> {
    leases.into_iter().filter_map(needs).max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn lease(state: LeaseState, minutes: Option<i64>) -> Lease {
        let at = DateTime::parse_from_rfc3339("2026-12-01T19:00:00Z")
            .unwrap()
            .to_utc();
        Lease {
            id: format!("{state}-{minutes:?}"),
            role: "demo".into(),
            target: "demo".into(),
            backend: "command".into(),
            subject: "alice".into(),
            requester: "alice".into(),
            state,
            ticket: None,
            reason: None,
            created_at: at,
            granted_at: minutes.map(|_| at),
            expires_at: minutes.map(|m| at + TimeDelta::minutes(m)),
            ended_at: None,
            approvals: Vec::new(),
            break_glass: false,
            last_error: None,
            ttl_secs: 0,
            approvals_required: 0,
            handle: serde_json::Value::Null,
            params: serde_json::Value::Null,
            ending: None,
            worker: None,
            worker_at: None,
            attempts: 0,
            next_attempt_at: None,
            agent: None,
            agent_session: None,
        }
    }

    fn minutes(end: Option<DateTime<Utc>>) -> Option<i64> {
        let at = lease(LeaseState::Active, Some(0)).expires_at.unwrap();
        end.map(|end| (end - at).num_minutes())
    }

    #[test]
    fn the_latest_live_end_counts_and_nothing_else() {
        use LeaseState::*;
        // (state, end in minutes) of each lease, and the entitlement's end in minutes.
        type Row = (&'static [(LeaseState, Option<i64>)], Option<i64>);
        let table: [Row; 9] = [
            (&[], None),
            (&[(Active, Some(30))], Some(30)),
            (&[(Active, Some(30)), (Active, Some(50))], Some(50)),
            // A grant under way has its window fixed: it counts before it is active.
            (&[(Active, Some(30)), (Granting, Some(55))], Some(55)),
            // One not yet claimed has no window, and needs nothing yet.
            (&[(Granting, None)], None),
            // Leases being ended, or ended, need nothing.
            (&[(Active, Some(20)), (Revoking, Some(58))], Some(20)),
            (&[(Active, Some(20)), (RevokeFailed, Some(58))], Some(20)),
            (&[(Expired, Some(58)), (Revoked, Some(59))], None),
            (
                &[(Pending, None), (Failed, Some(40)), (Active, Some(10))],
                Some(10),
            ),
        ];
        for (leases, expected) in table {
            let leases: Vec<Lease> = leases.iter().map(|&(s, m)| lease(s, m)).collect();
            assert_eq!(minutes(end(&leases)), expected, "{leases:?}");
        }
    }
}
