use crate::cli::DiscoverArgs;
use crate::context::Context;
use crate::engine::discover::Filter;
use crate::exit::Exit;
use anyhow::Result;

pub fn run(ctx: &Context, args: DiscoverArgs) -> Result<Exit> {
    let filter = Filter {
        target: args.target,
        kind: args.kind,
    };
    let engine = ctx.engine();
    if let Some(id) = args.adopt {
        let adopted = engine.adopt(&id, &filter)?;
        ctx.printer.adopted(&adopted);
        return Ok(Exit::Success);
    }
    let report = {
        let mut bar = ctx.printer.steps("asking targets");
        engine.discover_counted(&filter, &mut |done, total| bar.step(done, total))?
    };
    ctx.printer.discovery(&report);
    Ok(if !report.errors.is_empty() {
        Exit::Runtime
    } else if args.fail && !report.findings.is_empty() {
        Exit::Findings
    } else {
        Exit::Success
    })
}
