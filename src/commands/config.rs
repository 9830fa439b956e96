use crate::cli::{ConfigArgs, ConfigCommand, GlobalArgs};
use crate::context::config_path;
use crate::exit::Exit;
use crate::output::Printer;
use anyhow::Result;

pub fn run(global: &GlobalArgs, args: ConfigArgs) -> Result<Exit> {
    match args.command {
        ConfigCommand::Check => {
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
