#!/usr/bin/env bash
# Benchmark of jit's aws backend against the AWS CLI, with hyperfine, on a moto server this
# script starts. From the repository root:
#
#     scripts/bench-aws.sh [--quick]
#
# --quick (or JIT_BENCH_QUICK=1): every step once on tiny sizes, with the debug build and
# without hyperfine if it is missing (scripts/bench/common.sh); the test suite runs it so
# (tests/it/benchmarks.rs) to keep the script working. Its figures mean nothing.
#
# Environment: JIT_BIN, BENCH_TARGET_DIR (see scripts/bench/common.sh), BENCH_RUNS (default
# 20), BENCH_WARMUP (default 3), BENCH_STRICT=1 to exit 1 when the target is missed.
#
# Measurement: `jit request --role aws-admin -q` (an assume-role lease: policy, the store,
# STS AssumeRole, the credentials kept in the keyring) against `aws sts assume-role` on the
# same role of the same emulator. Target: jit at most 1/10 of the AWS CLI's time.
set -euo pipefail

case "${1:-}" in --quick) export JIT_BENCH_QUICK=1 ;; "") ;; *) echo "usage: $0 [--quick]" >&2 && exit 2 ;; esac
if [ "${JIT_BENCH_QUICK:-0}" = 1 ]; then
    : "${BENCH_RUNS:=1}" "${BENCH_WARMUP:=0}"
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPERS="$ROOT/scripts/bench"
RUNS=${BENCH_RUNS:-20}
WARMUP=${BENCH_WARMUP:-3}

say() { printf '\n== %s\n' "$*"; }
die() { printf 'bench-aws: %s\n' "$*" >&2; exit 1; }

python3 -c 'import moto.server, awscli' 2>/dev/null ||
    die "moto[server] and awscli are not installed (scripts/test.sh installs them)"
# shellcheck source=scripts/bench/common.sh
source "$ROOT/scripts/bench/common.sh"
"$JIT" --version >/dev/null || die "$JIT does not run"
echo "jit: $JIT ($("$JIT" --version))"
echo "moto: $(python3 -c 'import moto; print(moto.__version__)'), aws: $(python3 -m awscli --version 2>&1)"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every number)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/jit-bench-aws.XXXXXX")
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
unset SUDO_USER JIT_TEST_CLOCK_OFFSET AWS_PROFILE AWS_SESSION_TOKEN

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ENDPOINT="http://127.0.0.1:$PORT"
say "starting moto server on $ENDPOINT"
setpriv --pdeathsig=TERM python3 -m moto.server -H 127.0.0.1 -p "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for i in $(seq 300); do
    python3 -c "import urllib.request; urllib.request.urlopen('$ENDPOINT/moto-api/data.json', timeout=1)" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; die "moto exited"; }
    [ "$i" = 300 ] && die "moto did not start within 30 s"
    sleep 0.1
done
export AWS_ACCESS_KEY_ID=AKIABENCHEXAMPLE AWS_SECRET_ACCESS_KEY=bench-secret AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE="$WORK/aws-config" AWS_SHARED_CREDENTIALS_FILE="$WORK/aws-credentials" AWS_EC2_METADATA_DISABLED=true
aws() { python3 -m awscli --endpoint-url "$ENDPOINT" "$@"; }
ROLE_ARN=$(aws iam create-role --role-name bench-admin --output text --query Role.Arn \
    --assume-role-policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}')

(umask 077 && printf '%s' "$AWS_ACCESS_KEY_ID" >"$WORK/key-id" && printf '%s' "$AWS_SECRET_ACCESS_KEY" >"$WORK/secret")
cat >"$JIT_CONFIG" <<TOML
[targets.cloud]
backend = "aws"
region = "us-east-1"
endpoint = "$ENDPOINT"
access_key_id = "file:$WORK/key-id"
secret_access_key = "file:$WORK/secret"

[roles.aws-admin]
target = "cloud"
max_ttl = "1h"
grant = { mode = "assume-role", role_arn = "$ROLE_ARN" }

[[eligibility]]
subjects = ["user:$(id -un)"]
roles = ["*"]
TOML
"$JIT" config check >/dev/null || die "the benchmark configuration is invalid"

# Both sides work before anything is timed.
"$JIT" request --role aws-admin -q | grep -q '^AWS_SESSION_TOKEN=' || die "jit request gives no session"
aws sts assume-role --role-arn "$ROLE_ARN" --role-session-name bench --duration-seconds 3600 \
    --output text --query Credentials.AccessKeyId | grep -q . || die "aws sts assume-role fails"
echo "checked: jit and the AWS CLI both get a session"

say "an assume-role session"
hyperfine --style basic -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$WORK/results/assume.json" \
    "$JIT request --role aws-admin -q" \
    "python3 -m awscli --endpoint-url $ENDPOINT sts assume-role --role-arn $ROLE_ARN --role-session-name bench --duration-seconds 3600"
med() { python3 "$HELPERS/median.py" "$WORK/results/assume.json" "$1"; }
JIT_MS=$(med 0)
CLI_MS=$(med 1)
RATIO=$(awk "BEGIN { printf \"%.3f\", $JIT_MS / $CLI_MS }")
say "summary (medians of $RUNS runs, ms)"
echo "jit request (assume-role):  $JIT_MS"
echo "aws sts assume-role:        $CLI_MS"
if awk "BEGIN { exit !($JIT_MS * 10 <= $CLI_MS) }"; then VERDICT=PASS; else VERDICT=FAIL; fi
echo "ratio jit/aws-cli: ${RATIO}x (target <= 0.1x): $VERDICT"
[ "${BENCH_STRICT:-0}" = 1 ] && [ "$VERDICT" = FAIL ] && exit 1
exit 0
