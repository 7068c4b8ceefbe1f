"""Pushes and pulls an artifact with oras (PyPI), attaches a referrer to it
with `subject`, and finds that referrer through Berth's referrers API."""

import os
import sys
import tempfile

import oras.client
import oras.oci
import requests

host = sys.argv[1]  # 127.0.0.1:port
base = f"http://{host}"
client = oras.client.OrasClient(hostname=host, insecure=True)
client.login(username="admin", password="Harbor12345", hostname=host)
auth = ("admin", "Harbor12345")

work = tempfile.mkdtemp()
os.chdir(work)
with open("artifact.txt", "w") as f:
    f.write("hello from oras\n" * 1000)
with open("signature.txt", "w") as f:
    f.write("a detached signature\n")

target = f"{host}/library/oras-art:v1"
r = client.push(files=["artifact.txt:text/plain"], target=target)
assert r.status_code == 201, r.text
subject_digest = r.headers["Docker-Content-Digest"]

os.mkdir("out")
files = client.pull(target=target, outdir="out")
assert len(files) == 1, files
with open(files[0]) as got, open("artifact.txt") as want:
    assert got.read() == want.read(), "pulled artifact differs"

head = requests.head(
    f"{base}/v2/library/oras-art/manifests/v1",
    headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    auth=auth,
)
assert head.status_code == 200
subject = oras.oci.Subject(
    mediaType=head.headers["Content-Type"],
    digest=head.headers["Docker-Content-Digest"],
    size=int(head.headers["Content-Length"]),
)
assert subject.digest == subject_digest
r = client.push(
    files=["signature.txt:application/vnd.example.signature"],
    target=f"{host}/library/oras-art:sig",
    subject=subject,
    manifest_annotations={"org.example.kind": "signature"},
)
assert r.status_code == 201, r.text
assert r.headers.get("OCI-Subject") == subject.digest, r.headers
sig_digest = r.headers["Docker-Content-Digest"]

idx = requests.get(f"{base}/v2/library/oras-art/referrers/{subject.digest}", auth=auth).json()
found = [m for m in idx["manifests"] if m["digest"] == sig_digest]
assert found, idx
assert found[0]["annotations"]["org.example.kind"] == "signature", found
print(f"oras: pushed, pulled and found referrer {sig_digest} of {subject.digest}")
