//! Manifest push, pull and delete.

use super::blobs::internal;
use super::{header_str, query_values, OciError};
use axum::body::Body;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_core::policy::Puller;
use berth_core::{Registry, RegistryError};
use berth_oci::manifest::MAX_MANIFEST_SIZE;
use berth_oci::{ErrorCode, Reference, RepositoryName, Tag};

/// `GET`/`HEAD /v2/<name>/manifests/<reference>`.
pub async fn get(
    r: &Registry,
    name: &RepositoryName,
    reference: &Reference,
    operator: Option<&str>,
    puller: Puller,
) -> Result<Response, OciError> {
    let m = r.serve_manifest(name, reference, puller).await?;
    // HEAD checks for existence; only a GET is a pull (as in Harbor).
    let head = operator.is_none();
    if let Some(operator) = operator {
        r.pulled(name, reference, &m, operator);
    }
    let builder = Response::builder()
        .header(header::CONTENT_TYPE, &m.media_type)
        .header("docker-content-digest", &m.digest)
        .header(header::ETAG, format!("\"{}\"", m.digest))
        .header(header::CONTENT_LENGTH, m.manifest.len());
    let body = if head {
        Body::empty()
    } else {
        Body::from(m.manifest.clone())
    };
    builder.body(body).map_err(internal)
}

/// `PUT /v2/<name>/manifests/<reference>[?tag=…]`.
pub async fn put(
    r: &Registry,
    name: &RepositoryName,
    reference: &Reference,
    req: Request<Body>,
    operator: &str,
) -> Result<Response, OciError> {
    let extra_tags = query_values(req.uri().query(), "tag")
        .map(|t| {
            Tag::parse(&t).map_err(|_| {
                OciError::new(ErrorCode::ManifestInvalid, format!("invalid tag {t:?}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let content_type = header_str(req.headers(), header::CONTENT_TYPE).map(str::to_owned);
    let body = axum::body::to_bytes(req.into_body(), MAX_MANIFEST_SIZE)
        .await
        .map_err(|_| OciError::from(RegistryError::ManifestTooLarge))?;
    let pushed = r
        .put_manifest(
            name,
            reference,
            content_type.as_deref(),
            &body,
            extra_tags,
            operator,
        )
        .await?;
    let digest = pushed.digest.to_string();
    let mut resp = (
        StatusCode::CREATED,
        [
            (header::LOCATION, format!("/v2/{name}/manifests/{digest}")),
            (
                header::HeaderName::from_static("docker-content-digest"),
                digest,
            ),
            (header::CONTENT_LENGTH, "0".to_string()),
        ],
    )
        .into_response();
    let headers = resp.headers_mut();
    if let Some(subject) = pushed.subject {
        if let Ok(v) = HeaderValue::from_str(&subject.to_string()) {
            headers.insert("oci-subject", v);
        }
    }
    if matches!(reference, Reference::Digest(_)) {
        for tag in &pushed.tags {
            if let Ok(v) = HeaderValue::from_str(tag.as_str()) {
                headers.append("oci-tag", v);
            }
        }
    }
    Ok(resp)
}

/// `DELETE /v2/<name>/manifests/<reference>`: a tag is untagged, a digest deleted.
pub async fn delete(
    r: &Registry,
    name: &RepositoryName,
    reference: &Reference,
    operator: &str,
) -> Result<Response, OciError> {
    r.delete_manifest(name, reference, operator).await?;
    Ok((StatusCode::ACCEPTED, [(header::CONTENT_LENGTH, "0")]).into_response())
}
