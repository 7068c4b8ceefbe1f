#!/usr/bin/env bash
# Real clients against a running Berth: skopeo (copy in, inspect, list tags,
# copy out byte-identical, delete, copy --all of a multi-arch index, webhooks
# for its push, pull and delete), harborapi and oras (push, pull, referrers).
# Images are built locally with umoci: no network.
# Usage: scripts/clients.sh BERTH_BINARY [DATABASE_URL [S3_ENDPOINT [REPLICAS]]]
# (with an S3 endpoint, blobs go to a fresh bucket there; with REPLICAS > 1,
# that many Berth processes share the database and the bucket behind nginx,
# round robin, and every client goes through nginx)
set -euo pipefail
bin=$(realpath "$1")
SCRIPTS=$(cd "$(dirname "$0")" && pwd)
db_url=${2:-}
s3=${3:-}
replicas=${4:-1}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

args=(serve --listen 127.0.0.1:0 --log-level warn --secret-key-file "$work/secret-key")
[ -n "$db_url" ] && args+=(--database-url "$db_url")
if [ -n "$s3" ]; then
  bucket="clients$RANDOM$RANDOM"
  curl -sf -X PUT "$s3/$bucket" >/dev/null
  args+=(--storage-url "s3://$bucket" --storage-option "endpoint=$s3,allow_http=true,region=us-east-1,access_key_id=berth,secret_access_key=berth")
fi
if [ "$replicas" -gt 1 ]; then
  lb_port=$(free_port)
  args+=(--external-url "http://127.0.0.1:$lb_port" --trusted-proxies 127.0.0.1)
fi
upstreams=""
for i in $(seq "$replicas"); do
  BERTH_ADMIN_PASSWORD=Harbor12345 "$bin" "${args[@]}" --data-dir "$work/data$i" > "berth$i.out" &
  pids+=($!)
  for _ in $(seq 100); do grep -q "listening" "berth$i.out" 2>/dev/null && break; sleep 0.1; done
  host=$(sed -n 's|^Berth listening on http://||p' "berth$i.out")
  [ -n "$host" ] || { echo "berth did not start"; exit 1; }
  upstreams+="server $host; "
done
if [ "$replicas" -gt 1 ]; then
  user=""; [ "$(id -u)" -eq 0 ] && user="user root;"
  cat > nginx.conf <<NGINX
$user worker_processes 1; error_log $work/nginx.log warn; pid $work/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nb; proxy_temp_path $work/np; fastcgi_temp_path $work/nf;
  uwsgi_temp_path $work/nu; scgi_temp_path $work/ns;
  upstream berth { $upstreams}
  server {
    listen 127.0.0.1:$lb_port;
    client_max_body_size 0; proxy_request_buffering off; proxy_buffering off; proxy_http_version 1.1;
    location / {
      proxy_pass http://berth;
      proxy_set_header Host \$http_host;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
NGINX
  nginx -p "$work" -c nginx.conf -g 'daemon off;' &
  pids+=($!)
  host="127.0.0.1:$lb_port"
  for _ in $(seq 100); do curl -sf "http://$host/api/v2.0/ping" >/dev/null && break; sleep 0.1; done
fi
echo "clients: Berth at $host ($replicas process(es), $([ -n "$db_url" ] && echo PostgreSQL || echo SQLite), blobs in ${s3:+S3 bucket }${bucket:-the filesystem})"
sk=(skopeo --insecure-policy)
# Every skopeo call goes through Docker token auth (401 challenge, /service/token).
tls=(--dest-tls-verify=false --dest-creds admin:Harbor12345)
src_tls=(--src-tls-verify=false --src-creds admin:Harbor12345)
ro=(--tls-verify=false --creds admin:Harbor12345)

# --- build two single-arch images with umoci ---
umoci init --layout img
for arch in amd64 arm64; do
  umoci new --image "img:$arch"
  umoci config --image "img:$arch" --architecture "$arch" --os linux --config.cmd "/hello"
  umoci unpack --rootless --image "img:$arch" "bundle-$arch" >/dev/null
  mkdir -p "bundle-$arch/rootfs/etc"
  echo "built for $arch" > "bundle-$arch/rootfs/etc/greeting"
  head -c 3000000 /dev/urandom > "bundle-$arch/rootfs/payload.bin"
  umoci repack --image "img:$arch" "bundle-$arch" >/dev/null
done

# --- copy in, inspect, list tags ---
"${sk[@]}" copy -q oci:img:amd64 "docker://$host/library/hello:v1" "${tls[@]}"
"${sk[@]}" copy -q oci:img:amd64 "docker://$host/library/hello:v2" "${tls[@]}"
inspect=$("${sk[@]}" inspect "${ro[@]}" "docker://$host/library/hello:v1")
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["Architecture"]=="amd64", d; assert len(d["Layers"])>=1' "$inspect"
tags=$("${sk[@]}" list-tags "${ro[@]}" "docker://$host/library/hello")
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert sorted(d["Tags"])==["v1","v2"], d' "$tags"

# --- copy out, byte-identical ---
"${sk[@]}" copy -q "docker://$host/library/hello:v1" oci:out:v1 "${src_tls[@]}"
src_manifest=$(python3 -c 'import json; print([m["digest"] for m in json.load(open("img/index.json"))["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"]=="amd64"][0])')
out_manifest=$(python3 -c 'import json; print(json.load(open("out/index.json"))["manifests"][0]["digest"])')
[ "$src_manifest" = "$out_manifest" ] || { echo "manifest digest changed: $src_manifest vs $out_manifest"; exit 1; }
for blob in out/blobs/sha256/*; do
  cmp "$blob" "img/blobs/sha256/$(basename "$blob")"
done
echo "clients: skopeo round trip byte-identical ($src_manifest)"

# --- delete ---
"${sk[@]}" delete "${ro[@]}" "docker://$host/library/hello:v2"
if "${sk[@]}" inspect "${ro[@]}" "docker://$host/library/hello:v2" >/dev/null 2>&1; then
  echo "v2 still there after delete"; exit 1
fi

# --- multi-arch index with copy --all ---
index=$(python3 "$SCRIPTS/make_index.py" img multi)
"${sk[@]}" copy -q --all oci:img:multi "docker://$host/library/multi:v1" "${tls[@]}"
raw=$("${sk[@]}" inspect --raw "${ro[@]}" "docker://$host/library/multi:v1")
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert len(d["manifests"])==2, d' "$raw"
[ "sha256:$(printf '%s' "$raw" | sha256sum | cut -d' ' -f1)" = "$index" ] || { echo "index digest changed"; exit 1; }
"${sk[@]}" copy -q --all "docker://$host/library/multi:v1" oci:multi-out:v1 "${src_tls[@]}"
for blob in multi-out/blobs/sha256/*; do
  cmp "$blob" "img/blobs/sha256/$(basename "$blob")"
done
echo "clients: skopeo copy --all of a 2-platform index byte-identical ($index)"

# --- users, a private project, anonymous access ---
api() { curl -sf -u admin:Harbor12345 -H 'Content-Type: application/json' "$@"; }
api -X POST "http://$host/api/v2.0/users" -d '{"username":"dev","email":"dev@example.com","password":"Devel12345"}'
api -X POST "http://$host/api/v2.0/projects" -d '{"project_name":"private","metadata":{"public":"false"}}'
api -X POST -H 'X-Is-Resource-Name: true' "http://$host/api/v2.0/projects/private/members" \
  -d '{"role_id":2,"member_user":{"username":"dev"}}'
"${sk[@]}" copy -q oci:img:amd64 "docker://$host/private/app:v1" --dest-tls-verify=false --dest-creds dev:Devel12345
"${sk[@]}" inspect --tls-verify=false --creds dev:Devel12345 "docker://$host/private/app:v1" >/dev/null
if "${sk[@]}" inspect --tls-verify=false --no-creds "docker://$host/private/app:v1" >/dev/null 2>&1; then
  echo "anonymous pull of a private project succeeded"; exit 1
fi
"${sk[@]}" inspect --raw --tls-verify=false --no-creds "docker://$host/library/multi:v1" >/dev/null
if "${sk[@]}" copy -q oci:img:amd64 "docker://$host/library/hello:anon" --dest-tls-verify=false --dest-no-creds 2>/dev/null; then
  echo "anonymous push succeeded"; exit 1
fi
robot=$(api -X POST "http://$host/api/v2.0/robots" -d '{"name":"ci","level":"project","duration":-1,
  "permissions":[{"kind":"project","namespace":"private","access":[
    {"resource":"repository","action":"pull"},{"resource":"repository","action":"push"}]}]}')
robot_secret=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secret"])' "$robot")
"${sk[@]}" copy -q oci:img:arm64 "docker://$host/private/app:arm" --dest-tls-verify=false \
  --dest-creds "robot\$private+ci:$robot_secret"
"${sk[@]}" inspect --tls-verify=false --creds "robot\$private+ci:$robot_secret" "docker://$host/private/app:arm" >/dev/null
echo "clients: token auth for users and robots; anonymous pull of public works, of private and anonymous push refused"

# --- webhooks for skopeo's push, pull and delete ---
python3 "$SCRIPTS/webhook_check.py" "$host" img:amd64

# --- the published OpenAPI document is valid OpenAPI 3.1 ---
curl -sf "http://$host/api/v2.0/openapi.json" > openapi.json
python3 -c 'import json, sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1])))' openapi.json
echo "clients: /api/v2.0/openapi.json is a valid OpenAPI document"

# --- harborapi (a real Harbor v2.0 client) ---
python3 "$SCRIPTS/harborapi_check.py" "$host" img:amd64

# --- oras ---
python3 "$SCRIPTS/oras_check.py" "$host"
echo "clients: all real-client checks passed"
