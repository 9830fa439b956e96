//! `jit mcp` driven by clients nobody here wrote: the official MCP Python SDK's stdio client
//! (tests/mcp/driver.py, PyPI `mcp`) and the MCP Inspector's CLI (npm), against the suite's
//! real PostgreSQL. Every message the Python client receives is recorded, and searched for
//! the issued password.

use crate::crash::await_that;
use crate::harness::*;
use crate::pg_cluster::{self, Cluster, GROUP};
use serde_json::{Value, json};
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

/// The clientInfo the Python client sends in `initialize`.
const CLIENT_NAME: &str = "pytest-agent";
const CLIENT_VERSION: &str = "9.8.7";
const CLIENT: &str = "pytest-agent 9.8.7";

/// How long one driver step may take before the test gives up on it.
const STEP: Duration = Duration::from_secs(120);

/// The six tools of version 1 and the arguments each requires.
const TOOLS: [(&str, &[&str]); 6] = [
    ("access_status", &[]),
    ("drop_access", &["lease_id"]),
    ("list_roles", &[]),
    ("request_access", &["reason", "role", "task"]),
    ("run_with_access", &["command", "lease_id"]),
    ("wait_for_approval", &["lease_id"]),
];

/// The Python interpreter that has the MCP SDK (scripts/test.sh installs it for `python3`),
/// resolved once, so that no wrapper (a pyenv shim) sits between the test and the client.
fn python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let output = Command::new("python3")
            .args([
                "-c",
                "import sys, importlib.metadata as m, mcp.client.stdio; print(sys.executable); print(m.version('mcp'))",
            ])
            .output()
            .expect("python3 is installed");
        assert!(
            output.status.success(),
            "python3 lacks the MCP SDK (PyPI mcp; scripts/test.sh installs it): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout).unwrap();
        let mut lines = text.lines();
        let executable = lines.next().unwrap().to_owned();
        assert_eq!(
            lines.next(),
            Some("2.3.0"),
            "the MCP SDK scripts/test.sh pins"
        );
        executable
    })
}

fn driver_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/driver.py")
}

/// Where scripts/test.sh installs the MCP Inspector's CLI.
fn inspector_package() -> PathBuf {
    let dir = std::env::var_os("JIT_TEST_INSPECTOR_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"))
                .join("jit-tests/mcp-inspector-cli")
        });
    let package = dir.join("node_modules/@modelcontextprotocol/inspector-cli");
    assert!(
        package.join("build/cli.js").exists(),
        "the MCP Inspector CLI is not installed in {} (scripts/test.sh installs it)",
        dir.display()
    );
    package
}

/// The environment `jit mcp` gets: the world's, and a PATH to find psql.
fn agent_env(env: Vec<(String, OsString)>) -> Vec<(String, OsString)> {
    let mut env = env;
    env.push((
        "PATH".into(),
        std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
    ));
    env
}

fn env_json(env: &[(String, OsString)]) -> Value {
    Value::Object(
        env.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.to_str().unwrap().to_owned())))
            .collect(),
    )
}

/// An MCP client (the Python SDK's) connected to a `jit mcp` of its own.
struct Agent {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Every message the client received from `jit mcp`, one JSON document a line.
    record: PathBuf,
    /// What `jit mcp` wrote on stderr.
    stderr: PathBuf,
    /// The `initialize` result.
    init: Value,
    _dir: tempfile::TempDir,
}

impl Agent {
    /// Start the client, which starts `jit mcp` with exactly `env` and initializes.
    fn start(env: &[(String, OsString)]) -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("received.jsonl");
        let stderr = dir.path().join("jit-mcp.stderr");
        let setup = dir.path().join("setup.json");
        std::fs::write(
            &setup,
            json!({
                "command": JIT,
                "args": ["mcp"],
                "env": env_json(env),
                "client_name": CLIENT_NAME,
                "client_version": CLIENT_VERSION,
                "record": record,
                "stderr": stderr,
            })
            .to_string(),
        )
        .unwrap();
        let mut child = Command::new(python())
            .arg(driver_script())
            .arg(&setup)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut agent = Agent {
            child,
            stdin,
            lines,
            record,
            stderr,
            init: Value::Null,
            _dir: dir,
        };
        agent.init = agent.answer()["initialize"].clone();
        agent
    }

    /// The driver's next answer.
    fn answer(&mut self) -> Value {
        match self.lines.recv_timeout(STEP) {
            Ok(line) => {
                let value: Value = serde_json::from_str(&line).unwrap();
                assert!(
                    value.get("driver_error").is_none(),
                    "the MCP client failed: {value}\njit mcp stderr:\n{}",
                    self.stderr_text()
                );
                value
            }
            Err(RecvTimeoutError::Timeout) => panic!(
                "the MCP client did not answer within {STEP:?}\njit mcp stderr:\n{}",
                self.stderr_text()
            ),
            Err(RecvTimeoutError::Disconnected) => panic!(
                "the MCP client ended early: {:?}\njit mcp stderr:\n{}",
                self.child.wait(),
                self.stderr_text()
            ),
        }
    }

    fn send(&mut self, command: Value) -> Value {
        let stdin = self.stdin.as_mut().expect("the client is connected");
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        self.answer()
    }

    fn list_tools(&mut self) -> Vec<Value> {
        self.send(json!({"op": "list_tools"}))["tools"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Call a tool: `{"is_error", "structured", "text", "progress", "hook"}`.
    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        self.send(json!({"op": "call", "tool": tool, "arguments": arguments}))
    }

    /// Call a tool, and run `argv` (with exactly `env`) from the progress callback when the
    /// call's first progress notification arrives.
    fn call_with_hook(
        &mut self,
        tool: &str,
        arguments: Value,
        argv: &[&str],
        env: &[(String, OsString)],
    ) -> Value {
        self.send(json!({
            "op": "call",
            "tool": tool,
            "arguments": arguments,
            "on_first_progress": {"argv": argv, "env": env_json(env)},
        }))
    }

    /// The pid of the `jit mcp` the client started.
    fn server_pid(&mut self) -> i32 {
        let pids = self.send(json!({"op": "server_pid"}))["pid"].clone();
        let pids = pids.as_array().unwrap();
        assert_eq!(pids.len(), 1, "one child of the client: {pids:?}");
        pids[0].as_i64().unwrap() as i32
    }

    /// Disconnect (the SDK closes jit mcp's stdin and waits for it to exit), and wait for
    /// the client to end.
    fn close(&mut self) {
        let closed = self.send(json!({"op": "close"}));
        assert_eq!(closed["closed"], true, "{closed}");
        self.stdin = None;
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the MCP client: {status}");
    }

    fn record_text(&self) -> String {
        std::fs::read_to_string(&self.record).unwrap_or_default()
    }

    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The JSON-RPC messages the client received.
    fn received(&self) -> Vec<Value> {
        self.record_text()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stdin = None;
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A successful tool result's JSON: the structured content, which the text content repeats.
#[track_caller]
fn ok(result: &Value) -> Value {
    assert_eq!(result["is_error"], false, "an error result: {result}");
    let structured = result["structured"].clone();
    assert!(structured.is_object(), "structured content: {result}");
    let text: Value = serde_json::from_str(result["text"][0].as_str().unwrap()).unwrap();
    assert_eq!(text, structured, "the text content is the same JSON");
    structured
}

/// An error result's `error` object.
#[track_caller]
fn error(result: &Value) -> Value {
    assert_eq!(result["is_error"], true, "not an error result: {result}");
    let structured = result["structured"].clone();
    let text: Value = serde_json::from_str(result["text"][0].as_str().unwrap()).unwrap();
    assert_eq!(text, structured, "the text content is the same JSON");
    structured["error"].clone()
}

/// Does `text` (lines of JSON, or any text) hold `secret`? Looked for as it is, as JSON
/// escapes it, and in every string of every JSON document, including the JSON text that
/// a tool result's text content is (decoded again), so that no encoding hides it.
fn holds(text: &str, secret: &str) -> bool {
    fn strings(value: &Value, secret: &str) -> bool {
        match value {
            Value::String(s) => {
                s.contains(secret)
                    || serde_json::from_str::<Value>(s).is_ok_and(|inner| {
                        !matches!(inner, Value::String(_)) && strings(&inner, secret)
                    })
            }
            Value::Array(items) => items.iter().any(|v| strings(v, secret)),
            Value::Object(map) => map
                .iter()
                .any(|(k, v)| k.contains(secret) || strings(v, secret)),
            _ => false,
        }
    }
    let escaped = serde_json::to_string(secret).unwrap();
    let escaped = &escaped[1..escaped.len() - 1];
    text.contains(secret)
        || text.contains(escaped)
        || text.lines().any(|line| {
            serde_json::from_str::<Value>(line).is_ok_and(|value| strings(&value, secret))
        })
}

/// The commands every agent role declares; `dir` is the world's directory.
fn commands(dir: &Path) -> String {
    format!(
        r#"whoami = ["psql", "-X", "-A", "-t", "-c", "select current_user"]
echo = ["/bin/echo", "{{text}}"]
args = ["{printargs}", "{{first}}", "fixed", "{{second}}"]
mark = ["/usr/bin/touch", "{marker}"]
stash = ["/bin/sh", "-c", "umask 077 && printf %s \"$PGPASSWORD\" > \"$0\"", "{stash}"]
"#,
        printargs = dir.join("printargs").display(),
        marker = dir.join("ran").display(),
        stash = dir.join("stashed-password").display(),
    )
}

/// The roles: `db-agent` (an agent needs a person's approval), `db-auto` (no approval for
/// agents), `db-reveal` (DANGEROUS: shows the credentials), `db-people` (no `agent` table).
fn roles(dir: &Path, target: &str) -> String {
    let grant = format!(
        "grant = {{ mode = \"ephemeral\", roles = [\"{GROUP}\"], database_privileges = [\"CONNECT\"] }}"
    );
    let commands = commands(dir);
    format!(
        r#"
[roles.db-agent]
target = "{target}"
description = "read the app database"
max_ttl = "1h"
default_ttl = "10m"
{grant}

[roles.db-agent.agent]
max_ttl = "15m"
approvals = {{ required = 1, from = ["user:{APPROVER}"] }}

[roles.db-agent.agent.commands]
{commands}
[roles.db-auto]
target = "{target}"
max_ttl = "1h"
{grant}

[roles.db-auto.agent]
approvals = {{ required = 0 }}

[roles.db-auto.agent.commands]
{commands}
[roles.db-reveal]
target = "{target}"
max_ttl = "1h"
{grant}

[roles.db-reveal.agent]
approvals = {{ required = 0 }}
reveal = true

[roles.db-reveal.agent.commands]
{commands}
[roles.db-people]
target = "{target}"
max_ttl = "1h"
{grant}
"#
    )
}

/// A world whose target `db` is the suite's PostgreSQL, with the agent roles.
fn pg_world(cluster: &Cluster) -> World {
    let w = World::empty();
    write_printargs(w.dir.path());
    w.write_config(&format!(
        r#"[identity]
service_account = "{me}"

{target}
{roles}
[[eligibility]]
subjects = ["user:{me}"]
roles = ["*"]
"#,
        me = me(),
        target = cluster.target("db", w.dir.path()),
        roles = roles(w.dir.path(), "db"),
    ));
    w
}

/// A program that prints each of its arguments on a line of its own, in brackets.
fn write_printargs(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("printargs");
    std::fs::write(
        &path,
        "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]\\n' \"$a\"; done\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The login a lease's handle names (the store's bookkeeping, which the lease JSON leaves
/// out).
fn handle_login(w: &World, id: &str) -> String {
    let handle: String = open_store(w)
        .query_row("SELECT handle FROM leases WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap();
    let handle: Value = serde_json::from_str(&handle).unwrap();
    handle["login"].as_str().unwrap().to_owned()
}

/// Every lease of the world's store, ended ones too.
fn every_lease(w: &World) -> Vec<Value> {
    let all = w.jit(["list", "--all", "--json"]).run().success().json();
    all.as_array().unwrap().clone()
}

/// No lease of this world's store has a login on the cluster (which other tests share: its
/// whole list of roles is not this test's to compare).
fn no_login_of_any_lease(cluster: &Cluster, w: &World) {
    for lease in every_lease(w) {
        let login = format!("jit_{}", lease["id"].as_str().unwrap());
        assert!(!cluster.role_exists(&login), "{login} exists");
    }
}

/// Ask for `role`, which needs no approval: the result, and the lease's id.
fn granted(agent: &mut Agent, role: &str) -> (Value, String) {
    let granted = ok(&agent.call("request_access", request(role)));
    assert_eq!(granted["status"], "granted", "{granted}");
    let id = granted["lease"]["id"].as_str().unwrap().to_owned();
    (granted, id)
}

fn request(role: &str) -> Value {
    json!({
        "role": role,
        "ttl": "10m",
        "reason": "count the accounts",
        "task": "report how many accounts there are",
    })
}

fn run_result(exit_code: i64, stdout: &str) -> Value {
    json!({
        "exit_code": exit_code,
        "signal": null,
        "stdout": stdout,
        "stderr": "",
        "stdout_truncated": false,
        "stderr_truncated": false,
    })
}

#[test]
fn initialize_and_tools_list_show_exactly_the_six_documented_tools() {
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    let mut agent = Agent::start(&agent_env(w.env()));
    assert_eq!(agent.init["serverInfo"]["name"], "jit");
    assert_eq!(
        agent.init["serverInfo"]["version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(agent.init["serverInfo"]["title"], "jit (tools v1)");
    assert!(agent.init["capabilities"]["tools"].is_object());

    let tools = agent.list_tools();
    let mut listed: Vec<(String, Vec<String>)> = tools
        .iter()
        .map(|tool| {
            let name = tool["name"].as_str().unwrap().to_owned();
            let schema = &tool["inputSchema"];
            assert_eq!(schema["type"], "object", "{name}: {schema}");
            assert!(
                tool["outputSchema"].is_object(),
                "{name} has an outputSchema: {tool}"
            );
            assert!(
                tool["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{name} is described"
            );
            let mut required: Vec<String> = schema
                .get("required")
                .map(|r| {
                    r.as_array()
                        .unwrap()
                        .iter()
                        .map(|f| f.as_str().unwrap().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            required.sort();
            // Every required argument is a declared property.
            for field in &required {
                assert!(
                    schema["properties"][field].is_object(),
                    "{name}.{field}: {schema}"
                );
            }
            (name, required)
        })
        .collect();
    listed.sort();
    let expected: Vec<(String, Vec<String>)> = TOOLS
        .iter()
        .map(|(name, required)| {
            (
                name.to_string(),
                required.iter().map(|f| f.to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(listed, expected);
    // The optional arguments the design names.
    let properties = |name: &str| -> Vec<String> {
        let tool = tools.iter().find(|t| t["name"] == name).unwrap();
        let mut keys: Vec<String> = tool["inputSchema"]["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    };
    assert_eq!(properties("list_roles"), Vec::<String>::new());
    assert_eq!(
        properties("request_access"),
        ["reason", "role", "task", "ticket", "ttl"]
    );
    assert_eq!(properties("wait_for_approval"), ["lease_id", "timeout"]);
    assert_eq!(
        properties("run_with_access"),
        ["arguments", "command", "lease_id", "timeout"]
    );
    assert_eq!(properties("access_status"), ["lease_id"]);
    assert_eq!(properties("drop_access"), ["lease_id"]);
    // Nothing that decides or lengthens a lease.
    for tool in &tools {
        let name = tool["name"].as_str().unwrap();
        for forbidden in ["approve", "deny", "extend"] {
            assert!(!name.contains(forbidden), "a tool named {name}");
        }
    }
    agent.close();
    assert_eq!(w.leases(), Vec::<Value>::new());
}

#[test]
fn the_inspector_cli_lists_the_same_six_tools() {
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    let package = inspector_package();
    // The Inspector CLI 1.0.3 finds its own package.json through a path it checks relative
    // to the working directory but loads relative to its module: run it from its module's
    // directory, where both agree.
    let output = Command::new(package.join("../../.bin/mcp-inspector-cli"))
        .args(["--cli", JIT, "mcp", "--method", "tools/list"])
        .current_dir(package.join("build"))
        .env_clear()
        .envs(agent_env(w.env()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let run = Run::from(output).success();
    let mut names: Vec<String> = run.json()["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, TOOLS.map(|(name, _)| name));
    assert_eq!(w.leases(), Vec::<Value>::new());
}

#[test]
fn an_agent_asks_a_person_approves_psql_runs_as_the_login_and_the_login_ends_with_the_session() {
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    let mut agent = Agent::start(&agent_env(w.env()));

    let pending = ok(&agent.call("request_access", request("db-agent")));
    assert_eq!(pending["status"], "pending", "{pending}");
    let id = pending["lease"]["id"].as_str().unwrap().to_owned();
    assert_eq!(pending["lease"]["state"], "pending");
    assert_eq!(pending["lease"]["role"], "db-agent");
    assert_eq!(
        pending["lease"]["task"],
        "report how many accounts there are"
    );
    assert_eq!(pending["lease"]["approvals_required"], 1);
    assert_eq!(pending["approve_with"], format!("jit approve {id}"));
    assert_eq!(pending["approvers"], json!([format!("user:{APPROVER}")]));
    assert!(pending.get("credentials").is_none(), "{pending}");
    // The agent's, on behalf of the OS user running jit mcp.
    let leases = w.leases();
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0]["subject"], me());
    assert_eq!(leases[0]["agent"]["client"], CLIENT);
    assert_eq!(
        leases[0]["agent"]["task"],
        "report how many accounts there are"
    );
    // What the agent may run with it, recorded from the role's agent table.
    assert_eq!(
        leases[0]["agent"]["commands"]["whoami"],
        json!(["psql", "-X", "-A", "-t", "-c", "select current_user"])
    );
    assert!(leases[0]["agent"].get("reveal").is_none());

    // A person approves, from the client's progress callback on the first progress
    // notification of the wait: the wait cannot end granted unless progress arrived.
    let mut approver = w.env();
    approver.push(("SUDO_USER".into(), APPROVER.into()));
    let waited = agent.call_with_hook(
        "wait_for_approval",
        json!({"lease_id": id, "timeout": "1m"}),
        &[JIT, "approve", &id, "--reason", "fine for the report"],
        &agent_env(approver),
    );
    let hook = &waited["hook"];
    assert_eq!(hook["code"], 0, "jit approve: {hook}");
    assert!(
        hook["stdout"].as_str().unwrap().contains(&id),
        "jit approve: {hook}"
    );
    let granted = ok(&waited);
    assert_eq!(granted["status"], "granted", "{granted}");
    assert_eq!(granted["lease"]["state"], "active");
    assert_eq!(granted["lease"]["approvals_given"], 1);
    assert!(granted.get("credentials").is_none(), "{granted}");
    let progress = waited["progress"].as_array().unwrap();
    assert!(!progress.is_empty());
    assert_eq!(progress[0]["total"], 60.0, "{progress:?}");
    assert!(
        progress[0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("jit approve {id}")),
        "{progress:?}"
    );
    // The notifications themselves, as the client received them.
    let notified = agent
        .received()
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .count();
    assert_eq!(notified, progress.len());

    // psql runs as the login the lease's handle names.
    let login = handle_login(&w, &id);
    assert_eq!(login, format!("jit_{id}"));
    assert!(cluster.role_exists(&login));
    let whoami = ok(&agent.call(
        "run_with_access",
        json!({"lease_id": id, "command": "whoami"}),
    ));
    assert_eq!(whoami, run_result(0, &format!("{login}\n")));

    // The issued password, taken without showing it to the model: an operator's command
    // (a fixed argv, no argument from the agent) writes $PGPASSWORD from its environment to
    // a 0600 file and prints nothing. Logging in with it proves it is the issued password,
    // so the search below would find it in the messages if any carried it.
    let stashed = ok(&agent.call(
        "run_with_access",
        json!({"lease_id": id, "command": "stash"}),
    ));
    assert_eq!(stashed, run_result(0, ""));
    let password = std::fs::read_to_string(w.path("stashed-password")).unwrap();
    assert!(password.len() >= 16, "a password: {} chars", password.len());
    cluster
        .login(&login, &password)
        .expect("the stashed password is the issued one");

    let status = ok(&agent.call("access_status", json!({})));
    let leases = status["leases"].as_array().unwrap();
    assert_eq!(leases.len(), 1, "{status}");
    assert_eq!(leases[0]["id"], id.as_str());
    assert_eq!(leases[0]["state"], "active");
    let one = ok(&agent.call("access_status", json!({"lease_id": id})));
    assert_eq!(one["leases"], status["leases"]);

    // The client disconnects: the login is gone, the lease revoked.
    agent.close();
    assert!(
        !cluster.role_exists(&login),
        "the login outlived the session"
    );
    assert!(cluster.login(&login, &password).is_err());
    let leases = w.leases();
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0]["id"], id.as_str());
    assert_eq!(leases[0]["state"], "revoked");
    assert_eq!(leases[0]["agent"]["client"], CLIENT);

    // The audit trail names the agent.
    let events = w
        .jit(["audit", "--lease", &id, "--json"])
        .run()
        .success()
        .json();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["requested", "approved", "granted", "revoked"],
        "{events}"
    );
    assert!(
        events[0].to_string().contains(CLIENT),
        "the request's record names the agent: {}",
        events[0]
    );
    w.jit(["audit", "--lease", &id])
        .run()
        .success()
        .stdout_has(CLIENT);

    // No message the client received, nor jit mcp's stderr, holds the password. The same
    // search finds the login, which the whoami result carries, in what was recorded.
    let record = agent.record_text();
    assert!(holds(&record, &login), "the search sees the tool results");
    assert!(!holds(&record, &password), "a message held the password");
    assert!(
        !holds(&agent.stderr_text(), &password),
        "jit mcp's stderr held the password"
    );
    assert!(!holds(&w.jit(["audit", "--json"]).run().stdout, &password));
}

#[test]
fn people_see_an_agent_s_request_as_the_agent_s() {
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    let mut agent = Agent::start(&agent_env(w.env()));
    let pending = ok(&agent.call("request_access", request("db-agent")));
    let id = pending["lease"]["id"].as_str().unwrap().to_owned();
    let via = format!("via agent {CLIENT}");
    w.jit(["list"]).run().success().stdout_has(&via);
    // jit show names it on a line of its own.
    let shown = w.jit(["show", &id]).run().success().stdout;
    assert!(
        shown.lines().any(|line| line.split_whitespace().eq([
            "agent",
            CLIENT_NAME,
            CLIENT_VERSION
        ])),
        "jit show names the agent:\n{shown}"
    );
    let mut approver = w.env();
    approver.push(("SUDO_USER".into(), APPROVER.into()));
    let waited = agent.call_with_hook(
        "wait_for_approval",
        json!({"lease_id": id}),
        &[JIT, "approve", &id],
        &agent_env(approver),
    );
    let hook = &waited["hook"];
    assert_eq!(hook["code"], 0, "jit approve: {hook}");
    assert!(
        hook["stdout"].as_str().unwrap().contains(&via),
        "jit approve: {hook}"
    );
    assert_eq!(ok(&waited)["status"], "granted");
    // The lease JSON of jit show carries it as jit list's does.
    let lease = w.lease(&id);
    assert_eq!(
        lease["agent"],
        w.leases()[0]["agent"],
        "jit show --json: {lease}"
    );
    assert_eq!(lease["agent"]["client"], CLIENT, "jit show --json: {lease}");
    agent.close();
    assert_eq!(w.state_of(&id), "revoked");
}

#[test]
fn a_request_approved_before_the_agent_waits_is_taken_up_by_the_wait() {
    // The agent tells the user to run `jit approve ID`, the user does, and only then does
    // the agent call wait_for_approval.
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    let mut agent = Agent::start(&agent_env(w.env()));
    let pending = ok(&agent.call("request_access", request("db-agent")));
    let id = pending["lease"]["id"].as_str().unwrap().to_owned();
    w.jit(["approve", &id]).by(APPROVER).run().success();
    let granted = ok(&agent.call("wait_for_approval", json!({"lease_id": id})));
    assert_eq!(granted["status"], "granted", "{granted}");
    assert_eq!(granted["lease"]["state"], "active");
    let whoami = ok(&agent.call(
        "run_with_access",
        json!({"lease_id": id, "command": "whoami"}),
    ));
    assert_eq!(whoami, run_result(0, &format!("jit_{id}\n")));
    agent.close();
    assert_eq!(w.state_of(&id), "revoked");
    assert!(!cluster.role_exists(&format!("jit_{id}")));
}

#[test]
fn a_person_s_denial_ends_the_wait_with_an_error_result_and_no_login() {
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    let mut agent = Agent::start(&agent_env(w.env()));
    let pending = ok(&agent.call("request_access", request("db-agent")));
    let id = pending["lease"]["id"].as_str().unwrap().to_owned();
    let mut approver = w.env();
    approver.push(("SUDO_USER".into(), APPROVER.into()));
    let waited = agent.call_with_hook(
        "wait_for_approval",
        json!({"lease_id": id, "timeout": "1m"}),
        &[JIT, "deny", &id, "--reason", "not for an agent"],
        &agent_env(approver),
    );
    assert_eq!(waited["hook"]["code"], 0, "jit deny: {}", waited["hook"]);
    let denied = error(&waited);
    assert_eq!(denied["exit_code"], 3, "{denied}");
    assert_eq!(denied["kind"], "denied");
    agent.close();
    assert_eq!(w.state_of(&id), "denied");
    no_login_of_any_lease(cluster, &w);
}

#[test]
fn with_reveal_the_password_is_in_the_results_where_the_search_finds_it() {
    // The control of the search above: a role that says `reveal = true` hands the
    // credentials to the model, and the same search over the same recording finds them.
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    let mut agent = Agent::start(&agent_env(w.env()));
    let (granted, id) = granted(&mut agent, "db-reveal");
    let login = handle_login(&w, &id);
    assert_eq!(granted["credentials"]["PGUSER"], login.as_str());
    ok(&agent.call(
        "run_with_access",
        json!({"lease_id": id, "command": "stash"}),
    ));
    let password = std::fs::read_to_string(w.path("stashed-password")).unwrap();
    assert_eq!(granted["credentials"]["PGPASSWORD"], password.as_str());
    agent.close();
    assert!(holds(&agent.record_text(), &password));
    assert!(!cluster.role_exists(&login));
}

#[test]
fn a_role_without_an_agent_table_is_neither_listed_nor_requestable() {
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    let mut agent = Agent::start(&agent_env(w.env()));
    let listed = ok(&agent.call("list_roles", json!({})));
    let names: Vec<&str> = listed["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["db-agent", "db-auto", "db-reveal"]);
    let role = &listed["roles"][0];
    assert_eq!(role["max_ttl"], "15m", "the agent's cap: {role}");
    assert_eq!(role["approvals_required"], 1);
    assert_eq!(role["approvers"], json!([format!("user:{APPROVER}")]));
    assert_eq!(role["reveal"], false);
    assert_eq!(role["target"], "db");
    assert_eq!(role["backend"], "postgres");
    let echo = role["commands"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "echo")
        .unwrap();
    assert_eq!(
        echo,
        &json!({"name": "echo", "argv": ["/bin/echo", "{text}"], "arguments": ["text"]})
    );
    assert_eq!(listed["roles"][2]["reveal"], true);

    let refused = error(&agent.call("request_access", request("db-people")));
    assert_eq!(refused["exit_code"], 3, "{refused}");
    assert_eq!(refused["kind"], "denied");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("role \"db-people\" is not open to agents"),
        "{refused}"
    );
    agent.close();
    assert_eq!(every_lease(&w), Vec::<Value>::new());
}

#[test]
fn arguments_reach_the_program_as_one_literal_argument_each() {
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    let mut agent = Agent::start(&agent_env(w.env()));
    let (_, id) = granted(&mut agent, "db-auto");
    let pwned = w.path("pwned");
    let substitution = format!("$(touch {})", pwned.display());

    let echoed = ok(&agent.call(
        "run_with_access",
        json!({"lease_id": id, "command": "echo", "arguments": {"text": "; rm -rf ~"}}),
    ));
    assert_eq!(echoed, run_result(0, "; rm -rf ~\n"));
    let printed = ok(&agent.call(
        "run_with_access",
        json!({
            "lease_id": id,
            "command": "args",
            "arguments": {"first": "; rm -rf ~", "second": substitution},
        }),
    ));
    assert_eq!(
        printed,
        run_result(0, &format!("[; rm -rf ~]\n[fixed]\n[{substitution}]\n"))
    );

    // drop_access ends it before the session does; once ended, it is already ended.
    let login = handle_login(&w, &id);
    assert!(cluster.role_exists(&login));
    let dropped = ok(&agent.call("drop_access", json!({"lease_id": id})));
    assert_eq!(dropped["outcome"], "revoked", "{dropped}");
    assert_eq!(dropped["lease"]["state"], "revoked");
    assert!(!cluster.role_exists(&login));
    let again = ok(&agent.call("drop_access", json!({"lease_id": id})));
    assert_eq!(again["outcome"], "already-ended", "{again}");
    agent.close();
    assert_eq!(w.state_of(&id), "revoked");
    assert!(!pwned.exists(), "a shell ran the argument");
    assert!(w.dir.path().join("printargs").exists(), "nothing removed");
}

#[test]
fn an_undeclared_command_or_argument_is_refused_and_nothing_runs() {
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    let mut agent = Agent::start(&agent_env(w.env()));
    let (_, id) = granted(&mut agent, "db-auto");
    let marker = w.path("ran");
    let refusals = [
        json!({"lease_id": id, "command": "touch"}),
        json!({"lease_id": id, "command": "/usr/bin/touch"}),
        json!({"lease_id": id, "command": "mark", "arguments": {"path": "/tmp/elsewhere"}}),
        json!({"lease_id": id, "command": "echo", "arguments": {}}),
        json!({"lease_id": id, "command": "echo", "arguments": {"text": "x", "more": "y"}}),
    ];
    for arguments in refusals {
        let refused = error(&agent.call("run_with_access", arguments.clone()));
        assert_eq!(refused["exit_code"], 2, "{arguments}: {refused}");
        assert_eq!(refused["kind"], "usage", "{arguments}: {refused}");
        assert!(!marker.exists(), "{arguments} ran something");
    }
    let refused = error(&agent.call(
        "run_with_access",
        json!({"lease_id": id, "command": "touch"}),
    ));
    assert!(
        refused["message"].as_str().unwrap().contains("touch"),
        "names the command: {refused}"
    );
    // The declared one runs (so "nothing ran" above is not for want of a working command).
    let marked = ok(&agent.call(
        "run_with_access",
        json!({"lease_id": id, "command": "mark"}),
    ));
    assert_eq!(marked, run_result(0, ""));
    assert!(marker.exists());
    agent.close();
}

#[test]
fn an_agent_request_over_the_agent_cap_is_refused_naming_it() {
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    let mut agent = Agent::start(&agent_env(w.env()));
    // Within the role's 1h and the eligibility's, over the agent's 15m.
    let mut over = request("db-agent");
    over["ttl"] = json!("30m");
    let refused = error(&agent.call("request_access", over));
    assert_eq!(refused["exit_code"], 3, "{refused}");
    assert_eq!(refused["kind"], "denied");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("agent max_ttl"), "{refused}");
    assert!(message.contains("15m"), "{refused}");
    agent.close();
    assert_eq!(every_lease(&w), Vec::<Value>::new());
}

#[test]
fn a_killed_jit_mcp_leaves_its_lease_to_the_next_sweep() {
    let cluster = pg_cluster::shared();
    let w = pg_world(cluster);
    let mut agent = Agent::start(&agent_env(w.env()));
    let (_, id) = granted(&mut agent, "db-auto");
    let login = handle_login(&w, &id);
    let whoami = ok(&agent.call(
        "run_with_access",
        json!({"lease_id": id, "command": "whoami"}),
    ));
    assert_eq!(whoami, run_result(0, &format!("{login}\n")));

    let pid = nix::unistd::Pid::from_raw(agent.server_pid());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    agent.close();
    // Nothing ended it: jit mcp had no chance to.
    assert!(cluster.role_exists(&login));
    assert_eq!(w.state_of(&id), "active");

    w.jit(["sweep"])
        .run()
        .success()
        .stdout_has(&format!("{id}: revoked"));
    assert!(!cluster.role_exists(&login));
    let lease = w.lease(&id);
    assert_eq!(lease["state"], "revoked");
    let revoked = lease["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "revoked")
        .unwrap()
        .clone();
    assert_eq!(
        revoked["details"]["cause"], "the agent session (jit mcp) it was bound to has ended",
        "{revoked}"
    );
    assert_eq!(revoked["details"]["recheck"], "session-ended", "{revoked}");
}

#[test]
fn team_mode_a_worker_grants_the_agent_and_the_session_end_revokes() {
    let cluster = pg_cluster::shared();
    // The target's admin password, in a directory of the test's own (the team's world is
    // made by Team::new, from this configuration).
    let secrets = tempfile::tempdir().unwrap();
    write_printargs(secrets.path());
    // jit mcp runs as the requester here: the `stash` command writes into this directory
    // (others may write and enter, not list; the admin password's file stays 0600).
    std::fs::set_permissions(
        secrets.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o1733),
    )
    .unwrap();
    let extra = format!(
        "{}\n{}",
        cluster.target("db", secrets.path()),
        roles(secrets.path(), "db")
    );
    let mut t = crate::team::Team::new(&extra);
    t.worker(|j| j);
    let mut agent = Agent::start(&agent_env(t.person_env(REQUESTER)));

    let pending = ok(&agent.call("request_access", request("db-agent")));
    assert_eq!(pending["status"], "pending", "{pending}");
    let id = pending["lease"]["id"].as_str().unwrap().to_owned();
    assert_eq!(pending["approve_with"], format!("jit approve {id}"));
    let listed = t
        .person(REQUESTER, ["list", "--json"])
        .run()
        .success()
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["subject"], REQUESTER);
    assert_eq!(listed[0]["agent"]["client"], CLIENT);

    let waited = agent.call_with_hook(
        "wait_for_approval",
        json!({"lease_id": id, "timeout": "1m"}),
        &[JIT, "approve", &id],
        &agent_env(t.person_env(APPROVER)),
    );
    assert_eq!(waited["hook"]["code"], 0, "jit approve: {}", waited["hook"]);
    let granted = ok(&waited);
    assert_eq!(granted["status"], "granted", "{granted}");
    assert!(!waited["progress"].as_array().unwrap().is_empty());
    let login = format!("jit_{id}");
    let whoami = ok(&agent.call(
        "run_with_access",
        json!({"lease_id": id, "command": "whoami"}),
    ));
    assert_eq!(whoami, run_result(0, &format!("{login}\n")));
    assert!(cluster.role_exists(&login));
    let stashed = ok(&agent.call(
        "run_with_access",
        json!({"lease_id": id, "command": "stash"}),
    ));
    assert_eq!(stashed["exit_code"], 0, "{stashed}");
    let password = std::fs::read_to_string(secrets.path().join("stashed-password")).unwrap();
    cluster
        .login(&login, &password)
        .expect("the issued password");

    agent.close();
    // The worker carries out the revocation the session's end asked for.
    await_that("the login to be dropped", || !cluster.role_exists(&login));
    let state = || {
        t.person(REQUESTER, ["show", &id, "--json"])
            .run()
            .success()
            .json()["state"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    await_that("the lease to be revoked", || state() == "revoked");
    t.person(APPROVER, ["audit", "--lease", &id])
        .run()
        .success()
        .stdout_has(CLIENT);
    assert!(!holds(&agent.record_text(), &password));
    assert!(!holds(&agent.stderr_text(), &password));
}
