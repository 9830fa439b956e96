#!/usr/bin/env bash
# What `jit mcp` costs an agent, and what it costs every other command. Run from the
# repository root:
#
#     scripts/bench-mcp.sh [--quick]
#
# One role on the no-op command backend that needs no approval, open to agents with
# `agent = { approvals = { required = 0 } }`, so that what is timed is jit itself.
#
# Measured:
# 1. `jit mcp` start-up: from starting the process to its answer to `initialize` (median of
#    BENCH_RUNS starts; scripts/bench/mcp_timing.py speaks the protocol itself, so no client
#    library is timed);
# 2. `request_access` on that role in a running session, to its result (median), against
#    `jit request` of the same role from the shell (hyperfine median). Target: within 1.2x.
# 3. the start-up of `jit --version` and `jit list` (an empty store), this build against the
#    baseline, a build without the MCP server's dependencies (hyperfine medians; ratio
#    after/before). Target: unchanged. The baseline is JIT_BASELINE_BIN, or else a release
#    build of the commit before rmcp entered Cargo.toml (BENCH_BASELINE_REV to choose
#    another) into target/bench-baseline.
#
# --quick (or JIT_BENCH_QUICK=1): a few runs of the debug build, the build itself as its own
# baseline (tests/it/benchmarks.rs runs it so, to keep the script working; its figures mean
# nothing).
#
# Environment: JIT_BIN, BENCH_TARGET_DIR (see scripts/bench/common.sh), BENCH_RUNS (default
# 30), BENCH_WARMUP (3), JIT_BASELINE_BIN, BENCH_BASELINE_REV, BENCH_STRICT=1 (exit 1 when a
# target is missed).
set -euo pipefail

say() { printf '\n== %s\n' "$*"; }
die() { printf 'bench-mcp: %s\n' "$*" >&2; exit 1; }

case "${1:-}" in --quick) export JIT_BENCH_QUICK=1 ;; "") ;; *) echo "usage: $0 [--quick]" >&2 && exit 2 ;; esac
if [ "${JIT_BENCH_QUICK:-0}" = 1 ]; then
    : "${BENCH_RUNS:=2}" "${BENCH_WARMUP:=0}"
fi
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPERS="$ROOT/scripts/bench"
RUNS=${BENCH_RUNS:-30}
WARMUP=${BENCH_WARMUP:-3}

command -v python3 >/dev/null || die "python3 is required"
# shellcheck source=scripts/bench/common.sh
source "$ROOT/scripts/bench/common.sh"
"$JIT" --version >/dev/null || die "$JIT does not run"
echo "jit: $JIT ($("$JIT" --version))"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every number)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/jit-bench-mcp.XXXXXX")
cleanup() {
    if [ -d "$WORK/baseline-src" ]; then git -C "$ROOT" worktree remove --force "$WORK/baseline-src" || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the baseline --------------------------------------------------------------------------
if [ -z "${JIT_BASELINE_BIN:-}" ] && [ "$QUICK" = 1 ]; then
    JIT_BASELINE_BIN=$JIT
    echo "baseline: this build itself (quick mode)"
elif [ -z "${JIT_BASELINE_BIN:-}" ]; then
    REV=${BENCH_BASELINE_REV:-}
    if [ -z "$REV" ]; then
        FIRST=$(git -C "$ROOT" log --format=%H -S'rmcp' -- Cargo.toml | tail -n 1)
        [ -n "$FIRST" ] || die "no commit adds rmcp to Cargo.toml; set JIT_BASELINE_BIN or BENCH_BASELINE_REV"
        REV="$FIRST^"
    fi
    say "building the baseline (release) of $(git -C "$ROOT" log -1 --format='%h %s' "$REV" | cut -c1-72)"
    git -C "$ROOT" worktree add --quiet --detach "$WORK/baseline-src" "$REV"
    (cd "$WORK/baseline-src" && CARGO_TARGET_DIR="$ROOT/target/bench-baseline" cargo build --release --quiet)
    JIT_BASELINE_BIN="$ROOT/target/bench-baseline/release/jit"
fi
[ -x "$JIT_BASELINE_BIN" ] || die "JIT_BASELINE_BIN=$JIT_BASELINE_BIN is not executable"
echo "baseline: $JIT_BASELINE_BIN ($("$JIT_BASELINE_BIN" --version))"

# ---- the sandbox ----------------------------------------------------------------------------
mkdir -p "$WORK/results" "$WORK/xdg/config" "$WORK/xdg/state" "$WORK/xdg/data" "$WORK/xdg/cache"
export XDG_CONFIG_HOME="$WORK/xdg/config" XDG_STATE_HOME="$WORK/xdg/state"
export XDG_DATA_HOME="$WORK/xdg/data" XDG_CACHE_HOME="$WORK/xdg/cache"
export JIT_CONFIG="$WORK/config.toml"
export JIT_STATE_DIR="$WORK/state"
export NO_COLOR=1
unset SUDO_USER
RESULTS="$WORK/results"

NOOP="$WORK/noop"
printf '#!/bin/sh\ncat >/dev/null\necho %s\n' "'{\"v\":1,\"ok\":true}'" >"$NOOP"
chmod 755 "$NOOP"
ME=$(id -un)
{
    printf '[targets.noop]\nbackend = "command"\nprogram = "%s"\n\n' "$NOOP"
    printf '[roles.fast]\ntarget = "noop"\nmax_ttl = "1h"\n'
    printf 'agent = { max_ttl = "15m", approvals = { required = 0 } }\n\n'
    printf '[[eligibility]]\nsubjects = ["user:%s"]\nroles = ["fast"]\n' "$ME"
} >"$JIT_CONFIG"
# The baseline knows no `agent` table: it reads the same file without it.
grep -v '^agent = ' "$JIT_CONFIG" >"$WORK/config-baseline.toml"
"$JIT" config check >/dev/null || die "jit refuses the benchmark configuration"
JIT_CONFIG="$WORK/config-baseline.toml" "$JIT_BASELINE_BIN" config check >/dev/null ||
    die "the baseline refuses the benchmark configuration"

hf() {
    local name=$1
    shift
    hyperfine --style basic --warmup "$WARMUP" --export-json "$RESULTS/$name.json" "$@"
}
med() { python3 "$HELPERS/median.py" "$RESULTS/$1.json" "${2:-0}"; }
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
le() { awk "BEGIN { exit !($1 <= $2) }"; }
median_of() {
    python3 -c 'import json, statistics, sys; print(f"{statistics.median(json.load(open(sys.argv[1]))[sys.argv[2]]):.3f}")' "$@"
}

# ---- 3 first, on empty stores: the start-up of other commands, before and after --------------
# A few milliseconds each: five times the runs, so that the machine's noise averages out;
# both builds are started the same way (through env, each with its own store).
say "1. start-up of jit --version and jit list, this build and the baseline"
STARTS=$((RUNS * 5))
WARMUP=$((WARMUP * 3)) hf version -N --runs "$STARTS" "$JIT --version" "$JIT_BASELINE_BIN --version"
"$JIT" list >/dev/null
JIT_STATE_DIR="$WORK/state-baseline" JIT_CONFIG="$WORK/config-baseline.toml" "$JIT_BASELINE_BIN" list >/dev/null
WARMUP=$((WARMUP * 3)) hf list -N --runs "$STARTS" \
    "env JIT_STATE_DIR=$JIT_STATE_DIR JIT_CONFIG=$JIT_CONFIG $JIT list" \
    "env JIT_STATE_DIR=$WORK/state-baseline JIT_CONFIG=$WORK/config-baseline.toml $JIT_BASELINE_BIN list"

# ---- 1 and 2: jit mcp ---------------------------------------------------------------------------
say "2. jit mcp: start-up to the initialize answer, and request_access ($RUNS each)"
python3 "$HELPERS/mcp_timing.py" "$JIT" fast "$RUNS" "$RESULTS/mcp.json"
LIVE=$("$JIT" list --json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
[ "$LIVE" = 0 ] || die "$LIVE leases are still live after the MCP session dropped them"

say "3. jit request of the same role from the shell"
hf request -N --runs "$RUNS" "$JIT request --role fast --ttl 5m --reason benchmark"
"$JIT" revoke --mine >/dev/null

# ---- summary --------------------------------------------------------------------------------------
say "summary (medians, ms)"
STARTUP=$(median_of "$RESULTS/mcp.json" startup_ms)
MCP_REQ=$(median_of "$RESULTS/mcp.json" request_ms)
CLI_REQ=$(med request 0)
RATIO=$(calc "$MCP_REQ / $CLI_REQ")
V_NEW=$(med version 0) V_OLD=$(med version 1)
L_NEW=$(med list 0) L_OLD=$(med list 1)
echo "jit mcp start-up to the initialize answer: $STARTUP ms"
echo "request_access (no approval, running session): $MCP_REQ ms"
echo "jit request (same role, from the shell): $CLI_REQ ms"
echo "ratio request_access/jit request: ${RATIO}x (target <= 1.2: $(if le "$RATIO" 1.2; then echo PASS; else echo FAIL; fi))"
echo "jit --version: $V_NEW ms, baseline $V_OLD ms; ratio after/before: $(calc "$V_NEW / $V_OLD")x"
echo "jit list (empty store): $L_NEW ms, baseline $L_OLD ms; ratio after/before: $(calc "$L_NEW / $L_OLD")x"

if [ "${BENCH_STRICT:-0}" = 1 ] && ! le "$RATIO" 1.2; then
    exit 1
fi
