//! Processes jit starts. Each dies with the jit that started it (the parent-death signal),
//! and a program started for a grant runs in a process group of its own that a later jit
//! on the same host can find again from its [`Group`] record and end, so that nothing it
//! started can complete a grant after the lease was judged.

use chrono::{DateTime, Utc};
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::process::Command;
use std::time::{Duration, Instant};

/// Have the child started by `command` receive `signal` when the jit that starts it dies
/// (however it dies: SIGKILL included). It is sent when the *thread* that spawned the child
/// ends, so spawn only from a thread that outlives it (every caller waits for its child).
#[allow(unsafe_code)]
pub fn dies_with_jit(command: &mut Command, signal: Signal) {
    use std::os::unix::process::CommandExt;
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe functions may be called. It makes two system calls, prctl(2) and
    // getppid(2), through nix's direct wrappers (no allocation, no lock), and on failure
    // builds an io::Error from a raw errno (no allocation either). It touches no state
    // shared with the parent's other threads.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(signal)
                .map_err(|errno| std::io::Error::from_raw_os_error(errno as i32))?;
            // jit died between fork and prctl: the signal will never come, so stop here.
            if nix::unistd::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(Errno::ESRCH as i32));
            }
            Ok(())
        });
    }
}

/// Whether a credential's key can be passed on as an environment variable: `[A-Z_][A-Z0-9_]*`
/// (a child's environment is where `jit exec` and `run_with_access` put the credentials).
pub fn is_env_name(key: &str) -> bool {
    key.chars()
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The process group of a program jit started, as recorded with its lease: enough for a
/// later jit to tell whether that group can still be running and, on the same host, to end
/// it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// The host name, as in a lease's `worker`.
    pub host: String,
    /// The kernel's boot id: after a reboot nothing of the group is left.
    pub boot: String,
    /// The group id: the pid of its first process (the leader).
    pub pgid: i32,
    /// When the leader started, in clock ticks after boot (`/proc/PID/stat` field 22): a
    /// process that later got the same pid is not taken for it.
    pub start: u64,
    /// When jit started the program (for another host, which cannot look).
    pub started_at: DateTime<Utc>,
}

/// What [`Group::end`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// No process of the group is left (or ever will be): none ran, or they were killed.
    Gone,
    /// The group is on another host: this process cannot look.
    Elsewhere,
}

impl Group {
    /// The group whose leader is the child `pid`, just started (not yet waited for).
    pub fn of_leader(pid: i32, started_at: DateTime<Utc>) -> Result<Group, String> {
        let stat = Stat::read(pid).ok_or_else(|| format!("cannot read /proc/{pid}/stat"))?;
        Ok(Group {
            host: this_host(),
            boot: boot_id()?,
            pgid: pid,
            start: stat.start,
            started_at,
        })
    }

    /// End every process of the group still running on this host (SIGKILL), and wait until
    /// none is left, at most `patience`.
    ///
    /// The group is known by its id and its leader's start: a live process with the
    /// group's id and another start time means the group ended and its id was given again.
    /// While a group has any member, the kernel gives its id to no new process, so members
    /// left after the leader died are the group's own.
    pub fn end(&self, patience: Duration) -> Result<Ended, String> {
        if self.host != this_host() {
            return Ok(Ended::Elsewhere);
        }
        if boot_id()? != self.boot {
            return Ok(Ended::Gone);
        }
        let deadline = Instant::now() + patience;
        let mut signalled = false;
        loop {
            let members = self.members();
            if members.is_empty() {
                return Ok(Ended::Gone);
            }
            if let Some(leader) = members.iter().find(|m| m.pid == self.pgid)
                && leader.start != self.start
            {
                return Ok(Ended::Gone);
            }
            if !signalled {
                match killpg(Pid::from_raw(self.pgid), Signal::SIGKILL) {
                    Ok(()) | Err(Errno::ESRCH) => {}
                    Err(err) => {
                        return Err(format!(
                            "cannot end process group {} ({} process(es) left): {err}",
                            self.pgid,
                            members.len()
                        ));
                    }
                }
                signalled = true;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "process group {} still has {} process(es) after SIGKILL",
                    self.pgid,
                    members.len()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The live processes of the group (zombies are not: they can do nothing).
    fn members(&self) -> Vec<Member> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
            .filter_map(|pid| {
                let stat = Stat::read(pid)?;
                (stat.pgrp == self.pgid && !matches!(stat.state, 'Z' | 'X')).then_some(Member {
                    pid,
                    start: stat.start,
                })
            })
            .collect()
    }
}

struct Member {
    pid: i32,
    start: u64,
}

/// The fields of `/proc/PID/stat` jit reads.
struct Stat {
    state: char,
    pgrp: i32,
    start: u64,
}

impl Stat {
    fn read(pid: i32) -> Option<Stat> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "PID (COMM) STATE PPID PGRP ...": COMM may hold anything, so read after its end.
        let rest = &text[text.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        Some(Stat {
            state: fields.first()?.chars().next()?,
            pgrp: fields.get(2)?.parse().ok()?,
            start: fields.get(19)?.parse().ok()?,
        })
    }
}

/// This host's name, as [`crate::engine::Process`] records it.
pub fn this_host() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

fn boot_id() -> Result<String, String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|id| id.trim().to_owned())
        .map_err(|err| format!("reading the boot id: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_environment_name_is_upper_case_digits_and_underscores_not_first_a_digit() {
        for name in ["PGPASSWORD", "_X", "AWS_SESSION_TOKEN", "A1"] {
            assert!(is_env_name(name), "{name}");
        }
        for name in ["", "1A", "pgpassword", "A-B", "A B", "A=B", "É"] {
            assert!(!is_env_name(name), "{name}");
        }
    }

    #[test]
    fn a_group_and_what_it_started_are_ended_and_found_gone() {
        let mut command = Command::new("sh");
        command.args(["-c", "sleep 30 & sleep 30 & wait"]);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        dies_with_jit(&mut command, Signal::SIGKILL);
        let mut child = command.spawn().unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        let group = Group::of_leader(pid, Utc::now()).unwrap();
        assert_eq!(group.pgid, pid);
        let deadline = Instant::now() + Duration::from_secs(10);
        while group.members().len() < 3 {
            assert!(
                Instant::now() < deadline,
                "the shell started its two sleeps"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(group.end(Duration::from_secs(5)), Ok(Ended::Gone));
        assert!(group.members().is_empty());
        child.wait().unwrap();
        assert_eq!(group.end(Duration::from_secs(5)), Ok(Ended::Gone));
    }

    #[test]
    fn a_group_id_given_again_or_elsewhere_is_left_alone() {
        let mut command = Command::new("sleep");
        command.arg("30");
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn().unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        let mut group = Group::of_leader(pid, Utc::now()).unwrap();
        let real = group.clone();
        group.start += 1;
        assert_eq!(group.end(Duration::from_secs(1)), Ok(Ended::Gone));
        group.host = "elsewhere.example".into();
        assert_eq!(group.end(Duration::from_secs(1)), Ok(Ended::Elsewhere));
        assert_eq!(real.members().len(), 1, "the process was not signalled");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
