//! `backend = "ssh"`, two modes:
//! - `certificate`: OpenSSH user certificates signed in process by the target's certificate
//!   authority, valid until the lease end, revoked early through a key revocation list (KRL)
//!   that hosts read with `RevokedKeys`;
//! - `authorized-keys`: a line with `expiry-time=` for the subject's key in a local account's
//!   `authorized_keys`, marked with the lease id, and removed (that line only) on revoke.

pub mod config;
pub mod delivery;
mod discover;
pub mod krl;
pub mod starter;

use super::{
    BackendError, Check, Credentials, EndRequest, Grant, GrantRequest, Presence, Sharing, Traits,
    TypedBackend,
};
use super::discover::{Discovery, Finding, Mark, Scope};
use crate::lease::Lease;
use crate::secret::SecretRef;
use crate::trusted_dir::{self, TrustedDir};
use config::{SshGrant, SshTarget};
use nix::unistd::Uid;
use serde_json::{Value, json};
use ssh_key::certificate::{Builder, CertType};
use ssh_key::rand_core::OsRng;
use ssh_key::{PrivateKey, PublicKey};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct SshBackend {
    settings: SshTarget,
}

/// The subject's public key, as the request gave it: type and data only.
fn public_key_of(params: &Value) -> Result<PublicKey, BackendError> {
    let text = params
        .get("public_key")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            BackendError::refused("this role needs the subject's public key (--pubkey FILE)")
        })?;
    PublicKey::from_openssh(text).map_err(|err| {
        BackendError::refused(format!(
            "the public key is not an OpenSSH public key: {err}"
        ))
    })
}

fn serial_of(lease: &Lease) -> Result<u64, BackendError> {
    lease
        .handle
        .get("serial")
        .and_then(Value::as_u64)
        .ok_or_else(|| {
            BackendError::permanent(format!("lease {} has no certificate serial", lease.id))
        })
}

fn unix(time: chrono::DateTime<chrono::Utc>) -> u64 {
    u64::try_from(time.timestamp()).unwrap_or(0)
}

fn text_of(path: &Path, name: &str, body: Option<Vec<u8>>) -> Result<String, BackendError> {
    String::from_utf8(body.unwrap_or_default()).map_err(|_| {
        BackendError::permanent(format!("{} is not UTF-8 text", path.join(name).display()))
    })
}

/// The marker that ends an authorized_keys line jit wrote for a lease.
fn marker(lease_id: &str) -> String {
    format!("jit:{lease_id}")
}

impl SshBackend {
    pub fn new(settings: SshTarget) -> Self {
        SshBackend { settings }
    }

    // ---- certificate mode ----

    fn ca(ca_key: &SecretRef) -> Result<PrivateKey, BackendError> {
        // A secret that cannot be had stops the call before the target is asked anything.
        let text = ca_key
            .resolve()
            .map_err(|err| BackendError::refused(err.to_string()))?;
        let key = PrivateKey::from_openssh(text.expose()).map_err(|err| {
            BackendError::permanent(format!("ca_key is not an OpenSSH private key: {err}"))
        })?;
        if key.is_encrypted() {
            return Err(BackendError::permanent(
                "ca_key is encrypted; jit needs it unencrypted (keep the file 0600)",
            ));
        }
        Ok(key)
    }

    /// The KRL's directory (jit's own or root's, checked all the way from `/`) and the names
    /// in it of the KRL, of the revoked serials with the end of their certificate (the
    /// ledger), and of the lock.
    fn krl_files(krl: &Path) -> Result<(TrustedDir, String, String, String), BackendError> {
        let (dir, name) = trusted_dir::split(krl).map_err(super::fs_error)?;
        let dir = TrustedDir::open(dir, Uid::effective()).map_err(super::fs_error)?;
        Ok((
            dir,
            name.to_owned(),
            format!("{name}.serials"),
            format!("{name}.lock"),
        ))
    }

    fn sign(
        ca_key: &SecretRef,
        clock_skew: Duration,
        request: &GrantRequest<'_>,
        grant: &SshGrant,
    ) -> Result<Grant, BackendError> {
        let lease = request.lease;
        let key = public_key_of(&request.lease.params)?;
        let serial = serial_of(lease)?;
        // Nothing is signed without the CA: a refusal, with nothing to clean up.
        let ca = Self::ca(ca_key).map_err(|err| BackendError::refused(err.message))?;
        if ca.algorithm() != ssh_key::Algorithm::Ed25519 {
            return Err(BackendError::refused(format!(
                "ca_key is {}; jit signs with Ed25519 certificate authorities only",
                ca.algorithm()
            )));
        }
        let now = lease.granted_at.unwrap_or_else(chrono::Utc::now);
        let skew = i64::try_from(clock_skew.as_secs()).unwrap_or(0);
        let valid_after = unix(now - chrono::TimeDelta::seconds(skew));
        let valid_before = unix(request.expires_at);
        let key_id = format!("jit:{}:{}:{}", lease.id, lease.subject, lease.role);
        let signed = (|| -> ssh_key::Result<String> {
            let mut builder = Builder::new_with_random_nonce(
                &mut OsRng,
                key.key_data().clone(),
                valid_after,
                valid_before,
            )?;
            builder
                .serial(serial)?
                .key_id(key_id.clone())?
                .cert_type(CertType::User)?;
            for principal in &grant.principals {
                builder.valid_principal(principal.clone())?;
            }
            if let Some(command) = &grant.force_command {
                builder.critical_option("force-command", command.clone())?;
            }
            if !grant.source_address.is_empty() {
                builder.critical_option("source-address", grant.source_address.join(","))?;
            }
            for extension in &grant.extensions {
                builder.extension(extension.clone(), "")?;
            }
            builder.sign(&ca)?.to_openssh()
        })()
        .map_err(|err| BackendError::permanent(format!("signing the certificate: {err}")))?;
        let mut credentials = BTreeMap::new();
        credentials.insert("SSH_CERTIFICATE".to_owned(), signed);
        Ok(Grant {
            handle: json!({ "serial": serial, "key_id": key_id, "valid_before": valid_before }),
            credentials: Some(Credentials::new(credentials)),
            native_expiry: Some(request.expires_at),
            notice: None,
        })
    }

    /// Add `serial` (valid until `until`) to the revocation list, and write the KRL again.
    fn revoke_serial(
        ca_key: &SecretRef,
        krl: &Path,
        serial: u64,
        until: u64,
    ) -> Result<(), BackendError> {
        let ca = Self::ca(ca_key)?;
        let (dir, krl_name, ledger, lock) = Self::krl_files(krl)?;
        // One writer at a time, across processes: a lock file beside the KRL (the ledger and
        // the KRL themselves are replaced by renames).
        let _lock = dir.lock(&lock).map_err(super::fs_error)?;
        let text = text_of(
            dir.path(),
            &ledger,
            dir.read(&ledger).map_err(super::fs_error)?,
        )?;
        let now = unix(chrono::Utc::now());
        let mut entries: BTreeMap<u64, u64> = text
            .lines()
            .filter_map(|line| {
                let (serial, until) = line.split_once(' ')?;
                Some((serial.parse().ok()?, until.parse().ok()?))
            })
            .collect();
        entries.insert(serial, until);
        // A certificate past its end needs no revocation any more.
        entries.retain(|_, until| *until >= now);

        // The CA's public key blob: the public key in wire format.
        let blob = ca
            .public_key()
            .to_bytes()
            .map_err(|err| BackendError::permanent(format!("ca_key: {err}")))?;
        let serials: Vec<u64> = entries.keys().copied().collect();
        let body = krl::encode(&blob, &serials, now, now, "jit");
        let lines: String = entries
            .iter()
            .map(|(serial, until)| format!("{serial} {until}\n"))
            .collect();
        // The ledger first: if the KRL write is lost, the next revocation rebuilds it from
        // the ledger; the other order could drop a revoked serial for good.
        dir.replace(&ledger, lines.as_bytes(), 0o644, None)
            .map_err(super::fs_error)?;
        dir.replace(&krl_name, &body, 0o644, None)
            .map_err(super::fs_error)
    }

    fn is_revoked(krl: &Path, serial: u64) -> Result<bool, BackendError> {
        let (dir, _, ledger, _) = Self::krl_files(krl)?;
        let text = text_of(
            dir.path(),
            &ledger,
            dir.read(&ledger).map_err(super::fs_error)?,
        )?;
        Ok(text
            .lines()
            .any(|line| line.split(' ').next() == Some(&serial.to_string())))
    }

    // ---- authorized-keys mode ----

    /// The account and its authorized_keys file, from the grant and the file template.
    fn account_file(
        template: &str,
        grant: &SshGrant,
    ) -> Result<(nix::unistd::User, PathBuf), BackendError> {
        let name = grant
            .account
            .as_deref()
            .ok_or_else(|| BackendError::permanent("the role's grant names no account"))?;
        Self::account_path(template, name)
    }

    /// The account `name` and its authorized_keys file, from the file template.
    fn account_path(
        template: &str,
        name: &str,
    ) -> Result<(nix::unistd::User, PathBuf), BackendError> {
        let user = nix::unistd::User::from_name(name)
            .map_err(|err| BackendError::permanent(format!("reading the user database: {err}")))?
            .ok_or_else(|| BackendError::refused(format!("there is no local account {name:?}")))?;
        let path = PathBuf::from(
            template
                .replace("%u", &user.name)
                .replace("%h", &user.dir.to_string_lossy()),
        );
        // Relative to the account's home, as sshd reads AuthorizedKeysFile.
        let path = if path.is_relative() {
            user.dir.join(path)
        } else {
            path
        };
        Ok((user, path))
    }

    /// The authorized_keys line for a lease: options (expiry first), the key, then as its
    /// comment the store's mark and the marker (last, which revoke looks for).
    fn line(
        grant: &SshGrant,
        key: &PublicKey,
        lease: &Lease,
        store: &str,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<String, BackendError> {
        // sshd undoes `\"` only (backslashes are refused in authorized-keys commands).
        let quote = |text: &str| format!("\"{}\"", text.replace('"', "\\\""));
        let mut options = vec![
            format!("expiry-time=\"{}\"", until.format("%Y%m%d%H%M%SZ")),
            "restrict".to_owned(),
        ];
        for extension in &grant.extensions {
            options.push(extension.trim_start_matches("permit-").to_owned());
        }
        if let Some(command) = &grant.force_command {
            options.push(format!("command={}", quote(command)));
        }
        if !grant.source_address.is_empty() {
            options.push(format!("from={}", quote(&grant.source_address.join(","))));
        }
        let key = key
            .to_openssh()
            .map_err(|err| BackendError::permanent(format!("the public key: {err}")))?;
        let key: Vec<&str> = key.split(' ').take(2).collect();
        Ok(format!(
            "{} {} {} {}",
            options.join(","),
            key.join(" "),
            Mark::of(store, lease).text(),
            marker(&lease.id)
        ))
    }

    /// Rewrite `path` without this lease's lines, then with `add` (if any), atomically and
    /// under a lock, keeping every other line as it was.
    ///
    /// The directory belongs to the account, who may have planted links in it: it is opened
    /// from `/` without following any (and created, 0700 and the account's, if a grant finds
    /// it missing), and every read, lock and write is relative to it (see [`TrustedDir`]).
    fn rewrite(
        user: &nix::unistd::User,
        path: &Path,
        lease_id: &str,
        add: Option<&str>,
    ) -> Result<bool, BackendError> {
        let (dir, name) = trusted_dir::split(path).map_err(super::fs_error)?;
        let dir = if add.is_some() {
            TrustedDir::open_or_create(dir, user.uid, 0o700, Some((user.uid, user.gid)))
        } else {
            match TrustedDir::open(dir, user.uid) {
                // No directory, no line to remove.
                Err(err) if err.is_missing() => return Ok(false),
                other => other,
            }
        }
        .map_err(super::fs_error)?;
        let _lock = dir
            .lock(".jit-authorized-keys.lock")
            .map_err(super::fs_error)?;
        let text = text_of(dir.path(), name, dir.read(name).map_err(super::fs_error)?)?;
        let mark = marker(lease_id);
        let mut found = false;
        let mut out = String::with_capacity(text.len() + 256);
        for line in text.lines() {
            if line.split_whitespace().last() == Some(mark.as_str()) {
                found = true;
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
        if let Some(line) = add {
            out.push_str(line);
            out.push('\n');
        }
        if found || add.is_some() {
            dir.replace(name, out.as_bytes(), 0o600, Some((user.uid, user.gid)))
                .map_err(super::fs_error)?;
        }
        Ok(found)
    }

    /// Can a grant write the account's file: its directory (or the one it would be made in)
    /// trusted as [`Self::rewrite`] requires, and writable by this user?
    fn reachable(user: &nix::unistd::User, path: &Path) -> Result<(), String> {
        let (dir, _) = trusted_dir::split(path).map_err(|err| err.to_string())?;
        let opened = match TrustedDir::open(dir, user.uid) {
            Err(err) if err.is_missing() => TrustedDir::open(dir.parent().unwrap_or(dir), user.uid),
            other => other,
        }
        .map_err(|err| err.to_string())?;
        nix::unistd::access(opened.path(), nix::unistd::AccessFlags::W_OK)
            .map_err(|_| format!("{} is not writable by this user", opened.path().display()))
    }

    /// Does the account's file still hold this lease's line? Read as [`Self::rewrite`] does.
    fn holds(user: &nix::unistd::User, path: &Path, lease_id: &str) -> bool {
        let mark = marker(lease_id);
        let Ok((dir, name)) = trusted_dir::split(path) else {
            return false;
        };
        TrustedDir::open(dir, user.uid)
            .and_then(|dir| dir.read(name))
            .ok()
            .flatten()
            .map(|body| {
                String::from_utf8_lossy(&body)
                    .lines()
                    .any(|l| l.split_whitespace().last() == Some(mark.as_str()))
            })
            .unwrap_or(false)
    }
}

impl TypedBackend for SshBackend {
    type Grant = SshGrant;
    const GRANT: &'static str = "an ssh";

    fn kind(&self) -> &'static str {
        "ssh"
    }

    fn traits(&self, _grant: &SshGrant) -> Traits {
        Traits {
            sharing: Sharing::PerLease,
            issues_credentials: Some(matches!(self.settings, SshTarget::Certificate { .. })),
            ..Traits::default()
        }
    }

    /// Certificates: the serial, chosen before signing so that an interrupted grant can still
    /// be revoked; never 0, which a KRL cannot list. authorized_keys: the marker is the lease id itself.
    fn plan(&self, lease: &Lease, _grant: &SshGrant) -> Value {
        match &self.settings {
            SshTarget::Certificate { .. } => {
                let mut bytes = [0u8; 8];
                getrandom::fill(&mut bytes).expect("the OS random source is available");
                json!({ "serial": (u64::from_be_bytes(bytes) >> 1).max(1) })
            }
            SshTarget::AuthorizedKeys { .. } => json!({ "marker": marker(&lease.id) }),
        }
    }

    fn grant(&self, request: &GrantRequest<'_>, grant: &SshGrant) -> Result<Grant, BackendError> {
        match &self.settings {
            SshTarget::Certificate {
                ca_key, clock_skew, ..
            } => Self::sign(ca_key, *clock_skew, request, grant),
            SshTarget::AuthorizedKeys { file } => {
                let key = public_key_of(&request.lease.params)?;
                let (user, path) = Self::account_file(file, grant)?;
                let line = Self::line(
                    grant,
                    &key,
                    request.lease,
                    request.store,
                    request.expires_at,
                )?;
                Self::rewrite(&user, &path, &request.lease.id, Some(&line))?;
                Ok(Grant {
                    handle: json!({ "marker": marker(&request.lease.id), "account": user.name, "file": path }),
                    credentials: None,
                    native_expiry: Some(request.expires_at),
                    notice: None,
                })
            }
        }
    }

    fn revoke(
        &self,
        request: &EndRequest<'_>,
        grant: Result<&SshGrant, BackendError>,
    ) -> Result<(), BackendError> {
        match &self.settings {
            SshTarget::Certificate { ca_key, krl, .. } => {
                let serial = serial_of(request.lease)?;
                let until = request
                    .lease
                    .handle
                    .get("valid_before")
                    .and_then(Value::as_u64)
                    .or_else(|| request.lease.expires_at.map(unix))
                    // No end recorded: the window is fixed before signing, so no certificate
                    // was ever signed; the entry is pruned at once.
                    .unwrap_or(0);
                Self::revoke_serial(ca_key, krl, serial, until)
            }
            SshTarget::AuthorizedKeys { file } => {
                let grant = grant?;
                match Self::account_file(file, grant) {
                    // No such account any more: nothing of it can hold the key.
                    Err(err) if err.kind == super::ErrorKind::Refused => Ok(()),
                    Err(err) => Err(err),
                    Ok((user, path)) => {
                        // The file the grant wrote, even if the template changed since.
                        let recorded = request.lease.handle.get("file").and_then(Value::as_str);
                        let path = recorded.map_or(path, PathBuf::from);
                        Self::rewrite(&user, &path, &request.lease.id, None).map(|_| ())
                    }
                }
            }
        }
    }

    fn extend(&self, request: &GrantRequest<'_>, grant: &SshGrant) -> Result<(), BackendError> {
        match &self.settings {
            SshTarget::Certificate { .. } => Err(BackendError::permanent(
                "an OpenSSH certificate's end cannot be moved; revoke the lease and request a new one",
            )),
            SshTarget::AuthorizedKeys { .. } => self.grant(request, grant).map(|_| ()),
        }
    }

    fn inspect(
        &self,
        request: &EndRequest<'_>,
        grant: Result<&SshGrant, BackendError>,
    ) -> Result<Presence, BackendError> {
        let present = match &self.settings {
            SshTarget::Certificate { krl, .. } => {
                !Self::is_revoked(krl, serial_of(request.lease)?)?
            }
            SshTarget::AuthorizedKeys { file } => {
                let grant = grant?;
                match Self::account_file(file, grant) {
                    Err(_) => false,
                    Ok((user, path)) => Self::holds(&user, &path, &request.lease.id),
                }
            }
        };
        Ok(if present {
            Presence::Present
        } else {
            Presence::Absent
        })
    }

    /// authorized-keys: the lines without `expiry-time` in the roles' accounts, and jit's
    /// own lines that outlived their lease. Certificates: nothing standing to read here.
    fn discover(
        &self,
        scope: &Scope<'_>,
        roles: &[(&str, SshGrant)],
    ) -> Result<Discovery, BackendError> {
        match &self.settings {
            SshTarget::Certificate { .. } => Ok(Discovery {
                findings: Vec::new(),
                notes: vec![
                    "certificate mode: jit's certificates end by themselves; the keys and \
                     certificate authorities the hosts trust are in the hosts' own files, \
                     which this target does not read"
                        .to_owned(),
                ],
            }),
            SshTarget::AuthorizedKeys { file } => discover::discover(file, scope, roles),
        }
    }

    fn remove(&self, finding: &Finding) -> Result<(), BackendError> {
        match &self.settings {
            SshTarget::Certificate { .. } => Err(BackendError::refused(
                "a certificate target has nothing to remove",
            )),
            SshTarget::AuthorizedKeys { file } => discover::remove(file, finding),
        }
    }

    fn check(&self, target: &str, grants: &[SshGrant]) -> Vec<Check> {
        let name = |what: &str| format!("target {target}: {what}");
        match &self.settings {
            SshTarget::Certificate { ca_key, krl, .. } => {
                let mut checks = vec![match Self::ca(ca_key) {
                    Ok(ca) => Check {
                        name: name("ca_key"),
                        ok: ca.algorithm() == ssh_key::Algorithm::Ed25519,
                        detail: if ca.algorithm() == ssh_key::Algorithm::Ed25519 {
                            format!("{} certificate authority", ca.algorithm())
                        } else {
                            format!(
                                "{} keys cannot sign here: use an Ed25519 certificate authority",
                                ca.algorithm()
                            )
                        },
                    },
                    Err(err) => Check {
                        name: name("ca_key"),
                        ok: false,
                        detail: err.message,
                    },
                }];
                // Where revocations are written: a trusted directory jit can write.
                let verdict = Self::krl_files(krl).and_then(|(dir, ..)| {
                    nix::unistd::access(dir.path(), nix::unistd::AccessFlags::W_OK).map_err(|_| {
                        BackendError::permanent(format!(
                            "{} is not writable: revocations could not be recorded",
                            dir.path().display()
                        ))
                    })
                });
                checks.push(Check {
                    name: name("krl"),
                    ok: verdict.is_ok(),
                    detail: match verdict {
                        Ok(()) => format!("{} (hosts read it with RevokedKeys)", krl.display()),
                        Err(err) => err.message,
                    },
                });
                checks
            }
            SshTarget::AuthorizedKeys { file } => grants
                .iter()
                .map(|grant| {
                    let account = grant.account.clone().unwrap_or_default();
                    match Self::account_file(file, grant) {
                        Ok((user, path)) => {
                            let verdict = Self::reachable(&user, &path);
                            Check {
                                name: name(&format!("account {account}")),
                                ok: verdict.is_ok(),
                                detail: match verdict {
                                    Ok(()) => format!("{} is writable", path.display()),
                                    Err(err) => err,
                                },
                            }
                        }
                        Err(err) => Check {
                            name: name(&format!("account {account}")),
                            ok: false,
                            detail: err.message,
                        },
                    }
                })
                .collect(),
        }
    }
}
