//! Tag lists, the catalog and the referrers API.

use super::{query_value, OciError};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use berth_core::iam::context::SecurityContext;
use berth_core::Registry;
use berth_oci::{media, Digest, ErrorCode, RepositoryName};
use std::collections::HashMap;

fn page_params(query: Option<&str>) -> Result<(Option<i64>, Option<String>), OciError> {
    let n = query_value(query, "n")
        .map(|n| {
            n.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                OciError::status(
                    axum::http::StatusCode::BAD_REQUEST,
                    ErrorCode::Unsupported,
                    "n must be a non-negative integer",
                )
            })
        })
        .transpose()?;
    Ok((n, query_value(query, "last")))
}

fn with_next(
    mut resp: Response,
    more: bool,
    path: &str,
    n: usize,
    last: Option<&String>,
) -> Response {
    if let (true, Some(last)) = (more, last) {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("n", &n.to_string())
            .append_pair("last", last)
            .finish();
        if let Ok(v) = HeaderValue::from_str(&format!("<{path}?{q}>; rel=\"next\"")) {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    resp
}

/// `GET /v2/<name>/tags/list?n=&last=`.
pub async fn tags(
    r: &Registry,
    name: &RepositoryName,
    query: Option<&str>,
) -> Result<Response, OciError> {
    let (n, last) = page_params(query)?;
    let (tags, more) = r.tags(name, n, last.as_deref()).await?;
    let resp =
        axum::Json(serde_json::json!({ "name": name.as_str(), "tags": tags })).into_response();
    Ok(with_next(
        resp,
        more,
        &format!("/v2/{name}/tags/list"),
        tags.len(),
        tags.last(),
    ))
}

/// `GET /v2/_catalog?n=&last=`: only repositories the caller may read
/// (a filtered page may be shorter than `n`; `Link` still leads on).
pub async fn catalog(
    state: &crate::State,
    ctx: &SecurityContext,
    query: Option<&str>,
) -> Result<Response, OciError> {
    let (n, last) = page_params(query)?;
    let (page, more) = state.registry.catalog(n, last.as_deref()).await?;
    let next_after = page.last().cloned();
    let page_len = page.len();
    let mut repos = Vec::with_capacity(page.len());
    let mut readable: HashMap<String, bool> = HashMap::new();
    for name in page {
        let project = name.split('/').next().unwrap_or("").to_string();
        let ok = match readable.get(&project) {
            Some(ok) => *ok,
            None => {
                let ok = super::auth::may_list(ctx, state, &project).await?;
                readable.insert(project, ok);
                ok
            }
        };
        if ok {
            repos.push(name);
        }
    }
    let resp = axum::Json(serde_json::json!({ "repositories": repos })).into_response();
    Ok(with_next(
        resp,
        more,
        "/v2/_catalog",
        page_len,
        next_after.as_ref(),
    ))
}

/// `GET /v2/<name>/referrers/<digest>[?artifactType=]`: an image index of referrers.
pub async fn referrers(
    r: &Registry,
    name: &RepositoryName,
    digest: &Digest,
    query: Option<&str>,
) -> Result<Response, OciError> {
    let filter = query_value(query, "artifactType").filter(|a| !a.is_empty());
    let list = r.referrers(name, digest, filter.as_deref()).await?;
    let manifests: Vec<serde_json::Value> = list
        .into_iter()
        .map(|a| {
            let mut d = serde_json::json!({
                "mediaType": a.media_type,
                "digest": a.digest,
                "size": a.manifest_size,
            });
            if let Some(t) = a.artifact_type {
                d["artifactType"] = t.into();
            }
            if let Some(ann) = a
                .annotations
                .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            {
                d["annotations"] = ann;
            }
            d
        })
        .collect();
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": manifests,
    });
    let mut resp = ([(header::CONTENT_TYPE, media::OCI_INDEX)], body.to_string()).into_response();
    if filter.is_some() {
        resp.headers_mut().insert(
            "oci-filters-applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    Ok(resp)
}
