//! `jit exec`: grant, run, revoke when the command ends (also on Ctrl-C and SIGTERM).

use crate::harness::*;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

#[test]
fn exec_passes_credentials_and_the_exit_status() {
    let w = World::new();
    let run = w
        .jit([
            "exec",
            "--role",
            "tokens",
            "--",
            "sh",
            "-c",
            "echo \"$TOKEN $JIT_LEASE_ID\"; exit 3",
        ])
        .run()
        .code(3);
    let (token, id) = run.stdout.trim().split_once(' ').unwrap();
    assert!(token.starts_with("tok-"));
    assert_eq!(w.state_of(id), "revoked");
    assert!(w.grant_keys().is_empty());
    assert!(
        !run.stdout.contains("granted"),
        "jit's own notes go to stderr"
    );
}

#[test]
fn exec_of_a_missing_program_revokes_and_exits_127() {
    let w = World::new();
    w.jit(["exec", "--role", "web-root", "--", "/nonexistent/program"])
        .run()
        .code(127)
        .stderr_has("cannot run");
    assert_eq!(w.leases()[0]["state"], "revoked");
}

fn wait_for_grant(w: &World, child: &mut std::process::Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(lease) = w.leases().into_iter().find(|l| l["state"] == "active") {
            return lease["id"].as_str().unwrap().to_owned();
        }
        assert!(child.try_wait().unwrap().is_none(), "jit exec ended early");
        assert!(Instant::now() < deadline, "no grant");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ctrl_c_ends_the_command_and_revokes() {
    let w = World::new();
    let mut command = std::process::Command::new(JIT);
    command
        .args(["exec", "--role", "web-root", "--", "sleep", "60"])
        .env("JIT_CONFIG", w.config_path())
        .env("JIT_STATE_DIR", w.state_dir())
        .env_remove("SUDO_USER")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0);
    let mut child = command.spawn().unwrap();
    let id = wait_for_grant(&w, &mut child);
    // A terminal's Ctrl-C reaches the whole foreground process group.
    killpg(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "the command's status: killed by SIGINT"
    );
    assert_eq!(w.state_of(&id), "revoked");
    assert!(w.grant_keys().is_empty());
}

#[test]
fn sigterm_is_passed_on_and_the_lease_revoked() {
    let w = World::new();
    let mut child = w
        .jit(["exec", "--role", "web-root", "--", "sleep", "60"])
        .spawn();
    let id = wait_for_grant(&w, &mut child);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    assert_eq!(w.state_of(&id), "revoked");
}

#[test]
fn the_command_is_told_to_end_when_jit_is_killed() {
    let w = World::new();
    let pid_file = w.path("command.pid");
    let script = format!("echo $$ > {}; exec sleep 300", pid_file.display());
    let mut jit = w
        .jit(["exec", "--role", "web-root", "--", "sh", "-c", &script])
        .spawn();
    crate::crash::await_that("the command to start", || {
        std::fs::read_to_string(&pid_file).is_ok_and(|t| t.ends_with('\n'))
    });
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    jit.kill().unwrap();
    jit.wait().unwrap();
    // SIGTERM, as when jit itself is sent TERM: it does not go on unwatched.
    crate::crash::await_that("the command to end with jit", || {
        !crate::crash::running(pid)
    });
}
