#!/usr/bin/env bash
# Benchmark of the integrations (the http backend, ticket checks, notifications, audit
# shipping), with hyperfine, against a local stub service this script starts. From the
# repository root:
#
#     scripts/bench-http.sh [--quick]
#
# --quick (or JIT_BENCH_QUICK=1): every step once on tiny sizes, with the debug build and
# without hyperfine if it is missing (scripts/bench/common.sh); the test suite runs it so
# (tests/it/benchmarks.rs) to keep the script working. Its figures mean nothing.
#
# Environment: JIT_BIN, BENCH_TARGET_DIR (see scripts/bench/common.sh), BENCH_RUNS (default
# 30), BENCH_WARMUP (default 3).
#
# Measurements (medians):
# - `jit request` of an http-backend role (policy, the store, one signed POST) against the
#   runbook it replaces: `curl` POSTing the same kind of body to the same service;
# - the same request on a role whose ticket is checked (one GET), with a JSON webhook told
#   of each event and the audit trail shipped to a collector (two and one POSTs): what the
#   integrations add to a request. No target is set by the issue; the figures are reported.
set -euo pipefail

case "${1:-}" in --quick) export JIT_BENCH_QUICK=1 ;; "") ;; *) echo "usage: $0 [--quick]" >&2 && exit 2 ;; esac
if [ "${JIT_BENCH_QUICK:-0}" = 1 ]; then
    : "${BENCH_RUNS:=1}" "${BENCH_WARMUP:=0}"
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPERS="$ROOT/scripts/bench"
RUNS=${BENCH_RUNS:-30}
WARMUP=${BENCH_WARMUP:-3}

say() { printf '\n== %s\n' "$*"; }
die() { printf 'bench-http: %s\n' "$*" >&2; exit 1; }

command -v curl >/dev/null || die "curl is missing (apt-get install -y curl)"
# shellcheck source=scripts/bench/common.sh
source "$ROOT/scripts/bench/common.sh"
"$JIT" --version >/dev/null || die "$JIT does not run"
echo "jit: $JIT ($("$JIT" --version))"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every number)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/jit-bench-http.XXXXXX")
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
mkdir -p "$WORK/results" "$WORK/xdg"
export XDG_CONFIG_HOME="$WORK/xdg" XDG_STATE_HOME="$WORK/xdg" XDG_DATA_HOME="$WORK/xdg" HOME="$WORK"
export JIT_CONFIG="$WORK/config.toml" JIT_STATE_DIR="$WORK/state" NO_COLOR=1
unset SUDO_USER JIT_TEST_CLOCK_OFFSET

# The stub: every service on one port. Grants, hooks and the collector answer at once; a
# ticket is always "In Progress".
cat >"$WORK/stub.py" <<'PY'
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Stub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        key = self.path.rsplit("/", 1)[-1]
        self.answer(200, json.dumps({"key": key, "fields": {"status": {"name": "In Progress"}}}).encode())
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.answer(200, b"{}" if self.path.startswith("/grants") else b"")

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Stub).serve_forever()
PY
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
setpriv --pdeathsig=TERM python3 "$WORK/stub.py" "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for i in $(seq 100); do
    curl -sf -o /dev/null "$BASE/issue/CHG-1" && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; die "the stub exited"; }
    [ "$i" = 100 ] && die "the stub did not start within 10 s"
    sleep 0.1
done

(umask 077 && printf 'Bearer bench-token' >"$WORK/token" && printf 'bench-signing-key' >"$WORK/signing")
TARGET="[targets.access]
backend = \"http\"
url = \"$BASE/grants\"
auth = \"file:$WORK/token\"
signing_secret = \"file:$WORK/signing\"

[[eligibility]]
subjects = [\"user:$(id -un)\"]
roles = [\"*\"]
"
# The http backend alone.
cat >"$WORK/plain.toml" <<TOML
$TARGET
[roles.deploy]
target = "access"
max_ttl = "1h"
grant = { groups = ["deploy"] }
TOML
# The same role with its ticket checked, a webhook and a collector.
cat >"$WORK/full.toml" <<TOML
$TARGET
[roles.deploy]
target = "access"
max_ttl = "1h"
grant = { groups = ["deploy"] }
ticket = { check = { url = "$BASE/issue/{ticket}", auth = "file:$WORK/token", status_field = "fields.status.name", allowed = ["In Progress"] } }

[[notify]]
url = "$BASE/hook"
events = ["requested", "granted"]

[[audit.ship]]
kind = "http"
url = "$BASE/ingest"
TOML
PLAIN="$JIT --config $WORK/plain.toml request --role deploy -q"
FULL="$JIT --config $WORK/full.toml request --role deploy --ticket CHG-1 -q"
$PLAIN >/dev/null || die "the plain request fails"
$FULL >/dev/null || die "the request with the integrations fails"
BODY='{"v":1,"op":"grant","target":"access","lease":{"id":"abcdefghij","role":"deploy","subject":"alice"},"params":{"groups":["deploy"]}}'
echo "checked: both roles grant through the stub"

say "a grant through the http backend, and the same call with curl"
hyperfine --style basic -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$WORK/results/grant.json" \
    "$PLAIN" \
    "$FULL" \
    "curl -sf -o /dev/null -X POST -H 'Authorization: Bearer bench-token' -H 'Content-Type: application/json' --data $BODY $BASE/grants"
med() { python3 "$HELPERS/median.py" "$WORK/results/grant.json" "$1"; }
PLAIN_MS=$(med 0)
FULL_MS=$(med 1)
CURL_MS=$(med 2)
say "summary (medians of $RUNS runs, ms)"
echo "jit request (http backend):                          $PLAIN_MS"
echo "jit request (+ ticket check, webhook, audit shipping): $FULL_MS"
echo "curl POST (the runbook's one call):                  $CURL_MS"
echo "ratio jit/curl: $(awk "BEGIN { printf \"%.2f\", $PLAIN_MS / $CURL_MS }")x"
echo "integrations add: $(awk "BEGIN { printf \"%.2f\", $FULL_MS - $PLAIN_MS }") ms ($(awk "BEGIN { printf \"%.2f\", $FULL_MS / $PLAIN_MS }")x)"
