//! `run_with_access`: one declared command run with a lease's credentials in its environment
//! only, its output captured (bounded) and its time bounded.

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::Serialize;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// At most this much of each stream is kept.
pub const OUTPUT_LIMIT: usize = 64 * 1024;

/// How long a command told to stop (SIGTERM) has before it is killed.
const GRACE: Duration = Duration::from_secs(2);

/// What the command did, as the tool returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
}

/// What to run, and how.
pub struct Run<'a> {
    pub argv: &'a [String],
    pub env: Vec<(String, String)>,
    /// Under sudo delegation: run as the invoking user (uid, gid).
    pub as_user: Option<(u32, u32)>,
    /// When it is stopped, whatever it is doing (the timeout or the lease's end).
    pub deadline: Instant,
}

/// Run `run` to its end or its deadline, or until `stop` says so (the session ends).
/// Err: it could not be started.
pub fn run(run: &Run<'_>, stop: &dyn Fn() -> bool) -> std::io::Result<Outcome> {
    let mut command = Command::new(&run.argv[0]);
    command
        .args(&run.argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of its own: whatever it starts is ended with it.
        .process_group(0);
    if let Some((uid, gid)) = run.as_user {
        command.uid(uid).gid(gid);
    }
    crate::child::dies_with_jit(&mut command, Signal::SIGTERM);
    command.envs(run.env.iter().map(|(k, v)| (k, v)));
    let mut child = command.spawn()?;
    let group = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    let stdout = child.stdout.take().map(capture);
    let stderr = child.stderr.take().map(capture);

    let mut told_to_stop: Option<Instant> = None;
    let status = loop {
        match child.try_wait()? {
            Some(status) => break status,
            None => {
                let now = Instant::now();
                match told_to_stop {
                    None if now >= run.deadline || stop() => {
                        let _ = killpg(group, Signal::SIGTERM);
                        told_to_stop = Some(now);
                    }
                    Some(at) if now >= at + GRACE => {
                        let _ = killpg(group, Signal::SIGKILL);
                    }
                    _ => {}
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    // The command is over: nothing it started keeps the credentials (or the pipes) open.
    let _: Result<(), Errno> = killpg(group, Signal::SIGKILL);
    let (stdout, stdout_truncated) = stdout.and_then(|h| h.join().ok()).unwrap_or_default();
    let (stderr, stderr_truncated) = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    Ok(Outcome {
        exit_code: status.code(),
        signal: status.signal(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        stdout_truncated,
        stderr_truncated,
    })
}

/// Read a stream to its end on a thread of its own, keeping the first [`OUTPUT_LIMIT`]
/// bytes; the rest is read and dropped, so that the writer never blocks on a full pipe.
fn capture(stream: impl Read + Send + 'static) -> std::thread::JoinHandle<(Vec<u8>, bool)> {
    std::thread::spawn(move || bounded(stream, OUTPUT_LIMIT))
}

/// The first `limit` bytes of `stream`, and whether there was more.
pub fn bounded(mut stream: impl Read, limit: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut buffer = [0u8; 8192];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&buffer[..n.min(room)]);
                truncated |= n > room;
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    // A character cut in two at the bound is dropped rather than replaced.
    if truncated
        && let Err(err) = std::str::from_utf8(&kept)
        && err.error_len().is_none()
    {
        kept.truncate(err.valid_up_to());
    }
    (kept, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    fn run_for(argv: &[String], env: Vec<(String, String)>, within: Duration) -> Outcome {
        run(
            &Run {
                argv,
                env,
                as_user: None,
                deadline: Instant::now() + within,
            },
            &|| false,
        )
        .unwrap()
    }

    #[test]
    fn a_stream_is_kept_to_its_bound_and_the_rest_read_and_dropped() {
        let (kept, truncated) = bounded(&b"abcdef"[..], 4);
        assert_eq!((kept.as_slice(), truncated), (&b"abcd"[..], true));
        let (kept, truncated) = bounded(&b"abcd"[..], 4);
        assert_eq!((kept.as_slice(), truncated), (&b"abcd"[..], false));
        // "é" is two bytes: the half at the bound goes.
        let (kept, truncated) = bounded("aé".as_bytes(), 2);
        assert_eq!((kept.as_slice(), truncated), (&b"a"[..], true));
    }

    #[test]
    fn the_command_gets_the_environment_and_its_output_and_status_come_back() {
        let outcome = run_for(
            &sh("printf '%s' \"$JIT_TEST_VALUE\"; echo oops >&2; exit 3"),
            vec![("JIT_TEST_VALUE".into(), "v1".into())],
            Duration::from_secs(30),
        );
        assert_eq!(
            outcome,
            Outcome {
                exit_code: Some(3),
                signal: None,
                stdout: "v1".into(),
                stderr: "oops\n".into(),
                stdout_truncated: false,
                stderr_truncated: false,
            }
        );
    }

    #[test]
    fn stdin_is_empty_and_an_argument_is_one_literal_argument() {
        let argv = vec![
            "sh".into(),
            "-c".into(),
            "cat; printf '[%s]' \"$@\"".into(),
            "sh".into(),
            "; rm -rf ~".into(),
            "$(id)".into(),
        ];
        let outcome = run_for(&argv, vec![], Duration::from_secs(30));
        assert_eq!(outcome.stdout, "[; rm -rf ~][$(id)]");
        assert_eq!(outcome.exit_code, Some(0));
    }

    #[test]
    fn output_past_the_bound_is_cut_and_marked_without_blocking_the_command() {
        // 1 MiB on each stream, far past a pipe's buffer: the command must still finish.
        let outcome = run_for(
            &sh(
                "head -c 1048576 /dev/zero | tr '\\0' a; head -c 1048576 /dev/zero | tr '\\0' b >&2",
            ),
            vec![],
            Duration::from_secs(60),
        );
        assert_eq!(outcome.exit_code, Some(0));
        assert_eq!(outcome.stdout.len(), OUTPUT_LIMIT);
        assert_eq!(outcome.stderr.len(), OUTPUT_LIMIT);
        assert!(outcome.stdout.bytes().all(|b| b == b'a'));
        assert!(outcome.stdout_truncated && outcome.stderr_truncated);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let outcome = run_for(&sh("printf 'a\\377b'"), vec![], Duration::from_secs(30));
        assert_eq!(outcome.stdout, "a\u{fffd}b");
    }

    #[test]
    fn a_command_past_its_deadline_is_terminated_then_killed() {
        let started = Instant::now();
        let outcome = run_for(&sh("sleep 30"), vec![], Duration::from_millis(200));
        assert_eq!((outcome.exit_code, outcome.signal), (None, Some(15)));
        assert!(started.elapsed() < Duration::from_secs(10));
        // One that ignores SIGTERM is killed after the grace.
        let outcome = run_for(
            &sh("trap '' TERM; echo ready; sleep 30"),
            vec![],
            Duration::from_millis(500),
        );
        assert_eq!((outcome.exit_code, outcome.signal), (None, Some(9)));
        assert_eq!(outcome.stdout, "ready\n");
    }

    #[test]
    fn a_command_is_stopped_when_the_session_ends() {
        let outcome = run(
            &Run {
                argv: &sh("sleep 30"),
                env: vec![],
                as_user: None,
                deadline: Instant::now() + Duration::from_secs(60),
            },
            &|| true,
        )
        .unwrap();
        assert_eq!(outcome.signal, Some(15));
    }

    #[test]
    fn a_program_that_is_not_there_is_an_error() {
        let argv = vec!["/nonexistent/jit-test-program".to_owned()];
        let err = run(
            &Run {
                argv: &argv,
                env: vec![],
                as_user: None,
                deadline: Instant::now() + Duration::from_secs(5),
            },
            &|| false,
        )
        .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }
}
