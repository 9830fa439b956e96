//! `--metrics ADDR`: the metrics of `jit sweep --watch`, scraped by a real Prometheus
//! (Debian's `prometheus`, which scripts/test.sh installs) and read back through its
//! query API; the example alert rules load in `promtool check rules`.

use crate::crash::await_that;
use crate::harness::{REQUESTER, World, free_port, server_dir};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Prometheus of the test's own on loopback, scraping `target` every 200 ms.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: u16) -> Prometheus {
        let dir = server_dir("jit-prometheus");
        let port = free_port();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 200ms\n  evaluation_interval: 200ms\n\
                 scrape_configs:\n  - job_name: jit\n    scrape_interval: 200ms\n    \
                 scrape_timeout: 200ms\n    static_configs:\n      - targets: [\"127.0.0.1:{target}\"]\n"
            ),
        )
        .unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("log")).unwrap())
            .spawn()
            .expect("prometheus (Debian package prometheus) must be installed: scripts/test.sh installs it");
        Prometheus {
            child,
            port,
            _dir: dir,
        }
    }

    /// The instant vector of `query`, as (labels, value) pairs; empty when Prometheus is
    /// not answering yet.
    fn query(&self, query: &str) -> Vec<(Value, f64)> {
        let encoded: String =
            percent_encoding::utf8_percent_encode(query, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let Some(body) = get(self.port, &format!("/api/v1/query?query={encoded}")) else {
            return Vec::new();
        };
        let reply: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(reply["status"], "success", "{reply}");
        reply["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["metric"].clone(),
                    r["value"][1].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect()
    }

    /// Wait (up to 60 s) until `query` has exactly one series and `check` holds for its
    /// value; return it.
    fn await_value(&self, query: &str, check: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let result = self.query(query);
            if let [(_, value)] = result[..]
                && check(value)
            {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus never answered {query} as expected: {result:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of `GET path` from 127.0.0.1:`port` if it answered 200.
fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    let (head, body) = reply.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?;
    (status == "200").then(|| body.to_owned())
}

/// Wait until the lease is in `state`, with the watcher still running.
fn await_state(w: &World, watcher: &mut Child, id: &str, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while w.state_of(id) != state {
        assert!(Instant::now() < deadline, "not {state}: {}", w.lease(id));
        assert!(watcher.try_wait().unwrap().is_none(), "the watcher died");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn prometheus_scrapes_the_sweeper() {
    let w = World::new();
    // Two audit destinations: one syslog that receives, one whose socket is not there.
    let socket = w.path("log.sock");
    let _listener = std::os::unix::net::UnixDatagram::bind(&socket).unwrap();
    w.write_config(&format!(
        "{}\n[[audit.ship]]\nkind = \"syslog\"\nname = \"up\"\nsocket = \"{}\"\n\
         [[audit.ship]]\nkind = \"syslog\"\nname = \"down\"\nsocket = \"{}\"\n",
        w.default_config(),
        socket.display(),
        w.path("missing.sock").display()
    ));
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut watcher = w.jit(["sweep", "--watch", "--metrics", &addr]).spawn();
    let prometheus = Prometheus::start(port);
    prometheus.await_value("up{job=\"jit\"}", |v| v == 1.0);

    // A request that stays active, and one whose expiry fails to revoke.
    let kept = w.granted("tokens", &["--ttl", "1h"]);
    w.fail_revokes(true);
    let failing = w.granted("web-root", &["--ttl", "2s"]);
    await_state(&w, &mut watcher, &failing, "revoke-failed");
    prometheus.await_value(
        "jit_failures_total{backend=\"command\",operation=\"revoke\"}",
        |v| v == 1.0,
    );
    prometheus.await_value(
        "jit_leases{state=\"revoke-failed\",role=\"web-root\"}",
        |v| v == 1.0,
    );
    prometheus.await_value("jit_leases{state=\"active\",role=\"tokens\"}", |v| v == 1.0);
    prometheus.await_value("jit_leases{state=\"active\",role=\"web-root\"}", |v| {
        v == 0.0
    });
    prometheus.await_value("sum(jit_leases)", |v| v == 2.0);
    prometheus.await_value("jit_revocations_incomplete", |v| v == 1.0);
    let age = prometheus.await_value("jit_revocation_incomplete_oldest_age_seconds", |v| v > 0.0);
    assert!(
        age < 60.0,
        "the revocation failed moments ago, not {age} s ago"
    );
    assert_eq!(prometheus.query("jit_revocations_total"), []);

    // A lease that expires with the target working: one revocation, still one failure.
    w.fail_revokes(false);
    let expiring = w.granted("web-root", &["--ttl", "2s"]);
    await_state(&w, &mut watcher, &expiring, "expired");
    prometheus.await_value("jit_revocations_total{backend=\"command\"}", |v| v == 1.0);
    prometheus.await_value("sum(jit_failures_total)", |v| v == 1.0);
    prometheus.await_value("jit_leases{state=\"active\",role=\"tokens\"}", |v| v == 1.0);
    assert_eq!(w.state_of(&kept), "active");
    // Each pass is timed; the process metrics are there.
    prometheus.await_value("jit_sweep_duration_seconds_count", |v| v >= 2.0);
    prometheus.await_value("process_resident_memory_bytes", |v| v > 1e6);
    prometheus.await_value("process_open_fds", |v| v >= 3.0);
    // Shipping: every event reached `up`; none reached `down`, whose oldest waits.
    let events = w.event_count() as f64;
    assert_eq!(
        events, 8.0,
        "requested and granted thrice, revoke-failed, expired"
    );
    prometheus.await_value("jit_audit_events_shipped{destination=\"up\"}", |v| {
        v == events
    });
    prometheus.await_value("jit_audit_shipping_lag_events{destination=\"up\"}", |v| {
        v == 0.0
    });
    prometheus.await_value("jit_audit_shipping_lag_seconds{destination=\"up\"}", |v| {
        v == 0.0
    });
    prometheus.await_value("jit_audit_shipping_failing{destination=\"up\"}", |v| {
        v == 0.0
    });
    prometheus.await_value("jit_audit_events_shipped{destination=\"down\"}", |v| {
        v == 0.0
    });
    prometheus.await_value("jit_audit_shipping_lag_events{destination=\"down\"}", |v| {
        v == events
    });
    prometheus.await_value(
        "jit_audit_shipping_lag_seconds{destination=\"down\"}",
        |v| v > 0.0,
    );
    prometheus.await_value("jit_audit_shipping_failing{destination=\"down\"}", |v| {
        v == 1.0
    });
    watcher.kill().unwrap();
    watcher.wait().unwrap();
}

/// A child killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn prometheus_scrapes_a_team_worker() {
    let t = crate::team::Team::new("");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    // An address in use: refused before the worker starts, as for the sweeper.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let used = taken.local_addr().unwrap().to_string();
    let refused = t.w.jit(["worker", "--metrics", &used]).run().code(2);
    assert_eq!(
        refused.stderr.trim_end(),
        format!(
            "jit: error: --metrics {used}: cannot listen there: Address already in use (os error 98)"
        )
    );
    assert_eq!(refused.stdout, "");
    t.w.jit(["worker", "--once", "--metrics", &addr])
        .run()
        .code(2)
        .stderr_has("cannot be used with");
    let _worker = Killed(t.w.jit(["worker", "--metrics", &addr]).spawn());
    let prometheus = Prometheus::start(port);
    prometheus.await_value("up{job=\"jit\"}", |v| v == 1.0);
    prometheus.await_value("jit_worker_up", |v| v == 1.0);
    prometheus.await_value("jit_queue_depth", |v| v == 0.0);

    let id = t
        .person(
            REQUESTER,
            ["request", "--role", "web-root", "--ttl", "1h", "--quiet"],
        )
        .run()
        .success()
        .stdout
        .trim()
        .to_owned();
    prometheus.await_value("jit_grants_total{backend=\"command\"}", |v| v == 1.0);
    prometheus.await_value("jit_leases{state=\"active\",role=\"web-root\"}", |v| {
        v == 1.0
    });

    t.w.fail_revokes(true);
    t.person(REQUESTER, ["revoke", &id]).run().code(6);
    prometheus.await_value(
        "jit_failures_total{backend=\"command\",operation=\"revoke\"}",
        |v| v == 1.0,
    );
    prometheus.await_value(
        "jit_leases{state=\"revoke-failed\",role=\"web-root\"}",
        |v| v == 1.0,
    );
    prometheus.await_value("jit_leases{state=\"active\",role=\"web-root\"}", |v| {
        v == 0.0
    });
    prometheus.await_value("jit_revocations_incomplete", |v| v == 1.0);
    assert_eq!(prometheus.query("jit_revocations_total"), []);
    prometheus.await_value("jit_queue_depth", |v| v == 0.0);
    prometheus.await_value("jit_queue_oldest_age_seconds", |v| v == 0.0);
    prometheus.await_value("jit_sweep_duration_seconds_count", |v| v >= 1.0);
}

#[test]
fn a_request_queued_while_the_worker_is_busy_is_counted_until_a_pass_takes_it() {
    // A target whose grants and revocations wait while the test holds them.
    let holds = tempfile::tempdir().unwrap();
    let hold_grant = holds.path().join("grant");
    let hold_revoke = holds.path().join("revoke");
    let t = crate::team::Team::new(&format!(
        "[targets.held]\nbackend = \"command\"\nprogram = \"{}\"\n\
         args = [\"{}\", \"--hold-grant-if\", \"{}\", \"--hold-revoke-if\", \"{}\"]\n\
         timeout = \"2m\"\n\n\
         [roles.held]\ntarget = \"held\"\nmax_ttl = \"1h\"\n",
        crate::harness::fixture().display(),
        holds.path().join("grants.json").display(),
        hold_grant.display(),
        hold_revoke.display(),
    ));
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let _worker = Killed(t.w.jit(["worker", "--metrics", &addr]).spawn());
    let prometheus = Prometheus::start(port);
    prometheus.await_value("jit_worker_up", |v| v == 1.0);
    let request =
        |ttl: &str| t.person(REQUESTER, ["request", "--role", "held", "--ttl", ttl, "-q"]);
    // Held from the start, so that however slow this machine, the lease's expiry waits.
    std::fs::write(&hold_revoke, "").unwrap();
    let first = request("2s").run().success().stdout.trim().to_owned();
    prometheus.await_value("jit_grants_total{backend=\"command\"}", |v| v == 1.0);

    // The worker's pass at the lease's end is inside its revocation when a request comes.
    std::fs::write(&hold_grant, "").unwrap();
    await_that("the expiry's revocation", || t.state(&first) == "revoking");
    let mut second = request("1h").spawn();
    let queued = "SELECT count(*) FROM jit.requests WHERE status = 'new'";
    await_that("the queued request", || t.count(queued) == 1);
    // (The gauge is as of the last pass that ended, before the request came.)
    let depth: Vec<f64> = prometheus
        .query("jit_queue_depth")
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(depth, [0.0]);

    // jit's clock counts whole seconds: once the request has waited one, its age reads above 0.
    await_that("a second in the queue", || {
        t.count(&format!(
            "{queued} AND created_at < now() - interval '1 second'"
        )) == 1
    });

    // That pass ends with the request still queued: the next takes it, and its grant waits.
    std::fs::remove_file(&hold_revoke).unwrap();
    prometheus.await_value("jit_revocations_total{backend=\"command\"}", |v| v == 1.0);
    prometheus.await_value("jit_queue_depth", |v| v == 1.0);
    let age = prometheus.await_value("jit_queue_oldest_age_seconds", |v| v > 0.0);
    assert!(age < 60.0, "queued moments ago, not {age} s ago");
    assert!(
        second.try_wait().unwrap().is_none(),
        "the request was answered"
    );

    std::fs::remove_file(&hold_grant).unwrap();
    let status = second.wait().unwrap();
    assert!(status.success());
    prometheus.await_value("jit_grants_total{backend=\"command\"}", |v| v == 2.0);
    prometheus.await_value("jit_queue_depth", |v| v == 0.0);
    prometheus.await_value("jit_queue_oldest_age_seconds", |v| v == 0.0);
    assert_eq!(t.count(queued), 0);
}

#[test]
fn the_metrics_endpoint_answers_only_on_its_path() {
    let w = World::new();
    let port = free_port();
    let mut watcher = w
        .jit([
            "sweep",
            "--watch",
            "--metrics",
            &format!("127.0.0.1:{port}"),
        ])
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        if let Some(body) = get(port, "/metrics") {
            break body;
        }
        assert!(Instant::now() < deadline, "no metrics on 127.0.0.1:{port}");
        assert!(watcher.try_wait().unwrap().is_none(), "the watcher died");
        std::thread::sleep(Duration::from_millis(50));
    };
    for help in [
        "# HELP jit_leases Live leases in the store, by state and role",
        "# HELP jit_revocations_incomplete ",
        "# HELP jit_revocation_incomplete_oldest_age_seconds ",
        "# HELP jit_sweep_duration_seconds ",
        "# HELP process_cpu_seconds Total user and system CPU time spent in seconds",
    ] {
        assert!(body.contains(help), "{help} missing from:\n{body}");
    }
    // The worker's own metrics are not served by the sweeper.
    assert!(!body.contains("jit_queue_depth"), "{body}");
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert_eq!(get(port, "/"), None);
    watcher.kill().unwrap();
    watcher.wait().unwrap();
}

#[test]
fn an_address_that_cannot_be_listened_on_is_refused() {
    let w = World::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let run = w
        .jit(["sweep", "--watch", "--metrics", &addr])
        .run()
        .code(2);
    assert_eq!(
        run.stderr.trim_end(),
        format!(
            "jit: error: --metrics {addr}: cannot listen there: Address already in use (os error 98)"
        )
    );
    assert_eq!(run.stdout, "");
    // Not an address at all, and --metrics without --watch: clap's usage errors.
    w.jit(["sweep", "--watch", "--metrics", "localhost"])
        .run()
        .code(2)
        .stderr_has("invalid value 'localhost' for '--metrics <ADDR>'");
    w.jit(["sweep", "--metrics", "127.0.0.1:9464"])
        .run()
        .code(2)
        .stderr_has("--watch");
    // Nothing was done: the store holds no audit event.
    assert_eq!(w.event_count(), 0);
}

#[test]
fn promtool_accepts_the_example_alert_rules() {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/prometheus/jit-alerts.yml");
    let output = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .expect("promtool (Debian package prometheus) must be installed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("SUCCESS: 3 rules found"), "{stdout}");
}
