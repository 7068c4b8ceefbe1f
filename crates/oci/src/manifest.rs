//! Manifest parsing and validation for OCI image manifests and indexes and
//! Docker schema 2 manifests and manifest lists.

use crate::digest::Digest;
use crate::media;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Largest manifest body accepted.
pub const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;

/// A content descriptor, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    /// External `urls` (foreign layers may live elsewhere).
    pub urls: Vec<String>,
    pub artifact_type: Option<String>,
    pub platform: Option<serde_json::Value>,
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Whether a manifest lists blobs or other manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    Image,
    Index,
}

/// A parsed, validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub media_type: String,
    pub kind: ManifestKind,
    pub config: Option<Descriptor>,
    pub layers: Vec<Descriptor>,
    pub manifests: Vec<Descriptor>,
    pub subject: Option<Descriptor>,
    /// `artifactType`, or for an image manifest without one, the config's media type.
    pub artifact_type: Option<String>,
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Why a manifest body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is larger than {MAX_MANIFEST_SIZE} bytes")]
    TooLarge,
    #[error("manifest is not valid JSON: {0}")]
    Json(String),
    #[error("unsupported manifest schemaVersion {0}")]
    SchemaVersion(i64),
    #[error("unsupported manifest media type {0:?}")]
    UnsupportedMediaType(String),
    #[error("manifest mediaType {body:?} does not match Content-Type {header:?}")]
    MediaTypeMismatch { body: String, header: String },
    #[error("invalid descriptor: {0}")]
    Descriptor(String),
    #[error("{0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
    manifests: Option<Vec<RawDescriptor>>,
    subject: Option<RawDescriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: Option<String>,
    digest: Option<String>,
    size: Option<i64>,
    urls: Option<Vec<String>>,
    artifact_type: Option<String>,
    platform: Option<serde_json::Value>,
    annotations: Option<BTreeMap<String, String>>,
}

impl RawDescriptor {
    fn validate(self, what: &str) -> Result<Descriptor, ManifestError> {
        let bad = |m: &str| ManifestError::Descriptor(format!("{what}: {m}"));
        let media_type = self
            .media_type
            .filter(|m| !m.is_empty())
            .ok_or_else(|| bad("mediaType is required"))?;
        let digest = self.digest.ok_or_else(|| bad("digest is required"))?;
        let digest = Digest::parse(&digest).map_err(|e| bad(&e.to_string()))?;
        let size = self.size.ok_or_else(|| bad("size is required"))?;
        let size = u64::try_from(size).map_err(|_| bad("size must not be negative"))?;
        Ok(Descriptor {
            media_type,
            digest,
            size,
            urls: self.urls.unwrap_or_default(),
            artifact_type: self.artifact_type,
            platform: self.platform,
            annotations: self.annotations,
        })
    }
}

fn kind_of(media_type: &str) -> Option<ManifestKind> {
    match media_type {
        media::OCI_MANIFEST | media::DOCKER_MANIFEST => Some(ManifestKind::Image),
        media::OCI_INDEX | media::DOCKER_MANIFEST_LIST => Some(ManifestKind::Index),
        _ => None,
    }
}

impl Manifest {
    /// Parses and validates a manifest body pushed with the given `Content-Type`.
    pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
        if body.len() > MAX_MANIFEST_SIZE {
            return Err(ManifestError::TooLarge);
        }
        let raw: RawManifest =
            serde_json::from_slice(body).map_err(|e| ManifestError::Json(e.to_string()))?;
        let header = content_type.map(media::essence).filter(|c| !c.is_empty());
        let media_type = match (raw.media_type.as_deref(), header) {
            (Some(body), Some(header)) if body != header => {
                return Err(ManifestError::MediaTypeMismatch {
                    body: body.to_string(),
                    header: header.to_string(),
                })
            }
            (Some(body), _) => body.to_string(),
            (None, Some(header)) => header.to_string(),
            // The OCI spec lets mediaType be omitted; infer it from the shape.
            (None, None) if raw.manifests.is_some() => media::OCI_INDEX.to_string(),
            (None, None) => media::OCI_MANIFEST.to_string(),
        };
        let kind = kind_of(&media_type)
            .ok_or_else(|| ManifestError::UnsupportedMediaType(media_type.clone()))?;
        match raw.schema_version {
            Some(2) => {}
            Some(v) => return Err(ManifestError::SchemaVersion(v)),
            None => return Err(ManifestError::Invalid("schemaVersion is required".into())),
        }
        let subject = raw.subject.map(|s| s.validate("subject")).transpose()?;
        let mut m = Manifest {
            media_type,
            kind,
            config: None,
            layers: Vec::new(),
            manifests: Vec::new(),
            subject,
            artifact_type: raw.artifact_type.filter(|a| !a.is_empty()),
            annotations: raw.annotations,
        };
        match kind {
            ManifestKind::Image => {
                if raw.manifests.is_some() {
                    return Err(ManifestError::Invalid(
                        "an image manifest must not have manifests".into(),
                    ));
                }
                let config = raw
                    .config
                    .ok_or_else(|| ManifestError::Invalid("config is required".into()))?
                    .validate("config")?;
                if m.artifact_type.is_none() {
                    m.artifact_type = Some(config.media_type.clone());
                }
                m.config = Some(config);
                m.layers = raw
                    .layers
                    .ok_or_else(|| ManifestError::Invalid("layers is required".into()))?
                    .into_iter()
                    .enumerate()
                    .map(|(i, d)| d.validate(&format!("layers[{i}]")))
                    .collect::<Result<_, _>>()?;
            }
            ManifestKind::Index => {
                if raw.config.is_some() || raw.layers.is_some() {
                    return Err(ManifestError::Invalid(
                        "an index must not have config or layers".into(),
                    ));
                }
                m.manifests = raw
                    .manifests
                    .ok_or_else(|| ManifestError::Invalid("manifests is required".into()))?
                    .into_iter()
                    .enumerate()
                    .map(|(i, d)| d.validate(&format!("manifests[{i}]")))
                    .collect::<Result<_, _>>()?;
            }
        }
        Ok(m)
    }

    /// Blobs this manifest requires to exist in the repository (config and non-foreign layers).
    pub fn required_blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.config.iter().chain(
            self.layers
                .iter()
                .filter(|l| l.urls.is_empty() || !media::is_foreign_layer(&l.media_type)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const D: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

    fn image(extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{D}","size":2}}]{extra}}}"#,
            media::OCI_MANIFEST
        )
    }

    #[test]
    fn parses_image() {
        let m = Manifest::parse(image("").as_bytes(), Some(media::OCI_MANIFEST)).unwrap();
        assert_eq!(m.kind, ManifestKind::Image);
        assert_eq!(m.required_blobs().count(), 2);
        assert_eq!(
            m.artifact_type.as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
    }

    #[test]
    fn parses_subject_and_artifact_type() {
        let body = image(&format!(
            r#","artifactType":"application/x-sig","subject":{{"mediaType":"{}","digest":"{D}","size":10}}"#,
            media::OCI_MANIFEST
        ));
        let m = Manifest::parse(body.as_bytes(), None).unwrap();
        assert_eq!(m.artifact_type.as_deref(), Some("application/x-sig"));
        assert_eq!(m.subject.unwrap().digest.to_string(), D);
    }

    #[test]
    fn rejects_mismatch_and_garbage() {
        assert!(matches!(
            Manifest::parse(image("").as_bytes(), Some(media::OCI_INDEX)),
            Err(ManifestError::MediaTypeMismatch { .. })
        ));
        assert!(matches!(
            Manifest::parse(b"{", None),
            Err(ManifestError::Json(_))
        ));
        assert!(matches!(
            Manifest::parse(br#"{"schemaVersion":1}"#, Some("application/json")),
            Err(ManifestError::UnsupportedMediaType(_))
        ));
        let bad_digest = image("").replace(D, "sha256:abc");
        assert!(matches!(
            Manifest::parse(bad_digest.as_bytes(), None),
            Err(ManifestError::Descriptor(_))
        ));
        let big = vec![b' '; MAX_MANIFEST_SIZE + 1];
        assert_eq!(
            Manifest::parse(&big, None).unwrap_err(),
            ManifestError::TooLarge
        );
    }

    #[test]
    fn parses_index() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","digest":"{D}","size":5,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#,
            media::OCI_INDEX,
            media::OCI_MANIFEST
        );
        let m = Manifest::parse(body.as_bytes(), Some(media::OCI_INDEX)).unwrap();
        assert_eq!(m.kind, ManifestKind::Index);
        assert_eq!(m.manifests.len(), 1);
        assert_eq!(m.required_blobs().count(), 0);
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Manifest::parse(&bytes, None);
        }

        #[test]
        fn never_panics_on_json_like(s in r#"\{"(schemaVersion|mediaType|config|layers|manifests|subject)":[\[\]{}0-9a-z",:]{0,80}\}"#) {
            let _ = Manifest::parse(s.as_bytes(), Some(media::OCI_MANIFEST));
        }
    }
}
