//! Tickets checked against the ticketing system: a role's `ticket.check` names the URL of
//! a ticket (`…/issue/{ticket}`), the field of the JSON answer holding its status, and the
//! statuses that allow access. Pure except for the one GET.

use crate::config::TicketCheck;
use crate::http::{Call, Client, HttpError};
use serde_json::Value;

/// What the ticketing system says about a ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// In one of the allowed statuses.
    Allowed { status: String },
    /// In another status.
    Refused { status: String },
    /// No such ticket: the ticketing system answered 404.
    NotFound,
    /// An answer without the status field (no such ticket, for searches such as
    /// ServiceNow's that answer an empty result).
    NoStatus,
}

impl Standing {
    /// The status seen, for messages and the audit trail.
    pub fn status(&self) -> Option<&str> {
        match self {
            Standing::Allowed { status } | Standing::Refused { status } => Some(status),
            Standing::NotFound | Standing::NoStatus => None,
        }
    }

    /// Why a request with this ticket is denied (`None`: it is not).
    pub fn denial(&self, ticket: &str, check: &TicketCheck) -> Option<String> {
        let allowed = check
            .allowed
            .iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        match self {
            Standing::Allowed { .. } => None,
            Standing::Refused { status } => Some(format!(
                "ticket {ticket} is {status:?} in the ticketing system; allowed: {allowed}"
            )),
            Standing::NotFound => Some(format!(
                "ticket {ticket} was not found in the ticketing system"
            )),
            Standing::NoStatus => Some(format!(
                "ticket {ticket} was not found in the ticketing system (no {} in its answer)",
                check.status_field.join(".")
            )),
        }
    }
}

/// One client per ticket check, reused for every ticket it reads.
pub struct Checker<'c> {
    check: &'c TicketCheck,
    client: Client,
}

impl<'c> Checker<'c> {
    pub fn new(check: &'c TicketCheck) -> Self {
        Checker {
            check,
            client: Client::new(check.endpoint.clone()),
        }
    }

    /// Read `ticket` from the ticketing system. Err: it could not be asked or did not answer
    /// (the caller fails closed).
    pub fn standing(&self, ticket: &str) -> Result<Standing, String> {
        let reply = self.client.send(&Call {
            method: reqwest::Method::GET,
            values: &[("ticket", ticket)],
            body: None,
            headers: &[("accept", "application/json".to_owned())],
        });
        let shown = self.check.endpoint.url.shown();
        match reply {
            Ok(reply) => {
                let answer: Value = serde_json::from_str(&reply.body).map_err(|err| {
                    format!("the ticketing system ({shown}) answered with something that is not JSON ({err})")
                })?;
                Ok(standing_in(&answer, self.check))
            }
            Err(HttpError::Status { status: 404, .. }) => Ok(Standing::NotFound),
            Err(err) => Err(format!(
                "cannot read ticket {ticket} from the ticketing system ({shown}): {err}"
            )),
        }
    }
}

/// The standing of a ticket from the ticketing system's answer.
pub fn standing_in(answer: &Value, check: &TicketCheck) -> Standing {
    let mut at = answer;
    for step in &check.status_field {
        let next = match at {
            Value::Object(map) => map.get(step),
            Value::Array(items) => step.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(value) => at = value,
            None => return Standing::NoStatus,
        }
    }
    let status = match at {
        Value::String(text) => text.clone(),
        Value::Number(_) | Value::Bool(_) => at.to_string(),
        _ => return Standing::NoStatus,
    };
    if check.allowed.contains(&status) {
        Standing::Allowed { status }
    } else {
        Standing::Refused { status }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::endpoint::{Endpoint, Location};
    use serde_json::json;

    fn check(path: &str, allowed: &[&str]) -> TicketCheck {
        TicketCheck {
            endpoint: Endpoint {
                url: Location::Template("https://t.example/{ticket}".into()),
                auth: None,
                auth_header: "Authorization".into(),
                signing_secret: None,
                timeout: std::time::Duration::from_secs(1),
                retries: 0,
            },
            status_field: path.split('.').map(str::to_owned).collect(),
            allowed: allowed.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn jira_status_is_read_from_nested_objects() {
        let rule = check("fields.status.name", &["In Progress", "Approved"]);
        let jira = |name: &str| json!({"key": "CHG-1", "fields": {"status": {"name": name}}});
        assert_eq!(
            standing_in(&jira("In Progress"), &rule),
            Standing::Allowed {
                status: "In Progress".into()
            }
        );
        assert_eq!(
            standing_in(&jira("Done"), &rule),
            Standing::Refused {
                status: "Done".into()
            }
        );
        assert_eq!(
            standing_in(&json!({"fields": {}}), &rule),
            Standing::NoStatus
        );
    }

    #[test]
    fn servicenow_status_is_read_through_an_array_index() {
        let rule = check("result.0.state", &["-1", "Implement"]);
        assert_eq!(
            standing_in(&json!({"result": [{"state": "-1"}]}), &rule),
            Standing::Allowed {
                status: "-1".into()
            }
        );
        // Numbers count by their JSON text.
        assert_eq!(
            standing_in(&json!({"result": [{"state": 3}]}), &rule),
            Standing::Refused { status: "3".into() }
        );
        // An unknown number answers with an empty result.
        assert_eq!(
            standing_in(&json!({"result": []}), &rule),
            Standing::NoStatus
        );
    }

    #[test]
    fn denials_name_the_status_seen_and_the_allowed_ones() {
        let rule = check("fields.status.name", &["In Progress"]);
        let refused = Standing::Refused {
            status: "Done".into(),
        };
        assert_eq!(
            refused.denial("CHG-1", &rule).unwrap(),
            "ticket CHG-1 is \"Done\" in the ticketing system; allowed: \"In Progress\""
        );
        assert_eq!(
            Standing::NoStatus.denial("CHG-9", &rule).unwrap(),
            "ticket CHG-9 was not found in the ticketing system (no fields.status.name in its answer)"
        );
        assert_eq!(
            Standing::NotFound.denial("CHG-9", &rule).unwrap(),
            "ticket CHG-9 was not found in the ticketing system"
        );
    }
}
