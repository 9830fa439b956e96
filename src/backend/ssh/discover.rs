//! `jit discover` on an `authorized-keys` target: in the `authorized_keys` file of every
//! account the roles name, a key line without `expiry-time` is standing access to that
//! account (`standing`); a line of jit's (its comment ends with `jit:LEASE`) is this store's
//! leftover when it carries this store's mark for a lease that is not live, another store's
//! when it carries another mark (left alone), and `unmarked` without a mark. `--adopt`
//! removes that exact line, under the same lock and in the same way as a revoke.
//!
//! The file is read as a revoke reads it: its directory opened from `/` without following a
//! link, and checked to be the account's (or root's) and writable by nobody else.

use super::SshBackend;
use super::config::SshGrant;
use crate::backend::BackendError;
use crate::backend::discover::{Discovery, Finding, FindingKind, Mark, Scope};
use crate::trusted_dir::{self, TrustedDir};
use serde_json::json;
use sha2::{Digest, Sha256};
use ssh_key::{HashAlg, PublicKey};

fn hash(line: &str) -> String {
    hex::encode(Sha256::digest(line.as_bytes()))
}

/// Split `text` at the first `separator` outside double quotes (`\"` inside quotes does not
/// end them), as sshd reads the options of a key line.
fn split_unquoted(text: &str, separator: impl Fn(char) -> bool) -> (&str, Option<&str>) {
    let mut quoted = false;
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quoted {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if !quoted && separator(c) {
            return (&text[..at], Some(&text[at + c.len_utf8()..]));
        }
    }
    (text, None)
}

/// A key line's options (the names, lowercase) and its key. `None`: not a key line that
/// can be read.
fn key_line(line: &str) -> Option<(Vec<String>, PublicKey)> {
    if let Ok(key) = PublicKey::from_openssh(line) {
        return Some((Vec::new(), key));
    }
    let (options, rest) = split_unquoted(line, char::is_whitespace);
    let key = PublicKey::from_openssh(rest?.trim_start()).ok()?;
    let mut names = Vec::new();
    let mut rest = Some(options);
    while let Some(text) = rest {
        let (option, more) = split_unquoted(text, |c| c == ',');
        let name = option.split('=').next().unwrap_or("").to_ascii_lowercase();
        names.push(name);
        rest = more;
    }
    Some((names, key))
}

/// The lease id a line of jit's ends with (`jit:LEASE`).
fn jit_lease(line: &str) -> Option<&str> {
    line.split_whitespace()
        .last()?
        .strip_prefix("jit:")
        .filter(|id| crate::lease::is_valid_id(id))
}

pub fn discover(
    template: &str,
    scope: &Scope<'_>,
    roles: &[(&str, SshGrant)],
) -> Result<Discovery, BackendError> {
    let mut discovery = Discovery::default();
    // Each account once, with the first role that names it.
    let mut accounts: Vec<(&str, &str)> = Vec::new();
    for (role, grant) in roles {
        if let Some(account) = grant.account.as_deref()
            && !accounts.iter().any(|(a, _)| *a == account)
        {
            accounts.push((account, role));
        }
    }
    for (account, role) in accounts {
        let (user, path) = match SshBackend::account_path(template, account) {
            Ok(found) => found,
            Err(err) if err.kind == crate::backend::ErrorKind::Refused => {
                discovery
                    .notes
                    .push(format!("account {account}: {}", err.message));
                continue;
            }
            Err(err) => return Err(err),
        };
        let (dir, name) = trusted_dir::split(&path).map_err(crate::backend::fs_error)?;
        let body = match TrustedDir::open(dir, user.uid) {
            Err(err) if err.is_missing() => continue,
            Err(err) => return Err(crate::backend::fs_error(err)),
            Ok(dir) => dir.read(name).map_err(crate::backend::fs_error)?,
        };
        let Some(body) = body else { continue };
        let text = String::from_utf8_lossy(&body);
        for (number, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let removal = json!({ "account": account, "line_sha256": hash(line) });
            if let Some(lease_id) = jit_lease(line) {
                let finding = match Mark::find(line) {
                    Some(mark) => match scope.leftover(&mark) {
                        // Another store's, or this store's for a live lease.
                        None | Some(false) => continue,
                        Some(true) => Finding::leftover(
                            account.to_owned(),
                            format!("key line of lease {} in {}", mark.lease, path.display()),
                            &mark.lease,
                            removal,
                        ),
                    },
                    None if scope.is_live(lease_id) => continue,
                    None => Finding::unmarked(account.to_owned(), format!(
                            "key line of lease {lease_id} in {}",
                            path.display()
                        )),
                };
                discovery.findings.push(finding);
                continue;
            }
            let Some((options, key)) = key_line(line) else {
                discovery.notes.push(format!(
                    "{} line {}: not a key line jit can read",
                    path.display(),
                    number + 1
                ));
                continue;
            };
            if options.iter().any(|option| option == "expiry-time") {
                continue;
            }
            let comment = key.comment();
            discovery.findings.push(Finding {
                kind: FindingKind::Standing,
                holder: account.to_owned(),
                subject: None,
                role: Some(role.to_owned()),
                entitlement: format!(
                    "{} key {}{} in {}",
                    key.algorithm(),
                    key.fingerprint(HashAlg::Sha256),
                    if comment.is_empty() {
                        String::new()
                    } else {
                        format!(" ({comment})")
                    },
                    path.display()
                ),
                since: None,
                action: "adopt: the key's line is removed; its owner requests the role".to_owned(),
                removal,
            });
        }
    }
    Ok(discovery)
}

/// Remove the exact line a finding names from the account's file, as a revoke removes one
/// of jit's: under the lock, the other lines kept as they were. Already gone is success.
pub fn remove(template: &str, finding: &Finding) -> Result<(), BackendError> {
    let (Some(account), Some(digest)) = (
        finding.removal["account"].as_str(),
        finding.removal["line_sha256"].as_str(),
    ) else {
        return Err(BackendError::refused(
            "the finding names no authorized_keys line",
        ));
    };
    let (user, path) = SshBackend::account_path(template, account)?;
    let (dir, name) = trusted_dir::split(&path).map_err(crate::backend::fs_error)?;
    let dir = match TrustedDir::open(dir, user.uid) {
        Err(err) if err.is_missing() => return Ok(()),
        other => other.map_err(crate::backend::fs_error)?,
    };
    let _lock = dir
        .lock(".jit-authorized-keys.lock")
        .map_err(crate::backend::fs_error)?;
    let Some(body) = dir.read(name).map_err(crate::backend::fs_error)? else {
        return Ok(());
    };
    let text = String::from_utf8(body).map_err(|_| {
        BackendError::permanent(format!("{} is not UTF-8 text", path.display()))
    })?;
    let mut found = false;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if hash(line) == digest {
            found = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if found {
        dir.replace(name, out.as_bytes(), 0o600, Some((user.uid, user.gid)))
            .map_err(crate::backend::fs_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMIHgY0Mz7HEr4BxFb44ZBkm8FaGZgSmb0aAZc6qMfVA";

    #[test]
    fn options_are_read_with_their_quotes() {
        let (options, key) = key_line(&format!("{KEY} alice@laptop")).unwrap();
        assert!(options.is_empty());
        assert_eq!(key.comment(), "alice@laptop");
        let line = format!(
            "command=\"/usr/bin/run a, b\",Expiry-Time=\"20300101\",restrict {KEY} deploy key"
        );
        let (options, key) = key_line(&line).unwrap();
        assert_eq!(options, ["command", "expiry-time", "restrict"]);
        assert_eq!(key.comment(), "deploy key");
        assert!(key_line("from=\"10.0.0.1\" not-a-key").is_none());
    }

    #[test]
    fn jit_lines_are_known_by_their_last_word() {
        let line = format!("expiry-time=\"20300101\",restrict {KEY} jit:0f3a9c12:abcdefgh23 jit:abcdefgh23");
        assert_eq!(jit_lease(&line), Some("abcdefgh23"));
        assert_eq!(
            Mark::find(&line).map(|m| m.lease),
            Some("abcdefgh23".to_owned())
        );
        assert_eq!(jit_lease(&format!("{KEY} alice")), None);
    }
}
