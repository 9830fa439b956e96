#!/usr/bin/env bash
# Benchmarks for jit's PostgreSQL backend against a hand-written psql "runbook", with
# hyperfine, on a throwaway cluster this script starts. Run from the repository root:
#
#     scripts/bench-postgres.sh [--quick]
#
# --quick (or JIT_BENCH_QUICK=1): every step once on tiny sizes, with the debug build and
# without hyperfine if it is missing (scripts/bench/common.sh); the test suite runs it so
# (tests/it/benchmarks.rs) to keep the script working. Its figures mean nothing.
#
# Environment:
#   JIT_BIN           a prebuilt jit binary to measure (default: build one with
#                     CARGO_TARGET_DIR=$BENCH_TARGET_DIR cargo build --release)
#   BENCH_TARGET_DIR  target dir of that build (default: <repo>/target/bench, so an ongoing
#                     build in <repo>/target is not clobbered)
#   BENCH_RUNS        timed runs per hyperfine measurement (default 20)
#   BENCH_WARMUP      warm-up runs per hyperfine measurement (default 3)
#   BENCH_PG_LEASES   expired leases for the sweep (default 1000)
#   BENCH_PG_PARALLEL parallel `jit request` calls while creating them (default 2)
#   BENCH_STRICT      1: exit 1 when a target is missed (default: report only)
#
# The cluster is started the way tests/it/pg_cluster.rs starts it: initdb in the sandbox
# (as the postgres user through setpriv when run as root), loopback only, a free port,
# fsync off; it is stopped (SIGINT, a fast shutdown) on exit. Everything else (the jit
# configuration, the admin password file, jit's state) lives in the same mktemp -d
# directory; JIT_CONFIG, JIT_STATE_DIR and XDG_* point there.
#
# Measurements:
#   1. request+revoke of an ephemeral login: `jit request -q` + `jit revoke ID` in a bash
#      wrapper, against the same wrapper running the psql runbook (one psql call grants,
#      one revokes; and, for information, one psql call per statement). Per step too.
#   2. `jit sweep` of BENCH_PG_LEASES expired ephemeral leases, against the runbook
#      revoking as many logins one psql call at a time. Each timed once.
set -euo pipefail

case "${1:-}" in --quick) export JIT_BENCH_QUICK=1 ;; "") ;; *) echo "usage: $0 [--quick]" >&2 && exit 2 ;; esac
if [ "${JIT_BENCH_QUICK:-0}" = 1 ]; then
    : "${BENCH_RUNS:=1}" "${BENCH_WARMUP:=0}" "${BENCH_PG_LEASES:=3}"
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPERS="$ROOT/scripts/bench"
RUNBOOK="$HELPERS/pg_runbook.sh"
RUNS=${BENCH_RUNS:-20}
WARMUP=${BENCH_WARMUP:-3}
N=${BENCH_PG_LEASES:-1000}
PAR=${BENCH_PG_PARALLEL:-2}
ADMIN=jit_admin
ADMIN_PASSWORD=admin-Secret-42
DATABASE=app
GROUP=app_rw

say() { printf '\n== %s\n' "$*"; }
die() { printf 'bench-postgres: %s\n' "$*" >&2; exit 1; }

# ---- tools -------------------------------------------------------------------------------
command -v python3 >/dev/null || die "python3 is required"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | while read -r d; do
    [ -x "$d/initdb" ] && echo "$d"; done | tail -n 1)
[ -n "$PG_BIN" ] || die "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): scripts/test.sh installs it"
[ -x "$PG_BIN/psql" ] || die "psql is missing from $PG_BIN (scripts/test.sh installs PostgreSQL and psql)"
# hyperfine, and the binary to measure (JIT).
# shellcheck source=scripts/bench/common.sh
source "$ROOT/scripts/bench/common.sh"
"$JIT" --version >/dev/null || die "$JIT does not run"
# Only debug builds honour JIT_TEST_CLOCK_OFFSET (src/clock.rs, cfg(debug_assertions));
# a release binary does not even contain the name.
if grep -qa JIT_TEST_CLOCK_OFFSET "$JIT"; then BUILD=debug; else BUILD=release; fi
echo "jit: $JIT ($("$JIT" --version), $BUILD build)"
echo "postgres: $PG_BIN ($("$PG_BIN/postgres" --version))"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every number)"

# ---- the sandbox -------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/jit-bench-pg.XXXXXX")
PGDIR="$WORK/pg"   # the cluster's directory (data/, the socket, server.log)
PG_PID=
stop_server() {
    [ -n "$PG_PID" ] || return 0
    kill -INT "$PG_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$PG_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$PG_PID" 2>/dev/null && kill -KILL "$PG_PID" 2>/dev/null
    wait "$PG_PID" 2>/dev/null || true
    PG_PID=
}
cleanup() {
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$PGDIR" "$WORK/results" "$WORK/xdg/config" "$WORK/xdg/state" "$WORK/xdg/data" "$WORK/xdg/cache"
export XDG_CONFIG_HOME="$WORK/xdg/config" XDG_STATE_HOME="$WORK/xdg/state"
export XDG_DATA_HOME="$WORK/xdg/data" XDG_CACHE_HOME="$WORK/xdg/cache"
export JIT_CONFIG="$WORK/config.toml"
export JIT_STATE_DIR="$WORK/state-empty"   # each measurement sets its own below
export NO_COLOR=1
unset SUDO_USER JIT_TEST_CLOCK_OFFSET PGPASSWORD PGHOST PGPORT PGUSER PGDATABASE
ME=$(id -un)
RESULTS="$WORK/results"
SUMMARY="$WORK/summary.tsv"
: >"$SUMMARY"

# ---- the cluster (as tests/it/pg_cluster.rs) ---------------------------------------------
# pg: run a PostgreSQL program as the cluster's owner: root hands the cluster's directory
# to an unprivileged user (postgres, else nobody) and runs the server as that user.
PG_AS=()
if [ "$(id -u)" = 0 ]; then
    OWNER=$(getent passwd postgres >/dev/null && echo postgres || echo nobody)
    chown "$OWNER:$(id -gn "$OWNER")" "$PGDIR"
    chmod 711 "$WORK"   # the owner may pass through the sandbox to its own directory
    PG_AS=(setpriv --reuid="$OWNER" --regid="$(id -gn "$OWNER")" --clear-groups)
fi
chmod 755 "$PGDIR"
pg() { local program=$1; shift; "${PG_AS[@]}" "$PG_BIN/$program" "$@"; }

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
say "starting PostgreSQL on 127.0.0.1:$PORT (cluster in $PGDIR)"
pg initdb -D "$PGDIR/data" -U postgres --auth=trust --no-sync -E UTF8 >"$WORK/initdb.log" 2>&1 ||
    { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
printf 'local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n' >"$PGDIR/data/pg_hba.conf"
[ -n "${OWNER:-}" ] && chown "$OWNER:$(id -gn "$OWNER")" "$PGDIR/data/pg_hba.conf"
# The server gets SIGINT (fast shutdown) from the kernel if this script dies unannounced.
PDEATH=()
[ "${#PG_AS[@]}" -gt 0 ] && PDEATH=(--pdeathsig=INT)
"${PG_AS[@]}" "${PDEATH[@]}" "$PG_BIN/postgres" -D "$PGDIR/data" -p "$PORT" -k "$PGDIR" \
    -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300 \
    -c password_encryption=scram-sha-256 -c logging_collector=off \
    </dev/null >/dev/null 2>"$WORK/server.log" &
PG_PID=$!
su_psql() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$PGDIR" -p "$PORT" -U postgres "$@"; }
for i in $(seq 600); do
    su_psql -c 'select 1' >/dev/null 2>&1 && break
    kill -0 "$PG_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; die "PostgreSQL exited"; }
    [ "$i" = 600 ] && { cat "$WORK/server.log" >&2; die "PostgreSQL did not start within 60 s"; }
    sleep 0.1
done
echo "server up: $(su_psql -c 'show server_version')"

# setup(): the admin login jit uses, the application database, a group role, and a table.
su_psql -d postgres <<EOF
CREATE ROLE $ADMIN LOGIN CREATEROLE PASSWORD '$ADMIN_PASSWORD';
GRANT pg_signal_backend TO $ADMIN;
CREATE DATABASE $DATABASE;
CREATE ROLE $GROUP NOLOGIN;
GRANT CONNECT, TEMPORARY ON DATABASE $DATABASE TO $ADMIN WITH GRANT OPTION;
EOF
su_psql -d "$DATABASE" <<EOF
CREATE TABLE accounts (id int PRIMARY KEY, owner text);
INSERT INTO accounts VALUES (1, 'alice'), (2, 'bob');
GRANT SELECT, INSERT, UPDATE ON accounts TO $GROUP;
GRANT USAGE, CREATE ON SCHEMA public TO $ADMIN WITH GRANT OPTION;
EOF
# roles_like PATTERN: how many roles match a LIKE pattern (jit_admin, the admin, aside).
roles_like() { su_psql -d postgres -c "SELECT count(*) FROM pg_roles WHERE rolname LIKE '$1' AND rolname <> '$ADMIN'"; }

# ---- the jit configuration ---------------------------------------------------------------
SECRET="$WORK/db.password"
(umask 077 && printf '%s' "$ADMIN_PASSWORD" >"$SECRET")
chmod 600 "$SECRET"
cat >"$JIT_CONFIG" <<EOF
[targets.db]
backend = "postgres"
url = "postgres://$ADMIN@127.0.0.1:$PORT/$DATABASE?sslmode=disable"
password = "file:$SECRET"

[roles.db-eph]
target = "db"
max_ttl = "1h"
grant = { mode = "ephemeral", roles = ["$GROUP"], database_privileges = ["CONNECT"] }

[[eligibility]]
subjects = ["user:$ME"]
roles = ["*"]
EOF
"$JIT" config check >/dev/null || die "the benchmark configuration is invalid"

# The runbook's psql is the server's own binary. psql on PATH may be a wrapper (Debian's
# pg_wrapper is a Perl script, ~25 ms a call); if so, the pair is also measured with it, as
# an administrator typing `psql` there would run it.
# The runbook's connection (pg_runbook.sh sets PGPASSWORD for its psql calls only).
export BENCH_PSQL="$PG_BIN/psql"
PATH_PSQL=$(command -v psql || true)
[ -n "$PATH_PSQL" ] && [ "$(readlink -f "$PATH_PSQL")" = "$(readlink -f "$BENCH_PSQL")" ] && PATH_PSQL=
export BENCH_JIT="$JIT" BENCH_PG_PORT="$PORT" BENCH_PG_PASSWORD="$ADMIN_PASSWORD"
export BENCH_PG_USER="$ADMIN" BENCH_PG_DB="$DATABASE" BENCH_PG_GROUP="$GROUP"

# hf NAME [hyperfine options and commands...]: run hyperfine, keep its JSON as NAME.
hf() {
    local name=$1
    shift
    hyperfine --style basic --export-json "$RESULTS/$name.json" "$@"
}
# med NAME [INDEX]: the median, in ms, of a result kept by hf.
med() { python3 "$HELPERS/median.py" "$RESULTS/$1.json" "${2:-0}"; }
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
le() { awk "BEGIN { exit !($1 <= $2) }"; }
# row MEASUREMENT MEDIAN BASELINE-NAME BASELINE-MEDIAN TARGET VERDICT
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$SUMMARY"; }
verdict() { if "$@"; then echo PASS; else echo FAIL; fi; }
# leases_in STATE: how many leases of the current store are in STATE.
leases_in() {
    "$JIT" list --all --json | python3 -c 'import json, sys
leases = json.load(sys.stdin)
print(sum(1 for l in leases if l["state"] == sys.argv[1]), len(leases))' "$1"
}

# ---- 1. request + revoke of an ephemeral login -------------------------------------------
say "1. jit request --role db-eph + jit revoke, against the psql runbook"
export JIT_STATE_DIR="$WORK/state-pair"
OUT=$("$JIT" request --role db-eph -q)
ID=${OUT%%$'\n'*}
grep -q '^PGPASSWORD=' <<<"$OUT" || die "jit request -q printed no credentials"
[ "$(roles_like "jit_$ID")" = 1 ] || die "jit request did not create the login jit_$ID"
"$JIT" revoke -q "$ID" >/dev/null
[ "$(roles_like "jit_$ID")" = 0 ] || die "jit revoke left the login jit_$ID"
bash "$RUNBOOK" pair || die "the runbook (pair) fails"
bash "$RUNBOOK" pair-per-stmt || die "the runbook (pair-per-stmt) fails"
[ "$(roles_like 'rb\_%')" = 0 ] || die "the runbook left logins behind"
echo "checked: jit and both runbooks create the login and drop it again"

# 1a. The pair, one sample = one request and one revoke, in the same bash wrapper.
echo
echo "-- 1a. request+revoke pair (bash $RUNBOOK MODE)"
PAIRS=("bash $RUNBOOK jit-pair" "bash $RUNBOOK pair" "bash $RUNBOOK pair-per-stmt" "bash $RUNBOOK skeleton")
[ -n "$PATH_PSQL" ] && PAIRS+=("bash $RUNBOOK pair $PATH_PSQL")
hf pair -N --warmup "$WARMUP" --runs "$RUNS" "${PAIRS[@]}"
PAIR_JIT=$(med pair 0)
PAIR_RB=$(med pair 1)
PAIR_RB9=$(med pair 2)
PAIR_SH=$(med pair 3)
[ -n "$PATH_PSQL" ] && PAIR_RBW=$(med pair 4)
read -r REVOKED TOTAL < <(leases_in revoked)
[ "$REVOKED" = "$TOTAL" ] || die "only $REVOKED of $TOTAL leases ended revoked"
[ "$(roles_like 'jit\_%')" = 0 ] || die "logins jit_% are left after 1a"
[ "$(roles_like 'rb\_%')" = 0 ] || die "logins rb_% are left after 1a"
echo "checked: all $TOTAL leases revoked, no jit_% or rb_% login left"
row "request+revoke pair (bash)" "$PAIR_JIT" "runbook, 2 psql" "$PAIR_RB" "<= 1x" \
    "$(verdict le "$PAIR_JIT" "$PAIR_RB")"
row "request+revoke pair (bash)" "$PAIR_JIT" "runbook, 9 psql" "$PAIR_RB9" "-" "info"
[ -n "$PATH_PSQL" ] && row "request+revoke pair (bash)" "$PAIR_JIT" "runbook, 2 $PATH_PSQL" "$PAIR_RBW" "-" "info"

# 1b. Each step alone, no shell: jit request / revoke (the other step untimed in --prepare,
# `revoke --mine` as in scripts/bench.sh: with one live lease it ends that one), and the
# runbook's grant / revoke psql call on a fixed login name.
echo
echo "-- 1b. per step (hyperfine --shell=none)"
hf step_request -N --warmup "$WARMUP" --runs "$RUNS" \
    --prepare "$JIT revoke --mine -q" --cleanup "$JIT revoke --mine -q" \
    "$JIT request --role db-eph -q"
hf step_revoke -N --warmup "$WARMUP" --runs "$RUNS" \
    --prepare "$JIT request --role db-eph -q" "$JIT revoke --mine -q"
[ "$(roles_like 'jit\_%')" = 0 ] || die "logins jit_% are left after 1b"
GRANT_SQL=$(bash "$RUNBOOK" sql grant rb_step)
REVOKE_SQL=$(bash "$RUNBOOK" sql revoke rb_step)
PSQL="$PG_BIN/psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $PORT -U $ADMIN -d $DATABASE"
P_GRANT="$PSQL -c \"$GRANT_SQL\""
P_REVOKE="$PSQL -c \"$REVOKE_SQL\""
# PGPASSWORD reaches these psql runs only (jit is not in these hyperfine runs). The login
# must exist before the first --prepare revoke, and be gone before the first --prepare grant.
export PGPASSWORD=$ADMIN_PASSWORD
eval "$P_GRANT" >/dev/null
hf step_psql_grant -N --warmup "$WARMUP" --runs "$RUNS" --prepare "$P_REVOKE" "$P_GRANT"
eval "$P_REVOKE" >/dev/null
hf step_psql_revoke -N --warmup "$WARMUP" --runs "$RUNS" --prepare "$P_GRANT" "$P_REVOKE"
unset PGPASSWORD
[ "$(roles_like 'rb\_%')" = 0 ] || die "logins rb_% are left after 1b"
STEP_REQ=$(med step_request)
STEP_REV=$(med step_revoke)
STEP_GRANT=$(med step_psql_grant)
STEP_PREV=$(med step_psql_revoke)
row "jit request (db-eph)" "$STEP_REQ" "psql grant call" "$STEP_GRANT" "-" "info"
row "jit revoke (db-eph)" "$STEP_REV" "psql revoke call" "$STEP_PREV" "-" "info"

echo
echo "pair, jit:                      $PAIR_JIT ms (median)"
echo "pair, runbook (2 psql calls):   $PAIR_RB ms -> jit/runbook $(calc "$PAIR_JIT / $PAIR_RB")x, difference $(calc "$PAIR_JIT - $PAIR_RB") ms"
echo "pair, runbook (9 psql calls):   $PAIR_RB9 ms"
[ -n "$PATH_PSQL" ] && echo "pair, runbook (2 calls of $PATH_PSQL, a wrapper): $PAIR_RBW ms"
echo "  (the wrapper's own cost, /bin/true in its place: $PAIR_SH ms; on every side, so it cancels)"
echo "step, jit request:              $STEP_REQ ms; psql grant call:  $STEP_GRANT ms"
echo "step, jit revoke:               $STEP_REV ms; psql revoke call: $STEP_PREV ms"

# ---- 2. jit sweep of N expired leases ----------------------------------------------------
say "2. jit sweep of $N expired ephemeral leases, against $N psql revoke calls"
export JIT_STATE_DIR="$WORK/state-sweep"
if [ "$BUILD" = debug ]; then
    TTL=1m
    SWEEP_ENV=(env JIT_TEST_CLOCK_OFFSET=600)
else
    # The release build has no test clock: short leases, then wait until they are past.
    TTL=2s
    SWEEP_ENV=()
fi
echo "creating $N leases: jit request --role db-eph --ttl $TTL -q, $PAR at a time"
T0=$(date +%s%N)
seq "$N" | xargs -P "$PAR" -I{} "$JIT" request --role db-eph --ttl "$TTL" -q >/dev/null ||
    die "a jit request failed while creating the leases"
T1=$(date +%s%N)
CREATE_S=$(calc "($T1 - $T0) / 1e9")
read -r ACTIVE TOTAL < <(leases_in active)
[ "$ACTIVE" = "$N" ] && [ "$TOTAL" = "$N" ] || die "$ACTIVE of $TOTAL leases are active, expected $N of $N"
[ "$(roles_like 'jit\_%')" = "$N" ] || die "expected $N logins jit_%, found $(roles_like 'jit\_%')"
echo "created in $CREATE_S s ($(calc "($T1 - $T0) / 1e6 / $N") ms per request, $PAR in parallel)"
if [ "$BUILD" = release ]; then
    # Wait until the last lease's end is past (whole seconds, so one more to be sure).
    WAIT=$("$JIT" list --json | python3 -c 'import json, sys, datetime
ends = [datetime.datetime.fromisoformat(l["expires_at"].replace("Z", "+00:00")) for l in json.load(sys.stdin)]
left = (max(ends) - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
print(max(0.0, left) + 1.5)')
    echo "waiting $WAIT s until every lease is past its end"
    sleep "$WAIT"
fi
hf sweep -N --runs 1 --output "$WORK/sweep.out" "${SWEEP_ENV[*]} $JIT sweep"
SWEEP_MS=$(med sweep)
read -r EXPIRED TOTAL < <(leases_in expired)
[ "$EXPIRED" = "$N" ] && [ "$TOTAL" = "$N" ] ||
    { tail -n 5 "$WORK/sweep.out" >&2; die "after the sweep $EXPIRED of $TOTAL leases are expired, expected $N of $N"; }
LEFT=$(roles_like 'jit\_%')
[ "$LEFT" = 0 ] || die "after the sweep $LEFT logins jit_% remain in pg_roles"
echo "checked: all $N leases expired ($(grep -c ': expired' "$WORK/sweep.out" || true) '<id>: expired' lines from jit sweep), no jit_% login left in pg_roles"

echo
echo "the runbook: one psql call creates $N logins rb_sweep_1..$N, then $N psql calls revoke them"
bash "$RUNBOOK" create-many rb_sweep_ "$N"
[ "$(roles_like 'rb\_sweep\_%')" = "$N" ] || die "the runbook did not create $N logins"
hf loop -N --runs 1 "bash $RUNBOOK revoke-many rb_sweep_ $N"
LOOP_MS=$(med loop)
[ "$(roles_like 'rb\_%')" = 0 ] || die "the runbook loop left logins behind"
row "jit sweep ($N expired leases)" "$SWEEP_MS" "runbook, $N psql" "$LOOP_MS" "<= 0.1x" \
    "$(verdict le "$SWEEP_MS" "$(calc "$LOOP_MS / 10")")"

echo
echo "jit sweep:      $(calc "$SWEEP_MS / 1000") s for $N leases, $(calc "$SWEEP_MS / $N") ms per lease (single run)"
echo "psql loop:      $(calc "$LOOP_MS / 1000") s for $N logins, $(calc "$LOOP_MS / $N") ms per login (single run)"
echo "speed-up:       $(calc "$LOOP_MS / $SWEEP_MS")x (target >= 10x)"

# ---- summary -----------------------------------------------------------------------------
say "summary (medians, ms; ratio = median / baseline median; single runs in part 2)"
awk -F '\t' '
    BEGIN { printf "%-34s %9s  %-26s %9s %7s  %-8s %s\n", "measurement", "median", "baseline", "b. median", "ratio", "target", "result" }
    { printf "%-34s %9.2f  %-26s %9.2f %6.2fx  %-8s %s\n", $1, $2, $3, $4, ($4 > 0 ? $2 / $4 : 0), $5, $6 }
' "$SUMMARY"

if [ "${BENCH_STRICT:-0}" = 1 ] && grep -q $'\tFAIL$' "$SUMMARY"; then
    exit 1
fi
