//! Blob reads and deletes.

use super::{header_str, OciError};
use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_core::Registry;
use berth_oci::range::{parse_range, RangeError};
use berth_oci::{Digest, ErrorCode, RepositoryName};

/// `GET`/`HEAD /v2/<name>/blobs/<digest>`, with single-range support.
pub async fn get(
    r: &Registry,
    name: &RepositoryName,
    digest: &Digest,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response, OciError> {
    let d = digest.to_string();
    let common = |b: axum::http::response::Builder| {
        b.header(header::CONTENT_TYPE, "application/octet-stream")
            .header("docker-content-digest", &d)
            .header(header::ETAG, format!("\"{d}\""))
            .header(header::ACCEPT_RANGES, "bytes")
            .header(header::CACHE_CONTROL, "max-age=31536000")
    };
    let blob = r.serve_blob(name, digest).await?;
    let size = blob.size;
    if head {
        return common(Response::builder())
            .header(header::CONTENT_LENGTH, size)
            .body(Body::empty())
            .map_err(internal);
    }
    // A store configured to redirect serves the bytes itself.
    if let Some(url) = blob.redirect().await? {
        return common(Response::builder())
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header(header::LOCATION, url)
            .header(header::CONTENT_LENGTH, 0)
            .body(Body::empty())
            .map_err(internal);
    }
    let Some(range) = header_str(headers, header::RANGE) else {
        let stream = blob.open(None).await?;
        return common(Response::builder())
            .header(header::CONTENT_LENGTH, size)
            .body(Body::from_stream(stream))
            .map_err(internal);
    };
    let range = parse_range(range, size).map_err(|e| {
        let status = match e {
            RangeError::Malformed => StatusCode::BAD_REQUEST,
            RangeError::NotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
        };
        OciError::status(status, ErrorCode::SizeInvalid, e.to_string())
            .header(header::CONTENT_RANGE, format!("bytes */{size}"))
    })?;
    let stream = blob.open(Some(range)).await?;
    common(Response::builder())
        .status(StatusCode::PARTIAL_CONTENT)
        .header(header::CONTENT_LENGTH, range.len())
        .header(
            header::CONTENT_RANGE,
            format!("bytes {}-{}/{size}", range.start, range.end),
        )
        .body(Body::from_stream(stream))
        .map_err(internal)
}

/// `DELETE /v2/<name>/blobs/<digest>`: unlinks the blob from the repository.
pub async fn delete(
    r: &Registry,
    name: &RepositoryName,
    digest: &Digest,
) -> Result<Response, OciError> {
    r.delete_blob(name, digest).await?;
    Ok((StatusCode::ACCEPTED, [(header::CONTENT_LENGTH, "0")]).into_response())
}

/// Maps an unexpected failure to a logged 500.
pub fn internal(e: impl std::fmt::Display) -> OciError {
    tracing::error!(error = %e, "internal error");
    OciError::status(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Unknown,
        "internal server error",
    )
}
