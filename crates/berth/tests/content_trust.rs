//! Content trust at the pull-check point: a project that asks for cosign
//! (or notation) signatures serves only signed manifests, with Harbor's 412
//! and message, to docker-style clients and to skopeo alike.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{
    cosign_key, digest, push_referrer, skopeo_pull, Server, ADMIN, ADMIN_PASSWORD, OCI_INDEX,
    OCI_MANIFEST,
};
use reqwest::Method;
use serde_json::json;

const COSIGN: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
const NOTATION: &str = "application/vnd.cncf.notary.signature";

/// Turns the project's switches on or off.
async fn switch(s: &Server, key: &str, on: bool) {
    let body = json!({"metadata": {key: on.to_string()}});
    s.expect(Method::PUT, "/projects/p", ADMIN, Some(&body))
        .await
        .is(200);
}

#[tokio::test]
async fn signed_images_only_where_the_project_asks_for_them() {
    let admin = ("admin", ADMIN_PASSWORD);
    for s in common::servers().await {
        s.create_user("puller", "Puller12345").await;
        let member = json!({"role_id": 3, "member_user": {"username": "puller"}});
        s.create("/projects/p/members", ADMIN, member).await;
        let puller = ("puller", "Puller12345");
        let image = s.push_image("p/app", "v1", "trusted").await;
        let other = s.push_image("p/app", "v2", "untrusted").await;

        // Off: anything is served.
        assert_eq!(s.pull_manifest("p/app", "v1", admin, "docker").await.0, 200);

        switch(&s, "enable_content_trust_cosign", true).await;
        let (status, error) = s.pull_manifest("p/app", "v1", admin, "docker").await;
        assert_eq!(status, 412, "{error}");
        assert_eq!(error["code"], "PROJECTPOLICYVIOLATION");
        assert_eq!(error["message"], "The image is not signed by cosign.");
        let head = s
            .anon
            .head(s.u("/v2/p/app/manifests/v1"))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), 412);
        let out = skopeo_pull(&s, "p/app:v1");
        assert!(!out.status.success());
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains("The image is not signed by cosign."),
            "{said}"
        );

        // Signed (a cosign signature referring to it): served, to skopeo too.
        let signature = push_referrer(&s, "p/app", &image, COSIGN).await;
        assert_eq!(s.pull_manifest("p/app", "v1", admin, "docker").await.0, 200);
        assert!(skopeo_pull(&s, "p/app:v1").status.success());
        // The signature itself is served; the other image still is not.
        assert_eq!(
            s.pull_manifest("p/app", &signature, puller, "docker")
                .await
                .0,
            200
        );
        assert_eq!(s.pull_manifest("p/app", "v2", admin, "docker").await.0, 412);
        // cosign's own tag scheme counts too (`sha256-<hex>.sig`).
        let tagged = s.image("p/app", "tag-signature").await;
        let sig_tag = format!("{}.sig", other.0.replacen(':', "-", 1));
        let r = s
            .put_manifest("p/app", &sig_tag, OCI_MANIFEST, &tagged)
            .await;
        assert_eq!(r.status(), 201);
        assert_eq!(s.pull_manifest("p/app", "v2", admin, "docker").await.0, 200);

        // A signing tool that may push reads what it signs; one that may
        // only pull does not.
        let unsigned = s.push_image("p/app", "v3", "to-sign").await;
        assert_eq!(
            s.pull_manifest("p/app", "v3", admin, "cosign/v2.4.1")
                .await
                .0,
            200
        );
        assert_eq!(
            s.pull_manifest("p/app", "v3", puller, "cosign/v2.4.1")
                .await
                .0,
            412
        );
        assert_eq!(
            s.pull_manifest("p/app", "v3", admin, "notation/1.2")
                .await
                .0,
            200
        );

        // An index: its children are served once the index is signed.
        let index =
            common::index_manifest(OCI_INDEX, &[(OCI_MANIFEST, &unsigned.0, unsigned.1.len())]);
        assert_eq!(
            s.put_manifest("p/app", "multi", OCI_INDEX, &index)
                .await
                .status(),
            201
        );
        assert_eq!(
            s.pull_manifest("p/app", "multi", admin, "docker").await.0,
            412
        );
        assert_eq!(
            s.pull_manifest("p/app", &unsigned.0, admin, "docker")
                .await
                .0,
            412
        );
        push_referrer(&s, "p/app", &(digest(&index), index.clone()), COSIGN).await;
        assert_eq!(
            s.pull_manifest("p/app", "multi", admin, "docker").await.0,
            200
        );
        assert_eq!(
            s.pull_manifest("p/app", &unsigned.0, admin, "docker")
                .await
                .0,
            200
        );

        // Notation asks for a notation signature besides.
        switch(&s, "enable_content_trust", true).await;
        let (status, error) = s.pull_manifest("p/app", "v1", admin, "docker").await;
        assert_eq!(status, 412);
        assert_eq!(error["message"], "The image is not signed by notation.");
        push_referrer(&s, "p/app", &image, NOTATION).await;
        assert_eq!(s.pull_manifest("p/app", "v1", admin, "docker").await.0, 200);
        // A signature deleted no longer counts.
        let path = format!("/projects/p/repositories/app/artifacts/{signature}");
        s.expect(Method::DELETE, &path, ADMIN, None).await.is(200);
        let (status, error) = s.pull_manifest("p/app", "v1", admin, "docker").await;
        assert_eq!(status, 412);
        assert_eq!(error["message"], "The image is not signed by cosign.");

        // Off again: everything is served.
        switch(&s, "enable_content_trust_cosign", false).await;
        switch(&s, "enable_content_trust", false).await;
        assert_eq!(
            s.pull_manifest("p/app", "v3", puller, "docker").await.0,
            200
        );
    }
}

/// Pushes a cosign signature of `signed` (the digest its payload names),
/// attached to `subject`, signed with `key`, as cosign writes one: a
/// simple-signing payload as the layer, its signature in an annotation.
async fn cosign_sign(
    s: &Server,
    repo: &str,
    subject: &(String, Vec<u8>),
    signed: &str,
    key: &ring::signature::EcdsaKeyPair,
) {
    use base64::Engine;
    let payload = json!({"critical": {"identity": {"docker-reference": format!("example/{repo}")},
        "image": {"docker-manifest-digest": signed}, "type": "cosign container image signature"},
        "optional": null})
    .to_string();
    let rng = ring::rand::SystemRandom::new();
    let signature = key.sign(&rng, payload.as_bytes()).unwrap();
    let layer = s.push_blob(repo, payload.as_bytes()).await;
    let config = s.push_blob(repo, b"{}").await;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": COSIGN,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2},
        "layers": [{
            "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
            "digest": layer, "size": payload.len(),
            "annotations": {"dev.cosignproject.cosign/signature":
                base64::engine::general_purpose::STANDARD.encode(signature.as_ref())},
        }],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject.0, "size": subject.1.len()},
    })
    .to_string()
    .into_bytes();
    let r = s
        .put_manifest(repo, &digest(&manifest), OCI_MANIFEST, &manifest)
        .await;
    assert_eq!(r.status(), 201);
}

/// Beyond Harbor: a project with cosign public keys serves an image only
/// when a cosign signature of it verifies against one of them.
#[tokio::test]
async fn a_projects_cosign_keys_decide_which_signatures_count() {
    let admin = ("admin", ADMIN_PASSWORD);
    for s in common::servers().await {
        let (signer, signer_pem) = cosign_key();
        let (_, other_pem) = cosign_key();
        let image = s.push_image("p/app", "v1", "keyed").await;
        let forged = s.push_image("p/app", "v2", "forged").await;
        switch(&s, "enable_content_trust_cosign", true).await;
        cosign_sign(&s, "p/app", &image, &image.0, &signer).await;
        // A signature of another digest, attached to v2, proves nothing.
        cosign_sign(&s, "p/app", &forged, &image.0, &signer).await;

        // No key: any signature will do, as in Harbor.
        assert_eq!(s.pull_manifest("p/app", "v1", admin, "docker").await.0, 200);
        assert_eq!(s.pull_manifest("p/app", "v2", admin, "docker").await.0, 200);

        // Keys are managed by the project's administrators.
        let keys = "/projects/p/cosign-keys";
        let add = |name: &str, pem: &str| json!({"name": name, "public_key": pem});
        s.expect(Method::POST, keys, ADMIN, Some(&add("bad", "not a key")))
            .await
            .error(400, "BAD_REQUEST");
        s.create_user("dev", "Passw0rd!").await;
        let member = json!({"role_id": 2, "member_user": {"username": "dev"}});
        s.create("/projects/p/members", ADMIN, member).await;
        s.expect(
            Method::POST,
            keys,
            Some(("dev", "Passw0rd!")),
            Some(&add("k", &other_pem)),
        )
        .await
        .error(403, "FORBIDDEN");
        let created = s
            .expect(Method::POST, keys, ADMIN, Some(&add("other", &other_pem)))
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        let other_id = created
            .header("location")
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        s.expect(Method::POST, keys, ADMIN, Some(&add("other", &signer_pem)))
            .await
            .error(409, "CONFLICT");

        // Another key: the signature does not count.
        let (status, error) = s.pull_manifest("p/app", "v1", admin, "docker").await;
        assert_eq!(
            (status, error["code"].as_str()),
            (412, Some("PROJECTPOLICYVIOLATION"))
        );
        assert_eq!(
            error["message"],
            "The image is signed by cosign, but not with a key of the project."
        );
        assert!(!skopeo_pull(&s, "p/app:v1").status.success());

        // The signer's key: v1 is served; v2's signature names v1, so no.
        s.expect(Method::POST, keys, ADMIN, Some(&add("ci", &signer_pem)))
            .await
            .is(201);
        assert_eq!(s.pull_manifest("p/app", "v1", admin, "docker").await.0, 200);
        assert!(skopeo_pull(&s, "p/app:v1").status.success());
        assert_eq!(s.pull_manifest("p/app", "v2", admin, "docker").await.0, 412);
        let listed = s.expect(Method::GET, keys, ADMIN, None).await.is(200);
        let names: Vec<&str> = (listed.as_array().unwrap().iter())
            .map(|k| k["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["ci", "other"]);
        assert!(listed[0]["public_key"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----"));

        // Keys go; with none left, presence is enough again.
        let listed_ci = listed[0]["id"].as_i64().unwrap();
        for id in [listed_ci.to_string(), other_id] {
            s.expect(Method::DELETE, &format!("{keys}/{id}"), ADMIN, None)
                .await
                .is(200);
        }
        s.expect(Method::DELETE, &format!("{keys}/{listed_ci}"), ADMIN, None)
            .await
            .error(404, "NOT_FOUND");
        assert_eq!(s.pull_manifest("p/app", "v2", admin, "docker").await.0, 200);
    }
}
