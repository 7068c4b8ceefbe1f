//! Berth's integration-test harness, shared by the tests and the benchmark:
//! spawns the real `berth` binary on 127.0.0.1:0 with a temp data dir, on
//! SQLite and (when `BERTH_TEST_DATABASE_URL` is set) on a fresh PostgreSQL
//! database, and talks HTTP to it: `Server::expect` for one request and its
//! reply, `registry::Registry` for pushes.
// A harness fails the test that uses it by panicking, with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod azurite;
pub mod balancer;
pub mod ldap;
pub mod oidc;
pub mod otlp;
pub mod registry;
pub mod webhook;

pub use registry::{check, digest, Registry};

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const EMPTY_JSON: &str = "application/vnd.oci.empty.v1+json";
pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
pub const HELM_CHART: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// The first administrator's password in every test server.
pub const ADMIN_PASSWORD: &str = "Harbor12345";

/// A running Berth process and the data it owns.
pub struct Server {
    pub url: String,
    /// Sends the admin's basic credentials on every request.
    pub client: Client,
    /// Sends no credentials.
    pub anon: Client,
    pub database_url: String,
    pub backend: &'static str,
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// Extra `berth serve` flags.
    extra: Vec<String>,
    /// The S3 bucket (endpoint, name) its blobs are in, if not on disk.
    pub bucket: Option<(String, String)>,
}

/// Servers on PostgreSQL keep their blobs in a fresh bucket of the S3
/// server `BERTH_TEST_S3` names (scripts/test.sh starts one), so the suite
/// runs on both kinds of storage: (endpoint, bucket) and the flags.
async fn object_store(backend: &str) -> Option<((String, String), Vec<String>)> {
    let endpoint = std::env::var("BERTH_TEST_S3")
        .ok()
        .filter(|_| backend == "postgres")?;
    let bucket = format!("b{}", uuid::Uuid::new_v4().simple());
    let r = Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("the S3 server BERTH_TEST_S3 names");
    assert!(r.status().is_success(), "creating a bucket: {}", r.status());
    let flags = vec![
        "--storage-url".into(),
        format!("s3://{bucket}"),
        "--storage-option".into(),
        format!("endpoint={endpoint},allow_http=true,region=us-east-1,access_key_id=berth,secret_access_key=berth"),
    ];
    Some(((endpoint, bucket), flags))
}

/// The database URLs to run each test on.
pub async fn databases() -> Vec<(&'static str, Option<String>)> {
    let mut out = vec![("sqlite", None)];
    if let Ok(base) = std::env::var("BERTH_TEST_DATABASE_URL") {
        out.push(("postgres", Some(fresh_pg(&base).await)));
    }
    out
}

/// A new, empty PostgreSQL database beside `base`; its URL.
pub async fn fresh_pg(base: &str) -> String {
    use sqlx::Connection;
    let name = format!("berth_t_{}", uuid::Uuid::new_v4().simple());
    let mut c = sqlx::PgConnection::connect(base)
        .await
        .expect("connect to BERTH_TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut c)
        .await
        .unwrap();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    format!("{prefix}/{name}")
}

/// Starts one server per database backend.
pub async fn servers() -> Vec<Server> {
    let mut out = Vec::new();
    for (backend, url) in databases().await {
        out.push(Server::start(backend, url).await);
    }
    out
}

impl Server {
    pub async fn start(backend: &'static str, database_url: Option<String>) -> Server {
        Self::start_with(backend, database_url, &[]).await
    }

    /// Starts a server with extra `berth serve` flags.
    pub async fn start_with(
        backend: &'static str,
        database_url: Option<String>,
        extra: &[&str],
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let database_url =
            database_url.unwrap_or_else(|| format!("sqlite://{}/berth.db", dir.path().display()));
        use base64::Engine;
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("admin:{ADMIN_PASSWORD}"))
        );
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, auth.parse().unwrap());
        let mut extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        // Siblings share the first process's secret key, as replicas must.
        let key = dir
            .path()
            .join("data")
            .join(berth_core::iam::secrets::KEY_FILE);
        extra.extend(["--secret-key-file".into(), key.display().to_string()]);
        let bucket = match object_store(backend).await {
            Some((bucket, flags)) => {
                extra.extend(flags);
                Some(bucket)
            }
            None => None,
        };
        let mut s = Server {
            url: String::new(),
            client: Client::builder().default_headers(headers).build().unwrap(),
            anon: Client::new(),
            database_url,
            backend,
            child: None,
            dir,
            extra,
            bucket,
        };
        s.spawn();
        // Every test server has private projects p and q to push into.
        for p in ["p", "q"] {
            s.create_project(p, false, ADMIN).await;
        }
        s
    }

    /// A second Berth process on this server's database and blob store (its
    /// own data directory).
    pub fn sibling(&self) -> Server {
        let mut s = Server {
            url: String::new(),
            client: self.client.clone(),
            anon: Client::new(),
            database_url: self.database_url.clone(),
            backend: self.backend,
            child: None,
            dir: tempfile::tempdir().unwrap(),
            extra: self.extra.clone(),
            bucket: self.bucket.clone(),
        };
        s.spawn();
        s
    }

    /// The data directory.
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    fn spawn(&mut self) {
        let mut cmd = serve(&self.data_dir());
        cmd.args(["--database-url", &self.database_url])
            .args(["--login-max-failures", "10", "--login-lockout-seconds", "2"])
            .args(&self.extra)
            .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD);
        let (child, url) = spawn_listening(cmd);
        self.url = url;
        self.child = Some(child);
    }

    /// The bucket, as Berth's own credentials reach it (objects are private).
    fn bucket_store(&self) -> Option<object_store::aws::AmazonS3> {
        let (endpoint, bucket) = self.bucket.as_ref()?;
        let store = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id("berth")
            .with_secret_access_key("berth")
            .with_bucket_name(bucket)
            .build()
            .unwrap();
        Some(store)
    }

    fn blob_path(&self, digest: &str) -> String {
        let hex = digest.strip_prefix("sha256:").unwrap();
        format!("blobs/sha256/{}/{hex}", &hex[..2])
    }

    /// The committed blobs in the store, by digest.
    pub async fn stored_blobs(&self) -> Vec<String> {
        use futures_util::TryStreamExt;
        let Some(bucket) = self.bucket_store() else {
            let root = self.data_dir().join("storage/blobs/sha256");
            let mut out = Vec::new();
            for prefix in std::fs::read_dir(&root).unwrap() {
                for f in std::fs::read_dir(prefix.unwrap().path()).unwrap() {
                    out.push(format!(
                        "sha256:{}",
                        f.unwrap().file_name().to_string_lossy()
                    ));
                }
            }
            return out;
        };
        let listed: Vec<_> = object_store::ObjectStore::list(&bucket, Some(&"blobs".into()))
            .try_collect()
            .await
            .unwrap();
        (listed.iter())
            .map(|m| format!("sha256:{}", m.location.filename().unwrap()))
            .collect()
    }

    /// A committed blob's bytes as the store holds them, if it does.
    pub async fn stored_blob(&self, digest: &str) -> Option<Vec<u8>> {
        use object_store::ObjectStoreExt;
        let path = self.blob_path(digest);
        let Some(bucket) = self.bucket_store() else {
            return std::fs::read(self.data_dir().join("storage").join(path)).ok();
        };
        match bucket.get(&path.into()).await {
            Ok(got) => Some(got.bytes().await.unwrap().to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("reading {digest} from the bucket: {e}"),
        }
    }

    /// Writes bytes at a digest's place in the store, behind Berth's back.
    pub async fn put_stored_blob(&self, digest: &str, data: &[u8]) {
        use object_store::ObjectStoreExt;
        let path = self.blob_path(digest);
        let Some(bucket) = self.bucket_store() else {
            let file = self.data_dir().join("storage").join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            return std::fs::write(file, data).unwrap();
        };
        let payload = object_store::PutPayload::from(data.to_vec());
        bucket.put(&path.into(), payload).await.unwrap();
    }

    /// Deletes a digest's bytes from the store, behind Berth's back.
    pub async fn delete_stored_blob(&self, digest: &str) {
        use object_store::ObjectStoreExt;
        let path = self.blob_path(digest);
        let Some(bucket) = self.bucket_store() else {
            return std::fs::remove_file(self.data_dir().join("storage").join(path)).unwrap();
        };
        bucket.delete(&path.into()).await.unwrap();
    }

    /// Starts a garbage collection with `parameters`; returns its id.
    pub async fn start_gc(&self, parameters: Value) -> i64 {
        let body = json!({"schedule": {"type": "Manual"}, "parameters": parameters});
        self.create("/system/gc/schedule", ADMIN, body).await
    }

    /// Waits for a collection to end; returns its history entry.
    pub async fn wait_gc(&self, id: i64) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let v: Value = self.api_json(&format!("/system/gc/{id}"), ADMIN).await;
            if !matches!(v["job_status"].as_str(), Some("Pending" | "Running")) {
                return v;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "collection {id} did not end: {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Signs in through `/c/login`; the session's `sid=…` cookie.
    pub async fn session(&self, user: &str, password: &str) -> String {
        let r = self
            .anon
            .post(self.u("/c/login"))
            .form(&[("principal", user), ("password", password)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "signing in as {user}");
        let cookie = header(&r, "set-cookie");
        cookie.split(';').next().unwrap().to_string()
    }

    /// The token signing key (PKCS#8) as every replica opens it, to forge
    /// tokens with.
    pub async fn token_signing_key(&self) -> Vec<u8> {
        use base64::Engine;
        let key = self.data_dir().join(berth_core::iam::secrets::KEY_FILE);
        let secrets = berth_core::iam::secrets::Secrets::load_or_create(&key).unwrap();
        let db = self.open_db().await;
        let sealed = berth_db::system_keys::get(db.reader(), "token_signing_key")
            .await
            .unwrap()
            .unwrap();
        base64::engine::general_purpose::STANDARD
            .decode(secrets.open(&sealed).unwrap())
            .unwrap()
    }

    /// The database, opened directly (for integrity checks after a crash).
    pub async fn open_db(&self) -> berth_db::Db {
        berth_db::Db::connect(&self.database_url).await.unwrap()
    }

    /// SIGKILLs the process (no chance to clean up).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Sends SIGTERM and returns the child to wait on.
    pub fn terminate(&mut self) -> Child {
        let c = self.child.take().unwrap();
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        c
    }

    /// Starts the process again on the same data.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn u(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.u(path)).send().await.unwrap()
    }

    pub async fn head(&self, path: &str) -> Response {
        self.client.head(self.u(path)).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client.delete(self.u(path)).send().await.unwrap()
    }

    /// A request to `/api/v2.0{path}` as `user` (None: anonymous).
    pub fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        user: Option<(&str, &str)>,
    ) -> reqwest::RequestBuilder {
        let rb = self
            .anon
            .request(method, self.u(&format!("/api/v2.0{path}")));
        match user {
            Some((u, p)) => rb.basic_auth(u, Some(p)),
            None => rb,
        }
    }

    /// GETs `/api/v2.0{path}` as `user`, expecting 200; returns the JSON body.
    pub async fn api_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        user: Option<(&str, &str)>,
    ) -> T {
        let v = self.expect(reqwest::Method::GET, path, user, None).await;
        serde_json::from_value(v.is(200)).unwrap()
    }

    /// Creates something with a JSON body as `user`; returns the id its
    /// `Location` ends with.
    pub async fn create(&self, path: &str, user: Option<(&str, &str)>, body: Value) -> i64 {
        let r = self
            .expect(reqwest::Method::POST, path, user, Some(&body))
            .await;
        assert_eq!(r.status, 201, "POST {path}: {}", r.text);
        r.header("location")
            .rsplit('/')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Creates a user as admin; returns its id.
    pub async fn create_user(&self, name: &str, password: &str) -> i64 {
        let email = format!("{name}@example.com");
        let body =
            json!({"username": name, "email": email, "realname": name, "password": password});
        self.create("/users", ADMIN, body).await
    }

    /// Creates a project as `user`; returns its id.
    pub async fn create_project(
        &self,
        name: &str,
        public: bool,
        user: Option<(&str, &str)>,
    ) -> i64 {
        let body = json!({"project_name": name, "metadata": {"public": public.to_string()}});
        self.create("/projects", user, body).await
    }

    /// Resolves a Location header (relative or absolute) to a URL.
    pub fn resolve(&self, location: &str) -> String {
        if location.starts_with("http") {
            location.to_string()
        } else {
            self.u(location)
        }
    }

    /// The registry, as the admin.
    pub fn registry(&self) -> Registry {
        Registry {
            url: self.url.clone(),
            http: self.client.clone(),
        }
    }

    /// Pushes a blob monolithically; returns its digest.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let data = bytes::Bytes::copy_from_slice(data);
        self.registry().push_blob_at_once(repo, data).await.unwrap()
    }

    /// Starts an upload session; returns its absolute URL.
    pub async fn start_upload(&self, repo: &str) -> String {
        self.registry().start_upload(repo).await.unwrap()
    }

    /// `PUT`s a manifest as the admin; returns the response.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Response {
        let body = bytes::Bytes::copy_from_slice(body);
        self.registry()
            .put_manifest(repo, reference, media_type, body)
            .await
            .unwrap()
    }

    /// Pushes config + one layer + an OCI image manifest under `tag`;
    /// returns (manifest digest, manifest bytes).
    pub async fn push_image(&self, repo: &str, tag: &str, seed: &str) -> (String, Vec<u8>) {
        let body = self.image(repo, seed).await;
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &body).await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
        (digest(&body), body)
    }
}

impl Server {
    /// A one-layer image manifest made from `seed`, its blobs pushed to
    /// `repo` (the manifest is not).
    pub async fn image(&self, repo: &str, seed: &str) -> Vec<u8> {
        let config =
            format!(r#"{{"architecture":"amd64","os":"linux","seed":"{seed}"}}"#).into_bytes();
        let layer = format!("layer-{seed}").repeat(100).into_bytes();
        image_manifest(
            OCI_MANIFEST,
            (
                OCI_CONFIG,
                &self.push_blob(repo, &config).await,
                config.len(),
            ),
            &[(OCI_LAYER, &self.push_blob(repo, &layer).await, layer.len())],
            None,
        )
    }
}

/// A chart's `.tgz` as `helm package` makes it: its `Chart.yaml` (from
/// `chart`'s fields) and `files`, all under the chart's name.
pub fn chart_archive(chart: &Value, files: &[(&str, &[u8])]) -> Vec<u8> {
    let name = chart["name"].as_str().unwrap();
    let chart_yaml = serde_norway::to_string(chart).unwrap();
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, body) in [("Chart.yaml", chart_yaml.as_bytes())]
        .into_iter()
        .chain(files.iter().copied())
    {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, format!("{name}/{path}"), body)
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

impl Server {
    /// Pushes a chart as `helm push` does: `Chart.yaml`'s fields as the
    /// config, the archive as the one layer. Returns its digest.
    pub async fn push_chart(&self, repo: &str, tag: &str, chart: &Value, archive: &[u8]) -> String {
        let config = serde_json::to_vec(chart).unwrap();
        let body = image_manifest(
            OCI_MANIFEST,
            (
                HELM_CONFIG,
                &self.push_blob(repo, &config).await,
                config.len(),
            ),
            &[(
                HELM_CHART,
                &self.push_blob(repo, archive).await,
                archive.len(),
            )],
            None,
        );
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &body).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        digest(&body)
    }
}

/// Pushes a manifest referring to `subject` with an artifact type; returns its digest.
pub async fn push_referrer(
    s: &Server,
    repo: &str,
    subject: &(String, Vec<u8>),
    at: &str,
) -> String {
    let body = referrer_manifest(s, repo, (&subject.0, subject.1.len()), at, None).await;
    let d = digest(&body);
    assert_eq!(
        s.put_manifest(repo, &d, OCI_MANIFEST, &body).await.status(),
        201
    );
    d
}

/// A manifest of artifact type `at` referring to `subject` (digest, size),
/// with `annotations` if any; its blobs are pushed to `repo`.
pub async fn referrer_manifest(
    s: &Server,
    repo: &str,
    (subject, size): (&str, usize),
    at: &str,
    annotations: Option<Value>,
) -> Vec<u8> {
    let empty = s.push_blob(repo, b"{}").await;
    let payload = format!("payload for {at}").into_bytes();
    let pd = s.push_blob(repo, &payload).await;
    let mut extra = json!({
        "artifactType": at,
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": size},
    });
    if let Some(a) = annotations {
        extra["annotations"] = a;
    }
    image_manifest(
        OCI_MANIFEST,
        (EMPTY_JSON, &empty, 2),
        &[("application/octet-stream", &pd, payload.len())],
        Some(extra),
    )
}

/// A JWT's claims, unverified: tests read what the server signed.
pub fn token_claims(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).expect("a JWT has three parts");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url claims");
    serde_json::from_slice(&json).expect("JSON claims")
}

/// The actions token claims grant on the resource `name` (none if absent).
pub fn granted(claims: &Value, name: &str) -> Vec<String> {
    let access = claims["access"].as_array().expect("an access list");
    access
        .iter()
        .filter(|a| a["name"] == name)
        .flat_map(|a| a["actions"].as_array().expect("actions").iter())
        .map(|x| x.as_str().expect("an action").to_string())
        .collect()
}

/// A gzip-compressed tar layer of text files.
pub fn tar_gz(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, content.as_bytes()).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    gz.finish().unwrap()
}

impl Server {
    /// Pushes an image of these layers; its digest and manifest size.
    pub async fn push_layers(&self, repo: &str, tag: &str, layers: &[Vec<u8>]) -> (String, usize) {
        let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}"#;
        let config_digest = self.push_blob(repo, config).await;
        let mut descriptors = Vec::new();
        for l in layers {
            descriptors.push((self.push_blob(repo, l).await, l.len()));
        }
        let layers: Vec<(&str, &str, usize)> = descriptors
            .iter()
            .map(|(d, n)| (OCI_LAYER, d.as_str(), *n))
            .collect();
        let body = image_manifest(
            OCI_MANIFEST,
            (OCI_CONFIG, &config_digest, config.len()),
            &layers,
            None,
        );
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &body).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        (digest(&body), body.len())
    }

    /// `GET /v2/<repo>/manifests/<reference>` as `user` with a
    /// User-Agent, accepting images and indexes; the status and the first
    /// error, if any.
    pub async fn pull_manifest(
        &self,
        repo: &str,
        reference: &str,
        user: (&str, &str),
        agent: &str,
    ) -> (u16, Value) {
        let r = self
            .anon
            .get(self.u(&format!("/v2/{repo}/manifests/{reference}")))
            .basic_auth(user.0, Some(user.1))
            .header("user-agent", agent)
            .header("accept", format!("{OCI_MANIFEST}, {OCI_INDEX}"))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        (status, body["errors"][0].clone())
    }

    /// `berth vulndb import` of `source` into this server's database while
    /// it runs; what it printed.
    pub fn import_vulndb(&self, source: &std::path::Path) -> String {
        let data = tempfile::tempdir().unwrap();
        let out = berth()
            .args(["vulndb", "import"])
            .arg(source)
            .args(["--database-url", &self.database_url])
            .arg("--data-dir")
            .arg(data.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}

/// `skopeo copy` of `project/repository:tag` out of Berth as the admin,
/// into a throwaway OCI layout.
pub fn skopeo_pull(s: &Server, image: &str) -> std::process::Output {
    let host = s.url.trim_start_matches("http://");
    let dir = tempfile::tempdir().unwrap();
    Command::new("skopeo")
        .args(["--insecure-policy", "copy", "-q", "--src-tls-verify=false"])
        .args(["--src-creds", &format!("admin:{ADMIN_PASSWORD}")])
        .arg(format!("docker://{host}/{image}"))
        .arg(format!("oci:{}:x", dir.path().display()))
        .output()
        .expect("skopeo (scripts/test.sh installs it)")
}

/// `berth serve` on a free loopback port with `data_dir`, logging warnings.
pub fn serve(data_dir: &std::path::Path) -> Command {
    let mut cmd = berth();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--log-level", "warn"])
        .arg("--data-dir")
        .arg(data_dir)
        // Traces, where a test asks for them, are sent within 0.2 s.
        .env("OTEL_BSP_SCHEDULE_DELAY", "200");
    cmd
}

/// The `berth` binary under test: `BERTH_TEST_BIN`, or the one cargo built
/// beside the running test (`target/<profile>/berth`).
pub fn berth() -> Command {
    let bin = std::env::var_os("BERTH_TEST_BIN").map_or_else(
        || {
            let exe = std::env::current_exe().unwrap();
            // target/<profile>/deps/<test> → target/<profile>/berth
            exe.parent().unwrap().parent().unwrap().join("berth")
        },
        std::path::PathBuf::from,
    );
    Command::new(bin)
}

/// Spawns `berth serve` and waits for its "listening" line; returns the URL.
pub fn spawn_listening(mut cmd: Command) -> (Child, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn berth");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("Berth listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (child, url)
}

/// A process killed when the test ends, however it ends.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The first administrator's credentials.
pub const ADMIN: Option<(&str, &str)> = Some(("admin", ADMIN_PASSWORD));

pub fn header<'a>(r: &'a Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("missing header {name}"))
        .to_str()
        .unwrap()
}

/// A whole reply: status, headers, body as text and, when it is JSON, as JSON
/// (else `Null`).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    /// Reads a whole response.
    pub async fn read(r: Response) -> Reply {
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        let text = r.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            json,
        }
    }

    /// Asserts the status; returns the JSON body.
    #[track_caller]
    pub fn is(self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        self.json
    }

    /// Asserts an error in its protocol's envelope (status, first code,
    /// a message); returns the body.
    #[track_caller]
    pub fn error(self, status: u16, code: &str) -> Value {
        assert_eq!(
            self.status, status,
            "status for expected {code}: {}",
            self.text
        );
        assert_eq!(self.json["errors"][0]["code"], code, "{}", self.text);
        let message = self.json["errors"][0]["message"].as_str();
        assert!(message.is_some_and(|m| !m.is_empty()), "{}", self.text);
        self.json
    }

    /// A header's value (which must be there).
    #[track_caller]
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("missing header {name}"))
            .to_str()
            .unwrap()
    }
}

impl Server {
    /// Changes the system configuration as the administrator.
    pub async fn configure(&self, changes: Value) -> Reply {
        let admin = Some(("admin", ADMIN_PASSWORD));
        self.expect(
            reqwest::Method::PUT,
            "/configurations",
            admin,
            Some(&changes),
        )
        .await
    }

    /// Sends one request as `user` (None: anonymous), with a JSON body if
    /// given, and reads the whole reply. A path outside `/v2`, `/c/`,
    /// `/service/` and `/harbor` is an API path, under `/api/v2.0`.
    pub async fn expect(
        &self,
        method: reqwest::Method,
        path: &str,
        user: Option<(&str, &str)>,
        body: Option<&Value>,
    ) -> Reply {
        let outside_api = ["/v2", "/c/", "/service/", "/harbor", "/scanner-adapter"];
        let url = if outside_api.iter().any(|p| path.starts_with(p)) {
            self.u(path)
        } else {
            self.u(&format!("/api/v2.0{path}"))
        };
        let mut rb = self.anon.request(method, url);
        if let Some((u, p)) = user {
            rb = rb.basic_auth(u, Some(p));
        }
        if let Some(b) = body {
            rb = rb.json(b);
        }
        Reply::read(rb.send().await.unwrap()).await
    }
}

/// Asserts the status and OCI error code of a response.
pub async fn expect_error(r: Response, status: u16, code: &str) -> Value {
    Reply::read(r).await.error(status, code)
}

pub fn image_manifest(
    media_type: &str,
    config: (&str, &str, usize),
    layers: &[(&str, &str, usize)],
    extra: Option<Value>,
) -> Vec<u8> {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config.0, "digest": config.1, "size": config.2},
        "layers": layers.iter().map(|(mt, d, s)| json!({"mediaType": mt, "digest": d, "size": s})).collect::<Vec<_>>(),
    });
    if let Some(Value::Object(extra)) = extra {
        for (k, v) in extra {
            m[k] = v;
        }
    }
    serde_json::to_vec(&m).unwrap()
}

pub fn index_manifest(media_type: &str, children: &[(&str, &str, usize)]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": children.iter().map(|(mt, d, s)| json!({
            "mediaType": mt, "digest": d, "size": s,
            "platform": {"os": "linux", "architecture": "amd64"}
        })).collect::<Vec<_>>(),
    }))
    .unwrap()
}

/// Deterministic pseudo-random bytes.
pub fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A body fed from a channel, to control timing.
pub fn channel_body() -> (tokio::sync::mpsc::Sender<Vec<u8>>, reqwest::Body) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(bytes::Bytes::from(chunk)), rx))
    });
    (tx, reqwest::Body::wrap_stream(stream))
}

pub async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// A cosign key pair made here (ECDSA P-256, as `cosign generate-key-pair`
/// makes): the signer and its PEM public key.
pub fn cosign_key() -> (ring::signature::EcdsaKeyPair, String) {
    use base64::Engine;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
    let rng = ring::rand::SystemRandom::new();
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, doc.as_ref(), &rng).unwrap();
    // A P-256 SubjectPublicKeyInfo: its fixed header, then the point.
    let mut der = vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    der.extend_from_slice(pair.public_key().as_ref());
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    (
        pair,
        format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n"),
    )
}

/// A CNCF Distribution registry (Debian's `docker-registry`) on a free
/// loopback port, storing in a directory of its own; stopped when dropped.
pub struct Distribution {
    pub url: String,
    child: Child,
    config: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Distribution {
    /// Starts one that lets anyone in, and waits until it answers.
    pub async fn start() -> Distribution {
        Self::start_with(None).await
    }

    /// Starts one; with a token server, it takes only that server's tokens
    /// (Docker token auth), as most registries do.
    pub async fn start_with(tokens: Option<&TokenServer>) -> Distribution {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let auth = match tokens {
            Some(t) => format!(
                "auth:\n  token:\n    realm: {}/token\n    service: {TOKEN_SERVICE}\n    \
                 issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                t.url,
                t.cert.display()
            ),
            None => String::new(),
        };
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: false\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n{auth}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let mut d = Distribution {
            url: format!("http://127.0.0.1:{port}"),
            child: spawn_distribution(&config),
            config,
            _dir: dir,
        };
        d.wait_up().await;
        d
    }

    /// How many requests its access log shows whose request line starts
    /// with `line` (`GET /v2/a/b/blobs/sha256:…`).
    pub fn requests(&self, line: &str) -> usize {
        let log =
            std::fs::read_to_string(self.config.with_file_name("access.log")).unwrap_or_default();
        log.matches(&format!("\"{line}")).count()
    }

    /// Kills it (its storage stays).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on its port and storage, and waits until it answers.
    pub async fn restart(&mut self) {
        self.kill();
        self.child = spawn_distribution(&self.config);
        self.wait_up().await;
    }

    async fn wait_up(&mut self) {
        let client = Client::new();
        for _ in 0..200 {
            if client.get(format!("{}/v2/", self.url)).send().await.is_ok() {
                return;
            }
            sleep_ms(25).await;
        }
        panic!("Distribution did not start on {}", self.url);
    }
}

/// Runs Distribution with a config file, its access log appended to
/// `access.log` beside it; stopped by its owner's drop.
fn spawn_distribution(config: &std::path::Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(config.with_file_name("access.log"))
        .unwrap();
    Command::new("docker-registry")
        .arg("serve")
        .arg(config)
        .stdout(log)
        // It logs every 404 (a HEAD that finds nothing) as an error.
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry (Debian's CNCF Distribution) is installed by scripts/test.sh")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `Authorization` value of basic credentials.
pub fn basic_auth(user: &str, password: &str) -> String {
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pair)
    )
}

/// The `service` and `iss` a test token server's tokens name.
const TOKEN_SERVICE: &str = "distribution-test";
const TOKEN_ISSUER: &str = "berth-test-token-server";

/// A Docker token server for Distribution, as small as a test needs: it
/// signs (ES256, its certificate in `x5c`) a token granting every scope
/// asked to one user, checked with basic auth, and refuses anyone else.
pub struct TokenServer {
    pub url: String,
    /// The certificate Distribution trusts its tokens by.
    pub cert: std::path::PathBuf,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl TokenServer {
    /// Serves tokens to `user` with `password`.
    pub async fn start(user: &str, password: &str) -> TokenServer {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = (dir.path().join("token.key"), dir.path().join("token.crt"));
        let made = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args([
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=berth-test-token-server",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let pem_der = |path: &std::path::Path| -> String {
            let pem = std::fs::read_to_string(path).unwrap();
            pem.lines().filter(|l| !l.starts_with("-----")).collect()
        };
        let key_der =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, pem_der(&key))
                .unwrap();
        let signing = jsonwebtoken::EncodingKey::from_ec_der(&key_der);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let expected = basic_auth(user, password);
        let state = std::sync::Arc::new((signing, pem_der(&cert), expected));
        let task = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                let state = state.clone();
                tokio::spawn(async move {
                    let _ = answer_token_request(conn, &state.0, &state.1, &state.2).await;
                });
            }
        });
        TokenServer {
            url,
            cert,
            task,
            _dir: dir,
        }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one `GET /token?service=…&scope=…` and answers it.
async fn answer_token_request(
    mut conn: tokio::net::TcpStream,
    key: &jsonwebtoken::EncodingKey,
    cert_der_b64: &str,
    expected: &str,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let target = head.split_whitespace().nth(1).unwrap_or("/");
    let authorized = head.lines().any(|l| {
        l.split_once(':')
            .is_some_and(|(k, v)| k.eq_ignore_ascii_case("authorization") && v.trim() == expected)
    });
    let (status, body) = if authorized {
        let url = reqwest::Url::parse(&format!("http://token{target}")).unwrap();
        let access: Vec<Value> = url
            .query_pairs()
            .filter(|(k, _)| k == "scope")
            .filter_map(|(_, scope)| {
                let mut parts = scope.splitn(3, ':');
                let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                Some(json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
            })
            .collect();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = json!({
            "iss": TOKEN_ISSUER, "sub": "tester", "aud": TOKEN_SERVICE,
            "exp": now + 300, "nbf": now - 10, "iat": now,
            "jti": uuid::Uuid::new_v4().to_string(), "access": access,
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.x5c = Some(vec![cert_der_b64.to_string()]);
        let token = jsonwebtoken::encode(&header, &claims, key).unwrap();
        (
            "200 OK",
            json!({"token": token, "access_token": token, "expires_in": 300}).to_string(),
        )
    } else {
        (
            "401 Unauthorized",
            json!({"details": "wrong credentials"}).to_string(),
        )
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(reply.as_bytes()).await?;
    conn.shutdown().await
}

impl Drop for Distribution {
    fn drop(&mut self) {
        self.kill();
    }
}
