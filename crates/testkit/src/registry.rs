//! A registry client over the distribution protocol, for the tests and the
//! benchmark alike: blob uploads (at once, whole, chunked), manifests and
//! images. It returns errors rather than panicking, so the benchmark can
//! report them; the tests' `Server` unwraps.

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use reqwest::{Client, Response, StatusCode};

/// A registry at `url`, reached with `http` (whose default headers carry
/// any credentials).
#[derive(Clone)]
pub struct Registry {
    pub url: String,
    pub http: Client,
}

/// Fails unless `got` is `want`, naming `what`.
pub fn check(got: StatusCode, want: StatusCode, what: &str) -> Result<()> {
    if got != want {
        bail!("{what}: status {got}, expected {want}");
    }
    Ok(())
}

/// A URL with one more query parameter.
pub fn with_query(url: &str, q: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{q}")
}

impl Registry {
    /// A `Location` header (relative or absolute) as a URL.
    pub fn location(&self, resp: &Response) -> Result<String> {
        let loc = resp
            .headers()
            .get("location")
            .context("no Location")?
            .to_str()?;
        Ok(if loc.starts_with("http") {
            loc.to_string()
        } else {
            format!("{}{loc}", self.url)
        })
    }

    /// Opens an upload session; returns its URL.
    pub async fn start_upload(&self, repo: &str) -> Result<String> {
        let r = self
            .http
            .post(format!("{}/v2/{repo}/blobs/uploads/", self.url))
            .send()
            .await?;
        check(r.status(), StatusCode::ACCEPTED, "upload POST")?;
        self.location(&r)
    }

    /// Pushes a blob in one request (`POST …?digest=`); returns its digest.
    pub async fn push_blob_at_once(&self, repo: &str, data: Bytes) -> Result<String> {
        let d = digest(&data);
        let r = self
            .http
            .post(format!("{}/v2/{repo}/blobs/uploads/?digest={d}", self.url))
            .body(data)
            .send()
            .await?;
        let status = r.status();
        check(
            status,
            StatusCode::CREATED,
            &r.text().await.unwrap_or_default(),
        )?;
        Ok(d)
    }

    /// Opens a session, then `PUT`s the whole blob with its digest, known
    /// beforehand (what every registry takes).
    pub async fn push_blob(&self, repo: &str, data: Bytes, d: &str) -> Result<()> {
        let loc = self.start_upload(repo).await?;
        let r = self
            .http
            .put(with_query(&loc, &format!("digest={d}")))
            .header("content-type", "application/octet-stream")
            .body(data)
            .send()
            .await?;
        check(r.status(), StatusCode::CREATED, "upload PUT")
    }

    /// Pushes a blob whole (`push_blob`); returns its digest.
    pub async fn push_whole(&self, repo: &str, data: Bytes) -> Result<String> {
        let d = digest(&data);
        self.push_blob(repo, data, &d).await?;
        Ok(d)
    }

    /// Pushes a blob of known digest in `PATCH`es of `chunk` bytes.
    pub async fn push_chunked(&self, repo: &str, data: &[u8], d: &str, chunk: usize) -> Result<()> {
        let mut loc = self.start_upload(repo).await?;
        let mut offset = 0;
        for c in data.chunks(chunk) {
            let r = self
                .http
                .patch(&loc)
                .header("content-type", "application/octet-stream")
                .header(
                    "content-range",
                    format!("{offset}-{}", offset + c.len() - 1),
                )
                .body(c.to_vec())
                .send()
                .await?;
            check(r.status(), StatusCode::ACCEPTED, "upload PATCH")?;
            loc = self.location(&r)?;
            offset += c.len();
        }
        let r = self
            .http
            .put(with_query(&loc, &format!("digest={d}")))
            .send()
            .await?;
        check(r.status(), StatusCode::CREATED, "upload PUT")
    }

    /// `PUT`s a manifest and returns the response, whatever it is.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: Bytes,
    ) -> Result<Response> {
        Ok(self
            .http
            .put(format!("{}/v2/{repo}/manifests/{reference}", self.url))
            .header("content-type", media_type)
            .body(body)
            .send()
            .await?)
    }

    /// Pushes a manifest, which must be accepted.
    pub async fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: Bytes,
    ) -> Result<()> {
        let r = self.put_manifest(repo, reference, media_type, body).await?;
        if r.status() == StatusCode::CREATED {
            return Ok(());
        }
        let status = r.status();
        bail!("manifest PUT: status {status}: {}", r.text().await?)
    }

    /// Pushes an image's config and one layer (whole); returns its OCI
    /// manifest, not yet pushed.
    pub async fn push_image_blobs(&self, repo: &str, config: Bytes, layer: Bytes) -> Result<Bytes> {
        let (cl, ll) = (config.len(), layer.len());
        let cd = self.push_whole(repo, config).await?;
        let ld = self.push_whole(repo, layer).await?;
        let m = crate::image_manifest(
            crate::OCI_MANIFEST,
            (crate::OCI_CONFIG, &cd, cl),
            &[(crate::OCI_LAYER, &ld, ll)],
            None,
        );
        Ok(Bytes::from(m))
    }
}

/// A content's `sha256:` digest.
pub fn digest(data: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let hex: String = d.as_ref().iter().map(|x| format!("{x:02x}")).collect();
    format!("sha256:{hex}")
}
