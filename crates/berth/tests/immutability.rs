//! Tag immutability: a project's rules keep matching tags where they are,
//! against pushes (skopeo included), tag, artifact and repository deletes,
//! for everyone; disabled rules and other tags do not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::process::Command;

/// A rule protecting tags matching `tags` in repositories matching `repos`.
fn rule(tags: &str, repos: &str) -> Value {
    json!({
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": tags}],
        "scope_selectors": {"repository": [
            {"kind": "doublestar", "decoration": "repoMatches", "pattern": repos}
        ]},
    })
}

#[tokio::test]
async fn immutable_tags_stay_where_they_are() {
    for s in servers().await {
        s.create_project("imm", false, ADMIN).await;
        for (user, role) in [("mai", 4), ("dev", 2)] {
            s.create_user(user, "Passw0rd-1").await;
            let member = json!({"role_id": role, "member_user": {"username": user}});
            s.create("/projects/imm/members", ADMIN, member).await;
        }
        let (mai, dev) = (Some(("mai", "Passw0rd-1")), Some(("dev", "Passw0rd-1")));
        let rules = "/projects/imm/immutabletagrules";

        // Maintainers keep the rules.
        (s.expect(Method::POST, rules, dev, Some(&rule("v1.*", "**")))
            .await)
            .error(403, "FORBIDDEN");
        let id = s.create(rules, mai, rule("v1.*", "**")).await;
        (s.expect(Method::POST, rules, mai, Some(&rule("v1.*", "**")))
            .await)
            .error(409, "CONFLICT");
        let mut bad = rule("v1.*", "**");
        bad["tag_selectors"][0]["decoration"] = json!("repoMatches");
        (s.expect(Method::POST, rules, mai, Some(&bad)).await).error(400, "BAD_REQUEST");
        let listed = s.expect(Method::GET, rules, mai, None).await.is(200);
        assert_eq!(listed[0]["id"], id);
        assert_eq!(listed[0]["action"], "immutable");
        assert_eq!(listed[0]["template"], "immutable_template");
        assert_eq!(listed[0]["disabled"], false);
        (s.expect(Method::GET, rules, dev, None).await).error(403, "FORBIDDEN");

        // A protected tag keeps its digest; pushing that digest again is fine.
        let (v1, body) = s.push_image("imm/app", "v1.0", "first").await;
        s.push_image("imm/app", "latest", "first").await;
        let other = s.image("imm/app", "second").await;
        let r = s
            .put_manifest("imm/app", "v1.0", OCI_MANIFEST, &other)
            .await;
        assert_eq!(r.status(), 412);
        let e: Value = r.json().await.unwrap();
        assert_eq!(
            e["errors"][0]["message"],
            "Failed to process request due to 'app:v1.0' configured as immutable."
        );
        let r = s.put_manifest("imm/app", "v1.0", OCI_MANIFEST, &body).await;
        assert_eq!(r.status(), 201);
        let r = s
            .put_manifest("imm/app", "latest", OCI_MANIFEST, &other)
            .await;
        assert_eq!(r.status(), 201, "an unprotected tag moves");

        // skopeo is refused the same way.
        let host = s.url.trim_start_matches("http://");
        let copy = |dest: &str| {
            Command::new("skopeo")
                .args([
                    "--insecure-policy",
                    "copy",
                    "-q",
                    "--src-tls-verify=false",
                    "--dest-tls-verify=false",
                ])
                .args(["--src-creds", &format!("admin:{ADMIN_PASSWORD}")])
                .args(["--dest-creds", &format!("admin:{ADMIN_PASSWORD}")])
                .arg(format!("docker://{host}/imm/app:latest"))
                .arg(format!("docker://{host}/imm/app:{dest}"))
                .output()
                .expect("skopeo (scripts/test.sh installs it)")
        };
        let out = copy("v1.0");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("configured as immutable"), "{err}");
        let out = copy("v2.0");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        // Nobody deletes it, its artifact or its repository.
        let art = format!("/projects/imm/repositories/app/artifacts/{v1}");
        let e = (s
            .expect(Method::DELETE, &format!("{art}/tags/v1.0"), ADMIN, None)
            .await)
            .error(412, "PRECONDITION");
        assert!(
            e.to_string()
                .contains("the tag v1.0 configured as immutable, cannot be deleted"),
            "{e}"
        );
        (s.expect(Method::DELETE, &art, ADMIN, None).await).error(412, "PRECONDITION");
        let r = s.delete(&format!("/v2/imm/app/manifests/{v1}")).await;
        assert_eq!(r.status(), 412);
        (s.expect(
            Method::DELETE,
            "/projects/imm/repositories/app",
            ADMIN,
            None,
        )
        .await)
            .error(412, "PRECONDITION");

        // Tag lists say which tags are immutable.
        let tags = format!("{art}/tags?with_immutable_status=true");
        let listed = s.expect(Method::GET, &tags, dev, None).await.is(200);
        let status: Vec<(String, bool)> = (listed.as_array().unwrap().iter())
            .map(|t| {
                (
                    t["name"].as_str().unwrap().into(),
                    t["immutable"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(status, [("v1.0".to_string(), true)]);
        let arts = "/projects/imm/repositories/app/artifacts?with_immutable_status=true";
        let listed = s.expect(Method::GET, arts, dev, None).await.is(200);
        let latest = (listed.as_array().unwrap().iter())
            .flat_map(|a| a["tags"].as_array().unwrap().iter())
            .find(|t| t["name"] == "latest")
            .unwrap()
            .clone();
        assert_eq!(latest["immutable"], false);

        // A disabled rule protects nothing; a rule is changed by its own id.
        let mut off = rule("v1.*", "**");
        off["disabled"] = json!(true);
        let path = format!("{rules}/{id}");
        (s.expect(Method::PUT, &path, mai, Some(&off)).await).error(400, "BAD_REQUEST");
        off["id"] = json!(id);
        (s.expect(Method::PUT, &path, mai, Some(&off)).await).is(200);
        assert_eq!(
            s.expect(Method::GET, rules, mai, None).await.is(200)[0]["disabled"],
            true
        );
        (s.expect(Method::DELETE, &format!("{art}/tags/v1.0"), dev, None)
            .await)
            .error(403, "FORBIDDEN");
        (s.expect(Method::DELETE, &format!("{art}/tags/v1.0"), mai, None)
            .await)
            .is(200);
        (s.expect(Method::DELETE, &path, mai, None).await).is(200);
        (s.expect(Method::DELETE, &path, mai, None).await).error(404, "NOT_FOUND");
    }
}

/// Pushes racing one another (on SQLite the writer commits them in
/// groups, and a refused one sends its group back to run alone) each get
/// their own answer, and only the accepted ones took effect.
#[tokio::test]
async fn racing_pushes_each_get_their_own_answer() {
    for s in servers().await {
        s.create_project("race", false, ADMIN).await;
        s.create("/projects/race/immutabletagrules", ADMIN, rule("v*", "**"))
            .await;
        let (first, _) = s.push_image("race/app", "v0", "first").await;
        for i in 1..16 {
            s.push_image("race/app", &format!("v{i}"), "first").await;
        }
        let second = s.image("race/app", "second").await;
        let pushes = (0..32).map(|i| {
            let (s, second) = (&s, &second);
            // Even: a protected tag moved (refused); odd: a new tag.
            let tag = if i % 2 == 0 {
                format!("v{}", i / 2)
            } else {
                format!("n{i}")
            };
            async move {
                let r = s.put_manifest("race/app", &tag, OCI_MANIFEST, second).await;
                (tag, r.status().as_u16())
            }
        });
        for (tag, status) in futures_util::future::join_all(pushes).await {
            let want = if tag.starts_with('v') { 412 } else { 201 };
            assert_eq!(status, want, "{tag}");
            let r = s.head(&format!("/v2/race/app/manifests/{tag}")).await;
            let now = if tag.starts_with('v') {
                &first
            } else {
                &digest(&second)
            };
            assert_eq!(header(&r, "docker-content-digest"), now, "{tag}");
        }
    }
}
