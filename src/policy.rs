//! Pure policy decisions: eligibility, the effective TTL and every cap behind it, tickets,
//! approvals. No I/O; the engine hands in what it knows.

use crate::config::{ApprovalRule, Config, Eligibility, Role, TicketRule, Window};
use crate::duration;
use crate::identity::Identity;
use crate::lease::TtlLimits;
use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};
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

/// Check eligibility, the role's window, the ticket and the TTL for `who` asking for
/// `role`; a refusal names the rule that gave it.
/// What a request asks for, as policy weighs it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Asked<'a> {
    pub ttl: Option<Duration>,
    pub ticket: Option<&'a str>,
    /// Asked by an AI agent through `jit mcp`: the role's `agent` table applies.
    pub by_agent: bool,
}

pub fn evaluate(
    config: &Config,
    who: &Identity,
    role: &Role,
    asked: Asked<'_>,
    limits: TtlLimits,
    now: DateTime<Utc>,
) -> Result<Decision, Refused> {
    let Asked {
        ttl: requested,
        ticket,
        by_agent,
    } = asked;
    if by_agent && role.agent.is_none() {
        return Err(Refused::by(
            &format!("roles.{}.agent", role.name),
            format!(
                "role {:?} is not open to agents: it has no [roles.{}.agent] table",
                role.name, role.name
            ),
        ));
    }
    let rules = admitting(config, who, role, now)?;
    check_role_window(role, now, "requested")?;
    check_ticket(role, ticket)?;

    let mut caps = caps_for(role, &rules, limits);
    if let (Some(agent), true) = (&role.agent, by_agent) {
        caps.push(Cap {
            source: format!("role {} agent max_ttl", role.name),
            limit: agent.max_ttl,
        });
    }
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
                return Err(Refused::by(
                    &binding.source,
                    format!(
                        "requested ttl {} is over the cap: {} is {} (ask for at most {})",
                        duration::format(ttl),
                        binding.source,
                        duration::format(binding.limit),
                        duration::format(cap)
                    ),
                ));
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
        return Err(Refused::by(
            "backend minimum",
            format!(
                "ttl {} is shorter than the backend's minimum of {}",
                duration::format(ttl),
                duration::format(min)
            ),
        ));
    }
    Ok(Decision {
        ttl,
        ttl_source: ttl_source.to_owned(),
        caps,
        approvals_required: role.approvals_for(by_agent).required,
        approvers: role.approvals_for(by_agent).approvers(),
    })
}

/// The eligibility rules that admit `who` to `role` at `now`: they name the role and the
/// person, have not expired, and are inside their window (a break-glass role is not held to
/// the window). None: refused, by `eligibility` when no rule names the person, else by the
/// rule that stopped admitting (one whose window is closed first: it opens again).
fn admitting<'c>(
    config: &'c Config,
    who: &Identity,
    role: &Role,
    now: DateTime<Utc>,
) -> Result<Vec<(usize, &'c Eligibility)>, Refused> {
    let matching: Vec<(usize, &Eligibility)> = config
        .eligibility
        .iter()
        .enumerate()
        .filter(|(_, rule)| {
            rule.covers_role(&role.name) && rule.subjects.iter().any(|s| who.matches(s))
        })
        .collect();
    let open = |rule: &Eligibility| {
        role.break_glass || rule.window.as_ref().is_none_or(|w| window_open(w, now))
    };
    let rules: Vec<(usize, &Eligibility)> = matching
        .iter()
        .copied()
        .filter(|(_, rule)| rule.in_force(now) && open(rule))
        .collect();
    if !rules.is_empty() {
        return Ok(rules);
    }
    let closed = matching
        .iter()
        .find(|(_, rule)| rule.in_force(now) && !open(rule));
    if let Some((_, rule)) = closed {
        let window = rule.window.as_ref().expect("a closed rule has a window");
        return Err(Refused::by(
            &format!("{} window", rule.name),
            format!(
                "{} is eligible for role {:?} only {} ({}; now: {})",
                who.user,
                role.name,
                window.describe(),
                rule.name,
                window_now(window, now)
            ),
        ));
    }
    if let Some((_, ended)) = matching.last() {
        // Every rule that admitted the requester has expired: say which, and when.
        return Err(Refused::by(
            &format!("{} expires", ended.name),
            format!(
                "{} is no longer eligible for role {:?}: {} expired at {}",
                who.user,
                role.name,
                ended.name,
                ended
                    .expires
                    .map(|t| crate::lease::rfc3339::format(&t))
                    .unwrap_or_default()
            ),
        ));
    }
    Err(Refused::by(
        "eligibility",
        format!(
            "{} is not eligible for role {:?} (see `jit roles` for the roles you may request)",
            who.user, role.name
        ),
    ))
}

/// Certification (`jit review certify`, `jit review revoke-eligibility`): refused when every
/// rule that would admit `who` to `role` at `now` is kept from doing so, because `who` was
/// decertified under it, or because its certification is overdue and it says
/// `review_overdue = "deny"` (a break-glass role is not held to that one). A rule that still
/// admits is enough; no matching rule is left for [`evaluate`] to refuse.
pub fn check_reviews(
    config: &Config,
    who: &Identity,
    role: &Role,
    reviews: &crate::certification::Reviews,
    now: DateTime<Utc>,
) -> Result<(), Refused> {
    let mut first: Option<Refused> = None;
    let matching = config.eligibility.iter().filter(|rule| {
        rule.covers_role(&role.name)
            && rule.in_force(now)
            && rule.subjects.iter().any(|s| who.matches(s))
    });
    for rule in matching {
        let refused = if let Some(record) = reviews.decertified(rule, who) {
            Refused::by(
                &format!("{} decertified", rule.name),
                format!(
                    "{} may no longer request role {:?} under {}: {} was decertified by {} at {} ({})",
                    who.user,
                    role.name,
                    rule.name,
                    record.subject.as_deref().unwrap_or_default(),
                    record.by,
                    crate::lease::rfc3339::format(&record.at),
                    record.reason
                ),
            )
        } else if let Some(standing) = reviews.standing(rule, now)
            && standing.overdue
            && standing.deny
            && !role.break_glass
        {
            Refused::by(
                &format!("{} review_overdue", rule.name),
                format!(
                    "{} {}: review_overdue = \"deny\" refuses requests under it until `jit review certify {}`",
                    rule.name,
                    standing.overdue_words(),
                    rule.reference()
                ),
            )
        } else {
            return Ok(());
        };
        first.get_or_insert(refused);
    }
    first.map_or(Ok(()), Err)
}

/// Whether `window` is open at `at`, by the day and the time on its time zone's clock (so a
/// day of a daylight-saving change is as long as that day is there). A window past midnight
/// belongs to the day it opens on: `weekdays = ["fri"], hours = "22:00-06:00"` is open on
/// Saturday at 02:00 and not on Friday at 02:00.
pub fn window_open(window: &Window, at: DateTime<Utc>) -> bool {
    let local = at.with_timezone(&window.timezone);
    let minute = u16::try_from(local.hour() * 60 + local.minute()).unwrap_or(0);
    let today = local.weekday().num_days_from_monday() as usize;
    match window.hours {
        None => window.days[today],
        Some((from, to)) if from < to => from <= minute && minute < to && window.days[today],
        Some((from, _)) if minute >= from => window.days[today],
        Some((_, to)) if minute < to => window.days[(today + 6) % 7],
        Some(_) => false,
    }
}

/// `at` on the window's clock, as messages show it: `sat 10:12`.
pub fn window_now(window: &Window, at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&window.timezone);
    format!(
        "{} {:02}:{:02}",
        crate::config::rules::DAY_NAMES[local.weekday().num_days_from_monday() as usize],
        local.hour(),
        local.minute()
    )
}

/// A role's `window`: refused outside it, unless the role is break-glass. `doing` says what
/// is refused (`requested`, `granted`).
pub fn check_role_window(role: &Role, now: DateTime<Utc>, doing: &str) -> Result<(), Refused> {
    match &role.window {
        Some(window) if !role.break_glass && !window_open(window, now) => Err(Refused::by(
            &format!("roles.{}.window", role.name),
            format!(
                "role {:?} may be {doing} only {} (now: {})",
                role.name,
                window.describe(),
                window_now(window, now)
            ),
        )),
        _ => Ok(()),
    }
}

/// One condition that applies to a request, as a dry run shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// `window`, `max_active`, `expires` or `conflicts`.
    pub kind: &'static str,
    /// The rule, as a denial by it names it.
    pub rule: String,
    /// What it asks, in words.
    pub condition: String,
    /// How it stands now, in words.
    pub now: String,
    /// Whether it holds now.
    pub met: bool,
    /// A break-glass role is not held to it.
    pub exempt: bool,
    /// For `max_active`: the live leases of the role, and the most there may be.
    pub live: Option<usize>,
    pub limit: Option<u32>,
    /// For `expires`: when the rule stops admitting.
    pub expires_at: Option<DateTime<Utc>>,
    /// For `conflicts`: the roles the rule keeps apart from this one.
    pub roles: Vec<String>,
}

impl Condition {
    fn new(kind: &'static str, rule: String, condition: String, now: String, met: bool) -> Self {
        Condition {
            kind,
            rule,
            condition,
            now,
            met,
            exempt: false,
            live: None,
            limit: None,
            expires_at: None,
            roles: Vec::new(),
        }
    }
}

/// The conditions on `who` taking `role` at `now` that need no store: the role's window,
/// the window and the end of each eligibility rule that names the person and the role, and
/// the `[[conflicts]]` rules of the role (a request that got this far holds none of their
/// other roles). `max_active` is added by [`max_active_condition`].
pub fn conditions(
    config: &Config,
    who: &Identity,
    role: &Role,
    now: DateTime<Utc>,
) -> Vec<Condition> {
    let window = |rule: String, window: &Window| {
        let open = window_open(window, now);
        let mut c = Condition::new(
            "window",
            rule,
            format!("only {}", window.describe()),
            format!(
                "{} ({})",
                if open { "open" } else { "closed" },
                window_now(window, now)
            ),
            open,
        );
        c.exempt = role.break_glass;
        c
    };
    let mut list = Vec::new();
    if let Some(w) = &role.window {
        list.push(window(format!("roles.{}.window", role.name), w));
    }
    let matching = config.eligibility.iter().filter(|rule| {
        rule.covers_role(&role.name) && rule.subjects.iter().any(|s| who.matches(s))
    });
    for rule in matching {
        if let Some(w) = &rule.window {
            list.push(window(format!("{} window", rule.name), w));
        }
        if let Some(end) = rule.expires {
            let mut c = Condition::new(
                "expires",
                format!("{} expires", rule.name),
                format!("admits until {}", crate::lease::rfc3339::format(&end)),
                if rule.in_force(now) {
                    format!("in force ({} left)", duration::format(left(now, end)))
                } else {
                    "expired".to_owned()
                },
                rule.in_force(now),
            );
            c.expires_at = Some(end);
            list.push(c);
        }
    }
    for rule in &config.conflicts {
        let others: Vec<String> = rule.others_of(&role.name).map(str::to_owned).collect();
        if others.is_empty() {
            continue;
        }
        let mut c = Condition::new(
            "conflicts",
            rule.name.clone(),
            format!("not while holding {}: {}", others.join(", "), rule.reason),
            "none held".to_owned(),
            true,
        );
        c.roles = others;
        list.push(c);
    }
    list
}

/// The certification of each eligibility rule with `review_every` that names `who` and
/// `role`, as a dry run shows it: met while not overdue.
pub fn certification_conditions(
    config: &Config,
    who: &Identity,
    role: &Role,
    reviews: &crate::certification::Reviews,
    now: DateTime<Utc>,
) -> Vec<Condition> {
    config
        .eligibility
        .iter()
        .filter(|rule| rule.covers_role(&role.name) && rule.subjects.iter().any(|s| who.matches(s)))
        .filter_map(|rule| {
            let standing = reviews.standing(rule, now)?;
            let mut c = Condition::new(
                "certification",
                format!("{} review_overdue", rule.name),
                format!(
                    "certified every {} (review_overdue = {:?})",
                    duration::format(standing.every),
                    if standing.deny { "deny" } else { "warn" }
                ),
                standing.describe(),
                !standing.overdue,
            );
            c.exempt = role.break_glass || !standing.deny;
            Some(c)
        })
        .collect()
}

/// A role's `max_active` with `live` leases of it live now, as a dry run shows it.
pub fn max_active_condition(role: &Role, max: u32, live: usize) -> Condition {
    let met = check_max_active(role, max, live).is_ok();
    let mut c = Condition::new(
        "max_active",
        format!("roles.{}.max_active", role.name),
        format!(
            "at most {max} live lease{} of the role",
            if max == 1 { "" } else { "s" }
        ),
        format!("{live} live"),
        met,
    );
    c.exempt = role.break_glass;
    c.live = Some(live);
    c.limit = Some(max);
    c
}

/// The whole minutes from `now` to `end` (none when it has passed).
fn left(now: DateTime<Utc>, end: DateTime<Utc>) -> Duration {
    let secs = (end - now).max(TimeDelta::zero()).num_seconds() / 60 * 60;
    Duration::from_secs(u64::try_from(secs).unwrap_or(0))
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
    for (_, rule) in rules {
        if let Some(limit) = rule.max_ttl {
            caps.push(Cap {
                source: format!("{} max_ttl", rule.name),
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

fn check_ticket(role: &Role, ticket: Option<&str>) -> Result<(), Refused> {
    let rule: &TicketRule = &role.ticket;
    match ticket {
        None if rule.required => Err(Refused::by(
            &format!("roles.{}.ticket.required", role.name),
            match &rule.pattern {
                Some(p) => format!("this role requires --ticket matching {}", p.as_str()),
                None => "this role requires --ticket".to_owned(),
            },
        )),
        None => Ok(()),
        Some(ticket) => {
            check_ticket_syntax(ticket).map_err(|denial| Refused {
                rule: "ticket syntax".to_owned(),
                denial,
            })?;
            match &rule.pattern {
                Some(p) if !p.is_match(ticket) => Err(Refused::by(
                    &format!("roles.{}.ticket.pattern", role.name),
                    format!(
                        "ticket {ticket:?} does not match the role's pattern {}",
                        p.as_str()
                    ),
                )),
                _ => Ok(()),
            }
        }
    }
}

/// A break-glass role is self-granted, so the request must say why.
pub fn check_break_glass(role: &Role, reason: Option<&str>) -> Result<(), Refused> {
    if role.break_glass && reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(Refused::by(
            &format!("roles.{}.break_glass", role.name),
            format!("role {} is break-glass: --reason is required", role.name),
        ));
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
        .flat_map(|role| {
            [
                Some(&role.approvals),
                role.agent.as_ref().map(|a| &a.approvals),
            ]
        })
        .filter_map(|approvals| approvals?.timeout)
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

/// An agent's client name and task, as people will read them: one line of printable text
/// each (no control or Unicode format character), the name at most 100 characters and the
/// task at most 500.
pub fn check_agent(agent: &crate::lease::Agent) -> Result<(), String> {
    if agent.client.trim().is_empty() || agent.client.chars().count() > 100 {
        return Err("the agent's client name is empty or longer than 100 characters".to_owned());
    }
    crate::text::check_typed("the agent's client name", &agent.client)?;
    if agent.task.trim().is_empty() || agent.task.chars().count() > 500 {
        return Err("the task is empty or longer than 500 characters".to_owned());
    }
    crate::text::check_typed("the task", &agent.task)
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

/// A refusal by policy with the rule that gave it, as the audit trail records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The rule: `conflicts #N`, `roles.NAME.max_active`, `eligibility rule #N window`, ...
    pub rule: String,
    pub denial: Denial,
}

impl Refused {
    pub fn by(rule: &str, message: String) -> Refused {
        Refused {
            rule: rule.to_owned(),
            denial: Denial(message),
        }
    }
}

/// A refusal by a rule that weighs other leases (`[[conflicts]]`, `max_active`).
pub type Conflicted = Refused;

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
    by_agent: bool,
    approver: &Identity,
    requester: &str,
    subject: &str,
) -> Result<(), Refused> {
    if approver.user == requester || approver.user == subject {
        return Err(Refused::by(
            "self-approval",
            format!("{} may not decide their own request", approver.user),
        ));
    }
    let approvals = role.approvals_for(by_agent);
    if !approvals.from.iter().any(|s| approver.matches(s)) {
        let from: Vec<String> = approvals.approvers();
        let rule = match by_agent && role.agent.is_some() {
            true => format!("roles.{}.agent.approvals.from", role.name),
            false => format!("roles.{}.approvals.from", role.name),
        };
        return Err(Refused::by(
            &rule,
            format!(
                "{} may not decide requests for role {:?}; approvers: {}",
                approver.user,
                role.name,
                if from.is_empty() {
                    "none (the role needs no approval)".to_owned()
                } else {
                    from.join(", ")
                }
            ),
        ));
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
                Asked {
                    ttl: *requested,
                    ticket: Some("CHG-1"),
                    by_agent: false,
                },
                TtlLimits::default(),
                Utc::now(),
            );
            match (got, expected) {
                (Ok(d), Ok(secs)) => assert_eq!(d.ttl.as_secs(), *secs, "{requested:?}"),
                (
                    Err(Refused {
                        denial: Denial(msg),
                        ..
                    }),
                    Err(part),
                ) => assert!(msg.contains(part), "{msg}"),
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
            Asked {
                ttl: None,
                ticket: None,
                by_agent: false,
            },
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
            Asked {
                ttl: Some(Duration::from_secs(60)),
                ticket: None,
                by_agent: false,
            },
            limits,
            Utc::now(),
        );
        assert!(short.unwrap_err().denial.0.contains("minimum of 15m"));
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
                Asked {
                    ttl: None,
                    ticket: Some("CHG-1"),
                    by_agent: false,
                },
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
                Asked {
                    ttl: None,
                    ticket: None,
                    by_agent: false,
                },
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
                Asked {
                    ttl: None,
                    ticket: t,
                    by_agent: false,
                },
                TtlLimits::default(),
                Utc::now(),
            )
        };
        assert!(check(Some("CHG-42")).is_ok());
        assert!(
            check(None)
                .unwrap_err()
                .denial
                .0
                .contains("requires --ticket")
        );
        assert!(
            check(Some("INC-42"))
                .unwrap_err()
                .denial
                .0
                .contains("does not match")
        );
        for bad in ["CHG-1\"", "CHG-1;", "CHG-1\n", "CHG-1é", "", "CHG 1"] {
            assert!(
                check(Some(bad)).unwrap_err().denial.0.contains("not valid"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn approvers_may_not_approve_themselves() {
        let config = config();
        let role = &config.roles["db"];
        assert!(check_approver(role, false, &who("carol", &["leads"]), "bob", "bob").is_ok());
        assert!(
            check_approver(role, false, &who("bob", &["leads"]), "bob", "bob")
                .unwrap_err()
                .denial
                .0
                .contains("own request")
        );
        assert!(check_approver(role, false, &who("dave", &["dba"]), "bob", "bob").is_err());
    }

    #[test]
    fn break_glass_roles_need_a_reason() {
        let mut config = config();
        let open = config.roles.get_mut("open").unwrap();
        assert_eq!(check_break_glass(open, None), Ok(()));
        open.break_glass = true;
        let denial = Err(Refused::by(
            "roles.open.break_glass",
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

    fn window(weekdays: &[&str], hours: Option<&str>, timezone: &str) -> Window {
        let mut days = [weekdays.is_empty(); 7];
        for entry in weekdays {
            Window::mark_days(entry, &mut days).unwrap();
        }
        Window {
            days,
            weekdays: (!weekdays.is_empty()).then(|| weekdays.join(",")),
            hours: hours.map(|h| Window::parse_hours(h).unwrap()),
            timezone: timezone.parse().unwrap(),
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn a_window_is_open_by_the_day_and_time_of_its_time_zone() {
        let office = window(&["mon-fri"], Some("08:00-18:00"), "Europe/Berlin");
        assert_eq!(office.describe(), "mon-fri 08:00-18:00 Europe/Berlin");
        // 2026-12-01 is a Tuesday; Berlin is UTC+1 in winter.
        let cases = [
            ("2026-12-01T06:59:59Z", false, "tue 07:59"),
            ("2026-12-01T07:00:00Z", true, "tue 08:00"),
            ("2026-12-01T16:59:59Z", true, "tue 17:59"),
            ("2026-12-01T17:00:00Z", false, "tue 18:00"),
            ("2026-12-05T09:12:00Z", false, "sat 10:12"),
            // Monday 00:30 in Berlin is still Sunday in UTC: Berlin's day counts.
            ("2026-12-06T23:30:00Z", false, "mon 00:30"),
            ("2026-12-07T07:30:00Z", true, "mon 08:30"),
        ];
        for (time, open, local) in cases {
            assert_eq!(window_open(&office, at(time)), open, "{time}");
            assert_eq!(window_now(&office, at(time)), local, "{time}");
        }
    }

    #[test]
    fn an_overnight_window_belongs_to_the_day_it_opens_on() {
        let nights = window(&["fri"], Some("22:00-06:00"), "UTC");
        let cases = [
            ("2026-12-04T21:59:00Z", false), // fri, before it opens
            ("2026-12-04T22:00:00Z", true),  // fri night
            ("2026-12-05T02:00:00Z", true),  // sat morning: friday's night
            ("2026-12-05T05:59:59Z", true),
            ("2026-12-05T06:00:00Z", false),
            ("2026-12-05T22:30:00Z", false), // sat night: not a friday
            ("2026-12-04T02:00:00Z", false), // fri morning: thursday's night
        ];
        for (time, open) in cases {
            assert_eq!(window_open(&nights, at(time)), open, "{time}");
        }
        let every = window(&[], Some("22:00-06:00"), "UTC");
        assert!(window_open(&every, at("2026-12-01T23:00:00Z")));
        assert!(window_open(&every, at("2026-12-01T03:00:00Z")));
        assert!(!window_open(&every, at("2026-12-01T12:00:00Z")));
        // A range of days may run over the weekend.
        let weekend = window(&["fri-mon"], None, "UTC");
        assert_eq!(weekend.days, [true, false, false, false, true, true, true]);
    }

    #[test]
    fn on_a_daylight_saving_day_the_local_clock_decides() {
        let office = window(&[], Some("08:00-18:00"), "Europe/Berlin");
        // 2026-03-29: Berlin goes from 02:00 CET to 03:00 CEST. 08:00 local is 06:00 UTC,
        // where the day before it was 07:00 UTC.
        assert!(!window_open(&office, at("2026-03-28T06:30:00Z")));
        assert!(window_open(&office, at("2026-03-29T06:30:00Z")));
        assert!(window_open(&office, at("2026-03-29T15:59:00Z")));
        assert!(!window_open(&office, at("2026-03-29T16:00:00Z")));
        assert_eq!(window_now(&office, at("2026-03-29T06:30:00Z")), "sun 08:30");
        // The hour that is not there that night never opens a window of it ...
        let lost = window(&[], Some("02:00-03:00"), "Europe/Berlin");
        assert!(!window_open(&lost, at("2026-03-29T00:59:59Z")));
        assert!(!window_open(&lost, at("2026-03-29T01:00:00Z")));
        // ... and on 2026-10-25 the hour that is there twice opens it twice.
        assert!(window_open(&lost, at("2026-10-25T00:30:00Z")));
        assert!(window_open(&lost, at("2026-10-25T01:30:00Z")));
        assert!(!window_open(&lost, at("2026-10-25T02:00:00Z")));
    }

    #[test]
    fn days_and_hours_are_read_strictly() {
        assert_eq!(Window::parse_hours("08:00-18:00"), Ok((480, 1080)));
        assert_eq!(Window::parse_hours("22:00-06:00"), Ok((1320, 360)));
        assert_eq!(Window::parse_hours("18:00-24:00"), Ok((1080, 1440)));
        for bad in [
            "8:00-18:00",
            "08:00",
            "08:00-18:60",
            "25:00-26:00",
            "24:00-06:00",
            "08-18",
            "08:00 - 18:00",
        ] {
            assert!(
                Window::parse_hours(bad)
                    .unwrap_err()
                    .contains("is not a range of times"),
                "{bad}"
            );
        }
        assert!(
            Window::parse_hours("08:00-08:00")
                .unwrap_err()
                .contains("is the whole day")
        );
        let mut days = [false; 7];
        assert!(Window::mark_days("Mon", &mut days).is_err());
        assert!(Window::mark_days("mon-", &mut days).is_err());
        assert!(Window::mark_days("monday", &mut days).is_err());
        assert_eq!(days, [false; 7]);
    }

    #[test]
    fn a_role_window_spares_only_break_glass() {
        let mut config = config();
        let now = at("2026-12-05T09:12:00Z");
        let open = config.roles.get_mut("open").unwrap();
        open.window = Some(window(&["mon-fri"], Some("08:00-18:00"), "Europe/Berlin"));
        let refused = check_role_window(open, now, "requested").unwrap_err();
        assert_eq!(refused.rule, "roles.open.window");
        assert_eq!(
            refused.denial.0,
            "role \"open\" may be requested only mon-fri 08:00-18:00 Europe/Berlin (now: sat 10:12)"
        );
        open.break_glass = true;
        assert_eq!(check_role_window(open, now, "requested"), Ok(()));
    }

    #[test]
    fn reasons_are_one_line() {
        assert!(check_reason("rotate keys").is_ok());
        assert!(check_reason("ünïcode is fine").is_ok());
        assert!(check_reason("two\nlines").is_err());
        assert!(check_reason(&"x".repeat(501)).is_err());
    }
}
