//! The fuzz corpus, replayed: every file of `fuzz/corpus/<target>/` goes through the same
//! check its fuzz target runs (fuzz/src/lib.rs), so `cargo test` keeps what fuzzing found
//! without cargo-fuzz. The KRLs are also read by `ssh-keygen`, as sshd reads them.

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)] // sample_ca_blob is for the fuzz target
mod checks;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            (path, data)
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "{}: a corpus of {}",
        dir.display(),
        files.len()
    );
    files
}

/// Run `check` on every file of the target's corpus; name each file whose check fails.
fn replay(target: &str, check: impl Fn(&[u8])) {
    let failed: Vec<String> = corpus(target)
        .into_iter()
        .filter(|(_, data)| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(data))).is_err()
        })
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "failed: {failed:#?}");
}

#[test]
fn config_reader_corpus() {
    replay("config", checks::config);
}

#[test]
fn command_answer_corpus() {
    replay("answer", checks::answer);
}

#[test]
fn duration_corpus() {
    replay("duration", checks::duration);
}

#[test]
fn lease_state_corpus() {
    replay("lease", checks::lease);
}

fn ssh_keygen(args: &[&str], dir: &Path) -> std::process::Output {
    let out = Command::new("ssh-keygen")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some(),
        "ssh-keygen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every KRL the encoder writes for the corpus's serial sets is one `ssh-keygen` reads, as
/// revoking exactly those serials: its listing names them all and nothing else, a certificate
/// with a serial of the set is REVOKED and one with a serial outside it is ok.
#[test]
fn krl_corpus_is_read_by_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    for key in ["ca", "user"] {
        let made = ssh_keygen(
            &["-q", "-t", "ed25519", "-N", "", "-C", key, "-f", key],
            dir,
        );
        assert!(made.status.success());
    }
    let ca =
        ssh_key::PublicKey::from_openssh(&std::fs::read_to_string(dir.join("ca.pub")).unwrap())
            .unwrap();
    let blob = ca.to_bytes().unwrap();
    let certificate = |serial: u64| -> String {
        let name = format!("s{serial}");
        if !dir.join(format!("{name}-cert.pub")).exists() {
            std::fs::copy(dir.join("user.pub"), dir.join(format!("{name}.pub"))).unwrap();
            let serial = serial.to_string();
            let signed = ssh_keygen(
                &[
                    "-q",
                    "-s",
                    "ca",
                    "-I",
                    "fuzz",
                    "-z",
                    &serial,
                    &format!("{name}.pub"),
                ],
                dir,
            );
            assert!(signed.status.success());
        }
        format!("{name}-cert.pub")
    };

    let mut failed = Vec::new();
    for (path, data) in corpus("krl") {
        let Ok(krl) =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| checks::krl(&blob, &data)))
        else {
            failed.push(format!("{}: the encoder's check failed", path.display()));
            continue;
        };
        std::fs::write(dir.join("krl"), &krl.bytes).unwrap();

        let listed = ssh_keygen(&["-Q", "-l", "-f", "krl"], dir);
        let text = String::from_utf8_lossy(&listed.stdout);
        let mut serials = BTreeSet::new();
        for line in text.lines() {
            let Some(range) = line.strip_prefix("serial: ") else {
                continue;
            };
            let (low, high) = range.split_once('-').unwrap_or((range, range));
            let (low, high): (u64, u64) = (low.parse().unwrap(), high.parse().unwrap());
            if high - low > 1 << 20 {
                failed.push(format!("{}: lists {range}", path.display()));
                break;
            }
            serials.extend(low..=high);
        }
        let expected: BTreeSet<u64> = krl.serials.iter().copied().collect();
        if !listed.status.success() || serials != expected {
            failed.push(format!(
                "{}: ssh-keygen exited {} and listed {serials:?} for {expected:?}: {}",
                path.display(),
                listed.status,
                String::from_utf8_lossy(&listed.stderr).trim()
            ));
            continue;
        }

        let mut probes: Vec<(u64, bool)> = Vec::new();
        if let (Some(&first), Some(&last)) = (krl.serials.first(), krl.serials.last()) {
            probes.push((first, true));
            probes.push((last, true));
        }
        let outside = (1..)
            .map(|n: u64| krl.serials.last().map_or(n, |l| l.wrapping_add(n)))
            .find(|s| *s != 0 && !expected.contains(s))
            .unwrap();
        probes.push((outside, false));
        for (serial, revoked) in probes {
            let file = certificate(serial);
            let queried = ssh_keygen(&["-Q", "-f", "krl", &file], dir);
            let answer = String::from_utf8_lossy(&queried.stdout);
            let said_revoked = answer.contains(": REVOKED");
            if said_revoked != revoked || !(said_revoked || answer.contains(": ok")) {
                failed.push(format!(
                    "{}: serial {serial}: {} {}",
                    path.display(),
                    answer.trim(),
                    String::from_utf8_lossy(&queried.stderr).trim()
                ));
            }
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}
