//! A client of another OCI registry's `/v2` API, pulling (manifests and
//! blobs, each verified against its digest) and pushing (blobs streamed in
//! one `PUT`, manifests), with the Docker token flow (a 401's Bearer
//! challenge answered from the realm it names) and basic auth.

use berth_oci::Digest;
use futures_util::{Stream, TryStreamExt};
use reqwest::header::{HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A repository's name there: a `RepositoryName`, or (a proxy cache's
/// upstream) any name the registry has, such as Docker Hub's `alpine`.
type Name = dyn std::fmt::Display + Sync;

/// The manifest types asked for, as a pull asks.
const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";
/// How long a ping waits for a registry's answer.
const PING_WITHIN: Duration = Duration::from_secs(15);
/// A manifest larger than this is refused (Distribution's own limit).
const MAX_MANIFEST: usize = 4 << 20;

/// Mount hints kept before the oldest are forgotten (all at once).
const MOUNT_HINTS: usize = 100_000;

/// Where blobs were last seen in the registries this process writes to,
/// by registry and digest: an upload of one into another repository there
/// mounts it from that one instead of sending its bytes again.
#[derive(Default)]
pub struct MountHints(Mutex<HashMap<(String, String), String>>);

impl MountHints {
    fn seen(&self, base: &str, repo: &Name, digest: &Digest) {
        let mut hints = crate::lock(&self.0);
        if hints.len() >= MOUNT_HINTS {
            hints.clear();
        }
        hints.insert((base.to_string(), digest.to_string()), repo.to_string());
    }

    /// A repository of `base` other than `repo` that had the blob.
    fn source(&self, base: &str, repo: &Name, digest: &Digest) -> Option<String> {
        let key = (base.to_string(), digest.to_string());
        let from = crate::lock(&self.0).get(&key).cloned()?;
        (from != repo.to_string()).then_some(from)
    }
}

/// A registry to pull from and push to.
pub struct Remote {
    http: reqwest::Client,
    base: String,
    /// The `Authorization` the registry was handed with (basic credentials
    /// for the token flow, or a bearer token used as is); empty for none.
    authorization: String,
    /// The bearer token the token flow gave, once it ran.
    token: tokio::sync::Mutex<Option<String>>,
    /// The token service (realm and service) the registry's last
    /// challenge named.
    realm: Mutex<Option<(String, Option<String>)>>,
    mounts: Option<Arc<MountHints>>,
}

impl Remote {
    /// A registry at `base` (`https://host[:port]`).
    pub fn new(base: &str, authorization: &str, skip_cert_verify: bool) -> Result<Self, String> {
        Self::trusting(base, authorization, skip_cert_verify, "")
    }

    /// A registry whose certificate is verified against `ca_pem` (PEM
    /// certificates; empty for the system's roots) unless
    /// `skip_cert_verify`.
    pub fn trusting(
        base: &str,
        authorization: &str,
        skip_cert_verify: bool,
        ca_pem: &str,
    ) -> Result<Self, String> {
        let mut http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(120))
            .danger_accept_invalid_certs(skip_cert_verify);
        for cert in ca_certificates(ca_pem)? {
            http = http.add_root_certificate(cert);
        }
        let http = http.build().map_err(|e| e.to_string())?;
        Ok(Remote {
            http,
            base: base.trim_end_matches('/').to_string(),
            authorization: authorization.to_string(),
            token: tokio::sync::Mutex::new(None),
            realm: Mutex::new(None),
            mounts: None,
        })
    }

    /// The same client, recording where blobs are seen in `hints` and
    /// mounting from there.
    pub fn with_mount_hints(self, hints: Arc<MountHints>) -> Self {
        Remote {
            mounts: Some(hints),
            ..self
        }
    }

    fn seen(&self, repo: &Name, digest: &Digest) {
        if let Some(hints) = &self.mounts {
            hints.seen(&self.base, repo, digest);
        }
    }

    /// A manifest by digest: its media type and bytes.
    pub async fn manifest(
        &self,
        repo: &Name,
        digest: &Digest,
    ) -> Result<(String, Vec<u8>), String> {
        let (media_type, bytes, _) = self.fetch_manifest(repo, &digest.to_string()).await?;
        Ok((media_type, bytes.to_vec()))
    }

    /// A blob by digest, as a stream of its bytes (checked against the
    /// digest by [`Verified`] as it is read).
    pub async fn blob(
        &self,
        repo: &Name,
        digest: &Digest,
    ) -> Result<impl Stream<Item = std::io::Result<bytes::Bytes>> + Send + Unpin + 'static, String>
    {
        let res = self
            .get(&format!("/v2/{repo}/blobs/{digest}"), "*/*")
            .await?;
        Ok(res.bytes_stream().map_err(std::io::Error::other))
    }

    /// A manifest by tag or digest: its media type, bytes and digest
    /// (checked against the digest when asked by one).
    pub async fn fetch_manifest(
        &self,
        repo: &Name,
        reference: &str,
    ) -> Result<(String, bytes::Bytes, Digest), String> {
        let res = self
            .get(&format!("/v2/{repo}/manifests/{reference}"), MANIFEST_TYPES)
            .await?;
        let media_type = (res.headers().get(reqwest::header::CONTENT_TYPE))
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        if res.content_length().unwrap_or(0) > MAX_MANIFEST as u64 {
            return Err(format!("manifest {repo}:{reference} is larger than 4 MiB"));
        }
        let bytes = res.bytes().await.map_err(|e| e.to_string())?;
        let digest = berth_storage::digest_of(&bytes);
        let asked = Digest::parse(reference).ok();
        if bytes.len() > MAX_MANIFEST || asked.is_some_and(|d| d != digest) {
            return Err(format!(
                "manifest {repo}@{reference}: the registry sent other content"
            ));
        }
        Ok((media_type, bytes, digest))
    }

    /// The digest a manifest reference names there, or None when it has
    /// no such manifest.
    pub async fn manifest_digest(
        &self,
        repo: &Name,
        reference: &str,
    ) -> Result<Option<String>, String> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let res = self
            .send(Method::HEAD, &path, &[(ACCEPT, MANIFEST_TYPES)], None)
            .await?;
        match res.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok((res.headers().get("docker-content-digest"))
                .and_then(|v| v.to_str().ok())
                .map(String::from)),
            s => Err(format!("HEAD {path}: {s}")),
        }
    }

    /// Stores a manifest under a tag or its digest.
    pub async fn put_manifest(
        &self,
        repo: &Name,
        reference: &str,
        media_type: &str,
        bytes: bytes::Bytes,
    ) -> Result<(), String> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let content_type = [(reqwest::header::CONTENT_TYPE, media_type)];
        let res = self
            .send(Method::PUT, &path, &content_type, Some(bytes))
            .await?;
        match res.status() {
            StatusCode::CREATED => Ok(()),
            s => Err(format!(
                "PUT {path}: {s} {}",
                res.text().await.unwrap_or_default()
            )),
        }
    }

    /// A blob's size there, None when it has no such blob.
    pub async fn blob_size(&self, repo: &Name, digest: &Digest) -> Result<Option<u64>, String> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let res = self.send(Method::HEAD, &path, &[], None).await?;
        match res.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some(res.content_length().unwrap_or(0))),
            s => Err(format!("HEAD {path}: {s}")),
        }
    }

    /// Whether the registry holds a blob in a repository.
    pub async fn has_blob(&self, repo: &Name, digest: &Digest) -> Result<bool, String> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let res = self.send(Method::HEAD, &path, &[], None).await?;
        match res.status() {
            StatusCode::NOT_FOUND => Ok(false),
            s if s.is_success() => {
                self.seen(repo, digest);
                Ok(true)
            }
            s => Err(format!("HEAD {path}: {s}")),
        }
    }

    /// Mounts a blob into `repo` from another repository of this registry
    /// that had it, if any did; false when none did or the registry would
    /// not mount (then nothing was changed).
    pub async fn mount_blob(&self, repo: &Name, digest: &Digest) -> Result<bool, String> {
        let from = (self.mounts.as_ref()).and_then(|h| h.source(&self.base, repo, digest));
        let Some(from) = from else {
            return Ok(false);
        };
        // A token for both repositories, as a client that means to mount
        // asks for it (a registry may not challenge for the source).
        let realm = crate::lock(&self.realm).clone();
        if let Some((realm, service)) = realm {
            let scopes = [
                format!("repository:{repo}:pull,push"),
                format!("repository:{from}:pull"),
            ];
            if let Ok(token) = self.token_for(&realm, service.as_deref(), &scopes).await {
                *self.token.lock().await = Some(token);
            }
        }
        let mut url = reqwest::Url::parse(&format!("{}/v2/{repo}/blobs/uploads/", self.base))
            .map_err(|e| e.to_string())?;
        (url.query_pairs_mut())
            .append_pair("mount", &digest.to_string())
            .append_pair("from", &from);
        let res = (self.send(Method::POST, url.as_str(), &[], Some(bytes::Bytes::new()))).await?;
        match res.status() {
            StatusCode::CREATED => {
                self.seen(repo, digest);
                Ok(true)
            }
            // Not mounted: the upload session it started instead is
            // cancelled, the blob is sent.
            StatusCode::ACCEPTED => {
                if let Ok(session) = self.location(&res) {
                    let _ = (self.send(Method::DELETE, session.as_str(), &[], None)).await;
                }
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    /// Uploads a blob of `size` bytes as it streams by: an upload started
    /// (which also gets the token a push needs), then one `PUT` of it all.
    pub async fn push_blob<S>(
        &self,
        repo: &Name,
        digest: &Digest,
        size: u64,
        body: S,
    ) -> Result<(), String>
    where
        S: Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
    {
        let mut url = self.start_upload(repo).await?;
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let mut req = self
            .http
            .put(url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(body));
        let auth = self.current_authorization().await;
        if !auth.is_empty() {
            req = req.header(AUTHORIZATION, auth);
        }
        let res = req.send().await.map_err(|e| e.to_string())?;
        match res.status() {
            StatusCode::CREATED => {
                self.seen(repo, digest);
                Ok(())
            }
            s => Err(format!(
                "PUT blob {digest}: {s} {}",
                res.text().await.unwrap_or_default()
            )),
        }
    }

    /// Uploads a blob in `chunk`-byte `PATCH`es (each chunk held in
    /// memory while it is sent), then closes the upload with its digest.
    pub async fn push_blob_chunked<S>(
        &self,
        repo: &Name,
        digest: &Digest,
        body: S,
        chunk: u64,
    ) -> Result<(), String>
    where
        S: Stream<Item = std::io::Result<bytes::Bytes>> + Send + Unpin,
    {
        let mut location = self.start_upload(repo).await?;
        let mut body = body;
        let mut offset = 0u64;
        let mut buf = bytes::BytesMut::new();
        let mut ended = false;
        loop {
            while !ended && (buf.len() as u64) < chunk {
                match body.try_next().await.map_err(|e| e.to_string())? {
                    Some(b) => buf.extend_from_slice(&b),
                    None => ended = true,
                }
            }
            let take = buf.len().min(chunk as usize);
            if take == 0 {
                break;
            }
            let part = buf.split_to(take).freeze();
            let range = format!("{offset}-{}", offset + take as u64 - 1);
            let headers = [
                (reqwest::header::CONTENT_TYPE, "application/octet-stream"),
                (reqwest::header::CONTENT_RANGE, range.as_str()),
            ];
            let res = self
                .send(Method::PATCH, location.as_str(), &headers, Some(part))
                .await?;
            if res.status() != StatusCode::ACCEPTED {
                return Err(format!("PATCH blob {digest}: {}", res.status()));
            }
            location = self.location(&res)?;
            offset += take as u64;
        }
        location
            .query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let res = self
            .send(
                Method::PUT,
                location.as_str(),
                &[],
                Some(bytes::Bytes::new()),
            )
            .await?;
        match res.status() {
            StatusCode::CREATED => {
                self.seen(repo, digest);
                Ok(())
            }
            s => Err(format!("PUT blob {digest}: {s}")),
        }
    }

    /// Starts an upload (which also gets the token a push needs): where
    /// its next request goes.
    async fn start_upload(&self, repo: &Name) -> Result<reqwest::Url, String> {
        let start = format!("/v2/{repo}/blobs/uploads/");
        let res = self
            .send(Method::POST, &start, &[], Some(bytes::Bytes::new()))
            .await?;
        if res.status() != StatusCode::ACCEPTED {
            return Err(format!("POST {start}: {}", res.status()));
        }
        self.location(&res)
    }

    /// The `Location` an answer names, resolved against the registry.
    fn location(&self, res: &Response) -> Result<reqwest::Url, String> {
        let location = (res.headers().get(reqwest::header::LOCATION))
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| format!("{}: no Location", res.url().path()))?;
        let base = reqwest::Url::parse(&format!("{}/", self.base)).map_err(|e| e.to_string())?;
        base.join(location).map_err(|e| e.to_string())
    }

    /// Deletes a manifest by digest; false when the registry had none.
    pub async fn delete_manifest(&self, repo: &Name, digest: &Digest) -> Result<bool, String> {
        let path = format!("/v2/{repo}/manifests/{digest}");
        let res = self.send(Method::DELETE, &path, &[], None).await?;
        match res.status() {
            StatusCode::NOT_FOUND => Ok(false),
            s if s.is_success() => Ok(true),
            s => Err(format!("DELETE {path}: {s}")),
        }
    }

    /// Every repository the registry lists (`_catalog`, page by page).
    pub async fn catalog(&self) -> Result<Vec<String>, String> {
        self.pages("/v2/_catalog?n=1000", "repositories").await
    }

    /// Every tag of a repository (`tags/list`, page by page).
    pub async fn tags(&self, repo: &Name) -> Result<Vec<String>, String> {
        (self.pages(&format!("/v2/{repo}/tags/list?n=1000"), "tags")).await
    }

    /// The names under `key` of a paginated `/v2` list, following its
    /// `Link` headers.
    async fn pages(&self, first: &str, key: &str) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        let mut next = Some(first.to_string());
        while let Some(path) = next.take() {
            let res = self.get(&path, "application/json").await?;
            next = (res.headers().get(reqwest::header::LINK))
                .and_then(|v| v.to_str().ok())
                .and_then(|l| l.split_once('<'))
                .and_then(|(_, rest)| rest.split_once('>'))
                .map(|(url, _)| url.to_string());
            let page: serde_json::Value = res.json().await.map_err(|e| e.to_string())?;
            let names = page[key].as_array().into_iter().flatten();
            out.extend(names.filter_map(|n| n.as_str().map(String::from)));
            if out.len() > 1_000_000 {
                return Err(format!("{first}: more than a million entries"));
            }
        }
        Ok(out)
    }

    /// Creates a project on a Harbor (or Berth) registry through its API,
    /// unless it exists.
    pub async fn ensure_harbor_project(&self, name: &str) -> Result<(), String> {
        let url = format!("{}/api/v2.0/projects", self.base);
        let mut req = (self.http.post(url)).json(&serde_json::json!({
            "project_name": name,
            "metadata": {"public": "false"},
        }));
        if !self.authorization.is_empty() {
            req = req.header(AUTHORIZATION, &self.authorization);
        }
        let res = req.send().await.map_err(|e| e.to_string())?;
        match res.status() {
            s if s.is_success() || s == StatusCode::CONFLICT => Ok(()),
            s => Err(format!(
                "creating project {name}: {s} {}",
                res.text().await.unwrap_or_default()
            )),
        }
    }

    /// The manifests that refer to `digest` (the referrers API; none from
    /// a registry without it).
    pub async fn referrers(&self, repo: &Name, digest: &Digest) -> Result<Vec<Digest>, String> {
        let path = format!("/v2/{repo}/referrers/{digest}");
        let accept = [(ACCEPT, "application/vnd.oci.image.index.v1+json")];
        let res = self.send(Method::GET, &path, &accept, None).await?;
        if res.status() == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        if !res.status().is_success() {
            return Err(format!("GET {path}: {}", res.status()));
        }
        let index: serde_json::Value = res.json().await.map_err(|e| e.to_string())?;
        Ok((index["manifests"].as_array().into_iter().flatten())
            .filter_map(|m| m["digest"].as_str().and_then(|d| Digest::parse(d).ok()))
            .collect())
    }

    /// A blob's bytes as they stream, with its size.
    pub async fn blob_sized(
        &self,
        repo: &Name,
        digest: &Digest,
    ) -> Result<
        (
            u64,
            impl Stream<Item = std::io::Result<bytes::Bytes>> + Send + Sync + Unpin + 'static,
        ),
        String,
    > {
        let res = self
            .get(&format!("/v2/{repo}/blobs/{digest}"), "*/*")
            .await?;
        let size = res
            .content_length()
            .ok_or_else(|| format!("blob {digest}: no Content-Length"))?;
        Ok((size, res.bytes_stream().map_err(std::io::Error::other)))
    }

    /// Whether the registry answers its API's base (`/v2/`) to these
    /// credentials; without any, a demand for them is an answer too.
    pub async fn ping(&self) -> Result<(), String> {
        let answered = async {
            if !self.authorization.is_empty() {
                return self.get("/v2/", "application/json").await.map(|_| ());
            }
            let url = format!("{}/v2/", self.base);
            let res = self.http.get(url).send().await.map_err(|e| e.to_string())?;
            match res.status() {
                s if s.is_success() || s == StatusCode::UNAUTHORIZED => Ok(()),
                s => Err(format!("GET /v2/: {s}")),
            }
        };
        // A registry that takes the connection but never answers is down.
        match tokio::time::timeout(PING_WITHIN, answered).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {}s", PING_WITHIN.as_secs())),
        }
    }

    /// A GET, authenticated as the registry asks; an error unless it
    /// succeeds.
    async fn get(&self, path: &str, accept: &str) -> Result<Response, String> {
        let res = self
            .send(Method::GET, path, &[(ACCEPT, accept)], None)
            .await?;
        if !res.status().is_success() {
            return Err(format!("GET {path}: {}", res.status()));
        }
        Ok(res)
    }

    /// A request to `path` (or a URL the registry gave), authenticated as
    /// the registry asks: the credentials given, else the token the token
    /// flow gets for the challenge a 401 names (kept for the next request,
    /// as long as the registry takes it). Whatever the status, the answer.
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(HeaderName, &str)],
        body: Option<bytes::Bytes>,
    ) -> Result<Response, String> {
        let url = match path.starts_with("http://") || path.starts_with("https://") {
            true => path.to_string(),
            false => format!("{}{path}", self.base),
        };
        let send = |auth: String| {
            let mut req = self.http.request(method.clone(), &url);
            for (k, v) in headers {
                req = req.header(k, *v);
            }
            if !auth.is_empty() {
                req = req.header(AUTHORIZATION, auth);
            }
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            req.send()
        };
        let mut res = send(self.current_authorization().await)
            .await
            .map_err(|e| e.to_string())?;
        if res.status() == StatusCode::UNAUTHORIZED {
            let challenge = (res.headers().get(WWW_AUTHENTICATE))
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            if let Some(params) = challenge.strip_prefix("Bearer ") {
                let token = self.token_from(params).await?;
                *self.token.lock().await = Some(token.clone());
                res = send(format!("Bearer {token}"))
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(res)
    }

    /// What the next request is sent with: the last token, else the
    /// credentials given.
    async fn current_authorization(&self) -> String {
        match self.token.lock().await.clone() {
            Some(t) => format!("Bearer {t}"),
            None => self.authorization.clone(),
        }
    }

    /// Runs the token flow against a challenge's realm (kept for mounts).
    async fn token_from(&self, params: &str) -> Result<String, String> {
        let params = challenge_params(params);
        let get = |key: &str| {
            (params.iter())
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let realm = get("realm").ok_or("the registry's challenge names no realm")?;
        let service = get("service").map(String::from);
        *crate::lock(&self.realm) = Some((realm.to_string(), service.clone()));
        // A challenge names its scopes in one value, space-separated.
        let scopes: Vec<&str> = get("scope")
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        self.token_for(realm, service.as_deref(), &scopes).await
    }

    /// A token for `scopes` from the token service at `realm`.
    async fn token_for(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[impl AsRef<str>],
    ) -> Result<String, String> {
        let mut query: Vec<(&str, &str)> = service.map(|s| ("service", s)).into_iter().collect();
        query.extend(scopes.iter().map(|s| ("scope", s.as_ref())));
        let mut req = self.http.get(realm).query(&query);
        if self.authorization.starts_with("Basic ") {
            let value = HeaderValue::from_str(&self.authorization).map_err(|e| e.to_string())?;
            req = req.header(AUTHORIZATION, value);
        }
        let res = req.send().await.map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("token service {realm}: {}", res.status()));
        }
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: Token = res.json().await.map_err(|e| e.to_string())?;
        t.token
            .or(t.access_token)
            .ok_or_else(|| format!("token service {realm} sent no token"))
    }
}

/// The certificates of a PEM bundle (none for an empty one); an error
/// names what is wrong.
pub fn ca_certificates(pem: &str) -> Result<Vec<reqwest::Certificate>, String> {
    if pem.trim().is_empty() {
        return Ok(Vec::new());
    }
    let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
        .map_err(|e| format!("invalid CA certificate: {e}"))?;
    if certs.is_empty() {
        return Err("invalid CA certificate: no valid certificates found in PEM data".into());
    }
    Ok(certs)
}

/// A `WWW-Authenticate` challenge's `key="value"` pairs.
fn challenge_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_string();
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.split_once('"') {
                Some((v, n)) => (v, n),
                None => (quoted, ""),
            },
            None => after.split_once(',').unwrap_or((after, "")),
        };
        out.push((key, value.to_string()));
        rest = next.trim_start_matches(',').trim();
    }
    out
}

/// A reader that checks, at its end, that what it read has the digest it
/// was promised: a mismatch is an error of the read.
pub struct Verified<R> {
    inner: R,
    hash: berth_storage::UploadHash,
    expected: Digest,
}

impl<R: Read> Verified<R> {
    /// Reads `inner`, promised to have `expected`'s content.
    pub fn new(inner: R, expected: Digest) -> Self {
        Verified {
            inner,
            hash: berth_storage::UploadHash::default(),
            expected,
        }
    }

    /// Reads what the consumer left unread and checks the digest.
    pub fn finish(mut self) -> std::io::Result<()> {
        std::io::copy(&mut self, &mut std::io::sink()).map(|_| ())
    }
}

impl<R: Read> Read for Verified<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() && self.hash.digest() != self.expected {
            return Err(std::io::Error::other(format!(
                "blob {}: the registry sent other content",
                self.expected
            )));
        }
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_read() {
        let p = challenge_params(
            r#"realm="https://r.example/service/token",service="harbor-registry",scope="repository:a/b:pull""#,
        );
        assert_eq!(
            p[0],
            ("realm".into(), "https://r.example/service/token".into())
        );
        assert_eq!(p[1], ("service".into(), "harbor-registry".into()));
        assert_eq!(p[2], ("scope".into(), "repository:a/b:pull".into()));
    }

    #[test]
    fn a_blob_with_other_content_fails_its_read() {
        let good = berth_storage::digest_of(b"hello");
        let mut ok = Verified::new(&b"hello"[..], good.clone());
        let mut out = Vec::new();
        assert!(ok.read_to_end(&mut out).is_ok());
        let bad = Verified::new(&b"jello"[..], good);
        assert!(bad.finish().is_err());
    }
}
