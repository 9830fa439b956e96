//! `backend = "sudo"`: a sudoers drop-in per lease granting the role's commands to the subject
//! between `NOTBEFORE` and `NOTAFTER` (sudo itself refuses them after the end), checked with
//! `visudo -cf` before it is moved into place (mode 0440), removed on revoke.

pub mod config;
mod discover;

use super::{
    BackendError, Check, EndRequest, Grant, GrantRequest, Presence, Sharing, Traits, TypedBackend,
};
use super::discover::{Discovery, Finding, Mark, Scope};
use crate::lease::Lease;
use crate::trusted_dir::{self, TrustedDir};
use chrono::{DateTime, Utc};
use config::{SudoGrant, SudoTarget};
use nix::unistd::Uid;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct SudoBackend {
    settings: SudoTarget,
}

/// sudoers' generalized time, in UTC.
fn sudo_time(time: DateTime<Utc>) -> String {
    time.format("%Y%m%d%H%M%SZ").to_string()
}

/// A command as a sudoers `Cmnd`: `, : =` escaped (backslashes and wildcards are refused
/// before this).
fn escape(command: &str) -> String {
    let mut out = String::with_capacity(command.len() + 8);
    for c in command.chars() {
        if matches!(c, ',' | ':' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The drop-in for a lease. The file name has no dot, so sudo's includedir reads it.
fn drop_in_name(lease_id: &str) -> String {
    format!("jit-{lease_id}")
}

/// A user name sudoers reads as that user: lowercase, never an alias or `ALL`.
fn valid_user(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

impl SudoBackend {
    pub fn new(settings: SudoTarget) -> Self {
        SudoBackend { settings }
    }

    fn path(&self, lease_id: &str) -> PathBuf {
        self.settings.directory.join(drop_in_name(lease_id))
    }

    /// The drop-in as recorded with the lease (so a changed `directory` cannot strand it).
    fn recorded_path(&self, lease: &Lease) -> PathBuf {
        lease
            .handle
            .get("file")
            .and_then(Value::as_str)
            .map_or_else(|| self.path(&lease.id), PathBuf::from)
    }

    fn contents(
        grant: &SudoGrant,
        lease: &Lease,
        store: &str,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<String, BackendError> {
        if !valid_user(&lease.subject) {
            return Err(BackendError::refused(format!(
                "{:?} is not a user name sudoers can hold",
                lease.subject
            )));
        }
        for command in &grant.commands {
            config::check_command(command).map_err(BackendError::refused)?;
        }
        let commands: Vec<String> = grant.commands.iter().map(|c| escape(c)).collect();
        Ok(format!(
            "# jit lease {id} ({mark}): role {role} for {user}, until {until_text}\n\
             {user} ALL = ({runas}) NOTBEFORE={from} NOTAFTER={until} {tag}{commands}\n",
            id = lease.id,
            mark = Mark::of(store, lease).text(),
            role = lease.role,
            user = lease.subject,
            until_text = crate::lease::rfc3339::format(&until),
            runas = grant.runas,
            from = sudo_time(from),
            until = sudo_time(until),
            tag = if grant.nopasswd { "NOPASSWD: " } else { "" },
            commands = commands.join(", "),
        ))
    }

    /// The drop-in directory, opened from `/` without following links and checked to be
    /// root's (or jit's own user's) and writable by nobody else (see [`TrustedDir`]).
    fn directory(dir: &Path) -> Result<TrustedDir, BackendError> {
        TrustedDir::open(dir, Uid::effective()).map_err(super::fs_error)
    }

    /// Write the drop-in beside its place, check it with visudo, then move it into place.
    /// An invalid drop-in is never installed.
    fn install(&self, lease_id: &str, body: &str) -> Result<(), BackendError> {
        let dir = Self::directory(&self.settings.directory)?;
        // A name with a dot: sudo ignores it while it is being checked.
        let mut tmp = dir
            .new_file(&format!(".{}", drop_in_name(lease_id)))
            .map_err(super::fs_error)?;
        tmp.write_all(body.as_bytes()).map_err(super::fs_error)?;
        let mut visudo = Command::new(&self.settings.visudo);
        visudo.arg("-cqf").arg(tmp.path());
        crate::child::dies_with_jit(&mut visudo, nix::sys::signal::Signal::SIGKILL);
        let checked = visudo.output();
        match checked {
            Ok(output) if output.status.success() => {}
            Ok(output) => {
                return Err(BackendError::refused(format!(
                    "visudo refused the drop-in: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                )));
            }
            Err(err) => {
                return Err(BackendError::refused(format!(
                    "running {}: {err}",
                    self.settings.visudo.display()
                )));
            }
        }
        tmp.install(&drop_in_name(lease_id), 0o440, None)
            .map_err(super::fs_error)
    }
}

impl TypedBackend for SudoBackend {
    type Grant = SudoGrant;
    const GRANT: &'static str = "a sudo";

    fn kind(&self) -> &'static str {
        "sudo"
    }

    fn traits(&self, _grant: &SudoGrant) -> Traits {
        Traits {
            sharing: Sharing::PerLease,
            issues_credentials: Some(false),
            ..Traits::default()
        }
    }

    fn plan(&self, lease: &Lease, _grant: &SudoGrant) -> Value {
        json!({ "file": self.path(&lease.id) })
    }

    fn grant(&self, request: &GrantRequest<'_>, grant: &SudoGrant) -> Result<Grant, BackendError> {
        let from = request.lease.granted_at.unwrap_or_else(Utc::now);
        let body = Self::contents(grant, request.lease, request.store, from, request.expires_at)?;
        self.install(&request.lease.id, &body)?;
        Ok(Grant {
            handle: json!({ "file": self.path(&request.lease.id) }),
            credentials: None,
            native_expiry: Some(request.expires_at),
            notice: None,
        })
    }

    fn revoke(
        &self,
        request: &EndRequest<'_>,
        _grant: Result<&SudoGrant, BackendError>,
    ) -> Result<(), BackendError> {
        let path = self.recorded_path(request.lease);
        let (dir, name) = trusted_dir::split(&path).map_err(super::fs_error)?;
        match TrustedDir::open(dir, Uid::effective()) {
            // No directory, no drop-in.
            Err(err) if err.is_missing() => Ok(()),
            Err(err) => Err(super::fs_error(err)),
            Ok(dir) => {
                // What a jit killed while visudo checked it left behind (never read by sudo).
                dir.remove_leftovers(&format!(".{name}"))
                    .map_err(super::fs_error)?;
                dir.remove(name).map(|_| ()).map_err(super::fs_error)
            }
        }
    }

    fn extend(&self, request: &GrantRequest<'_>, grant: &SudoGrant) -> Result<(), BackendError> {
        let from = request.lease.granted_at.unwrap_or_else(Utc::now);
        let body = Self::contents(grant, request.lease, request.store, from, request.expires_at)?;
        self.install(&request.lease.id, &body)
    }

    /// Asked only about an interrupted grant: what it left unchecked goes first.
    fn inspect(
        &self,
        request: &EndRequest<'_>,
        _grant: Result<&SudoGrant, BackendError>,
    ) -> Result<Presence, BackendError> {
        let path = self.recorded_path(request.lease);
        let (dir, name) = trusted_dir::split(&path).map_err(super::fs_error)?;
        let present = match TrustedDir::open(dir, Uid::effective()) {
            Err(err) if err.is_missing() => false,
            Err(err) => return Err(super::fs_error(err)),
            Ok(dir) => {
                dir.remove_leftovers(&format!(".{name}"))
                    .map_err(super::fs_error)?;
                dir.contains(name)
            }
        };
        Ok(if present {
            Presence::Present
        } else {
            Presence::Absent
        })
    }

    /// Rules of the configured sudoers (and its includes, as sudo's own tools read them)
    /// that let someone run a role's commands, or everything, without an end; and jit's
    /// drop-ins that outlived their lease. See `discover.rs`.
    fn discover(
        &self,
        scope: &Scope<'_>,
        roles: &[(&str, SudoGrant)],
    ) -> Result<Discovery, BackendError> {
        discover::discover(&self.settings, scope, roles)
    }

    fn remove(&self, finding: &Finding) -> Result<(), BackendError> {
        discover::remove(&self.settings, finding)
    }

    fn check(&self, target: &str, _grants: &[SudoGrant]) -> Vec<Check> {
        let name = |what: &str| format!("target {target}: {what}");
        let dir = &self.settings.directory;
        let trusted = Self::directory(dir).map(|_| ());
        let writable = nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok();
        let visudo = Command::new(&self.settings.visudo)
            .arg("--version")
            .output();
        let cvtsudoers = Command::new(&self.settings.cvtsudoers).arg("-V").output();
        vec![
            Check {
                name: name("directory"),
                ok: writable && trusted.is_ok(),
                detail: if let Err(err) = trusted {
                    err.message
                } else if writable {
                    format!("{} is writable", dir.display())
                } else {
                    format!(
                        "{} is not writable by this user (jit must run as root for sudo roles)",
                        dir.display()
                    )
                },
            },
            Check {
                name: name("visudo"),
                ok: visudo.as_ref().is_ok_and(|o| o.status.success()),
                detail: match visudo {
                    Ok(output) => String::from_utf8_lossy(&output.stdout)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_owned(),
                    Err(err) => format!("{}: {err}", self.settings.visudo.display()),
                },
            },
            Check {
                name: name("cvtsudoers"),
                ok: cvtsudoers.as_ref().is_ok_and(|o| o.status.success()),
                detail: match cvtsudoers {
                    Ok(output) if output.status.success() => format!(
                        "{} (jit discover reads the sudoers with it)",
                        String::from_utf8_lossy(&output.stdout)
                            .lines()
                            .next()
                            .unwrap_or("")
                    ),
                    Ok(output) => format!(
                        "{} -V failed ({}): jit discover cannot read the sudoers",
                        self.settings.cvtsudoers.display(),
                        output.status
                    ),
                    Err(err) => format!(
                        "{}: {err}: jit discover cannot read the sudoers",
                        self.settings.cvtsudoers.display()
                    ),
                },
            },
        ]
    }
}
