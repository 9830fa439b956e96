use crate::cli::{AuditArgs, AuditCommand, ExportArgs, ExportFormat};
use crate::context::Context;
use crate::exit::{self, Exit};
use crate::ocsf::{self, LeaseFacts};
use crate::store::{EventFilter, LeaseFilter};
use anyhow::{Context as _, Result};
use std::collections::HashMap;
use std::io::Write;

pub fn run(ctx: &Context, args: AuditArgs) -> Result<Exit> {
    match args.command {
        Some(AuditCommand::Verify(verify)) => {
            let outcome = ctx.store().verify(verify.checkpoint.clone())?;
            ctx.printer.verified(&outcome, verify.checkpoint.as_ref());
            Ok(if outcome.is_ok() {
                Exit::Success
            } else {
                Exit::Runtime
            })
        }
        Some(AuditCommand::Export(export)) => run_export(ctx, &export),
        Some(AuditCommand::Ship) => {
            if ctx.config.ship.is_empty() {
                return Err(exit::config(format!(
                    "{}: no [[audit.ship]] destinations are configured",
                    ctx.config.path.display()
                )));
            }
            let shipped = crate::shipping::ship(
                &ctx.config.ship,
                ctx.store(),
                ctx.clock,
                crate::shipping::Mode::CatchUp,
            )?;
            ctx.printer.shipped(&shipped, ctx.store().last_seq()?);
            Ok(if shipped.iter().all(|s| s.error.is_none()) {
                Exit::Success
            } else {
                Exit::Runtime
            })
        }
        None => {
            if let Some(id) = &args.lease {
                ctx.engine().lease(id)?;
            }
            let since = args
                .since
                .as_deref()
                .map(|text| super::time_arg("--since", text, ctx.clock.now()))
                .transpose()?;
            let events = ctx.store().events(&EventFilter {
                lease_id: args.lease,
                since,
            })?;
            ctx.printer.events(&events);
            Ok(Exit::Success)
        }
    }
}

fn run_export(ctx: &Context, args: &ExportArgs) -> Result<Exit> {
    if args.output.is_some() && ctx.identity.delegated() {
        return Err(exit::usage(
            "--output is refused under sudo delegation; redirect standard output instead",
        ));
    }
    let sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::with_capacity(
            1 << 16,
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(ctx.printer.stream()),
    };
    let mut count = 0u64;
    match args.format {
        ExportFormat::Jsonl => {
            let mut sink = sink;
            ctx.store().each_event(&mut |event| {
                serde_json::to_writer(&mut sink, event)?;
                sink.write_all(b"\n")?;
                count += 1;
                Ok(())
            })?;
            sink.flush()?;
        }
        ExportFormat::Csv => {
            let mut writer = csv::Writer::from_writer(sink);
            writer.write_record([
                "seq",
                "at",
                "actor",
                "lease_id",
                "kind",
                "details",
                "prev_hash",
                "hash",
            ])?;
            ctx.store().each_event(&mut |event| {
                writer.write_record([
                    event.seq.to_string().as_str(),
                    &event.at,
                    &event.actor,
                    event.lease_id.as_deref().unwrap_or(""),
                    &event.kind,
                    &event.details.to_string(),
                    &event.prev_hash,
                    &event.hash,
                ])?;
                count += 1;
                Ok(())
            })?;
            writer.flush()?;
        }
        ExportFormat::Ocsf => {
            let mut sink = sink;
            let leases: HashMap<String, LeaseFacts> = ctx
                .store()
                .leases(&LeaseFilter::default())?
                .into_iter()
                .map(|lease| (lease.id.clone(), LeaseFacts::of(&lease)))
                .collect();
            ctx.store().each_event(&mut |event| {
                let lease = event.lease_id.as_ref().and_then(|id| leases.get(id));
                let record = ocsf::record(event, lease, env!("CARGO_PKG_VERSION"))?;
                serde_json::to_writer(&mut sink, &record)?;
                sink.write_all(b"\n")?;
                count += 1;
                Ok(())
            })?;
            sink.flush()?;
        }
    }
    if let Some(path) = &args.output {
        ctx.printer
            .note(&format!("{count} events written to {}", path.display()));
    }
    Ok(Exit::Success)
}
