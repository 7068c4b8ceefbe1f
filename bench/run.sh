#!/usr/bin/env bash
# Benchmarks Berth against CNCF Distribution 2.8 (Debian docker-registry),
# both on filesystem storage on the same disk, in the same run; with
# BENCH_STORAGE=s3 both keep their blobs in buckets of one S3 server (moto's,
# on loopback) instead, each serving the bytes itself (no redirects).
# Usage: bench/run.sh [--runs N] [--scale K]   (scale > 1 shrinks every size)
set -euo pipefail
cd "$(dirname "$0")/.."
# The replication figure races skopeo sync.
if ! command -v docker-registry >/dev/null || ! command -v skopeo >/dev/null; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq docker-registry skopeo >/dev/null
fi
cargo build --release -q -p berth -p berth-bench
# BERTH_BIN measures another build of berth (say, one saved before a change).
berth_bin=${BERTH_BIN:-target/release/berth}

# BENCH_DIR puts the data elsewhere (a tmpfs, say), in BENCH_DIR/bench-data.
work=$(realpath -m "${BENCH_DIR:-target}")/bench-data
rm -rf "$work"; mkdir -p "$work"
cleanup() { kill "$berth_pid" "$dist_pid" "$proxy_pid" ${s3_pid:-} 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dist_storage() { printf '  filesystem:\n    rootdirectory: %s\n' "$work/$1"; }
berth_storage=()
if [ "${BENCH_STORAGE:-fs}" = s3 ]; then
  python3 -c 'import moto.server' 2>/dev/null || python3 -m pip install -q "moto[server]"
  s3_port=$(free_port)
  python3 -m moto.server -H 127.0.0.1 -p "$s3_port" > "$work/moto.log" 2>&1 &
  s3_pid=$!
  s3="http://127.0.0.1:$s3_port"
  for _ in $(seq 100); do curl -sf "$s3/" >/dev/null && break; sleep 0.1; done
  for b in berth distribution distribution-proxy; do curl -sf -X PUT "$s3/$b" >/dev/null; done
  dist_storage() {
    printf '  s3:\n    region: us-east-1\n    bucket: %s\n    regionendpoint: %s\n    secure: false\n    v4auth: true\n    accesskey: bench\n    secretkey: bench\n  redirect:\n    disable: true\n' "$1" "$s3"
  }
  berth_storage=(--storage-url s3://berth --storage-option "endpoint=$s3,allow_http=true,region=us-east-1,access_key_id=bench,secret_access_key=bench")
fi

distribution_config() {
  cat <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
$(dist_storage "$1")
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$2
YAML
}
port=$(free_port)
distribution_config distribution "$port" > "$work/distribution.yml"
# (Its AWS SDK refuses a custom AWS_CA_BUNDLE with its own transport; the
# bucket is plain HTTP on loopback anyway.)
env -u AWS_CA_BUNDLE docker-registry serve "$work/distribution.yml" 2> "$work/distribution.log" &
dist_pid=$!
# Distribution's own pull-through cache of it, the peer of a proxy-cache project.
proxy_port=$(free_port)
distribution_config distribution-proxy "$proxy_port" > "$work/distribution-proxy.yml"
printf 'proxy:\n  remoteurl: http://127.0.0.1:%s\n' "$port" >> "$work/distribution-proxy.yml"
env -u AWS_CA_BUNDLE docker-registry serve "$work/distribution-proxy.yml" 2> "$work/distribution-proxy.log" &
proxy_pid=$!

# The advisories the tests use, so the scan figure matches packages for real.
"$berth_bin" vulndb import crates/berth/tests/fixtures/osv --data-dir "$work/berth" > /dev/null
# No GC floor: the GC figure collects blobs pushed a moment before.
BERTH_ADMIN_PASSWORD=Harbor12345 "$berth_bin" serve --listen 127.0.0.1:0 --data-dir "$work/berth" \
  --log-level warn --gc-min-window-seconds 0 "${berth_storage[@]}" > "$work/berth.out" &
berth_pid=$!
for _ in $(seq 100); do
  grep -q listening "$work/berth.out" 2>/dev/null && curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break
  sleep 0.1
done
berth_url=$(sed -n 's/^Berth listening on //p' "$work/berth.out")
# Berth runs as Harbor users see it: token auth on, pushing into a project.
curl -sf -u admin:Harbor12345 -H 'Content-Type: application/json' -X POST "$berth_url/api/v2.0/projects" \
  -d '{"project_name":"bench","metadata":{"public":"false"}}'
echo "Berth $berth_url (pid $berth_pid), Distribution $(docker-registry --version 2>/dev/null | head -1) http://127.0.0.1:$port (pid $dist_pid)"
target/release/berth-bench --berth "$berth_url" --berth-pid "$berth_pid" \
  --berth-creds admin:Harbor12345 \
  --dist "http://127.0.0.1:$port" --dist-pid "$dist_pid" --dist-proxy "http://127.0.0.1:$proxy_port" --scratch "$work/scratch" "$@"
