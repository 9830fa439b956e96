//! `backend = "command"`: a program speaking the versioned JSON protocol of
//! `docs/command-protocol.md`, one request on stdin, one response on stdout.

use super::{Backend, BackendError, Check, EndRequest, Grant, GrantRequest, Presence};
use crate::config::CommandTarget;
use crate::lease::Lease;
use chrono::{DateTime, Utc};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

/// The protocol version jit speaks.
pub const PROTOCOL_VERSION: u64 = 1;
const MAX_RESPONSE: u64 = 1 << 20;

pub struct CommandBackend {
    settings: CommandTarget,
}

impl CommandBackend {
    pub fn new(settings: CommandTarget) -> Self {
        CommandBackend { settings }
    }

    fn lease_json(lease: &Lease, expires_at: Option<DateTime<Utc>>) -> Value {
        json!({
            "id": lease.id,
            "role": lease.role,
            "subject": lease.subject,
            "requester": lease.requester,
            "ticket": lease.ticket,
            "reason": lease.reason,
            "expires_at": expires_at.or(lease.expires_at),
        })
    }

    /// Run the program once with `request`, returning its successful response.
    fn call(&self, request: &Value) -> Result<serde_json::Map<String, Value>, BackendError> {
        let program = &self.settings.program;
        let mut command = Command::new(program);
        command
            .args(&self.settings.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, reference) in &self.settings.env {
            // A secret that cannot be had stops the call before the target is asked anything.
            let value = reference
                .resolve()
                .map_err(|err| BackendError::refused(err.to_string()))?;
            command.env(name, value.expose());
        }
        // Its own process group, so that a timeout ends everything it started.
        command.process_group(0);
        let mut child = command.spawn().map_err(|err| {
            BackendError::permanent(format!("cannot run {}: {err}", program.display()))
        })?;
        let group = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        let deadline = Instant::now() + self.settings.timeout;
        let timed_out = |what: &str| {
            let _ = killpg(group, Signal::SIGKILL);
            BackendError::transient(format!(
                "{} {what} within {}",
                program.display(),
                crate::duration::format(self.settings.timeout)
            ))
        };

        let mut stdin = child.stdin.take().expect("stdin is piped");
        let body = request.to_string();
        std::thread::spawn(move || {
            let _ = stdin.write_all(body.as_bytes());
        });
        let read_all = |pipe: Box<dyn Read + Send>| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.take(MAX_RESPONSE).read_to_string(&mut text);
                let _ = tx.send(text);
            });
            rx
        };
        let stdout = read_all(Box::new(child.stdout.take().expect("stdout is piped")));
        let stderr = read_all(Box::new(child.stderr.take().expect("stderr is piped")));
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = done_tx.send(child.wait());
        });

        let status = done_rx
            .recv_timeout(self.settings.timeout)
            .map_err(|_| timed_out("did not answer"))?
            .map_err(|err| {
                BackendError::transient(format!("waiting for {}: {err}", program.display()))
            })?;
        // A process it left behind may hold the pipes open: the deadline covers them too.
        let remaining = deadline.saturating_duration_since(Instant::now());
        let stdout = stdout
            .recv_timeout(remaining)
            .map_err(|_| timed_out("exited, but what it started kept its output open"))?;
        let stderr = stderr
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_default();

        let last_stderr_line = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        let clipped: String = last_stderr_line.chars().take(300).collect();
        let response: Value = match serde_json::from_str(stdout.trim()) {
            Ok(value) => value,
            Err(_) if !status.success() => {
                return Err(BackendError::transient(format!(
                    "{} exited with {status}{}",
                    program.display(),
                    if clipped.is_empty() {
                        String::new()
                    } else {
                        format!(": {clipped}")
                    }
                )));
            }
            Err(err) => {
                return Err(BackendError::permanent(format!(
                    "{} answered with something that is not a protocol response ({err})",
                    program.display()
                )));
            }
        };
        let Value::Object(map) = response else {
            return Err(BackendError::permanent(format!(
                "{} answered with a non-object",
                program.display()
            )));
        };
        match map.get("v").and_then(Value::as_u64) {
            Some(PROTOCOL_VERSION) => {}
            Some(other) => {
                return Err(BackendError::permanent(format!(
                    "{} speaks protocol v{other}; jit speaks v{PROTOCOL_VERSION}",
                    program.display()
                )));
            }
            None => {
                return Err(BackendError::permanent(format!(
                    "{} answered without a protocol version (\"v\": {PROTOCOL_VERSION})",
                    program.display()
                )));
            }
        }
        if map.get("ok").and_then(Value::as_bool) != Some(true) {
            let message = map
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("the program reported a failure without a message");
            let message: String = message.chars().take(500).collect();
            let retryable = map
                .get("retryable")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            return Err(if retryable {
                BackendError::transient(message)
            } else {
                BackendError::permanent(message)
            });
        }
        if !status.success() {
            return Err(BackendError::transient(format!(
                "{} said ok but exited with {status}",
                program.display()
            )));
        }
        Ok(map)
    }

    fn envelope(op: &str, target: &str, lease: Value, params: &Value, handle: &Value) -> Value {
        json!({
            "v": PROTOCOL_VERSION,
            "op": op,
            "target": target,
            "lease": lease,
            "params": params,
            "handle": handle,
        })
    }
}

impl Backend for CommandBackend {
    fn kind(&self) -> &'static str {
        "command"
    }

    fn grant(&self, request: &GrantRequest<'_>) -> Result<Grant, BackendError> {
        let lease = Self::lease_json(request.lease, Some(request.expires_at));
        let response = self.call(&Self::envelope(
            "grant",
            request.target,
            lease,
            request.params,
            &request.lease.handle,
        ))?;
        Grant::from_answer(&response)
    }

    fn revoke(&self, request: &EndRequest<'_>) -> Result<(), BackendError> {
        let lease = Self::lease_json(request.lease, None);
        self.call(&Self::envelope(
            "revoke",
            request.target,
            lease,
            request.params,
            &request.lease.handle,
        ))?;
        Ok(())
    }

    fn extend(&self, request: &GrantRequest<'_>) -> Result<(), BackendError> {
        let lease = Self::lease_json(request.lease, Some(request.expires_at));
        self.call(&Self::envelope(
            "extend",
            request.target,
            lease,
            request.params,
            &request.lease.handle,
        ))?;
        Ok(())
    }

    fn inspect(&self, request: &EndRequest<'_>) -> Result<Presence, BackendError> {
        let lease = Self::lease_json(request.lease, None);
        let response = self.call(&Self::envelope(
            "inspect",
            request.target,
            lease,
            request.params,
            &request.lease.handle,
        ))?;
        match response.get("present").and_then(Value::as_bool) {
            Some(true) => Ok(Presence::Present),
            Some(false) => Ok(Presence::Absent),
            None => Err(BackendError::permanent(
                "inspect answered without \"present\": true|false",
            )),
        }
    }

    fn check(&self, target: &str, _grants: &[&Value]) -> Vec<Check> {
        let program = &self.settings.program;
        let executable = std::fs::metadata(program)
            .map_err(|err| err.to_string())
            .and_then(|meta| {
                if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                    Ok(())
                } else {
                    Err("not an executable file".to_owned())
                }
            });
        let mut checks = vec![Check {
            name: format!("target {target}: program"),
            ok: executable.is_ok(),
            detail: match &executable {
                Ok(()) => program.display().to_string(),
                Err(err) => format!("{}: {err}", program.display()),
            },
        }];
        if executable.is_ok() {
            let request = json!({"v": PROTOCOL_VERSION, "op": "check", "target": target});
            let outcome = self.call(&request);
            checks.push(Check {
                name: format!("target {target}: check"),
                ok: outcome.is_ok(),
                detail: match outcome {
                    Ok(response) => response
                        .get("detail")
                        .and_then(Value::as_str)
                        .unwrap_or("the program answered ok")
                        .to_owned(),
                    Err(err) => err.message,
                },
            });
        }
        checks
    }
}
