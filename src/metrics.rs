//! Prometheus metrics of the long-running processes (`jit sweep --watch --metrics ADDR`,
//! `jit worker --metrics ADDR`): the text format on `GET /metrics`, served by a thread of
//! its own. The loop of the process refreshes the gauges from the store after each pass
//! and counts what it did from the audit events it committed; the server thread only
//! encodes. The names and their meaning are in docs/metrics.md.

use crate::audit::{AuditEvent, EventKind};
use crate::engine::{Engine, Observer};
use crate::lease::LeaseState;
use crate::store::postgres::PgStore;
use crate::store::{EventFilter, LeaseFilter};
use anyhow::Result;
use chrono::{DateTime, Utc};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The content type of what `/metrics` serves (prometheus-client writes OpenMetrics text).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type FloatGauge = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct LeaseLabels {
    state: String,
    role: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    backend: String,
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DestinationLabels {
    destination: String,
}

/// Which kind of long-running process serves the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serving {
    Sweeper,
    Worker,
}

/// The counters of what this process did, told by the engine of each event it commits.
#[derive(Clone, Default)]
struct Counters {
    grants: Family<BackendLabels, Counter>,
    revocations: Family<BackendLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
}

impl Observer for Counters {
    fn committed(&self, engine: &Engine<'_>, events: &[AuditEvent]) {
        for event in events {
            let Some(id) = event.lease_id.as_deref() else {
                continue;
            };
            let counted = [
                EventKind::Granted,
                EventKind::GrantFailed,
                EventKind::Revoked,
                EventKind::Expired,
                EventKind::RevokeFailed,
            ];
            let Some(kind) = counted.into_iter().find(|k| k.as_str() == event.kind) else {
                continue;
            };
            // The lease names its backend; one the store cannot read is counted unnamed.
            let backend = match engine.store.lease(id) {
                Ok(Some(lease)) => lease.backend,
                _ => String::new(),
            };
            let by_backend = BackendLabels {
                backend: backend.clone(),
            };
            match kind {
                EventKind::Granted => {
                    self.grants.get_or_create(&by_backend).inc();
                }
                EventKind::Revoked | EventKind::Expired => {
                    self.revocations.get_or_create(&by_backend).inc();
                }
                _ => {
                    let operation = if kind == EventKind::GrantFailed {
                        "grant"
                    } else {
                        "revoke"
                    };
                    self.failures
                        .get_or_create(&FailureLabels {
                            backend,
                            operation: operation.to_owned(),
                        })
                        .inc();
                }
            }
        }
    }
}

/// The metrics of this process, and the thread serving them.
pub struct Metrics {
    counters: Rc<Counters>,
    leases: Family<LeaseLabels, Gauge>,
    /// The (state, role) pairs set at the last refresh: those gone since are set to 0.
    shown: RefCell<BTreeSet<LeaseLabels>>,
    incomplete: Gauge,
    oldest_incomplete: FloatGauge,
    pass_duration: Histogram,
    last_pass: FloatGauge,
    shipped: Family<DestinationLabels, Gauge>,
    lag_events: Family<DestinationLabels, Gauge>,
    lag_seconds: Family<DestinationLabels, FloatGauge>,
    ship_failing: Family<DestinationLabels, Gauge>,
    queue_depth: Gauge,
    queue_oldest: FloatGauge,
    worker_up: Gauge,
}

impl Metrics {
    /// Listen on `addr` and serve `/metrics` on a thread of its own. An address that
    /// cannot be listened on is a usage error (exit 2), before anything else has started.
    pub fn serve(addr: SocketAddr, serving: Serving) -> Result<Metrics> {
        let server = tiny_http::Server::http(addr).map_err(|err| {
            crate::exit::usage(format!("--metrics {addr}: cannot listen there: {err}"))
        })?;
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry, serving);
        std::thread::Builder::new()
            .name("metrics".to_owned())
            .spawn(move || answer(&server, &registry))?;
        Ok(metrics)
    }

    fn register(registry: &mut Registry, serving: Serving) -> Metrics {
        let counters = Counters::default();
        registry.register(
            "jit_grants",
            "Grants this process carried out, by backend",
            counters.grants.clone(),
        );
        registry.register(
            "jit_revocations",
            "Revocations (and expiries) this process carried out, by backend",
            counters.revocations.clone(),
        );
        registry.register(
            "jit_failures",
            "Failed grants and revocation attempts of this process, by backend and operation",
            counters.failures.clone(),
        );
        let metrics = Metrics {
            counters: Rc::new(counters),
            leases: Family::default(),
            shown: RefCell::default(),
            incomplete: Gauge::default(),
            oldest_incomplete: FloatGauge::default(),
            pass_duration: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            last_pass: FloatGauge::default(),
            shipped: Family::default(),
            lag_events: Family::default(),
            lag_seconds: Family::default(),
            ship_failing: Family::default(),
            queue_depth: Gauge::default(),
            queue_oldest: FloatGauge::default(),
            worker_up: Gauge::default(),
        };
        registry.register(
            "jit_leases",
            "Live leases in the store, by state and role",
            metrics.leases.clone(),
        );
        registry.register(
            "jit_revocations_incomplete",
            "Leases in the store whose revocation failed and waits for its retry (revoke-failed)",
            metrics.incomplete.clone(),
        );
        registry.register(
            "jit_revocation_incomplete_oldest_age_seconds",
            "How long the oldest incomplete revocation has been failing (0: none)",
            metrics.oldest_incomplete.clone(),
        );
        registry.register(
            "jit_sweep_duration_seconds",
            "How long each pass of this process took",
            metrics.pass_duration.clone(),
        );
        registry.register(
            "jit_sweep_last_pass_timestamp_seconds",
            "When the last pass of this process ended (unix time)",
            metrics.last_pass.clone(),
        );
        registry.register(
            "jit_audit_events_shipped",
            "The last audit record a shipping destination acknowledged (its seq)",
            metrics.shipped.clone(),
        );
        registry.register(
            "jit_audit_shipping_lag_events",
            "Audit records not yet shipped to a destination",
            metrics.lag_events.clone(),
        );
        registry.register(
            "jit_audit_shipping_lag_seconds",
            "Age of the oldest audit record not yet shipped to a destination (0: caught up)",
            metrics.lag_seconds.clone(),
        );
        registry.register(
            "jit_audit_shipping_failing",
            "1 while the last attempt to ship to a destination failed",
            metrics.ship_failing.clone(),
        );
        if serving == Serving::Worker {
            registry.register(
                "jit_queue_depth",
                "Queued requests no worker has answered yet (team mode)",
                metrics.queue_depth.clone(),
            );
            registry.register(
                "jit_queue_oldest_age_seconds",
                "Age of the oldest unanswered queued request (team mode; 0: none)",
                metrics.queue_oldest.clone(),
            );
            registry.register(
                "jit_worker_up",
                "1 while this worker's last pass succeeded, 0 after a failed one (team mode)",
                metrics.worker_up.clone(),
            );
        }
        registry.register_collector(Box::new(ProcessCollector));
        metrics
    }

    /// What the engine tells of each event it commits (see [`Engine::observer`]).
    pub fn observer(&self) -> Rc<dyn Observer> {
        self.counters.clone()
    }

    /// After a pass that took `took`: read the state of the store again. A query that
    /// fails leaves its gauges as they were and is returned (the pass reports it).
    pub fn passed(&self, engine: &Engine<'_>, took: Duration) -> Result<()> {
        self.pass_duration.observe(took.as_secs_f64());
        self.last_pass.set(unix_seconds(SystemTime::now()));
        self.refresh(engine)
    }

    /// After a worker's pass that began at `started` and succeeded or not: the pass, and
    /// the queue of the team store.
    pub fn worker_passed(
        &self,
        engine: &Engine<'_>,
        store: &PgStore,
        ok: bool,
        started: Instant,
    ) -> Result<()> {
        self.worker_up.set(i64::from(ok));
        let took = started.elapsed();
        let (depth, oldest) = store.depth()?;
        self.queue_depth.set(depth);
        self.queue_oldest.set(age(oldest, engine.clock.now()));
        self.passed(engine, took)
    }

    fn refresh(&self, engine: &Engine<'_>) -> Result<()> {
        let now = engine.clock.now();
        let filter = LeaseFilter {
            states: LeaseState::LIVE.to_vec(),
            ..LeaseFilter::default()
        };
        let live = engine.store.leases(&filter)?;
        let mut counts: BTreeMap<LeaseLabels, i64> = BTreeMap::new();
        for role in engine.config.roles.keys() {
            for state in LeaseState::LIVE {
                counts.insert(labels(state, role), 0);
            }
        }
        let mut oldest: Option<DateTime<Utc>> = None;
        let mut incomplete = 0;
        for lease in &live {
            *counts.entry(labels(lease.state, &lease.role)).or_default() += 1;
            if lease.state == LeaseState::RevokeFailed {
                incomplete += 1;
                // Failing since its first revoke-failed event (a lease is revoked once).
                let since = engine
                    .store
                    .events(&EventFilter {
                        lease_id: Some(lease.id.clone()),
                        since: None,
                    })?
                    .iter()
                    .find(|e| e.kind == EventKind::RevokeFailed.as_str())
                    .and_then(AuditEvent::time);
                oldest = match (oldest, since) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        let mut shown = self.shown.borrow_mut();
        for gone in shown.iter().filter(|l| !counts.contains_key(l)) {
            self.leases.get_or_create(gone).set(0);
        }
        for (labels, count) in &counts {
            self.leases.get_or_create(labels).set(*count);
        }
        shown.extend(counts.into_keys());
        self.incomplete.set(incomplete);
        self.oldest_incomplete.set(age(oldest, now));

        let head = engine.store.last_seq()?;
        for to in &engine.config.ship {
            let checkpoint = engine.store.checkpoint(&to.name)?;
            let labels = DestinationLabels {
                destination: to.name.clone(),
            };
            let unshipped = engine.store.events_after(checkpoint.seq, 1)?;
            let since = unshipped.first().and_then(AuditEvent::time);
            self.shipped.get_or_create(&labels).set(checkpoint.seq);
            self.lag_events
                .get_or_create(&labels)
                .set((head - checkpoint.seq).max(0));
            self.lag_seconds.get_or_create(&labels).set(age(since, now));
            self.ship_failing
                .get_or_create(&labels)
                .set(i64::from(checkpoint.failed_at.is_some()));
        }
        Ok(())
    }
}

fn labels(state: LeaseState, role: &str) -> LeaseLabels {
    LeaseLabels {
        state: state.as_str().to_owned(),
        role: role.to_owned(),
    }
}

fn age(since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> f64 {
    since.map_or(0.0, |at| {
        ((now - at).num_milliseconds().max(0) as f64) / 1000.0
    })
}

fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Answer every request: the metrics on `GET /metrics`, 404 on any other path, 405 on any
/// other method.
fn answer(server: &tiny_http::Server, registry: &Registry) {
    for request in server.incoming_requests() {
        let path = request.url().split('?').next().unwrap_or_default();
        let response = if path != "/metrics" {
            tiny_http::Response::from_string("not found: the metrics are on /metrics\n")
                .with_status_code(404)
        } else if !matches!(request.method(), tiny_http::Method::Get) {
            tiny_http::Response::from_string("only GET\n").with_status_code(405)
        } else {
            let mut text = String::new();
            match prometheus_client::encoding::text::encode(&mut text, registry) {
                Ok(()) => tiny_http::Response::from_string(text).with_header(
                    tiny_http::Header::from_bytes("Content-Type", CONTENT_TYPE)
                        .expect("a valid header"),
                ),
                Err(_) => tiny_http::Response::from_string("the metrics could not be written\n")
                    .with_status_code(500),
            }
        };
        // A scraper that went away is no concern of the process.
        let _ = request.respond(response);
    }
}

/// The `process_*` metrics, read from /proc at each scrape (Linux; elsewhere none).
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::result::Result<(), std::fmt::Error> {
        let Some(process) = ProcessStat::read() else {
            return Ok(());
        };
        let counter = ConstCounter::new(process.cpu_seconds);
        counter.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            counter.metric_type(),
        )?)?;
        let gauges: [(&str, &str, f64); 5] = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                process.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                process.virtual_bytes,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                process.start_time,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                process.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors",
                process.max_fds,
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

struct ProcessStat {
    cpu_seconds: f64,
    resident_bytes: f64,
    virtual_bytes: f64,
    start_time: f64,
    open_fds: f64,
    max_fds: f64,
}

impl ProcessStat {
    fn read() -> Option<ProcessStat> {
        use nix::unistd::{SysconfVar, sysconf};
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The fields after the command name, which is in parentheses and may hold spaces:
        // fields[0] is field 3 (state) of proc_pid_stat(5).
        let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
        let field = |n: usize| -> Option<f64> { fields.get(n - 3)?.parse().ok() };
        let ticks = sysconf(SysconfVar::CLK_TCK).ok()?? as f64;
        let page = sysconf(SysconfVar::PAGE_SIZE).ok()?? as f64;
        let boot: f64 = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|line| line.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        let max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()?
            .lines()
            .find(|line| line.starts_with("Max open files"))
            .and_then(|line| line.split_whitespace().nth(3)?.parse().ok())
            .unwrap_or(0.0);
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
        Some(ProcessStat {
            cpu_seconds: (field(14)? + field(15)?) / ticks,
            virtual_bytes: field(23)?,
            resident_bytes: field(24)? * page,
            start_time: boot + field(22)? / ticks,
            open_fds,
            max_fds,
        })
    }
}
