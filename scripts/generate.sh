#!/usr/bin/env bash
# Regenerate the checked-in shell completions and man page from the CLI definition.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
jit=target/debug/jit
"$jit" completions bash > completions/jit.bash
"$jit" completions zsh > completions/_jit
"$jit" completions fish > completions/jit.fish
"$jit" completions powershell > completions/_jit.ps1
"$jit" completions elvish > completions/jit.elv
"$jit" man > docs/jit.1
echo "regenerated completions/ and docs/jit.1"
