#!/usr/bin/env bash
# Makes the upgrade fixture: a data directory written by this version of
# Berth on SQLite, and the same content on PostgreSQL as a plain pg_dump,
# each with a user, a private project and its member, a robot, an image
# under a tag, a registry endpoint whose password is sealed, and a changed
# setting. Tests start newer binaries on copies of them (tests/durability.rs).
# Usage: scripts/upgrade-fixture.sh BERTH_BINARY OUT_DIR
# (PostgreSQL at $BERTH_PG_BASE, default postgres://postgres@127.0.0.1:5432)
set -euo pipefail
bin=$(realpath "$1")
out=$(realpath -m "$2")
pg_base=${BERTH_PG_BASE:-postgres://postgres@127.0.0.1:5432}
rm -rf "$out" && mkdir -p "$out"
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT

populate() { # DATA_DIR [DATABASE_URL]
  # A fixed port below the ephemeral range: the endpoint it registers is
  # itself, and the tests start the upgraded Berth there to reach it.
  local args=(serve --listen 127.0.0.1:29417 --log-level warn --data-dir "$1")
  [ -n "${2:-}" ] && args+=(--database-url "$2")
  BERTH_ADMIN_PASSWORD=Harbor12345 "$bin" "${args[@]}" > "$work/out" &
  pid=$!
  for _ in $(seq 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
  local host
  host=$(sed -n 's|^Berth listening on http://||p' "$work/out")
  local api=(curl -sf -u admin:Harbor12345 -H 'Content-Type: application/json')
  "${api[@]}" -X POST "http://$host/api/v2.0/users" \
    -d '{"username":"dev","email":"dev@example.com","realname":"Dev","password":"Devel12345"}'
  "${api[@]}" -X POST "http://$host/api/v2.0/projects" -d '{"project_name":"fixture","metadata":{"public":"false"}}'
  "${api[@]}" -X POST -H 'X-Is-Resource-Name: true' "http://$host/api/v2.0/projects/fixture/members" \
    -d '{"role_id":2,"member_user":{"username":"dev"}}'
  "${api[@]}" -X POST "http://$host/api/v2.0/robots" -d '{"name":"ci","level":"project","duration":-1,
    "permissions":[{"kind":"project","namespace":"fixture","access":[{"resource":"repository","action":"pull"}]}]}' > /dev/null
  "${api[@]}" -X POST "http://$host/api/v2.0/registries" -d "{\"name\":\"self\",\"type\":\"harbor\",
    \"url\":\"http://$host\",\"credential\":{\"type\":\"basic\",\"access_key\":\"admin\",\"access_secret\":\"Harbor12345\"}}"
  "${api[@]}" -X PUT "http://$host/api/v2.0/configurations" -d '{"banner_message":"fixture banner"}'
  # One image: a config and a layer, pushed monolithically, under a tag.
  python3 - "$host" <<'PY'
import hashlib, json, sys, urllib.request, base64
host = sys.argv[1]
auth = "Basic " + base64.b64encode(b"admin:Harbor12345").decode()
def req(method, path, body, ctype):
    r = urllib.request.Request(f"http://{host}{path}", data=body, method=method,
                               headers={"Authorization": auth, "Content-Type": ctype})
    return urllib.request.urlopen(r)
def blob(data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    req("POST", f"/v2/fixture/app/blobs/uploads/?digest={d}", data, "application/octet-stream")
    return {"digest": d, "size": len(data)}
config = blob(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode())
config["mediaType"] = "application/vnd.oci.image.config.v1+json"
layer = blob(b"upgrade fixture layer\n" * 1000)
layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar"
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": config, "layers": [layer]}).encode()
req("PUT", "/v2/fixture/app/manifests/v1", manifest, "application/vnd.oci.image.manifest.v1+json")
PY
  sleep 1.5 # the audit log is written within a second
  kill $pid; wait $pid 2>/dev/null || true; pid=""
}

# SQLite: the data directory itself (the database folded back from its log).
populate "$out/sqlite"
python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("PRAGMA wal_checkpoint(TRUNCATE)"); c.execute("VACUUM"); c.close()' "$out/sqlite/berth.db"
rm -rf "$out/sqlite/tmp" "$out/sqlite/initial-admin-password" "$out/sqlite/berth.db-wal" "$out/sqlite/berth.db-shm"
# PostgreSQL: a dump, beside the data directory that holds its blobs and key.
db=berth_fixture_$$
psql "$pg_base/postgres" -qc "drop database if exists $db" -qc "create database $db" >/dev/null
populate "$out/postgres" "$pg_base/$db"
rm -rf "$out/postgres/tmp" "$out/postgres/initial-admin-password"
pg_dump --no-owner --no-privileges "$pg_base/$db" > "$out/postgres/dump.sql"
psql "$pg_base/postgres" -qc "drop database $db" >/dev/null
echo "upgrade fixture written to $out"
