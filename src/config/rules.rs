//! The policy rules as configured: who (`user:NAME`, `group:NAME`), tickets, approvals.

use std::fmt;
use std::time::Duration;

/// `user:NAME` or `group:NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubjectPattern {
    User(String),
    Group(String),
}

impl SubjectPattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        let valid = |name: &str| {
            !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        };
        match text.split_once(':') {
            Some(("user", name)) if valid(name) => Ok(SubjectPattern::User(name.to_owned())),
            Some(("group", name)) if valid(name) => Ok(SubjectPattern::Group(name.to_owned())),
            _ => Err(format!(
                "{text:?} is not a subject; use user:NAME or group:NAME"
            )),
        }
    }
}

impl fmt::Display for SubjectPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectPattern::User(name) => write!(f, "user:{name}"),
            SubjectPattern::Group(name) => write!(f, "group:{name}"),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct TicketRule {
    pub required: bool,
    pub pattern: Option<regex_lite::Regex>,
    /// Ask the ticketing system for the ticket's status before granting.
    pub check: Option<TicketCheck>,
    /// The sweeper revokes live leases whose ticket has left the allowed states.
    pub revoke_when_closed: bool,
}

/// A ticket rule's `check`: where to read a ticket, and which statuses allow access.
#[derive(Clone, Debug)]
pub struct TicketCheck {
    /// A URL template with `{ticket}`, read with GET.
    pub endpoint: super::endpoint::Endpoint,
    /// Where the status is in the JSON answer: object keys and array indexes
    /// (`fields.status.name`, `result.0.state`).
    pub status_field: Vec<String>,
    pub allowed: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct ApprovalRule {
    pub required: u32,
    pub from: Vec<SubjectPattern>,
    /// `timeout`: how long a request may wait for its approvals before the sweeper cancels
    /// it, as configured (`None`: [`ApprovalRule::DEFAULT_TIMEOUT`]).
    pub timeout: Option<Duration>,
}

impl ApprovalRule {
    /// How long a request may stay pending when the role sets no `timeout`.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

    /// How long a request may stay pending before the sweeper cancels it.
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(Self::DEFAULT_TIMEOUT)
    }

    /// Who may approve, as written in the configuration (`user:NAME`, `group:NAME`).
    pub fn approvers(&self) -> Vec<String> {
        self.from.iter().map(ToString::to_string).collect()
    }
}

/// A time window (`window = { weekdays, hours, timezone }`): when a role may be requested,
/// or when an eligibility rule admits. Outside it only a break-glass role is granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// The days the window opens on, Monday first (every day when `weekdays` is not set).
    pub days: [bool; 7],
    /// `weekdays` as written, joined with `,` (`mon-fri`, `sat,sun`), for messages.
    pub weekdays: Option<String>,
    /// From and to, in minutes after midnight: from inclusive, to exclusive (`24:00` is
    /// 1440). When `to` is not after `from` the window runs past midnight into the next day,
    /// and belongs to the day it opens on. `None`: all day.
    pub hours: Option<(u16, u16)>,
    /// The IANA time zone the days and hours are in (`UTC` when not set).
    pub timezone: chrono_tz::Tz,
}

/// The days of the week as `weekdays` names them, Monday first.
pub const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Window {
    /// One entry of `weekdays`: a day (`mon`) or a range of days (`mon-fri`; `fri-mon` runs
    /// over the weekend), marked in `days`.
    pub fn mark_days(entry: &str, days: &mut [bool; 7]) -> Result<(), String> {
        let day = |name: &str| DAY_NAMES.iter().position(|d| *d == name);
        let (first, last) = match entry.split_once('-') {
            Some((a, b)) => (day(a), day(b)),
            None => (day(entry), day(entry)),
        };
        let (Some(first), Some(last)) = (first, last) else {
            return Err(format!(
                "{entry:?} is not a day or a range of days; use {} or a range such as \"mon-fri\"",
                DAY_NAMES.join(", ")
            ));
        };
        let mut d = first;
        loop {
            days[d] = true;
            if d == last {
                return Ok(());
            }
            d = (d + 1) % 7;
        }
    }

    /// `hours`: `HH:MM-HH:MM` on a 24-hour clock (`24:00` ends at midnight); a range whose
    /// end is before its start runs overnight (`22:00-06:00`).
    pub fn parse_hours(text: &str) -> Result<(u16, u16), String> {
        let bad = || {
            format!(
                "{text:?} is not a range of times such as \"08:00-18:00\" (HH:MM-HH:MM on a 24-hour clock; an overnight range such as \"22:00-06:00\" runs into the next day)"
            )
        };
        let time = |t: &str| -> Option<u16> {
            let (h, m) = t.split_once(':')?;
            if h.len() != 2
                || m.len() != 2
                || !(h.chars().chain(m.chars())).all(|c| c.is_ascii_digit())
            {
                return None;
            }
            let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
            (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
        };
        let (from, to) = text.split_once('-').ok_or_else(bad)?;
        let (from, to) = (time(from).ok_or_else(bad)?, time(to).ok_or_else(bad)?);
        if from == 1440 {
            return Err(bad());
        }
        if from == to || (from == 0 && to == 1440) {
            return Err(format!(
                "{text:?} is the whole day: leave `hours` out for a window of whole days"
            ));
        }
        Ok((from, to))
    }

    /// As written in messages: `mon-fri 08:00-18:00 Europe/Berlin`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(days) = &self.weekdays {
            parts.push(days.clone());
        }
        if let Some((from, to)) = self.hours {
            parts.push(format!("{}-{}", clock(from), clock(to)));
        }
        parts.push(self.timezone.name().to_owned());
        parts.join(" ")
    }
}

/// Minutes after midnight as `HH:MM`.
fn clock(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}
