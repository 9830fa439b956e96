//! The checked-in completions and man page are what the CLI generates now.
//! Refresh them with `scripts/generate.sh`.

use crate::harness::*;
use std::path::Path;

fn compare(args: &[&str], file: &str) {
    let fresh = std::process::Command::new(JIT).args(args).output().unwrap();
    assert!(fresh.status.success());
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == fresh.stdout,
        "{file} is stale: run scripts/generate.sh and commit the result"
    );
}

#[test]
fn completions_are_current() {
    for (shell, file) in [
        ("bash", "completions/jit.bash"),
        ("zsh", "completions/_jit"),
        ("fish", "completions/jit.fish"),
        ("powershell", "completions/_jit.ps1"),
        ("elvish", "completions/jit.elv"),
    ] {
        compare(&["completions", shell], file);
    }
}

#[test]
fn man_page_is_current() {
    compare(&["man"], "docs/jit.1");
}
