//! The audit chain (SPEC §8): every state change appends one event whose hash covers the
//! previous hash and the canonical JSON of the event, so an edit, a deletion or a
//! reordering breaks the chain at the first record touched.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    Requested,
    Approved,
    Denied,
    Granted,
    GrantFailed,
    Extended,
    Revoked,
    Expired,
    RevokeFailed,
    Reconciled,
    Cancelled,
    /// A `[[notify]]` webhook could not be told about an event.
    NotifyFailed,
    /// A worker refused a queued row that does not belong to the login that inserted it
    /// (a request naming someone else's lease, say).
    Refused,
    /// Shipping to a destination stopped: the chain no longer holds what it was sent.
    ShipRefused,
    /// `jit discover --adopt` removed a standing holding or a leftover of jit's own.
    Adopted,
    /// `jit review certify`: an eligibility rule still holds, as it stood then.
    Certified,
    /// `jit review revoke-eligibility`: a subject may no longer request under a rule.
    Decertified,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Requested => "requested",
            EventKind::Approved => "approved",
            EventKind::Denied => "denied",
            EventKind::Granted => "granted",
            EventKind::GrantFailed => "grant-failed",
            EventKind::Extended => "extended",
            EventKind::Revoked => "revoked",
            EventKind::Expired => "expired",
            EventKind::RevokeFailed => "revoke-failed",
            EventKind::Reconciled => "reconciled",
            EventKind::Cancelled => "cancelled",
            EventKind::NotifyFailed => "notify-failed",
            EventKind::Refused => "refused",
            EventKind::ShipRefused => "ship-refused",
            EventKind::Adopted => "adopted",
            EventKind::Certified => "certified",
            EventKind::Decertified => "decertified",
        }
    }

    pub const ALL: [EventKind; 17] = [
        EventKind::Requested,
        EventKind::Approved,
        EventKind::Denied,
        EventKind::Granted,
        EventKind::GrantFailed,
        EventKind::Extended,
        EventKind::Revoked,
        EventKind::Expired,
        EventKind::RevokeFailed,
        EventKind::Reconciled,
        EventKind::Cancelled,
        EventKind::NotifyFailed,
        EventKind::Refused,
        EventKind::ShipRefused,
        EventKind::Adopted,
        EventKind::Certified,
        EventKind::Decertified,
    ];

    pub fn parse(text: &str) -> Option<EventKind> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// An event about to be appended: the store assigns `seq`, `prev_hash` and `hash`.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub lease_id: Option<String>,
    pub kind: EventKind,
    /// A JSON object. Never a secret.
    pub details: serde_json::Value,
}

/// One stored record, exactly as the store holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub lease_id: Option<String>,
    pub kind: String,
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEvent {
    /// When it happened: `at` read back (`None` only for a record edited into a bad time).
    pub fn time(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.at)
            .ok()
            .map(|t| t.to_utc())
    }
}

impl NewEvent {
    /// This event as record `seq` after `prev_hash`, with its details as stored.
    pub fn chain(&self, seq: i64, prev_hash: String) -> (AuditEvent, String) {
        let at = self.at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let details = canonical_details(&self.details);
        let body = canonical(
            seq,
            &at,
            &self.actor,
            self.lease_id.as_deref(),
            self.kind.as_str(),
            &details,
        );
        let hash = chain_hash(&prev_hash, &body);
        let record = AuditEvent {
            seq,
            at,
            actor: self.actor.clone(),
            lease_id: self.lease_id.clone(),
            kind: self.kind.as_str().to_owned(),
            details: self.details.clone(),
            prev_hash,
            hash,
        };
        (record, details)
    }
}

/// The canonical JSON of an event: keys sorted, no white space, `details` as stored.
pub fn canonical(
    seq: i64,
    at: &str,
    actor: &str,
    lease_id: Option<&str>,
    kind: &str,
    details: &str,
) -> String {
    let mut out = String::with_capacity(96 + actor.len() + details.len());
    out.push_str("{\"actor\":");
    push_json_str(&mut out, actor);
    out.push_str(",\"at\":");
    push_json_str(&mut out, at);
    out.push_str(",\"details\":");
    out.push_str(details);
    out.push_str(",\"kind\":");
    push_json_str(&mut out, kind);
    out.push_str(",\"lease_id\":");
    match lease_id {
        Some(id) => push_json_str(&mut out, id),
        None => out.push_str("null"),
    }
    out.push_str(",\"seq\":");
    out.push_str(&seq.to_string());
    out.push('}');
    out
}

fn push_json_str(out: &mut String, text: &str) {
    if text
        .bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
    {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(text).expect("a string serialises"));
    }
}

/// `details` as canonical JSON: object keys sorted at every depth, no white space.
pub fn canonical_details(value: &serde_json::Value) -> String {
    fn write(out: &mut String, value: &serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_json_str(out, key);
                    out.push(':');
                    write(out, &map[key]);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(out, item);
                }
                out.push(']');
            }
            Value::String(text) => push_json_str(out, text),
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(&mut out, value);
    out
}

/// `SHA-256(prev_hash ‖ canonical)`, lowercase hex.
pub fn chain_hash(prev_hash: &str, canonical: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(canonical.as_bytes());
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    hex
}

/// A record as read for verification: the raw `details` text, not re-encoded.
pub struct RawRecord<'a> {
    pub seq: i64,
    pub at: &'a str,
    pub actor: &'a str,
    pub lease_id: Option<&'a str>,
    pub kind: &'a str,
    pub details: &'a str,
    pub prev_hash: &'a str,
    pub hash: &'a str,
}

/// Where the chain first breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Break {
    /// A sequence number is missing: that record was deleted.
    Missing { seq: i64, next: i64 },
    /// The record's contents no longer match its hash: it was edited or moved.
    Edited { seq: i64 },
    /// The record does not follow the one before it: a record was removed, inserted or reordered.
    Unlinked { seq: i64 },
    /// Records at the end are gone: the chain stops before the recorded head.
    Truncated { last: i64, head: i64 },
    /// Records follow the recorded head: appended without moving it, so forged.
    PastHead { seq: i64, head: i64 },
    /// The record at a kept checkpoint's place is not the one the checkpoint holds: the
    /// chain was rewritten at or before it (and every later hash computed again).
    Rewritten { seq: i64, found: String },
    /// The chain ends before a kept checkpoint: it was cut short and its head moved back.
    ShortOfCheckpoint { seq: i64, last: i64 },
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Break::Missing { seq, next } => {
                write!(
                    f,
                    "record {seq} is missing (deleted); the next record is {next}"
                )
            }
            Break::Edited { seq } => {
                write!(f, "record {seq} does not match its hash (edited or moved)")
            }
            Break::Unlinked { seq } => write!(
                f,
                "record {seq} does not follow record {} (a record was removed, inserted or reordered)",
                seq - 1
            ),
            Break::Truncated { last, head } => write!(
                f,
                "record {} is missing (deleted): the chain ends at {last} but its head is {head}",
                last + 1
            ),
            Break::PastHead { seq, head } => write!(
                f,
                "record {seq} is past the chain's head {head} (appended without moving the head: forged)"
            ),
            Break::Rewritten { seq, found } => write!(
                f,
                "record {seq} is not the checkpoint's: its hash is now {found} (the chain was rewritten at or before {seq})"
            ),
            Break::ShortOfCheckpoint { seq, last } => write!(
                f,
                "record {seq} of the checkpoint is missing: the chain ends at {last} (truncated)"
            ),
        }
    }
}

/// A record's place and hash, kept outside the store (`jit audit verify` prints the head as
/// one, `SEQ:HASH`): a later chain that still holds it there has not been rewritten up to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
}

impl Checkpoint {
    /// `SEQ:HASH`: a record number from 1 and 64 hex digits.
    pub fn parse(text: &str) -> Result<Checkpoint, String> {
        let usage = || {
            format!(
                "{text:?} is not a checkpoint: use SEQ:HASH as `jit audit verify` prints it (a record number from 1, a colon, and 64 hex digits)"
            )
        };
        let (seq, hash) = text.split_once(':').ok_or_else(usage)?;
        if !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(usage());
        }
        let seq: i64 = seq.parse().map_err(|_| usage())?;
        if seq < 1 || hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(usage());
        }
        Ok(Checkpoint {
            seq,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// Checks records one at a time, in `seq` order.
pub struct Verifier {
    prev_seq: i64,
    prev_hash: String,
    pub count: u64,
    checkpoint: Option<Checkpoint>,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            prev_seq: 0,
            prev_hash: GENESIS.to_owned(),
            count: 0,
            checkpoint: None,
        }
    }
}

impl Verifier {
    /// A verifier that also proves the chain still holds `checkpoint`.
    pub fn holding(checkpoint: Option<Checkpoint>) -> Verifier {
        Verifier {
            checkpoint,
            ..Verifier::default()
        }
    }

    pub fn check(&mut self, record: &RawRecord<'_>) -> Result<(), Break> {
        let expected = self.prev_seq + 1;
        if record.seq != expected {
            return Err(Break::Missing {
                seq: expected,
                next: record.seq,
            });
        }
        let body = canonical(
            record.seq,
            record.at,
            record.actor,
            record.lease_id,
            record.kind,
            record.details,
        );
        if chain_hash(record.prev_hash, &body) != record.hash {
            return Err(Break::Edited { seq: record.seq });
        }
        if record.prev_hash != self.prev_hash {
            return Err(Break::Unlinked { seq: record.seq });
        }
        if let Some(kept) = &self.checkpoint
            && kept.seq == record.seq
            && kept.hash != record.hash
        {
            return Err(Break::Rewritten {
                seq: record.seq,
                found: record.hash.to_owned(),
            });
        }
        self.prev_seq = record.seq;
        self.prev_hash.clear();
        self.prev_hash.push_str(record.hash);
        self.count += 1;
        Ok(())
    }

    /// Compare the end of the chain with the head the store recorded (`(0, GENESIS)` when it
    /// has recorded none), then with the kept checkpoint.
    pub fn finish(&self, head: (i64, &str)) -> Result<(i64, String), Break> {
        let (head_seq, head_hash) = head;
        if head_seq > self.prev_seq {
            return Err(Break::Truncated {
                last: self.prev_seq,
                head: head_seq,
            });
        }
        if head_seq < self.prev_seq {
            return Err(Break::PastHead {
                seq: head_seq + 1,
                head: head_seq,
            });
        }
        if head_hash != self.prev_hash {
            return Err(Break::Edited { seq: head_seq });
        }
        if let Some(kept) = &self.checkpoint
            && kept.seq > self.prev_seq
        {
            return Err(Break::ShortOfCheckpoint {
                seq: kept.seq,
                last: self.prev_seq,
            });
        }
        Ok((self.prev_seq, self.prev_hash.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<(i64, String, String, String)> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let details = format!("{{\"n\":{seq}}}");
                let hash = chain_hash(
                    &prev,
                    &canonical(
                        seq,
                        "2026-01-01T00:00:00Z",
                        "alice",
                        Some("abc"),
                        "granted",
                        &details,
                    ),
                );
                let row = (seq, details, prev.clone(), hash.clone());
                prev = hash;
                row
            })
            .collect()
    }

    fn verify(rows: &[(i64, String, String, String)]) -> Result<(), Break> {
        feed(&mut Verifier::default(), rows)
    }

    /// Check each row as a record of the test chain.
    fn feed(v: &mut Verifier, rows: &[(i64, String, String, String)]) -> Result<(), Break> {
        for (seq, details, prev, hash) in rows {
            v.check(&RawRecord {
                seq: *seq,
                at: "2026-01-01T00:00:00Z",
                actor: "alice",
                lease_id: Some("abc"),
                kind: "granted",
                details,
                prev_hash: prev,
                hash,
            })?;
        }
        Ok(())
    }

    #[test]
    fn canonical_is_sorted_and_escaped() {
        assert_eq!(
            canonical(7, "t", "a\"b", None, "revoked", "{}"),
            r#"{"actor":"a\"b","at":"t","details":{},"kind":"revoked","lease_id":null,"seq":7}"#
        );
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(()));
    }

    #[test]
    fn edits_deletions_and_swaps_are_named() {
        let mut edited = chain(5);
        edited[2].1 = "{\"n\":99}".into();
        assert_eq!(verify(&edited), Err(Break::Edited { seq: 3 }));

        let mut deleted = chain(5);
        deleted.remove(1);
        assert_eq!(verify(&deleted), Err(Break::Missing { seq: 2, next: 3 }));

        let mut swapped = chain(5);
        let (a, b) = (swapped[1].clone(), swapped[2].clone());
        swapped[1] = (2, b.1, b.2, b.3);
        swapped[2] = (3, a.1, a.2, a.3);
        assert_eq!(verify(&swapped), Err(Break::Edited { seq: 2 }));
    }

    #[test]
    fn the_head_and_a_kept_checkpoint_are_compared() {
        let rows = chain(5);
        let finish = |checkpoint: Option<Checkpoint>, head: (i64, &str)| {
            let mut v = Verifier::holding(checkpoint);
            feed(&mut v, &rows)?;
            v.finish(head).map(|(seq, _)| seq)
        };
        let at = |seq: usize| rows[seq - 1].3.clone();
        assert_eq!(finish(None, (5, &at(5))), Ok(5));
        assert_eq!(
            finish(None, (4, &at(4))),
            Err(Break::PastHead { seq: 5, head: 4 })
        );
        assert_eq!(
            finish(None, (0, GENESIS)),
            Err(Break::PastHead { seq: 1, head: 0 })
        );
        let kept = |seq: i64, hash: String| Some(Checkpoint { seq, hash });
        assert_eq!(finish(kept(3, at(3)), (5, &at(5))), Ok(5));
        assert_eq!(
            finish(kept(3, at(2)), (5, &at(5))),
            Err(Break::Rewritten {
                seq: 3,
                found: at(3)
            })
        );
        assert_eq!(
            finish(kept(7, at(2)), (5, &at(5))),
            Err(Break::ShortOfCheckpoint { seq: 7, last: 5 })
        );
    }

    #[test]
    fn checkpoints_parse_strictly() {
        let hash = "Ab".repeat(32);
        assert_eq!(
            Checkpoint::parse(&format!("12:{hash}")),
            Ok(Checkpoint {
                seq: 12,
                hash: "ab".repeat(32)
            })
        );
        for bad in ["", "12", ":", "0:x", "x:y"] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad}");
        }
        assert!(Checkpoint::parse(&format!("0:{hash}")).is_err());
        assert!(Checkpoint::parse(&format!("+1:{hash}")).is_err());
        assert!(Checkpoint::parse(&format!("1:{hash}a")).is_err());
    }
}
