# Shared by the benchmark scripts: `source` it after defining ROOT, say and die.
# Installs hyperfine if missing, and sets JIT to the binary to measure: JIT_BIN, or a release
# build of the working tree into BENCH_TARGET_DIR (default <repo>/target/bench, so that an
# ongoing build in <repo>/target is not clobbered).

if ! command -v hyperfine >/dev/null; then
    [ "$(id -u)" = 0 ] || die "hyperfine is missing (apt-get install -y hyperfine)"
    say "installing hyperfine"
    apt-get install -y hyperfine >/dev/null 2>&1 ||
        { apt-get update >/dev/null && apt-get install -y hyperfine >/dev/null; }
fi

if [ -n "${JIT_BIN:-}" ]; then
    [ -x "$JIT_BIN" ] || die "JIT_BIN=$JIT_BIN is not executable"
    JIT=$(cd "$(dirname "$JIT_BIN")" && pwd)/$(basename "$JIT_BIN")
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
