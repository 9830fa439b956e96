#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need on a fresh Debian
# machine (quickly skipped when present), then format check, lints and tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
command -v setpriv >/dev/null || need_apt+=(util-linux)
command -v cc >/dev/null || need_apt+=(gcc libc6-dev)
# PostgreSQL server binaries (the suite starts its own throwaway cluster) and psql.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v psql >/dev/null || need_apt+=(postgresql-client)
# openssl makes the certificate authority of the PostgreSQL TLS tests.
command -v openssl >/dev/null || need_apt+=(openssl)
# A real sshd and ssh client (and ssh-keygen) for the ssh backend tests.
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v ssh >/dev/null || need_apt+=(openssh-client)
# MariaDB server binaries (the suite starts its own throwaway server).
command -v mariadb-install-db >/dev/null && [ -x /usr/sbin/mariadbd ] || need_apt+=(mariadb-server)
# sudo and visudo for the sudo backend tests.
[ -x /usr/sbin/visudo ] && command -v sudo >/dev/null || need_apt+=(sudo)
# curl: scripts/bench-http.sh compares jit with it (tests/it/benchmarks.rs runs every
# benchmark script in its quick mode).
command -v curl >/dev/null || need_apt+=(curl)
# A real headless browser opens the HTML review (tests/it/review.rs).
command -v chromium >/dev/null || need_apt+=(chromium)
# node and npm for the MCP Inspector's CLI (tests/it/mcp.rs).
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
# tmux: a real terminal for the progress tests (tests/it/progress.rs: spinner and bars).
command -v tmux >/dev/null || need_apt+=(tmux)
# The Debian package test (tests/it/deb.rs): dpkg-shlibdeps (dpkg-dev) for the package's
# Depends, man-db to render the installed page, bash-completion's loader to find the
# installed completion.
command -v dpkg-shlibdeps >/dev/null || need_apt+=(dpkg-dev)
command -v man >/dev/null || need_apt+=(man-db)
[ -r /usr/share/bash-completion/bash_completion ] || need_apt+=(bash-completion)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}"
fi
# Python packages from PyPI into the python3 the tests run.
pip_install() {
  if ! python3 -m pip --version >/dev/null 2>&1; then
    sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3-pip
  fi
  pip_flags=(--quiet --disable-pip-version-check)
  # Debian's own python3 is "externally managed": pip installs beside it (/usr/local) only
  # when told to; a python3 of its own (pyenv, a venv) takes the packages as they are.
  if python3 -c 'import os, sys, sysconfig; sys.exit(sys.prefix != sys.base_prefix or not os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))'; then
    pip_flags+=(--break-system-packages)
    [ "$(id -u)" -ne 0 ] && pip_flags+=(--user)
  fi
  echo "installing from PyPI: $*"
  python3 -m pip install "${pip_flags[@]}" "$@"
}
# The AWS API emulator moto (its server), boto3 and the AWS CLI for the aws backend tests
# (`python3 -m moto.server`, `python3 -m awscli`).
if ! python3 -c 'import moto.server, flask, flask_cors, boto3, awscli' >/dev/null 2>&1; then
  pip_install 'moto[server]' awscli
fi
# The OCSF 1.5.0 schema as models (ocsf-emitter) for scripts/ocsf-validate.py, which the
# OCSF export tests run.
if ! python3 -c 'import ocsf_emitter' >/dev/null 2>&1; then
  pip_install 'ocsf-emitter==0.3.0'
fi
# The official MCP Python SDK, whose stdio client drives `jit mcp` (tests/mcp/driver.py).
if ! python3 -c 'import importlib.metadata as m, sys; sys.exit(m.version("mcp") != "2.3.0")' >/dev/null 2>&1; then
  pip_install 'mcp==2.3.0'
fi
# The MCP Inspector's CLI, into a cache directory of its own where tests/it/mcp.rs finds it
# (JIT_TEST_INSPECTOR_DIR, by default ~/.cache/jit-tests/mcp-inspector-cli).
inspector_version=1.0.3
inspector_dir=${JIT_TEST_INSPECTOR_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/jit-tests/mcp-inspector-cli}
if ! grep -qs "\"version\": \"$inspector_version\"" "$inspector_dir/node_modules/@modelcontextprotocol/inspector-cli/package.json"; then
  echo "installing from npm: @modelcontextprotocol/inspector-cli@$inspector_version"
  mkdir -p "$inspector_dir"
  npm install --prefix "$inspector_dir" --no-audit --no-fund --loglevel=error \
    "@modelcontextprotocol/inspector-cli@$inspector_version"
fi
# Taplo's CLI (the checker behind Even Better TOML), into a cache directory of its own where
# tests/it/config_schema.rs finds it (JIT_TEST_TAPLO_DIR, by default
# ~/.cache/jit-tests/taplo-cli): it checks the docs' examples against docs/config.schema.json.
taplo_version=0.7.0
taplo_dir=${JIT_TEST_TAPLO_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/jit-tests/taplo-cli}
if ! grep -qs "\"version\": \"$taplo_version\"" "$taplo_dir/node_modules/@taplo/cli/package.json"; then
  echo "installing from npm: @taplo/cli@$taplo_version"
  mkdir -p "$taplo_dir"
  npm install --prefix "$taplo_dir" --no-audit --no-fund --loglevel=error "@taplo/cli@$taplo_version"
fi
# Prometheus and promtool for the metrics tests (tests/it/metrics.rs), which start their own
# server on loopback: the Debian package's own service is kept from starting (policy-rc.d
# while installing) and disabled.
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  echo "installing: prometheus"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  policy=/usr/sbin/policy-rc.d
  had_policy=no; [ -e "$policy" ] && had_policy=yes
  [ "$had_policy" = no ] && printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee "$policy" >/dev/null && $sudo_cmd chmod +x "$policy"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends prometheus
  [ "$had_policy" = no ] && $sudo_cmd rm -f "$policy"
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    $sudo_cmd systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  fi
fi
# cargo-deb builds the Debian package (tests/it/deb.rs, README "Install on Debian/Ubuntu").
cargo_deb_version=3.8.0
if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $cargo_deb_version" ]; then
  echo "installing: cargo-deb $cargo_deb_version"
  cargo install --quiet --locked cargo-deb --version "$cargo_deb_version"
fi
if command -v rustup >/dev/null; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi

cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets
