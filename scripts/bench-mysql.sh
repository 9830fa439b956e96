#!/usr/bin/env bash
# Benchmark of jit's mysql backend against a hand-written `mariadb` client runbook doing
# the same SQL, with hyperfine, on a throwaway MariaDB this script starts. From the
# repository root:
#
#     scripts/bench-mysql.sh [--quick]
#
# --quick (or JIT_BENCH_QUICK=1): every step once on tiny sizes, with the debug build and
# without hyperfine if it is missing (scripts/bench/common.sh); the test suite runs it so
# (tests/it/benchmarks.rs) to keep the script working. Its figures mean nothing.
#
# Environment: JIT_BIN, BENCH_TARGET_DIR (see scripts/bench/common.sh), BENCH_RUNS (default
# 20), BENCH_WARMUP (default 3), BENCH_STRICT=1 to exit 1 when the target is missed.
#
# The server is started as tests/it/mariadb_server.rs starts it: mariadb-install-db into
# the sandbox, loopback, a free port, the event scheduler on; stopped on exit.
#
# Measurement: request+revoke of an ephemeral account, `jit request -q` + `jit revoke ID`
# in a bash wrapper, against the same wrapper running the runbook (one mariadb call
# grants, one revokes). Target: jit no slower (ratio <= 1).
set -euo pipefail

case "${1:-}" in --quick) export JIT_BENCH_QUICK=1 ;; "") ;; *) echo "usage: $0 [--quick]" >&2 && exit 2 ;; esac
if [ "${JIT_BENCH_QUICK:-0}" = 1 ]; then
    : "${BENCH_RUNS:=1}" "${BENCH_WARMUP:=0}"
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPERS="$ROOT/scripts/bench"
RUNBOOK="$HELPERS/mysql_runbook.sh"
RUNS=${BENCH_RUNS:-20}
WARMUP=${BENCH_WARMUP:-3}
ADMIN_PASSWORD=admin-Secret-42

say() { printf '\n== %s\n' "$*"; }
die() { printf 'bench-mysql: %s\n' "$*" >&2; exit 1; }

command -v python3 >/dev/null || die "python3 is required"
command -v mariadb-install-db >/dev/null && [ -x /usr/sbin/mariadbd ] ||
    die "MariaDB is not installed (scripts/test.sh installs mariadb-server)"
# shellcheck source=scripts/bench/common.sh
source "$ROOT/scripts/bench/common.sh"
"$JIT" --version >/dev/null || die "$JIT does not run"
echo "jit: $JIT ($("$JIT" --version))"
echo "server: $(/usr/sbin/mariadbd --version)"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every number)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/jit-bench-my.XXXXXX")
chmod 755 "$WORK"
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK/db" "$WORK/results" "$WORK/xdg"
AS_USER=()
[ "$(id -u)" = 0 ] && { chown mysql:mysql "$WORK/db"; AS_USER=(--user=mysql); }
export XDG_CONFIG_HOME="$WORK/xdg" XDG_STATE_HOME="$WORK/xdg" XDG_DATA_HOME="$WORK/xdg"
export JIT_CONFIG="$WORK/config.toml" JIT_STATE_DIR="$WORK/state" NO_COLOR=1
unset SUDO_USER JIT_TEST_CLOCK_OFFSET MYSQL_PWD MYSQL_HOST MYSQL_TCP_PORT

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
say "starting MariaDB on 127.0.0.1:$PORT"
mariadb-install-db --no-defaults --datadir="$WORK/db/data" --auth-root-authentication-method=normal \
    --skip-test-db "${AS_USER[@]}" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log" >&2; die "mariadb-install-db failed"; }
setpriv --pdeathsig=TERM /usr/sbin/mariadbd --no-defaults --datadir="$WORK/db/data" \
    --socket="$WORK/db/mysqld.sock" --pid-file="$WORK/db/mysqld.pid" --port="$PORT" \
    --bind-address=127.0.0.1 --skip-name-resolve --event-scheduler=ON --skip-log-bin \
    --innodb-buffer-pool-size=16M "${AS_USER[@]}" </dev/null >/dev/null 2>"$WORK/server.log" &
SERVER_PID=$!
root() { mariadb --no-defaults -S "$WORK/db/mysqld.sock" -u root -N -B "$@"; }
for i in $(seq 600); do
    root -e 'SELECT 1' >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; die "mariadbd exited"; }
    [ "$i" = 600 ] && die "MariaDB did not start within 60 s"
    sleep 0.1
done
root <<SQL
DROP USER IF EXISTS ''@'localhost';
CREATE USER jit_admin@'127.0.0.1' IDENTIFIED BY '$ADMIN_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO jit_admin@'127.0.0.1' WITH GRANT OPTION;
CREATE DATABASE app;
CREATE TABLE app.accounts (id INT PRIMARY KEY, owner VARCHAR(20));
SQL
accounts_like() { root -e "SELECT COUNT(*) FROM mysql.user WHERE User LIKE '$1' AND User <> 'jit_admin'"; }

SECRET="$WORK/db.password"
(umask 077 && printf '%s' "$ADMIN_PASSWORD" >"$SECRET")
cat >"$JIT_CONFIG" <<TOML
[targets.db]
backend = "mysql"
url = "mysql://jit_admin@127.0.0.1:$PORT/app"
password = "file:$SECRET"

[roles.db-eph]
target = "db"
max_ttl = "1h"
grant = { mode = "ephemeral", grants = ["SELECT, INSERT ON app.*"] }

[[eligibility]]
subjects = ["user:$(id -un)"]
roles = ["*"]
TOML
"$JIT" config check >/dev/null || die "the benchmark configuration is invalid"
export BENCH_JIT="$JIT" BENCH_MY_PORT="$PORT" BENCH_MY_PASSWORD="$ADMIN_PASSWORD"

# Both sides work before anything is timed.
bash "$RUNBOOK" jit-pair || die "jit request/revoke fails"
bash "$RUNBOOK" pair || die "the runbook fails"
[ "$(accounts_like 'jit\_%')" = 0 ] && [ "$(accounts_like 'rb\_%')" = 0 ] || die "accounts were left behind"
echo "checked: jit and the runbook create the account and drop it again"

say "request+revoke pair (bash $RUNBOOK MODE)"
hyperfine --style basic -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$WORK/results/pair.json" \
    "bash $RUNBOOK jit-pair" "bash $RUNBOOK pair" "bash $RUNBOOK skeleton"
med() { python3 "$HELPERS/median.py" "$WORK/results/pair.json" "$1"; }
JIT_MS=$(med 0)
RB_MS=$(med 1)
SH_MS=$(med 2)
[ "$(accounts_like 'jit\_%')" = 0 ] && [ "$(accounts_like 'rb\_%')" = 0 ] || die "accounts were left behind"
[ "$(root -e "SELECT COUNT(*) FROM information_schema.EVENTS")" = 0 ] || die "expiry events were left behind"
echo "checked: no jit_% or rb_% account and no event left"

RATIO=$(awk "BEGIN { printf \"%.2f\", $JIT_MS / $RB_MS }")
say "summary (medians of $RUNS runs, ms)"
echo "request+revoke, jit:                  $JIT_MS"
echo "request+revoke, runbook (2 mariadb):  $RB_MS"
echo "the wrapper's own cost (/bin/true):   $SH_MS"
if awk "BEGIN { exit !($JIT_MS <= $RB_MS) }"; then VERDICT=PASS; else VERDICT=FAIL; fi
echo "ratio jit/runbook: ${RATIO}x (target <= 1x): $VERDICT"
[ "${BENCH_STRICT:-0}" = 1 ] && [ "$VERDICT" = FAIL ] && exit 1
exit 0
