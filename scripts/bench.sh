#!/usr/bin/env bash
# Benchmarks for jit, with hyperfine. Run from the repository root:
#
#     scripts/bench.sh [--quick]
#
# --quick (or JIT_BENCH_QUICK=1): every step once on tiny sizes (50 leases, 300 events),
# with the debug build and without hyperfine if it is missing (scripts/bench/common.sh); the
# test suite runs it so (tests/it/benchmarks.rs) to keep the script working. Its figures
# mean nothing.
#
# Environment:
#   JIT_BIN        a prebuilt jit binary to measure (default: build one with
#                  CARGO_TARGET_DIR=$BENCH_TARGET_DIR cargo build --release)
#   BENCH_TARGET_DIR  target dir of that build (default: <repo>/target/bench, so an ongoing
#                  build in <repo>/target is not clobbered)
#   BENCH_RUNS     timed runs per measurement (default 20; --version uses 3x that)
#   BENCH_WARMUP   warm-up runs per measurement (default 3)
#   BENCH_LEASES   leases in the `jit list` store (default 10000)
#   BENCH_EVENTS   events in the `jit audit verify` chain (default 100000)
#   BENCH_STRICT   1: exit 1 when a target is missed (default: report only)
#
# Everything (configuration, stores, the no-op backend) lives in a mktemp -d directory
# that is removed on exit; JIT_CONFIG, JIT_STATE_DIR and XDG_* point there, so the user's
# real configuration and state are never read or written.
set -euo pipefail

say() { printf '\n== %s\n' "$*"; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

case "${1:-}" in --quick) export JIT_BENCH_QUICK=1 ;; "") ;; *) echo "usage: $0 [--quick]" >&2 && exit 2 ;; esac
if [ "${JIT_BENCH_QUICK:-0}" = 1 ]; then
    : "${BENCH_RUNS:=1}" "${BENCH_WARMUP:=0}" "${BENCH_LEASES:=50}" "${BENCH_LIVE:=10}" "${BENCH_EVENTS:=300}"
fi
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPERS="$ROOT/scripts/bench"
RUNS=${BENCH_RUNS:-20}
WARMUP=${BENCH_WARMUP:-3}
LEASES=${BENCH_LEASES:-10000}
EVENTS=${BENCH_EVENTS:-100000}

# ---- tools -------------------------------------------------------------------------------
command -v python3 >/dev/null || die "python3 is required"
command -v sha256sum >/dev/null || die "sha256sum is required"
# hyperfine, and the binary to measure (JIT).
# shellcheck source=scripts/bench/common.sh
source "$ROOT/scripts/bench/common.sh"
"$JIT" --version >/dev/null || die "$JIT does not run"
echo "jit: $JIT ($("$JIT" --version))"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every number)"

# ---- the sandbox -------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/jit-bench.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK/results" "$WORK/xdg/config" "$WORK/xdg/state" "$WORK/xdg/data" "$WORK/xdg/cache"
export XDG_CONFIG_HOME="$WORK/xdg/config" XDG_STATE_HOME="$WORK/xdg/state"
export XDG_DATA_HOME="$WORK/xdg/data" XDG_CACHE_HOME="$WORK/xdg/cache"
export JIT_CONFIG="$WORK/config.toml"
export JIT_STATE_DIR="$WORK/state-empty"   # each measurement sets its own below
export NO_COLOR=1
unset SUDO_USER
ME=$(id -un)
RESULTS="$WORK/results"
SUMMARY="$WORK/summary.tsv"
: >"$SUMMARY"

# The no-op command backend: reads its request, answers ok.
NOOP="$WORK/noop"
cat >"$NOOP" <<'EOF'
#!/bin/sh
cat >/dev/null
echo '{"v":1,"ok":true}'
EOF
chmod 755 "$NOOP"

cat >"$JIT_CONFIG" <<EOF
[targets.noop]
backend = "command"
program = "$NOOP"

[roles.bench]
target = "noop"
max_ttl = "1h"

[[eligibility]]
subjects = ["user:$ME"]
roles = ["*"]
EOF
"$JIT" config check >/dev/null || die "the benchmark configuration is invalid"

# A request as jit sends it, for running the no-op program by hand.
REQ="$WORK/req.json"
printf '%s' '{"handle":null,"lease":{"expires_at":"2030-01-01T00:00:00Z","id":"abcdefghij","reason":null,"requester":"'"$ME"'","role":"bench","subject":"'"$ME"'","ticket":null},"op":"grant","params":{},"target":"noop","v":1}' >"$REQ"

# hf NAME [hyperfine options and commands...]: run hyperfine, keep its JSON as NAME.
hf() {
    local name=$1
    shift
    hyperfine --style basic --warmup "$WARMUP" --export-json "$RESULTS/$name.json" "$@"
}
# med NAME [INDEX]: the median, in ms, of a result kept by hf.
med() { python3 "$HELPERS/median.py" "$RESULTS/$1.json" "${2:-0}"; }
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
lt() { awk "BEGIN { exit !($1 < $2) }"; }
# row MEASUREMENT MEDIAN BASELINE-NAME BASELINE-MEDIAN TARGET VERDICT
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$SUMMARY"; }
verdict() { if "$@"; then echo PASS; else echo FAIL; fi; }

# ---- 1. jit --version --------------------------------------------------------------------
say "1. jit --version (process start-up), against /bin/true"
hf version -N --runs $((RUNS * 3)) "$JIT --version" "/bin/true"
V=$(med version 0)
TRUE_MS=$(med version 1)
row "jit --version" "$V" "/bin/true" "$TRUE_MS" "-" "info"

# ---- 2. jit list --json on a store holding 10,000 leases ---------------------------------
# Two stores: a realistic one (LIVE leases active, the rest history), where `jit list`
# shows the live ones, and the worst case, where all 10,000 are live and listed.
LIVE=${BENCH_LIVE:-100}
say "2a. jit list --json on a store of $LEASES leases, $LIVE of them live"
export JIT_STATE_DIR="$WORK/state-history"
python3 "$HELPERS/mkstore.py" leases "$JIT_STATE_DIR/jit.db" "$LEASES" "$ME" "$LIVE"
# The stored lease documents (what `list --json` prints) are what jit builds from the
# columns (what `show --json` prints), for the first and the last lease listed.
"$JIT" list --all --json | python3 -c '
import json, subprocess, sys
listed = json.load(sys.stdin)
for doc in (listed[0], listed[-1]):
    shown = json.loads(subprocess.run([sys.argv[1], "show", "--json", doc["id"]], check=True,
                                      capture_output=True, text=True).stdout)
    shown.pop("events")
    if shown != doc:
        sys.exit(f"bench: mkstore.py wrote the document {doc}, jit shows the lease as {shown}")
' "$JIT"
COUNT=$("$JIT" list --all --json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
[ "$COUNT" = "$LEASES" ] || die "jit list --all --json shows $COUNT leases, expected $LEASES"
COUNT=$("$JIT" list --json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
[ "$COUNT" = "$LIVE" ] || die "jit list --json shows $COUNT leases, expected $LIVE"
hf list_history -N --runs "$RUNS" "$JIT list --json"
LH=$(med list_history)
row "jit list --json ($LEASES leases, $LIVE live)" "$LH" "jit --version" "$V" "< 10 ms" "$(verdict lt "$LH" 10)"

say "2b. jit list --json over $LEASES live leases (worst case: every lease listed)"
export JIT_STATE_DIR="$WORK/state-list"
python3 "$HELPERS/mkstore.py" leases "$JIT_STATE_DIR/jit.db" "$LEASES" "$ME"
COUNT=$("$JIT" list --json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
[ "$COUNT" = "$LEASES" ] || die "jit list --json shows $COUNT leases, expected $LEASES"
echo "store ready: jit list --json shows $COUNT leases"
hf list -N --runs "$RUNS" "$JIT list --json"
L=$(med list)
row "jit list --json ($LEASES leases, all live)" "$L" "jit --version" "$V" "< 10 ms" "$(verdict lt "$L" 10)"

# ---- 3. request + revoke through a no-op command backend ---------------------------------
say "3. jit request / jit revoke through a no-op command backend"
export JIT_STATE_DIR="$WORK/state-request"
ID=$("$JIT" request --role bench -q)
"$JIT" revoke -q "$ID" >/dev/null
STATE=$("$JIT" list --all --json | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["state"])')
[ "$STATE" = revoked ] || die "lease $ID ended $STATE, expected revoked"
[ "$("$NOOP" <"$REQ")" = '{"v":1,"ok":true}' ] || die "the no-op program does not answer"
echo "checked: request granted $ID and revoke ended it (state $STATE)"

# 3a. One command at a time, no shell. Every request runs against a store with no live
# lease (--prepare revokes the one before, untimed); every revoke has exactly one to end
# (--prepare requests it, untimed). `revoke --mine` stands in for `revoke ID`, whose id
# would need a shell; with one live lease both end the same lease the same way.
# hyperfine gives the bare program /dev/null as stdin; jit pipes it ~250 bytes.
echo
echo "-- 3a. per command (hyperfine --shell=none)"
hf noop -N --runs "$RUNS" "$NOOP"
hf request -N --runs "$RUNS" --prepare "$JIT revoke --mine -q" --cleanup "$JIT revoke --mine -q" \
    "$JIT request --role bench -q"
hf revoke -N --runs "$RUNS" --prepare "$JIT request --role bench -q" "$JIT revoke --mine -q"
# Every timed request must have been granted and every timed revoke must have ended one.
python3 "$HELPERS/check_leases.py" "$JIT_STATE_DIR/jit.db"
NOOP_MS=$(med noop)
REQ_MS=$(med request)
REV_MS=$(med revoke)
REQ_OVER=$(calc "$REQ_MS - $NOOP_MS")
REV_OVER=$(calc "$REV_MS - $NOOP_MS")
row "jit request (1 program run)" "$REQ_MS" "noop program" "$NOOP_MS" \
    "overhead < 10 ms" "$(verdict lt "$REQ_OVER" 10)"
row "jit revoke --mine (1 program run)" "$REV_MS" "noop program" "$NOOP_MS" "-" "info"

# 3b. The pair as one shell command (the id goes from request to revoke), against the
# same shell doing the same two program runs with the same structure: one $(...) and
# one plain command. The shell's own cost is the same on both sides and cancels in the
# difference; it is measured too (sh with /bin/true twice) to show how big it is.
echo
echo "-- 3b. request+revoke pair in one sh -c (shell cost cancels in the difference)"
hf pair -N --runs "$RUNS" \
    "sh -c 'id=\$($JIT request --role bench -q) && exec $JIT revoke -q \"\$id\" >/dev/null'" \
    "sh -c 'x=\$($NOOP <$REQ) && exec $NOOP <$REQ >/dev/null'" \
    "sh -c 'x=\$(/bin/true) && exec /bin/true'"
PAIR_MS=$(med pair 0)
PAIR_BASE=$(med pair 1)
SHELL_MS=$(med pair 2)
PAIR_OVER=$(calc "$PAIR_MS - $PAIR_BASE")
row "request+revoke pair (sh)" "$PAIR_MS" "2x noop (sh)" "$PAIR_BASE" "-" "info"

echo
echo "no-op program alone:                 $NOOP_MS ms (median)"
echo "jit request:                         $REQ_MS ms -> overhead $REQ_OVER ms per request"
echo "jit revoke:                          $REV_MS ms -> overhead $REV_OVER ms per revoke"
echo "pair in sh:                          $PAIR_MS ms; same shell, two bare program runs: $PAIR_BASE ms"
echo "  (shell skeleton with /bin/true:    $SHELL_MS ms; included on both sides, so it cancels)"
echo "  overhead per request+revoke pair:  $PAIR_OVER ms; per command: $(calc "$PAIR_OVER / 2") ms"

# ---- 4. jit audit verify over 100,000 events ---------------------------------------------
say "4. jit audit verify over $EVENTS events, against sha256sum of the export"
export JIT_STATE_DIR="$WORK/state-audit"
python3 "$HELPERS/mkstore.py" audit "$JIT_STATE_DIR/jit.db" "$EVENTS" "$ME"
"$JIT" audit verify || die "jit audit verify rejects the generated chain (the python canonical form is off)"
EXPORT="$WORK/audit.jsonl"
"$JIT" audit export --format jsonl --output "$EXPORT" -q
LINES=$(wc -l <"$EXPORT")
[ "$LINES" -eq "$EVENTS" ] || die "the export has $LINES lines, expected $EVENTS"
echo "export: $LINES events, $(($(stat -c %s "$EXPORT") / 1024)) KiB"
# openssl, when present, is shown as a second reference: GNU sha256sum may not use the
# CPU's SHA instructions while jit (the sha2 crate) does, which flatters the 3x target.
REFS=("sha256sum $EXPORT")
command -v openssl >/dev/null && REFS+=("openssl dgst -sha256 $EXPORT")
hf audit -N --runs "$RUNS" "$JIT audit verify -q" "${REFS[@]}"
VERIFY_MS=$(med audit 0)
SHA_MS=$(med audit 1)
row "jit audit verify ($EVENTS events)" "$VERIFY_MS" "sha256sum export" "$SHA_MS" "<= 3x" \
    "$(verdict awk "BEGIN { exit !($VERIFY_MS <= 3 * $SHA_MS) }")"
if [ "${#REFS[@]}" -gt 1 ]; then
    row "jit audit verify ($EVENTS events)" "$VERIFY_MS" "openssl sha256" "$(med audit 2)" "-" "info"
fi

# 4b. (info) The same request / revoke, now against this store with a long audit trail:
# what a store that has been in use for a while costs each command.
echo
echo "-- 4b. (info) request / revoke on the store holding the $EVENTS-event chain"
hf request-big -N --runs "$RUNS" --prepare "$JIT revoke --mine -q" --cleanup "$JIT revoke --mine -q" \
    "$JIT request --role bench -q"
hf revoke-big -N --runs "$RUNS" --prepare "$JIT request --role bench -q" "$JIT revoke --mine -q"
"$JIT" audit verify -q || die "the audit chain broke during 4b"
row "jit request ($EVENTS-event store)" "$(med request-big)" "jit request (3a)" "$REQ_MS" "-" "info"
row "jit revoke --mine ($EVENTS-event store)" "$(med revoke-big)" "jit revoke (3a)" "$REV_MS" "-" "info"

# ---- summary -----------------------------------------------------------------------------
say "summary (medians, ms; ratio = median / baseline median)"
awk -F '\t' '
    BEGIN { printf "%-40s %9s  %-18s %9s %7s  %-17s %s\n", "measurement", "median", "baseline", "b. median", "ratio", "target", "result" }
    { printf "%-40s %9.2f  %-18s %9.2f %6.1fx  %-17s %s\n", $1, $2, $3, $4, ($4 > 0 ? $2 / $4 : 0), $5, $6 }
' "$SUMMARY"
echo
echo "overheads: request $REQ_OVER ms, revoke $REV_OVER ms, request+revoke pair $PAIR_OVER ms (over the bare program)"

if [ "${BENCH_STRICT:-0}" = 1 ] && grep -q $'\tFAIL$' "$SUMMARY"; then
    exit 1
fi
