//! Delivery of what an ssh grant hands the requester: the public key it certifies (read from
//! `--pubkey` or `~/.ssh`), and the certificate written beside that key and, for roles with
//! `agent = true`, handed to the running ssh-agent. What is said about it is returned for the
//! command to print.

use crate::backend::Credentials;
use crate::identity::Identity;
use crate::lease::Lease;
use crate::trusted_dir::TrustedDir;
use anyhow::Result;
use chrono::{DateTime, Utc};
use nix::unistd::Uid;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A line for the requester about the delivery, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Said {
    Note(String),
    Warn(String),
}

/// The public key a request certifies: `--pubkey` (`pubkey`), or the requester's
/// `~/.ssh/id_ed25519.pub`, else the key `jit init` made beside the configuration; with its
/// file. `takes_key`: the role's target takes one; `need_key`: the request will be granted
/// (not a dry run). Only the key's type and data travel.
pub fn requester_key(
    identity: &Identity,
    config_path: &Path,
    pubkey: Option<PathBuf>,
    role: &str,
    takes_key: bool,
    need_key: bool,
) -> Result<(Option<PathBuf>, Option<String>)> {
    let ssh_role = takes_key;
    // Acting for someone else: their ~/.ssh/id_ed25519.pub only, read without following a
    // link (~/.ssh is theirs; see trusted_dir), never a key of jit's own account.
    let (path, text) = if identity.delegated() {
        match (ssh_role && need_key)
            .then(|| delegated_public_key(identity))
            .transpose()?
        {
            Some(Some((path, text))) => (Some(path), Some(text)),
            _ => (None, None),
        }
    } else {
        // ~/.ssh/id_ed25519.pub, else the key `jit init` made beside the configuration.
        let path = pubkey.or_else(|| {
            let beside_config = config_path
                .parent()
                .map(|dir| dir.join("id_ed25519.pub"));
            [
                Some(identity.home.join(".ssh/id_ed25519.pub")),
                beside_config,
            ]
            .into_iter()
            .flatten()
            .find(|candidate| ssh_role && candidate.exists())
        });
        let text = match &path {
            Some(path) if need_key => Some(std::fs::read_to_string(path).map_err(|err| {
                crate::exit::usage(format!("--pubkey {}: {err}", path.display()))
            })?),
            _ => None,
        };
        (path, text)
    };
    let public_key = match (&path, text) {
        (Some(path), Some(text)) if need_key => {
            let key = ssh_key::PublicKey::from_openssh(text.trim()).map_err(|err| {
                crate::exit::usage(format!(
                    "--pubkey {}: not an OpenSSH public key ({err})",
                    path.display()
                ))
            })?;
            // Only the key travels: a comment could carry anything.
            Some(
                key.to_openssh()
                    .map_err(|err| crate::exit::usage(format!("--pubkey: {err}")))?
                    .split(' ')
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        }
        (None, _) if ssh_role && need_key && identity.delegated() => {
            return Err(crate::exit::usage(format!(
                "role {:?} certifies a public key: there is no {} (under sudo, jit certifies that key only)",
                role,
                identity.home.join(".ssh/id_ed25519.pub").display()
            )));
        }
        (None, _) if ssh_role && need_key => {
            return Err(crate::exit::usage(format!(
                "role {:?} certifies a public key: give --pubkey FILE (no {} and no id_ed25519.pub beside the configuration)",
                role,
                identity.home.join(".ssh/id_ed25519.pub").display()
            )));
        }
        _ => None,
    };
    Ok((path, public_key))
}

/// The requester's `~/.ssh/id_ed25519.pub` and its text, read through [`TrustedDir`]: `None`
/// when they have none; an error naming the path when `~/.ssh` or the key is a link, someone
/// else's, or writable by others.
fn delegated_public_key(identity: &Identity) -> Result<Option<(std::path::PathBuf, String)>> {
    let dir = identity.home.join(".ssh");
    let owner = nix::unistd::Uid::from_raw(identity.uid);
    let dir = match TrustedDir::open(&dir, owner) {
        Err(err) if err.is_missing() => return Ok(None),
        other => other?,
    };
    let Some(body) = dir.read("id_ed25519.pub")? else {
        return Ok(None);
    };
    let path = dir.path().join("id_ed25519.pub");
    let text = String::from_utf8(body)
        .map_err(|_| crate::exit::usage(format!("{}: not UTF-8 text", path.display())))?;
    Ok(Some((path, text)))
}

/// After a grant: write the certificate in `credentials` (if any) beside the key it
/// certifies, or to `out`, and hand it to the ssh-agent when the role's grant (`params`) asks.
pub fn deliver(
    identity: &Identity,
    now: DateTime<Utc>,
    lease: &Lease,
    params: Option<&Value>,
    credentials: Option<&Credentials>,
    pubkey: Option<&Path>,
    out: Option<PathBuf>,
) -> Vec<Said> {
    let mut said = Vec::new();
    // An ssh certificate goes beside the key it certifies (or to --out).
    let certificate = credentials
        .and_then(|c| c.expose().get("SSH_CERTIFICATE").cloned());
    // Under sudo the key was read through its checked directory: no second look by path.
    let delegated = identity.delegated();
    let destination = out.or_else(|| {
        pubkey
            .as_ref()
            .filter(|key| delegated || key.is_file())
            .map(|key| {
        let text = key.to_string_lossy();
        let stem = text.strip_suffix(".pub").unwrap_or(&text);
        std::path::PathBuf::from(format!("{stem}-cert.pub"))
            })
    });
    if let (Some(certificate), Some(path)) = (certificate, destination) {
        // The certificate was printed above: a file that cannot be written is a warning.
        match write_certificate(identity, &path, &certificate) {
            Ok(()) => {
        said.push(Said::Note(format!(
            "certificate written to {}",
            path.display()
        )));
        said.extend(add_to_agent(identity, now, lease, params, pubkey, &path));
            }
            Err(err) => said.push(Said::Warn(format!(
        "writing the certificate to {}: {err} (it is printed above)",
        path.display()
            ))),
        }
    }
    said
}

/// Roles with `agent = true`: hand the key and its new certificate to the running ssh-agent,
/// for the lease's time (`ssh-add -t`). No agent, or no private key beside the public one:
/// nothing to do, and the certificate file is there all the same.
fn add_to_agent(
    identity: &Identity,
    now: DateTime<Utc>,
    lease: &Lease,
    params: Option<&Value>,
    pubkey: Option<&Path>,
    certificate: &Path,
) -> Option<Said> {
    let wants_agent =
        params.is_some_and(|grant| grant.get("agent").and_then(Value::as_bool) == Some(true));
    let (Some(pubkey), Some(end)) = (pubkey, lease.expires_at) else {
        return None;
    };
    let private = pubkey.with_extension("");
    if !wants_agent || std::env::var_os("SSH_AUTH_SOCK").is_none() {
        return None;
    }
    let delegated = identity.delegated();
    let has_private = if delegated {
        // Looked at in the requester's checked ~/.ssh, never through a link.
        private
            .parent()
            .and_then(|dir| TrustedDir::open(dir, Uid::from_raw(identity.uid)).ok())
            .is_some_and(|dir| dir.contains("id_ed25519"))
    } else {
        private.exists()
    };
    if !has_private {
        return None;
    }
    if delegated && !Uid::effective().is_root() {
        return Some(Said::Warn(
            "not added to the ssh-agent: under sudo, jit hands keys to an agent only as root (as you); run ssh-add yourself".to_owned(),
        ));
    }
    // ssh-add takes the certificate from beside the key, KEY-cert.pub, and nowhere else.
    let mut beside = private.clone().into_os_string();
    beside.push("-cert.pub");
    if certificate != Path::new(&beside) {
        return Some(Said::Warn(
            "not added to the ssh-agent: ssh-add reads KEY-cert.pub beside the key, and --out put the certificate elsewhere".to_owned(),
        ));
    }
    let seconds = (end - now).num_seconds().max(1);
    let mut ssh_add = std::process::Command::new("ssh-add");
    if delegated {
        // ssh-add reads the requester's key and talks to their agent as them, not as root.
        use std::os::unix::process::CommandExt;
        ssh_add.uid(identity.uid).gid(identity.gid);
    }
    ssh_add
        .arg("-q")
        .arg("-t")
        .arg(seconds.to_string())
        .arg(&private)
        .stdin(std::process::Stdio::null());
    crate::child::dies_with_jit(&mut ssh_add, nix::sys::signal::Signal::SIGKILL);
    let added = ssh_add.output();
    Some(match added {
        Ok(output) if output.status.success() => {
            Said::Note(format!("added to the ssh-agent for {seconds}s"))
        }
        Ok(output) => Said::Warn(format!(
            "ssh-add: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Err(err) => Said::Warn(format!("ssh-add: {err}")),
    })
}

/// Write the certificate. Acting for someone else (through sudo, possibly as root), write it
/// into the requester's `~/.ssh` opened without following links and checked to be theirs (see
/// [`TrustedDir`]), as a new file renamed into place and handed to them: nothing is written,
/// chmod-ed or chown-ed through a link they planted.
fn write_certificate(
    identity: &Identity,
    path: &std::path::Path,
    certificate: &str,
) -> std::result::Result<(), String> {
    let body = format!("{certificate}\n");
    if !identity.delegated() {
        return std::fs::write(path, body).map_err(|err| err.to_string());
    }
    let (dir, name) = crate::trusted_dir::split(path).map_err(|err| err.to_string())?;
    let uid = Uid::from_raw(identity.uid);
    let gid = nix::unistd::Gid::from_raw(identity.gid);
    TrustedDir::open(dir, uid)
        .and_then(|dir| dir.replace(name, body.as_bytes(), 0o644, Some((uid, gid))))
        .map_err(|err| err.to_string())
}
