//! The OCI Distribution Spec v1.1 at `/v2/`.
//!
//! Every request is first parsed into a typed [`Endpoint`] (the repository
//! name is taken from the left, the operation from the right of the path),
//! then dispatched; the name grammar is checked before any handler runs.

mod auth;
mod blobs;
mod error;
mod listing;
mod manifests;
mod proxy;
mod uploads;

pub use error::OciError;

use crate::State;
use axum::body::Body;
use axum::extract::State as AxState;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use berth_core::policy::Puller;
use berth_oci::{Digest, ErrorCode, Reference, RepositoryName};

/// A parsed `/v2` request target.
#[derive(Debug, PartialEq, Eq)]
pub enum Endpoint {
    Base,
    Catalog,
    Tags(RepositoryName),
    Manifest(RepositoryName, Reference),
    Blob(RepositoryName, Digest),
    UploadStart(RepositoryName),
    Upload(RepositoryName, String),
    Referrers(RepositoryName, Digest),
}

impl Endpoint {
    /// The endpoint's route template, as the distribution spec writes it.
    pub fn template(&self) -> &'static str {
        match self {
            Endpoint::Base => "/v2/",
            Endpoint::Catalog => "/v2/_catalog",
            Endpoint::Tags(_) => "/v2/{name}/tags/list",
            Endpoint::Manifest(..) => "/v2/{name}/manifests/{reference}",
            Endpoint::Blob(..) => "/v2/{name}/blobs/{digest}",
            Endpoint::UploadStart(_) => "/v2/{name}/blobs/uploads/",
            Endpoint::Upload(..) => "/v2/{name}/blobs/uploads/{reference}",
            Endpoint::Referrers(..) => "/v2/{name}/referrers/{digest}",
        }
    }

    /// Parses the path after `/v2/`.
    pub fn parse(rest: &str) -> Result<Endpoint, OciError> {
        if rest.is_empty() {
            return Ok(Endpoint::Base);
        }
        if rest == "_catalog" {
            return Ok(Endpoint::Catalog);
        }
        let segs: Vec<&str> = rest.split('/').collect();
        let n = segs.len();
        let name = |upto: usize| -> Result<RepositoryName, OciError> {
            RepositoryName::parse(&segs[..upto].join("/"))
                .map_err(|e| OciError::new(ErrorCode::NameInvalid, e.to_string()))
        };
        let digest = |s: &str| -> Result<Digest, OciError> {
            Digest::parse(s).map_err(|e| OciError::new(ErrorCode::DigestInvalid, e.to_string()))
        };
        if n >= 4 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
            let name = name(n - 3)?;
            return Ok(if segs[n - 1].is_empty() {
                Endpoint::UploadStart(name)
            } else {
                Endpoint::Upload(name, segs[n - 1].to_string())
            });
        }
        if n >= 3 && segs[n - 2] == "blobs" && segs[n - 1] == "uploads" {
            return Ok(Endpoint::UploadStart(name(n - 2)?));
        }
        if n >= 3 && segs[n - 2] == "tags" && segs[n - 1] == "list" {
            return Ok(Endpoint::Tags(name(n - 2)?));
        }
        if n >= 3 {
            let last = segs[n - 1];
            match segs[n - 2] {
                "blobs" => return Ok(Endpoint::Blob(name(n - 2)?, digest(last)?)),
                "referrers" => return Ok(Endpoint::Referrers(name(n - 2)?, digest(last)?)),
                "manifests" => {
                    let reference = Reference::parse(last).map_err(|e| match e {
                        berth_oci::ReferenceError::BadDigest(d) => {
                            OciError::new(ErrorCode::DigestInvalid, d.to_string())
                        }
                        berth_oci::ReferenceError::BadTag => {
                            OciError::new(ErrorCode::ManifestInvalid, "invalid tag")
                        }
                    })?;
                    return Ok(Endpoint::Manifest(name(n - 2)?, reference));
                }
                _ => {}
            }
        }
        Err(OciError::status(
            StatusCode::NOT_FOUND,
            ErrorCode::NameUnknown,
            "unknown endpoint",
        ))
    }
}

/// Routes for `/v2`.
pub fn router() -> Router<State> {
    Router::new()
        .route("/v2", any(dispatch))
        .route("/v2/", any(dispatch))
        .route("/v2/{*rest}", any(dispatch))
}

async fn dispatch(AxState(state): AxState<State>, req: Request<Body>) -> Response {
    let mut resp = match route(state, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    resp.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    resp
}

async fn route(state: State, req: Request<Body>) -> Result<Response, OciError> {
    let path = req.uri().path();
    let rest = path.strip_prefix("/v2").unwrap_or(path);
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let endpoint = Endpoint::parse(rest)?;
    let method = req.method().clone();
    crate::traces::route(&method, endpoint.template());
    if !supported(&endpoint, &method) {
        return Err(unsupported());
    }
    let caller = auth::caller(&state, req.headers()).await?;
    let mut upstream = None;
    if let Some((name, action)) = needs(&endpoint, &method) {
        upstream = auth::authorize_upstream(&state, &caller, name, action).await?;
    }
    let r = &state.registry;
    use Endpoint as E;
    // A proxy cache's reads go through to its upstream.
    let read = matches!(method, Method::GET | Method::HEAD);
    if let (Some(id), true) = (upstream, read) {
        let head = method == Method::HEAD;
        match &endpoint {
            E::Manifest(name, reference) => {
                let operator = caller.username();
                return proxy::manifest(&state, id, name, reference, operator, head).await;
            }
            E::Blob(name, d) => {
                let to = (name, d, caller.username());
                return proxy::blob(&state, id, to, req.headers(), head).await;
            }
            _ => {}
        }
    }
    match (endpoint, method) {
        (E::Base, Method::GET | Method::HEAD) => {
            auth::require_login(&state, &caller)?;
            Ok(([(header::CONTENT_TYPE, "application/json")], "{}").into_response())
        }
        (E::Catalog, Method::GET) => {
            let ctx = auth::listing_context(&state, caller).await?;
            listing::catalog(&state, &ctx, req.uri().query()).await
        }
        (E::Tags(name), Method::GET) => listing::tags(r, &name, req.uri().query()).await,
        (E::Referrers(name, d), Method::GET) => {
            listing::referrers(r, &name, &d, req.uri().query()).await
        }
        (E::Blob(name, d), m @ (Method::GET | Method::HEAD)) => {
            blobs::get(r, &name, &d, req.headers(), m == Method::HEAD).await
        }
        (E::Blob(name, d), Method::DELETE) => blobs::delete(r, &name, &d).await,
        (E::UploadStart(name), Method::POST) => {
            // A mount needs pull access to its source; without it, a plain upload starts.
            let from =
                query_value(req.uri().query(), "from").and_then(|f| RepositoryName::parse(&f).ok());
            let may_mount = match &from {
                Some(f) => auth::authorize(&state, &caller, f, auth::RepoAction::Pull)
                    .await
                    .is_ok(),
                None => false,
            };
            uploads::start(r, (&name, caller.username()), req, may_mount).await
        }
        (E::Upload(name, id), Method::GET) => uploads::status(r, &name, &id).await,
        (E::Upload(name, id), Method::PATCH) => uploads::patch(r, &name, &id, req).await,
        (E::Upload(name, id), Method::PUT) => {
            uploads::put(r, (&name, caller.username()), &id, req).await
        }
        (E::Upload(name, id), Method::DELETE) => uploads::cancel(r, &name, &id).await,
        (E::Manifest(name, reference), m @ (Method::GET | Method::HEAD)) => {
            let operator = (m == Method::GET).then(|| caller.username());
            // A signing tool reads the manifest it signs: Harbor lets one
            // that may push through the signature rules.
            let agent = header_str(req.headers(), header::USER_AGENT).unwrap_or("");
            let signing = (agent.contains("cosign") || agent.contains("notation"))
                && auth::authorize(&state, &caller, &name, auth::RepoAction::Push)
                    .await
                    .is_ok();
            let scanner = caller.may_scanner_pull()
                && auth::authorize(&state, &caller, &name, auth::RepoAction::ScannerPull)
                    .await
                    .is_ok();
            manifests::get(r, &name, &reference, operator, Puller { signing, scanner }).await
        }
        (E::Manifest(name, reference), Method::PUT) => {
            manifests::put(r, &name, &reference, req, caller.username()).await
        }
        (E::Manifest(name, reference), Method::DELETE) => {
            manifests::delete(r, &name, &reference, caller.username()).await
        }
        _ => Err(unsupported()),
    }
}

fn unsupported() -> OciError {
    OciError::status(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::Unsupported,
        "the operation is unsupported",
    )
}

/// Whether the endpoint answers the method (checked before authentication).
fn supported(endpoint: &Endpoint, method: &Method) -> bool {
    use Endpoint as E;
    let read = matches!(*method, Method::GET | Method::HEAD);
    match endpoint {
        E::Base => read,
        E::Catalog | E::Tags(_) | E::Referrers(..) => *method == Method::GET,
        E::Blob(..) => read || *method == Method::DELETE,
        E::UploadStart(_) => *method == Method::POST,
        E::Upload(..) => matches!(
            *method,
            Method::GET | Method::PATCH | Method::PUT | Method::DELETE
        ),
        E::Manifest(..) => read || matches!(*method, Method::PUT | Method::DELETE),
    }
}

/// The repository and action a request needs, if it touches a repository.
fn needs<'a>(
    endpoint: &'a Endpoint,
    method: &Method,
) -> Option<(&'a RepositoryName, auth::RepoAction)> {
    use auth::RepoAction as A;
    use Endpoint as E;
    let (name, is_upload) = match endpoint {
        E::Base | E::Catalog => return None,
        E::Tags(n) | E::Referrers(n, _) | E::Manifest(n, _) | E::Blob(n, _) => (n, false),
        E::UploadStart(n) | E::Upload(n, _) => (n, true),
    };
    let action = match *method {
        Method::GET | Method::HEAD if !is_upload => A::Pull,
        Method::DELETE if !is_upload => A::Delete,
        _ => A::Push,
    };
    Some((name, action))
}

/// Values of one query parameter, in order.
fn query_values<'a>(query: Option<&'a str>, key: &'a str) -> impl Iterator<Item = String> + 'a {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(move |(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The first value of a query parameter.
fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    query_values(query, key).next()
}

/// A header's value as text, if present and readable.
fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The `Content-Length` header, if present and numeric.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    header_str(headers, header::CONTENT_LENGTH).and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoints() {
        let n = |s: &str| RepositoryName::parse(s).unwrap();
        assert_eq!(Endpoint::parse("").unwrap(), Endpoint::Base);
        assert_eq!(Endpoint::parse("_catalog").unwrap(), Endpoint::Catalog);
        assert_eq!(
            Endpoint::parse("a/b/tags/list").unwrap(),
            Endpoint::Tags(n("a/b"))
        );
        assert_eq!(
            Endpoint::parse("a/b/blobs/uploads/").unwrap(),
            Endpoint::UploadStart(n("a/b"))
        );
        assert_eq!(
            Endpoint::parse("a/b/blobs/uploads").unwrap(),
            Endpoint::UploadStart(n("a/b"))
        );
        assert_eq!(
            Endpoint::parse("a/blobs/c/blobs/uploads/xyz").unwrap(),
            Endpoint::Upload(n("a/blobs/c"), "xyz".into())
        );
        assert!(matches!(
            Endpoint::parse("a/manifests/x/manifests/latest").unwrap(),
            Endpoint::Manifest(_, Reference::Tag(_))
        ));
        assert!(Endpoint::parse("A/b/tags/list").is_err());
        assert!(Endpoint::parse("a/b/blobs/sha256:zz").is_err());
        assert!(Endpoint::parse("a/b/other/x").is_err());
    }
}
