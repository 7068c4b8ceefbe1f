#!/usr/bin/env bash
# Runs every test of Berth on a fresh machine: installs the real clients when
# missing, creates a fresh PostgreSQL test database when a server is reachable,
# checks formatting and lints, runs the Rust test suite on SQLite and
# PostgreSQL (there with blobs in S3: moto's server), then the real-client
# checks (skopeo, umoci, oras) on both.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

# --- tools ---
missing=()
# The portal's browser tests drive Debian's Chromium through its WebDriver;
# the scanner's tests build an rpm database with rpm and a Go program with Go;
# replication's talk to CNCF Distribution (Debian's docker-registry); LDAP's
# to OpenLDAP (slapd, with ldap-utils to load it); OpenID Connect's to the
# npm oidc-provider package, run by Node; replicas sit behind nginx; az://
# storage talks to the npm azurite package.
for tool in skopeo umoci curl openssl psql chromium chromedriver rpmbuild go docker-registry slapd ldapadd node npm nginx; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  pkgs=("${missing[@]/psql/postgresql-client}")
  pkgs=("${pkgs[@]/chromedriver/chromium-driver}")
  pkgs=("${pkgs[@]/rpmbuild/rpm}")
  pkgs=("${pkgs[@]/#go/golang-go}")
  pkgs=("${pkgs[@]/ldapadd/ldap-utils}")
  pkgs=("${pkgs[@]/#node/nodejs}")
  pkgs=("${pkgs[@]/#nginx/nginx-light}")
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  # Packaged servers (slapd) are not started: the tests start their own.
  no_start=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    no_start=1
    printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee /usr/sbin/policy-rc.d >/dev/null
    $sudo_cmd chmod +x /usr/sbin/policy-rc.d
  fi
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${pkgs[@]}" >/dev/null
  if [ -n "$no_start" ]; then $sudo_cmd rm -f /usr/sbin/policy-rc.d; fi
fi
oidc_dir=target/oidc-provider
if [ ! -d "$oidc_dir/node_modules/oidc-provider" ]; then
  log "installing oidc-provider (npm)"
  npm install --silent --no-audit --no-fund --prefix "$oidc_dir" oidc-provider@9 >/dev/null
fi
azurite_dir=target/azurite
if [ ! -x "$azurite_dir/node_modules/.bin/azurite-blob" ]; then
  log "installing azurite (npm), an Azure Blob Storage server"
  npm install --silent --no-audit --no-fund --prefix "$azurite_dir" azurite@3 >/dev/null
fi
python3 -c 'import oras' 2>/dev/null || { log "installing oras (PyPI)"; python3 -m pip install -q oras; }
python3 -c 'import harborapi' 2>/dev/null || { log "installing harborapi (PyPI)"; python3 -m pip install -q harborapi; }
python3 -c 'import moto.server' 2>/dev/null || { log "installing moto (PyPI), an S3 server"; python3 -m pip install -q "moto[server]"; }
python3 -c 'import openapi_spec_validator' 2>/dev/null || { log "installing openapi-spec-validator (PyPI)"; python3 -m pip install -q openapi-spec-validator; }

# --- database ---
pg_base=${BERTH_PG_BASE:-postgres://postgres@127.0.0.1:5432}
if [ -z "${BERTH_TEST_DATABASE_URL:-}" ] && psql "$pg_base/postgres" -qAtc 'select 1' >/dev/null 2>&1; then
  log "fresh PostgreSQL test database"
  # Databases left by earlier runs (one per test server) are dropped first.
  for db in $(psql "$pg_base/postgres" -qAtc "select datname from pg_database where datname like 'berth\_t\_%' or datname like 'berth\_%test\_%' or datname = 'berth_test'"); do
    psql "$pg_base/postgres" -qc "drop database if exists $db" >/dev/null
  done
  psql "$pg_base/postgres" -qc "create database berth_test" >/dev/null
  export BERTH_TEST_DATABASE_URL="$pg_base/berth_test"
fi
if [ -n "${BERTH_TEST_DATABASE_URL:-}" ]; then
  echo "PostgreSQL tests on: $BERTH_TEST_DATABASE_URL"
else
  echo "no PostgreSQL reachable: SQLite only"
fi

# --- object storage ---
# Servers on PostgreSQL keep their blobs in S3 (a fresh bucket each): moto's
# S3 server on loopback, so the suite runs on both kinds of storage.
if [ -n "${BERTH_TEST_DATABASE_URL:-}" ] && [ -z "${BERTH_TEST_S3:-}" ]; then
  s3_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p target
  python3 -m moto.server -H 127.0.0.1 -p "$s3_port" > target/moto.log 2>&1 &
  moto_pid=$!
  trap 'kill $moto_pid 2>/dev/null || true' EXIT
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$s3_port/" >/dev/null && break; sleep 0.1; done
  export BERTH_TEST_S3="http://127.0.0.1:$s3_port"
fi
if [ -n "${BERTH_TEST_S3:-}" ]; then echo "S3 (PostgreSQL servers' blobs) at: $BERTH_TEST_S3"; fi

# --- checks and tests ---
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
# cargo-nextest (on this project's machines) runs the tests of every
# binary side by side: most of them wait on servers they started, so a
# few more at once than there are cores keeps the suite short. Without
# it, cargo test runs the binaries one after another.
if cargo nextest --version >/dev/null 2>&1; then
  log "cargo nextest run"
  cargo nextest run --workspace --test-threads "${BERTH_TEST_THREADS:-4}"
else
  log "cargo test"
  cargo test --workspace --no-fail-fast
fi

log "real clients (SQLite)"
scripts/clients.sh target/debug/berth
if [ -n "${BERTH_TEST_DATABASE_URL:-}" ]; then
  log "real clients (three replicas behind nginx: PostgreSQL, S3)"
  psql "$BERTH_TEST_DATABASE_URL" -qc "select 1" >/dev/null
  psql "${BERTH_TEST_DATABASE_URL%/*}/postgres" -qc "drop database if exists berth_t_clients" -qc "create database berth_t_clients" >/dev/null
  scripts/clients.sh target/debug/berth "${BERTH_TEST_DATABASE_URL%/*}/berth_t_clients" "${BERTH_TEST_S3:-}" 3
fi
log "all tests passed"
