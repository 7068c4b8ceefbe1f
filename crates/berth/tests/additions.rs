//! What Harbor shows around an artifact: its accessories (signatures, SBOMs
//! and other referrers) and its build history.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const NOTATION: &str = "application/vnd.cncf.notary.signature";

#[tokio::test]
async fn accessories_of_an_artifact() {
    for s in servers().await {
        let subject = s.push_image("p/app", "v1", "subject").await;
        let other = s.push_image("p/app", "v2", "other").await;
        let notation = push_referrer(&s, "p/app", &subject, NOTATION).await;
        let sbom = push_referrer(&s, "p/app", &subject, "application/spdx+json").await;
        push_referrer(&s, "p/app", &other, NOTATION).await;
        // A cosign signature stored the tag way.
        let cosign_tag = format!("{}.sig", subject.0.replace(':', "-"));
        let (cosign, _) = s.push_image("p/app", &cosign_tag, "sig").await;

        let base = format!(
            "/projects/p/repositories/app/artifacts/{}/accessories",
            subject.0
        );
        let list = |path: String, user| s.api(Method::GET, &path, user).send();
        let r = list(base.clone(), ADMIN).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-total-count"), "3");
        let got: Vec<Value> = r.json().await.unwrap();
        let kind_of = |d: &str| {
            got.iter()
                .find(|a| a["digest"] == d)
                .map(|a| a["type"].as_str().unwrap().to_string())
        };
        assert_eq!(kind_of(&notation).as_deref(), Some("signature.notation"));
        assert_eq!(kind_of(&sbom).as_deref(), Some("subject.accessory"));
        assert_eq!(kind_of(&cosign).as_deref(), Some("signature.cosign"));
        for a in &got {
            assert_eq!(a["subject_artifact_digest"], subject.0);
            assert_eq!(a["subject_artifact_repo"], "p/app");
            assert!(a["size"].as_i64().unwrap() > 0);
            assert!(a["creation_time"].as_str().unwrap().ends_with('Z'));
        }
        // Filtered, paged, and by tag as well as digest.
        let r = list(format!("{base}?q=type%3Dsignature.notation"), ADMIN)
            .await
            .unwrap();
        let got: Vec<Value> = r.json().await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["digest"], notation);
        let r = list(format!("{base}?page_size=2"), ADMIN).await.unwrap();
        assert!(header(&r, "link").contains("rel=\"next\""));
        assert_eq!(r.json::<Vec<Value>>().await.unwrap().len(), 2);
        let r = list(
            "/projects/p/repositories/app/artifacts/v1/accessories".into(),
            ADMIN,
        )
        .await
        .unwrap();
        assert_eq!(header(&r, "x-total-count"), "3");
        let r = list(
            "/projects/p/repositories/app/artifacts/nope/accessories".into(),
            ADMIN,
        )
        .await
        .unwrap();
        expect_error(r, 404, "NOT_FOUND").await;
        // A private project's accessories are not for strangers.
        let r = list(base.clone(), None).await.unwrap();
        expect_error(r, 401, "UNAUTHORIZED").await;
        let r = list(format!("{base}?q=bogus%3D1"), ADMIN).await.unwrap();
        expect_error(r, 400, "BAD_REQUEST").await;
    }
}

#[tokio::test]
async fn build_history_of_an_image() {
    for s in servers().await {
        let repo = "p/built";
        let history = json!([
            {"created": "2024-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in /"},
            {"created": "2024-01-01T00:00:01Z", "created_by": "RUN make", "empty_layer": true},
        ]);
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux", "history": history,
        }))
        .unwrap();
        let layer = b"layer bytes".to_vec();
        let body = image_manifest(
            OCI_MANIFEST,
            (OCI_CONFIG, &s.push_blob(repo, &config).await, config.len()),
            &[(OCI_LAYER, &s.push_blob(repo, &layer).await, layer.len())],
            None,
        );
        assert_eq!(
            s.put_manifest(repo, "v1", OCI_MANIFEST, &body)
                .await
                .status(),
            201
        );
        let path = "/projects/p/repositories/built/artifacts/v1/additions/build_history";
        let r = s.api(Method::GET, path, ADMIN).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(header(&r, "content-type").starts_with("application/json"));
        assert_eq!(r.json::<Value>().await.unwrap(), history);

        // An image without history has an empty one; a non-image has none.
        let (plain, _) = s.push_image(repo, "plain", "x").await;
        let r = s
            .api(
                Method::GET,
                &format!(
                    "/projects/p/repositories/built/artifacts/{plain}/additions/build_history"
                ),
                ADMIN,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.json::<Value>().await.unwrap(), json!([]));
        let idx = index_manifest(OCI_INDEX, &[(OCI_MANIFEST, &digest(&body), body.len())]);
        assert_eq!(
            s.put_manifest(repo, "multi", OCI_INDEX, &idx)
                .await
                .status(),
            201
        );
        let r = s
            .api(
                Method::GET,
                "/projects/p/repositories/built/artifacts/multi/additions/build_history",
                ADMIN,
            )
            .send()
            .await
            .unwrap();
        // As in Harbor: an addition the artifact's type lacks is a bad request.
        let e = expect_error(r, 400, "BAD_REQUEST").await;
        assert!(
            e.to_string()
                .contains("BUILD_HISTORY isn't supported for IMAGE"),
            "{e}"
        );
        for (path, user, status, code) in [
            (
                "/projects/p/repositories/built/artifacts/v1/additions/readme.md",
                ADMIN,
                400,
                "BAD_REQUEST",
            ),
            (
                "/projects/p/repositories/built/artifacts/v1/additions/nonsense",
                ADMIN,
                400,
                "BAD_REQUEST",
            ),
            (path, None, 401, "UNAUTHORIZED"),
        ] {
            s.expect(Method::GET, path, user, None)
                .await
                .error(status, code);
        }
    }
}

#[tokio::test]
async fn children_and_accessories_are_shown_under_their_parent_and_go_with_it() {
    for s in servers().await {
        let repo = "p/multi";
        let untag = |tag: &'static str| {
            let path = format!("/v2/{repo}/manifests/{tag}");
            let s = &s;
            async move { s.delete(&path).await }
        };
        // Two platforms: one child only the index keeps, one tagged too.
        let amd = s.push_image(repo, "tmp-amd", "amd").await;
        assert_eq!(untag("tmp-amd").await.status(), 202);
        let arm = s.push_image(repo, "arm", "arm").await;
        let idx = index_manifest(
            OCI_INDEX,
            &[
                (OCI_MANIFEST, &amd.0, amd.1.len()),
                (OCI_MANIFEST, &arm.0, arm.1.len()),
            ],
        );
        let index = (digest(&idx), idx.clone());
        assert_eq!(
            s.put_manifest(repo, "v1", OCI_INDEX, &idx).await.status(),
            201
        );
        // The index's accessories: a referrer and a cosign signature by tag.
        let notation = push_referrer(&s, repo, &index, NOTATION).await;
        let sig_tag = format!("{}.sig", index.0.replace(':', "-"));
        let (cosign, _) = s.push_image(repo, &sig_tag, "cosign").await;
        // A plain image with nothing attached stays as it is.
        let (plain, _) = s.push_image(repo, "plain", "plain").await;

        let list = "/projects/p/repositories/multi/artifacts";
        let r = s.api(Method::GET, list, ADMIN).send().await.unwrap();
        assert_eq!(header(&r, "x-total-count"), "3");
        let listed: Vec<Value> = r.json().await.unwrap();
        let mut digests: Vec<&str> = listed
            .iter()
            .map(|a| a["digest"].as_str().unwrap())
            .collect();
        digests.sort();
        let mut want = vec![index.0.as_str(), arm.0.as_str(), plain.as_str()];
        want.sort();
        assert_eq!(digests, want, "children and accessories are not top-level");
        let repo_json: Value = s.api_json("/projects/p/repositories/multi", ADMIN).await;
        assert_eq!(repo_json["artifact_count"], 3);

        // Deleting the index takes its untagged child and its accessories;
        // the tagged child stays.
        s.expect(Method::DELETE, &format!("{list}/v1"), ADMIN, None)
            .await
            .is(200);
        for gone in [&index.0, &amd.0, &notation, &cosign] {
            let r = s.get(&format!("/v2/{repo}/manifests/{gone}")).await;
            assert_eq!(r.status(), 404, "{gone} stayed");
        }
        for kept in [&arm.0, &plain] {
            let r = s.get(&format!("/v2/{repo}/manifests/{kept}")).await;
            assert_eq!(r.status(), 200, "{kept} went");
        }
        let r = s.api(Method::GET, list, ADMIN).send().await.unwrap();
        assert_eq!(header(&r, "x-total-count"), "2");

        // A child two indexes share stays until the last one goes; deleting
        // a child an index lists is refused.
        let shared = s.push_image(repo, "tmp-shared", "shared").await;
        assert_eq!(untag("tmp-shared").await.status(), 202);
        let one = index_manifest(OCI_INDEX, &[(OCI_MANIFEST, &shared.0, shared.1.len())]);
        let two = index_manifest(
            OCI_INDEX,
            &[
                (OCI_MANIFEST, &shared.0, shared.1.len()),
                (OCI_MANIFEST, &arm.0, arm.1.len()),
            ],
        );
        for (tag, body) in [("one", &one), ("two", &two)] {
            assert_eq!(
                s.put_manifest(repo, tag, OCI_INDEX, body).await.status(),
                201
            );
        }
        s.expect(Method::DELETE, &format!("{list}/{}", shared.0), ADMIN, None)
            .await
            .is(412);
        s.expect(Method::DELETE, &format!("{list}/one"), ADMIN, None)
            .await
            .is(200);
        let r = s.get(&format!("/v2/{repo}/manifests/{}", shared.0)).await;
        assert_eq!(r.status(), 200, "a child another index lists went");
        assert_eq!(
            s.delete(&format!("/v2/{repo}/manifests/{}", digest(&two)))
                .await
                .status(),
            202
        );
        let r = s.get(&format!("/v2/{repo}/manifests/{}", shared.0)).await;
        assert_eq!(r.status(), 404, "/v2 deletes the same way");
    }
}

/// Pushes an image manifest with this config media type and config; returns its digest.
async fn push_with_config(
    s: &Server,
    repo: &str,
    tag: &str,
    media: &str,
    config: &Value,
) -> String {
    let config = serde_json::to_vec(config).unwrap();
    let layer = format!("layer of {tag}").into_bytes();
    let body = image_manifest(
        OCI_MANIFEST,
        (media, &s.push_blob(repo, &config).await, config.len()),
        &[(OCI_LAYER, &s.push_blob(repo, &layer).await, layer.len())],
        None,
    );
    let r = s.put_manifest(repo, tag, OCI_MANIFEST, &body).await;
    assert_eq!(r.status(), 201);
    digest(&body)
}

#[tokio::test]
async fn artifacts_as_harbor_describes_them() {
    for s in servers().await {
        let image_config = json!({"architecture": "arm64", "os": "linux",
            "created": "2024-05-01T10:00:00Z",
            "config": {"Env": ["PATH=/bin"], "Labels": {"org.opencontainers.image.authors": "ops@example.com"}},
            "rootfs": {"type": "layers", "diff_ids": []}, "history": []});
        let img = push_with_config(&s, "p/desc", "v1", OCI_CONFIG, &image_config).await;
        let chart_config = json!({"name": "web", "version": "1.2.3", "appVersion": "2.0",
            "description": "A web app", "apiVersion": "v2"});
        let archive = chart_archive(&chart_config, &[]);
        let chart = s
            .push_chart("p/charts", "1.2.3", &chart_config, &archive)
            .await;
        let thing = push_with_config(
            &s,
            "p/desc",
            "thing",
            "application/vnd.example.thing.config.v1+json",
            &json!({"k": "v"}),
        )
        .await;
        let get = |path: String| {
            let s = &s;
            async move { s.api_json::<Value>(&path, ADMIN).await }
        };
        let a = get(format!("/projects/p/repositories/desc/artifacts/{img}")).await;
        assert_eq!(a["type"], "IMAGE");
        assert_eq!(a["media_type"], OCI_CONFIG);
        assert_eq!(a["manifest_media_type"], OCI_MANIFEST);
        let attrs = &a["extra_attrs"];
        assert_eq!(attrs["architecture"], "arm64");
        assert_eq!(attrs["os"], "linux");
        assert_eq!(attrs["created"], "2024-05-01T10:00:00Z");
        assert_eq!(attrs["author"], "ops@example.com");
        assert_eq!(attrs["config"]["Env"][0], "PATH=/bin");
        assert!(attrs.get("rootfs").is_none(), "{attrs}");
        // Its build history is where the link says.
        let href = a["addition_links"]["build_history"]["href"]
            .as_str()
            .unwrap();
        assert_eq!(a["addition_links"]["build_history"]["absolute"], false);
        let r = s.client.get(s.u(href)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{href}");

        let c = get(format!("/projects/p/repositories/charts/artifacts/{chart}")).await;
        assert_eq!(c["type"], "CHART");
        assert_eq!(c["media_type"], HELM_CONFIG);
        assert_eq!(c["extra_attrs"], chart_config);
        let links: Vec<_> = c["addition_links"].as_object().unwrap().keys().collect();
        assert_eq!(links, ["dependencies", "readme.md", "values.yaml"]);
        let t = get(format!("/projects/p/repositories/desc/artifacts/{thing}")).await;
        assert_eq!(t["type"], "THING");

        // Icons by type, served by their digest.
        assert_ne!(a["icon"], c["icon"]);
        let icon = get(format!("/icons/{}", a["icon"].as_str().unwrap())).await;
        assert_eq!(icon["content-type"], "image/svg+xml");
        use base64::Engine;
        let svg = base64::engine::general_purpose::STANDARD
            .decode(icon["content"].as_str().unwrap())
            .unwrap();
        assert!(String::from_utf8(svg).unwrap().starts_with("<svg"));
        s.expect(
            Method::GET,
            &format!("/icons/sha256:{}", "0".repeat(64)),
            ADMIN,
            None,
        )
        .await
        .error(404, "NOT_FOUND");
        s.expect(Method::GET, "/icons/nonsense", ADMIN, None)
            .await
            .error(400, "BAD_REQUEST");

        // An index lists its children with their platforms.
        let arm_body = s
            .get(&format!("/v2/p/desc/manifests/{img}"))
            .await
            .bytes()
            .await
            .unwrap();
        let amd = s.push_image("p/desc", "amd", "amd").await;
        let idx = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": amd.0, "size": amd.1.len(),
                 "platform": {"architecture": "amd64", "os": "linux"}},
                {"mediaType": OCI_MANIFEST, "digest": img, "size": arm_body.len(),
                 "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
                 "annotations": {"note": "arm"}}]}))
        .unwrap();
        assert_eq!(
            s.put_manifest("p/desc", "multi", OCI_INDEX, &idx)
                .await
                .status(),
            201
        );
        let m = get("/projects/p/repositories/desc/artifacts/multi".into()).await;
        assert_eq!(m["type"], "IMAGE");
        assert_eq!(m["media_type"], OCI_INDEX);
        // An index has no build history of its own; its images are
        // scanned, so it has a vulnerabilities addition, as in Harbor.
        let links: Vec<_> = m["addition_links"].as_object().unwrap().keys().collect();
        assert_eq!(links, ["vulnerabilities"], "{m}");
        let refs = m["references"].as_array().unwrap();
        assert_eq!(refs.len(), 2);
        let arm = refs.iter().find(|r| r["child_digest"] == img).unwrap();
        assert_eq!(arm["parent_id"], m["id"]);
        assert_eq!(arm["child_id"], a["id"]);
        assert_eq!(arm["platform"]["variant"], "v8");
        assert_eq!(arm["annotations"]["note"], "arm");

        // A tag remembers its last pull; the artifact's other tag does not.
        s.expect(
            Method::POST,
            &format!("/projects/p/repositories/desc/artifacts/{img}/tags"),
            ADMIN,
            Some(&json!({"name": "other"})),
        )
        .await
        .is(201);
        assert_eq!(s.get("/v2/p/desc/manifests/v1").await.status(), 200);
        let mut tags = Vec::new();
        for _ in 0..50 {
            tags = get(format!(
                "/projects/p/repositories/desc/artifacts/{img}/tags"
            ))
            .await
            .as_array()
            .unwrap()
            .clone();
            if tags.iter().any(|t| t.get("pull_time").is_some()) {
                break;
            }
            sleep_ms(100).await;
        }
        let pulled = |name: &str| {
            tags.iter()
                .find(|t| t["name"] == name)
                .unwrap()
                .get("pull_time")
                .is_some()
        };
        assert!(pulled("v1") && !pulled("other"), "{tags:?}");

        // A project's artifacts across its repositories; the newest chart of
        // each repository.
        let newer = push_with_config(
            &s,
            "p/charts",
            "1.2.4",
            HELM_CONFIG,
            &json!({"name": "web", "version": "1.2.4"}),
        )
        .await;
        let r = s
            .api(Method::GET, "/projects/p/artifacts?page_size=50", ADMIN)
            .send()
            .await
            .unwrap();
        let all: Vec<Value> = r.json().await.unwrap();
        let repos: std::collections::BTreeSet<&str> = all
            .iter()
            .map(|a| a["repository_name"].as_str().unwrap())
            .collect();
        assert_eq!(
            repos.into_iter().collect::<Vec<_>>(),
            ["p/charts", "p/desc"]
        );
        let q = format!("q=media_type%3D{}", HELM_CONFIG.replace('+', "%2B"));
        let charts: Vec<Value> = s
            .api_json(&format!("/projects/p/artifacts?{q}"), ADMIN)
            .await;
        assert_eq!(charts.len(), 2);
        let latest: Vec<Value> = s
            .api_json(
                &format!("/projects/p/artifacts?{q}&latest_in_repository=true"),
                ADMIN,
            )
            .await;
        assert_eq!(latest.len(), 1);
        assert_eq!(latest[0]["digest"], newer);
        s.expect(Method::GET, "/projects/p/artifacts", None, None)
            .await
            .error(401, "UNAUTHORIZED");
        s.expect(Method::GET, "/projects/nope/artifacts", ADMIN, None)
            .await
            .error(404, "NOT_FOUND");
    }
}

#[tokio::test]
async fn a_charts_additions_come_from_its_archive() {
    for s in servers().await {
        s.create_project("charts", false, ADMIN).await;
        let chart = json!({"apiVersion": "v2", "name": "web", "version": "1.0.0",
        "dependencies": [
            {"name": "redis", "version": "~17.0", "repository": "oci://charts.example/bitnami",
             "condition": "redis.enabled", "tags": ["cache"]},
            {"name": "common", "version": "2.x", "repository": "", "alias": "lib"},
        ]});
        let values = b"replicas: 2\nimage:\n  tag: stable\n";
        let readme = b"# web\n\nServes the web.\n";
        let archive = chart_archive(
            &chart,
            &[
                ("values.yaml", values),
                ("README.md", readme),
                ("templates/deployment.yaml", b"kind: Deployment\n"),
                ("charts/redis/README.md", b"# a sub-chart's readme\n"),
            ],
        );
        let web = s
            .push_chart("charts/apps/web", "1.0.0", &chart, &archive)
            .await;
        let a = s
            .api_json::<Value>(
                &format!("/projects/charts/repositories/apps%252Fweb/artifacts/{web}"),
                ADMIN,
            )
            .await;
        let fetch = |href: String, who: Option<(&'static str, &'static str)>| {
            let s = &s;
            async move {
                let mut rb = s.anon.get(s.u(&href));
                if let Some((u, p)) = who {
                    rb = rb.basic_auth(u, Some(p));
                }
                rb.send().await.unwrap()
            }
        };
        let link = |name: &str| {
            a["addition_links"][name]["href"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert!(link("values.yaml").contains("/repositories/apps%252Fweb/"));

        let r = fetch(link("values.yaml"), ADMIN).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-type"), "text/plain; charset=utf-8");
        assert_eq!(r.bytes().await.unwrap(), &values[..]);
        let r = fetch(link("readme.md"), ADMIN).await;
        assert_eq!(header(&r, "content-type"), "text/markdown; charset=utf-8");
        assert_eq!(r.bytes().await.unwrap(), &readme[..]);
        let r = fetch(link("dependencies"), ADMIN).await;
        assert!(header(&r, "content-type").starts_with("application/json"));
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!([
                {"name": "redis", "version": "~17.0", "repository": "oci://charts.example/bitnami",
                 "condition": "redis.enabled", "tags": ["cache"]},
                {"name": "common", "version": "2.x", "repository": "", "alias": "lib"},
            ])
        );
        // Harbor compares addition names in any case.
        let r = fetch(link("readme.md").replace("readme.md", "README.MD"), ADMIN).await;
        assert_eq!(r.status(), 200);
        // A private project's chart is not for strangers.
        let r = fetch(link("values.yaml"), None).await;
        expect_error(r, 401, "UNAUTHORIZED").await;
        let r = fetch(
            link("values.yaml").replace("values.yaml", "build_history"),
            ADMIN,
        )
        .await;
        let e = expect_error(r, 400, "BAD_REQUEST").await;
        assert!(
            e.to_string()
                .contains("BUILD_HISTORY isn't supported for CHART"),
            "{e}"
        );

        // A v1 chart lists its dependencies in requirements.yaml; without a
        // README or values its additions are empty, as in Harbor.
        let old = json!({"apiVersion": "v1", "name": "old", "version": "0.1.0"});
        let requirements =
            b"dependencies:\n- name: db\n  version: 1.0.0\n  repository: https://charts.example\n";
        let archive = chart_archive(&old, &[("requirements.yaml", requirements)]);
        s.push_chart("charts/old", "0.1.0", &old, &archive).await;
        let base = "/projects/charts/repositories/old/artifacts/0.1.0/additions";
        let deps = s
            .api_json::<Value>(&format!("{base}/dependencies"), ADMIN)
            .await;
        assert_eq!(
            deps,
            json!([{"name": "db", "version": "1.0.0", "repository": "https://charts.example"}])
        );
        let r = fetch(format!("/api/v2.0{base}/readme.md"), ADMIN).await;
        assert_eq!(r.status(), 200);
        assert!(r.bytes().await.unwrap().is_empty());

        // A chart whose archive is not one says so, and the server stands.
        let broken = s
            .push_chart("charts/broken", "1.0.0", &chart, b"not a gzip stream")
            .await;
        let r = fetch(
            format!("/api/v2.0/projects/charts/repositories/broken/artifacts/{broken}/additions/values.yaml"),
            ADMIN,
        )
        .await;
        let e = expect_error(r, 400, "BAD_REQUEST").await;
        assert!(e.to_string().contains("chart archive"), "{e}");
    }
}
