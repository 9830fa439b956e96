#!/usr/bin/env bash
# Benchmark of jit's ssh backend: `jit request` of an OpenSSH user certificate against
# `ssh-keygen -s` signing the same certificate by hand, with hyperfine. Run from the
# repository root:
#
#     scripts/bench-ssh.sh [--quick]
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
#   BENCH_RUNS        timed runs per measurement (default 20; --version uses 3x that)
#   BENCH_WARMUP      warm-up runs per measurement (default 3)
#   BENCH_STRICT      1: exit 1 when a target is missed (default: report only)
#
# Everything (the CA and user keys, the configuration, the KRL path, jit's store, the
# certificates) lives in a mktemp -d directory that is removed on exit; JIT_CONFIG,
# JIT_STATE_DIR and XDG_* point there, so the user's real configuration, state and keys
# are never read or written.
#
# Measurements:
#   1. `jit request --role shell --pubkey user.pub --out jit-cert.pub -q` (one lease per run:
#      policy, the store's transactions and audit events, signing, the certificate file),
#      against `ssh-keygen -s ca` signing a certificate with the same principals, critical
#      options, extensions and validity. Target: jit no slower than ssh-keygen.
#   2. For information, where jit's time goes: `jit --version` (process start-up, against
#      /bin/true) and `jit request --dry-run` (configuration and policy: no signing, no
#      store writes).
set -euo pipefail

case "${1:-}" in --quick) export JIT_BENCH_QUICK=1 ;; "") ;; *) echo "usage: $0 [--quick]" >&2 && exit 2 ;; esac
if [ "${JIT_BENCH_QUICK:-0}" = 1 ]; then
    : "${BENCH_RUNS:=1}" "${BENCH_WARMUP:=0}"
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPERS="$ROOT/scripts/bench"
RUNS=${BENCH_RUNS:-20}
WARMUP=${BENCH_WARMUP:-3}
TTL=15m          # the certificate's lease; ssh-keygen gets the same window (-V -5m:+15m,
SKEW=5m          # jit's default clock_skew back-dates the start by 5 minutes too)

say() { printf '\n== %s\n' "$*"; }
die() { printf 'bench-ssh: %s\n' "$*" >&2; exit 1; }

# ---- tools -------------------------------------------------------------------------------
command -v python3 >/dev/null || die "python3 is required"
command -v ssh-keygen >/dev/null || die "ssh-keygen is required (apt-get install -y openssh-client)"
# hyperfine, and the binary to measure (JIT).
# shellcheck source=scripts/bench/common.sh
source "$ROOT/scripts/bench/common.sh"
"$JIT" --version >/dev/null || die "$JIT does not run"
# Only debug builds contain JIT_TEST_CLOCK_OFFSET (src/clock.rs, cfg(debug_assertions)).
if grep -qa JIT_TEST_CLOCK_OFFSET "$JIT"; then BUILD=debug; else BUILD=release; fi
echo "jit: $JIT ($("$JIT" --version), $BUILD build)"
OPENSSH=$(command -v ssh >/dev/null && ssh -V 2>&1 || echo "OpenSSH version unknown")
echo "ssh-keygen: $(command -v ssh-keygen) ($OPENSSH)"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every number)"

# ---- the sandbox -------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/jit-bench-ssh.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
# hyperfine --shell=none splits its commands at white space.
case $WORK in *[[:space:]]*) die "the sandbox path $WORK holds white space (set TMPDIR)" ;; esac
mkdir -p "$WORK/results" "$WORK/xdg/config" "$WORK/xdg/state" "$WORK/xdg/data" "$WORK/xdg/cache"
export XDG_CONFIG_HOME="$WORK/xdg/config" XDG_STATE_HOME="$WORK/xdg/state"
export XDG_DATA_HOME="$WORK/xdg/data" XDG_CACHE_HOME="$WORK/xdg/cache"
export JIT_CONFIG="$WORK/config.toml"
export JIT_STATE_DIR="$WORK/state"
export NO_COLOR=1
unset SUDO_USER JIT_TEST_CLOCK_OFFSET SSH_AUTH_SOCK
ME=$(id -un)
RESULTS="$WORK/results"
SUMMARY="$WORK/summary.tsv"
: >"$SUMMARY"
echo "sandbox: $WORK ($(df -PT "$WORK" | awk 'NR == 2 { print $2 }'); jit's store syncs to it on every commit)"

# The certificate authority (0600: jit reads it through a file: reference) and the key to
# certify.
CA="$WORK/ca"
USER_KEY="$WORK/user"
ssh-keygen -q -t ed25519 -N '' -C jit-bench-ca -f "$CA"
chmod 600 "$CA"
ssh-keygen -q -t ed25519 -N '' -C jit-bench-user -f "$USER_KEY"
JIT_CERT="$WORK/jit-cert.pub"
KEYGEN_CERT="$USER_KEY-cert.pub"   # where ssh-keygen -s writes it

cat >"$JIT_CONFIG" <<EOF
[targets.hosts]
backend = "ssh"
ca_key = "file:$CA"
krl = "$WORK/revoked.krl"

[roles.shell]
target = "hosts"
max_ttl = "1h"
grant = { principals = ["$ME"], force_command = "/usr/bin/uptime", source_address = ["127.0.0.1/32"], extensions = ["permit-pty"] }

[[eligibility]]
subjects = ["user:$ME"]
roles = ["*"]
EOF
"$JIT" config check >/dev/null || die "the benchmark configuration is invalid"

# The two commands timed, as hyperfine --shell=none runs them. `-O clear` drops
# ssh-keygen's default extensions, so that permit-pty is the only one, as in the role.
JIT_REQUEST="$JIT request --role shell --ttl $TTL --pubkey $USER_KEY.pub --out $JIT_CERT -q"
JIT_DRY_RUN="$JIT request --role shell --ttl $TTL --pubkey $USER_KEY.pub --dry-run -q"
KEYGEN_SIGN="ssh-keygen -q -s $CA -I jit:test -n $ME -V -$SKEW:+$TTL -z 12345 -O force-command=/usr/bin/uptime -O source-address=127.0.0.1/32 -O clear -O permit-pty $USER_KEY.pub"

# hf NAME [hyperfine options and commands...]: run hyperfine, keep its JSON as NAME.
hf() {
    local name=$1
    shift
    hyperfine --style basic --warmup "$WARMUP" --export-json "$RESULTS/$name.json" "$@"
}
# med NAME [INDEX]: the median, in ms, of a result kept by hf.
med() { python3 "$HELPERS/median.py" "$RESULTS/$1.json" "${2:-0}"; }
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
le() { awk "BEGIN { exit !($1 <= $2) }"; }
# row MEASUREMENT MEDIAN BASELINE-NAME BASELINE-MEDIAN TARGET VERDICT
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$SUMMARY"; }
verdict() { if "$@"; then echo PASS; else echo FAIL; fi; }
# live_leases: how many active leases the store holds.
live_leases() {
    "$JIT" list --json | python3 -c 'import json, sys
print(sum(1 for l in json.load(sys.stdin) if l["state"] == "active"))'
}
# cert_field CERT FIELD: one line of `ssh-keygen -L` ("Signing CA", "Valid", ...), its value.
cert_field() { ssh-keygen -L -f "$1" | sed -n "s/^ *$2: *//p"; }
# cert_grants CERT: what the certificate allows: its principals, critical options and
# extensions (the last three sections of `ssh-keygen -L`), white space normalised.
cert_grants() { ssh-keygen -L -f "$1" | sed -n '/^ *Principals:/,$p' | sed 's/^[[:space:]]*//; s/[[:space:]]*$//'; }
# cert_seconds CERT: the length of its validity window, in seconds.
cert_seconds() {
    local from to
    read -r _ from _ to < <(cert_field "$1" Valid)
    echo $(($(date -d "$to" +%s) - $(date -d "$from" +%s)))
}

# ---- 0. the two certificates are the same grant ------------------------------------------
say "0. checking that jit and ssh-keygen issue the same certificate"
$JIT_REQUEST >/dev/null || die "jit request failed: $JIT_REQUEST"
$KEYGEN_SIGN || die "ssh-keygen -s failed: $KEYGEN_SIGN"
[ -s "$JIT_CERT" ] || die "jit request wrote no certificate to $JIT_CERT"
[ -s "$KEYGEN_CERT" ] || die "ssh-keygen wrote no certificate to $KEYGEN_CERT"
CA_FP=$(ssh-keygen -l -f "$CA.pub" | awk '{ print $2 }')
for cert in "$JIT_CERT" "$KEYGEN_CERT"; do
    [ "$(cert_field "$cert" Type)" = "ssh-ed25519-cert-v01@openssh.com user certificate" ] ||
        die "$cert is not an ed25519 user certificate: $(cert_field "$cert" Type)"
    case $(cert_field "$cert" "Signing CA") in
        *" $CA_FP "*) ;;
        *) die "$cert is not signed by the sandbox CA ($CA_FP): $(cert_field "$cert" "Signing CA")" ;;
    esac
done
if ! diff <(cert_grants "$JIT_CERT") <(cert_grants "$KEYGEN_CERT") >"$WORK/grants.diff"; then
    cat "$WORK/grants.diff" >&2
    die "the certificates differ in principals, critical options or extensions (< jit, > ssh-keygen)"
fi
JIT_SECONDS=$(cert_seconds "$JIT_CERT")
KEYGEN_SECONDS=$(cert_seconds "$KEYGEN_CERT")
[ "$JIT_SECONDS" = "$KEYGEN_SECONDS" ] ||
    die "validity windows differ: jit $JIT_SECONDS s, ssh-keygen $KEYGEN_SECONDS s"
[ "$(live_leases)" = 1 ] || die "jit request left $(live_leases) live leases, expected 1"
echo "both certificates: signed by $CA_FP, valid $((JIT_SECONDS / 60)) minutes, and"
cert_grants "$JIT_CERT" | sed 's/^/    /'
echo "jit: key id $(cert_field "$JIT_CERT" "Key ID"), serial $(cert_field "$JIT_CERT" Serial)"
echo "ssh-keygen: key id $(cert_field "$KEYGEN_CERT" "Key ID"), serial $(cert_field "$KEYGEN_CERT" Serial)"
"$JIT" request --role shell --ttl "$TTL" --pubkey "$USER_KEY.pub" --dry-run -q >/dev/null ||
    die "jit request --dry-run failed"
[ "$(live_leases)" = 1 ] || die "jit request --dry-run created a lease"

# ---- 1. jit request against ssh-keygen -s ------------------------------------------------
# One command at a time, no shell. Every jit run grants one more lease (and its certificate
# overwrites jit-cert.pub); the store grows by RUNS + WARMUP leases, which does not change
# what a request costs. Every ssh-keygen run overwrites user-cert.pub.
say "1. jit request (ssh certificate) against ssh-keygen -s (hyperfine --shell=none)"
hf sign -N --runs "$RUNS" "$JIT_REQUEST" "$KEYGEN_SIGN"
EXPECTED=$((1 + WARMUP + RUNS))
[ "$(live_leases)" = "$EXPECTED" ] ||
    die "the store holds $(live_leases) live leases, expected $EXPECTED (one per jit request)"
echo "checked: $EXPECTED live leases, one per jit request"
REQ_MS=$(med sign 0)
KEYGEN_MS=$(med sign 1)
row "jit request (ssh certificate)" "$REQ_MS" "ssh-keygen -s" "$KEYGEN_MS" "<= 1x" \
    "$(verdict le "$REQ_MS" "$KEYGEN_MS")"

# ---- 2. (info) where jit's time goes -----------------------------------------------------
say "2. (info) jit --version (process start-up), against /bin/true"
hf version -N --runs $((RUNS * 3)) "$JIT --version" "/bin/true"
V=$(med version 0)
TRUE_MS=$(med version 1)
row "jit --version" "$V" "/bin/true" "$TRUE_MS" "-" "info"

say "2b. (info) jit request --dry-run (configuration and policy; no signing, no store writes)"
hf dry_run -N --runs "$RUNS" "$JIT_DRY_RUN"
[ "$(live_leases)" = "$EXPECTED" ] || die "jit request --dry-run changed the store"
DRY_MS=$(med dry_run)
row "jit request --dry-run" "$DRY_MS" "ssh-keygen -s" "$KEYGEN_MS" "-" "info"

echo
echo "ssh-keygen -s:                      $KEYGEN_MS ms (median)"
echo "jit request:                        $REQ_MS ms -> jit/ssh-keygen $(calc "$REQ_MS / $KEYGEN_MS")x, difference $(calc "$REQ_MS - $KEYGEN_MS") ms"
echo "  process start-up (jit --version): $V ms (/bin/true: $TRUE_MS ms)"
echo "  + configuration, identity, policy, store read (--dry-run - --version): $(calc "$DRY_MS - $V") ms"
echo "  + lease transactions, audit events, signing, certificate file (request - --dry-run): $(calc "$REQ_MS - $DRY_MS") ms"

# ---- summary -----------------------------------------------------------------------------
say "summary (medians, ms; ratio = median / baseline median)"
awk -F '\t' '
    BEGIN { printf "%-32s %9s  %-14s %9s %7s  %-7s %s\n", "measurement", "median", "baseline", "b. median", "ratio", "target", "result" }
    { printf "%-32s %9.2f  %-14s %9.2f %6.2fx  %-7s %s\n", $1, $2, $3, $4, ($4 > 0 ? $2 / $4 : 0), $5, $6 }
' "$SUMMARY"

if [ "${BENCH_STRICT:-0}" = 1 ] && grep -q $'\tFAIL$' "$SUMMARY"; then
    exit 1
fi
