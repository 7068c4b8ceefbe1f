//! The kinds of registry an endpoint may be (Harbor's adapters), what each
//! says of itself, and where its OCI distribution API is. All of them are
//! spoken to with the same tested protocol code; only `docker-registry`
//! and `harbor` (Berth included) are exercised by Berth's tests, the
//! public registries (Docker Hub, GitHub's, Quay, GitLab) cannot be
//! reached from them.

use serde::Serialize;
use std::collections::BTreeMap;

/// An adapter.
struct Adapter {
    kind: &'static str,
    description: &'static str,
    /// The one endpoint a public registry has: (name, URL) as Harbor
    /// offers it.
    fixed: Option<(&'static str, &'static str)>,
    /// Where its distribution API is, when not at the endpoint's URL.
    api: Option<&'static str>,
}

/// Every adapter, by name (Harbor's `registryKeys`).
const ADAPTERS: &[Adapter] = &[
    Adapter {
        kind: "docker-hub",
        description: "Docker Hub: official images under library/.",
        fixed: Some(("hub.docker.com", "https://hub.docker.com")),
        api: Some("https://registry-1.docker.io"),
    },
    Adapter {
        kind: "docker-registry",
        description: "Any registry speaking the OCI distribution API (CNCF Distribution, zot …).",
        fixed: None,
        api: None,
    },
    Adapter {
        kind: "github-ghcr",
        description: "GitHub Container Registry (ghcr.io): a personal access token as the secret.",
        fixed: Some(("ghcr.io", "https://ghcr.io")),
        api: None,
    },
    Adapter {
        kind: "gitlab",
        description:
            "A GitLab instance's container registry: a personal access token as the secret.",
        fixed: None,
        api: None,
    },
    Adapter {
        kind: "harbor",
        description: "Harbor or Berth.",
        fixed: None,
        api: None,
    },
    Adapter {
        kind: "quay",
        description: "Quay (quay.io or your own): a robot account's name and token.",
        fixed: None,
        api: None,
    },
];

fn adapter(kind: &str) -> Option<&'static Adapter> {
    ADAPTERS.iter().find(|a| a.kind == kind)
}

/// Whether Berth has an adapter of this name.
pub fn known(kind: &str) -> bool {
    adapter(kind).is_some()
}

/// The adapters' names.
pub fn kinds() -> Vec<&'static str> {
    ADAPTERS.iter().map(|a| a.kind).collect()
}

/// The base of an endpoint's distribution API (`/v2/` under it).
pub fn api_base(kind: &str, url: &str) -> String {
    match adapter(kind).and_then(|a| a.api) {
        Some(api) => api.to_string(),
        None => url.trim_end_matches('/').to_string(),
    }
}

/// A filter a policy on this registry may use (Harbor's `FilterStyle`).
#[derive(Debug, Clone, Serialize)]
pub struct FilterStyle {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub style: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<&'static str>,
}

/// What a registry is and supports (Harbor's `RegistryInfo`).
#[derive(Debug, Clone, Serialize)]
pub struct Info {
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
    pub supported_resource_filters: Vec<FilterStyle>,
    pub supported_triggers: Vec<&'static str>,
}

/// What an adapter says of itself.
pub fn info(kind: &str) -> Option<Info> {
    let a = adapter(kind)?;
    Some(Info {
        kind: a.kind.into(),
        description: a.description.into(),
        supported_resource_filters: vec![
            FilterStyle {
                kind: "name",
                style: "input",
                values: Vec::new(),
            },
            FilterStyle {
                kind: "tag",
                style: "input",
                values: Vec::new(),
            },
            FilterStyle {
                kind: "resource",
                style: "radio",
                values: vec!["image"],
            },
        ],
        supported_triggers: vec!["manual", "scheduled", "event_based"],
    })
}

/// Where an adapter's endpoints are (Harbor's `EndpointPattern`).
#[derive(Debug, Clone, Serialize)]
pub struct EndpointPattern {
    pub endpoint_type: &'static str,
    pub endpoints: Vec<Endpoint>,
}

/// A named endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub key: &'static str,
    pub value: &'static str,
}

/// The endpoint patterns of the adapters that have one (those whose
/// endpoint is fixed), by adapter, as Harbor lists them.
pub fn patterns() -> BTreeMap<&'static str, EndpointPattern> {
    (ADAPTERS.iter())
        .filter_map(|a| {
            let (key, value) = a.fixed?;
            Some((
                a.kind,
                EndpointPattern {
                    endpoint_type: "EndpointPatternTypeFix",
                    endpoints: vec![Endpoint { key, value }],
                },
            ))
        })
        .collect()
}
