//! Audit shipping: every audit event forwarded, in order, to each `[[audit.ship]]`
//! destination (an HTTP collector taking JSON lines, or the local syslog socket). Each
//! destination has a checkpoint in the store, the `seq` of the last event it acknowledged,
//! moved only after the acknowledgement: a restart or an outage loses nothing, and one
//! shipper at a time (a lock) sends nothing twice. Each event carries its `seq` and chain
//! `hash`, so a collector can also drop the one batch that a crash between its answer and
//! the checkpoint would send again.
//!
//! The checkpoint keeps the hash of that last event too. A store restored from a backup, or
//! a replica promoted after a failover, can hold another chain than the one shipped: the
//! record at the checkpoint has another hash, the chain ends before the checkpoint, or the
//! collector answers that it holds a record this chain has otherwise. Shipping over such a
//! fork would lose events at a collector that drops the seqs it has, so it is refused,
//! named, and recorded (`ship-refused`) until someone looks.

use crate::audit::{AuditEvent, EventKind, NewEvent};
use crate::clock::Clock;
use crate::config::shipping::{Destination, Format, ShipTo};
use crate::http::{Call, Client};
use crate::store::{Checkpoint, Lock, Store};
use anyhow::{Result, anyhow};
use chrono::TimeDelta;
use std::time::{Duration, Instant};

/// After a failure, shipping on the side of other commands pauses this long (the sweeper
/// and `jit audit ship` keep trying).
pub const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(60);
/// How long `jit audit ship` waits for another shipper to finish.
const WAIT_FOR_LOCK: Duration = Duration::from_secs(30);
/// Syslog datagrams this large are the most a local daemon is sure to take whole.
const SYSLOG_MAX: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// On the side of another command: one attempt per destination, none while paused
    /// after a failure, and nothing at all while another process ships.
    Alongside,
    /// `jit audit ship`: wait for the lock, retry as configured, ship everything.
    CatchUp,
}

/// What one destination got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shipped {
    pub destination: String,
    /// Events sent and acknowledged in this run.
    pub sent: usize,
    /// The checkpoint after this run.
    pub through: i64,
    /// Why it stopped short of the end of the chain.
    pub error: Option<String>,
    /// Not attempted: paused after a failure, or another process is shipping.
    pub skipped: Option<String>,
}

/// Ship every event after each destination's checkpoint.
pub fn ship(
    destinations: &[ShipTo],
    store: &dyn Store,
    clock: Clock,
    mode: Mode,
) -> Result<Vec<Shipped>> {
    if destinations.is_empty() {
        return Ok(Vec::new());
    }
    let started = Instant::now();
    let lock = loop {
        match store.lock(Lock::Shipping, Duration::ZERO)? {
            Some(lock) => break Some(lock),
            None if mode == Mode::CatchUp && started.elapsed() < WAIT_FOR_LOCK => {
                std::thread::sleep(Duration::from_millis(50));
            }
            None if mode == Mode::CatchUp => {
                return Err(anyhow!(
                    "another jit process has been shipping the audit trail for {}s; try again later",
                    WAIT_FOR_LOCK.as_secs()
                ));
            }
            None => break None,
        }
    };
    if lock.is_none() {
        return Ok(destinations
            .iter()
            .map(|to| Shipped {
                destination: to.name.clone(),
                sent: 0,
                through: store.checkpoint(&to.name).map(|c| c.seq).unwrap_or(0),
                error: None,
                skipped: Some("another jit process is shipping".to_owned()),
            })
            .collect());
    }
    let mut report = Vec::new();
    for to in destinations {
        report.push(ship_to(to, store, clock, mode)?);
    }
    drop(lock);
    Ok(report)
}

fn ship_to(to: &ShipTo, store: &dyn Store, clock: Clock, mode: Mode) -> Result<Shipped> {
    let mut checkpoint = store.checkpoint(&to.name)?;
    let mut shipped = Shipped {
        destination: to.name.clone(),
        sent: 0,
        through: checkpoint.seq,
        error: None,
        skipped: None,
    };
    if mode == Mode::Alongside
        && let Some(failed_at) = checkpoint.failed_at
        && clock.now() - failed_at < TimeDelta::from_std(PAUSE_AFTER_FAILURE).unwrap_or_default()
    {
        shipped.skipped = Some(format!(
            "paused after a failure at {} ({})",
            failed_at.format("%Y-%m-%dT%H:%M:%SZ"),
            checkpoint.error.as_deref().unwrap_or("unknown error")
        ));
        return Ok(shipped);
    }
    if let Some(fork) = fork_at_checkpoint(store, &checkpoint)? {
        return refuse(to, store, clock, checkpoint, shipped, fork);
    }
    let sender = Sender::new(to, mode);
    loop {
        let events = store.events_after(checkpoint.seq, sender.batch())?;
        let Some(last) = events.last().map(|e| e.seq) else {
            break;
        };
        let lines = lines(to.format, store, &events)?;
        let sent = sender.send(&events, &lines);
        if let Some(seq) = sent.acknowledged {
            shipped.sent += events.iter().filter(|e| e.seq <= seq).count();
            checkpoint.seq = seq;
            checkpoint.hash = events.iter().find(|e| e.seq == seq).map(|e| e.hash.clone());
        }
        if let Some(held) = &sent.collector_holds
            && let Some(fork) = fork_at_collector(store, held)?
        {
            return refuse(to, store, clock, checkpoint, shipped, fork);
        }
        match sent.failure {
            None => {
                checkpoint.failed_at = None;
                checkpoint.error = None;
                store.set_checkpoint(&to.name, &checkpoint)?;
                debug_assert_eq!(sent.acknowledged, Some(last));
            }
            Some(error) => {
                checkpoint.failed_at = Some(clock.now());
                checkpoint.error = Some(error.clone());
                store.set_checkpoint(&to.name, &checkpoint)?;
                shipped.error = Some(error);
                break;
            }
        }
    }
    shipped.through = checkpoint.seq;
    Ok(shipped)
}

/// Where this store's chain and what a destination was sent part ways.
#[derive(Debug)]
struct Fork {
    seq: i64,
    /// The hash the destination has at `seq`.
    expected: String,
    /// This store's record at `seq`: its hash, or None when the chain ends before it.
    found: Option<String>,
    /// Who says the destination has `expected`: its checkpoint or its own answer.
    by: &'static str,
}

impl Fork {
    /// What stays the same however often the fork is seen again.
    fn headline(&self) -> String {
        format!(
            "the audit chain forked at seq {}: the destination holds hash {} there",
            self.seq, self.expected
        )
    }
}

impl std::fmt::Display for Fork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}), this store ", self.headline(), self.by)?;
        match &self.found {
            Some(hash) => write!(f, "has {hash}")?,
            None => write!(f, "has no such record")?,
        }
        write!(
            f,
            "; not shipping over it (a restored backup or a failover?). See docs/audit-shipping.md#a-forked-chain"
        )
    }
}

/// This store's hash at `seq`, None when the chain has no record there.
fn hash_at(store: &dyn Store, seq: i64) -> Result<Option<String>> {
    Ok(store
        .events_after(seq - 1, 1)?
        .into_iter()
        .find(|e| e.seq == seq)
        .map(|e| e.hash))
}

/// Does the record at the checkpoint still have the hash it was shipped with?
fn fork_at_checkpoint(store: &dyn Store, checkpoint: &Checkpoint) -> Result<Option<Fork>> {
    if checkpoint.seq == 0 {
        return Ok(None);
    }
    let found = hash_at(store, checkpoint.seq)?;
    let fork = |expected: String| Fork {
        seq: checkpoint.seq,
        expected,
        found: found.clone(),
        by: "its checkpoint",
    };
    Ok(match &checkpoint.hash {
        Some(kept) if found.as_ref() != Some(kept) => Some(fork(kept.clone())),
        // A checkpoint from before hashes were kept: only a chain that ends before it shows.
        None if found.is_none() => Some(fork("(not kept)".to_owned())),
        _ => None,
    })
}

/// Does this store's record at the seq the collector says it holds have the collector's hash?
fn fork_at_collector(store: &dyn Store, held: &(i64, String)) -> Result<Option<Fork>> {
    let (seq, hash) = held;
    let found = hash_at(store, *seq)?;
    Ok((found.as_ref() != Some(hash)).then(|| Fork {
        seq: *seq,
        expected: hash.clone(),
        found,
        by: "its answer",
    }))
}

/// Stop shipping to `to` over a fork: the checkpoint stays where it is, with the error, and
/// the first time it is seen, a `ship-refused` event records it.
fn refuse(
    to: &ShipTo,
    store: &dyn Store,
    clock: Clock,
    mut checkpoint: Checkpoint,
    mut shipped: Shipped,
    fork: Fork,
) -> Result<Shipped> {
    let error = fork.to_string();
    let seen = checkpoint
        .error
        .as_deref()
        .is_some_and(|e| e.starts_with(&fork.headline()));
    if !seen {
        let event = NewEvent {
            at: clock.now(),
            actor: "jit".to_owned(),
            lease_id: None,
            kind: EventKind::ShipRefused,
            details: serde_json::json!({
                "destination": to.name,
                "seq": fork.seq,
                "expected_hash": fork.expected,
                "found_hash": fork.found,
                "by": fork.by,
                "checkpoint": checkpoint.seq,
            }),
        };
        crate::store::write(store, |tx| Ok(tx.append(&event).map(drop)?))?;
    }
    checkpoint.failed_at = Some(clock.now());
    checkpoint.error = Some(error.clone());
    store.set_checkpoint(&to.name, &checkpoint)?;
    shipped.through = checkpoint.seq;
    shipped.error = Some(error);
    Ok(shipped)
}

/// What sending one batch came to.
struct Sent {
    /// The last `seq` acknowledged.
    acknowledged: Option<i64>,
    /// The error that stopped it.
    failure: Option<String>,
    /// The last record the collector says it holds (seq, hash), when it says.
    collector_holds: Option<(i64, String)>,
}

/// A collector's answer may name the last record it holds: `{"v": 1, "seq": N, "hash": H}`.
fn collector_holds(body: &str) -> Option<(i64, String)> {
    let value: serde_json::Value = serde_json::from_str(body.trim()).ok()?;
    if value.get("v").and_then(|v| v.as_i64()) != Some(1) {
        return None;
    }
    let seq = value.get("seq")?.as_i64()?;
    let hash = value.get("hash")?.as_str()?;
    (seq > 0).then(|| (seq, hash.to_owned()))
}

/// One destination's way of sending a batch.
enum Sender {
    Http {
        client: Client,
        batch: u32,
    },
    Syslog {
        socket: std::path::PathBuf,
        facility: u8,
    },
}

impl Sender {
    fn new(to: &ShipTo, mode: Mode) -> Sender {
        match &to.destination {
            Destination::Http { endpoint, batch } => {
                let mut endpoint = endpoint.clone();
                if mode == Mode::Alongside {
                    endpoint.retries = 0;
                }
                Sender::Http {
                    client: Client::new(endpoint),
                    batch: *batch,
                }
            }
            Destination::Syslog { socket, facility } => Sender::Syslog {
                socket: socket.clone(),
                facility: *facility,
            },
        }
    }

    fn batch(&self) -> usize {
        match self {
            Sender::Http { batch, .. } => *batch as usize,
            Sender::Syslog { .. } => 500,
        }
    }

    /// Send `events` (in order), each written as its line in `lines`.
    fn send(&self, events: &[AuditEvent], lines: &[String]) -> Sent {
        match self {
            Sender::Http { client, .. } => {
                let mut body = String::new();
                for line in lines {
                    body.push_str(line);
                    body.push('\n');
                }
                let first = events.first().map_or(0, |e| e.seq).to_string();
                let last = events.last().map_or(0, |e| e.seq);
                let outcome = client.send(&Call {
                    method: reqwest::Method::POST,
                    values: &[],
                    body: Some((&body, "application/x-ndjson")),
                    headers: &[
                        ("x-jit-first-seq", first),
                        ("x-jit-last-seq", last.to_string()),
                    ],
                });
                match outcome {
                    Ok(reply) => Sent {
                        acknowledged: Some(last),
                        failure: None,
                        collector_holds: collector_holds(&reply.body),
                    },
                    Err(err) => Sent {
                        acknowledged: None,
                        collector_holds: match &err {
                            crate::http::HttpError::Status { body, .. } => collector_holds(body),
                            _ => None,
                        },
                        failure: Some(format!("{}: {err}", client.endpoint().url.shown())),
                    },
                }
            }
            Sender::Syslog { socket, facility } => {
                let mut sent = Sent {
                    acknowledged: None,
                    failure: None,
                    collector_holds: None,
                };
                let connection = match std::os::unix::net::UnixDatagram::unbound() {
                    Ok(connection) => connection,
                    Err(err) => {
                        sent.failure = Some(format!("syslog: {err}"));
                        return sent;
                    }
                };
                for (event, line) in events.iter().zip(lines) {
                    let message = syslog_message(*facility, &event.at, line);
                    if let Err(err) = connection.send_to(message.as_bytes(), socket) {
                        sent.failure = Some(format!("syslog {}: {err}", socket.display()));
                        return sent;
                    }
                    sent.acknowledged = Some(event.seq);
                }
                sent
            }
        }
    }
}

/// Each event as the line a destination of `format` receives: the record exactly as
/// `jit audit export --format jsonl` (or `ocsf`) writes it.
fn lines(format: Format, store: &dyn Store, events: &[AuditEvent]) -> Result<Vec<String>> {
    match format {
        Format::Jsonl => Ok(events
            .iter()
            .map(|event| serde_json::to_string(event).expect("an event serialises"))
            .collect()),
        Format::Ocsf => {
            let mut leases = std::collections::HashMap::new();
            let mut out = Vec::with_capacity(events.len());
            for event in events {
                let facts = match &event.lease_id {
                    Some(id) => {
                        if !leases.contains_key(id) {
                            let facts = store.lease(id)?.map(|l| crate::ocsf::LeaseFacts::of(&l));
                            leases.insert(id.clone(), facts);
                        }
                        leases[id].as_ref()
                    }
                    None => None,
                };
                let record = crate::ocsf::record(event, facts, env!("CARGO_PKG_VERSION"))?;
                out.push(record.to_string());
            }
            Ok(out)
        }
    }
}

/// A local syslog message as the C library writes one to `/dev/log`:
/// `<PRI>Mmm dd hh:mm:ss jit[PID]: MESSAGE`, severity info, the event as JSON
/// (`json`, the line of the destination's format).
pub fn syslog_message(facility: u8, at: &str, json: &str) -> String {
    let priority = u32::from(facility) * 8 + 6;
    let stamp = chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| t.format("%b %e %H:%M:%S").to_string())
        .unwrap_or_else(|_| at.to_owned());
    let mut line = format!("<{priority}>{stamp} jit[{}]: {json}", std::process::id());
    if line.len() > SYSLOG_MAX {
        let mut cut = SYSLOG_MAX;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_collector_names_the_record_it_holds_in_a_versioned_body() {
        assert_eq!(
            collector_holds(r#"{"v":1,"seq":35,"hash":"ab","error":"fork at seq 35"}"#),
            Some((35, "ab".to_owned()))
        );
        for body in [
            "",
            "gap or fork before seq 14",
            r#"{"seq":35,"hash":"ab"}"#,
            r#"{"v":2,"seq":35,"hash":"ab"}"#,
            r#"{"v":1,"seq":0,"hash":"ab"}"#,
            r#"{"v":1,"seq":"35","hash":"ab"}"#,
        ] {
            assert_eq!(collector_holds(body), None, "{body}");
        }
    }

    #[test]
    fn a_syslog_line_is_what_the_c_library_sends() {
        let event = AuditEvent {
            seq: 3,
            at: "2026-11-02T09:05:01Z".into(),
            actor: "alice".into(),
            lease_id: None,
            kind: "denied".into(),
            details: serde_json::json!({}),
            prev_hash: "a".into(),
            hash: "b".into(),
        };
        let line = syslog_message(10, &event.at, &serde_json::to_string(&event).unwrap());
        let prefix = format!(
            "<86>Nov  2 09:05:01 jit[{}]: {{\"seq\":3,",
            std::process::id()
        );
        assert!(line.starts_with(&prefix), "{line}");
        assert!(line.ends_with("\"hash\":\"b\"}"), "{line}");
    }
}
