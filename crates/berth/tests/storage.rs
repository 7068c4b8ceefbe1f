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

/// Every blob key under `blobs/` in the container.
async fn listed(azurite: &berth_testkit::azurite::Azurite, container: &str) -> Vec<String> {
    use futures_util::TryStreamExt;
    use object_store::ObjectStore as _;
    let store = object_store::azure::MicrosoftAzureBuilder::new()
        .with_account(berth_testkit::azurite::ACCOUNT)
        .with_access_key(berth_testkit::azurite::KEY)
        .with_endpoint(azurite.endpoint.clone())
        .with_allow_http(true)
        .with_container_name(container)
        .build()
        .unwrap();
    let objects: Vec<_> = store
        .list(Some(&"blobs".into()))
        .try_collect()
        .await
        .unwrap();
    objects.iter().map(|o| o.location.to_string()).collect()
}

#[tokio::test]
async fn blobs_live_in_azure_blob_storage_with_az_urls() {
    let azurite = berth_testkit::azurite::Azurite::start().await;
    azurite.create_container("berth").await;
    let mut flags = azurite.berth_flags("berth");
    flags.extend(["--gc-min-window-seconds".into(), "1".into()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let s = Server::start_with("sqlite", None, &flags).await;

    // An image, and a blob of 20 MiB in PATCHes of 3 MiB: parts of 8 MiB
    // are cut across the PATCHes, and the rest is joined at the end.
    let (_, manifest) = s.push_image("p/app", "v1", "azure").await;
    let big = bytes(20 * 1024 * 1024, 9);
    let d = digest(&big);
    s.registry()
        .push_chunked("p/app", &big, &d, 3 * 1024 * 1024)
        .await
        .unwrap();
    let path = format!("/v2/p/app/blobs/{d}");
    let got = s.get(&path).await;
    assert_eq!(got.status(), 200);
    assert!(
        got.bytes().await.unwrap() == big,
        "the blob comes back whole"
    );
    let part = (s.client.get(s.u(&path)))
        .header("range", "bytes=10485760-10485769")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap(), big[10_485_760..10_485_770]);
    let m = s.get("/v2/p/app/manifests/v1").await;
    assert_eq!(m.bytes().await.unwrap(), manifest);
    let hex = d.strip_prefix("sha256:").unwrap();
    let key = format!("blobs/sha256/{}/{hex}", &hex[..2]);
    assert!(listed(&azurite, "berth").await.contains(&key));

    // Garbage collection deletes the objects no artifact uses.
    sleep_ms(1100).await;
    let gc = s.start_gc(serde_json::json!({"time_window": 0})).await;
    s.wait_gc(gc).await;
    assert_eq!(s.head(&path).await.status(), 404);
    let left = listed(&azurite, "berth").await;
    assert!(!left.contains(&key), "{left:?}");
    assert_eq!(left.len(), 2, "the image's config and layer stay: {left:?}");

    // Downloads may go to a URL signed with the account key.
    azurite.create_container("signed").await;
    let mut flags = azurite.berth_flags("signed");
    flags.push("--storage-redirect".into());
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let s = Server::start_with("sqlite", None, &flags).await;
    let data = bytes(70_000, 6);
    let d = s.push_blob("p/app", &data).await;
    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = (no_follow.get(s.u(&format!("/v2/p/app/blobs/{d}"))))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    let location = header(&r, "location").to_string();
    assert!(location.starts_with(&format!("{}/signed/blobs/sha256/", azurite.endpoint)));
    assert!(location.contains("sig="), "{location}");
    let got = reqwest::get(&location).await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap(), data);
}
