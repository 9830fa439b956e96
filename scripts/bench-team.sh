#!/usr/bin/env bash
# Benchmark of team mode against a PostgreSQL cluster this script starts. From the
# repository root:
#
#     scripts/bench-team.sh [--quick]
#
# --quick (or JIT_BENCH_QUICK=1): every step once on tiny sizes, with the debug build and
# without hyperfine if it is missing (scripts/bench/common.sh); the test suite runs it so
# (tests/it/benchmarks.rs) to keep the script working. Its figures mean nothing.
#
# Environment: JIT_BIN, BENCH_TARGET_DIR (see scripts/bench/common.sh), BENCH_RUNS (default
# 30), BENCH_WARMUP (default 3), BENCH_LEASES (default 200).
#
# Measurements:
# - `jit request` to credentials in hand with one idle worker (median over BENCH_RUNS, with
#   hyperfine): the request queued by the requester's login, the worker woken by NOTIFY,
#   policy, the grant (a command backend answering at once), the credentials sealed,
#   answered, picked up and opened. Target (issue): under 100 ms on loopback.
# - leases granted and revoked per second by two workers: BENCH_LEASES requests queued at
#   once, the time until every one is answered, then as many revocations, the time until
#   every lease is revoked; rate = 2 x leases / total time.
set -euo pipefail

case "${1:-}" in --quick) export JIT_BENCH_QUICK=1 ;; "") ;; *) echo "usage: $0 [--quick]" >&2 && exit 2 ;; esac
if [ "${JIT_BENCH_QUICK:-0}" = 1 ]; then
    : "${BENCH_RUNS:=1}" "${BENCH_WARMUP:=0}" "${BENCH_LEASES:=5}"
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${BENCH_RUNS:-30}
LEASES=${BENCH_LEASES:-200}
WARMUP=${BENCH_WARMUP:-3}

say() { printf '\n== %s\n' "$*"; }
die() { printf 'bench-team: %s\n' "$*" >&2; exit 1; }

command -v python3 >/dev/null || die "python3 is required"
# shellcheck source=scripts/bench/common.sh
source "$ROOT/scripts/bench/common.sh"
"$JIT" --version >/dev/null || die "$JIT does not run"
echo "jit: $JIT ($("$JIT" --version))"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every number)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/jit-bench-team.XXXXXX")
PGDIR="$WORK/pg"
WORKERS=()
cleanup() {
    for pid in "${WORKERS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${WORKERS[@]}"; do wait "$pid" 2>/dev/null || true; done
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# shellcheck source=scripts/bench/pg_cluster.sh
source "$ROOT/scripts/bench/pg_cluster.sh"

ME=$(id -un)
export XDG_CONFIG_HOME="$WORK/xdg" XDG_STATE_HOME="$WORK/xdg" HOME="$WORK" NO_COLOR=1
unset SUDO_USER JIT_TEST_CLOCK_OFFSET JIT_FAULT
su_psql -d postgres <<SQL
CREATE ROLE jit_owner LOGIN CREATEROLE PASSWORD 'owner-pw';
CREATE ROLE jit_service LOGIN PASSWORD 'service-pw';
CREATE ROLE "$ME" LOGIN PASSWORD 'me-pw';
CREATE DATABASE jit OWNER jit_owner;
SQL
printf 'owner-pw' >"$WORK/owner.pw"
printf 'service-pw' >"$WORK/service.pw"
chmod 600 "$WORK/owner.pw" "$WORK/service.pw"
store() { printf '[store]\nkind = "postgres"\nurl = "postgres://%s127.0.0.1:%s/jit?sslmode=disable"\npassword = "%s"\n' "$1" "$PORT" "$2"; }
store jit_owner@ "file:$WORK/owner.pw" >"$WORK/owner.toml"
store "" "env:JIT_STORE_PASSWORD" >"$WORK/person.toml"
# A target answering at once, with credentials: what is measured is jit and the store.
cat >"$WORK/instant" <<'SH'
#!/bin/sh
cat >/dev/null
echo '{"v":1,"ok":true,"present":true,"credentials":{"TOKEN":"tok-bench"}}'
SH
chmod 755 "$WORK/instant"
{
    store jit_service@ "file:$WORK/service.pw"
    cat <<TOML

[targets.instant]
backend = "command"
program = "$WORK/instant"

[roles.tokens]
target = "instant"
max_ttl = "8h"

[[eligibility]]
subjects = ["user:$ME"]
roles = ["tokens"]
TOML
} >"$WORK/worker.toml"
JIT_CONFIG="$WORK/owner.toml" "$JIT" store init
su_psql -d postgres -c "GRANT jit_requester TO \"$ME\"; GRANT jit_worker TO jit_service;"
export JIT_STORE_PASSWORD=me-pw

start_worker() {
    JIT_CONFIG="$WORK/worker.toml" "$JIT" worker >>"$WORK/worker.log" 2>&1 &
    WORKERS+=($!)
}

say "request to credentials in hand, one idle worker ($RUNS runs)"
start_worker
JIT_CONFIG="$WORK/person.toml" "$JIT" request --role tokens --ttl 1h --quiet >/dev/null
hyperfine --runs "$RUNS" --warmup "$WARMUP" --export-json "$WORK/request.json" \
    "JIT_CONFIG=$WORK/person.toml $JIT request --role tokens --ttl 1h --quiet"
REQUEST_MS=$(python3 "$ROOT/scripts/bench/median.py" "$WORK/request.json")

say "two workers: $LEASES requests queued at once, then $LEASES revocations"
start_worker
count() { su_psql -d jit -c "$1"; }
# until_none SQL: wait until the count that SQL returns is 0; the workers get 10 minutes.
until_none() {
    local deadline=$((SECONDS + 600))
    until [ "$(count "$1")" = 0 ]; do
        [ "$SECONDS" -lt "$deadline" ] || { cat "$WORK/worker.log" >&2; die "the workers did not finish within 10 minutes: $1"; }
        sleep 0.01
    done
}
BEFORE=$(count "SELECT count(*) FROM jit.leases")
T0=$(date +%s.%N)
count "INSERT INTO jit.requests (kind, requester, role, ttl_secs) SELECT 'request', '$ME', 'tokens', 3600 FROM generate_series(1, $LEASES)" >/dev/null
until_none "SELECT count(*) FROM jit.requests WHERE kind = 'request' AND status = 'new'"
T1=$(date +%s.%N)
count "INSERT INTO jit.requests (kind, requester, lease_id) SELECT 'revoke', '$ME', id FROM jit.leases WHERE state = 'active'" >/dev/null
until_none "SELECT count(*) FROM jit.requests WHERE status = 'new'"
T2=$(date +%s.%N)
GRANTED=$(count "SELECT count(*) FROM jit.audit WHERE kind = 'granted'")
REVOKED=$(count "SELECT count(*) FROM jit.leases WHERE state = 'revoked'")
echo "leases before: $BEFORE; granted events: $GRANTED; revoked leases: $REVOKED"
[ "$GRANTED" = $((BEFORE + LEASES)) ] && [ "$REVOKED" = $((BEFORE + LEASES)) ] ||
    { count "SELECT 'lease', state, count(*) FROM jit.leases GROUP BY state UNION ALL SELECT kind, status || coalesce(' ' || message, ''), count(*) FROM jit.requests GROUP BY 1, 2" >&2
      grep -B2 -A12 'ERROR: ' "$WORK/server.log" >&2 || true
      die "expected $((BEFORE + LEASES)) granted events and revoked leases"; }
JIT_CONFIG="$WORK/person.toml" "$JIT" audit verify

say "summary"
python3 - "$REQUEST_MS" "$T0" "$T1" "$T2" "$LEASES" <<'PY'
import sys
request_ms, t0, t1, t2, n = float(sys.argv[1]), *map(float, sys.argv[2:5]), int(sys.argv[5])
print(f"request -> credentials, idle worker: median {request_ms:.1f} ms (target < 100 ms: {request_ms / 100:.2f}x of the budget)")
print(f"two workers: {n} grants in {t1 - t0:.2f} s, {n} revocations in {t2 - t1:.2f} s: "
      f"{2 * n / (t2 - t0):.0f} leases granted+revoked per second ({n / (t2 - t0):.0f} whole leases/s)")
PY
