//! Pure policy decisions: eligibility, the effective TTL and every cap behind it, tickets,
//! approvals. No I/O; the engine hands in what it knows.

use crate::config::{ApprovalRule, Config, Role, TicketRule};
use crate::duration;
use crate::identity::Identity;
use crate::lease::TtlLimits;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Duration;

pub mod recheck;

/// The TTL used when neither the request nor the role names one (before caps).
pub const FALLBACK_TTL: Duration = Duration::from_secs(3600);

/// A refusal by policy (exit 3).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denial(pub String);

/// One limit on the lease's length and where it comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cap {
    pub source: String,
    #[serde(serialize_with = "serialize_duration")]
    pub limit: Duration,
}

fn serialize_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&duration::format(*d))
}

/// The outcome of evaluating a request against policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub ttl: Duration,
    /// Where the TTL came from before caps: `requested`, `role default_ttl` or `fallback`.
    pub ttl_source: String,
    pub caps: Vec<Cap>,
    pub approvals_required: u32,
    pub approvers: Vec<String>,
}

/// Check eligibility, the ticket and the TTL for `who` asking for `role`.
pub fn evaluate(
    config: &Config,
    who: &Identity,
    role: &Role,
    requested: Option<Duration>,
    ticket: Option<&str>,
    limits: TtlLimits,
    now: DateTime<Utc>,
) -> Result<Decision, Denial> {
    let matching: Vec<(usize, &crate::config::Eligibility)> = config
        .eligibility
        .iter()
        .enumerate()
        .filter(|(_, rule)| {
            rule.covers_role(&role.name) && rule.subjects.iter().any(|s| who.matches(s))
        })
        .collect();
    let rules: Vec<(usize, &crate::config::Eligibility)> = matching
        .iter()
        .copied()
        .filter(|(_, rule)| rule.in_force(now))
        .collect();
    if let (true, Some((_, ended))) = (rules.is_empty(), matching.last()) {
        // Every rule that admitted the requester has expired: say which, and when.
        return Err(Denial(format!(
            "{} is no longer eligible for role {:?}: {} expired at {}",
            who.user,
            role.name,
            ended.name,
            ended
                .expires
                .map(|t| crate::lease::rfc3339::format(&t))
                .unwrap_or_default()
        )));
    }
    if rules.is_empty() {
        return Err(Denial(format!(
            "{} is not eligible for role {:?} (see `jit roles` for the roles you may request)",
            who.user, role.name
        )));
    }
    check_ticket(&role.ticket, ticket)?;

    let caps = caps_for(role, &rules, limits);
    let cap = caps
        .iter()
        .min_by_key(|c| c.limit)
        .map_or(duration::LONGEST, |c| c.limit);
    let (ttl, ttl_source) = match requested {
        Some(ttl) => {
            if let Some(binding) = caps
                .iter()
                .filter(|c| ttl > c.limit)
                .min_by_key(|c| c.limit)
            {
                return Err(Denial(format!(
                    "requested ttl {} is over the cap: {} is {} (ask for at most {})",
                    duration::format(ttl),
                    binding.source,
                    duration::format(binding.limit),
                    duration::format(cap)
                )));
            }
            (ttl, "requested")
        }
        None => match role.default_ttl {
            Some(default) => (default.min(cap), "role default_ttl"),
            None => (FALLBACK_TTL.min(cap), "fallback (1h)"),
        },
    };
    if let Some(min) = limits.min
        && ttl < min
    {
        return Err(Denial(format!(
            "ttl {} is shorter than the backend's minimum of {}",
            duration::format(ttl),
            duration::format(min)
        )));
    }
    Ok(Decision {
        ttl,
        ttl_source: ttl_source.to_owned(),
        caps,
        approvals_required: role.approvals.required,
        approvers: role.approvals.approvers(),
    })
}

fn caps_for(
    role: &Role,
    rules: &[(usize, &crate::config::Eligibility)],
    limits: TtlLimits,
) -> Vec<Cap> {
    let mut caps = vec![Cap {
        source: format!("role {} max_ttl", role.name),
        limit: role.max_ttl,
    }];
    for (index, rule) in rules {
        if let Some(limit) = rule.max_ttl {
            caps.push(Cap {
                source: format!("eligibility rule #{} max_ttl", index + 1),
                limit,
            });
        }
    }
    if let Some(limit) = limits.max {
        caps.push(Cap {
            source: limits.max_source.unwrap_or("backend maximum").to_owned(),
            limit,
        });
    }
    caps
}

/// A ticket is an identifier: letters, digits and `. _ : / # -`, at most 64 characters.
pub fn check_ticket_syntax(ticket: &str) -> Result<(), Denial> {
    let ok = !ticket.is_empty()
        && ticket.len() <= 64
        && ticket
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:/#-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Denial(format!(
            "ticket {} is not valid: a ticket is 1 to 64 letters, digits and . _ : / # -",
            crate::text::quoted(ticket)
        )))
    }
}

fn check_ticket(rule: &TicketRule, ticket: Option<&str>) -> Result<(), Denial> {
    match ticket {
        None if rule.required => Err(Denial(match &rule.pattern {
            Some(p) => format!("this role requires --ticket matching {}", p.as_str()),
            None => "this role requires --ticket".to_owned(),
        })),
        None => Ok(()),
        Some(ticket) => {
            check_ticket_syntax(ticket)?;
            match &rule.pattern {
                Some(p) if !p.is_match(ticket) => Err(Denial(format!(
                    "ticket {ticket:?} does not match the role's pattern {}",
                    p.as_str()
                ))),
                _ => Ok(()),
            }
        }
    }
}

/// A break-glass role is self-granted, so the request must say why.
pub fn check_break_glass(role: &Role, reason: Option<&str>) -> Result<(), Denial> {
    if role.break_glass && reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(Denial(format!(
            "role {} is break-glass: --reason is required",
            role.name
        )));
    }
    Ok(())
}

/// The shortest time any request may stay pending: requests older than this are the ones
/// the sweeper must look at (each is then held to its own role's timeout). Requests of a
/// role that has left the configuration are held to the default.
pub fn shortest_pending_timeout(config: &Config) -> Duration {
    config
        .roles
        .values()
        .filter_map(|role| role.approvals.timeout)
        .fold(ApprovalRule::DEFAULT_TIMEOUT, Duration::min)
}

/// Reasons are one line of printable text (no control or Unicode format characters), at
/// most 500 characters.
pub fn check_reason(reason: &str) -> Result<(), String> {
    if reason.chars().count() > 500 {
        return Err("the reason is longer than 500 characters".to_owned());
    }
    crate::text::check_typed("the reason", reason)
}

/// A role's `max_active`: refused when `live` leases of it are live already.
pub fn check_max_active(role: &Role, max: u32, live: usize) -> Result<(), Conflicted> {
    if live < usize::try_from(max).unwrap_or(usize::MAX) {
        return Ok(());
    }
    Err(Conflicted {
        rule: format!("roles.{}.max_active", role.name),
        denial: Denial(format!(
            "role {:?} has {live} live lease{}, its max_active of {max}: try again when one has ended",
            role.name,
            if live == 1 { "" } else { "s" }
        )),
    })
}

/// A lease that separation of duties weighs: one of the person's, of `role`, by `id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held<'l> {
    pub id: &'l str,
    pub role: &'l str,
}

/// A refusal by a rule that weighs other leases (`[[conflicts]]`, `max_active`), with the
/// rule that gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflicted {
    /// `conflicts #N`.
    pub rule: String,
    pub denial: Denial,
}

/// Separation of duties for `who` taking `role`: refused when a `[[conflicts]]` rule names
/// `role` and one of the leases `held` (live, or for an approver also asked for) is of another
/// role of the rule. `doing` says what is refused (`hold`, `approve a request for`).
pub fn check_conflicts(
    config: &Config,
    who: &str,
    doing: &str,
    role: &str,
    held: &[Held<'_>],
) -> Result<(), Conflicted> {
    for rule in &config.conflicts {
        let clash = rule
            .others_of(role)
            .find_map(|other| held.iter().find(|lease| lease.role == other));
        if let Some(lease) = clash {
            return Err(Conflicted {
                rule: rule.name.clone(),
                denial: Denial(format!(
                    "{who} may not {doing} role {role:?} while lease {} of role {:?} is live: {} ({})",
                    lease.id, lease.role, rule.reason, rule.name
                )),
            });
        }
    }
    Ok(())
}

/// May `approver` decide a request by `requester` for `role`?
pub fn check_approver(
    role: &Role,
    approver: &Identity,
    requester: &str,
    subject: &str,
) -> Result<(), Denial> {
    if approver.user == requester || approver.user == subject {
        return Err(Denial(format!(
            "{} may not decide their own request",
            approver.user
        )));
    }
    if !role.approvals.from.iter().any(|s| approver.matches(s)) {
        let from: Vec<String> = role.approvals.approvers();
        return Err(Denial(format!(
            "{} may not decide requests for role {:?}; approvers: {}",
            approver.user,
            role.name,
            if from.is_empty() {
                "none (the role needs no approval)".to_owned()
            } else {
                from.join(", ")
            }
        )));
    }
    Ok(())
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
default_ttl = "30m"
ticket = { required = true, pattern = "^CHG-[0-9]+$" }
approvals = { required = 1, from = ["group:leads"] }

[roles.open]
target = "t"
max_ttl = "4h"

[[eligibility]]
subjects = ["group:dba", "user:alice"]
roles = ["db"]
max_ttl = "1h"

[[eligibility]]
subjects = ["user:alice"]
roles = ["*"]
"#;

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

    fn config() -> Config {
        crate::config::parse(Path::new("c.toml"), CONFIG).unwrap()
    }

    fn hours(h: u64) -> Duration {
        Duration::from_secs(h * 3600)
    }

    #[test]
    fn effective_ttl_is_the_smallest_cap() {
        let config = config();
        let role = &config.roles["db"];
        let cases: &[(Option<Duration>, Result<u64, &str>)] = &[
            (None, Ok(1800)),
            (Some(Duration::from_secs(600)), Ok(600)),
            (Some(hours(1)), Ok(3600)),
            (
                Some(Duration::from_secs(3601)),
                Err("eligibility rule #1 max_ttl is 1h"),
            ),
            (Some(hours(3)), Err("eligibility rule #1 max_ttl is 1h")),
        ];
        for (requested, expected) in cases {
            let got = evaluate(
                &config,
                &who("bob", &["dba"]),
                role,
                *requested,
                Some("CHG-1"),
                TtlLimits::default(),
                Utc::now(),
            );
            match (got, expected) {
                (Ok(d), Ok(secs)) => assert_eq!(d.ttl.as_secs(), *secs, "{requested:?}"),
                (Err(Denial(msg)), Err(part)) => assert!(msg.contains(part), "{msg}"),
                (got, expected) => panic!("{requested:?}: got {got:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn backend_limits_are_caps() {
        let config = config();
        let role = &config.roles["open"];
        let limits = TtlLimits {
            min: Some(Duration::from_secs(900)),
            max: Some(Duration::from_secs(1200)),
            max_source: None,
        };
        let d = evaluate(
            &config,
            &who("alice", &[]),
            role,
            None,
            None,
            limits,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(d.ttl, Duration::from_secs(1200));
        assert_eq!(d.caps.len(), 2);
        let short = evaluate(
            &config,
            &who("alice", &[]),
            role,
            Some(Duration::from_secs(60)),
            None,
            limits,
            Utc::now(),
        );
        assert!(short.unwrap_err().0.contains("minimum of 15m"));
    }

    #[test]
    fn eligibility_by_user_and_group() {
        let config = config();
        let role = &config.roles["db"];
        let ok = |w: &Identity| {
            evaluate(
                &config,
                w,
                role,
                None,
                Some("CHG-1"),
                TtlLimits::default(),
                Utc::now(),
            )
            .is_ok()
        };
        assert!(ok(&who("alice", &[])));
        assert!(ok(&who("bob", &["dba"])));
        assert!(!ok(&who("bob", &["web"])));
        assert!(!ok(&who("mallory", &[])));
        let open = &config.roles["open"];
        assert!(
            evaluate(
                &config,
                &who("bob", &["dba"]),
                open,
                None,
                None,
                TtlLimits::default(),
                Utc::now()
            )
            .is_err()
        );
    }

    #[test]
    fn tickets_are_checked() {
        let config = config();
        let role = &config.roles["db"];
        let check = |t: Option<&str>| {
            evaluate(
                &config,
                &who("alice", &[]),
                role,
                None,
                t,
                TtlLimits::default(),
                Utc::now(),
            )
        };
        assert!(check(Some("CHG-42")).is_ok());
        assert!(check(None).unwrap_err().0.contains("requires --ticket"));
        assert!(
            check(Some("INC-42"))
                .unwrap_err()
                .0
                .contains("does not match")
        );
        for bad in ["CHG-1\"", "CHG-1;", "CHG-1\n", "CHG-1é", "", "CHG 1"] {
            assert!(
                check(Some(bad)).unwrap_err().0.contains("not valid"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn approvers_may_not_approve_themselves() {
        let config = config();
        let role = &config.roles["db"];
        assert!(check_approver(role, &who("carol", &["leads"]), "bob", "bob").is_ok());
        assert!(
            check_approver(role, &who("bob", &["leads"]), "bob", "bob")
                .unwrap_err()
                .0
                .contains("own request")
        );
        assert!(check_approver(role, &who("dave", &["dba"]), "bob", "bob").is_err());
    }

    #[test]
    fn break_glass_roles_need_a_reason() {
        let mut config = config();
        let open = config.roles.get_mut("open").unwrap();
        assert_eq!(check_break_glass(open, None), Ok(()));
        open.break_glass = true;
        let denial = Err(Denial(
            "role open is break-glass: --reason is required".to_owned(),
        ));
        assert_eq!(check_break_glass(open, None), denial);
        assert_eq!(check_break_glass(open, Some("  ")), denial);
        assert_eq!(check_break_glass(open, Some("outage INC-7")), Ok(()));
    }

    #[test]
    fn the_shortest_pending_timeout_counts_the_default() {
        let mut config = config();
        assert_eq!(shortest_pending_timeout(&config), hours(24));
        let db = config.roles.get_mut("db").unwrap();
        db.approvals.timeout = Some(hours(48));
        assert_eq!(shortest_pending_timeout(&config), hours(24));
        let db = config.roles.get_mut("db").unwrap();
        db.approvals.timeout = Some(Duration::from_secs(1800));
        assert_eq!(shortest_pending_timeout(&config), Duration::from_secs(1800));
    }

    #[test]
    fn reasons_are_one_line() {
        assert!(check_reason("rotate keys").is_ok());
        assert!(check_reason("ünïcode is fine").is_ok());
        assert!(check_reason("two\nlines").is_err());
        assert!(check_reason(&"x".repeat(501)).is_err());
    }
}
