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
