//! Object storage as a client sees it: with `--storage-redirect`, blob
//! downloads go to a presigned URL of the bucket. (The whole suite runs on
//! S3 for its PostgreSQL servers; this is what only a setting changes.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

#[tokio::test]
async fn downloads_redirect_to_a_presigned_url_when_configured() {
    for (backend, url) in databases().await {
        // Servers on PostgreSQL keep blobs in S3 when the suite has a server.
        let on_s3 = backend == "postgres" && std::env::var_os("BERTH_TEST_S3").is_some();
        if !on_s3 {
            // Filesystem storage: the setting is refused, Berth serves bytes itself.
            let out = berth()
                .args(["serve", "--storage-redirect"])
                .output()
                .unwrap();
            assert!(!out.status.success());
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("storage_redirect needs storage_url"), "{err}");
            continue;
        }
        let s = Server::start_with(backend, url, &["--storage-redirect"]).await;
        let data = bytes(70_000, 5);
        let d = s.push_blob("p/app", &data).await;
        let path = format!("/v2/p/app/blobs/{d}");
        let no_follow = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = no_follow
            .get(s.u(&path))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .send()
            .await
            .unwrap();
        let (endpoint, bucket) = s.bucket.as_ref().unwrap();
        assert_eq!(r.status(), 307);
        assert_eq!(header(&r, "docker-content-digest"), d);
        let location = header(&r, "location").to_string();
        assert!(
            location.starts_with(&format!("{endpoint}/{bucket}/blobs/sha256/")),
            "{location}"
        );
        assert!(location.contains("X-Amz-Signature="), "{location}");
        // Anyone holding the URL reads the blob, with no credentials of Berth's.
        let got = reqwest::get(&location).await.unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.bytes().await.unwrap(), data);
        // HEAD still answers from Berth.
        assert_eq!(s.head(&path).await.status(), 200);
    }
}
