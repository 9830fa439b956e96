//! `jit init`: a starter configuration (see [`crate::backend::starter`]), so that a first
//! `jit request` works on a fresh machine.

use crate::cli::{GlobalArgs, InitArgs};
use crate::context::config_path;
use crate::exit::{self, Exit};
use crate::identity::Identity;
use crate::output::Printer;
use anyhow::{Context as _, Result};
use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

pub fn run(global: &GlobalArgs, args: InitArgs) -> Result<Exit> {
    let printer = Printer::new(global.json, global.quiet, global.verbose);
    let path = config_path(global)?;
    if path.exists() && !args.force {
        return Err(exit::usage(format!(
            "{} exists; jit init does not overwrite a configuration (--force replaces it)",
            path.display()
        )));
    }
    // Replaced, never written through: a link there would send the file elsewhere.
    if std::fs::symlink_metadata(&path).is_ok_and(|meta| meta.file_type().is_symlink()) {
        anyhow::bail!("refusing {}: it is a symbolic link", path.display());
    }
    let who = Identity::current(None)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let text = crate::backend::starter::write(&path, dir, &who, args.force)?;
    // Validate what was written, so that a bad starter never goes unnoticed.
    crate::config::load(&path)?;
    printer.done(&text);
    Ok(Exit::Success)
}
