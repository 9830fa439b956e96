//! `jit review`: the access review an auditor asks for, built from the audit trail and the
//! live state: every lease of the period with who asked, why, who approved and how it ended;
//! totals per role and per subject; denials and their rules; revocations that failed and how
//! long the entitlement outlived its lease; what `jit discover` finds; the eligibility rules
//! in force and when each was last certified; and the audit chain's verification and
//! checkpoint, so that the report is evidence rather than a copy. Written as JSON, CSV or one
//! self-contained HTML page (docs/review.md).

mod csv;
mod html;

use crate::config::Config;
use crate::engine::discover::Report;
use crate::lease::{Lease, LeaseState, Verdict, rfc3339};
use crate::store::{LeaseFilter, Store};
use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

pub use self::csv::write_csv;
pub use self::html::write_html;

/// What the review covers: a period, and optionally one role or one subject.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub role: Option<String>,
    pub subject: Option<String>,
}

/// The whole review (the `review` document of docs/json.md).
#[derive(Debug, Serialize)]
pub struct Review {
    pub chain: Chain,
    pub denials: Vec<Denial>,
    pub discover: Discovered,
    pub eligibility: Vec<Rule>,
    #[serde(serialize_with = "rfc3339::one")]
    pub generated_at: DateTime<Utc>,
    pub leases: Vec<ReviewLease>,
    /// The ids of the leases still live (pending, granting, active, revoking, revoke-failed).
    pub live: Vec<String>,
    pub period: Period,
    pub revoke_failures: Vec<RevokeFailure>,
    pub roles: Vec<Summary>,
    pub subjects: Vec<Summary>,
    pub totals: Summary,
}

#[derive(Debug, Serialize)]
pub struct Period {
    pub role: Option<String>,
    #[serde(serialize_with = "rfc3339::maybe")]
    pub since: Option<DateTime<Utc>>,
    pub subject: Option<String>,
    /// The end (exclusive) given, or the time the review was made.
    #[serde(serialize_with = "rfc3339::one")]
    pub until: DateTime<Utc>,
}

/// One lease of the period.
#[derive(Debug, Serialize)]
pub struct ReviewLease {
    /// The AI agent that asked through `jit mcp` (`client`, `task`); null for a person.
    pub agent: Option<crate::lease::Agent>,
    pub approvers: Vec<String>,
    pub break_glass: bool,
    /// Whole seconds from grant to end; null while live or when never granted.
    pub duration_secs: Option<i64>,
    /// How it ended (`expired`, `revoked`, `failed`, `cancelled`, `denied`); null while live.
    pub ended: Option<String>,
    #[serde(serialize_with = "rfc3339::maybe")]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rfc3339::maybe")]
    pub granted_at: Option<DateTime<Utc>>,
    pub id: String,
    /// Seconds the entitlement stayed after its first failed revocation.
    pub outlived_secs: Option<i64>,
    pub reason: Option<String>,
    pub requester: String,
    #[serde(serialize_with = "rfc3339::one")]
    pub requested_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339::maybe")]
    pub revoke_failed_at: Option<DateTime<Utc>>,
    pub role: String,
    pub state: String,
    pub subject: String,
    pub target: String,
    pub ticket: Option<String>,
    /// The status the ticketing system gave, as recorded at request time.
    pub ticket_status: Option<String>,
}

/// Counts over a set of leases (one role, one subject, or all).
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub break_glass: u64,
    pub denials: u64,
    pub expired: u64,
    pub granted: u64,
    pub leases: u64,
    pub live: u64,
    /// The median of `duration_secs` over the leases that ended after a grant.
    pub median_secs: Option<i64>,
    pub name: String,
    pub revoke_failures: u64,
    pub revoked: u64,
    pub total_secs: i64,
}

/// A refusal recorded in the audit trail.
#[derive(Debug, Serialize)]
pub struct Denial {
    pub actor: String,
    #[serde(serialize_with = "rfc3339::one")]
    pub at: DateTime<Utc>,
    pub lease_id: Option<String>,
    pub reason: Option<String>,
    pub role: Option<String>,
    /// The policy rule that refused (`eligibility`, `conflicts rule #1`, ...); null for an
    /// approver's denial or a ticket's.
    pub rule: Option<String>,
    pub seq: i64,
    pub subject: Option<String>,
}

/// A lease whose revocation failed at least once.
#[derive(Debug, Serialize)]
pub struct RevokeFailure {
    pub attempts: u64,
    #[serde(serialize_with = "rfc3339::maybe")]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rfc3339::one")]
    pub first_failed_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub lease_id: String,
    /// Seconds from the first failure to the end; null while it still holds.
    pub outlived_secs: Option<i64>,
    pub role: String,
    pub subject: String,
}

/// An eligibility rule in force, with what it lets whom request.
#[derive(Debug, Serialize)]
pub struct Rule {
    pub certified_by: Option<String>,
    #[serde(serialize_with = "rfc3339::maybe")]
    pub expires: Option<DateTime<Utc>>,
    pub in_force: bool,
    #[serde(serialize_with = "rfc3339::maybe")]
    pub last_certified: Option<DateTime<Utc>>,
    pub max_ttl: Option<String>,
    pub name: String,
    /// Whether its certification was overdue at the period's end (`review_every` passed
    /// since the last one, or never certified); false for a rule without `review_every`.
    pub overdue: bool,
    /// When the next certification was due; null when never certified or no `review_every`.
    #[serde(serialize_with = "rfc3339::maybe")]
    pub review_due: Option<DateTime<Utc>>,
    pub review_every: Option<String>,
    /// The configured roles it covers (`*` resolved).
    pub roles: Vec<String>,
    pub subjects: Vec<String>,
    pub window: Option<String>,
}

/// `jit discover`'s findings (targets that could not be asked are in `errors`).
#[derive(Debug, Serialize)]
pub struct Discovered {
    pub errors: Vec<Pair>,
    pub findings: Vec<Finding>,
    pub notes: Vec<Pair>,
}

#[derive(Debug, Serialize)]
pub struct Pair {
    pub target: String,
    pub text: String,
}

#[derive(Debug, Serialize)]
pub struct Finding {
    pub action: String,
    pub backend: String,
    pub entitlement: String,
    pub holder: String,
    pub id: String,
    pub kind: String,
    pub removable: bool,
    pub role: Option<String>,
    #[serde(serialize_with = "rfc3339::maybe")]
    pub since: Option<DateTime<Utc>>,
    pub subject: Option<String>,
    pub target: String,
}

/// The audit chain, verified whole, and where the period ends in it.
#[derive(Debug, Serialize)]
pub struct Chain {
    /// `seq:hash` of the last record at or before the period's end: with it, a later
    /// `jit audit verify --checkpoint` proves the records this review read are unchanged.
    pub checkpoint: Option<String>,
    /// Where the chain breaks, when it does.
    pub error: Option<String>,
    /// Records in the whole chain.
    pub events: u64,
    /// `seq:hash` of the chain's last record.
    pub head: Option<String>,
    /// Records within the period.
    pub period_events: u64,
    pub verified: bool,
}

/// What the review is built from: read through the store's traits, the configuration and
/// `jit discover`'s report.
pub struct Sources<'a> {
    pub config: &'a Config,
    pub store: &'a dyn Store,
    pub now: DateTime<Utc>,
    /// The discovery report, or why it could not be made.
    pub discovered: std::result::Result<Report, String>,
}

/// What the audit trail says about one lease beyond its row.
#[derive(Default)]
struct Facts {
    /// When the audit trail says it was granted, and ended.
    granted: Option<DateTime<Utc>>,
    ended: Option<DateTime<Utc>>,
    ticket_status: Option<String>,
    first_revoke_failed: Option<DateTime<Utc>>,
    revoke_failures: u64,
    last_error: Option<String>,
}

fn text_of(details: &serde_json::Value, key: &str) -> Option<String> {
    details.get(key).and_then(|v| v.as_str()).map(str::to_owned)
}

/// The middle of `durations` (sorted here): for an even count, the mean of the two middle
/// ones, rounded down.
pub fn median(durations: &mut [i64]) -> Option<i64> {
    if durations.is_empty() {
        return None;
    }
    durations.sort_unstable();
    let n = durations.len();
    Some(if n % 2 == 1 {
        durations[n / 2]
    } else {
        (durations[n / 2 - 1] + durations[n / 2]).div_euclid(2)
    })
}

/// Build the review of `scope` from `sources`.
pub fn build(sources: Sources<'_>, scope: &Scope) -> Result<Review> {
    let Sources {
        config,
        store,
        now,
        discovered,
    } = sources;
    let until = scope.until.unwrap_or(now);
    let since_text = scope.since.map(|t| rfc3339::format(&t));
    // Stored times are RFC 3339 UTC to the second, so they compare as text.
    let until_text = scope.until.map(|t| rfc3339::format(&t));
    let before_end = |at: &str| until_text.as_deref().is_none_or(|until| at < until);
    let in_period =
        |at: &str| since_text.as_deref().is_none_or(|since| at >= since) && before_end(at);

    // The leases of the period: requested before its end, not ended before its start.
    let leases: Vec<Lease> = store
        .leases(&LeaseFilter {
            role: scope.role.clone(),
            ..LeaseFilter::default()
        })?
        .into_iter()
        .filter(|l| scope.subject.as_ref().is_none_or(|s| &l.subject == s))
        .filter(|l| scope.until.is_none_or(|until| l.created_at < until))
        .filter(|l| {
            scope
                .since
                .is_none_or(|since| l.ended_at.is_none_or(|e| e >= since))
        })
        .collect();
    let mut facts: HashMap<&str, Facts> = leases
        .iter()
        .map(|l| (l.id.as_str(), Facts::default()))
        .collect();
    let by_id: HashMap<&str, &Lease> = leases.iter().map(|l| (l.id.as_str(), l)).collect();

    let mut denials = Vec::new();
    // The certifications and decertifications up to the period's end, read as policy reads
    // them (of a rule as it stood: its reference, subjects and roles).
    let mut reviewed: Vec<crate::audit::AuditEvent> = Vec::new();
    let mut checkpoint = None;
    let mut period_events = 0u64;
    store.each_event(&mut |event| {
        if !before_end(&event.at) {
            return Ok(());
        }
        checkpoint = Some(format!("{}:{}", event.seq, event.hash));
        if in_period(&event.at) {
            period_events += 1;
        }
        let details = &event.details;
        match event.kind.as_str() {
            "certified" | "decertified" => {
                reviewed.push(event.clone());
                return Ok(());
            }
            "denied" if in_period(&event.at) => {
                let lease = event.lease_id.as_deref().and_then(|id| by_id.get(id));
                let role = text_of(details, "role").or_else(|| lease.map(|l| l.role.clone()));
                let subject =
                    text_of(details, "subject").or_else(|| lease.map(|l| l.subject.clone()));
                let wanted = scope.role.as_ref().is_none_or(|r| role.as_ref() == Some(r))
                    && scope
                        .subject
                        .as_ref()
                        .is_none_or(|s| subject.as_ref() == Some(s));
                if wanted && let Some(at) = event.time() {
                    denials.push(Denial {
                        actor: event.actor.clone(),
                        at,
                        lease_id: event.lease_id.clone(),
                        reason: text_of(details, "reason"),
                        role,
                        rule: text_of(details, "rule"),
                        seq: event.seq,
                        subject,
                    });
                }
            }
            _ => {}
        }
        let Some(fact) = event.lease_id.as_deref().and_then(|id| facts.get_mut(id)) else {
            return Ok(());
        };
        match event.kind.as_str() {
            "requested" | "granted" => {
                if let Some(status) = text_of(details, "ticket_status") {
                    fact.ticket_status = Some(status);
                }
                if event.kind == "granted" {
                    fact.granted = event.time();
                }
            }
            "revoked" | "expired" | "reconciled" | "cancelled" | "denied" => {
                fact.ended = event.time();
            }
            "revoke-failed" => {
                fact.revoke_failures += 1;
                if fact.first_revoke_failed.is_none() {
                    fact.first_revoke_failed = event.time();
                }
                fact.last_error = text_of(details, "error");
            }
            _ => {}
        }
        Ok(())
    })?;

    let chain = match store.verify(None)? {
        Ok(head) => Chain {
            checkpoint,
            error: None,
            events: head.count,
            head: (head.seq > 0).then(|| format!("{}:{}", head.seq, head.hash)),
            period_events,
            verified: true,
        },
        Err(broken) => Chain {
            checkpoint,
            error: Some(broken.to_string()),
            events: 0,
            head: None,
            period_events,
            verified: false,
        },
    };

    let mut rows = Vec::with_capacity(leases.len());
    let mut revoke_failures = Vec::new();
    let mut live = Vec::new();
    for lease in &leases {
        let fact = facts.remove(lease.id.as_str()).unwrap_or_default();
        let is_live = !lease.state.is_final();
        if is_live {
            live.push(lease.id.clone());
        }
        // The times the audit trail recorded, where it did (the row's are read a moment
        // before the event is written).
        let granted_at = fact.granted.or(lease.granted_at);
        let ended_at = if is_live {
            None
        } else {
            fact.ended.or(lease.ended_at)
        };
        let duration_secs = match (granted_at, ended_at) {
            (Some(from), Some(to)) if !is_live => Some((to - from).num_seconds()),
            _ => None,
        };
        let outlived_secs = fact
            .first_revoke_failed
            .zip(ended_at)
            .map(|(from, to)| (to - from).num_seconds());
        if let Some(first) = fact.first_revoke_failed {
            revoke_failures.push(RevokeFailure {
                attempts: fact.revoke_failures,
                ended_at,
                first_failed_at: first,
                last_error: fact.last_error.clone(),
                lease_id: lease.id.clone(),
                outlived_secs,
                role: lease.role.clone(),
                subject: lease.subject.clone(),
            });
        }
        rows.push(ReviewLease {
            agent: lease.agent.clone(),
            approvers: lease
                .approvals
                .iter()
                .filter(|a| a.decision == Verdict::Approve)
                .map(|a| a.by.clone())
                .collect(),
            break_glass: lease.break_glass,
            duration_secs,
            ended: (!is_live).then(|| lease.state.as_str().to_owned()),
            ended_at,
            granted_at,
            id: lease.id.clone(),
            outlived_secs,
            reason: lease.reason.clone(),
            requester: lease.requester.clone(),
            requested_at: lease.created_at,
            revoke_failed_at: fact.first_revoke_failed,
            role: lease.role.clone(),
            state: lease.state.as_str().to_owned(),
            subject: lease.subject.clone(),
            target: lease.target.clone(),
            ticket: lease.ticket.clone(),
            ticket_status: fact.ticket_status,
        });
    }

    let totals = summarise("all", rows.iter(), denials.iter());
    let group = |key: fn(&ReviewLease) -> &str, denial_key: fn(&Denial) -> Option<&str>| {
        // One pass over each list: (leases, denials) by name.
        let mut by: BTreeMap<&str, (Vec<&ReviewLease>, Vec<&Denial>)> = BTreeMap::new();
        for row in &rows {
            by.entry(key(row)).or_default().0.push(row);
        }
        for denial in &denials {
            if let Some(name) = denial_key(denial) {
                by.entry(name).or_default().1.push(denial);
            }
        }
        by.into_iter()
            .map(|(name, (leases, refused))| {
                summarise(name, leases.into_iter(), refused.into_iter())
            })
            .collect::<Vec<_>>()
    };
    let roles = group(|r| &r.role, |d| d.role.as_deref());
    let subjects = group(|r| &r.subject, |d| d.subject.as_deref());

    let reviews = crate::certification::Reviews::from_events(&reviewed);
    let eligibility = config
        .eligibility
        .iter()
        .filter(|rule| scope.role.as_ref().is_none_or(|r| rule.covers_role(r)))
        .map(|rule| {
            let last = reviews.last_certified(rule);
            let standing = reviews.standing(rule, until);
            Rule {
                certified_by: last.map(|record| record.by.clone()),
                expires: rule.expires,
                in_force: rule.in_force(now),
                last_certified: last.map(|record| record.at),
                overdue: standing.as_ref().is_some_and(|s| s.overdue),
                review_every: standing.as_ref().map(|s| crate::duration::format(s.every)),
                review_due: standing.and_then(|s| s.due),
                max_ttl: rule.max_ttl.map(crate::duration::format),
                name: rule.name.clone(),
                roles: config
                    .roles
                    .keys()
                    .filter(|role| rule.covers_role(role))
                    .filter(|role| scope.role.as_ref().is_none_or(|r| r == *role))
                    .cloned()
                    .collect(),
                subjects: rule.subjects.iter().map(ToString::to_string).collect(),
                window: rule.window.as_ref().map(window_text),
            }
        })
        .collect();

    let discover = discovered_of(discovered, scope);
    Ok(Review {
        chain,
        denials,
        discover,
        eligibility,
        generated_at: now,
        leases: rows,
        live,
        period: Period {
            role: scope.role.clone(),
            since: scope.since,
            subject: scope.subject.clone(),
            until,
        },
        revoke_failures,
        roles,
        subjects,
        totals,
    })
}

/// A rule's window in words: `mon-fri 08:00-18:00 Europe/Berlin`.
fn window_text(window: &crate::config::Window) -> String {
    let days = window.weekdays.as_deref().unwrap_or("every day");
    let hours = match window.hours {
        Some((from, to)) => format!(
            " {:02}:{:02}-{:02}:{:02}",
            from / 60,
            from % 60,
            to / 60,
            to % 60
        ),
        None => String::new(),
    };
    format!("{days}{hours} {}", window.timezone)
}

fn summarise<'a>(
    name: &str,
    rows: impl Iterator<Item = &'a ReviewLease>,
    denials: impl Iterator<Item = &'a Denial>,
) -> Summary {
    let mut summary = Summary {
        name: name.to_owned(),
        denials: denials.count() as u64,
        ..Summary::default()
    };
    let mut durations = Vec::new();
    for row in rows {
        summary.leases += 1;
        summary.break_glass += u64::from(row.break_glass);
        summary.granted += u64::from(row.granted_at.is_some());
        summary.live += u64::from(row.ended.is_none());
        summary.expired += u64::from(row.state == LeaseState::Expired.as_str());
        summary.revoked += u64::from(row.state == LeaseState::Revoked.as_str());
        summary.revoke_failures += u64::from(row.revoke_failed_at.is_some());
        if let Some(secs) = row.duration_secs {
            summary.total_secs += secs;
            durations.push(secs);
        }
    }
    summary.median_secs = median(&mut durations);
    summary
}

fn discovered_of(discovered: std::result::Result<Report, String>, scope: &Scope) -> Discovered {
    let report = match discovered {
        Ok(report) => report,
        Err(error) => {
            return Discovered {
                errors: vec![Pair {
                    target: "*".to_owned(),
                    text: error,
                }],
                findings: Vec::new(),
                notes: Vec::new(),
            };
        }
    };
    let pairs = |list: &[(String, String)]| {
        list.iter()
            .map(|(target, text)| Pair {
                target: target.clone(),
                text: text.clone(),
            })
            .collect()
    };
    let findings = report
        .findings
        .iter()
        .filter(|f| {
            scope
                .role
                .as_ref()
                .is_none_or(|r| f.finding.role.as_ref() == Some(r))
                && scope.subject.as_ref().is_none_or(|s| {
                    f.finding
                        .subject
                        .as_deref()
                        .is_some_and(|subject| subject == s || subject == format!("user:{s}"))
                })
        })
        .map(|found| {
            let finding = &found.finding;
            Finding {
                action: finding.action.clone(),
                backend: found.backend.to_owned(),
                entitlement: finding.entitlement.clone(),
                holder: finding.holder.clone(),
                id: found.id.clone(),
                kind: finding.kind.as_str().to_owned(),
                removable: finding.removable(),
                role: finding.role.clone(),
                since: finding.since,
                subject: finding.subject.clone(),
                target: found.target.clone(),
            }
        })
        .collect();
    Discovered {
        errors: pairs(&report.errors),
        findings,
        notes: pairs(&report.notes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_middle_or_the_mean_of_the_two_middle_ones() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [5]), Some(5));
        assert_eq!(median(&mut [9, 1, 5]), Some(5));
        assert_eq!(median(&mut [4, 1, 2, 9]), Some(3));
        assert_eq!(median(&mut [1, 2]), Some(1));
    }
}
