//! `[[notify]]`: webhooks told about audit events as they happen.

use super::document::{Node, Reader};
use super::endpoint::{self, Endpoint, EndpointDefaults};
use crate::audit::EventKind;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyFormat {
    /// The event as jit's audit JSON, in a versioned envelope.
    Json,
    /// `{"text": "..."}`, as Slack (and Mattermost, Teams workflows) incoming webhooks take.
    Slack,
}

#[derive(Clone, Debug)]
pub struct Notify {
    /// `notify #N` or the configured `name`, in messages and audit events.
    pub name: String,
    pub endpoint: Endpoint,
    pub format: NotifyFormat,
    /// The event kinds sent; empty means every kind.
    pub events: Vec<EventKind>,
}

impl Notify {
    pub fn wants(&self, kind: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|k| k.as_str() == kind)
    }
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

pub fn read_notify(
    reader: &mut Reader<'_>,
    index: usize,
    node: &Spanned<Node>,
    base: &Path,
) -> Option<Notify> {
    let what = format!("[[notify]] #{}", index + 1);
    let mut fields = reader.table(node, &what)?;
    // Read first, listed after the endpoint's keys.
    let name = fields
        .peek("name")
        .and_then(|n| reader.name(n, "name"))
        .unwrap_or_else(|| format!("notify #{}", index + 1));
    let endpoint = endpoint::read_endpoint(
        reader,
        &mut fields,
        base,
        &endpoint::NO_PLACEHOLDERS,
        EndpointDefaults {
            timeout: DEFAULT_TIMEOUT,
            retries: 1,
        },
    );
    fields.list(&["name"]);
    let formats = [("json", NotifyFormat::Json), ("slack", NotifyFormat::Slack)];
    let format = fields.get_or(reader, "format", NotifyFormat::Json, |r, n, what| {
        r.choice(n, what, &formats, true)
    });
    let events = fields.get_or(reader, "events", Vec::new(), |reader, n, what| {
        reader.strings(n, what).map(|list| {
            if list.is_empty() {
                reader.error(
                    n.span(),
                    "events is empty: leave it out to send every kind, or name the kinds",
                );
            }
            list.into_iter()
                .filter_map(|kind| match EventKind::parse(kind.get_ref()) {
                    Some(EventKind::NotifyFailed) => {
                        reader.error(
                            kind.span(),
                            "\"notify-failed\" is never sent to a webhook (it records that one failed)",
                        );
                        None
                    }
                    Some(kind) => Some(kind),
                    None => {
                        reader.error(
                            kind.span(),
                            format!(
                                "{:?} is not an event kind; valid: {}",
                                kind.get_ref(),
                                EventKind::ALL
                                    .iter()
                                    .map(|k| k.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                        None
                    }
                })
                .collect()
        })
    });
    fields.finish(reader);
    Some(Notify {
        name,
        endpoint: endpoint?,
        format: format?,
        events: events?,
    })
}
