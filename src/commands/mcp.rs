//! `jit mcp`: serve the Model Context Protocol on stdio (see [`crate::mcp`]).

use crate::cli::GlobalArgs;
use crate::exit::Exit;
use anyhow::Result;

pub fn run(global: GlobalArgs) -> Result<Exit> {
    crate::mcp::serve(global)
}
