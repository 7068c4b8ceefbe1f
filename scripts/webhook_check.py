"""Webhooks driven by a real client: skopeo pushes, pulls and deletes an
image in a project with two webhook policies (Default and CloudEvents
payloads); a receiver on 127.0.0.1 must get each event in each format.

Usage: webhook_check.py HOST OCI_IMAGE   (e.g. 127.0.0.1:8080 img:amd64)
"""
import base64
import http.server
import json
import subprocess
import sys
import threading
import time
import urllib.request

host, image = sys.argv[1], sys.argv[2]
AUTH = "Basic " + base64.b64encode(b"admin:Harbor12345").decode()
got = []


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        got.append((self.path, self.headers["Content-Type"], json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
hook = f"http://127.0.0.1:{server.server_address[1]}"


def api(method, path, body=None):
    req = urllib.request.Request(
        f"http://{host}/api/v2.0{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": AUTH, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req) as r:
        return r.status


api("POST", "/projects", {"project_name": "hooks", "metadata": {"public": "false"}})
events = ["PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT"]
for fmt in ["Default", "CloudEvents"]:
    api("POST", "/projects/hooks/webhook/policies", {
        "name": fmt, "event_types": events,
        "targets": [{"type": "http", "address": f"{hook}/{fmt}", "payload_format": fmt}],
    })

sk = ["skopeo", "--insecure-policy"]
creds = ["--creds", "admin:Harbor12345", "--tls-verify=false"]
ref = f"docker://{host}/hooks/app:v1"
subprocess.run(sk + ["copy", "-q", f"oci:{image}", ref, "--dest-tls-verify=false",
                     "--dest-creds", "admin:Harbor12345"], check=True)
subprocess.run(sk + ["inspect", "--raw"] + creds + [ref], check=True, stdout=subprocess.DEVNULL)
subprocess.run(sk + ["delete"] + creds + [ref], check=True)

def by_type(path):
    return {b["type"]: (ct, b) for p, ct, b in list(got) if p == path}


# Wait for every event type in both formats (skopeo pulls more than once).
deadline = time.time() + 30
while time.time() < deadline and (len(by_type("/Default")) < 3 or len(by_type("/CloudEvents")) < 3):
    time.sleep(0.2)
default, cloud = by_type("/Default"), by_type("/CloudEvents")
assert set(default) == set(events), f"Default payloads: {sorted(default)}"
assert set(cloud) == {"harbor.artifact.pushed", "harbor.artifact.pulled",
                      "harbor.artifact.deleted"}, f"CloudEvents payloads: {sorted(cloud)}"
for ct, b in default.values():
    assert ct.startswith("application/json"), ct
    assert b["operator"] == "admin", b
    assert b["event_data"]["repository"]["repo_full_name"] == "hooks/app", b
for ct, b in cloud.values():
    assert ct == "application/cloudevents+json", ct
    assert b["specversion"] == "1.0" and b["source"].startswith("/projects/"), b
    assert b["data"]["repository"]["repo_full_name"] == "hooks/app", b
push = default["PUSH_ARTIFACT"][1]["event_data"]["resources"][0]
assert push["tag"] == "v1" and push["digest"].startswith("sha256:"), push
print(f"webhooks: skopeo push, pull and delete delivered in Default and CloudEvents ({len(got)} deliveries)")
