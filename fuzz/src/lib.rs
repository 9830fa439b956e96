//! The invariants of jit's hand-written parsers and state, one check per fuzz target.
//!
//! The fuzz targets in `fuzz_targets/` call these with libFuzzer's inputs; the integration
//! test `fuzz_corpus` (tests/it/fuzz_corpus.rs, which includes this file) feeds them every
//! file of the checked-in corpus in `fuzz/corpus/<target>/`, so `cargo test` replays it.
//! Each check panics when an invariant breaks.

use jit::backend::Grant;
use jit::backend::command::{PROTOCOL_VERSION, read_answer};
use jit::lease::LeaseState;
use serde_json::Value;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

/// The configuration reader never panics; it gives a configuration or at least one error,
/// and every error points at a line and column inside the text.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/fuzz/jit.toml");
    let Err(errors) = jit::config::parse(path, text) else {
        return;
    };
    assert!(!errors.0.is_empty(), "refused without an error");
    let lines: Vec<&str> = text.split('\n').collect();
    for error in &errors.0 {
        assert_eq!(error.file, path);
        assert!(
            (1..=lines.len()).contains(&error.line),
            "line {} outside 1..={}: {error}",
            error.line,
            lines.len()
        );
        let width = lines[error.line - 1].chars().count();
        assert!(
            (1..=width + 1).contains(&error.column),
            "column {} outside 1..={} on line {}: {error}",
            error.column,
            width + 1,
            error.line
        );
        assert!(
            !error.message.trim().is_empty(),
            "an empty message at {error}"
        );
    }
}

/// The command protocol's answer reader never panics and accepts only what
/// docs/command-protocol.md allows: a JSON object with `"v": 1` and `"ok": true` from a
/// program that exited 0; a grant from it only with `credentials` absent, null or an object
/// and an `expires_at` string that is an RFC 3339 time.
///
/// The first byte of the input is the program's exit code, the rest its standard output.
pub fn answer(data: &[u8]) {
    let Some((&code, stdout)) = data.split_first() else {
        return;
    };
    let Ok(stdout) = std::str::from_utf8(stdout) else {
        return;
    };
    let status = ExitStatus::from_raw(i32::from(code) << 8);
    let Ok(map) = read_answer(Path::new("/fuzz/program"), stdout, status, "last words") else {
        return;
    };
    assert!(
        status.success(),
        "accepted from a program that exited {code}"
    );
    let parsed: Value = serde_json::from_str(stdout.trim()).expect("accepted invalid JSON");
    assert_eq!(parsed.as_object(), Some(&map), "accepted a non-object");
    assert_eq!(map.get("v").and_then(Value::as_u64), Some(PROTOCOL_VERSION));
    assert_eq!(map.get("ok"), Some(&Value::Bool(true)));

    let credentials_valid = matches!(
        map.get("credentials"),
        None | Some(Value::Null) | Some(Value::Object(_))
    );
    let expiry = match map.get("expires_at") {
        Some(Value::String(text)) => Some(chrono::DateTime::parse_from_rfc3339(text).ok()),
        _ => None,
    };
    match Grant::from_answer(&map) {
        Ok(grant) => {
            assert!(
                credentials_valid,
                "accepted credentials {:?}",
                map.get("credentials")
            );
            match expiry {
                Some(Some(time)) => assert_eq!(grant.native_expiry, Some(time.to_utc())),
                Some(None) => panic!("accepted expires_at {:?}", map.get("expires_at")),
                None => assert_eq!(grant.native_expiry, None),
            }
            assert_eq!(&grant.handle, map.get("handle").unwrap_or(&Value::Null));
            if let (Some(credentials), Some(Value::Object(fields))) =
                (&grant.credentials, map.get("credentials"))
            {
                let kept = credentials.expose();
                assert_eq!(kept.len(), fields.len());
                for (key, value) in fields {
                    let text = match value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    assert_eq!(kept.get(key), Some(&text));
                }
            }
        }
        Err(_) => assert!(
            !credentials_valid || matches!(expiry, Some(None)),
            "refused a valid grant answer"
        ),
    }
}

/// Durations: whatever parses is positive, whole seconds and at most a year and a day, and
/// its compact form parses back to it; every such duration's compact form parses back.
pub fn duration(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(parsed) = jit::duration::parse(text)
    {
        round_trip(parsed);
    }
    if let Some(bytes) = data.first_chunk::<8>() {
        let secs = u64::from_be_bytes(*bytes) % jit::duration::LONGEST.as_secs() + 1;
        round_trip(Duration::from_secs(secs));
    }
}

fn round_trip(duration: Duration) {
    assert!(!duration.is_zero());
    assert_eq!(duration.subsec_nanos(), 0);
    assert!(duration <= jit::duration::LONGEST);
    let text = jit::duration::format(duration);
    assert_eq!(jit::duration::parse(&text), Ok(duration), "{text}");
}

/// A KRL the encoder wrote, with the serials it must revoke (ascending, once each).
pub struct Krl {
    pub bytes: Vec<u8>,
    pub serials: Vec<u64>,
}

/// The blob of an ed25519 public key (any 32 bytes do for the encoder and the reader here).
pub fn sample_ca_blob() -> Vec<u8> {
    let mut blob = Vec::new();
    for part in [&b"ssh-ed25519"[..], &[7u8; 32][..]] {
        blob.extend_from_slice(&u32::try_from(part.len()).unwrap().to_be_bytes());
        blob.extend_from_slice(part);
    }
    blob
}

/// The KRL encoder, for the serials read from the input (8 bytes each), writes a file that
/// `PROTOCOL.krl` reads back as exactly those serials under `ca_blob`: read here by a reader
/// of its own; the corpus replay also asks `ssh-keygen -Q`.
pub fn krl(ca_blob: &[u8], data: &[u8]) -> Krl {
    let serials: Vec<u64> = data
        .chunks_exact(8)
        .map(|chunk| u64::from_be_bytes(chunk.try_into().unwrap()))
        .collect();
    let version = serials.first().copied().unwrap_or(1);
    let bytes = jit::backend::ssh::krl::encode(ca_blob, &serials, version, 1_700_000_000, "jit");

    let mut expected: Vec<u64> = serials.iter().copied().filter(|&s| s != 0).collect();
    expected.sort_unstable();
    expected.dedup();

    let mut r = KrlReader(&bytes);
    assert_eq!(r.take(8), b"SSHKRL\n\0");
    assert_eq!(r.u32(), 1, "format version");
    assert_eq!(r.u64(), version);
    assert_eq!(r.u64(), 1_700_000_000);
    assert_eq!(r.u64(), 0, "flags");
    assert_eq!(r.string(), b"", "reserved");
    assert_eq!(r.string(), b"jit", "comment");
    let mut revoked = Vec::new();
    while !r.0.is_empty() {
        assert_eq!(r.u8(), 1, "a certificates section");
        let mut section = KrlReader(r.string());
        assert_eq!(section.string(), ca_blob);
        assert_eq!(section.string(), b"", "reserved");
        while !section.0.is_empty() {
            assert_eq!(section.u8(), 0x20, "a serial list");
            let mut list = KrlReader(section.string());
            assert!(!list.0.is_empty(), "an empty serial list");
            while !list.0.is_empty() {
                revoked.push(list.u64());
            }
        }
    }
    assert!(
        revoked.windows(2).all(|w| w[0] < w[1]),
        "serials not ascending"
    );
    assert!(!revoked.contains(&0), "serial 0 (OpenSSH refuses the file)");
    assert_eq!(revoked, expected);
    Krl {
        bytes,
        serials: expected,
    }
}

struct KrlReader<'b>(&'b [u8]);

impl<'b> KrlReader<'b> {
    fn take(&mut self, n: usize) -> &'b [u8] {
        assert!(self.0.len() >= n, "the KRL ends early");
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.take(8).try_into().unwrap())
    }
    fn string(&mut self) -> &'b [u8] {
        let n = self.u32() as usize;
        self.take(n)
    }
}

/// The lease state machine: from `pending`, any sequence of attempted steps (one input byte
/// each) is taken exactly when `may_become` allows it; a final state is never left;
/// `granting` comes only from `pending`; `active` only after `granting`; `revoked` and
/// `expired` only from `revoking`; `denied` and `cancelled` only from `pending`. State names
/// read back as themselves.
pub fn lease(data: &[u8]) {
    use LeaseState::*;
    let mut state = Pending;
    let mut granted = false;
    for &byte in data {
        let next = LeaseState::ALL[usize::from(byte) % LeaseState::ALL.len()];
        if !state.may_become(next) {
            continue;
        }
        assert!(!state.is_final(), "{state} -> {next}: a final state left");
        assert_ne!(next, Pending, "{state} -> pending");
        match next {
            Granting => assert_eq!(state, Pending),
            Active => assert!(matches!(state, Granting | Active)),
            Revoked | Expired => assert_eq!(state, Revoking),
            Denied | Cancelled => assert_eq!(state, Pending),
            Revoking | RevokeFailed => assert!(granted, "{state} -> {next} before a grant"),
            _ => {}
        }
        if LeaseState::HOLDING.contains(&next) {
            assert!(
                granted || next == Granting,
                "{state} -> {next}: holding unannounced"
            );
        }
        granted |= next == Granting;
        state = next;
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(parsed) = text.parse::<LeaseState>()
    {
        assert_eq!(parsed.as_str(), text);
        let json = serde_json::to_string(&parsed).unwrap();
        assert_eq!(serde_json::from_str::<LeaseState>(&json).unwrap(), parsed);
    }
}
