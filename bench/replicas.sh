#!/usr/bin/env bash
# Manifest GETs through one Berth replica and through nginx in front of one
# and of three, all on one PostgreSQL database and one S3 bucket (moto's,
# on loopback), as the replicas test runs them.
# Usage: bench/replicas.sh [--runs N] [--scale K]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nginx >/dev/null; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  # Debian starts the packaged nginx on port 80 unless told not to.
  printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee /usr/sbin/policy-rc.d >/dev/null
  $sudo_cmd chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq nginx-light >/dev/null
  $sudo_cmd rm -f /usr/sbin/policy-rc.d
fi
python3 -c 'import moto.server' 2>/dev/null || python3 -m pip install -q "moto[server]"
cargo build --release -q -p berth -p berth-bench
berth_bin=${BERTH_BIN:-target/release/berth}
pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
db=berth_bench_replicas

work=$(realpath -m "${BENCH_DIR:-target}")/bench-replicas
rm -rf "$work"; mkdir -p "$work"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
s3_port=$(free_port)
python3 -m moto.server -H 127.0.0.1 -p "$s3_port" > "$work/moto.log" 2>&1 &
pids+=($!)
s3="http://127.0.0.1:$s3_port"
for _ in $(seq 100); do curl -sf "$s3/" >/dev/null && break; sleep 0.1; done
curl -sf -X PUT "$s3/berth" >/dev/null

one_port=$(free_port); three_port=$(free_port)
head -c 32 /dev/urandom > "$work/secret-key"
replicas=()
for i in 1 2 3; do
  BERTH_ADMIN_PASSWORD=Harbor12345 "$berth_bin" serve --listen 127.0.0.1:0 --data-dir "$work/berth$i" \
    --log-level warn --database-url "$pg/$db" --secret-key-file "$work/secret-key" \
    --external-url "http://127.0.0.1:$three_port" --trusted-proxies 127.0.0.1 \
    --storage-url s3://berth \
    --storage-option "endpoint=$s3,allow_http=true,region=us-east-1,access_key_id=bench,secret_access_key=bench" \
    > "$work/berth$i.out" 2> "$work/berth$i.log" &
  pids+=($!)
  for _ in $(seq 200); do grep -q listening "$work/berth$i.out" 2>/dev/null && break; sleep 0.1; done
  replicas+=("$(sed -n 's/^Berth listening on http:\/\///p' "$work/berth$i.out")")
done

# One nginx, two entrances: one in front of the first replica, one in
# front of all three (round robin), each keeping upstream connections open.
user=""; [ "$(id -u)" -eq 0 ] && user="user root;"
cat > "$work/nginx.conf" <<NGINX
$user
worker_processes auto;
error_log $work/nginx-error.log warn;
pid $work/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy;
  fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi;
  scgi_temp_path $work/scgi;
  upstream one { server ${replicas[0]}; keepalive 64; }
  upstream three { server ${replicas[0]}; server ${replicas[1]}; server ${replicas[2]}; keepalive 64; }
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header Host \$http_host;
  proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
  server { listen 127.0.0.1:$one_port; location / { proxy_pass http://one; } }
  server { listen 127.0.0.1:$three_port; location / { proxy_pass http://three; } }
}
NGINX
nginx -p "$work" -c nginx.conf -g 'daemon off;' &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$three_port/api/v2.0/ping" >/dev/null && break; sleep 0.1; done
curl -sf -u admin:Harbor12345 -H 'Content-Type: application/json' -X POST \
  "http://127.0.0.1:$three_port/api/v2.0/projects" -d '{"project_name":"bench","metadata":{"public":"false"}}'

echo "replicas ${replicas[*]}; nginx :$one_port (first only), :$three_port (all three)"
target/release/berth-bench --berth "http://${replicas[0]}" --berth-creds admin:Harbor12345 \
  --replica-reads "one replica=http://${replicas[0]},nginx + one replica=http://127.0.0.1:$one_port,nginx + three replicas=http://127.0.0.1:$three_port" \
  "$@"
