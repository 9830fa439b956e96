//! A throwaway AWS API emulator (moto, `python3 -m moto.server`) for the aws backend
//! tests: loopback, a free port, IAM authentication and authorization enforced; stopped
//! when the test process ends (parent-death signal) or when dropped.
//!
//! Enforcement: the server starts with `INITIAL_NO_AUTH_ACTION_COUNT` set to the exact
//! number of API calls `moto_setup.py` makes, so the setup runs unauthenticated and every
//! call after it is checked: signature (SigV4 with the secret of an IAM user's access key,
//! or of a session from sts:AssumeRole plus its token) and the caller's IAM policies.
//! moto keeps everything in memory; on each start the setup runs again on the fresh server,
//! with moto's random generator seeded from the port, so an instance hands out the same
//! access keys after a restart (and two instances hand out different ones).
//!
//! What moto 5.2 does and does not check (seen with moto 5.2.1):
//! - trust policies: the caller's exact ARN (a string or in a list) or `"*"` as the AWS
//!   principal; an account principal (`arn:aws:iam::123456789012:root`, `123456789012`)
//!   does not match anyone. sts:AssumeRole of a role that does not exist succeeds.
//! - assumed-role sessions are authorized by the role's inline and attached policies;
//!   their expiry is not enforced, and DurationSeconds is not validated by the server
//!   (boto3 and the AWS CLI check the 900 s minimum themselves).
//! - policy `Condition`s are not evaluated: every operator but `StringEquals` is taken as
//!   true, and `StringEquals` only sees `sts:ExternalId`. So an Allow with an expired
//!   `DateLessThan aws:CurrentTime` still allows, and a Deny with
//!   `DateLessThan aws:TokenIssueTime` denies every session of the role, new ones too.
//! - sts:GetCallerIdentity is allowed for any valid credentials, whatever the policies.

use crate::harness::{free_port, server_dir};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// moto's default account, where everything is set up.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
/// The IAM user whose access key jit uses: iam:* and sts:* on everything.
pub const ADMIN: &str = "jit-admin";
/// API calls `moto_setup.py` makes; the server lets exactly that many through unchecked.
const SETUP_CALLS: u32 = 5;

/// An access key: (access key id, secret access key).
type Keys = (String, String);

pub struct Moto {
    pub port: u16,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
    server: Mutex<Option<Child>>,
    /// (admin, subject) from the last setup.
    keys: Mutex<Option<(Keys, Keys)>>,
}

/// The server shared by the tests of one run, started (and set up) on first use. Tests
/// that stop, restart or otherwise disturb a server make their own with [`Moto::create`].
pub fn shared() -> &'static Moto {
    static SHARED: OnceLock<&'static Moto> = OnceLock::new();
    SHARED.get_or_init(|| {
        // The server must outlive the test thread that starts it (the parent-death signal
        // follows the spawning thread), so a thread that never ends starts it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let moto: &'static Moto = Box::leak(Box::new(Moto::create()));
            moto.start();
            tx.send(moto).unwrap();
            loop {
                std::thread::park();
            }
        });
        rx.recv().expect("moto_server started")
    })
}

/// The Python interpreter that has moto, boto3 and awscli (scripts/test.sh installs them
/// for `python3`), resolved once so that no wrapper (a pyenv shim) sits between the
/// parent-death signal and the server, and every call skips the wrapper's start-up.
fn python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let output = Command::new("python3")
            .args([
                "-c",
                "import sys, moto.server, boto3, awscli; print(sys.executable)",
            ])
            .output()
            .expect("python3 is installed");
        assert!(
            output.status.success(),
            "python3 lacks moto[server], boto3 or awscli (scripts/test.sh installs them): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    })
}

/// Environment variables through which the AWS SDKs and CLI would find credentials,
/// a profile, a region or an endpoint of the real machine.
const AWS_ENV: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CA_BUNDLE",
];

/// Python run by [`Moto::boto_as`]: clients for the emulator, then the snippet from stdin
/// (dedented, so that an indented raw string does).
const BOTO_PRELUDE: &str = r#"
import json, os, sys, textwrap
import boto3
from botocore.config import Config

_kw = dict(
    endpoint_url=os.environ["MOTO_ENDPOINT"],
    region_name="us-east-1",
    aws_access_key_id=os.environ["MOTO_KEY_ID"],
    aws_secret_access_key=os.environ["MOTO_SECRET"],
    aws_session_token=os.environ.get("MOTO_TOKEN") or None,
    config=Config(retries={"total_max_attempts": 1}),
)
iam = boto3.client("iam", **_kw)
sts = boto3.client("sts", **_kw)
exec(compile(textwrap.dedent(sys.stdin.read()), "<boto snippet>", "exec"))
"#;

impl Moto {
    /// A new instance on its own free port and directory, not started.
    pub fn create() -> Moto {
        let tmp = server_dir("jit-test-moto");
        Moto {
            port: free_port(),
            dir: tmp.path().to_path_buf(),
            _tmp: tmp,
            server: Mutex::new(None),
            keys: Mutex::new(None),
        }
    }

    /// `http://127.0.0.1:PORT`, for IAM and STS alike.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A path in this instance's temporary directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// What the server printed (a line per request), over all its starts.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("server.log")).unwrap_or_default()
    }

    /// Start the server, wait until it answers, and set it up (see `moto_setup.py`): the
    /// `jit-admin` user with an access key allowed iam:* and sts:*, and a user named after
    /// the OS user running the tests with an access key and no policy. Everything after
    /// the setup is authenticated and authorized. After [`Moto::stop`] this starts a fresh,
    /// empty server on the same port and sets it up again, with the same access keys.
    pub fn start(&self) {
        let mut server = self.server.lock().unwrap();
        assert!(server.is_none(), "moto_server is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("server.log"))
            .unwrap();
        let child = Command::new("setpriv")
            .arg("--pdeathsig=TERM")
            .arg(python())
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .env("INITIAL_NO_AUTH_ACTION_COUNT", SETUP_CALLS.to_string())
            .env_remove("MOTO_CALL_RESET_API")
            .env_remove("TEST_SERVER_MODE")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("setpriv (util-linux) is installed");
        let child = server.insert(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.answers() {
            if let Some(status) = child.try_wait().unwrap() {
                *server = None;
                panic!("moto_server exited ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(server);
        self.setup();
    }

    /// Stop the server and wait for it to exit; its state (users, keys, roles) is gone.
    pub fn stop(&self) {
        if let Some(mut child) = self.server.lock().unwrap().take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let _ = child.wait();
        }
    }

    /// Does moto's own API answer over HTTP on the port? (Not an AWS API call, so it does
    /// not count against the unauthenticated ones.)
    fn answers(&self) -> bool {
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let request = format!(
            "GET /moto-api/data.json HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\r\n",
            self.port
        );
        let mut response = Vec::new();
        if stream.write_all(request.as_bytes()).is_err()
            || stream.read_to_end(&mut response).is_err()
        {
            return false;
        }
        let status_line = String::from_utf8_lossy(&response)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut words = status_line.split_whitespace();
        words.next().is_some_and(|w| w.starts_with("HTTP/1.")) && words.next() == Some("200")
    }

    fn setup(&self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/moto_setup.py");
        let mut command = Command::new(python());
        for name in AWS_ENV {
            command.env_remove(name);
        }
        let output = command
            .arg(&script)
            .arg(self.endpoint())
            .arg(crate::harness::me())
            .arg(self.port.to_string())
            .arg(SETUP_CALLS.to_string())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", self.path("no-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.path("no-credentials"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "moto_setup.py: {}\nserver log: {}",
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
        let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let keys = |who: &str| -> Keys {
            (
                result[who][0].as_str().unwrap().to_owned(),
                result[who][1].as_str().unwrap().to_owned(),
            )
        };
        let new = (keys("admin"), keys("subject"));
        let mut current = self.keys.lock().unwrap();
        if let Some(old) = current.as_ref() {
            assert_eq!(
                old, &new,
                "the seeded setup should hand out the same keys after a restart"
            );
        }
        *current = Some(new);
    }

    fn keys(&self) -> (Keys, Keys) {
        self.keys
            .lock()
            .unwrap()
            .clone()
            .expect("moto_server was started")
    }

    /// `jit-admin`'s access key (id, secret): what jit's target uses.
    pub fn admin_keys(&self) -> (String, String) {
        self.keys().0
    }

    /// The access key (id, secret) of the IAM user named after the OS user running the
    /// tests (`harness::me()`), who has no policy until jit grants one.
    pub fn subject_keys(&self) -> (String, String) {
        self.keys().1
    }

    /// Run a Python snippet with boto3 clients `iam` and `sts` for this server, signed with
    /// `jit-admin`'s key (no retries); `json` is imported. Returns what it printed; panics
    /// with its stderr when it fails, e.g.
    /// `print(json.dumps(iam.get_role_policy(RoleName='x', PolicyName='y')['PolicyDocument']))`.
    pub fn boto(&self, code: &str) -> String {
        let (id, secret) = self.admin_keys();
        self.boto_as(&id, &secret, None, code)
    }

    /// [`Moto::boto`] with other credentials, e.g. a session's from sts:AssumeRole.
    pub fn boto_as(&self, key_id: &str, secret: &str, token: Option<&str>, code: &str) -> String {
        let mut command = Command::new(python());
        for name in AWS_ENV {
            command.env_remove(name);
        }
        let mut child = command
            .args(["-c", BOTO_PRELUDE])
            .env("MOTO_ENDPOINT", self.endpoint())
            .env("MOTO_KEY_ID", key_id)
            .env("MOTO_SECRET", secret)
            .env("MOTO_TOKEN", token.unwrap_or(""))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", self.path("no-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.path("no-credentials"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(code.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "boto snippet failed:\n{code}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Run the AWS CLI (`aws`, from awscli) against this server: `--endpoint-url` set,
    /// region us-east-1, JSON output, and none of the real machine's AWS configuration
    /// (`AWS_*` variables removed, `HOME`, `AWS_CONFIG_FILE` and
    /// `AWS_SHARED_CREDENTIALS_FILE` in this instance's directory, no instance metadata),
    /// then `env` on top: credentials as `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/
    /// `AWS_SESSION_TOKEN`, or an `AWS_CONFIG_FILE` (and `AWS_PROFILE`) with a
    /// `credential_process`.
    pub fn aws(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut command = Command::new(python());
        for name in AWS_ENV {
            command.env_remove(name);
        }
        command
            .args(["-m", "awscli", "--endpoint-url"])
            .arg(self.endpoint())
            .args(args)
            .env("HOME", &self.dir)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_DEFAULT_OUTPUT", "json")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", self.path("aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.path("aws-credentials"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// A `[targets.NAME]` section for this server; jit-admin's key id and secret are in
    /// 0600 files `NAME.aws-key-id` and `NAME.aws-secret` in `dir`.
    pub fn target(&self, name: &str, dir: &Path) -> String {
        let (id, secret) = self.admin_keys();
        let write = |file: &str, text: &str| {
            let path = dir.join(format!("{name}.{file}"));
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            path
        };
        let id_file = write("aws-key-id", &id);
        let secret_file = write("aws-secret", &secret);
        format!(
            "[targets.{name}]\nbackend = \"aws\"\nregion = \"{REGION}\"\nendpoint = \"{}\"\naccess_key_id = \"file:{}\"\nsecret_access_key = \"file:{}\"\n",
            self.endpoint(),
            id_file.display(),
            secret_file.display()
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An AWS CLI run as text for an assertion message: its status and both outputs.
pub fn shown(output: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
