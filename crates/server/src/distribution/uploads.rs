//! Blob upload sessions: start, mount, chunk, status, close, cancel.

use super::error::upload_range;
use super::{content_length, header_str, query_value, OciError};
use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_core::Registry;
use berth_oci::range::parse_content_range;
use berth_oci::{ByteRange, Digest, ErrorCode, RepositoryName};

fn parse_digest(s: &str) -> Result<Digest, OciError> {
    Digest::parse(s).map_err(|e| OciError::new(ErrorCode::DigestInvalid, e.to_string()))
}

fn blob_created(name: &RepositoryName, digest: &Digest) -> Response {
    (
        StatusCode::CREATED,
        [
            (header::LOCATION, format!("/v2/{name}/blobs/{digest}")),
            (
                header::HeaderName::from_static("docker-content-digest"),
                digest.to_string(),
            ),
            (header::CONTENT_LENGTH, "0".to_string()),
        ],
    )
        .into_response()
}

fn session(status: StatusCode, name: &RepositoryName, id: &str, size: u64) -> Response {
    (
        status,
        [
            (header::LOCATION, format!("/v2/{name}/blobs/uploads/{id}")),
            (header::RANGE, upload_range(size)),
            (
                header::HeaderName::from_static("docker-upload-uuid"),
                id.to_string(),
            ),
            (header::CONTENT_LENGTH, "0".to_string()),
        ],
    )
        .into_response()
}

fn chunk_range(headers: &HeaderMap) -> Result<Option<ByteRange>, OciError> {
    header_str(headers, header::CONTENT_RANGE)
        .map(|v| {
            parse_content_range(v).map_err(|e| {
                OciError::status(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    ErrorCode::BlobUploadInvalid,
                    format!("Content-Range: {e}"),
                )
            })
        })
        .transpose()
}

/// `POST /v2/<name>/blobs/uploads/`: mount, monolithic push, or a new session.
pub async fn start(
    r: &Registry,
    (name, operator): (&RepositoryName, &str),
    req: Request<Body>,
    may_mount: bool,
) -> Result<Response, OciError> {
    let query = req.uri().query();
    if let Some(mount) = query_value(query, "mount") {
        let digest = parse_digest(&mount)?;
        if let Some(from) = query_value(query, "from").filter(|_| may_mount) {
            let from = RepositoryName::parse(&from)
                .map_err(|e| OciError::new(ErrorCode::NameInvalid, e.to_string()))?;
            if r.mount_blob(name, &digest, &from, operator).await? {
                return Ok(blob_created(name, &digest));
            }
        }
        // Without a source that has the blob, fall back to a new session (spec).
    } else if let Some(d) = query_value(query, "digest") {
        let digest = parse_digest(&d)?;
        let len = content_length(req.headers());
        r.upload_monolithic(
            (name, operator),
            &digest,
            len,
            req.into_body().into_data_stream(),
        )
        .await?;
        return Ok(blob_created(name, &digest));
    }
    let id = r.start_upload(name).await?;
    Ok(session(StatusCode::ACCEPTED, name, &id.to_string(), 0))
}

/// `GET <location>`: how much the session has received.
pub async fn status(r: &Registry, name: &RepositoryName, id: &str) -> Result<Response, OciError> {
    let (id, size) = r.upload_size(name, id).await?;
    Ok(session(StatusCode::NO_CONTENT, name, &id.to_string(), size))
}

/// `PATCH <location>`: append a chunk, streamed or with `Content-Range`.
pub async fn patch(
    r: &Registry,
    name: &RepositoryName,
    id: &str,
    req: Request<Body>,
) -> Result<Response, OciError> {
    let range = chunk_range(req.headers())?;
    let len = content_length(req.headers());
    let result = r
        .upload_chunk(name, id, range, len, req.into_body().into_data_stream())
        .await;
    match result {
        Ok((id, size)) => Ok(session(StatusCode::ACCEPTED, name, &id.to_string(), size)),
        Err(e) => {
            Err(OciError::from(e)
                .header(header::LOCATION, format!("/v2/{name}/blobs/uploads/{id}")))
        }
    }
}

/// `PUT <location>?digest=`: close the session, with an optional last chunk.
pub async fn put(
    r: &Registry,
    (name, operator): (&RepositoryName, &str),
    id: &str,
    req: Request<Body>,
) -> Result<Response, OciError> {
    let digest = query_value(req.uri().query(), "digest")
        .ok_or_else(|| {
            OciError::new(
                ErrorCode::DigestInvalid,
                "digest query parameter is required",
            )
        })
        .and_then(|d| parse_digest(&d))?;
    let range = chunk_range(req.headers())?;
    let len = content_length(req.headers());
    r.finish_upload(
        (name, operator),
        id,
        &digest,
        range,
        len,
        req.into_body().into_data_stream(),
    )
    .await?;
    Ok(blob_created(name, &digest))
}

/// `DELETE <location>`: cancel the session.
pub async fn cancel(r: &Registry, name: &RepositoryName, id: &str) -> Result<Response, OciError> {
    r.cancel_upload(name, id).await?;
    Ok((StatusCode::NO_CONTENT, [(header::CONTENT_LENGTH, "0")]).into_response())
}
