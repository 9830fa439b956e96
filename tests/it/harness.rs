//! A temporary jit world and a fluent way to run the binary in it.
//!
//! `World::new()` makes a temp dir with a config whose `files` target is the
//! `grant-file` fixture: a command backend keeping its grants in a JSON file, so every
//! test can check the target's real state after each step.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const JIT: &str = env!("CARGO_BIN_EXE_jit");

/// Another OS user for approvals (real entries in the user database on Debian).
pub const REQUESTER: &str = "daemon";
pub const APPROVER: &str = "bin";
pub const OTHER_APPROVER: &str = "sys";

pub fn me() -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::current())
        .unwrap()
        .unwrap()
        .name
}

pub struct World {
    pub dir: tempfile::TempDir,
}

pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/backends/grant-file")
}

impl World {
    pub fn new() -> World {
        let world = World::empty();
        world.write_config(&world.default_config());
        world
    }

    pub fn empty() -> World {
        World {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn config_path(&self) -> PathBuf {
        self.path("config.toml")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path("state")
    }

    pub fn store_path(&self) -> PathBuf {
        self.state_dir().join("jit.db")
    }

    /// The default configuration: one command target, a few roles.
    pub fn default_config(&self) -> String {
        format!(
            r#"[identity]
service_account = "{me}"

[targets.files]
backend = "command"
program = "{fixture}"
args = ["{grants}", "--fail-revoke-if", "{fail_revoke}", "--fail-grant-if", "{fail_grant}"]

[roles.db-admin]
target = "files"
description = "read-write on the app schema"
max_ttl = "2h"
default_ttl = "30m"
ticket = {{ required = true, pattern = "^CHG-[0-9]+$" }}

[roles.web-root]
target = "files"
max_ttl = "4h"

[roles.tokens]
target = "files"
max_ttl = "1h"
grant = {{ issue_credentials = true }}

[roles.gated]
target = "files"
max_ttl = "1h"
approvals = {{ required = 1, from = ["user:{approver}", "user:{other}"] }}
grant = {{ issue_credentials = true }}

[roles.two-keys]
target = "files"
max_ttl = "1h"
approvals = {{ required = 2, from = ["user:{approver}", "user:{other}"] }}

[[eligibility]]
subjects = ["user:{me}", "user:{requester}"]
roles = ["*"]
max_ttl = "1h"
"#,
            me = me(),
            fixture = fixture().display(),
            grants = self.path("grants.json").display(),
            fail_revoke = self.path("fail-revoke").display(),
            fail_grant = self.path("fail-grant").display(),
            approver = APPROVER,
            other = OTHER_APPROVER,
            requester = REQUESTER,
        )
    }

    /// The environment every `jit` of this world runs with (besides the test's own).
    pub fn env(&self) -> Vec<(String, std::ffi::OsString)> {
        [
            ("JIT_CONFIG", self.config_path().into_os_string()),
            ("JIT_STATE_DIR", self.state_dir().into_os_string()),
            ("HOME", self.dir.path().as_os_str().to_owned()),
            ("XDG_CONFIG_HOME", self.path("xdg-config").into_os_string()),
            ("XDG_STATE_HOME", self.path("xdg-state").into_os_string()),
            ("NO_COLOR", "1".into()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config_path(), text).unwrap();
    }

    pub fn jit<I, S>(&self, args: I) -> Jit
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut command = Command::new(JIT);
        command
            .args(args.into_iter().map(|a| a.as_ref().to_owned()))
            .envs(self.env())
            .env_remove("SUDO_USER")
            .env_remove("JIT_FAULT")
            .env_remove("JIT_TEST_CLOCK_OFFSET")
            .stdin(Stdio::null());
        Jit { command }
    }

    /// The fixture target's grants: `{"role/subject": {"expires_at": ..}}`.
    pub fn grants(&self) -> Value {
        match std::fs::read_to_string(self.path("grants.json")) {
            Ok(text) => serde_json::from_str(&text).unwrap(),
            Err(_) => serde_json::json!({}),
        }
    }

    pub fn grant_keys(&self) -> Vec<String> {
        self.grants().as_object().unwrap().keys().cloned().collect()
    }

    pub fn fail_revokes(&self, on: bool) {
        toggle(&self.path("fail-revoke"), on);
    }

    pub fn fail_grants(&self, on: bool) {
        toggle(&self.path("fail-grant"), on);
    }

    /// Every lease in the store, as `jit list --all --json` prints them.
    pub fn leases(&self) -> Vec<Value> {
        self.jit(["list", "--all", "--json"])
            .run()
            .success()
            .json()
            .as_array()
            .unwrap()
            .clone()
    }

    pub fn lease(&self, id: &str) -> Value {
        self.jit(["show", id, "--json"]).run().success().json()
    }

    pub fn state_of(&self, id: &str) -> String {
        self.lease(id)["state"].as_str().unwrap().to_owned()
    }

    /// The kinds of the audit events of one lease, in order.
    pub fn event_kinds(&self, id: &str) -> Vec<String> {
        self.lease(id)["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect()
    }

    pub fn event_count(&self) -> usize {
        self.jit(["audit", "--json"])
            .run()
            .success()
            .json()
            .as_array()
            .unwrap()
            .len()
    }

    /// Grant a lease of `role` now and return its id.
    pub fn granted(&self, role: &str, extra: &[&str]) -> String {
        let mut args = vec!["request", "--role", role, "--json"];
        args.extend_from_slice(extra);
        let lease = self.jit(args).run().success().json();
        assert_eq!(lease["state"], "active", "{lease}");
        lease["id"].as_str().unwrap().to_owned()
    }
}

fn toggle(path: &Path, on: bool) {
    if on {
        std::fs::write(path, "").unwrap();
    } else {
        let _ = std::fs::remove_file(path);
    }
}

pub struct Jit {
    command: Command,
}

impl Jit {
    /// Act as another person: the harness's config names this OS user as the service
    /// account, so `SUDO_USER` is trusted exactly as in a shared-host deployment.
    pub fn by(mut self, user: &str) -> Jit {
        self.command.env("SUDO_USER", user);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Jit {
        self.command.env(key, value);
        self
    }

    /// Run in `dir` instead of the test's working directory.
    pub fn in_dir(mut self, dir: &Path) -> Jit {
        self.command.current_dir(dir);
        self
    }

    /// Shift jit's clock forward (debug builds only).
    pub fn later(self, secs: i64) -> Jit {
        self.env("JIT_TEST_CLOCK_OFFSET", secs.to_string())
    }

    pub fn stdin_text(mut self, text: &str) -> Jit {
        let path = std::env::temp_dir().join(format!("jit-stdin-{}", random_suffix()));
        std::fs::write(&path, text).unwrap();
        self.command.stdin(std::fs::File::open(&path).unwrap());
        let _ = std::fs::remove_file(&path);
        self
    }

    pub fn run(mut self) -> Run {
        let output = self.command.output().unwrap();
        Run::from(output)
    }

    pub fn spawn(mut self) -> Child {
        self.command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

fn random_suffix() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug)]
pub struct Run {
    /// `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn code(self, expected: i32) -> Run {
        assert_eq!(
            self.code,
            Some(expected),
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn success(self) -> Run {
        self.code(0)
    }

    #[track_caller]
    pub fn stderr_has(self, text: &str) -> Run {
        assert!(
            self.stderr.contains(text),
            "stderr should contain {text:?}:\n{}",
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(self, text: &str) -> Run {
        assert!(
            self.stdout.contains(text),
            "stdout should contain {text:?}:\n{}",
            self.stdout
        );
        self
    }

    #[track_caller]
    pub fn stdout_is(self, text: &str) -> Run {
        assert_eq!(self.stdout, text);
        self
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
}

/// Open the store's SQLite file directly (to tamper with it, or to prove what is not in it).
pub fn open_store(world: &World) -> rusqlite::Connection {
    rusqlite::Connection::open(world.store_path()).unwrap()
}

/// The embedded store's name: the mark on what it grants is `jit:NAME:LEASE`.
pub fn store_name(world: &World) -> String {
    open_store(world)
        .query_row("SELECT name FROM store_identity", [], |r| r.get(0))
        .unwrap()
}

/// A directory under `$TMPDIR/<base>` (0755, so servers running as another user can reach
/// their part) named after this process, for a server the suite starts. Shared servers live
/// until the process ends (statics are never dropped), so each run first removes what
/// earlier runs, now gone, left there.
pub fn server_dir(base: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let base = std::env::temp_dir().join(base);
    std::fs::create_dir_all(&base).unwrap();
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    for entry in std::fs::read_dir(&base).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let owner = name
            .split('-')
            .next()
            .and_then(|pid| pid.parse::<i32>().ok());
        let gone = owner.is_some_and(|pid| {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
                == Err(nix::errno::Errno::ESRCH)
        });
        if gone {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    tempfile::Builder::new()
        .prefix(&format!("{}-", std::process::id()))
        .tempdir_in(&base)
        .unwrap()
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
