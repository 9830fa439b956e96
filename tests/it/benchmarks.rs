//! Every benchmark script runs in its quick mode (`--quick`: each step once, tiny sizes,
//! this build of jit, hyperfine or scripts/bench/hyperfine_once.py) and prints its figures,
//! so that none of them stops working unnoticed. The scripts start their own servers.

use crate::harness::*;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Each script and the lines whose figure it must print (a line starting with the label,
/// then a number).
const SCRIPTS: &[(&str, &[&str])] = &[
    (
        "scripts/bench.sh",
        &[
            "jit --version ",
            "jit list --json (50 leases, 10 live) ",
            "jit list --json (50 leases, all live) ",
            "jit request (1 program run) ",
            "request+revoke pair (sh) ",
            "jit audit verify (300 events) ",
            "jit request (300-event store) ",
            "overheads: request ",
        ],
    ),
    (
        "scripts/bench-aws.sh",
        &[
            "jit request (assume-role):",
            "aws sts assume-role:",
            "ratio jit/aws-cli:",
        ],
    ),
    (
        "scripts/bench-discover.sh",
        &["jit discover, PostgreSQL ", "jit discover, MariaDB "],
    ),
    (
        "scripts/bench-http.sh",
        &[
            "jit request (http backend):",
            "jit request (+ ticket check, webhook, audit shipping):",
            "curl POST (the runbook's one call):",
            "ratio jit/curl:",
        ],
    ),
    (
        "scripts/bench-mcp.sh",
        &[
            "jit mcp start-up to the initialize answer:",
            "request_access (no approval, running session):",
            "jit request (same role, from the shell):",
            "ratio request_access/jit request:",
            "jit --version:",
            "jit list (empty store):",
        ],
    ),
    (
        "scripts/bench-mysql.sh",
        &[
            "request+revoke, jit:",
            "request+revoke, runbook (2 mariadb):",
            "ratio jit/runbook:",
        ],
    ),
    (
        "scripts/bench-postgres.sh",
        &[
            "request+revoke pair (bash) ",
            "jit request (db-eph) ",
            "jit revoke (db-eph) ",
            "jit sweep (3 expired leases) ",
            "speed-up:",
        ],
    ),
    (
        "scripts/bench-recheck.sh",
        &[
            "jit sweep (50 live leases, re-evaluated):",
            "re-evaluation in the sweep (50 leases,",
            "ratio sweep/without:",
        ],
    ),
    (
        "scripts/bench-review.sh",
        &["jit review --format html median: ", "review HTML size: "],
    ),
    (
        "scripts/bench-ssh.sh",
        &[
            "jit request (ssh certificate) ",
            "jit --version ",
            "jit request --dry-run ",
        ],
    ),
    (
        "scripts/bench-team.sh",
        &[
            "request -> credentials, idle worker: median",
            "two workers: 5 grants in",
        ],
    ),
];

/// Settings of a full run that would make the quick one slow.
const FULL_RUN_SETTINGS: &[&str] = &[
    "BENCH_RUNS",
    "BENCH_WARMUP",
    "BENCH_LEASES",
    "BENCH_LIVE",
    "BENCH_EVENTS",
    "BENCH_PG_LEASES",
    "BENCH_PG_PARALLEL",
    "BENCH_STRICT",
    "BENCH_REVIEW_LEASES",
    "BENCH_REVIEW_EVENTS",
];

const DEADLINE: Duration = Duration::from_secs(600);

/// Run `script --quick` and check that it succeeds and prints a figure on each of its lines.
fn quick(script: &str) {
    let labels = SCRIPTS
        .iter()
        .find(|(name, _)| *name == script)
        .map(|(_, labels)| *labels)
        .expect("the script is listed in SCRIPTS");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut command = Command::new("bash");
    command
        .arg(root.join(script))
        .arg("--quick")
        .current_dir(root)
        .env("JIT_BIN", JIT)
        .env_remove("JIT_CONFIG")
        .env_remove("JIT_STATE_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: on a timeout, the script and all it started get SIGTERM,
        // and the script's trap stops its servers.
        .process_group(0);
    for name in FULL_RUN_SETTINGS {
        command.env_remove(name);
    }
    let started = Instant::now();
    let mut child = command.spawn().expect("bash runs");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).map(|_| text)
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let status = child.wait().unwrap();
            panic!("{script} --quick did not finish within {DEADLINE:?} ({status})");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out.join().unwrap().unwrap();
    let stderr = err.join().unwrap().unwrap();
    assert!(
        status.success(),
        "{script} --quick failed ({status}) after {:.1} s\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        started.elapsed().as_secs_f64()
    );
    for label in labels {
        let figure = stdout
            .lines()
            .filter_map(|line| line.strip_prefix(label))
            .find_map(first_number);
        assert!(
            figure.is_some_and(f64::is_finite),
            "{script} --quick printed no figure on a line `{label}...`\n--- stdout\n{stdout}"
        );
    }
}

/// The first white-space separated word of `text` that is a number once its unit
/// (`ms`, `x`, `s`, ...) is cut off.
fn first_number(text: &str) -> Option<f64> {
    text.split_whitespace().find_map(|word| {
        word.trim_end_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .ok()
    })
}

#[test]
fn every_benchmark_script_is_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found: Vec<String> = std::fs::read_dir(root.join("scripts"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("bench") && name.ends_with(".sh"))
        .map(|name| format!("scripts/{name}"))
        .collect();
    found.sort();
    let mut listed: Vec<&str> = SCRIPTS.iter().map(|(name, _)| *name).collect();
    listed.sort();
    assert_eq!(
        found, listed,
        "every scripts/bench*.sh needs its test in tests/it/benchmarks.rs"
    );
}

#[test]
fn bench_sh_quick() {
    quick("scripts/bench.sh");
}

#[test]
fn bench_recheck_quick() {
    quick("scripts/bench-recheck.sh");
}

#[test]
fn bench_aws_quick() {
    quick("scripts/bench-aws.sh");
}

#[test]
fn bench_discover_quick() {
    quick("scripts/bench-discover.sh");
}

#[test]
fn bench_http_quick() {
    quick("scripts/bench-http.sh");
}

#[test]
fn bench_mcp_quick() {
    quick("scripts/bench-mcp.sh");
}

#[test]
fn bench_mysql_quick() {
    quick("scripts/bench-mysql.sh");
}

#[test]
fn bench_postgres_quick() {
    quick("scripts/bench-postgres.sh");
}

#[test]
fn bench_review_quick() {
    quick("scripts/bench-review.sh");
}

#[test]
fn bench_ssh_quick() {
    quick("scripts/bench-ssh.sh");
}

#[test]
fn bench_team_quick() {
    quick("scripts/bench-team.sh");
}
