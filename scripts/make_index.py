"""Adds an image index over every manifest of an OCI layout, tagged NAME,
so `skopeo copy --all` has a multi-arch image to copy (no network needed)."""

import hashlib
import json
import os
import sys

layout, name = sys.argv[1], sys.argv[2]
with open(os.path.join(layout, "index.json")) as f:
    top = json.load(f)
children = []
for m in top["manifests"]:
    d = m["digest"].split(":", 1)[1]
    with open(os.path.join(layout, "blobs", "sha256", d)) as f:
        manifest = json.load(f)
    cfg = manifest["config"]["digest"].split(":", 1)[1]
    with open(os.path.join(layout, "blobs", "sha256", cfg)) as f:
        config = json.load(f)
    children.append({
        "mediaType": m["mediaType"],
        "digest": m["digest"],
        "size": m["size"],
        "platform": {"os": config["os"], "architecture": config["architecture"]},
    })
index = json.dumps({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": children,
}).encode()
digest = hashlib.sha256(index).hexdigest()
with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
    f.write(index)
top["manifests"].append({
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "digest": "sha256:" + digest,
    "size": len(index),
    "annotations": {"org.opencontainers.image.ref.name": name},
})
with open(os.path.join(layout, "index.json"), "w") as f:
    json.dump(top, f)
print("sha256:" + digest)
