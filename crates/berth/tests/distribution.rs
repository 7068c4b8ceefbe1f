//! The OCI distribution API over real HTTP, on every database backend.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn base_and_routing_errors() {
    for s in servers().await {
        let r = s.get("/v2/").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            header(&r, "docker-distribution-api-version"),
            "registry/2.0"
        );
        assert!(!header(&r, "x-request-id").is_empty());
        expect_error(s.get("/v2/Upper/x/tags/list").await, 400, "NAME_INVALID").await;
        expect_error(s.get("/v2/noproject/tags/list").await, 400, "NAME_INVALID").await;
        expect_error(s.get("/v2/a/b/nothing/here").await, 404, "NAME_UNKNOWN").await;
        expect_error(
            s.get("/v2/a/b/blobs/sha256:abc").await,
            400,
            "DIGEST_INVALID",
        )
        .await;
        expect_error(
            s.get("/v2/a/b/blobs/md5:abcdef").await,
            400,
            "DIGEST_INVALID",
        )
        .await;
        let r = s
            .expect(Method::PATCH, "/v2/a/b/tags/list", ADMIN, None)
            .await
            .error(405, "UNSUPPORTED");
        assert!(r["errors"][0]["message"].is_string());
        expect_error(s.get("/v2/a/b/tags/list").await, 404, "NAME_UNKNOWN").await;
    }
}

#[tokio::test]
async fn monolithic_blob_push_and_reads() {
    for s in servers().await {
        let data = bytes(100_000, 1);
        let d = s.push_blob("p/one", &data).await;

        let r = s.head(&format!("/v2/p/one/blobs/{d}")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-length"), "100000");
        assert_eq!(header(&r, "docker-content-digest"), d);

        let r = s.get(&format!("/v2/p/one/blobs/{d}")).await;
        assert_eq!(header(&r, "docker-content-digest"), d);
        assert_eq!(r.bytes().await.unwrap().as_ref(), &data[..]);

        let r = s
            .client
            .get(s.u(&format!("/v2/p/one/blobs/{d}")))
            .header("range", "bytes=10-19")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(header(&r, "content-range"), "bytes 10-19/100000");
        assert_eq!(r.bytes().await.unwrap().as_ref(), &data[10..20]);

        let r = s
            .client
            .get(s.u(&format!("/v2/p/one/blobs/{d}")))
            .header("range", "bytes=-5")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.bytes().await.unwrap().as_ref(), &data[99_995..]);

        let r = s
            .client
            .get(s.u(&format!("/v2/p/one/blobs/{d}")))
            .header("range", "bytes=100000-")
            .send()
            .await
            .unwrap();
        assert_eq!(header(&r, "content-range"), "bytes */100000");
        expect_error(r, 416, "SIZE_INVALID").await;

        // Another repository does not see the blob until it is linked there.
        expect_error(
            s.get(&format!("/v2/p/two/blobs/{d}")).await,
            404,
            "BLOB_UNKNOWN",
        )
        .await;
        let r = s.head(&format!("/v2/p/two/blobs/{d}")).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);

        // A wrong digest is refused and nothing becomes visible.
        let wrong = digest(b"something else");
        let r = s
            .client
            .post(s.u(&format!("/v2/p/one/blobs/uploads/?digest={wrong}")))
            .body(data.clone())
            .send()
            .await
            .unwrap();
        expect_error(r, 400, "DIGEST_INVALID").await;
        expect_error(
            s.get(&format!("/v2/p/one/blobs/{wrong}")).await,
            404,
            "BLOB_UNKNOWN",
        )
        .await;

        // Delete unlinks.
        let r = s.delete(&format!("/v2/p/one/blobs/{d}")).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        expect_error(
            s.get(&format!("/v2/p/one/blobs/{d}")).await,
            404,
            "BLOB_UNKNOWN",
        )
        .await;
        expect_error(
            s.delete(&format!("/v2/p/one/blobs/{d}")).await,
            404,
            "BLOB_UNKNOWN",
        )
        .await;
    }
}

#[tokio::test]
async fn chunked_upload_with_status_and_out_of_order() {
    for s in servers().await {
        let data = bytes(30_000, 2);
        let d = digest(&data);
        let loc = s.start_upload("p/chunked").await;
        let uuid = loc.rsplit('/').next().unwrap().to_string();

        let r = s.client.get(&loc).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(header(&r, "range"), "0-0");
        assert_eq!(header(&r, "docker-upload-uuid"), uuid);

        let r = s
            .client
            .patch(&loc)
            .header("content-range", "0-9999")
            .header("content-type", "application/octet-stream")
            .body(data[..10_000].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        assert_eq!(header(&r, "range"), "0-9999");
        let loc = s.resolve(header(&r, "location"));

        // Out of order: a gap, then an overlap.
        for range in ["20000-29999", "5000-14999"] {
            let r = s
                .client
                .patch(&loc)
                .header("content-range", range)
                .body(data[..10_000].to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(header(&r, "range"), "0-9999");
            expect_error(r, 416, "BLOB_UPLOAD_INVALID").await;
        }
        // Content-Length disagreeing with Content-Range.
        let r = s
            .client
            .patch(&loc)
            .header("content-range", "10000-10009")
            .body(vec![0u8; 5])
            .send()
            .await
            .unwrap();
        expect_error(r, 400, "SIZE_INVALID").await;

        // A streamed chunk without Content-Range.
        let r = s
            .client
            .patch(&loc)
            .body(data[10_000..20_000].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        assert_eq!(header(&r, "range"), "0-19999");

        let r = s.client.get(&loc).send().await.unwrap();
        assert_eq!(header(&r, "range"), "0-19999");

        // PUT without digest, with a bad digest.
        let r = s.client.put(&loc).send().await.unwrap();
        expect_error(r, 400, "DIGEST_INVALID").await;

        // Close with the last chunk.
        let r = s
            .client
            .put(format!("{loc}?digest={d}"))
            .header("content-range", "20000-29999")
            .body(data[20_000..].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(header(&r, "docker-content-digest"), d);
        assert_eq!(header(&r, "location"), format!("/v2/p/chunked/blobs/{d}"));
        let got = s
            .get(&format!("/v2/p/chunked/blobs/{d}"))
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(got.as_ref(), &data[..]);

        // The session is gone.
        expect_error(
            s.client.get(&loc).send().await.unwrap(),
            404,
            "BLOB_UPLOAD_UNKNOWN",
        )
        .await;
    }
}

#[tokio::test]
async fn upload_put_without_last_chunk_and_digest_mismatch() {
    for s in servers().await {
        let data = bytes(5000, 3);
        let loc = s.start_upload("p/u").await;
        let r = s
            .client
            .patch(&loc)
            .body(data.clone())
            .send()
            .await
            .unwrap();
        let loc = s.resolve(header(&r, "location"));
        let r = s
            .client
            .put(format!("{loc}?digest={}", digest(&data)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);

        let loc = s.start_upload("p/u").await;
        s.client
            .patch(&loc)
            .body(data.clone())
            .send()
            .await
            .unwrap();
        let wrong = digest(b"nope");
        let r = s
            .client
            .put(format!("{loc}?digest={wrong}"))
            .send()
            .await
            .unwrap();
        expect_error(r, 400, "DIGEST_INVALID").await;
        expect_error(
            s.get(&format!("/v2/p/u/blobs/{wrong}")).await,
            404,
            "BLOB_UNKNOWN",
        )
        .await;
        // A mismatch ends the session.
        expect_error(
            s.client.get(&loc).send().await.unwrap(),
            404,
            "BLOB_UPLOAD_UNKNOWN",
        )
        .await;

        // An empty blob.
        let loc = s.start_upload("p/u").await;
        let empty = digest(b"");
        let r = s
            .client
            .put(format!("{loc}?digest={empty}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = s.head(&format!("/v2/p/u/blobs/{empty}")).await;
        assert_eq!(header(&r, "content-length"), "0");
    }
}

#[tokio::test]
async fn cancel_and_unknown_uploads() {
    for s in servers().await {
        let loc = s.start_upload("p/c").await;
        s.client
            .patch(&loc)
            .body(vec![1u8; 100])
            .send()
            .await
            .unwrap();
        // A session belongs to its repository.
        let foreign = loc.replace("/p/c/", "/p/other/");
        expect_error(
            s.client.get(&foreign).send().await.unwrap(),
            404,
            "BLOB_UPLOAD_UNKNOWN",
        )
        .await;
        let r = s.client.delete(&loc).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        expect_error(
            s.client.get(&loc).send().await.unwrap(),
            404,
            "BLOB_UPLOAD_UNKNOWN",
        )
        .await;
        expect_error(
            s.client.delete(&loc).send().await.unwrap(),
            404,
            "BLOB_UPLOAD_UNKNOWN",
        )
        .await;
        let r = s
            .client
            .patch(s.u("/v2/p/c/blobs/uploads/not-a-uuid"))
            .body("x")
            .send()
            .await
            .unwrap();
        expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
        let r = s
            .client
            .patch(s.u("/v2/p/c/blobs/uploads/00000000-0000-0000-0000-000000000000"))
            .body("x")
            .send()
            .await
            .unwrap();
        expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
        let r = s
            .client
            .patch(&loc)
            .header("content-range", "garbage")
            .body("x")
            .send()
            .await
            .unwrap();
        expect_error(r, 416, "BLOB_UPLOAD_INVALID").await;
    }
}

#[tokio::test]
async fn cross_repository_mount() {
    for s in servers().await {
        let data = bytes(2048, 4);
        let d = s.push_blob("p/src", &data).await;
        let r = s
            .client
            .post(s.u(&format!("/v2/p/dst/blobs/uploads/?mount={d}&from=p/src")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(header(&r, "location"), format!("/v2/p/dst/blobs/{d}"));
        assert_eq!(header(&r, "docker-content-digest"), d);
        assert_eq!(
            s.get(&format!("/v2/p/dst/blobs/{d}"))
                .await
                .bytes()
                .await
                .unwrap()
                .as_ref(),
            &data[..]
        );

        // The source lacks it: a session is opened instead.
        let other = digest(b"not pushed");
        let r = s
            .client
            .post(s.u(&format!(
                "/v2/p/dst2/blobs/uploads/?mount={other}&from=p/src"
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        assert!(header(&r, "location").contains("/v2/p/dst2/blobs/uploads/"));
        // Without from: a session too (no blind cross-project mounts).
        let r = s
            .client
            .post(s.u(&format!("/v2/p/dst3/blobs/uploads/?mount={d}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        s.expect(
            Method::POST,
            "/v2/p/dst/blobs/uploads/?mount=sha256:bad&from=p/src",
            ADMIN,
            None,
        )
        .await
        .error(400, "DIGEST_INVALID");
    }
}

#[tokio::test]
async fn image_manifest_push_pull_delete() {
    for s in servers().await {
        let repo = "p/img";
        let config = br#"{"architecture":"amd64","os":"linux"}"#;
        let layer = bytes(4096, 5);
        let missing_layer = digest(b"never pushed");
        let cd = s.push_blob(repo, config).await;
        let body = image_manifest(
            OCI_MANIFEST,
            (OCI_CONFIG, &cd, config.len()),
            &[(OCI_LAYER, &missing_layer, 12)],
            None,
        );
        let r = s.put_manifest(repo, "v1", OCI_MANIFEST, &body).await;
        let err = expect_error(r, 400, "MANIFEST_BLOB_UNKNOWN").await;
        assert_eq!(err["errors"][0]["detail"]["digest"], missing_layer);

        let ld = s.push_blob(repo, &layer).await;
        // Sizes must agree with the stored blob.
        let body = image_manifest(
            OCI_MANIFEST,
            (OCI_CONFIG, &cd, config.len()),
            &[(OCI_LAYER, &ld, 1)],
            None,
        );
        expect_error(
            s.put_manifest(repo, "v1", OCI_MANIFEST, &body).await,
            400,
            "MANIFEST_INVALID",
        )
        .await;

        let body = image_manifest(
            OCI_MANIFEST,
            (OCI_CONFIG, &cd, config.len()),
            &[(OCI_LAYER, &ld, layer.len())],
            None,
        );
        let md = digest(&body);
        // Content-Type disagreeing with the body.
        expect_error(
            s.put_manifest(repo, "v1", OCI_INDEX, &body).await,
            400,
            "MANIFEST_INVALID",
        )
        .await;
        // Digest reference disagreeing with the body.
        let wrong = digest(b"x");
        expect_error(
            s.put_manifest(repo, &wrong, OCI_MANIFEST, &body).await,
            400,
            "DIGEST_INVALID",
        )
        .await;
        expect_error(
            s.put_manifest(repo, "v1", OCI_MANIFEST, b"{not json").await,
            400,
            "MANIFEST_INVALID",
        )
        .await;
        expect_error(
            s.put_manifest(repo, "-bad-tag", OCI_MANIFEST, &body).await,
            400,
            "MANIFEST_INVALID",
        )
        .await;
        let huge = vec![b' '; 4 * 1024 * 1024 + 1];
        expect_error(
            s.put_manifest(repo, "v1", OCI_MANIFEST, &huge).await,
            413,
            "MANIFEST_INVALID",
        )
        .await;

        let r = s.put_manifest(repo, "v1", OCI_MANIFEST, &body).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(header(&r, "docker-content-digest"), md);
        assert_eq!(header(&r, "location"), format!("/v2/{repo}/manifests/{md}"));
        assert!(r.headers().get("oci-subject").is_none());
        // Stored here, it is not stored in a repository without its blobs.
        let r = s.put_manifest("p/bare", "v1", OCI_MANIFEST, &body).await;
        expect_error(r, 400, "MANIFEST_BLOB_UNKNOWN").await;
        // Pushed again here, it gains the tag.
        let r = s.put_manifest(repo, "v1-again", OCI_MANIFEST, &body).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(header(&r, "docker-content-digest"), md);

        for reference in ["v1", "v1-again", md.as_str()] {
            let r = s.get(&format!("/v2/{repo}/manifests/{reference}")).await;
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(header(&r, "content-type"), OCI_MANIFEST);
            assert_eq!(header(&r, "docker-content-digest"), md);
            assert_eq!(r.bytes().await.unwrap().as_ref(), &body[..]);
            let r = s.head(&format!("/v2/{repo}/manifests/{reference}")).await;
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(header(&r, "content-length"), body.len().to_string());
            assert_eq!(header(&r, "docker-content-digest"), md);
        }
        expect_error(
            s.get(&format!("/v2/{repo}/manifests/nope")).await,
            404,
            "MANIFEST_UNKNOWN",
        )
        .await;
        expect_error(s.get("/v2/p/none/manifests/v1").await, 404, "NAME_UNKNOWN").await;
        let r = s.head(&format!("/v2/{repo}/manifests/nope")).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);

        // Untag by tag; the manifest stays reachable by digest.
        assert_eq!(
            s.delete(&format!("/v2/{repo}/manifests/v1")).await.status(),
            StatusCode::ACCEPTED
        );
        expect_error(
            s.get(&format!("/v2/{repo}/manifests/v1")).await,
            404,
            "MANIFEST_UNKNOWN",
        )
        .await;
        assert_eq!(
            s.get(&format!("/v2/{repo}/manifests/{md}")).await.status(),
            StatusCode::OK
        );
        expect_error(
            s.delete(&format!("/v2/{repo}/manifests/v1")).await,
            404,
            "MANIFEST_UNKNOWN",
        )
        .await;
        // Delete by digest.
        assert_eq!(
            s.delete(&format!("/v2/{repo}/manifests/{md}"))
                .await
                .status(),
            StatusCode::ACCEPTED
        );
        expect_error(
            s.get(&format!("/v2/{repo}/manifests/{md}")).await,
            404,
            "MANIFEST_UNKNOWN",
        )
        .await;
        // Blobs survive manifest deletion (GC reclaims them).
        assert_eq!(
            s.head(&format!("/v2/{repo}/blobs/{ld}")).await.status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn indexes_and_docker_types() {
    for s in servers().await {
        let repo = "p/multi";
        let mut children = Vec::new();
        for (i, arch) in ["amd64", "arm64"].iter().enumerate() {
            let config = format!(r#"{{"architecture":"{arch}","os":"linux"}}"#).into_bytes();
            let layer = bytes(1000, 10 + i as u64);
            let cd = s.push_blob(repo, &config).await;
            let ld = s.push_blob(repo, &layer).await;
            let body = image_manifest(
                DOCKER_MANIFEST,
                (DOCKER_CONFIG, &cd, config.len()),
                &[(DOCKER_LAYER, &ld, layer.len())],
                None,
            );
            let d = digest(&body);
            let r = s.put_manifest(repo, &d, DOCKER_MANIFEST, &body).await;
            assert_eq!(r.status(), StatusCode::CREATED);
            children.push((d, body.len()));
        }
        let refs: Vec<(&str, &str, usize)> = children
            .iter()
            .map(|(d, n)| (DOCKER_MANIFEST, d.as_str(), *n))
            .collect();
        let list = index_manifest(DOCKER_LIST, &refs);
        let r = s.put_manifest(repo, "latest", DOCKER_LIST, &list).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = s.get(&format!("/v2/{repo}/manifests/latest")).await;
        assert_eq!(header(&r, "content-type"), DOCKER_LIST);

        // An index whose child is missing.
        let ghost = digest(b"ghost");
        let bad = index_manifest(OCI_INDEX, &[(OCI_MANIFEST, &ghost, 10)]);
        let err = expect_error(
            s.put_manifest(repo, "bad", OCI_INDEX, &bad).await,
            400,
            "MANIFEST_BLOB_UNKNOWN",
        )
        .await;
        assert_eq!(err["errors"][0]["detail"]["digest"], ghost);

        // A child referenced by an index cannot be deleted; the index can,
        // and as in Harbor its untagged children go with it.
        let r = s
            .delete(&format!("/v2/{repo}/manifests/{}", children[0].0))
            .await;
        expect_error(r, 412, "DENIED").await;
        let ld = digest(&list);
        assert_eq!(
            s.delete(&format!("/v2/{repo}/manifests/{ld}"))
                .await
                .status(),
            StatusCode::ACCEPTED
        );
        for (child, _) in &children {
            let r = s.get(&format!("/v2/{repo}/manifests/{child}")).await;
            expect_error(r, 404, "MANIFEST_UNKNOWN").await;
        }
    }
}

#[tokio::test]
async fn artifacts_subject_referrers_and_multi_tag() {
    for s in servers().await {
        let repo = "p/art";
        let (subject, subject_body) = s.push_image(repo, "v1", "subj").await;
        let mut referrers = Vec::new();
        for (i, at) in [
            "application/vnd.example.sbom",
            "application/vnd.example.sig",
        ]
        .iter()
        .enumerate()
        {
            let annotations = json!({"org.example.i": i.to_string()});
            let to = (subject.as_str(), subject_body.len());
            let body = referrer_manifest(&s, repo, to, at, Some(annotations)).await;
            let d = digest(&body);
            let r = s.put_manifest(repo, &d, OCI_MANIFEST, &body).await;
            assert_eq!(r.status(), StatusCode::CREATED);
            assert_eq!(header(&r, "oci-subject"), subject);
            referrers.push((d, body.len(), *at));
        }
        let r = s.get(&format!("/v2/{repo}/referrers/{subject}")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-type"), OCI_INDEX);
        assert!(r.headers().get("oci-filters-applied").is_none());
        let idx: Value = r.json().await.unwrap();
        assert_eq!(idx["schemaVersion"], 2);
        assert_eq!(idx["mediaType"], OCI_INDEX);
        let got = idx["manifests"].as_array().unwrap();
        assert_eq!(got.len(), 2);
        for (d, n, at) in &referrers {
            let m = got
                .iter()
                .find(|m| m["digest"] == *d)
                .expect("referrer listed");
            assert_eq!(m["size"], *n);
            assert_eq!(m["artifactType"], *at);
            assert_eq!(m["mediaType"], OCI_MANIFEST);
            assert!(m["annotations"]["org.example.i"].is_string());
        }
        let r = s
            .get(&format!(
                "/v2/{repo}/referrers/{subject}?artifactType=application/vnd.example.sig"
            ))
            .await;
        assert_eq!(header(&r, "oci-filters-applied"), "artifactType");
        let idx: Value = r.json().await.unwrap();
        assert_eq!(idx["manifests"].as_array().unwrap().len(), 1);
        assert_eq!(idx["manifests"][0]["digest"], referrers[1].0);

        // Unknown subject: an empty index.
        let r = s
            .get(&format!("/v2/{repo}/referrers/{}", digest(b"none")))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let idx: Value = r.json().await.unwrap();
        assert_eq!(idx["manifests"], json!([]));
        expect_error(
            s.get(&format!("/v2/{repo}/referrers/sha256:zz")).await,
            400,
            "DIGEST_INVALID",
        )
        .await;

        // PUT by digest with ?tag= creates every tag and reports them.
        let (_, body) = s.push_image(repo, "tmp", "multi").await;
        let d = digest(&body);
        let r = s
            .client
            .put(s.u(&format!(
                "/v2/{repo}/manifests/{d}?tag=a1&tag=a2&tag=latest"
            )))
            .header("content-type", OCI_MANIFEST)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let tags: Vec<&str> = r
            .headers()
            .get_all("oci-tag")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(tags, vec!["a1", "a2", "latest"]);
        for t in ["a1", "a2", "latest"] {
            let r = s.head(&format!("/v2/{repo}/manifests/{t}")).await;
            assert_eq!(header(&r, "docker-content-digest"), d);
        }
    }
}

#[tokio::test]
async fn tags_and_catalog_paginate() {
    for s in servers().await {
        let (_, body) = s.push_image("p/tags", "seed", "t").await;
        for i in 0..25 {
            let r = s
                .put_manifest("p/tags", &format!("t{i:02}"), OCI_MANIFEST, &body)
                .await;
            assert_eq!(r.status(), StatusCode::CREATED);
        }
        let r = s.get("/v2/p/tags/tags/list").await;
        let all: Value = r.json().await.unwrap();
        assert_eq!(all["name"], "p/tags");
        assert_eq!(all["tags"].as_array().unwrap().len(), 26);
        assert_eq!(all["tags"][0], "seed");
        assert_eq!(all["tags"][1], "t00");

        let mut seen = Vec::new();
        let mut next = Some("/v2/p/tags/tags/list?n=10".to_string());
        while let Some(path) = next {
            let r = s.get(&path).await;
            next = r.headers().get("link").map(|l| {
                let l = l.to_str().unwrap();
                assert!(l.ends_with("rel=\"next\""), "{l}");
                l[l.find('<').unwrap() + 1..l.find('>').unwrap()].to_string()
            });
            let page: Value = r.json().await.unwrap();
            let tags = page["tags"].as_array().unwrap();
            assert!(tags.len() <= 10);
            seen.extend(tags.iter().map(|t| t.as_str().unwrap().to_string()));
        }
        assert_eq!(seen.len(), 26);
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted);

        let page: Value = s
            .get("/v2/p/tags/tags/list?n=5&last=t10")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["tags"], json!(["t11", "t12", "t13", "t14", "t15"]));
        expect_error(s.get("/v2/p/tags/tags/list?n=x").await, 400, "UNSUPPORTED").await;

        for r in ["p/c1", "p/c2", "q/c3"] {
            s.push_image(r, "v", r).await;
        }
        // A repository with blobs but no manifest is not listed.
        s.push_blob("p/empty", b"only a blob").await;
        let cat: Value = s.get("/v2/_catalog").await.json().await.unwrap();
        assert_eq!(
            cat["repositories"],
            json!(["p/c1", "p/c2", "p/tags", "q/c3"])
        );
        let r = s.get("/v2/_catalog?n=2").await;
        assert!(header(&r, "link").contains("last=p%2Fc2"));
        let cat: Value = r.json().await.unwrap();
        assert_eq!(cat["repositories"], json!(["p/c1", "p/c2"]));
        let cat: Value = s
            .get("/v2/_catalog?n=2&last=p/c2")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(cat["repositories"], json!(["p/tags", "q/c3"]));
    }
}

/// What a GET of a manifest answers: its digest, or the status and error code.
async fn served(s: &Server, repo: &str, reference: &str) -> Result<String, (u16, String)> {
    let path = format!("/v2/{repo}/manifests/{reference}");
    let head = s.head(&path).await.status().as_u16();
    let r = s
        .client
        .get(s.u(&path))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    assert_eq!(head, status, "HEAD and GET of {path} agree");
    if status == 200 {
        return Ok(header(&r, "docker-content-digest").to_string());
    }
    let v: Value = r.json().await.unwrap();
    Err((status, v["errors"][0]["code"].as_str().unwrap().to_string()))
}

/// A figure of the manifest cache from `/metrics` (hits, misses, bytes).
async fn cache_figure(s: &Server, name: &str) -> f64 {
    let text = s.get("/metrics").await.text().await.unwrap();
    let line = (text.lines())
        .find_map(|l| l.strip_prefix(&format!("berth_manifest_cache_{name} ")))
        .unwrap_or_else(|| panic!("no berth_manifest_cache_{name} in:\n{text}"));
    line.trim().parse().unwrap()
}

/// Pulls are answered from memory once read (the metrics count them), and
/// each change this server makes is seen by the very next pull: a tag
/// moved, a manifest deleted, a tag deleted, a repository deleted.
#[tokio::test]
async fn pulls_see_each_change_at_once() {
    let unknown = |code: &str| Err((404, code.to_string()));
    for (backend, url) in databases().await {
        let s = Server::start_with(backend, url, &["--metrics"]).await;
        let repo = "p/hot";
        let (d1, _) = s.push_image(repo, "v1", "one").await;
        for _ in 0..3 {
            assert_eq!(served(&s, repo, "v1").await, Ok(d1.clone()));
            assert_eq!(served(&s, repo, &d1).await, Ok(d1.clone()));
        }
        let hits = cache_figure(&s, "hits_total").await;
        assert!(hits >= 8.0, "{backend}: {hits} pulls from memory");
        assert!(cache_figure(&s, "bytes").await > 0.0);

        let (d2, _) = s.push_image(repo, "v1", "two").await;
        assert_eq!(served(&s, repo, "v1").await, Ok(d2.clone()), "{backend}");
        assert_eq!(served(&s, repo, &d1).await, Ok(d1.clone()));
        let r = s.delete(&format!("/v2/{repo}/manifests/{d1}")).await;
        assert_eq!(r.status(), 202);
        assert_eq!(served(&s, repo, &d1).await, unknown("MANIFEST_UNKNOWN"));

        assert_eq!(served(&s, repo, &d2).await, Ok(d2.clone()));
        let untag = format!("/projects/p/repositories/hot/artifacts/{d2}/tags/v1");
        let r = s.api(Method::DELETE, &untag, ADMIN).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(served(&s, repo, "v1").await, unknown("MANIFEST_UNKNOWN"));
        assert_eq!(served(&s, repo, &d2).await, Ok(d2.clone()));

        let two = s.image(repo, "two").await;
        assert_eq!(
            s.put_manifest(repo, "v2", OCI_MANIFEST, &two)
                .await
                .status(),
            201
        );
        assert_eq!(served(&s, repo, "v2").await, Ok(d2.clone()));
        let r = s.api(Method::DELETE, "/projects/p/repositories/hot", ADMIN);
        assert_eq!(r.send().await.unwrap().status(), 200);
        assert_eq!(served(&s, repo, "v2").await, unknown("NAME_UNKNOWN"));
        assert_eq!(served(&s, repo, &d2).await, unknown("NAME_UNKNOWN"));
    }

    // With no memory for it, every pull reads the database.
    let s = Server::start_with("sqlite", None, &["--metrics", "--manifest-cache-mb", "0"]).await;
    let (d, _) = s.push_image("p/cold", "v1", "cold").await;
    for _ in 0..3 {
        assert_eq!(served(&s, "p/cold", "v1").await, Ok(d.clone()));
    }
    assert_eq!(cache_figure(&s, "hits_total").await, 0.0);
    assert!(cache_figure(&s, "misses_total").await >= 6.0);
    assert_eq!(cache_figure(&s, "bytes").await, 0.0);
}
