//! The `jit mcp` session an agent's lease is bound to: the lease ends when the session does.
//! `jit mcp` revokes its leases itself when its client goes away; killed, it cannot, and the
//! sweeper finds the leases of a session that has ended.
//!
//! A session is named by what outlives nothing but the process that holds it: on the embedded
//! store, the process (`local:HOST:PID:START`, its start time telling it from a later process
//! with the same pid); on a team store, the process's own connection to the store's database
//! (`pg:PID:TAG`, its backend pid and the random `application_name` it set), which the server
//! closes when the process dies, on whichever host the sweeping worker runs.

use super::*;

/// Where a session lives, as its name says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Session {
    Local { host: String, pid: i32, start: u64 },
    Team { pid: i32, tag: String },
}

impl Session {
    pub fn parse(text: &str) -> Option<Session> {
        if let Some(rest) = text.strip_prefix("local:") {
            let (rest, start) = rest.rsplit_once(':')?;
            let (host, pid) = rest.rsplit_once(':')?;
            return Some(Session::Local {
                host: host.to_owned(),
                pid: pid.parse().ok()?,
                start: start.parse().ok()?,
            });
        }
        let (pid, tag) = text.strip_prefix("pg:")?.split_once(':')?;
        Some(Session::Team {
            pid: pid.parse().ok()?,
            tag: tag.to_owned(),
        })
    }

    /// This process, as a session on the embedded store.
    pub fn this_process(worker: &Process) -> Result<String> {
        let pid = std::process::id();
        let start = process_start(i32::try_from(pid).unwrap_or(i32::MAX))
            .context("reading this process's start time from /proc")?;
        Ok(format!("local:{}:{pid}:{start}", worker.host))
    }
}

/// A process's start time (clock ticks after boot, `/proc/PID/stat` field 22), if it runs.
fn process_start(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold anything: count after it.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

impl Engine<'_> {
    /// Has session `text` ended? A session this process cannot see (another host's process)
    /// is taken to go on: its leases still end at their end.
    pub fn session_ended(&self, text: &str) -> Result<bool> {
        match Session::parse(text) {
            Some(Session::Local { host, pid, start }) => {
                Ok(host == self.worker.host && process_start(pid) != Some(start))
            }
            Some(Session::Team { pid, tag }) => {
                Ok(self.store.connection_open(pid, &tag)? == Some(false))
            }
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_read_back_as_written() {
        let worker = Process::this();
        let this = Session::this_process(&worker).unwrap();
        match Session::parse(&this) {
            Some(Session::Local { host, pid, start }) => {
                assert_eq!(host, worker.host);
                assert_eq!(pid, i32::try_from(std::process::id()).unwrap());
                assert_eq!(process_start(pid), Some(start));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            Session::parse("pg:4242:0123abcd"),
            Some(Session::Team {
                pid: 4242,
                tag: "0123abcd".into()
            })
        );
        assert_eq!(Session::parse("host:12"), None);
        assert_eq!(Session::parse("local:h:x:1"), None);
    }

    #[test]
    fn a_process_that_ended_is_told_from_a_running_one() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        child.wait().unwrap();
        assert_eq!(process_start(pid), None);
        assert!(process_start(1).is_some());
    }
}
