//! What Harbor's artifact processors say about a manifest: its type
//! (`IMAGE`, `CHART`, …), which is keyed by the artifact type (or, without
//! one, the config's media type), and the attributes read from its config.

use crate::manifest::{Manifest, ManifestKind};
use crate::media;
use serde_json::{Map, Value};

/// Image config media types (OCI and Docker).
pub const IMAGE_CONFIGS: &[&str] = &[
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];
const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
const CNAB: &str = "application/vnd.cnab.manifest.v1";
const WASM_CONFIG: &str = "application/vnd.wasm.config.v1+json";
const SBOM: &str = "application/vnd.goharbor.harbor.sbom.v1";
const MODEL: &str = "application/vnd.cncf.model.manifest.v1+json";

/// Largest config read for its attributes.
pub const MAX_CONFIG_SIZE: u64 = 1024 * 1024;

/// An artifact's media type as Harbor records it: an image manifest's
/// config's, an index's own, or for an index that carries
/// `org.opencontainers.artifactType` (CNAB) that.
pub fn media_type(m: &Manifest) -> String {
    match (m.kind, &m.config) {
        (ManifestKind::Image, Some(c)) => c.media_type.clone(),
        _ => m
            .annotations
            .as_ref()
            .and_then(|a| a.get("org.opencontainers.artifactType"))
            .cloned()
            .unwrap_or_else(|| m.media_type.clone()),
    }
}

/// An image manifest whose config is an image's, with layers: what a
/// vulnerability scanner reads.
pub fn is_scannable_image(m: &Manifest) -> bool {
    m.kind == ManifestKind::Image && harbor_type(m) == "IMAGE" && !m.layers.is_empty()
}

/// Harbor's type of an artifact: the processor registered for its artifact
/// type (its `artifactType`, else its media type) decides; without one,
/// `application/vnd.<vendor>.<type>.config.<version>+json` as the media
/// type gives `<TYPE>`, anything else is `UNKNOWN`.
pub fn harbor_type(m: &Manifest) -> String {
    let media = media_type(m);
    let resolved = m.artifact_type.as_deref().unwrap_or(&media);
    let known = match resolved {
        t if IMAGE_CONFIGS.contains(&t) => Some("IMAGE"),
        media::OCI_INDEX | media::DOCKER_MANIFEST_LIST => Some("IMAGE"),
        HELM_CONFIG => Some("CHART"),
        CNAB => Some("CNAB"),
        WASM_CONFIG => Some("WASM"),
        SBOM => Some("SBOM"),
        MODEL => Some("CNAI"),
        _ => None,
    };
    match known {
        Some(t) => t.into(),
        None => vendor_type(&media).unwrap_or_else(|| "UNKNOWN".into()),
    }
}

/// `application/vnd.<vendor>.<type>.config.<version>+json` → `<TYPE>`.
fn vendor_type(media: &str) -> Option<String> {
    let rest = media.strip_prefix("application/vnd.")?;
    let (_vendor, rest) = rest.split_once('.')?;
    let (kind, version) = rest.rsplit_once(".config.")?;
    let version = version.strip_suffix("+json")?;
    (!kind.is_empty() && !version.is_empty() && !version.contains('.')).then(|| kind.to_uppercase())
}

/// Whether the attributes of an artifact of this Harbor type come from its
/// config blob (so it is worth reading).
pub fn reads_config(m: &Manifest, harbor_type: &str) -> bool {
    m.kind == ManifestKind::Image
        && m.config
            .as_ref()
            .is_some_and(|c| c.size > 0 && c.size <= MAX_CONFIG_SIZE)
        && harbor_type != "UNKNOWN"
}

/// The attributes Harbor shows for an artifact (`extra_attrs`), from its
/// parsed config: for images their platform, creation, author and runtime
/// config; for Wasm also the media types; for other known types (charts,
/// SBOMs …) the whole config.
pub fn extra_attrs(m: &Manifest, harbor_type: &str, config: &Value) -> Map<String, Value> {
    let Some(obj) = config.as_object() else {
        return Map::new();
    };
    if harbor_type != "IMAGE" && harbor_type != "WASM" {
        return obj.clone();
    }
    let mut out = Map::new();
    for k in ["created", "architecture", "os", "config"] {
        if let Some(v) = obj.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    // Without an author, the labels that name one (as Docker's MAINTAINER did).
    let labels = obj.get("config").and_then(|c| c.get("Labels"));
    let author = obj
        .get("author")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
        .or_else(|| {
            ["org.opencontainers.image.authors", "maintainer"]
                .iter()
                .find_map(|k| labels?.get(*k)?.as_str().filter(|a| !a.is_empty()))
        });
    if let Some(a) = author {
        out.insert("author".into(), a.into());
    }
    if harbor_type == "WASM" {
        if let Some(c) = &m.config {
            out.insert(
                "manifest.config.mediaType".into(),
                c.media_type.clone().into(),
            );
        }
        if let Some(l) = m.layers.first() {
            out.insert(
                "manifest.layers.mediaType".into(),
                l.media_type.clone().into(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const D: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

    fn image(config_media: &str, extra: Value) -> Manifest {
        let mut body = json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": {"mediaType": config_media, "digest": D, "size": 10},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": D, "size": 5}],
        });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        Manifest::parse(&serde_json::to_vec(&body).unwrap(), None).unwrap()
    }

    #[test]
    fn types_follow_harbors_processors() {
        let t = |m: &Manifest| harbor_type(m);
        assert_eq!(t(&image(IMAGE_CONFIGS[0], json!({}))), "IMAGE");
        assert_eq!(t(&image(IMAGE_CONFIGS[1], json!({}))), "IMAGE");
        assert_eq!(t(&image(HELM_CONFIG, json!({}))), "CHART");
        assert_eq!(t(&image(SBOM, json!({}))), "SBOM");
        assert_eq!(t(&image(WASM_CONFIG, json!({}))), "WASM");
        // A vendor's own config type names itself.
        assert_eq!(
            t(&image(
                "application/vnd.caicloud.model.config.v1alpha1+json",
                json!({})
            )),
            "MODEL"
        );
        // A signature with an artifact type no processor knows.
        let sig = image(
            media::OCI_EMPTY,
            json!({"artifactType": "application/vnd.cncf.notary.signature"}),
        );
        assert_eq!(t(&sig), "UNKNOWN");
        let index = Manifest::parse(
            &serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX,
                "manifests": [{"mediaType": media::OCI_MANIFEST, "digest": D, "size": 1}]}))
            .unwrap(),
            None,
        )
        .unwrap();
        assert_eq!(t(&index), "IMAGE");
        let cnab = Manifest::parse(
            &serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX,
                "annotations": {"org.opencontainers.artifactType": CNAB},
                "manifests": [{"mediaType": media::OCI_MANIFEST, "digest": D, "size": 1}]}))
            .unwrap(),
            None,
        )
        .unwrap();
        assert_eq!(t(&cnab), "CNAB");
        assert_eq!(media_type(&cnab), CNAB);
    }

    #[test]
    fn image_attributes_come_from_the_config() {
        let m = image(IMAGE_CONFIGS[0], json!({}));
        let config = json!({"architecture": "arm64", "os": "linux", "created": "2024-01-01T00:00:00Z",
            "config": {"Env": ["A=1"], "Labels": {"maintainer": "ops@example.com"}},
            "rootfs": {"type": "layers"}, "history": []});
        let attrs = extra_attrs(&m, "IMAGE", &config);
        assert_eq!(
            Value::Object(attrs),
            json!({"architecture": "arm64", "os": "linux", "created": "2024-01-01T00:00:00Z",
                "config": {"Env": ["A=1"], "Labels": {"maintainer": "ops@example.com"}},
                "author": "ops@example.com"})
        );
        let chart = image(HELM_CONFIG, json!({}));
        let c = json!({"name": "app", "version": "0.1.0", "appVersion": "1.2"});
        assert_eq!(Value::Object(extra_attrs(&chart, "CHART", &c)), c);
        assert!(extra_attrs(&m, "IMAGE", &json!([1])).is_empty());
    }
}
