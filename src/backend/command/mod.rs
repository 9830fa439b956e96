//! `backend = "command"`: a program speaking the versioned JSON protocol of
//! `docs/command-protocol.md`, one request on stdin, one response on stdout.

pub mod config;
pub mod protocol;

use super::{
    BackendError, Check, Checkpoint, EndRequest, Grant, GrantRequest, Presence, TypedBackend,
};
use super::discover::{Discovery, Finding, Scope};
use crate::child::Ended;
use chrono::Utc;
use config::CommandTarget;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Instant;

pub use protocol::PROTOCOL_VERSION;
use protocol::Envelope;

const MAX_RESPONSE: u64 = 1 << 20;
/// The key of a lease's handle that records the program a grant started (see
/// [`crate::child::Group`]), while the grant is under way.
const PROGRAM_KEY: &str = "jit_program";
/// How long the processes of a program's group may take to die once killed.
const SETTLE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

pub struct CommandBackend {
    settings: CommandTarget,
}

impl CommandBackend {
    pub fn new(settings: CommandTarget) -> Self {
        CommandBackend { settings }
    }

    /// Run the program once with `request`, returning its successful response.
    ///
    /// The program runs in a process group of its own and dies with jit (SIGKILL when jit
    /// dies); when it has answered, or its time is up, the whole group is ended. With a
    /// `checkpoint` (a grant), the group is recorded with the lease before the program is
    /// sent its request, so a later jit finds it again if this one dies meanwhile.
    fn call(
        &self,
        request: &Envelope<'_>,
        checkpoint: Option<Checkpoint<'_>>,
    ) -> Result<serde_json::Map<String, Value>, BackendError> {
        let (stdout, status, clipped) = self.run(request, checkpoint)?;
        read_answer(&self.settings.program, &stdout, status, &clipped)
    }

    /// Run the program once with `request`: what it wrote to standard output, how it
    /// exited, and the last line it wrote to standard error (see [`Self::call`]).
    fn run(
        &self,
        request: &Envelope<'_>,
        checkpoint: Option<Checkpoint<'_>>,
    ) -> Result<(String, ExitStatus, String), BackendError> {
        let program = &self.settings.program;
        let mut command = Command::new(program);
        command
            .args(&self.settings.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, reference) in &self.settings.env {
            // Nothing has run yet: a secret that cannot be read reached nothing.
            let value = reference
                .resolve()
                .map_err(|err| BackendError::refused(err.to_string()))?;
            command.env(name, value.expose());
        }
        // Its own process group, so that what it started can be ended with it.
        command.process_group(0);
        crate::child::dies_with_jit(&mut command, Signal::SIGKILL);
        let started_at = Utc::now();
        let mut child = command.spawn().map_err(|err| {
            BackendError::refused(format!("cannot run {}: {err}", program.display()))
        })?;
        let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
        let group = Pid::from_raw(pid);
        // Until the leader is waited for, its pid (the group's id) cannot be given to
        // another process: the group is always ended before the leader is reaped.
        let end_group = |child: &mut std::process::Child| {
            let _ = killpg(group, Signal::SIGKILL);
            child.wait()
        };
        if let Some(checkpoint) = checkpoint {
            let recorded = crate::child::Group::of_leader(pid, started_at)
                .map_err(BackendError::transient)
                .and_then(|record| checkpoint(&json!({ PROGRAM_KEY: record })));
            if let Err(err) = recorded {
                let _ = end_group(&mut child);
                return Err(BackendError::unreached(format!(
                    "{} was not sent the request: its process could not be recorded first: {}",
                    program.display(),
                    err.message
                )));
            }
        }
        let deadline = Instant::now() + self.settings.timeout;
        let timed_out = |what: &str| {
            BackendError::transient(format!(
                "{} {what} within {}",
                program.display(),
                crate::duration::format(self.settings.timeout)
            ))
        };

        let mut stdin = child.stdin.take().expect("stdin is piped");
        let body = request.to_text();
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
        // Wait for the leader to exit without reaping it (see `end_group`).
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
            let _ = done_tx.send(waitid(Id::Pid(group), flags));
        });

        if done_rx.recv_timeout(self.settings.timeout).is_err() {
            let _ = end_group(&mut child);
            return Err(timed_out("did not answer"));
        }
        // A process it left behind may hold the pipes open: the deadline covers them too.
        let remaining = deadline.saturating_duration_since(Instant::now());
        let Ok(stdout) = stdout.recv_timeout(remaining) else {
            let _ = end_group(&mut child);
            return Err(timed_out(
                "exited, but what it started kept its output open",
            ));
        };
        let stderr = stderr
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_default();
        let status = end_group(&mut child).map_err(|err| {
            BackendError::transient(format!("waiting for {}: {err}", program.display()))
        })?;

        let last_stderr_line = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        let clipped: String = last_stderr_line.chars().take(300).collect();
        Ok((stdout, status, clipped))
    }

    /// The lease's handle as the program knows it, and the program a grant started, where
    /// the handle still records one (the grant was interrupted).
    fn recorded(handle: &Value) -> (Value, Option<crate::child::Group>) {
        let Some(fields) = handle.as_object() else {
            return (handle.clone(), None);
        };
        let Some(program) = fields.get(PROGRAM_KEY) else {
            return (handle.clone(), None);
        };
        let mut rest = fields.clone();
        rest.remove(PROGRAM_KEY);
        let handle = if rest.is_empty() {
            Value::Null
        } else {
            Value::Object(rest)
        };
        (handle, serde_json::from_value(program.clone()).ok())
    }

    /// Make sure that the program a grant started is not running any more: on this host,
    /// end its process group; on another, wait until its time is up.
    fn settle(&self, program: &crate::child::Group) -> Result<(), BackendError> {
        match program.end(SETTLE_PATIENCE) {
            Ok(Ended::Gone) => Ok(()),
            Ok(Ended::Elsewhere) => {
                let until = program.started_at
                    + chrono::TimeDelta::from_std(self.settings.timeout + SETTLE_PATIENCE)
                        .unwrap_or(chrono::TimeDelta::MAX);
                if Utc::now() < until {
                    Err(BackendError::transient(format!(
                        "the program started for this grant on {} at {} may still be running; \
                         the grant is judged after {}",
                        program.host,
                        crate::lease::rfc3339::format(&program.started_at),
                        crate::lease::rfc3339::format(&until)
                    )))
                } else {
                    Ok(())
                }
            }
            Err(message) => Err(BackendError::transient(format!(
                "the program started for this grant is still running: {message}"
            ))),
        }
    }
}

impl TypedBackend for CommandBackend {
    type Grant = Value;
    const GRANT: &'static str = "a command";

    fn kind(&self) -> &'static str {
        "command"
    }

    fn grant(&self, request: &GrantRequest<'_>, _grant: &Value) -> Result<Grant, BackendError> {
        let (handle, _) = Self::recorded(&request.lease.handle);
        let response = self.call(
            &Envelope::granting("grant", request, &handle),
            request.checkpoint,
        )?;
        Grant::from_answer(&response)
    }

    fn revoke(
        &self,
        request: &EndRequest<'_>,
        _grant: Result<&Value, BackendError>,
    ) -> Result<(), BackendError> {
        let (handle, program) = Self::recorded(&request.lease.handle);
        if let Some(program) = program {
            self.settle(&program)?;
        }
        self.call(
            &Envelope::about(
                "revoke",
                &request.lease.target,
                request.lease,
                None,
                &request.lease.params,
                &handle,
            ),
            None,
        )?;
        Ok(())
    }

    fn extend(&self, request: &GrantRequest<'_>, _grant: &Value) -> Result<(), BackendError> {
        let (handle, _) = Self::recorded(&request.lease.handle);
        self.call(&Envelope::granting("extend", request, &handle), None)?;
        Ok(())
    }

    /// An interrupted grant is judged only once the program started for it cannot be
    /// running any more.
    fn inspect(
        &self,
        request: &EndRequest<'_>,
        _grant: Result<&Value, BackendError>,
    ) -> Result<Presence, BackendError> {
        let (handle, program) = Self::recorded(&request.lease.handle);
        if let Some(program) = program {
            self.settle(&program)?;
        }
        let response = self.call(
            &Envelope::about(
                "inspect",
                &request.lease.target,
                request.lease,
                None,
                &request.lease.params,
                &handle,
            ),
            None,
        )?;
        match response.get("present").and_then(Value::as_bool) {
            Some(true) => Ok(Presence::Present),
            Some(false) => Ok(Presence::Absent),
            None => Err(BackendError::permanent(
                "inspect answered without \"present\": true|false",
            )),
        }
    }

    /// `op: "discover"`; a program that answers it as an op it does not know (`ok: false`
    /// with `retryable: false`, or `code: "unknown-op"`) is noted, not an error.
    fn discover(
        &self,
        scope: &Scope<'_>,
        _roles: &[(&str, Value)],
    ) -> Result<Discovery, BackendError> {
        let (stdout, status, clipped) = self.run(&Envelope::discover(scope), None)?;
        if let Some(said) = protocol::unknown_op(&stdout) {
            return Ok(Discovery {
                findings: Vec::new(),
                notes: vec![format!("the program does not support discover ({said})")],
            });
        }
        let answer = read_answer(&self.settings.program, &stdout, status, &clipped)?;
        protocol::discovery(&answer, scope)
    }

    /// `op: "remove"` with the finding as `discover` answered it.
    fn remove(&self, finding: &Finding) -> Result<(), BackendError> {
        let (target, sent) = protocol::removal(finding)?;
        self.call(&Envelope::remove(&target, sent), None).map(drop)
    }

    fn check(&self, target: &str, _grants: &[Value]) -> Vec<Check> {
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
            let outcome = self.call(&Envelope::check(target), None);
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

/// Read a program's answer: its standard output, how it exited, and the last line it wrote
/// to standard error (for the message when it failed without an answer). Only a JSON object
/// speaking protocol v1 with `"ok": true`, from a program that exited successfully, is a
/// success.
pub fn read_answer(
    program: &Path,
    stdout: &str,
    status: ExitStatus,
    clipped: &str,
) -> Result<serde_json::Map<String, Value>, BackendError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::child::Group;
    use std::time::Duration;

    fn backend(timeout: Duration) -> CommandBackend {
        CommandBackend::new(CommandTarget {
            program: "/bin/false".into(),
            args: Vec::new(),
            timeout,
            env: Vec::new(),
        })
    }

    fn elsewhere(started_at: chrono::DateTime<Utc>) -> Group {
        Group {
            host: "another-host.example".into(),
            boot: "b".into(),
            pgid: 4242,
            start: 1,
            started_at,
        }
    }

    #[test]
    fn a_program_on_another_host_is_waited_out_for_its_timeout() {
        let backend = backend(Duration::from_secs(30));
        let running = backend.settle(&elsewhere(Utc::now())).unwrap_err();
        assert_eq!(running.kind, super::super::ErrorKind::Transient);
        assert!(
            running.message.contains("may still be running"),
            "{}",
            running.message
        );
        let long_ago = Utc::now() - chrono::TimeDelta::seconds(36);
        assert!(backend.settle(&elsewhere(long_ago)).is_ok());
    }

    #[test]
    fn the_program_never_sees_the_record_of_its_group() {
        let group = elsewhere(Utc::now());
        let (handle, found) = CommandBackend::recorded(&json!({ PROGRAM_KEY: group }));
        assert_eq!(handle, Value::Null);
        assert_eq!(found, Some(group.clone()));
        let (handle, found) =
            CommandBackend::recorded(&json!({ PROGRAM_KEY: group, "key": "web-root/alice" }));
        assert_eq!(handle, json!({ "key": "web-root/alice" }));
        assert!(found.is_some());
        let (handle, found) = CommandBackend::recorded(&json!({ "key": "k" }));
        assert_eq!(handle, json!({ "key": "k" }));
        assert_eq!(found, None);
    }

    fn read(stdout: &str, code: i32) -> Result<serde_json::Map<String, Value>, BackendError> {
        use std::os::unix::process::ExitStatusExt;
        read_answer(
            Path::new("/p"),
            stdout,
            ExitStatus::from_raw(code << 8),
            "gone",
        )
    }

    #[test]
    fn answers_are_read_by_the_protocol() {
        use super::super::ErrorKind;
        assert!(read(" {\"v\":1,\"ok\":true}\n", 0).is_ok());
        let cases = [
            (
                "nonsense",
                3,
                ErrorKind::Transient,
                "/p exited with exit status: 3: gone",
            ),
            (
                "nonsense",
                0,
                ErrorKind::Permanent,
                "not a protocol response",
            ),
            ("[1]", 0, ErrorKind::Permanent, "a non-object"),
            (
                "{\"v\":2,\"ok\":true}",
                0,
                ErrorKind::Permanent,
                "speaks protocol v2",
            ),
            (
                "{\"ok\":true}",
                0,
                ErrorKind::Permanent,
                "without a protocol version",
            ),
            (
                "{\"v\":1,\"ok\":true}",
                1,
                ErrorKind::Transient,
                "said ok but exited",
            ),
            (
                "{\"v\":1,\"ok\":\"yes\"}",
                0,
                ErrorKind::Transient,
                "without a message",
            ),
            (
                "{\"v\":1,\"ok\":false,\"error\":\"no\",\"retryable\":false}",
                0,
                ErrorKind::Permanent,
                "no",
            ),
        ];
        for (stdout, code, kind, message) in cases {
            let err = read(stdout, code).unwrap_err();
            assert_eq!(err.kind, kind, "{stdout}");
            assert!(err.message.contains(message), "{stdout}: {}", err.message);
        }
    }
}
