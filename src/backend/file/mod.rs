//! `backend = "file"`: a file per lease, `jit-ID`, in the target's directory (jit's own, or
//! root's, writable by nobody else), holding the lease's role, subject and end; removed on
//! revoke. Nothing enforces the end but the sweeper: a target for trying jit and for tests.

pub mod config;

use super::{
    BackendError, Check, EndRequest, Grant, GrantRequest, Presence, Sharing, Traits, TypedBackend,
};
use super::discover::{Discovery, Finding, Mark, Scope};
use crate::lease::Lease;
use crate::trusted_dir::{self, TrustedDir};
use config::FileTarget;
use nix::unistd::Uid;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

pub struct FileBackend {
    settings: FileTarget,
}

fn file_name(lease_id: &str) -> String {
    format!("jit-{lease_id}")
}

impl FileBackend {
    pub fn new(settings: FileTarget) -> Self {
        FileBackend { settings }
    }

    fn path(&self, lease_id: &str) -> PathBuf {
        self.settings.directory.join(file_name(lease_id))
    }

    /// The file as recorded with the lease (so a changed `directory` cannot strand it).
    fn recorded_path(&self, lease: &Lease) -> PathBuf {
        lease
            .handle
            .get("file")
            .and_then(Value::as_str)
            .map_or_else(|| self.path(&lease.id), PathBuf::from)
    }

    fn directory(dir: &Path) -> Result<TrustedDir, BackendError> {
        TrustedDir::open(dir, Uid::effective()).map_err(super::fs_error)
    }

    fn write(&self, request: &GrantRequest<'_>) -> Result<(), BackendError> {
        let lease = request.lease;
        let body = format!(
            "{}\n",
            json!({
                "lease": lease.id,
                "role": lease.role,
                "subject": lease.subject,
                "expires_at": crate::lease::rfc3339::format(&request.expires_at),
                "mark": Mark::of(request.store, lease).text(),
            })
        );
        Self::directory(&self.settings.directory)?
            .replace(&file_name(&lease.id), body.as_bytes(), 0o600, None)
            .map_err(super::fs_error)
    }
}

impl TypedBackend for FileBackend {
    type Grant = Value;
    const GRANT: &'static str = "a file";

    fn kind(&self) -> &'static str {
        "file"
    }

    fn traits(&self, _grant: &Value) -> Traits {
        Traits {
            sharing: Sharing::PerLease,
            issues_credentials: Some(false),
            ..Traits::default()
        }
    }

    fn plan(&self, lease: &Lease, _grant: &Value) -> Value {
        json!({ "file": self.path(&lease.id) })
    }

    fn grant(&self, request: &GrantRequest<'_>, _grant: &Value) -> Result<Grant, BackendError> {
        self.write(request)?;
        Ok(Grant {
            handle: json!({ "file": self.path(&request.lease.id) }),
            credentials: None,
            native_expiry: None,
            notice: None,
        })
    }

    fn revoke(
        &self,
        request: &EndRequest<'_>,
        _grant: Result<&Value, BackendError>,
    ) -> Result<(), BackendError> {
        let path = self.recorded_path(request.lease);
        let (dir, name) = trusted_dir::split(&path).map_err(super::fs_error)?;
        match TrustedDir::open(dir, Uid::effective()) {
            // No directory, no file.
            Err(err) if err.is_missing() => Ok(()),
            Err(err) => Err(super::fs_error(err)),
            Ok(dir) => {
                dir.remove_leftovers(name).map_err(super::fs_error)?;
                dir.remove(name).map(|_| ()).map_err(super::fs_error)
            }
        }
    }

    fn extend(&self, request: &GrantRequest<'_>, _grant: &Value) -> Result<(), BackendError> {
        self.write(request)
    }

    fn inspect(
        &self,
        request: &EndRequest<'_>,
        _grant: Result<&Value, BackendError>,
    ) -> Result<Presence, BackendError> {
        let path = self.recorded_path(request.lease);
        let (dir, name) = trusted_dir::split(&path).map_err(super::fs_error)?;
        let present = match TrustedDir::open(dir, Uid::effective()) {
            Err(err) if err.is_missing() => false,
            Err(err) => return Err(super::fs_error(err)),
            Ok(dir) => dir.contains(name),
        };
        Ok(if present {
            Presence::Present
        } else {
            Presence::Absent
        })
    }

    /// The lease files in the directory that outlived their lease: this store's (by their
    /// mark) are leftovers, removed on command; those without a mark are reported only.
    fn discover(
        &self,
        scope: &Scope<'_>,
        _roles: &[(&str, Value)],
    ) -> Result<Discovery, BackendError> {
        let dir = Self::directory(&self.settings.directory)?;
        let mut discovery = Discovery::default();
        let mut names = dir.names().map_err(super::fs_error)?;
        names.sort();
        for name in names {
            let Some(lease_id) = name.strip_prefix("jit-") else {
                continue;
            };
            if !crate::lease::is_valid_id(lease_id) {
                continue;
            }
            let body = dir.read(&name).map_err(super::fs_error)?.unwrap_or_default();
            let file: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let mark = file["mark"].as_str().and_then(Mark::find);
            let holder = file["subject"].as_str().unwrap_or("").to_owned();
            let role = file["role"].as_str().map(str::to_owned);
            let entitlement = format!("lease file {name}");
            let finding = match mark.as_ref().map(|mark| (mark, scope.leftover(mark))) {
                // Another store's, or this store's for a live lease.
                Some((_, None | Some(false))) => continue,
                Some((mark, Some(true))) => Finding {
                    role,
                    ..Finding::leftover(holder, entitlement, &mark.lease, json!({ "file": name }))
                },
                None if scope.is_live(lease_id) => continue,
                None => Finding {
                    role,
                    ..Finding::unmarked(holder, entitlement)
                },
            };
            discovery.findings.push(finding);
        }
        Ok(discovery)
    }

    fn remove(&self, finding: &Finding) -> Result<(), BackendError> {
        let name = finding.removal["file"]
            .as_str()
            .filter(|name| name.starts_with("jit-") && !name.contains('/'))
            .ok_or_else(|| BackendError::refused("the finding names no lease file"))?;
        let dir = Self::directory(&self.settings.directory)?;
        dir.remove(name).map(drop).map_err(super::fs_error)
    }

    fn check(&self, target: &str, _grants: &[Value]) -> Vec<Check> {
        let dir = &self.settings.directory;
        let trusted = Self::directory(dir);
        vec![Check {
            name: format!("target {target}: directory"),
            ok: trusted.is_ok(),
            detail: match trusted {
                Ok(_) => format!("{} is jit's and writable by nobody else", dir.display()),
                Err(err) => err.message,
            },
        }]
    }
}
