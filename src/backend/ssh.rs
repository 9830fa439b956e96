//! `backend = "ssh"`, mode `certificate`: OpenSSH user certificates signed in process by the
//! target's certificate authority, valid until the lease end, and revoked early through a key
//! revocation list (KRL) that hosts read with `RevokedKeys`.

use super::krl;
use super::{
    Backend, BackendError, Check, Credentials, EndRequest, Grant, GrantRequest, Presence, Sharing,
};
use crate::config::ssh::{SshGrant, SshTarget};
use crate::lease::Lease;
use nix::fcntl::{Flock, FlockArg};
use serde_json::{Value, json};
use ssh_key::certificate::{Builder, CertType};
use ssh_key::rand_core::OsRng;
use ssh_key::{PrivateKey, PublicKey};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub struct SshBackend {
    settings: SshTarget,
}

fn grant_of(params: &Value) -> Result<SshGrant, BackendError> {
    serde_json::from_value(params.clone()).map_err(|err| {
        BackendError::permanent(format!("the role's grant table is not an ssh grant: {err}"))
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

impl SshBackend {
    pub fn new(settings: SshTarget) -> Self {
        SshBackend { settings }
    }

    fn ca(&self) -> Result<PrivateKey, BackendError> {
        let text = self
            .settings
            .ca_key
            .resolve()
            .map_err(|err| BackendError::permanent(err.to_string()))?;
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

    /// The revoked serials with the end of their certificate, beside the KRL.
    fn ledger(&self) -> PathBuf {
        let mut path = self.settings.krl.clone().into_os_string();
        path.push(".serials");
        PathBuf::from(path)
    }

    /// Add `serial` (valid until `until`) to the revocation list, and write the KRL again.
    fn revoke_serial(&self, serial: u64, until: u64) -> Result<(), BackendError> {
        let io = |what: &str, path: &Path, err: std::io::Error| {
            BackendError::transient(format!("{what} {}: {err}", path.display()))
        };
        let ca = self.ca()?;
        let ledger_path = self.ledger();
        let ledger = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&ledger_path)
            .map_err(|err| io("opening", &ledger_path, err))?;
        // One writer at a time, across processes.
        let mut ledger = Flock::lock(ledger, FlockArg::LockExclusive)
            .map_err(|(_, err)| io("locking", &ledger_path, err.into()))?;
        let text = std::fs::read_to_string(&ledger_path)
            .map_err(|err| io("reading", &ledger_path, err))?;
        let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
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
        write_atomically(&self.settings.krl, &body)
            .map_err(|err| io("writing", &self.settings.krl, err))?;

        let lines: String = entries
            .iter()
            .map(|(serial, until)| format!("{serial} {until}\n"))
            .collect();
        ledger
            .set_len(0)
            .map_err(|err| io("writing", &ledger_path, err))?;
        use std::io::Seek;
        ledger
            .rewind()
            .map_err(|err| io("writing", &ledger_path, err))?;
        ledger
            .write_all(lines.as_bytes())
            .map_err(|err| io("writing", &ledger_path, err))?;
        ledger
            .sync_all()
            .map_err(|err| io("writing", &ledger_path, err))?;
        Ok(())
    }

    fn is_revoked(&self, serial: u64) -> Result<bool, BackendError> {
        match std::fs::read_to_string(self.ledger()) {
            Ok(text) => Ok(text
                .lines()
                .any(|line| line.split(' ').next() == Some(&serial.to_string()))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(BackendError::transient(format!(
                "reading {}: {err}",
                self.ledger().display()
            ))),
        }
    }
}

/// Write `path` through a temporary file and a rename, so that readers see old or new, whole.
fn write_atomically(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)?;
    file.write_all(body)?;
    file.sync_all()?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
    std::fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

impl Backend for SshBackend {
    fn kind(&self) -> &'static str {
        "ssh"
    }

    fn sharing_for(&self, _params: &Value) -> Sharing {
        Sharing::PerLease
    }

    /// The serial is chosen before signing, so an interrupted grant can still be revoked.
    fn plan(&self, _lease: &Lease, _params: &Value) -> Value {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        json!({ "serial": u64::from_be_bytes(bytes) >> 1 })
    }

    fn grant(&self, request: &GrantRequest<'_>) -> Result<Grant, BackendError> {
        let grant = grant_of(request.params)?;
        let lease = request.lease;
        let key_text = request
            .params
            .get("public_key")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                BackendError::refused(
                    "a certificate needs the subject's public key (--pubkey FILE)",
                )
            })?;
        let key = PublicKey::from_openssh(key_text).map_err(|err| {
            BackendError::refused(format!(
                "the public key is not an OpenSSH public key: {err}"
            ))
        })?;
        let serial = serial_of(lease)?;
        let ca = self.ca()?;
        let now = lease.granted_at.unwrap_or_else(chrono::Utc::now);
        let skew = i64::try_from(self.settings.clock_skew.as_secs()).unwrap_or(0);
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
        })
    }

    fn revoke(&self, request: &EndRequest<'_>) -> Result<(), BackendError> {
        let serial = serial_of(request.lease)?;
        let until = request
            .lease
            .handle
            .get("valid_before")
            .and_then(Value::as_u64)
            .or_else(|| request.lease.expires_at.map(unix))
            .unwrap_or(u64::MAX);
        self.revoke_serial(serial, until)
    }

    fn extend(&self, _request: &GrantRequest<'_>) -> Result<(), BackendError> {
        Err(BackendError::permanent(
            "an OpenSSH certificate's end cannot be moved; revoke the lease and request a new one",
        ))
    }

    fn inspect(&self, request: &EndRequest<'_>) -> Result<Presence, BackendError> {
        let serial = serial_of(request.lease)?;
        Ok(if self.is_revoked(serial)? {
            Presence::Absent
        } else {
            Presence::Present
        })
    }

    fn check(&self, target: &str, _grants: &[&Value]) -> Vec<Check> {
        let name = |what: &str| format!("target {target}: {what}");
        let mut checks = vec![match self.ca() {
            Ok(ca) => Check {
                name: name("ca_key"),
                ok: true,
                detail: format!("{} certificate authority", ca.algorithm()),
            },
            Err(err) => Check {
                name: name("ca_key"),
                ok: false,
                detail: err.message,
            },
        }];
        let krl = &self.settings.krl;
        let dir = krl
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let writable = nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok();
        checks.push(Check {
            name: name("krl"),
            ok: writable,
            detail: if writable {
                format!("{} (hosts read it with RevokedKeys)", krl.display())
            } else {
                format!(
                    "{} is not writable: revocations could not be recorded",
                    dir.display()
                )
            },
        });
        checks
    }
}
