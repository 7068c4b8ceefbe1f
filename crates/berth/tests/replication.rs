//! Registry endpoints (`/registries`) against real registries on loopback:
//! CNCF Distribution (Debian's `docker-registry`) and Berth itself, whose
//! token service checks the credentials an endpoint is given.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use berth_core::remote::Remote;
use berth_core::replication::copy::{copy, Options, Side, Store};
use common::{Distribution, Killed, ADMIN, ADMIN_PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

/// A loopback address nothing listens on.
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

/// Creates something through the API (it must be created); its id, from
/// the `Location` the answer gives.
async fn create_at(s: &common::Server, path: &str, body: &Value) -> i64 {
    let created = s.expect(Method::POST, path, ADMIN, Some(body)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    created
        .header("location")
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Creates an endpoint; its id.
async fn create_endpoint(s: &common::Server, body: &Value) -> i64 {
    create_at(s, "/registries", body).await
}

#[tokio::test]
async fn registry_endpoints_must_answer_and_keep_their_secret() {
    let dist = Distribution::start().await;
    for s in common::servers().await {
        let adapters = s
            .expect(Method::GET, "/replication/adapters", ADMIN, None)
            .await
            .is(200);
        for kind in [
            "docker-hub",
            "docker-registry",
            "github-ghcr",
            "gitlab",
            "harbor",
            "quay",
        ] {
            assert!(
                adapters.as_array().unwrap().contains(&json!(kind)),
                "{adapters}"
            );
        }
        let infos = s
            .expect(Method::GET, "/replication/adapterinfos", ADMIN, None)
            .await
            .is(200);
        assert_eq!(
            infos["docker-hub"]["endpoint_pattern"]["endpoints"][0],
            json!({"key": "hub.docker.com", "value": "https://hub.docker.com"})
        );

        // Pings: Distribution answers anyone; Berth's token service takes
        // the right password only; nothing answers on a closed port.
        let s = &s;
        let ping = |body: serde_json::Value| async move {
            s.expect(Method::POST, "/registries/ping", ADMIN, Some(&body))
                .await
        };
        ping(json!({"type": "docker-registry", "url": dist.url}))
            .await
            .is(200);
        let own = |secret: &str| json!({"type": "harbor", "url": s.url, "access_key": "admin", "access_secret": secret});
        ping(own(ADMIN_PASSWORD)).await.is(200);
        let e = ping(own("wrong")).await.error(400, "BAD_REQUEST");
        assert_eq!(e["errors"][0]["message"], "the registry is unhealthy");
        ping(json!({"type": "docker-registry", "url": closed_port()}))
            .await
            .error(400, "BAD_REQUEST");
        let e = ping(json!({"type": "docker-registry"}))
            .await
            .error(400, "BAD_REQUEST");
        assert_eq!(e["errors"][0]["message"], "type or url cannot be empty");

        // Created once they answer; the secret is sealed in the database
        // and shows as stars.
        let dist_body = json!({"name": "dist", "type": "docker-registry",
            "url": format!("{}/", dist.url), "description": "CNCF Distribution"});
        let dist_id = create_endpoint(s, &dist_body).await;
        let own_body = json!({"name": "self", "type": "harbor", "url": s.url,
            "credential": {"type": "basic", "access_key": "admin", "access_secret": ADMIN_PASSWORD}});
        let own_id = create_endpoint(s, &own_body).await;
        s.expect(Method::POST, "/registries", ADMIN, Some(&own_body))
            .await
            .error(409, "CONFLICT");
        let wrong = json!({"name": "wrong", "type": "harbor", "url": s.url,
            "credential": {"access_key": "admin", "access_secret": "wrong"}});
        let e = s
            .expect(Method::POST, "/registries", ADMIN, Some(&wrong))
            .await
            .error(400, "BAD_REQUEST");
        assert_eq!(e["errors"][0]["message"], "the registry is unhealthy");
        for (body, message) in [
            (
                json!({"name": "", "type": "harbor", "url": s.url}),
                "name cannot be empty",
            ),
            (
                json!({"name": "x", "type": "harbor", "url": "ftp://r.example"}),
                "invalid HTTP scheme: ftp",
            ),
        ] {
            let e = s
                .expect(Method::POST, "/registries", ADMIN, Some(&body))
                .await
                .error(400, "BAD_REQUEST");
            assert_eq!(e["errors"][0]["message"], message);
        }
        let e = s
            .expect(
                Method::POST,
                "/registries",
                ADMIN,
                Some(&json!({"name": "x", "type": "ecr", "url": s.url})),
            )
            .await
            .error(400, "BAD_REQUEST");
        assert!(e["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("unsupported registry type"));

        let list = s
            .expect(Method::GET, "/registries", ADMIN, None)
            .await
            .is(200);
        assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
        let dist_json = &list[0];
        assert_eq!(
            dist_json["url"],
            dist.url.as_str(),
            "stored without its slash"
        );
        assert_eq!(dist_json["status"], "healthy");
        assert!(dist_json.get("credential").is_none(), "{dist_json}");
        let own = s
            .expect(Method::GET, &format!("/registries/{own_id}"), ADMIN, None)
            .await
            .is(200);
        assert_eq!(
            own["credential"],
            json!({"type": "basic", "access_key": "admin", "access_secret": "*****"})
        );
        let found = s
            .expect(Method::GET, "/registries?q=name%3D~sel", ADMIN, None)
            .await
            .is(200);
        assert_eq!(found.as_array().unwrap().len(), 1);
        let db = s.open_db().await;
        let row = berth_db::registries::by_id(db.reader(), own_id)
            .await
            .unwrap()
            .unwrap();
        assert!(
            row.access_secret.starts_with("sealed:v1:"),
            "{}",
            row.access_secret
        );
        assert!(!row.access_secret.contains(ADMIN_PASSWORD));

        // A stored endpoint is pinged at its own address with its own
        // secret, whatever URL the request names; other credentials may be
        // tried.
        let by_id = json!({"id": own_id, "url": closed_port(), "type": "docker-hub"});
        ping(by_id).await.is(200);
        ping(json!({"id": own_id, "access_secret": "wrong"}))
            .await
            .error(400, "BAD_REQUEST");
        ping(json!({"id": 9999})).await.error(404, "NOT_FOUND");

        let info = s
            .expect(
                Method::GET,
                &format!("/registries/{dist_id}/info"),
                ADMIN,
                None,
            )
            .await
            .is(200);
        assert_eq!(info["type"], "docker-registry");
        assert_eq!(
            info["supported_triggers"],
            json!(["manual", "scheduled", "event_based"])
        );

        // Moving an endpoint elsewhere without a new secret drops its secret:
        // it is never sent to an address it was not given for.
        let moved = json!({"url": dist.url, "description": "moved"});
        s.expect(
            Method::PUT,
            &format!("/registries/{own_id}"),
            ADMIN,
            Some(&moved),
        )
        .await
        .is(200);
        let own = s
            .expect(Method::GET, &format!("/registries/{own_id}"), ADMIN, None)
            .await
            .is(200);
        assert_eq!(own["credential"]["access_secret"], "");
        assert_eq!(own["description"], "moved");
        let back = json!({"url": s.url, "access_secret": "wrong"});
        s.expect(
            Method::PUT,
            &format!("/registries/{own_id}"),
            ADMIN,
            Some(&back),
        )
        .await
        .error(400, "BAD_REQUEST");
        let renamed = json!({"name": "dist"});
        s.expect(
            Method::PUT,
            &format!("/registries/{own_id}"),
            ADMIN,
            Some(&renamed),
        )
        .await
        .error(409, "CONFLICT");

        // A registry gone down shows as such when pinged.
        let gone = Distribution::start().await;
        let body = json!({"name": "gone", "type": "docker-registry", "url": gone.url});
        let gone_id = create_endpoint(s, &body).await;
        drop(gone);
        ping(json!({"id": gone_id})).await.error(400, "BAD_REQUEST");
        let stored = s
            .expect(Method::GET, &format!("/registries/{gone_id}"), ADMIN, None)
            .await
            .is(200);
        assert_eq!(stored["status"], "unhealthy");

        // Administrators only.
        s.create_user("dev", "Passw0rd!").await;
        s.expect(Method::GET, "/registries", Some(("dev", "Passw0rd!")), None)
            .await
            .error(403, "FORBIDDEN");
        s.expect(Method::GET, "/registries", None, None)
            .await
            .error(401, "UNAUTHORIZED");

        s.expect(
            Method::DELETE,
            &format!("/registries/{own_id}"),
            ADMIN,
            None,
        )
        .await
        .is(200);
        s.expect(Method::GET, &format!("/registries/{own_id}"), ADMIN, None)
            .await
            .error(404, "NOT_FOUND");
    }
}

/// The copy replication runs on: an image with a referrer, and an index of
/// two images, go from Berth to Distribution and to another project of
/// Berth with the digests they had; a copy run again sends nothing.
#[tokio::test]
async fn artifacts_are_copied_with_their_digests_and_only_once() {
    use berth_core::replication::copy::Copied;
    use berth_oci::RepositoryName;
    use common::{OCI_INDEX, OCI_MANIFEST};

    let dist = Distribution::start().await;
    for s in common::servers().await {
        let image = s.push_image("p/app", "v1", "copied").await;
        let signature = common::push_referrer(
            &s,
            "p/app",
            &image,
            "application/vnd.dev.cosign.artifact.sig.v1+json",
        )
        .await;
        let (a, ma) = s.push_image("p/app", "amd64", "copied-a").await;
        let (b, mb) = s.push_image("p/app", "arm64", "copied-b").await;
        let index = common::index_manifest(
            OCI_INDEX,
            &[(OCI_MANIFEST, &a, ma.len()), (OCI_MANIFEST, &b, mb.len())],
        );
        assert_eq!(
            s.put_manifest("p/app", "multi", OCI_INDEX, &index)
                .await
                .status(),
            201
        );

        let admin = common::basic_auth("admin", ADMIN_PASSWORD);
        let berth = Remote::new(&s.url, &admin, false).unwrap();
        let distribution = Remote::new(&dist.url, "", false).unwrap();
        let repo = |n: &str| RepositoryName::parse(n).unwrap();
        let (app, mirror, q) = (
            repo("p/app"),
            repo(&format!("mirror/{}", s.backend)),
            repo("q/app"),
        );
        let src = Side {
            store: Store::Remote(&berth),
            repo: &app,
        };
        let options = Options::default();
        let tags = |t: &str| vec![t.to_string()];
        for (remote, dst_repo) in [(&distribution, &mirror), (&berth, &q)] {
            let dst = Side {
                store: Store::Remote(remote),
                repo: dst_repo,
            };
            let first = copy(&src, &dst, "v1", &tags("v1"), &options).await.unwrap();
            // The image (config and layer), the signature (its own), the tag.
            assert_eq!(first.manifests, 3, "{first:?}");
            assert!(first.blobs >= 3, "{first:?}");
            let again = copy(&src, &dst, "v1", &tags("v1"), &options).await.unwrap();
            assert_eq!(again, Copied::default());
            let there = remote.manifest_digest(dst_repo, "v1").await.unwrap();
            assert_eq!(there.as_deref(), Some(image.0.as_str()));
            let sig = remote.manifest_digest(dst_repo, &signature).await.unwrap();
            assert_eq!(sig.as_deref(), Some(signature.as_str()));

            let multi = copy(&src, &dst, "multi", &tags("multi"), &options)
                .await
                .unwrap();
            // Both children, the index, the tag.
            assert_eq!(multi.manifests, 4, "{multi:?}");
            for child in [&a, &b] {
                let d = remote.manifest_digest(dst_repo, child).await.unwrap();
                assert_eq!(d.as_deref(), Some(child.as_str()));
            }
        }
        // Berth's referrers API names the signature in its new home.
        let referrers = s
            .expect(
                Method::GET,
                &format!("/v2/q/app/referrers/{}", image.0),
                ADMIN,
                None,
            )
            .await
            .is(200);
        assert_eq!(referrers["manifests"][0]["digest"], signature.as_str());
    }
}

/// Every endpoint's health is checked on a schedule (every second here):
/// a registry that goes down shows as unhealthy without being pinged.
#[tokio::test]
async fn endpoints_are_checked_on_a_schedule() {
    for (backend, url) in common::databases().await {
        let s =
            common::Server::start_with(backend, url, &["--registry-health-cron", "* * * * * *"])
                .await;
        let dist = Distribution::start().await;
        let body = json!({"name": "dist", "type": "docker-registry", "url": dist.url});
        let path = format!("/registries/{}", create_endpoint(&s, &body).await);
        drop(dist);
        let mut status = Value::Null;
        for _ in 0..100 {
            status = s.expect(Method::GET, &path, ADMIN, None).await.is(200)["status"].clone();
            if status == "unhealthy" {
                break;
            }
            common::sleep_ms(100).await;
        }
        assert_eq!(status, "unhealthy");
    }
}

/// Distribution with Docker token auth (a test token server signs the
/// tokens): endpoints are pinged through the token flow, and a copy gets
/// the push token it needs; wrong credentials get nothing.
#[tokio::test]
async fn a_registry_with_token_auth_is_reached_through_its_tokens() {
    use berth_oci::RepositoryName;

    let tokens = common::TokenServer::start("mirror", "s3cret").await;
    let dist = Distribution::start_with(Some(&tokens)).await;
    let basic = common::basic_auth;
    for s in common::servers().await {
        let ping = |body: Value| {
            let s = &s;
            async move {
                s.expect(Method::POST, "/registries/ping", ADMIN, Some(&body))
                    .await
            }
        };
        let with = |secret: &str| json!({"type": "docker-registry", "url": dist.url, "access_key": "mirror", "access_secret": secret});
        // Without credentials, a demand for them is an answer.
        ping(json!({"type": "docker-registry", "url": dist.url}))
            .await
            .is(200);
        ping(with("s3cret")).await.is(200);
        ping(with("wrong")).await.error(400, "BAD_REQUEST");

        let image = s.push_image("p/app", "v1", "tokens").await;
        let berth = Remote::new(&s.url, &basic("admin", ADMIN_PASSWORD), false).unwrap();
        let (app, dst) = (
            RepositoryName::parse("p/app").unwrap(),
            RepositoryName::parse(&format!("tok/{}", s.backend)).unwrap(),
        );
        let src = Side {
            store: Store::Remote(&berth),
            repo: &app,
        };
        let (tags, options) = (["v1".to_string()], Options::default());
        let wrong = Remote::new(&dist.url, &basic("mirror", "wrong"), false).unwrap();
        let to_wrong = Side {
            store: Store::Remote(&wrong),
            repo: &dst,
        };
        let refused = copy(&src, &to_wrong, "v1", &tags, &options).await;
        assert!(refused.is_err(), "{refused:?}");
        let right = Remote::new(&dist.url, &basic("mirror", "s3cret"), false).unwrap();
        let to = Side {
            store: Store::Remote(&right),
            repo: &dst,
        };
        let copied = copy(&src, &to, "v1", &tags, &options).await.unwrap();
        assert_eq!((copied.manifests, copied.blobs), (2, 2), "{copied:?}");
        let there = right.manifest_digest(&dst, "v1").await.unwrap();
        assert_eq!(there.as_deref(), Some(image.0.as_str()));

        // A client that saw the blobs in one repository mounts them into
        // another (the token it asks for covers both) instead of sending them.
        let hinted = Remote::new(&dist.url, &basic("mirror", "s3cret"), false)
            .unwrap()
            .with_mount_hints(Default::default());
        let (seen, other) = (
            RepositoryName::parse(&format!("tok/{}-seen", s.backend)).unwrap(),
            RepositoryName::parse(&format!("tok/{}-other", s.backend)).unwrap(),
        );
        for (repo, sent, mounted) in [(&seen, 2, 0), (&other, 0, 2)] {
            let to = Side {
                store: Store::Remote(&hinted),
                repo,
            };
            let c = copy(&src, &to, "v1", &tags, &options).await.unwrap();
            assert_eq!((c.blobs, c.blobs_mounted), (sent, mounted), "{c:?}");
            let there = hinted.manifest_digest(repo, "v1").await.unwrap();
            assert_eq!(there.as_deref(), Some(image.0.as_str()));
        }
        let mounts = format!("POST /v2/{other}/blobs/uploads/?mount=");
        assert_eq!(dist.requests(&mounts), 2, "mount requests");
        assert_eq!(dist.requests(&format!("PUT /v2/{other}/blobs/")), 0);
    }
}

/// Runs openssl, failing the test with what it said.
fn openssl(args: &[&str], dir: &std::path::Path) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An endpoint over TLS (a Berth serving a certificate of a private CA) is
/// trusted through the CA in its `ca_certificate`, or not checked with
/// `insecure`; otherwise it does not answer.
#[tokio::test]
async fn an_endpoint_over_tls_is_trusted_by_its_ca_or_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca = [
        &["req", "-x509"],
        &ec[..],
        &[
            "-days",
            "1",
            "-subj",
            "/CN=Test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    ]
    .concat();
    openssl(&ca, dir.path());
    let csr = [
        &["req"],
        &ec[..],
        &[
            "-subj",
            "/CN=localhost",
            "-keyout",
            "key.pem",
            "-out",
            "leaf.csr",
        ],
    ]
    .concat();
    openssl(&csr, dir.path());
    std::fs::write(dir.path().join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "san.ext",
            "-out",
            "cert.pem",
        ],
        dir.path(),
    );
    let ca_pem = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
    let mut cmd = common::serve(&dir.path().join("data"));
    cmd.env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD);
    cmd.arg("--tls-cert").arg(dir.path().join("cert.pem"));
    cmd.arg("--tls-key").arg(dir.path().join("key.pem"));
    let (child, url) = common::spawn_listening(cmd);
    let _tls = Killed(child);
    assert!(url.starts_with("https://"), "{url}");
    for s in common::servers().await {
        let ping = |extra: Value| {
            let s = &s;
            let mut body = json!({"type": "harbor", "url": url});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            async move {
                s.expect(Method::POST, "/registries/ping", ADMIN, Some(&body))
                    .await
            }
        };
        let e = ping(json!({})).await.error(400, "BAD_REQUEST");
        assert_eq!(e["errors"][0]["message"], "the registry is unhealthy");
        ping(json!({"ca_certificate": ca_pem})).await.is(200);
        ping(json!({"insecure": true})).await.is(200);
        let e = ping(json!({"ca_certificate": "not a certificate"}))
            .await
            .error(400, "BAD_REQUEST");
        let message = e["errors"][0]["message"].as_str().unwrap();
        assert!(message.starts_with("invalid CA certificate"), "{message}");

        let body = json!({"name": "tls", "type": "harbor", "url": url, "ca_certificate": ca_pem});
        let path = format!("/registries/{}", create_endpoint(&s, &body).await);
        let stored = s.expect(Method::GET, &path, ADMIN, None).await.is(200);
        assert_eq!(stored["ca_certificate"], ca_pem.as_str());
        assert_eq!(stored["insecure"], false);
    }
}

/// Creates a replication rule; its id.
async fn create_policy(s: &common::Server, body: &Value) -> i64 {
    create_at(s, "/replication/policies", body).await
}

/// Starts a run of a rule; its id.
async fn start_run(s: &common::Server, policy: i64) -> i64 {
    let body = json!({"policy_id": policy});
    create_at(s, "/replication/executions", &body).await
}

/// Runs a rule and waits for its run to end; the run.
async fn run_policy(s: &common::Server, policy: i64) -> Value {
    wait_for_run(s, start_run(s, policy).await).await
}

/// Waits for a run to end; the run.
async fn wait_for_run(s: &common::Server, id: i64) -> Value {
    let path = format!("/replication/executions/{id}");
    for _ in 0..600 {
        let e = s.expect(Method::GET, &path, ADMIN, None).await.is(200);
        if e["status"] != "InProgress" {
            return e;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("replication run {id} did not end");
}

/// A run's tasks, each with its log.
async fn task_logs(s: &common::Server, run: i64) -> Vec<(Value, String)> {
    let path = format!("/replication/executions/{run}/tasks");
    let tasks = s.expect(Method::GET, &path, ADMIN, None).await.is(200);
    let mut out = Vec::new();
    for t in tasks.as_array().unwrap() {
        let log = s
            .expect(Method::GET, &format!("{path}/{}/log", t["id"]), ADMIN, None)
            .await;
        assert_eq!(log.status, 200);
        out.push((t.clone(), log.text));
    }
    out
}

/// The digest a registry's `/v2` has for a reference, if any.
async fn digest_at(
    url: &str,
    auth: Option<(&str, &str)>,
    repo: &str,
    reference: &str,
) -> Option<String> {
    let mut req = reqwest::Client::new()
        .head(format!("{url}/v2/{repo}/manifests/{reference}"))
        .header(
            "accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
        );
    if let Some((u, p)) = auth {
        req = req.basic_auth(u, Some(p));
    }
    let res = req.send().await.unwrap();
    match res.status().as_u16() {
        404 => None,
        200 => Some(common::header(&res, "docker-content-digest").to_string()),
        other => panic!("HEAD {repo}:{reference}: {other}"),
    }
}

/// Rules replicate what their filters select, renamed as their namespace
/// says, with indexes, signatures and digests intact: pushed to CNCF
/// Distribution and to Berth itself (its projects created through the
/// API), pulled back; one task per artifact, each with its log.
#[tokio::test]
async fn rules_push_and_pull_what_their_filters_select() {
    use common::{OCI_INDEX, OCI_MANIFEST};
    let dist = Distribution::start().await;
    for s in common::servers().await {
        let b = s.backend;
        let image = s.push_image("p/app", "v1", "rule").await;
        let signature = common::push_referrer(
            &s,
            "p/app",
            &image,
            "application/vnd.dev.cosign.artifact.sig.v1+json",
        )
        .await;
        s.push_image("p/app", "v2-rc", "rule-rc").await;
        let (a, ma) = s.push_image("p/app", "amd64", "rule-a").await;
        let (c, mc) = s.push_image("p/app", "arm64", "rule-c").await;
        let index = common::index_manifest(
            OCI_INDEX,
            &[(OCI_MANIFEST, &a, ma.len()), (OCI_MANIFEST, &c, mc.len())],
        );
        let multi = s.put_manifest("p/app", "v1-multi", OCI_INDEX, &index).await;
        assert_eq!(multi.status(), 201);
        let multi = common::header(&multi, "docker-content-digest").to_string();
        let other = s.push_image("p/deep/other", "v1", "rule-other").await;
        s.create_project("elsewhere", false, ADMIN).await;
        s.push_image("elsewhere/app", "v1", "rule-elsewhere").await;

        let dist_id = create_endpoint(
            &s,
            &json!({"name": "dist", "type": "docker-registry", "url": dist.url}),
        )
        .await;
        let ns = format!("mirror-{b}");
        let push = json!({
            "name": "to-dist", "enabled": true,
            "dest_registry": {"id": dist_id},
            "dest_namespace": ns, "dest_namespace_replace_count": 1,
            "filters": [
                {"type": "name", "value": "p/**"},
                {"type": "tag", "value": "v1*"},
                {"type": "tag", "value": "*-rc", "decoration": "excludes"},
                {"type": "resource", "value": "image"},
            ],
            "trigger": {"type": "manual"},
        });
        let push_id = create_policy(&s, &push).await;

        // What Harbor refuses, Berth refuses with Harbor's words.
        for (change, status, message) in [
            (json!({"src_registry": {"id": dist_id}}), 400,
             "either src_registry or dest_registry should be empty and the other one shouldn't be empty"),
            (json!({"dest_registry": {"id": 999}}), 404, "registry 999 not found"),
            (json!({"filters": [{"type": "resource", "value": "chart"}]}), 400,
             "invalid resource filter: chart"),
            (json!({"trigger": {"type": "scheduled", "trigger_settings": {"cron": "0 * * * * *"}}}), 400,
             "* is not allowed for the Minutes field of the cron setting of replication policy"),
            (json!({"name": "to-dist-2", "dest_namespace": "Bad Name"}), 400,
             "invalid destination namespace: Bad Name"),
            (json!({}), 409, "policy to-dist already exists"),
        ] {
            let mut body = push.clone();
            for (k, v) in change.as_object().unwrap() {
                body[k] = v.clone();
            }
            let r = s
                .expect(Method::POST, "/replication/policies", ADMIN, Some(&body))
                .await;
            assert_eq!(r.status, status, "{change}: {}", r.text);
            assert_eq!(r.json["errors"][0]["message"], message, "{change}");
        }
        let shown = s
            .expect(
                Method::GET,
                &format!("/replication/policies/{push_id}"),
                ADMIN,
                None,
            )
            .await
            .is(200);
        assert_eq!(shown["src_registry"]["name"], "Local");
        assert_eq!(shown["dest_registry"]["id"], dist_id);
        assert_eq!(shown["dest_namespace_replace_count"], 1);
        assert_eq!(shown["filters"][2]["decoration"], "excludes");
        let listed = s
            .expect(Method::GET, "/replication/policies?name=to-", ADMIN, None)
            .await
            .is(200);
        assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");

        // Pushed: v1 (with its signature), the index (with its images),
        // p/deep/other:v1 renamed one level up; not the release candidate
        // nor what the name filter leaves out.
        let run = run_policy(&s, push_id).await;
        assert_eq!(run["status"], "Succeed", "{run}");
        assert_eq!(run["trigger"], "manual");
        assert_eq!(
            (run["total"].as_i64(), run["succeed"].as_i64()),
            (Some(3), Some(3)),
            "{run}"
        );
        let at_dist = |repo: String, r: String| {
            let url = dist.url.clone();
            async move { digest_at(&url, None, &repo, &r).await }
        };
        let app = format!("{ns}/app");
        assert_eq!(
            at_dist(app.clone(), "v1".into()).await,
            Some(image.0.clone())
        );
        assert_eq!(
            at_dist(app.clone(), signature.clone()).await,
            Some(signature.clone())
        );
        assert_eq!(
            at_dist(app.clone(), "v1-multi".into()).await,
            Some(multi.clone())
        );
        assert_eq!(at_dist(app.clone(), c.clone()).await, Some(c.clone()));
        assert_eq!(at_dist(app.clone(), "v2-rc".into()).await, None);
        assert_eq!(
            at_dist(format!("{ns}/deep/other"), "v1".into()).await,
            Some(other.0.clone())
        );
        assert_eq!(at_dist(format!("{ns}/app"), "amd64".into()).await, None);

        let id = run["id"].as_i64().unwrap();
        let tasks = s
            .expect(
                Method::GET,
                &format!("/replication/executions/{id}/tasks"),
                ADMIN,
                None,
            )
            .await
            .is(200);
        let tasks = tasks.as_array().unwrap();
        assert_eq!(tasks.len(), 3);
        let v1 = tasks
            .iter()
            .find(|t| t["src_resource"] == "p/app:v1")
            .unwrap();
        assert_eq!(v1["dst_resource"], format!("{app}:v1"));
        assert_eq!(
            (v1["operation"].as_str(), v1["status"].as_str()),
            (Some("copy"), Some("Succeed"))
        );
        let log_path = format!("/replication/executions/{id}/tasks/{}/log", v1["id"]);
        let log = s.expect(Method::GET, &log_path, ADMIN, None).await;
        assert_eq!(log.status, 200);
        assert!(
            log.text.contains("stored 3 manifests and 4 blobs"),
            "{}",
            log.text
        );
        s.expect(
            Method::GET,
            &format!("/replication/executions/{id}/tasks/999999/log"),
            ADMIN,
            None,
        )
        .await
        .error(404, "NOT_FOUND");
        let failed = s
            .expect(
                Method::GET,
                &format!("/replication/executions/{id}/tasks?status=Failed"),
                ADMIN,
                None,
            )
            .await
            .is(200);
        assert_eq!(failed, json!([]));

        // A second run sends nothing again.
        let again = run_policy(&s, push_id).await;
        assert_eq!(again["status"], "Succeed", "{again}");
        let id = again["id"].as_i64().unwrap();
        for (_, log) in task_logs(&s, id).await {
            assert!(log.contains("stored 0 manifests and 0 blobs"), "{log}");
        }
        let listed = s
            .expect(
                Method::GET,
                &format!("/replication/executions?policy_id={push_id}&status=Succeed"),
                ADMIN,
                None,
            )
            .await
            .is(200);
        assert_eq!(listed.as_array().unwrap().len(), 2);

        // Pulled back from Distribution into a project created for it.
        let pull_id = create_policy(
            &s,
            &json!({
                "name": "from-dist", "enabled": true,
                "src_registry": {"id": dist_id},
                "dest_namespace": format!("pulled-{b}"),
                "filters": [{"type": "name", "value": format!("{ns}/app")}],
            }),
        )
        .await;
        let pulled = run_policy(&s, pull_id).await;
        assert_eq!(pulled["status"], "Succeed", "{pulled}");
        let admin = Some(("admin", ADMIN_PASSWORD));
        let back = format!("pulled-{b}/app");
        assert_eq!(
            digest_at(&s.url, admin, &back, "v1").await,
            Some(image.0.clone())
        );
        assert_eq!(
            digest_at(&s.url, admin, &back, "v1-multi").await,
            Some(multi.clone())
        );
        s.expect(Method::GET, &format!("/projects/pulled-{b}"), ADMIN, None)
            .await
            .is(200);

        // Berth to Berth: the destination's project is created through
        // its API, and the signature is found there as a referrer.
        let own = create_endpoint(
            &s,
            &json!({"name": "self", "type": "harbor", "url": s.url,
            "credential": {"access_key": "admin", "access_secret": ADMIN_PASSWORD}}),
        )
        .await;
        let to_self = create_policy(
            &s,
            &json!({
                "name": "to-self", "enabled": true, "dest_registry": {"id": own},
                "dest_namespace": format!("copies-{b}"),
                "filters": [{"type": "name", "value": "p/app"}, {"type": "tag", "value": "v1"}],
            }),
        )
        .await;
        let copied = run_policy(&s, to_self).await;
        assert_eq!(copied["status"], "Succeed", "{copied}");
        assert_eq!(copied["total"], 1);
        let referrers = s
            .expect(
                Method::GET,
                &format!("/v2/copies-{b}/app/referrers/{}", image.0),
                ADMIN,
                None,
            )
            .await
            .is(200);
        assert_eq!(referrers["manifests"][0]["digest"], signature.as_str());

        // A disabled rule does not run; an endpoint a rule uses stays;
        // a rule goes with its runs.
        let mut disabled = push.clone();
        disabled["enabled"] = json!(false);
        s.expect(
            Method::PUT,
            &format!("/replication/policies/{push_id}"),
            ADMIN,
            Some(&disabled),
        )
        .await
        .is(200);
        let e = s
            .expect(
                Method::POST,
                "/replication/executions",
                ADMIN,
                Some(&json!({"policy_id": push_id})),
            )
            .await
            .error(412, "PRECONDITION");
        assert_eq!(
            e["errors"][0]["message"],
            format!("the policy {push_id} is disabled")
        );
        s.expect(
            Method::DELETE,
            &format!("/registries/{dist_id}"),
            ADMIN,
            None,
        )
        .await
        .error(412, "PRECONDITION");
        for p in [push_id, pull_id, to_self] {
            s.expect(
                Method::DELETE,
                &format!("/replication/policies/{p}"),
                ADMIN,
                None,
            )
            .await
            .is(200);
        }
        s.expect(
            Method::GET,
            &format!("/replication/executions/{id}"),
            ADMIN,
            None,
        )
        .await
        .error(404, "NOT_FOUND");
        s.expect(
            Method::DELETE,
            &format!("/registries/{dist_id}"),
            ADMIN,
            None,
        )
        .await
        .is(200);
    }
}

/// The runs of a rule once `n` of them have ended, newest first.
async fn ended_runs(s: &common::Server, policy: i64, n: usize) -> Vec<Value> {
    let path = format!("/replication/executions?policy_id={policy}");
    for _ in 0..600 {
        let runs = s.expect(Method::GET, &path, ADMIN, None).await.is(200);
        let runs = runs.as_array().unwrap().clone();
        if runs.len() >= n && runs.iter().all(|r| r["status"] != "InProgress") {
            return runs;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("rule {policy} did not end {n} runs");
}

/// An event-based rule replicates what skopeo pushes as it is pushed, and
/// the deletion of it; only pushes from here can be events.
#[tokio::test]
async fn event_based_rules_follow_pushes_and_deletions() {
    let dist = Distribution::start().await;
    // What skopeo pushes: an image in Distribution.
    let seed = common::Server::start("sqlite", None).await;
    seed.push_image("p/seed", "v1", "event-seed").await;
    let seed_ep = Remote::new(
        &seed.url,
        &common::basic_auth("admin", ADMIN_PASSWORD),
        false,
    )
    .unwrap();
    let (from, to) = (
        berth_oci::RepositoryName::parse("p/seed").unwrap(),
        berth_oci::RepositoryName::parse("seed/image").unwrap(),
    );
    let plain = Remote::new(&dist.url, "", false).unwrap();
    let src = Side {
        store: Store::Remote(&seed_ep),
        repo: &from,
    };
    let dst = Side {
        store: Store::Remote(&plain),
        repo: &to,
    };
    copy(&src, &dst, "v1", &["v1".into()], &Options::default())
        .await
        .unwrap();
    let host = |url: &str| url.trim_start_matches("http://").to_string();

    for s in common::servers().await {
        let b = s.backend;
        let dist_id = create_endpoint(
            &s,
            &json!({"name": "dist", "type": "docker-registry", "url": dist.url}),
        )
        .await;
        let rule = |name: &str, extra: Value| {
            let mut r = json!({"name": name, "enabled": true, "dest_registry": {"id": dist_id},
                "dest_namespace": format!("ev-{b}"), "deletion": true,
                "filters": [{"type": "name", "value": "p/evt"}],
                "trigger": {"type": "event_based"}});
            for (k, v) in extra.as_object().unwrap() {
                r[k] = v.clone();
            }
            r
        };
        let e = s
            .expect(
                Method::POST,
                "/replication/policies",
                ADMIN,
                Some(&rule(
                    "pulling",
                    json!({"src_registry": {"id": dist_id}, "dest_registry": null}),
                )),
            )
            .await
            .error(400, "BAD_REQUEST");
        assert!(
            e["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("event_based"),
            "{e}"
        );
        let id = create_policy(&s, &rule("follow", json!({}))).await;

        let out = std::process::Command::new("skopeo")
            .args([
                "--insecure-policy",
                "copy",
                "-q",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
            ])
            .args(["--dest-creds", &format!("admin:{ADMIN_PASSWORD}")])
            .arg(format!("docker://{}/seed/image:v1", host(&dist.url)))
            .arg(format!("docker://{}/p/evt:v1", host(&s.url)))
            .output()
            .expect("skopeo (scripts/test.sh installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let runs = ended_runs(&s, id, 1).await;
        assert_eq!(runs[0]["status"], "Succeed", "{runs:?}");
        assert_eq!(runs[0]["trigger"], "event_based");
        // skopeo may convert what it copies: the digest is what Berth got.
        let admin = Some(("admin", ADMIN_PASSWORD));
        let pushed = digest_at(&s.url, admin, "p/evt", "v1").await.unwrap();
        let there = format!("ev-{b}/evt");
        assert_eq!(
            digest_at(&dist.url, None, &there, "v1").await,
            Some(pushed.clone())
        );

        // A push the filters leave out starts nothing.
        s.push_image("p/other", "v1", "event-other").await;
        let deleted = s.delete(&format!("/v2/p/evt/manifests/{pushed}")).await;
        assert_eq!(deleted.status(), 202);
        let runs = ended_runs(&s, id, 2).await;
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert_eq!(runs[0]["status"], "Succeed", "{runs:?}");
        let run = runs[0]["id"].as_i64().unwrap();
        let tasks = s
            .expect(
                Method::GET,
                &format!("/replication/executions/{run}/tasks"),
                ADMIN,
                None,
            )
            .await
            .is(200);
        assert_eq!(tasks[0]["operation"], "deletion");
        assert_eq!(digest_at(&dist.url, None, &there, "v1").await, None);
        assert_eq!(digest_at(&dist.url, None, &there, &pushed).await, None);
    }
}

/// A destination killed mid-run fails the run (its tasks retried, then
/// failed); once it is back, a rerun sends only what it lacks. The rule
/// also limits each task's speed and sends blobs in chunks.
#[tokio::test]
async fn a_destination_killed_mid_run_gets_the_rest_on_the_next_run() {
    let mut dist = Distribution::start().await;
    for s in common::servers().await {
        let b = s.backend;
        s.push_image("p/big", "v1", &format!("killed-1-{b}")).await;
        s.push_image("p/big", "v2", &format!("killed-2-{b}")).await;
        // 12 MiB at 4 MiB/s: three seconds, in a 10 MiB and a 2 MiB chunk.
        let layer: Vec<u8> = (0..12u32 << 20)
            .map(|i| (i.wrapping_mul(7) % 251) as u8 ^ b.len() as u8)
            .collect();
        s.push_layers("p/big", "v3", &[layer]).await;
        let dist_id = create_endpoint(
            &s,
            &json!({"name": "dist", "type": "docker-registry", "url": dist.url}),
        )
        .await;
        let ns = format!("killed-{b}");
        let rule = create_policy(
            &s,
            &json!({"name": "slow", "enabled": true, "dest_registry": {"id": dist_id},
                "dest_namespace": ns, "speed": 4096, "copy_by_chunk": true,
                "filters": [{"type": "name", "value": "p/big"}]}),
        )
        .await;
        let run = start_run(&s, rule).await;
        // Killed once v1 and v2 are there and v3's config is.
        let v3 = s
            .expect(Method::GET, "/v2/p/big/manifests/v3", ADMIN, None)
            .await
            .is(200);
        let config = v3["config"]["digest"].as_str().unwrap().to_string();
        let there = format!("{ns}/big");
        let client = reqwest::Client::new();
        let mut arrived = false;
        // A loaded machine may take long; the layer alone takes 3 s.
        for _ in 0..1200 {
            let blob = client
                .head(format!("{}/v2/{there}/blobs/{config}", dist.url))
                .send()
                .await
                .unwrap();
            arrived = blob.status() == 200
                && digest_at(&dist.url, None, &there, "v1").await.is_some()
                && digest_at(&dist.url, None, &there, "v2").await.is_some();
            if arrived {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        assert!(
            arrived,
            "v1, v2 and v3's config never reached the destination"
        );
        dist.kill();
        let failed = wait_for_run(&s, run).await;
        assert_eq!(failed["status"], "Failed", "{failed}");
        assert_eq!(
            (failed["succeed"].as_i64(), failed["failed"].as_i64()),
            (Some(2), Some(1)),
            "{failed}"
        );

        dist.restart().await;
        let rerun = run_policy(&s, rule).await;
        assert_eq!(rerun["status"], "Succeed", "{rerun}");
        let id = rerun["id"].as_i64().unwrap();
        for (t, log) in task_logs(&s, id).await {
            if t["src_resource"] == "p/big:v3" {
                // The config was there; only the layer went again.
                assert!(log.contains("stored 2 manifests and 1 blobs (12582912 bytes); 1 blobs were there already"), "{log}");
            } else {
                assert!(log.contains("stored 0 manifests and 0 blobs"), "{log}");
            }
        }
        let v3_there = digest_at(&dist.url, None, &there, "v3").await;
        let v3_here = digest_at(&s.url, Some(("admin", ADMIN_PASSWORD)), "p/big", "v3").await;
        assert_eq!(v3_there, v3_here);
    }
}

/// A scheduled rule has a schedule while it is enabled, and its period
/// starts a run with the `scheduled` trigger.
#[tokio::test]
async fn scheduled_rules_run_when_their_period_comes() {
    let dist = Distribution::start().await;
    for s in common::servers().await {
        s.push_image("p/timed", "v1", &format!("timed-{}", s.backend))
            .await;
        let dist_id = create_endpoint(
            &s,
            &json!({"name": "dist", "type": "docker-registry", "url": dist.url}),
        )
        .await;
        let mut rule = json!({"name": "nightly", "enabled": true, "dest_registry": {"id": dist_id},
            "dest_namespace": format!("timed-{}", s.backend),
            "filters": [{"type": "name", "value": "p/timed"}],
            "trigger": {"type": "scheduled", "trigger_settings": {"cron": "0 0 3 * * *"}}});
        let id = create_policy(&s, &rule).await;
        let ours = |schedules: &Value| {
            (schedules.as_array().unwrap().iter())
                .find(|x| x["vendor_type"] == "REPLICATION" && x["vendor_id"] == id)
                .cloned()
        };
        let listed = s
            .expect(Method::GET, "/schedules", ADMIN, None)
            .await
            .is(200);
        assert_eq!(ours(&listed).unwrap()["cron"], "0 0 3 * * *");

        // The period comes (made due now, as the scheduler sees it).
        let db = s.open_db().await;
        let due = berth_db::jobs::schedule(db.reader(), "REPLICATION", id)
            .await
            .unwrap()
            .unwrap();
        let mut tx = db.begin().await.unwrap();
        assert!(
            berth_db::jobs::advance_schedule(&mut tx, due.id, due.next_run_at, 0)
                .await
                .unwrap()
        );
        berth_db::commit(tx).await.unwrap();
        let runs = ended_runs(&s, id, 1).await;
        assert_eq!(runs[0]["trigger"], "scheduled", "{runs:?}");
        assert_eq!(runs[0]["status"], "Succeed", "{runs:?}");
        let there = format!("timed-{}/timed", s.backend);
        assert!(digest_at(&dist.url, None, &there, "v1").await.is_some());

        rule["enabled"] = json!(false);
        let path = format!("/replication/policies/{id}");
        s.expect(Method::PUT, &path, ADMIN, Some(&rule))
            .await
            .is(200);
        let listed = s
            .expect(Method::GET, "/schedules", ADMIN, None)
            .await
            .is(200);
        assert!(ours(&listed).is_none(), "{listed}");
    }
}

/// A GET of a Berth path as the administrator.
async fn admin_get(s: &common::Server, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(s.u(path))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap()
}

/// A proxy-cache project pulls through CNCF Distribution: skopeo pulls
/// through it, twenty pulls of one uncached blob fetch it once, what was
/// pulled is served with upstream down, a moved upstream tag is followed,
/// and pushes are refused.
#[tokio::test]
async fn proxy_cache_projects_pull_through_and_serve_stale() {
    let mut dist = Distribution::start().await;
    let seed = common::Server::start("sqlite", None).await;
    let seed_ep = Remote::new(
        &seed.url,
        &common::basic_auth("admin", ADMIN_PASSWORD),
        false,
    )
    .unwrap();
    let plain = Remote::new(&dist.url, "", false).unwrap();
    let name = |n: &str| berth_oci::RepositoryName::parse(n).unwrap();
    let (from, to) = (name("p/seed"), name("team/app"));
    // Upstream: team/app:v1, and :big with a 4 MiB layer.
    let upload = |tag: &'static str| {
        let (seed_ep, plain, from, to) = (&seed_ep, &plain, &from, &to);
        async move {
            let src = Side {
                store: Store::Remote(seed_ep),
                repo: from,
            };
            let dst = Side {
                store: Store::Remote(plain),
                repo: to,
            };
            let moving = Options {
                overwrite: true,
                ..Options::default()
            };
            copy(&src, &dst, tag, &[tag.to_string()], &moving)
                .await
                .unwrap();
        }
    };
    seed.push_image("p/seed", "v1", "proxied-v1").await;
    upload("v1").await;
    let layer: Vec<u8> = (0..4u32 << 20).map(|i| (i % 253) as u8).collect();
    seed.push_layers("p/seed", "big", std::slice::from_ref(&layer))
        .await;
    upload("big").await;
    let layer_digest = common::digest(&layer);

    for s in common::servers().await {
        // What upstream's v1 is now (the loop moves it).
        let v1 = digest_at(&dist.url, None, "team/app", "v1").await.unwrap();
        let dist_id = create_endpoint(
            &s,
            &json!({"name": "upstream", "type": "docker-registry", "url": dist.url}),
        )
        .await;
        let project = json!({"project_name": "cache", "registry_id": dist_id,
            "metadata": {"public": "false"}});
        s.create("/projects", ADMIN, project.clone()).await;
        let shown = s
            .expect(Method::GET, "/projects/cache", ADMIN, None)
            .await
            .is(200);
        assert_eq!(shown["registry_id"], dist_id);
        s.create_user("dev", "Dev12345pass").await;
        let mut theirs = project.clone();
        theirs["project_name"] = json!("theirs");
        let e = s
            .expect(
                Method::POST,
                "/projects",
                Some(("dev", "Dev12345pass")),
                Some(&theirs),
            )
            .await
            .error(403, "FORBIDDEN");
        assert_eq!(
            e["errors"][0]["message"],
            "Only system admin can create proxy cache project"
        );

        // skopeo pulls through it; the image is then cached here.
        let out = common::skopeo_pull(&s, "cache/team/app:v1");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let admin = Some(("admin", ADMIN_PASSWORD));
        assert_eq!(
            digest_at(&s.url, admin, "cache/team/app", "v1").await,
            Some(v1.clone())
        );
        let artifacts = "/projects/cache/repositories/team%252Fapp/artifacts";
        let mut cached = Value::Null;
        for _ in 0..100 {
            cached = s.expect(Method::GET, artifacts, ADMIN, None).await.is(200);
            if cached.as_array().is_some_and(|a| !a.is_empty()) {
                break;
            }
            common::sleep_ms(100).await;
        }
        assert_eq!(cached[0]["digest"], v1.as_str(), "{cached}");
        assert_eq!(cached[0]["tags"][0]["name"], "v1");

        // Twenty pulls of an uncached blob: one fetch upstream, each gets
        // every byte.
        let blob = format!("/v2/cache/team/app/blobs/{layer_digest}");
        let fetch_line = format!("GET /v2/team/app/blobs/{layer_digest}");
        let before = dist.requests(&fetch_line);
        let pulls = (0..20).map(|_| async {
            let r = admin_get(&s, &blob).await;
            assert_eq!(r.status(), 200);
            r.bytes().await.unwrap()
        });
        for got in futures_util::future::join_all(pulls).await {
            assert!(got == layer, "a pull got other bytes");
        }
        let fetched = dist.requests(&fetch_line) - before;
        assert_eq!(fetched, 1, "fetches of the layer upstream");

        // Pushes are refused.
        let e = s
            .expect(
                Method::POST,
                "/v2/cache/team/app/blobs/uploads/",
                ADMIN,
                None,
            )
            .await
            .error(403, "DENIED");
        assert_eq!(
            e["errors"][0]["message"],
            "can not push artifact to a proxy project: cache"
        );

        // Upstream down: what was pulled is served.
        dist.kill();
        assert_eq!(
            digest_at(&s.url, admin, "cache/team/app", "v1").await,
            Some(v1.clone())
        );
        assert_eq!(admin_get(&s, &blob).await.status(), 200);
        dist.restart().await;

        // A tag moved upstream is followed.
        let moved = seed
            .push_image("p/seed", "v1", &format!("proxied-moved-{}", s.backend))
            .await;
        upload("v1").await;
        assert_eq!(
            digest_at(&s.url, admin, "cache/team/app", "v1").await,
            Some(moved.0.clone())
        );

        s.expect(
            Method::DELETE,
            &format!("/registries/{dist_id}"),
            ADMIN,
            None,
        )
        .await
        .error(412, "PRECONDITION");
    }
}
