# Shared by the benchmark scripts: `source` it after defining ROOT, say and die.
# Installs hyperfine if missing, and sets JIT to the binary to measure: JIT_BIN, or a release
# build of the working tree into BENCH_TARGET_DIR (default <repo>/target/bench, so that an
# ongoing build in <repo>/target is not clobbered).
#
# Quick mode (JIT_BENCH_QUICK=1, set by a script's --quick): the debug build (JIT_BIN, else
# `cargo build` into the usual target directory), and hyperfine only if it is installed:
# without it every measurement runs once through scripts/bench/hyperfine_once.py.

QUICK=${JIT_BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
    echo "quick mode: every step once, tiny sizes; the figures mean nothing"
    if ! command -v hyperfine >/dev/null; then
        echo "quick mode: hyperfine is missing; each measurement runs once through scripts/bench/hyperfine_once.py"
        hyperfine() { python3 "$ROOT/scripts/bench/hyperfine_once.py" "$@"; }
    fi
elif ! command -v hyperfine >/dev/null; then
    [ "$(id -u)" = 0 ] || die "hyperfine is missing (apt-get install -y hyperfine)"
    say "installing hyperfine"
    apt-get install -y hyperfine >/dev/null 2>&1 ||
        { apt-get update >/dev/null && apt-get install -y hyperfine >/dev/null; }
fi

if [ -n "${JIT_BIN:-}" ]; then
    [ -x "$JIT_BIN" ] || die "JIT_BIN=$JIT_BIN is not executable"
    JIT=$(cd "$(dirname "$JIT_BIN")" && pwd)/$(basename "$JIT_BIN")
elif [ "$QUICK" = 1 ]; then
    say "building jit (debug)"
    (cd "$ROOT" && cargo build --quiet)
    JIT="${CARGO_TARGET_DIR:-$ROOT/target}/debug/jit"
else
    TARGET_DIR=${BENCH_TARGET_DIR:-$ROOT/target/bench}
    say "building jit (release) into $TARGET_DIR"
    # The build is of the working tree as it is now, uncommitted changes included.
    if command -v git >/dev/null && git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
        echo "source: $(git -C "$ROOT" log -1 --format='%h %s' | cut -c1-72)$(git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' + uncommitted changes in src/ or Cargo.*')"
    fi
    (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET_DIR" cargo build --release --quiet)
    JIT="$TARGET_DIR/release/jit"
fi
