use crate::cli::{ReviewArgs, ReviewCommand, ReviewFormat};
use crate::context::Context;
use crate::engine::discover::Filter;
use crate::exit::{self, Exit};
use crate::review::{Scope, Sources};
use anyhow::{Context as _, Result};
use std::io::Write;

pub fn run(ctx: &Context, args: ReviewArgs) -> Result<Exit> {
    match args.command {
        Some(ReviewCommand::Certify(args)) => super::certify::certify(ctx, args),
        Some(ReviewCommand::RevokeEligibility(args)) => {
            super::certify::revoke_eligibility(ctx, args)
        }
        None => report(ctx, args),
    }
}

fn report(ctx: &Context, args: ReviewArgs) -> Result<Exit> {
    let format = match (args.format, ctx.printer.json) {
        (Some(format), _) => format,
        (None, true) => ReviewFormat::Json,
        (None, false) => {
            return Err(exit::usage(
                "jit review: name the report's format: --format html, csv or json",
            ));
        }
    };
    if args.output.is_some() && ctx.identity.delegated() {
        return Err(exit::usage(
            "--output is refused under sudo delegation; redirect standard output instead",
        ));
    }
    let now = ctx.clock.now();
    let scope = Scope {
        since: args
            .since
            .as_deref()
            .map(|t| super::time_arg("--since", t, now))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|t| super::time_arg("--until", t, now))
            .transpose()?,
        role: args.role,
        subject: args.subject,
    };
    if let (Some(since), Some(until)) = (scope.since, scope.until)
        && since > until
    {
        return Err(exit::usage("--since is after --until"));
    }
    if let Some(role) = &scope.role
        && !ctx.config.roles.contains_key(role)
    {
        return Err(exit::usage(format!(
            "unknown role {}",
            crate::text::quoted(role)
        )));
    }
    let engine = ctx.engine();
    let discovered = {
        // Asking every target is the slow part of a review.
        let mut bar = ctx.printer.steps("asking targets");
        engine
            .discover_counted(&Filter::default(), &mut |done, total| bar.step(done, total))
            .map_err(|err| format!("{err:#}"))
    };
    let review = crate::review::build(
        Sources {
            config: &ctx.config,
            store: ctx.store(),
            now,
            discovered,
        },
        &scope,
    )?;
    let sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::with_capacity(
            1 << 16,
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(ctx.printer.stream()),
    };
    match format {
        ReviewFormat::Json => {
            let mut sink = sink;
            serde_json::to_writer(&mut sink, &review)?;
            sink.write_all(b"\n")?;
            sink.flush()?;
        }
        ReviewFormat::Csv => crate::review::write_csv(&review, sink)?,
        ReviewFormat::Html => crate::review::write_html(&review, sink)?,
    }
    if let Some(path) = &args.output {
        ctx.printer.note(&format!(
            "review of {} leases written to {}",
            review.leases.len(),
            path.display()
        ));
    }
    Ok(Exit::Success)
}
