//! `[[audit.ship]]`: where the audit trail is forwarded, each destination with its own
//! checkpoint.

use super::document::{Node, Reader};
use super::endpoint::{self, Endpoint, EndpointDefaults};
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

#[derive(Clone, Debug)]
pub struct ShipTo {
    /// The checkpoint's name: `name`, or the destination kind.
    pub name: String,
    pub destination: Destination,
    /// How each event is written: as stored, or as an OCSF record.
    pub format: Format,
}

/// What a destination receives for each event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The event as `jit audit export --format jsonl` writes it.
    Jsonl,
    /// The event as `jit audit export --format ocsf` writes it (docs/ocsf.md).
    Ocsf,
}

const FORMATS: &[(&str, Format)] = &[("jsonl", Format::Jsonl), ("ocsf", Format::Ocsf)];

#[derive(Clone, Debug)]
pub enum Destination {
    /// POST batches of events as JSON lines.
    Http { endpoint: Endpoint, batch: u32 },
    /// One datagram per event to the local syslog socket.
    Syslog { socket: PathBuf, facility: u8 },
}

pub const DEFAULT_BATCH: u32 = 500;
pub const DEFAULT_SOCKET: &str = "/dev/log";

/// Syslog facility names and numbers (RFC 5424 §6.2.1).
const FACILITIES: &[(&str, u8)] = &[
    ("auth", 4),
    ("authpriv", 10),
    ("daemon", 3),
    ("user", 1),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

pub fn read_ship(
    reader: &mut Reader<'_>,
    index: usize,
    node: &Spanned<Node>,
    base: &Path,
) -> Option<ShipTo> {
    let what = format!("[[audit.ship]] #{}", index + 1);
    let mut fields = reader.table(node, &what)?;
    // `kind` and `name` are read first, and listed after an http destination's endpoint.
    let Some(kind_node) = fields.peek("kind") else {
        reader.error(
            node.span(),
            format!("{what} needs `kind` (\"http\" or \"syslog\")"),
        );
        return None;
    };
    let kind = reader.string(kind_node, "kind")?;
    let name = fields
        .peek("name")
        .and_then(|n| reader.name(n, "name"))
        .unwrap_or_else(|| kind.clone());
    let format;
    let destination = match kind.as_str() {
        "http" => {
            let endpoint = endpoint::read_endpoint(
                reader,
                &mut fields,
                base,
                &endpoint::NO_PLACEHOLDERS,
                EndpointDefaults {
                    timeout: Duration::from_secs(10),
                    retries: 3,
                },
            );
            fields.list(&["kind", "name"]);
            let batch = fields
                .get(reader, "batch", |reader, n, what| {
                    let count = reader.count(n, what, 10_000)?;
                    if count == 0 {
                        reader.error(n.span(), "batch must be at least 1");
                        return None;
                    }
                    Some(count)
                })
                .unwrap_or(DEFAULT_BATCH);
            format = fields.get_or(reader, "format", Format::Jsonl, |r, n, what| {
                r.choice(n, what, FORMATS, true)
            });
            fields.finish(reader);
            Destination::Http {
                endpoint: endpoint?,
                batch,
            }
        }
        "syslog" => {
            fields.list(&["kind", "name"]);
            let socket = fields
                .path(reader, "socket", base)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
            let facility = fields.get_or(reader, "facility", 10, |r, n, what| {
                r.choice(n, what, FACILITIES, false)
            });
            format = fields.get_or(reader, "format", Format::Jsonl, |r, n, what| {
                r.choice(n, what, FORMATS, true)
            });
            fields.finish(reader);
            Destination::Syslog {
                socket,
                facility: facility?,
            }
        }
        other => {
            reader.error(
                kind_node.span(),
                format!("kind {other:?} is not one of \"http\", \"syslog\""),
            );
            return None;
        }
    };
    Some(ShipTo {
        name,
        destination,
        format: format?,
    })
}
