#!/usr/bin/env bash
# What checking every live lease again at each sweep costs. Run from the repository root:
#
#     scripts/bench-recheck.sh [--quick]
#
# A store of 1,000 live leases (scripts/bench/mkstore.py, through the no-op command backend;
# a sweep of leases not due never calls it) spread over the machine's OS users, and a
# configuration under which every one of them is still allowed: a rule naming each subject,
# a rule naming a group (so that every subject's groups are read from the OS group database,
# as a real deployment's group rules make jit do), caps that do not bind, a [[conflicts]]
# rule nobody meets. So each sweep does the whole re-evaluation and changes nothing (checked
# before and after, with `jit config check --live`).
#
# Measured:
# - `jit sweep` on that store, with hyperfine (median);
# - the re-evaluation inside it, as the sweep itself times it (`jit -v sweep` prints
#   "checked N live lease(s) of M subject(s) against the rules in X ms": reading the live
#   leases, looking up the subjects' groups, deciding), median over the same number of runs;
# - the sweep without it: the sweep's median minus the re-evaluation's, and, when
#   JIT_BASELINE_BIN names a jit built without the re-evaluation (any commit before it), that
#   binary's sweep of the same store measured by hyperfine as well.
# Target: the re-evaluation adds under 5 ms to the sweep of 1,000 live leases.
#
# --quick (or JIT_BENCH_QUICK=1): 50 leases, one run, the debug build (tests/it/benchmarks.rs
# runs it so, to keep the script working; its figures mean nothing).
#
# Environment: JIT_BIN, BENCH_TARGET_DIR (see scripts/bench/common.sh), BENCH_RUNS (default
# 20), BENCH_WARMUP (3), BENCH_LEASES (1000), JIT_BASELINE_BIN (optional, see above),
# BENCH_STRICT=1 (exit 1 when the target is missed).
set -euo pipefail

say() { printf '\n== %s\n' "$*"; }
die() { printf 'bench-recheck: %s\n' "$*" >&2; exit 1; }

case "${1:-}" in --quick) export JIT_BENCH_QUICK=1 ;; "") ;; *) echo "usage: $0 [--quick]" >&2 && exit 2 ;; esac
if [ "${JIT_BENCH_QUICK:-0}" = 1 ]; then
    : "${BENCH_RUNS:=1}" "${BENCH_WARMUP:=0}" "${BENCH_LEASES:=50}"
fi
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPERS="$ROOT/scripts/bench"
RUNS=${BENCH_RUNS:-20}
WARMUP=${BENCH_WARMUP:-3}
LEASES=${BENCH_LEASES:-1000}

command -v python3 >/dev/null || die "python3 is required"
# shellcheck source=scripts/bench/common.sh
source "$ROOT/scripts/bench/common.sh"
"$JIT" --version >/dev/null || die "$JIT does not run"
echo "jit: $JIT ($("$JIT" --version))"
if [ -n "${JIT_BASELINE_BIN:-}" ]; then
    [ -x "$JIT_BASELINE_BIN" ] || die "JIT_BASELINE_BIN=$JIT_BASELINE_BIN is not executable"
    echo "baseline: $JIT_BASELINE_BIN ($("$JIT_BASELINE_BIN" --version))"
fi
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every number)"

# ---- the sandbox -------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/jit-bench-recheck.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
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

# The subjects: the machine's OS users (their groups are real), at most 50.
mapfile -t SUBJECTS < <(getent passwd | cut -d: -f1 | head -n 50)
[ "${#SUBJECTS[@]}" -gt 0 ] || die "no OS users to spread the leases over"

# ---- the store: LEASES live leases of roles role-0..role-19, round-robin over the subjects --
python3 "$HELPERS/mkstore.py" leases "$JIT_STATE_DIR/jit.db" "$LEASES" "${SUBJECTS[0]}"
python3 - "$JIT_STATE_DIR/jit.db" "${SUBJECTS[@]}" <<'EOF'
import sqlite3, sys
path, subjects = sys.argv[1], sys.argv[2:]
conn = sqlite3.connect(path, isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
ids = [row[0] for row in conn.execute("SELECT id FROM leases ORDER BY id")]
for i, lease_id in enumerate(ids):
    who = subjects[i % len(subjects)]
    conn.execute(
        "UPDATE leases SET subject = ?, requester = ?, "
        "document = json_set(document, '$.subject', ?, '$.requester', ?) WHERE id = ?",
        (who, who, who, who, lease_id))
conn.execute("COMMIT")
conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
conn.close()
EOF

# ---- the configuration: every lease still allowed, every subject's groups read --------------
{
    printf '[targets.noop]\nbackend = "command"\nprogram = "%s"\n\n' "$NOOP"
    for i in $(seq 0 19); do
        printf '[roles.role-%s]\ntarget = "noop"\nmax_ttl = "12h"\n\n' "$i"
    done
    printf '[roles.spare]\ntarget = "noop"\nmax_ttl = "1h"\n\n'
    printf '[[conflicts]]\nroles = ["role-0", "spare"]\nreason = "nobody holds spare"\n\n'
    printf '[[eligibility]]\nsubjects = ["group:jit-bench-nobody-is-in-it"]\nroles = ["*"]\nmax_ttl = "1h"\n\n'
    printf '[[eligibility]]\nsubjects = ['
    sep=""
    for s in "${SUBJECTS[@]}"; do printf '%s"user:%s"' "$sep" "$s"; sep=", "; done
    printf ']\nroles = ["*"]\nmax_ttl = "10h"\nexpires = "2999-01-01T00:00:00Z"\n'
} >"$JIT_CONFIG"
"$JIT" config check >/dev/null || die "the benchmark configuration is invalid"

# live_check: "CHANGES LEASES SUBJECTS" as `jit config check --live --json` counts them.
live_check() {
    "$JIT" config check --live --json | python3 -c '
import json, sys
doc = json.load(sys.stdin)
print(len(doc["changes"]), doc["leases"], doc["subjects"])'
}
active() {
    "$JIT" list --json | python3 -c 'import json, sys; print(sum(l["state"] == "active" for l in json.load(sys.stdin)))'
}
read -r CHANGES CHECKED SUBJECT_COUNT < <(live_check)
[ "$CHANGES" = 0 ] || die "the next sweep would change $CHANGES leases; the benchmark needs none changed"
[ "$CHECKED" = "$LEASES" ] || die "jit config check --live checked $CHECKED leases, expected $LEASES"
echo "store ready: $LEASES live leases of $SUBJECT_COUNT subjects; jit config check --live: the next sweep changes none"

hf() {
    local name=$1
    shift
    hyperfine --style basic --warmup "$WARMUP" --export-json "$RESULTS/$name.json" "$@"
}
med() { python3 "$HELPERS/median.py" "$RESULTS/$1.json" "${2:-0}"; }
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
lt() { awk "BEGIN { exit !($1 < $2) }"; }

# ---- 1. jit sweep, and the re-evaluation inside it ---------------------------------------
say "1. jit sweep over $LEASES live leases (none due), with the re-evaluation"
hf sweep -N --runs "$RUNS" "$JIT sweep"
SWEEP_MS=$(med sweep 0)
if [ -n "${JIT_BASELINE_BIN:-}" ]; then
    # The baseline may predate [[conflicts]] and `expires`: it gets the same rules without
    # them (a sweep without the re-evaluation reads no rule for leases not due anyway).
    grep -v '^expires = ' "$JIT_CONFIG" | awk '/^\[\[conflicts\]\]/ { skip = 3 } skip > 0 { skip--; next } { print }' \
        >"$WORK/config-baseline.toml"
    (
        export JIT_CONFIG="$WORK/config-baseline.toml"
        "$JIT_BASELINE_BIN" config check >/dev/null || die "the baseline build refuses the benchmark configuration"
        hf baseline -N --runs "$RUNS" "$JIT_BASELINE_BIN sweep"
    )
    BASE_MS=$(med baseline 0)
fi

say "2. the re-evaluation inside the sweep, as the sweep times it (jit -v sweep), $RUNS runs"
: >"$WORK/recheck.ms"
for _ in $(seq "$RUNS"); do
    "$JIT" -v sweep 2>&1 >/dev/null |
        sed -n 's/^jit: checked \([0-9]*\) live lease(s) of \([0-9]*\) subject(s) against the rules in \([0-9.]*\) ms$/\1 \2 \3/p' >>"$WORK/recheck.ms"
done
[ "$(wc -l <"$WORK/recheck.ms")" = "$RUNS" ] || die "jit -v sweep did not report the re-evaluation on every run"
awk -v n="$LEASES" '$1 != n { exit 1 }' "$WORK/recheck.ms" || die "a sweep re-evaluated fewer than $LEASES leases"
RECHECK_MS=$(python3 -c '
import statistics, sys
print(f"{statistics.median(float(l.split()[2]) for l in open(sys.argv[1])):.3f}")' "$WORK/recheck.ms")

# Nothing changed: every lease still active, and still nothing for the next sweep to do.
[ "$(active)" = "$LEASES" ] || die "after the sweeps $(active) of $LEASES leases are active"
read -r CHANGES _ _ < <(live_check)
[ "$CHANGES" = 0 ] || die "after the sweeps the next sweep would change $CHANGES leases"
echo "checked: all $LEASES leases still active after every sweep"

# ---- summary -----------------------------------------------------------------------------
say "summary (medians, ms)"
WITHOUT_MS=$(calc "$SWEEP_MS - $RECHECK_MS")
echo "jit sweep ($LEASES live leases, re-evaluated): $SWEEP_MS ms"
echo "re-evaluation in the sweep ($LEASES leases, $SUBJECT_COUNT subjects): $RECHECK_MS ms (target < 5 ms: $(if lt "$RECHECK_MS" 5; then echo PASS; else echo FAIL; fi))"
echo "jit sweep without it (estimate: sweep - re-evaluation): $WITHOUT_MS ms"
echo "ratio sweep/without: $(calc "$SWEEP_MS / ($WITHOUT_MS > 0 ? $WITHOUT_MS : 1)")x"
if [ -n "${BASE_MS:-}" ]; then
    echo "jit sweep by the baseline build (no re-evaluation): $BASE_MS ms; ratio $(calc "$SWEEP_MS / $BASE_MS")x, difference $(calc "$SWEEP_MS - $BASE_MS") ms"
fi

if [ "${BENCH_STRICT:-0}" = 1 ] && ! lt "$RECHECK_MS" 5; then
    exit 1
fi
