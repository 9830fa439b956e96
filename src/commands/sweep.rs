use crate::cli::SweepArgs;
use crate::context::Context;
use crate::exit::Exit;
use crate::metrics::{Metrics, Serving};
use crate::shipping;
use anyhow::Result;
use std::time::{Duration, Instant};

/// The longest `--watch` sleeps, so that leases created meanwhile are seen.
const POLL: Duration = Duration::from_secs(5);

pub fn run(ctx: &Context, args: SweepArgs) -> Result<Exit> {
    let metrics = (args.metrics)
        .map(|addr| Metrics::serve(addr, Serving::Sweeper))
        .transpose()?;
    let mut engine = ctx.engine();
    engine.observer = metrics.as_ref().map(Metrics::observer);
    if !args.watch {
        let mut report = pass(ctx, &engine)?;
        report.waiting = engine.waiting_revocations()?;
        rechecked(ctx, &report);
        ctx.printer.sweep(&report);
        return Ok(if !report.errors.is_empty() {
            Exit::Runtime
        } else if report.incomplete() > 0 {
            Exit::RevokeIncomplete
        } else {
            Exit::Success
        });
    }
    loop {
        let started = Instant::now();
        match pass(ctx, &engine) {
            Ok(report) => {
                rechecked(ctx, &report);
                ctx.printer.sweep(&report);
            }
            Err(err) => ctx.printer.error(&err),
        }
        engine.announce();
        // The sweeper ships every pass, what it appended and what other processes did, and
        // catches up after an outage (once the pause after a failure is over).
        if let Err(err) = shipping::ship(
            &ctx.config.ship,
            ctx.store(),
            ctx.clock,
            shipping::Mode::Alongside,
        ) {
            ctx.printer.error(&err);
        }
        if let Some(metrics) = &metrics
            && let Err(err) = metrics.passed(&engine, started.elapsed())
        {
            ctx.printer.error(&err);
        }
        let now = ctx.clock.now();
        let nap = match ctx.store().next_due() {
            Ok(Some(next)) => (next - now).to_std().unwrap_or_default().min(POLL),
            _ => POLL,
        };
        std::thread::sleep(nap.max(Duration::from_millis(200)));
    }
}

/// One pass, with a bar of the leases due at a terminal.
fn pass(ctx: &Context, engine: &crate::engine::Engine<'_>) -> Result<crate::engine::SweepReport> {
    let mut bar = ctx.printer.steps("sweeping due leases");
    engine.sweep_counted(&mut |done, total| bar.step(done, total))
}

/// With `-v`: what the re-evaluation of live leases looked at, and how long it took.
fn rechecked(ctx: &Context, report: &crate::engine::SweepReport) {
    if let Some(r) = report.rechecked {
        ctx.printer.debug(&format!(
            "checked {} live lease(s) of {} subject(s) against the rules in {:.3} ms",
            r.leases,
            r.subjects,
            r.elapsed.as_secs_f64() * 1000.0
        ));
    }
}
