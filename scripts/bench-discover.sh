#!/usr/bin/env bash
# Benchmark of `jit discover` on a large PostgreSQL and a large MariaDB, with hyperfine, on
# throwaway servers this script starts. From the repository root:
#
#     scripts/bench-discover.sh [--quick]
#
# --quick (or JIT_BENCH_QUICK=1): every step once on tiny sizes, with the debug build and
# without hyperfine if it is missing (scripts/bench/common.sh). Its figures mean nothing.
#
# Environment: JIT_BIN, BENCH_TARGET_DIR (see scripts/bench/common.sh), BENCH_RUNS (default
# 10), BENCH_WARMUP (default 2), BENCH_LOGINS (default 10000: PostgreSQL logins and MariaDB
# accounts), BENCH_GROUPS (default 100: PostgreSQL group roles and MariaDB roles),
# BENCH_STRICT=1 to exit 1 when a target is missed.
#
# The servers are started as the test suite starts them (tests/it/pg_cluster.rs through
# scripts/bench/pg_cluster.sh, tests/it/mariadb_server.rs): in the sandbox, loopback, a
# free port; stopped on exit.
#
# PostgreSQL: BENCH_LOGINS logins, BENCH_GROUPS group roles, each login a member of three
# of them (every 50th also SUPERUSER, every 10th with VALID UNTIL), jit roles naming every
# tenth group (membership and ephemeral), and 100 leftover-looking `jit_` logins (half
# marked by another store). MariaDB: BENCH_LOGINS accounts, BENCH_GROUPS roles, each account
# holding two roles and SELECT on a database, jit roles naming every tenth role and the
# database. Measured: `jit discover --json` on each target. Target: under 2 s each.
set -euo pipefail

case "${1:-}" in --quick) export JIT_BENCH_QUICK=1 ;; "") ;; *) echo "usage: $0 [--quick]" >&2 && exit 2 ;; esac
if [ "${JIT_BENCH_QUICK:-0}" = 1 ]; then
    : "${BENCH_RUNS:=1}" "${BENCH_WARMUP:=0}" "${BENCH_LOGINS:=50}" "${BENCH_GROUPS:=10}"
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPERS="$ROOT/scripts/bench"
RUNS=${BENCH_RUNS:-10}
WARMUP=${BENCH_WARMUP:-2}
LOGINS=${BENCH_LOGINS:-10000}
GROUPS_N=${BENCH_GROUPS:-100}
ADMIN_PASSWORD=admin-Secret-42

say() { printf '\n== %s\n' "$*"; }
die() { printf 'bench-discover: %s\n' "$*" >&2; exit 1; }

command -v python3 >/dev/null || die "python3 is required"
command -v mariadb-install-db >/dev/null && [ -x /usr/sbin/mariadbd ] ||
    die "MariaDB is not installed (scripts/test.sh installs mariadb-server)"
# shellcheck source=scripts/bench/common.sh
source "$ROOT/scripts/bench/common.sh"
"$JIT" --version >/dev/null || die "$JIT does not run"
echo "jit: $JIT ($("$JIT" --version))"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every number)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/jit-bench-discover.XXXXXX")
chmod 755 "$WORK"
PGDIR="$WORK/pg"
MY_PID=
cleanup() {
    stop_server
    if [ -n "$MY_PID" ]; then
        kill -TERM "$MY_PID" 2>/dev/null || true
        wait "$MY_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
stop_server() { :; }
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK/results" "$WORK/xdg" "$WORK/my"
export XDG_CONFIG_HOME="$WORK/xdg" XDG_STATE_HOME="$WORK/xdg" XDG_DATA_HOME="$WORK/xdg" XDG_CACHE_HOME="$WORK/xdg"
export JIT_CONFIG="$WORK/config.toml" JIT_STATE_DIR="$WORK/state" NO_COLOR=1
unset SUDO_USER JIT_TEST_CLOCK_OFFSET PGPASSWORD PGHOST PGPORT PGUSER PGDATABASE MYSQL_PWD MYSQL_HOST MYSQL_TCP_PORT
ME=$(id -un)
med() { python3 "$HELPERS/median.py" "$WORK/results/$1.json" 0; }

# ---- PostgreSQL --------------------------------------------------------------------------
# shellcheck source=scripts/bench/pg_cluster.sh
source "$HELPERS/pg_cluster.sh"
PG_PORT=$PORT
say "PostgreSQL: $LOGINS logins, $GROUPS_N group roles"
su_psql <<SQL
SET client_min_messages = warning;
CREATE ROLE jit_admin LOGIN CREATEROLE PASSWORD '$ADMIN_PASSWORD';
CREATE DATABASE app;
SELECT format('CREATE ROLE grp_%s NOLOGIN', g) FROM generate_series(1, $GROUPS_N) g \gexec
SELECT format('CREATE ROLE user_%s LOGIN%s%s', i,
              CASE WHEN i % 50 = 0 THEN ' SUPERUSER' ELSE '' END,
              CASE WHEN i % 10 = 0 THEN ' VALID UNTIL ''2999-01-01''' ELSE '' END)
FROM generate_series(1, $LOGINS) i \gexec
SELECT format('GRANT %s TO %s', string_agg(format('grp_%s', 1 + (i + 37 * k) % $GROUPS_N), ', '), format('user_%s', i))
FROM generate_series(1, $LOGINS) i, generate_series(0, 2) k GROUP BY i \gexec
SELECT format('CREATE ROLE jit_%s LOGIN', lpad(to_hex(i), 10, 'a')) FROM generate_series(1, 100) i \gexec
SELECT format('COMMENT ON ROLE jit_%s IS %L', lpad(to_hex(i), 10, 'a'), format('jit:0ther5tore:%s', lpad(to_hex(i), 10, 'a')))
FROM generate_series(1, 100, 2) i \gexec
SQL
SECRET="$WORK/admin.password"
(umask 077 && printf '%s' "$ADMIN_PASSWORD" >"$SECRET")
{
    printf '[targets.pg]\nbackend = "postgres"\nurl = "postgres://jit_admin@127.0.0.1:%s/app?sslmode=disable"\npassword = "file:%s"\n\n' "$PG_PORT" "$SECRET"
    for g in $(seq 10 10 "$GROUPS_N"); do
        printf '[roles.pg-%s]\ntarget = "pg"\nmax_ttl = "1h"\ngrant = { mode = "membership", roles = ["grp_%s"], login = "user_{user}" }\n\n' "$g" "$g"
    done
    printf '[roles.pg-eph]\ntarget = "pg"\nmax_ttl = "1h"\ngrant = { mode = "ephemeral", roles = ["grp_5"] }\n\n'
    printf '[[eligibility]]\nsubjects = ["user:%s"]\nroles = ["*"]\n' "$ME"
} >"$JIT_CONFIG"
"$JIT" config check >/dev/null || die "the PostgreSQL configuration is invalid"
COUNTS=$("$JIT" discover --json | python3 -c '
import collections, json, sys
doc = json.load(sys.stdin)
if doc["errors"]:
    sys.exit("bench-discover: " + json.dumps(doc["errors"]))
print(" ".join(f"{k}={v}" for k, v in sorted(collections.Counter(f["kind"] for f in doc["findings"]).items())))')
echo "jit discover finds: $COUNTS"
hyperfine --style basic -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$WORK/results/pg.json" \
    "$JIT discover --json --target pg"
PG_MS=$(med pg)
stop_server

# ---- MariaDB -----------------------------------------------------------------------------
AS_USER=()
[ "$(id -u)" = 0 ] && { chown mysql:mysql "$WORK/my"; AS_USER=(--user=mysql); }
MY_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
say "starting MariaDB on 127.0.0.1:$MY_PORT"
mariadb-install-db --no-defaults --datadir="$WORK/my/data" --auth-root-authentication-method=normal \
    --skip-test-db "${AS_USER[@]}" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log" >&2; die "mariadb-install-db failed"; }
setpriv --pdeathsig=TERM /usr/sbin/mariadbd --no-defaults --datadir="$WORK/my/data" \
    --socket="$WORK/my/mysqld.sock" --pid-file="$WORK/my/mysqld.pid" --port="$MY_PORT" \
    --bind-address=127.0.0.1 --skip-name-resolve --event-scheduler=ON --skip-log-bin \
    --innodb-buffer-pool-size=64M "${AS_USER[@]}" </dev/null >/dev/null 2>"$WORK/my-server.log" &
MY_PID=$!
root() { mariadb --no-defaults -S "$WORK/my/mysqld.sock" -u root -N -B "$@"; }
for i in $(seq 600); do
    root -e 'SELECT 1' >/dev/null 2>&1 && break
    kill -0 "$MY_PID" 2>/dev/null || { cat "$WORK/my-server.log" >&2; die "mariadbd exited"; }
    [ "$i" = 600 ] && die "MariaDB did not start within 60 s"
    sleep 0.1
done
say "MariaDB: $LOGINS accounts, $GROUPS_N roles"
python3 - "$LOGINS" "$GROUPS_N" "$ADMIN_PASSWORD" >"$WORK/setup.sql" <<'PY'
import sys
logins, groups, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
print("DROP USER IF EXISTS ''@'localhost';")
print(f"CREATE USER jit_admin@'127.0.0.1' IDENTIFIED BY '{password}';")
print("GRANT ALL PRIVILEGES ON *.* TO jit_admin@'127.0.0.1' WITH GRANT OPTION;")
print("CREATE DATABASE app;")
for g in range(1, groups + 1):
    print(f"CREATE ROLE role_{g};")
    print(f"GRANT role_{g} TO jit_admin@'127.0.0.1' WITH ADMIN OPTION;")
for i in range(1, logins + 1):
    print(f"CREATE USER 'user_{i}'@'%';")
    for k in (0, 1):
        print(f"GRANT role_{1 + (i + 37 * k) % groups} TO 'user_{i}'@'%';")
    if i % 5 == 0:
        print(f"GRANT SELECT ON app.* TO 'user_{i}'@'%';")
    if i % 100 == 0:
        print(f"GRANT SUPER ON *.* TO 'user_{i}'@'%';")
for i in range(1, 101):
    print(f"CREATE USER 'jit_{i:a>10x}'@'%';")
PY
root <"$WORK/setup.sql"
{
    printf '[targets.my]\nbackend = "mysql"\nurl = "mysql://jit_admin@127.0.0.1:%s/app"\npassword = "file:%s"\n\n' "$MY_PORT" "$SECRET"
    for g in $(seq 10 10 "$GROUPS_N"); do
        printf '[roles.my-%s]\ntarget = "my"\nmax_ttl = "1h"\ngrant = { mode = "role", roles = ["role_%s"], account = "user_{user}", host = "%%" }\n\n' "$g" "$g"
    done
    printf '[roles.my-eph]\ntarget = "my"\nmax_ttl = "1h"\ngrant = { mode = "ephemeral", grants = ["SELECT, INSERT ON app.*"] }\n\n'
    printf '[[eligibility]]\nsubjects = ["user:%s"]\nroles = ["*"]\n' "$ME"
} >"$JIT_CONFIG"
"$JIT" config check >/dev/null || die "the MariaDB configuration is invalid"
COUNTS=$("$JIT" discover --json | python3 -c '
import collections, json, sys
doc = json.load(sys.stdin)
if doc["errors"]:
    sys.exit("bench-discover: " + json.dumps(doc["errors"]))
print(" ".join(f"{k}={v}" for k, v in sorted(collections.Counter(f["kind"] for f in doc["findings"]).items())))')
echo "jit discover finds: $COUNTS"
hyperfine --style basic -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$WORK/results/my.json" \
    "$JIT discover --json --target my"
MY_MS=$(med my)

# ---- summary -----------------------------------------------------------------------------
say "summary (medians of $RUNS runs)"
STRICT_FAIL=0
for pair in "PostgreSQL ($LOGINS logins, $GROUPS_N groups):$PG_MS" "MariaDB ($LOGINS accounts, $GROUPS_N roles):$MY_MS"; do
    NAME=${pair%:*}
    MS=${pair##*:}
    if awk "BEGIN { exit !($MS < 2000) }"; then VERDICT=PASS; else VERDICT=FAIL; STRICT_FAIL=1; fi
    printf 'jit discover, %-40s %9.1f ms  (target < 2000 ms): %s\n' "$NAME" "$MS" "$VERDICT"
done
[ "${BENCH_STRICT:-0}" = 1 ] && [ "$STRICT_FAIL" = 1 ] && exit 1
exit 0
