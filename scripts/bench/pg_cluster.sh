# A throwaway PostgreSQL cluster for a benchmark, started the way tests/it/pg_cluster.rs
# starts it: initdb in $PGDIR (as the postgres user through setpriv when run as root),
# loopback only, a free port ($PORT), fsync off, password logins over TCP. `source` it
# after defining WORK, PGDIR, say and die; call stop_server when done. su_psql runs psql
# as the superuser over the socket.

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | while read -r d; do
    [ -x "$d/initdb" ] && echo "$d"; done | tail -n 1)
[ -n "$PG_BIN" ] || die "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): scripts/test.sh installs it"
[ -x "$PG_BIN/psql" ] || die "psql is missing from $PG_BIN (scripts/test.sh installs PostgreSQL and psql)"
PG_PID=
stop_server() {
    [ -n "$PG_PID" ] || return 0
    kill -INT "$PG_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$PG_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$PG_PID" 2>/dev/null && kill -KILL "$PG_PID" 2>/dev/null
    wait "$PG_PID" 2>/dev/null || true
    PG_PID=
}
mkdir -p "$PGDIR"
PG_AS=()
if [ "$(id -u)" = 0 ]; then
    OWNER=$(getent passwd postgres >/dev/null && echo postgres || echo nobody)
    chown "$OWNER:$(id -gn "$OWNER")" "$PGDIR"
    chmod 711 "$WORK"
    PG_AS=(setpriv --reuid="$OWNER" --regid="$(id -gn "$OWNER")" --clear-groups)
fi
chmod 755 "$PGDIR"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
say "starting PostgreSQL on 127.0.0.1:$PORT (cluster in $PGDIR)"
"${PG_AS[@]}" "$PG_BIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust --no-sync -E UTF8 >"$WORK/initdb.log" 2>&1 ||
    { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
printf 'local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n' >"$PGDIR/data/pg_hba.conf"
[ -n "${OWNER:-}" ] && chown "$OWNER:$(id -gn "$OWNER")" "$PGDIR/data/pg_hba.conf"
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
