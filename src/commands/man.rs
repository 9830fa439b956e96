use crate::cli::{Cli, GlobalArgs};
use crate::exit::Exit;
use crate::output::Printer;
use anyhow::Result;
use clap::CommandFactory;

pub fn run(global: &GlobalArgs) -> Result<Exit> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    Printer::new(global.json, global.quiet, global.verbose).raw(&out);
    Ok(Exit::Success)
}
