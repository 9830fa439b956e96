//! Live leases against the rules as they are now: what the sweeper does to each active lease
//! and pending request when the configuration or the OS groups have changed since it was
//! granted or asked for. Pure: the engine hands in the leases, the subjects' groups and now.
//!
//! For an active lease, in this order:
//! - its role, or its target, is gone from the configuration: revoke;
//! - no eligibility rule for the role admits its subject any more (a rule deleted, the
//!   subject no longer in a group a rule names), or every rule that does has expired: revoke;
//! - a cap (the role's `max_ttl`, a matching rule's `max_ttl`) is now shorter than the
//!   lease's window: the lease may end no later than the start of its window (its grant, or
//!   its last extension, from which the cap was measured then) plus the cap now; shorten it
//!   to that, or revoke it when that is already past;
//! - two of a subject's leases that remain are of roles a `[[conflicts]]` rule keeps apart:
//!   the later one (by grant, then creation) is revoked, the earlier one stays.
//!
//! A pending request is cancelled when its subject is no longer eligible for its role (caps
//! and conflicts are checked again when it is decided; one whose role or target has left the
//! configuration waits for the default approval timeout, as before, since nothing can grant
//! it).
//! Break-glass leases are held to the same checks: break-glass spares a lease approvals (and
//! `max_active`), not eligibility, caps or separation of duties, which its request was held
//! to as well. Time windows and `max_active` are conditions of a request, not of a lease
//! already granted, and are not checked again.

use crate::config::{Config, Eligibility};
use crate::duration;
use crate::identity::Identity;
use crate::lease::{Lease, LeaseState, rfc3339};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Which check a lease failed, as the audit trail and `jit config check --live` name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    RoleRemoved,
    TargetRemoved,
    NotEligible,
    RuleExpired,
    Cap,
    Conflict,
    /// The subject was decertified under every rule that admits them (`jit review
    /// revoke-eligibility`; see [`crate::certification::recheck`]).
    Decertified,
    /// The `jit mcp` session an agent's lease was bound to has ended (see
    /// [`crate::engine::Session`]).
    SessionEnded,
    /// An agent's lease of a role that no longer has an `agent` table.
    AgentsClosed,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::RoleRemoved => "role-removed",
            Check::TargetRemoved => "target-removed",
            Check::NotEligible => "not-eligible",
            Check::RuleExpired => "rule-expired",
            Check::Cap => "cap",
            Check::Conflict => "conflict",
            Check::Decertified => "decertified",
            Check::SessionEnded => "session-ended",
            Check::AgentsClosed => "agents-closed",
        }
    }
}

/// Why a lease is revoked, shortened or cancelled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    pub check: Check,
    /// The rule that decided, where one did: `eligibility rule #2`, `conflicts #1`,
    /// `roles.db.max_ttl`.
    pub rule: Option<String>,
    /// One sentence for people.
    pub text: String,
}

/// What the sweeper does to one live lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    /// End the active lease earlier, at `to`.
    Shorten {
        to: DateTime<Utc>,
        ttl: Duration,
        cause: Cause,
    },
    Revoke(Cause),
    /// Cancel the pending request.
    Cancel(Cause),
}

/// Whether eligibility for `role` can depend on a subject's groups: only then does the
/// engine look them up.
pub fn needs_groups(config: &Config, role: &str) -> bool {
    config.eligibility.iter().any(|rule| {
        rule.covers_role(role)
            && rule
                .subjects
                .iter()
                .any(|s| matches!(s, crate::config::SubjectPattern::Group(_)))
    })
}

/// The groups the eligibility rules name, each once.
pub fn named_groups(config: &Config) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for rule in &config.eligibility {
        for subject in &rule.subjects {
            if let crate::config::SubjectPattern::Group(name) = subject
                && !names.contains(name)
            {
                names.push(name.clone());
            }
        }
    }
    names
}

/// Every active lease and pending request of `leases` that the rules no longer allow as it
/// is, with what to do; those kept are left out. `subject` gives the subject of a lease as
/// the OS knows them now; a lease whose subject it cannot give is left alone.
pub fn recheck<'l>(
    config: &Config,
    leases: &'l [Lease],
    subject: &dyn Fn(&str) -> Option<&'l Identity>,
    now: DateTime<Utc>,
) -> Vec<(&'l Lease, Verdict)> {
    let mut verdicts: Vec<(&Lease, Verdict)> = Vec::new();
    // The active leases still kept after the checks of each alone, by subject.
    let mut kept: BTreeMap<&str, Vec<&Lease>> = BTreeMap::new();
    for lease in leases {
        let Some(who) = subject(&lease.subject) else {
            continue;
        };
        let verdict = match lease.state {
            LeaseState::Active => active(config, lease, who, now),
            // A request of a role (or target) that left the configuration can never be
            // granted: it waits for the default approval timeout, as it always has.
            LeaseState::Pending => match standing(config, lease, who, now) {
                Err(cause) if matches!(cause.check, Check::RoleRemoved | Check::TargetRemoved) => {
                    Verdict::Keep
                }
                Err(cause) => Verdict::Cancel(cause),
                Ok(_) => Verdict::Keep,
            },
            _ => continue,
        };
        if lease.state == LeaseState::Active && !matches!(verdict, Verdict::Revoke(_)) {
            kept.entry(lease.subject.as_str()).or_default().push(lease);
        }
        if verdict != Verdict::Keep {
            verdicts.push((lease, verdict));
        }
    }
    for held in kept.values_mut() {
        for (lease, cause) in conflicts(config, held) {
            match verdicts.iter_mut().find(|(l, _)| l.id == lease.id) {
                Some((_, verdict)) => *verdict = Verdict::Revoke(cause),
                None => verdicts.push((lease, Verdict::Revoke(cause))),
            }
        }
    }
    verdicts
}

/// One active lease alone: its role, target, eligibility and caps.
pub fn active(config: &Config, lease: &Lease, who: &Identity, now: DateTime<Utc>) -> Verdict {
    let rules = match standing(config, lease, who, now) {
        Ok(rules) => rules,
        Err(cause) => return Verdict::Revoke(cause),
    };
    let (Some(role), Some(end)) = (config.roles.get(&lease.role), lease.expires_at) else {
        return Verdict::Keep;
    };
    // The smallest cap, and whose it is (`None`: the role's); named only when it binds.
    let (binding, mut cap) = rules
        .iter()
        .filter_map(|rule| rule.max_ttl.map(|cap| (Some(*rule), cap)))
        .fold((None, role.max_ttl), |least, next| {
            if next.1 < least.1 { next } else { least }
        });
    // An agent's lease is held to the agent cap too.
    let agent_cap = role
        .agent
        .as_ref()
        .filter(|agent| lease.agent.is_some() && agent.max_ttl < cap)
        .map(|agent| agent.max_ttl);
    if let Some(agent_cap) = agent_cap {
        cap = agent_cap;
    }
    // The cap was measured from the start of the window: the grant, or the last extension
    // (which sets the window to now + its ttl).
    let start = end - TimeDelta::seconds(lease.ttl_secs);
    let latest = start + TimeDelta::seconds(i64::try_from(cap.as_secs()).unwrap_or(i64::MAX));
    if latest >= end {
        return Verdict::Keep;
    }
    let source = match (agent_cap, binding) {
        (Some(_), _) => format!("roles.{}.agent.max_ttl", role.name),
        (None, Some(rule)) => format!("{} max_ttl", rule.name),
        (None, None) => format!("roles.{}.max_ttl", role.name),
    };
    let text = format!(
        "{source} is now {}: lease {} may last until {} ({} from {}), not {}",
        duration::format(cap),
        lease.id,
        rfc3339::format(&latest),
        duration::format(cap),
        rfc3339::format(&start),
        rfc3339::format(&end)
    );
    let cause = Cause {
        check: Check::Cap,
        rule: Some(source),
        text,
    };
    if latest <= now {
        Verdict::Revoke(cause)
    } else {
        Verdict::Shorten {
            to: latest,
            ttl: cap,
            cause,
        }
    }
}

/// The lease's role and target still exist, and the rules that admit its subject to the
/// role now.
fn standing<'c>(
    config: &'c Config,
    lease: &Lease,
    who: &Identity,
    now: DateTime<Utc>,
) -> Result<Vec<&'c Eligibility>, Cause> {
    let Some(role) = config.roles.get(&lease.role) else {
        return Err(Cause {
            check: Check::RoleRemoved,
            rule: None,
            text: format!("role {:?} is no longer in the configuration", lease.role),
        });
    };
    if !config.targets.contains_key(&lease.target) {
        return Err(Cause {
            check: Check::TargetRemoved,
            rule: None,
            text: format!(
                "target {:?} of role {:?} is no longer in the configuration",
                lease.target, role.name
            ),
        });
    }
    if lease.agent.is_some() && role.agent.is_none() {
        return Err(Cause {
            check: Check::AgentsClosed,
            rule: Some(format!("roles.{}.agent", role.name)),
            text: format!(
                "role {:?} is no longer open to agents: it has no [roles.{}.agent] table",
                role.name, role.name
            ),
        });
    }
    let matching: Vec<&Eligibility> = config
        .eligibility
        .iter()
        .filter(|rule| rule.covers_role(&role.name) && rule.subjects.iter().any(|s| who.matches(s)))
        .collect();
    let in_force: Vec<&Eligibility> = matching
        .iter()
        .copied()
        .filter(|rule| rule.in_force(now))
        .collect();
    if !in_force.is_empty() {
        return Ok(in_force);
    }
    if let Some(ended) = matching.last() {
        return Err(Cause {
            check: Check::RuleExpired,
            rule: Some(ended.name.clone()),
            text: format!(
                "{} is no longer eligible for role {:?}: {} expired at {}",
                lease.subject,
                role.name,
                ended.name,
                ended
                    .expires
                    .map(|t| rfc3339::format(&t))
                    .unwrap_or_default()
            ),
        });
    }
    // Every group a rule in force for the role names: the subject is in none of them.
    let mut groups: Vec<String> = Vec::new();
    for rule in config
        .eligibility
        .iter()
        .filter(|rule| rule.covers_role(&role.name) && rule.in_force(now))
    {
        for subject in &rule.subjects {
            if let crate::config::SubjectPattern::Group(name) = subject
                && !groups.contains(name)
            {
                groups.push(name.clone());
            }
        }
    }
    let not_in = if groups.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = groups.iter().map(|g| format!("group:{g}")).collect();
        format!(" (not in {})", names.join(", "))
    };
    Err(Cause {
        check: Check::NotEligible,
        rule: None,
        text: format!(
            "{} is no longer eligible for role {:?}: no eligibility rule admits them{not_in}",
            lease.subject, role.name
        ),
    })
}

/// Of one subject's active leases, those a `[[conflicts]]` rule no longer lets stay: going
/// through them in the order they were granted, each lease of a role that conflicts with one
/// kept before it. The earlier lease stays: it was granted while the rules allowed it, and
/// the later one is the one the rule would have refused.
fn conflicts<'l>(config: &Config, held: &mut [&'l Lease]) -> Vec<(&'l Lease, Cause)> {
    if config.conflicts.is_empty() || held.len() < 2 {
        return Vec::new();
    }
    held.sort_by(|a, b| {
        (a.granted_at, a.created_at, &a.id).cmp(&(b.granted_at, b.created_at, &b.id))
    });
    let mut kept: Vec<&Lease> = Vec::new();
    let mut revoked = Vec::new();
    for &lease in held.iter() {
        let clash = config.conflicts.iter().find_map(|rule| {
            rule.others_of(&lease.role)
                .find_map(|other| kept.iter().find(|k| k.role == other))
                .map(|earlier| (rule, *earlier))
        });
        match clash {
            Some((rule, earlier)) => revoked.push((
                lease,
                Cause {
                    check: Check::Conflict,
                    rule: Some(rule.name.clone()),
                    text: format!(
                        "{} may not hold role {:?} while lease {} of role {:?} is live: {} ({}); the later lease is revoked",
                        lease.subject, lease.role, earlier.id, earlier.role, rule.reason, rule.name
                    ),
                },
            )),
            None => kept.push(lease),
        }
    }
    revoked
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const CONFIG: &str = r#"
[targets.t]
backend = "command"
program = "/bin/true"

[roles.db]
target = "t"
max_ttl = "2h"

[roles.ledger]
target = "t"
max_ttl = "4h"

[roles.payout]
target = "t"
max_ttl = "4h"

[roles.audit]
target = "t"
max_ttl = "4h"

[[conflicts]]
roles = ["ledger", "payout", "audit"]
reason = "who books a payment does not pay it out"

[[eligibility]]
subjects = ["group:dba"]
roles = ["db"]
max_ttl = "1h"

[[eligibility]]
subjects = ["user:alice"]
roles = ["*"]

[[eligibility]]
subjects = ["user:carol"]
roles = ["db"]
expires = "2026-12-01T10:30:00Z"
"#;

    fn config() -> Config {
        crate::config::parse(Path::new("c.toml"), CONFIG).unwrap()
    }

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .to_utc()
            + TimeDelta::minutes(minutes)
    }

    fn who(user: &str, groups: &[&str]) -> Identity {
        Identity {
            user: user.to_owned(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            os_user: user.to_owned(),
            home: std::path::PathBuf::from("/home").join(user),
            uid: 1000,
            gid: 1000,
        }
    }

    /// An active lease of `role` for `subject`, granted at minute `at` for `ttl` minutes.
    fn lease(id: &str, role: &str, subject: &str, at: i64, ttl: i64) -> Lease {
        Lease {
            id: id.to_owned(),
            role: role.to_owned(),
            target: "t".to_owned(),
            backend: "command".to_owned(),
            subject: subject.to_owned(),
            requester: subject.to_owned(),
            state: LeaseState::Active,
            ticket: None,
            reason: None,
            created_at: t(at),
            granted_at: Some(t(at)),
            expires_at: Some(t(at + ttl)),
            ended_at: None,
            approvals: Vec::new(),
            break_glass: false,
            last_error: None,
            ttl_secs: ttl * 60,
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

    fn check_of(verdict: &Verdict) -> Option<Check> {
        match verdict {
            Verdict::Keep => None,
            Verdict::Shorten { cause, .. } | Verdict::Revoke(cause) | Verdict::Cancel(cause) => {
                Some(cause.check)
            }
        }
    }

    #[test]
    fn each_lease_alone_against_the_rules_now() {
        let config = config();
        let bob = who("bob", &["dba"]);
        let bob_left = who("bob", &["web"]);
        let carol = who("carol", &[]);
        let cases: &[(&str, Lease, &Identity, i64, Option<Check>)] = &[
            (
                "in the group",
                lease("a", "db", "bob", 0, 60),
                &bob,
                10,
                None,
            ),
            (
                "left the group",
                lease("a", "db", "bob", 0, 60),
                &bob_left,
                10,
                Some(Check::NotEligible),
            ),
            (
                "rule in force",
                lease("a", "db", "carol", 0, 60),
                &carol,
                10,
                None,
            ),
            (
                "rule expired",
                lease("a", "db", "carol", 0, 60),
                &carol,
                31,
                Some(Check::RuleExpired),
            ),
            (
                "role removed",
                lease("a", "gone", "alice", 0, 60),
                &who("alice", &[]),
                10,
                Some(Check::RoleRemoved),
            ),
        ];
        for (name, lease, who, now, expected) in cases {
            let verdict = active(&config, lease, who, t(*now));
            assert_eq!(check_of(&verdict), *expected, "{name}: {verdict:?}");
        }
        let mut moved = lease("a", "db", "alice", 0, 60);
        moved.target = "old".to_owned();
        let verdict = active(&config, &moved, &who("alice", &[]), t(10));
        assert_eq!(check_of(&verdict), Some(Check::TargetRemoved));
    }

    #[test]
    fn a_lowered_cap_shortens_from_the_start_of_the_window_or_revokes() {
        let mut config = config();
        let alice = who("alice", &[]);
        // 2h granted at 10:00, role max_ttl still 2h: kept.
        let long = lease("a", "db", "alice", 0, 120);
        assert_eq!(active(&config, &long, &alice, t(10)), Verdict::Keep);
        config.roles.get_mut("db").unwrap().max_ttl = Duration::from_secs(1800);
        match active(&config, &long, &alice, t(10)) {
            Verdict::Shorten { to, ttl, cause } => {
                assert_eq!(to, t(30));
                assert_eq!(ttl, Duration::from_secs(1800));
                assert_eq!(cause.rule.as_deref(), Some("roles.db.max_ttl"));
                assert!(
                    cause.text.contains("roles.db.max_ttl is now 30m"),
                    "{}",
                    cause.text
                );
            }
            other => panic!("{other:?}"),
        }
        // Already past granted_at + 30m: revoked.
        let verdict = active(&config, &long, &alice, t(45));
        assert!(matches!(
            verdict,
            Verdict::Revoke(Cause {
                check: Check::Cap,
                ..
            })
        ));
        // Extended at 10:50 for 30m (window 10:50..11:20): within the cap, kept.
        let mut extended = lease("b", "db", "alice", 0, 30);
        extended.expires_at = Some(t(80));
        assert_eq!(active(&config, &extended, &alice, t(60)), Verdict::Keep);
    }

    #[test]
    fn a_matching_rules_cap_counts() {
        let config = config();
        let bob = who("bob", &["dba"]);
        // Granted for 90 minutes (under a looser rule), now held to rule #1's 1h.
        match active(&config, &lease("a", "db", "bob", 0, 90), &bob, t(10)) {
            Verdict::Shorten { to, cause, .. } => {
                assert_eq!(to, t(60));
                assert_eq!(cause.rule.as_deref(), Some("eligibility rule #1 max_ttl"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn of_two_conflicting_leases_the_later_is_revoked() {
        let config = config();
        let alice = who("alice", &[]);
        let leases = vec![
            lease("late", "payout", "alice", 5, 60),
            lease("early", "ledger", "alice", 0, 60),
            lease("third", "audit", "alice", 7, 60),
            lease("same", "ledger", "alice", 8, 60),
            lease("other", "payout", "bob", 9, 60),
        ];
        let verdicts = recheck(&config, &leases, &|_| Some(&alice), t(10));
        let revoked: Vec<(&str, Option<&str>)> = verdicts
            .iter()
            .map(|(lease, verdict)| match verdict {
                Verdict::Revoke(cause) => (lease.id.as_str(), cause.rule.as_deref()),
                other => panic!("{other:?}"),
            })
            .collect();
        // Same-role leases do not conflict, and bob's lease is alone among his.
        assert_eq!(
            revoked,
            vec![
                ("late", Some("conflicts #1")),
                ("third", Some("conflicts #1"))
            ]
        );
        let (_, Verdict::Revoke(cause)) = &verdicts[0] else {
            unreachable!()
        };
        assert!(
            cause.text.contains("while lease early of role \"ledger\""),
            "{}",
            cause.text
        );
    }

    #[test]
    fn a_lease_revoked_for_eligibility_does_not_count_in_a_conflict() {
        let config = config();
        let carol = who("carol", &[]);
        let alice = who("alice", &[]);
        // carol's db lease is revoked for the expired rule; alice's are each alone.
        let leases = vec![
            lease("c", "db", "carol", 0, 60),
            lease("a", "ledger", "alice", 0, 60),
        ];
        let subject = |name: &str| match name {
            "carol" => Some(&carol),
            "alice" => Some(&alice),
            _ => None,
        };
        let verdicts = recheck(&config, &leases, &subject, t(40));
        assert_eq!(verdicts.len(), 1);
        assert_eq!(verdicts[0].0.id, "c");
        assert_eq!(check_of(&verdicts[0].1), Some(Check::RuleExpired));
    }

    #[test]
    fn pending_requests_are_cancelled_when_not_eligible_and_unknown_subjects_left_alone() {
        let config = config();
        let bob = who("bob", &["web"]);
        let mut asked = lease("p", "db", "bob", 0, 60);
        asked.state = LeaseState::Pending;
        asked.granted_at = None;
        asked.expires_at = None;
        let mut orphan = asked.clone();
        orphan.id = "o".to_owned();
        orphan.role = "gone".to_owned();
        let leases = vec![asked, orphan, lease("u", "db", "nobody", 0, 60)];
        let subject = |name: &str| (name == "bob").then_some(&bob);
        let verdicts = recheck(&config, &leases, &subject, t(10));
        assert_eq!(verdicts.len(), 1);
        assert!(matches!(
            &verdicts[0].1,
            Verdict::Cancel(Cause {
                check: Check::NotEligible,
                ..
            })
        ));
    }

    #[test]
    fn groups_are_needed_only_where_a_rule_names_a_group() {
        let config = config();
        assert!(needs_groups(&config, "db"));
        assert!(!needs_groups(&config, "ledger"));
    }
}
