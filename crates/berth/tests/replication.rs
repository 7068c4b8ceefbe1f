//! Registry endpoints (`/registries`) against real registries on loopback:
//! CNCF Distribution (Debian's `docker-registry`) and Berth itself, whose
//! token service checks the credentials an endpoint is given.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Distribution, ADMIN, ADMIN_PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

/// A loopback address nothing listens on.
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

/// Creates an endpoint (it must be created); its id.
async fn create_endpoint(s: &common::Server, body: &Value) -> i64 {
    let created = s
        .expect(Method::POST, "/registries", ADMIN, Some(body))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    created
        .header("location")
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
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
        assert_eq!(info["supported_triggers"], json!(["manual", "scheduled"]));

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
    use berth_core::remote::Remote;
    use berth_core::replication::copy::{copy, Copied, Side};
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
            registry: &berth,
            repo: &app,
        };
        for dst in [
            Side {
                registry: &distribution,
                repo: &mirror,
            },
            Side {
                registry: &berth,
                repo: &q,
            },
        ] {
            let first = copy(&src, &dst, "v1").await.unwrap();
            // The image (config and layer), the signature (its own), the tag.
            assert_eq!(first.manifests, 3, "{first:?}");
            assert!(first.blobs >= 3, "{first:?}");
            assert_eq!(copy(&src, &dst, "v1").await.unwrap(), Copied::default());
            let there = dst.registry.manifest_digest(dst.repo, "v1").await.unwrap();
            assert_eq!(there.as_deref(), Some(image.0.as_str()));
            let sig = dst
                .registry
                .manifest_digest(dst.repo, &signature)
                .await
                .unwrap();
            assert_eq!(sig.as_deref(), Some(signature.as_str()));

            let multi = copy(&src, &dst, "multi").await.unwrap();
            // Both children, the index, the tag.
            assert_eq!(multi.manifests, 4, "{multi:?}");
            for child in [&a, &b] {
                let d = dst.registry.manifest_digest(dst.repo, child).await.unwrap();
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
    use berth_core::remote::Remote;
    use berth_core::replication::copy::{copy, Side};
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
            registry: &berth,
            repo: &app,
        };
        let wrong = Remote::new(&dist.url, &basic("mirror", "wrong"), false).unwrap();
        let refused = copy(
            &src,
            &Side {
                registry: &wrong,
                repo: &dst,
            },
            "v1",
        )
        .await;
        assert!(refused.is_err(), "{refused:?}");
        let right = Remote::new(&dist.url, &basic("mirror", "s3cret"), false).unwrap();
        let to = Side {
            registry: &right,
            repo: &dst,
        };
        let copied = copy(&src, &to, "v1").await.unwrap();
        assert_eq!((copied.manifests, copied.blobs), (2, 2), "{copied:?}");
        let there = right.manifest_digest(&dst, "v1").await.unwrap();
        assert_eq!(there.as_deref(), Some(image.0.as_str()));
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

/// A process killed when the test ends, however it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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
