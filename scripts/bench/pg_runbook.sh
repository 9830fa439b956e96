#!/usr/bin/env bash
# pg_runbook.sh MODE [ARGS]: the shell side of scripts/bench-postgres.sh. hyperfine runs
# `bash pg_runbook.sh MODE` for both jit and the psql runbook, so the shell's own start-up
# and structure are the same on both sides of a comparison.
#
# Modes:
#   jit-pair             jit request --role db-eph -q, then jit revoke ID      (BENCH_JIT)
#   pair [PSQL]          the runbook: one psql call grants, one psql call revokes
#                        (PSQL: another psql program for this run, e.g. /usr/bin/psql)
#   pair-per-stmt        the runbook with one psql call per statement (3 + 6 calls)
#   skeleton             the shape of jit-pair / pair with /bin/true: the shell's own cost
#   sql grant|revoke NAME [PASSWORD UNTIL]   print the SQL of one step (no server needed)
#   create-many PREFIX N one psql call creating PREFIX1..PREFIXN as the runbook grants them
#   revoke-many PREFIX N N psql calls, each revoking one of them (the runbook's "sweep")
#
# The statements mirror src/backend/postgres/mod.rs (grant_ephemeral / revoke_ephemeral),
# advisory lock included; jit binds the values through the server's format(), the runbook
# splices them in (they are generated here and safe). jit sends a SCRAM verifier it computed
# itself; the runbook sends the password and the server computes the verifier: the same
# PBKDF2 work, on the other side of the connection.
#
# psql is BENCH_PSQL (default: psql from PATH; bench-postgres.sh passes the server's own
# binary, /usr/lib/postgresql/N/bin/psql: on Debian /usr/bin/psql is pg_wrapper, a Perl
# script that costs ~25 ms per call before psql starts). It connects over TCP as the admin login, with PGPASSWORD, to the `app` database:
#   BENCH_PG_PORT, BENCH_PG_PASSWORD (and optionally BENCH_PG_HOST, BENCH_PG_USER,
#   BENCH_PG_DB, BENCH_PG_GROUP). jit never sees PGPASSWORD.
set -euo pipefail
export TZ=UTC

HOST=${BENCH_PG_HOST:-127.0.0.1}
PORT=${BENCH_PG_PORT:-5432}
ADMIN=${BENCH_PG_USER:-jit_admin}
DB=${BENCH_PG_DB:-app}
GROUP=${BENCH_PG_GROUP:-app_rw}
LOCK=1785295872 # ACL_LOCK in src/backend/postgres/mod.rs: 0x6a697400, "jit\0"

PSQL=("${BENCH_PSQL:-psql}" -X -q -At -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U "$ADMIN" -d "$DB")
# The runbook modes call "${PSQL[@]}" directly (no function in between), so each psql call
# costs the shell exactly what each jit call costs it: a fork and an exec.
runbook_env() { export PGPASSWORD=${BENCH_PG_PASSWORD:?BENCH_PG_PASSWORD is not set}; }

# grant_sql VAR NAME PASSWORD UNTIL: grant_ephemeral's script, into VAR.
grant_sql() {
    printf -v "$1" '%s' "SELECT pg_advisory_xact_lock($LOCK); CREATE ROLE $2 WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD '$3' VALID UNTIL '$4' CONNECTION LIMIT -1; GRANT $GROUP TO $2; GRANT CONNECT ON DATABASE $DB TO $2;"
}

# revoke_sql VAR NAME: revoke_ephemeral's script (CLOSE DISOWN DROP), into VAR.
revoke_sql() {
    printf -v "$1" '%s' "SELECT pg_advisory_xact_lock($LOCK); ALTER ROLE $2 NOLOGIN; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '$2' AND pid <> pg_backend_pid(); GRANT $2 TO CURRENT_USER; SELECT pg_advisory_xact_lock($LOCK); REASSIGN OWNED BY $2 TO CURRENT_USER; DROP OWNED BY $2; DROP ROLE IF EXISTS $2;"
}

# A fresh login name, password and end an hour from now, with no extra process
# (jit's own generation happens inside jit, so the runbook gets it for free too).
fresh() {
    name=rb_$SRANDOM$SRANDOM
    password=$SRANDOM$SRANDOM$SRANDOM$SRANDOM$SRANDOM
    printf -v until '%(%Y-%m-%d %H:%M:%S+00)T' $((EPOCHSECONDS + 3600))
}

mode=${1:?usage: pg_runbook.sh MODE [ARGS]}
shift
case $mode in
jit-pair)
    # -q prints the lease id on the first line, then the credentials as KEY=VALUE lines.
    out=$("${BENCH_JIT:?BENCH_JIT is not set}" request --role db-eph -q)
    "$BENCH_JIT" revoke -q "${out%%$'\n'*}" >/dev/null
    ;;
pair)
    [ -n "${1:-}" ] && PSQL[0]=$1
    runbook_env
    fresh
    grant_sql g "$name" "$password" "$until"
    revoke_sql r "$name"
    out=$("${PSQL[@]}" -c "$g")
    "${PSQL[@]}" -c "$r" >/dev/null
    ;;
pair-per-stmt)
    runbook_env
    fresh
    "${PSQL[@]}" -c "CREATE ROLE $name WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD '$password' VALID UNTIL '$until' CONNECTION LIMIT -1"
    "${PSQL[@]}" -c "GRANT $GROUP TO $name"
    "${PSQL[@]}" -c "GRANT CONNECT ON DATABASE $DB TO $name"
    "${PSQL[@]}" -c "ALTER ROLE $name NOLOGIN"
    "${PSQL[@]}" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '$name' AND pid <> pg_backend_pid()" >/dev/null
    # PostgreSQL 15 and earlier: the admin must be a member to reassign / drop what it owns.
    "${PSQL[@]}" -c "GRANT $name TO CURRENT_USER"
    "${PSQL[@]}" -c "REASSIGN OWNED BY $name TO CURRENT_USER"
    "${PSQL[@]}" -c "DROP OWNED BY $name"
    "${PSQL[@]}" -c "DROP ROLE $name"
    ;;
skeleton)
    out=$(/bin/true)
    /bin/true >/dev/null
    ;;
sql)
    case ${1:-} in
    grant)
        fresh
        grant_sql g "${2:?name}" "${3:-$password}" "${4:-$until}"
        printf '%s\n' "$g"
        ;;
    revoke)
        revoke_sql r "${2:?name}"
        printf '%s\n' "$r"
        ;;
    *) echo "pg_runbook.sh sql grant|revoke NAME" >&2 && exit 2 ;;
    esac
    ;;
create-many)
    prefix=${1:?prefix} n=${2:?count}
    fresh
    for ((i = 1; i <= n; i++)); do
        grant_sql g "$prefix$i" "$password$i" "$until"
        printf '%s\n' "$g"
    done | (runbook_env && "${PSQL[@]}" -1 -f - >/dev/null)
    ;;
revoke-many)
    runbook_env
    prefix=${1:?prefix} n=${2:?count}
    for ((i = 1; i <= n; i++)); do
        revoke_sql r "$prefix$i"
        "${PSQL[@]}" -c "$r" >/dev/null
    done
    ;;
*)
    echo "pg_runbook.sh: unknown mode $mode" >&2
    exit 2
    ;;
esac
