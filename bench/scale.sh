#!/usr/bin/env bash
# Berth alone over a large data set, on SQLite and on PostgreSQL in turn:
# berth-bench --scale-scenarios seeds 100,000 artifacts, 10,000 projects and
# 100,000 repositories through the API and times the lists, a _catalog
# walk and 256 clients pulling for 60 s; then Berth is stopped, 1,000,000
# blob rows are added to the database, and Berth is started three times,
# timed from its launch to its first answered request.
# Usage: bench/scale.sh [--db sqlite|postgres] [--scale K]   (scale > 1 shrinks every count)
set -euo pipefail
cd "$(dirname "$0")/.."
dbs=(sqlite postgres)
scale=1
while [ $# -gt 0 ]; do
  case "$1" in
    --db) dbs=("$2"); shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v sqlite3 >/dev/null || {
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq sqlite3 >/dev/null
}
cargo build --release -q -p berth -p berth-bench
berth_bin=${BERTH_BIN:-target/release/berth}
pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
work=$(realpath -m "${BENCH_DIR:-target}")/bench-scale
rm -rf "$work"; mkdir -p "$work"
berth_pid=""
# BENCH_KEEP=1 leaves the last database's data directory in place (to read
# query plans over it).
cleanup() {
  [ -n "$berth_pid" ] && kill "$berth_pid" 2>/dev/null
  wait 2>/dev/null || true
  [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"

# Starts Berth on database $1; sets started_ms to the milliseconds from
# its launch to its first answered request.
start_berth() {
  local began
  began=$(date +%s%N)
  BERTH_ADMIN_PASSWORD=Harbor12345 "$berth_bin" serve --listen "127.0.0.1:$port" --data-dir "$work/data" \
    --database-url "$1" --log-level warn >> "$work/berth.log" 2>&1 &
  berth_pid=$!
  until curl -sf -o /dev/null --max-time 1 "$url/api/v2.0/ping"; do
    kill -0 "$berth_pid" 2>/dev/null || { cat "$work/berth.log" >&2; exit 1; }
    sleep 0.005
  done
  started_ms=$(( ($(date +%s%N) - began) / 1000000 ))
}
stop_berth() { kill "$berth_pid"; wait "$berth_pid" || true; berth_pid=""; }

blobs=$((1000000 / scale))
for db in "${dbs[@]}"; do
  rm -rf "$work/data"; mkdir -p "$work/data"
  case "$db" in
    sqlite)
      db_url="sqlite://$work/data/berth.db"
      sql() { sqlite3 "$work/data/berth.db"; }
      hex="printf('%060x', i)"
      numbers="WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $blobs) SELECT i FROM n"
      ;;
    postgres)
      psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS berth_bench_scale" -c "CREATE DATABASE berth_bench_scale"
      db_url="$pg/berth_bench_scale"
      sql() { psql -q -v ON_ERROR_STOP=1 "$db_url"; }
      hex="lpad(to_hex(i), 60, '0')"
      numbers="SELECT i FROM generate_series(1, $blobs) i"
      ;;
    *) echo "--db is sqlite or postgres" >&2; exit 2 ;;
  esac
  echo "## $db"
  start_berth "$db_url"
  echo "first start (empty database): $started_ms ms to the first answer"
  # This machine's PostgreSQL runs with autovacuum off; a default server
  # would have analyzed the seeded tables by the time anyone lists them.
  analyze=(); [ "$db" = postgres ] && analyze=(--analyze "$db_url")
  target/release/berth-bench --berth "$url" --berth-pid "$berth_pid" --berth-creds admin:Harbor12345 \
    --scale-scenarios --scale "$scale" "${analyze[@]}"
  echo "peak RSS: $(awk '/VmHWM/ {printf "%.1f MB", $2 / 1024}' "/proc/$berth_pid/status")"
  stop_berth
  # Blob rows only (no files): a start must not need to read them.
  began=$(date +%s)
  sql <<SQL
BEGIN;
CREATE TEMP TABLE seq AS $numbers;
INSERT INTO blob (digest, size, created_at) SELECT 'sha256:beef' || $hex, 1024, 0 FROM seq;
INSERT INTO repository_blob (repository_id, digest, created_at)
  SELECT (SELECT id FROM repository WHERE name = 'scale/many'), 'sha256:beef' || $hex, 0 FROM seq;
INSERT INTO project_blob (project_id, digest, size, created_at)
  SELECT (SELECT project_id FROM project WHERE name = 'scale'), 'sha256:beef' || $hex, 1024, 0 FROM seq;
COMMIT;
SQL
  echo "added $blobs blob rows in $(( $(date +%s) - began )) s"
  for i in 1 2 3; do
    # Nothing of the database in the page cache either, where root may drop it.
    sync; { echo 3 > /proc/sys/vm/drop_caches; } 2>/dev/null || true
    start_berth "$db_url"
    echo "cold start $i ($blobs blobs, $((100000 / scale)) artifacts in one repository, $((100000 / scale + 2)) repositories): $started_ms ms to the first answer"
    stop_berth
  done
done
