#!/usr/bin/env bash
# mysql_runbook.sh MODE: the shell side of scripts/bench-mysql.sh. hyperfine runs
# `bash mysql_runbook.sh MODE` for both jit and the mariadb-client runbook, so the shell's
# own start-up and structure are the same on both sides of the comparison.
#
# Modes:
#   jit-pair   jit request --role db-eph -q, then jit revoke ID                (BENCH_JIT)
#   pair       the runbook: one mariadb call grants, one mariadb call revokes
#   skeleton   the shape of both with /bin/true: the shell's own cost
#
# The statements mirror src/backend/mysql/mod.rs: the grant creates the account, grants, and
# schedules the one-shot expiry event; the revoke locks the account, ends its sessions
# (KILL CONNECTION USER, one statement, where jit reads PROCESSLIST and kills each), drops
# the account and the event. The client connects over TCP as the admin with MYSQL_PWD:
# BENCH_MY_PORT, BENCH_MY_PASSWORD (jit never sees MYSQL_PWD).
set -euo pipefail

PORT=${BENCH_MY_PORT:?BENCH_MY_PORT is not set}
CLIENT=(mariadb --no-defaults -h 127.0.0.1 -P "$PORT" -u jit_admin app)

mode=${1:?usage: mysql_runbook.sh MODE}
case $mode in
jit-pair)
    out=$("$BENCH_JIT" request --role db-eph -q)
    "$BENCH_JIT" revoke -q "${out%%$'\n'*}" >/dev/null
    ;;
pair)
    export MYSQL_PWD=${BENCH_MY_PASSWORD:?BENCH_MY_PASSWORD is not set}
    name=rb_$SRANDOM$SRANDOM
    password=$SRANDOM$SRANDOM$SRANDOM$SRANDOM$SRANDOM
    printf -v until '%(%Y-%m-%d %H:%M:%S)T' $((EPOCHSECONDS + 3600))
    "${CLIENT[@]}" -e "SET time_zone = '+00:00'; CREATE USER '$name'@'%' IDENTIFIED BY '$password'; GRANT SELECT, INSERT ON app.* TO '$name'@'%'; CREATE OR REPLACE EVENT app.expire_$name ON SCHEDULE AT '$until' ON COMPLETION NOT PRESERVE DO DROP USER IF EXISTS '$name'@'%';"
    "${CLIENT[@]}" -e "ALTER USER '$name'@'%' ACCOUNT LOCK; KILL CONNECTION USER '$name'; DROP USER IF EXISTS '$name'@'%'; DROP EVENT IF EXISTS app.expire_$name;"
    ;;
skeleton)
    out=$(/bin/true)
    /bin/true "${out%%$'\n'*}" >/dev/null
    ;;
*)
    echo "mysql_runbook.sh: unknown mode $mode" >&2
    exit 2
    ;;
esac
