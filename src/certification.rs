//! Certification of eligibility rules, as the audit trail holds it: the `certified` and
//! `decertified` events read into what policy weighs. Pure: the engine reads the events
//! with one store query and hands them in.
//!
//! A certification or a decertification is of a rule *as it stood*: its reference (the
//! rule's `name`, or `#N`) and the subjects and roles it named then. Once the rule names other
//! subjects or roles (or the rule is gone), the record no longer applies to it: the changed
//! rule needs certifying again, and a decertification lapses (the configuration now says
//! what is meant).

use crate::audit::AuditEvent;
use crate::config::{Config, Eligibility, ReviewOverdue, SubjectPattern};
use crate::identity::Identity;
use crate::lease::{Lease, LeaseState};
use crate::policy::recheck::{Cause, Check, Verdict};
use chrono::{DateTime, TimeDelta, Utc};
use std::time::Duration;

/// One `certified` or `decertified` record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub by: String,
    pub rule: String,
    /// The subjects and roles the rule named then, sorted.
    pub subjects: Vec<String>,
    pub roles: Vec<String>,
    pub reason: String,
    /// For a decertification: who may no longer request under the rule.
    pub subject: Option<String>,
}

impl Record {
    /// Whether this record is of `rule` as it stands now.
    pub fn applies_to(&self, rule: &Eligibility) -> bool {
        let (subjects, roles) = sorted(rule);
        self.rule == rule.reference() && self.subjects == subjects && self.roles == roles
    }
}

fn sorted(rule: &Eligibility) -> (Vec<String>, Vec<String>) {
    let (mut subjects, mut roles) = rule.covered();
    subjects.sort();
    roles.sort();
    (subjects, roles)
}

/// The certifications and decertifications in the audit trail, oldest first.
#[derive(Clone, Debug, Default)]
pub struct Reviews {
    pub certified: Vec<Record>,
    pub decertified: Vec<Record>,
}

impl Reviews {
    /// Read from the `certified` and `decertified` events (others are passed over).
    pub fn from_events(events: &[AuditEvent]) -> Reviews {
        let mut reviews = Reviews::default();
        for event in events {
            let Some(record) = read(event) else { continue };
            match event.kind.as_str() {
                "certified" => reviews.certified.push(record),
                "decertified" => reviews.decertified.push(record),
                _ => {}
            }
        }
        reviews
    }

    /// The last certification of `rule` as it stands now.
    pub fn last_certified(&self, rule: &Eligibility) -> Option<&Record> {
        self.certified.iter().rev().find(|r| r.applies_to(rule))
    }

    /// The decertification that keeps `who` from requesting under `rule`, if one does.
    pub fn decertified(&self, rule: &Eligibility, who: &Identity) -> Option<&Record> {
        self.decertified.iter().rev().find(|r| {
            r.applies_to(rule)
                && r.subject
                    .as_deref()
                    .and_then(|s| SubjectPattern::parse(s).ok())
                    .is_some_and(|s| who.matches(&s))
        })
    }

    /// Whether `rule`'s certification is overdue at `now`, and since when.
    pub fn standing(&self, rule: &Eligibility, now: DateTime<Utc>) -> Option<Standing> {
        let every = rule.review_every?;
        let last = self.last_certified(rule).map(|r| r.at);
        let due = last.map(|at| at + delta(every));
        Some(Standing {
            every,
            last,
            due,
            overdue: due.is_none_or(|due| now >= due),
            deny: rule.review_overdue == ReviewOverdue::Deny,
        })
    }
}

/// A rule's certification, where it has `review_every`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    pub every: Duration,
    /// When it was last certified as it stands now (None: never).
    pub last: Option<DateTime<Utc>>,
    /// When the next certification is due (None: at once, never certified); overdue since
    /// then once passed.
    pub due: Option<DateTime<Utc>>,
    pub overdue: bool,
    /// `review_overdue = "deny"`.
    pub deny: bool,
}

impl Standing {
    /// In words: `overdue since T (review_every 90d)`, `never certified (review_every 90d)`,
    /// `certified T, next due T`.
    pub fn describe(&self) -> String {
        let every = crate::duration::format(self.every);
        let time = |t: &DateTime<Utc>| crate::lease::rfc3339::format(t);
        match (self.overdue, &self.due) {
            (true, Some(due)) => format!(
                "overdue since {} (review_every {every}; last certified {})",
                time(due),
                self.last.as_ref().map(time).unwrap_or_default()
            ),
            (true, None) => format!("never certified (review_every {every})"),
            (false, Some(due)) => format!(
                "certified {}, next due {} (review_every {every})",
                self.last.as_ref().map(time).unwrap_or_default(),
                time(due)
            ),
            (false, None) => format!("review_every {every}"),
        }
    }
}

impl Standing {
    /// What is overdue, as a sentence goes on after the rule's name: `is overdue for
    /// certification since T (...)`, `has never been certified (review_every 90d)`.
    pub fn overdue_words(&self) -> String {
        match &self.due {
            Some(_) => format!(
                "is {}",
                self.describe()
                    .replacen("overdue", "overdue for certification", 1)
            ),
            None => format!(
                "has never been certified (review_every {})",
                crate::duration::format(self.every)
            ),
        }
    }
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 1000))
}

fn read(event: &AuditEvent) -> Option<Record> {
    let d = &event.details;
    let strings = |key: &str| -> Vec<String> {
        let mut list: Vec<String> = d[key]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        list.sort();
        list
    };
    Some(Record {
        seq: event.seq,
        at: event.time()?,
        by: event.actor.clone(),
        rule: d["rule"].as_str()?.to_owned(),
        subjects: strings("subjects"),
        roles: strings("roles"),
        reason: d["reason"].as_str().unwrap_or_default().to_owned(),
        subject: d["subject"].as_str().map(str::to_owned),
    })
}

/// At each sweep: the active leases and pending requests whose subject was decertified under
/// every rule in force that admits them to the lease's role now, with the decertification as
/// the cause (revoke; cancel a pending request). A lease another rule still admits is kept;
/// one no rule admits is the re-evaluation's own (`not-eligible`, `rule-expired`).
pub fn recheck<'l>(
    config: &Config,
    leases: &'l [Lease],
    subject: &dyn Fn(&str) -> Option<&'l Identity>,
    reviews: &Reviews,
    now: DateTime<Utc>,
) -> Vec<(&'l Lease, Verdict)> {
    if reviews.decertified.is_empty() {
        return Vec::new();
    }
    let mut verdicts = Vec::new();
    for lease in leases {
        if !matches!(lease.state, LeaseState::Active | LeaseState::Pending) {
            continue;
        }
        let Some(who) = subject(&lease.subject) else {
            continue;
        };
        let mut admitting = config.eligibility.iter().filter(|rule| {
            rule.covers_role(&lease.role)
                && rule.in_force(now)
                && rule.subjects.iter().any(|s| who.matches(s))
        });
        let Some(first) = admitting.next() else {
            continue;
        };
        let Some(record) = reviews.decertified(first, who) else {
            continue;
        };
        if admitting.any(|rule| reviews.decertified(rule, who).is_none()) {
            continue;
        }
        let cause = Cause {
            check: Check::Decertified,
            rule: Some(format!("{} decertified", first.name)),
            text: format!(
                "{} may no longer hold role {:?} under {}: {} was decertified by {} at {} ({})",
                lease.subject,
                lease.role,
                first.name,
                record.subject.as_deref().unwrap_or_default(),
                record.by,
                crate::lease::rfc3339::format(&record.at),
                record.reason
            ),
        };
        verdicts.push((
            lease,
            if lease.state == LeaseState::Pending {
                Verdict::Cancel(cause)
            } else {
                Verdict::Revoke(cause)
            },
        ));
    }
    verdicts
}
