#!/usr/bin/env bash
# Benchmark of `jit review --format html` over a large store, with hyperfine. From the
# repository root:
#
#     scripts/bench-review.sh [--quick]
#
# --quick (or JIT_BENCH_QUICK=1): every step once on tiny sizes, with the debug build and
# without hyperfine if it is missing (scripts/bench/common.sh). Its figures mean nothing.
#
# Environment: JIT_BIN, BENCH_TARGET_DIR (see scripts/bench/common.sh), BENCH_RUNS (default
# 10), BENCH_WARMUP (default 2), BENCH_REVIEW_LEASES (default 20000), BENCH_REVIEW_EVENTS
# (default 100000), BENCH_STRICT=1 to exit 1 when a target is missed.
#
# The store is written directly (scripts/bench/mkreview.py: jit's schema, a valid hash
# chain computed as src/audit.rs does), since making 20,000 leases through jit would take
# far longer than the measurement. Measured: `jit review --format html --output FILE` (the
# whole review: every lease, the chain verified, `jit discover` on the one command target),
# and the size of the page. Targets: under 1 s, under 5 MB. The time the page takes to
# load in a browser is measured by tests/it/review.rs in headless Chromium.
set -euo pipefail

case "${1:-}" in --quick) export JIT_BENCH_QUICK=1 ;; "") ;; *) echo "usage: $0 [--quick]" >&2 && exit 2 ;; esac
if [ "${JIT_BENCH_QUICK:-0}" = 1 ]; then
    : "${BENCH_RUNS:=1}" "${BENCH_WARMUP:=0}" "${BENCH_REVIEW_LEASES:=200}" "${BENCH_REVIEW_EVENTS:=1000}"
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPERS="$ROOT/scripts/bench"
RUNS=${BENCH_RUNS:-10}
WARMUP=${BENCH_WARMUP:-2}
LEASES=${BENCH_REVIEW_LEASES:-20000}
EVENTS=${BENCH_REVIEW_EVENTS:-100000}

say() { printf '\n== %s\n' "$*"; }
die() { printf 'bench-review: %s\n' "$*" >&2; exit 1; }

command -v python3 >/dev/null || die "python3 is required"
# shellcheck source=scripts/bench/common.sh
source "$ROOT/scripts/bench/common.sh"
"$JIT" --version >/dev/null || die "$JIT does not run"
echo "jit: $JIT ($("$JIT" --version))"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every number)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/jit-bench-review.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ME=$(id -un)
export JIT_CONFIG="$WORK/config.toml" JIT_STATE_DIR="$WORK/state" NO_COLOR=1
{
    printf '[identity]\nservice_account = "%s"\n\n' "$ME"
    printf '[targets.noop]\nbackend = "command"\nprogram = "%s"\nargs = ["%s"]\n\n' \
        "$ROOT/examples/backends/grant-file" "$WORK/grants.json"
    for i in $(seq 0 19); do printf '[roles.role-%s]\ntarget = "noop"\nmax_ttl = "8h"\n\n' "$i"; done
    printf '[[eligibility]]\nsubjects = ['
    for i in $(seq 0 49); do printf '"user:user%s", ' "$i"; done
    printf '"user:%s"]\nroles = ["*"]\nmax_ttl = "8h"\n' "$ME"
} >"$JIT_CONFIG"

say "making a store of $LEASES leases and $EVENTS audit events"
python3 "$HELPERS/mkreview.py" "$JIT_STATE_DIR/jit.db" "$LEASES" "$EVENTS" "$ME"
"$JIT" audit verify >/dev/null || die "the benchmark store's audit chain does not verify"

say "jit review --format html"
PAGE="$WORK/review.html"
hyperfine --style basic -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$WORK/review.json" \
    "$JIT review --format html --output $PAGE"
MS=$(python3 "$HELPERS/median.py" "$WORK/review.json" 0)
BYTES=$(stat -c %s "$PAGE")
BARS=$(grep -o '<rect class="bar' "$PAGE" | wc -l)
[ "$BARS" -eq "$LEASES" ] || die "the page has $BARS timeline bars for $LEASES leases"

printf '\n'
printf 'jit review --format html median: %s ms (%s events, %s leases; target under 1000)\n' "$MS" "$EVENTS" "$LEASES"
printf 'review HTML size: %s bytes (%s MB; target under 5)\n' "$BYTES" "$(awk "BEGIN { printf \"%.2f\", $BYTES / 1048576 }")"
if [ "${BENCH_STRICT:-0}" = 1 ] && [ "${JIT_BENCH_QUICK:-0}" != 1 ]; then
    awk "BEGIN { exit !($MS < 1000 && $BYTES < 5 * 1048576) }" || die "a target was missed"
fi
