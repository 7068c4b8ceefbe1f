//! Reads of a proxy-cache project (see `core::proxy`).

use super::blobs::{self, internal};
use super::OciError;
use crate::State;
use axum::body::Body;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use berth_core::proxy::ProxiedBlob;
use berth_oci::{Digest, Reference, RepositoryName};

/// `GET`/`HEAD /v2/<name>/manifests/<reference>` of a proxy project.
pub async fn manifest(
    state: &State,
    registry_id: i64,
    name: &RepositoryName,
    reference: &Reference,
    operator: &str,
    head: bool,
) -> Result<Response, OciError> {
    let m = state
        .proxy
        .manifest(registry_id, name, reference, operator)
        .await?;
    let builder = Response::builder()
        .header(header::CONTENT_TYPE, &m.media_type)
        .header("docker-content-digest", &m.digest)
        .header(header::ETAG, format!("\"{}\"", m.digest))
        .header(header::CONTENT_LENGTH, m.bytes.len());
    let body = if head {
        Body::empty()
    } else {
        Body::from(m.bytes)
    };
    builder.body(body).map_err(internal)
}

/// `GET`/`HEAD /v2/<name>/blobs/<digest>` of a proxy project: a cached
/// blob as any other (ranges included), else the whole blob as it
/// streams from upstream.
pub async fn blob(
    state: &State,
    registry_id: i64,
    (name, digest, operator): (&RepositoryName, &Digest, &str),
    headers: &HeaderMap,
    head: bool,
) -> Result<Response, OciError> {
    match state
        .proxy
        .blob(registry_id, (name, operator), digest, head)
        .await?
    {
        ProxiedBlob::Local(_) => blobs::get(&state.registry, name, digest, headers, head).await,
        ProxiedBlob::Upstream { size, stream } => {
            let d = digest.to_string();
            let body = if head {
                Body::empty()
            } else {
                Body::from_stream(stream)
            };
            Response::builder()
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .header("docker-content-digest", &d)
                .header(header::ETAG, format!("\"{d}\""))
                .header(header::CONTENT_LENGTH, size)
                .body(body)
                .map_err(internal)
        }
    }
}
