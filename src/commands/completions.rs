use crate::cli::{Cli, CompletionsArgs, GlobalArgs};
use crate::exit::Exit;
use crate::output::Printer;
use anyhow::Result;
use clap::CommandFactory;

pub fn run(global: &GlobalArgs, args: CompletionsArgs) -> Result<Exit> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "jit", &mut out);
    Printer::new(global.json, global.quiet, global.verbose).raw(&out);
    Ok(Exit::Success)
}
