use crate::cli::{ConfigArgs, ConfigCommand, GlobalArgs};
use crate::context::{Context, config_path};
use crate::exit::Exit;
use crate::output::Printer;
use anyhow::Result;

pub fn run(global: &GlobalArgs, args: ConfigArgs) -> Result<Exit> {
    match args.command {
        ConfigCommand::Check(check) if check.live => {
            let path = config_path(global)?;
            let ctx = Context::load(global)?;
            let plan = ctx.engine().recheck_plan()?;
            ctx.printer
                .live_check(&path.display().to_string(), &ctx.config, &plan);
            Ok(if plan.errors.is_empty() {
                Exit::Success
            } else {
                Exit::Runtime
            })
        }
        ConfigCommand::Schema => {
            Printer::new(global.json, global.quiet, global.verbose)
                .raw(crate::config::schema::SCHEMA.as_bytes());
            Ok(Exit::Success)
        }
        ConfigCommand::Check(_) => {
            let path = config_path(global)?;
            let config = crate::config::load(&path)?;
            Printer::new(global.json, global.quiet, global.verbose).config_ok(
                &path.display().to_string(),
                config.targets.len(),
                config.roles.len(),
                config.eligibility.len(),
            );
            Ok(Exit::Success)
        }
    }
}
