use crate::cli::{GlobalArgs, WorkerArgs};
use crate::context::Context;
use crate::exit::Exit;
use crate::metrics::{Metrics, Serving};
use crate::store::Store;
use crate::team::worker::Worker;
use anyhow::Result;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

const NEEDS_TEAM_STORE: &str =
    "jit worker serves a team store: set [store] kind = \"postgres\" in the configuration";

/// Refuse a configuration that names no work queue before any store is opened.
pub fn check_store_kind(global: &GlobalArgs) -> Result<()> {
    crate::context::require_team_store(global, NEEDS_TEAM_STORE)
}

pub fn run(ctx: &Context, args: WorkerArgs) -> Result<Exit> {
    let store = ctx.team_store(NEEDS_TEAM_STORE)?;
    store.require_current()?;
    let metrics = (args.metrics)
        .map(|addr| Metrics::serve(addr, Serving::Worker))
        .transpose()?;
    let mut engine = ctx.engine();
    engine.observer = metrics.as_ref().map(Metrics::observer);
    let worker = Worker::new(engine, store)?;
    if args.once {
        let pass = worker.pass()?;
        ctx.printer.worked(&pass);
        return Ok(Exit::Success);
    }
    // SIGTERM (systemd's stop) and Ctrl-C end the loop between passes, never inside one.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    ctx.printer.note(&format!(
        "jit worker {} serving {}",
        ctx.engine().worker.id,
        store.location()
    ));
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let worked = match worker.pass() {
            Ok(pass) => {
                ctx.printer.worked(&pass);
                true
            }
            Err(err) => {
                ctx.printer.error(&err);
                false
            }
        };
        if let Some(metrics) = &metrics
            && let Err(err) = metrics.worker_passed(worker.engine(), store, worked, started)
        {
            ctx.printer.error(&err);
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if let Err(err) = worker.nap() {
            // The connection is gone (a failover, say): the service manager restarts us.
            ctx.printer.error(&err);
            return Ok(Exit::Runtime);
        }
    }
    Ok(Exit::Success)
}
