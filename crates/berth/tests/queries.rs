//! Harbor's list query language on the v2.0 API: `q` (exact, `~` fuzzy,
//! `[a~b]` range, `{a b}` or, `(a b)` and) and `sort`, on every database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reqwest::Method;
use serde_json::Value;

/// GETs a list as admin; returns the `name`-like field of each row and X-Total-Count.
async fn names(s: &Server, path: &str, field: &str) -> (Vec<String>, i64) {
    let r = s.api(Method::GET, path, ADMIN).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}: {}", r.text().await.unwrap());
    let total = header(&r, "x-total-count").parse().unwrap();
    let rows: Vec<Value> = r.json().await.unwrap();
    let names = rows
        .iter()
        .map(|v| match &v[field] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    (names, total)
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn projects_by_every_operator() {
    for s in servers().await {
        for (name, public) in [("alpha", true), ("alpine", false), ("beta_1", true)] {
            s.create_project(name, public, ADMIN).await;
        }
        let q = |expr: &str| format!("/projects?q={}", enc(expr));
        let (n, total) = names(&s, &q("name=alpha"), "name").await;
        assert_eq!((n, total), (vec!["alpha".to_string()], 1));
        let (n, _) = names(&s, &q("name=~alp"), "name").await;
        assert_eq!(n, ["alpha", "alpine"]);
        // `_` is a literal in a fuzzy term, not a wildcard.
        let (n, _) = names(&s, &q("name=~alph_"), "name").await;
        assert!(n.is_empty(), "{n:?}");
        let (n, _) = names(&s, &q("name=~ta_"), "name").await;
        assert_eq!(n, ["beta_1"]);
        let (n, _) = names(&s, &q("name={alpha beta_1 nope}"), "name").await;
        assert_eq!(n, ["alpha", "beta_1"]);
        let (n, _) = names(&s, &q("name=~al,public=false"), "name").await;
        assert_eq!(n, ["alpine"]);
        let (n, _) = names(&s, &q("name=(alpha alpine)"), "name").await;
        assert!(n.is_empty(), "a project has one name: {n:?}");
        // Ranges over ids: the three new projects follow library, p and q.
        let (all, _) = names(&s, "/projects?page_size=100", "project_id").await;
        let ids: Vec<i64> = all.iter().map(|i| i.parse().unwrap()).collect();
        let max = *ids.iter().max().unwrap();
        let (n, total) = names(&s, &q(&format!("project_id=[{}~{max}]", max - 1)), "name").await;
        assert_eq!((n.len(), total), (2, 2));
        let (n, _) = names(&s, &q(&format!("project_id=[~{}]", max - 2)), "name").await;
        assert_eq!(n.len(), ids.len() - 2);
        let far = "creation_time=[\"2000-01-01 00:00:00\"~\"2001-01-01 00:00:00\"]";
        let (n, _) = names(&s, &q(far), "name").await;
        assert!(n.is_empty());
        let since = "creation_time=[\"2020-01-01 00:00:00\"~]";
        assert_eq!(names(&s, &q(since), "name").await.1, ids.len() as i64);
        // Sort, descending, with paging.
        let (n, total) = names(&s, "/projects?sort=-name&page_size=2", "name").await;
        assert_eq!((n, total), (vec!["q".to_string(), "p".to_string()], 6));
        let (n, _) = names(&s, "/projects?sort=-name&page=2&page_size=2", "name").await;
        assert_eq!(n, ["library", "beta_1"]);
        // The older parameters still work and combine with q.
        let (n, _) = names(
            &s,
            &format!("/projects?name=al&q={}", enc("public=true")),
            "name",
        )
        .await;
        assert_eq!(n, ["alpha"]);

        for bad in [
            "bogus=1",
            "project_id=x",
            "project_id=~1",
            "name",
            "public=maybe",
            "name=[a b]",
        ] {
            s.expect(Method::GET, &q(bad), ADMIN, None)
                .await
                .error(400, "BAD_REQUEST");
        }
        s.expect(Method::GET, "/projects?sort=owner_id", ADMIN, None)
            .await
            .error(400, "BAD_REQUEST");
    }
}

#[tokio::test]
async fn artifacts_by_tags_digest_and_time() {
    for s in servers().await {
        let repo = "p/app";
        let (d1, _) = s.push_image(repo, "v1", "one").await;
        let (d2, _) = s.push_image(repo, "v2", "two").await;
        s.push_image(repo, "latest", "three").await;
        s.expect(
            Method::POST,
            &format!("/projects/p/repositories/app/artifacts/{d1}/tags"),
            ADMIN,
            Some(&serde_json::json!({"name": "stable"})),
        )
        .await
        .is(201);
        let q = |expr: &str| format!("/projects/p/repositories/app/artifacts?q={}", enc(expr));
        let (n, total) = names(&s, &q("tags=v2"), "digest").await;
        assert_eq!((n, total), (vec![d2.clone()], 1));
        let (n, _) = names(&s, &q("tags=(v1 stable)"), "digest").await;
        assert_eq!(n, [d1.as_str()]);
        let (n, _) = names(&s, &q("tags=(v1 v2)"), "digest").await;
        assert!(n.is_empty());
        let (n, _) = names(&s, &q("tags={v1 v2}"), "digest").await;
        assert_eq!(n.len(), 2);
        let (n, _) = names(&s, &q("tags=~lat"), "digest").await;
        assert_eq!(n.len(), 1);
        // Blind to case, as Harbor's; `_` and `%` are themselves.
        let (n, _) = names(&s, &q("tags=~LaT"), "digest").await;
        assert_eq!(n.len(), 1);
        let (n, _) = names(&s, &q("tags=~a_e"), "digest").await;
        assert!(n.is_empty());
        let (n, _) = names(&s, &q(&format!("digest={d1}")), "digest").await;
        assert_eq!(n, [d1.as_str()]);
        // As in Harbor, media_type is the config's; manifest_media_type the manifest's.
        for filter in [
            "media_type=application/vnd.oci.image.config.v1+json",
            "manifest_media_type=application/vnd.oci.image.manifest.v1+json",
            "type=IMAGE",
        ] {
            let (n, _) = names(&s, &q(filter), "digest").await;
            assert_eq!(n.len(), 3, "{filter}");
        }
        let (n, _) = names(
            &s,
            &q("media_type=application/vnd.oci.image.manifest.v1+json"),
            "digest",
        )
        .await;
        assert!(n.is_empty());
        // Newest first by default; oldest first when asked.
        let (n, _) = names(&s, "/projects/p/repositories/app/artifacts", "digest").await;
        assert_eq!(n.last(), Some(&d1));
        let (n, _) = names(
            &s,
            "/projects/p/repositories/app/artifacts?sort=push_time",
            "digest",
        )
        .await;
        assert_eq!(n.first(), Some(&d1));
        s.expect(Method::GET, &q("size=[x~]"), ADMIN, None)
            .await
            .error(400, "BAD_REQUEST");
    }
}

#[tokio::test]
async fn repositories_and_users() {
    for s in servers().await {
        s.push_image("p/web_ui", "v1", "a").await;
        s.push_image("p/webui", "v1", "b").await;
        s.push_image("q/api", "v1", "c").await;
        let q = |expr: &str| format!("/repositories?q={}", enc(expr));
        let (n, _) = names(&s, &q("name=~web_"), "name").await;
        assert_eq!(n, ["p/web_ui"]);
        let (n, _) = names(&s, &q("name=~WEB"), "name").await;
        assert_eq!(n, ["p/web_ui", "p/webui"], "fuzzy matching ignores case");
        let (n, _) = names(&s, "/repositories?sort=-name", "name").await;
        assert_eq!(n, ["q/api", "p/webui", "p/web_ui"]);
        let (n, _) = names(&s, "/projects/p/repositories?q=name%3Dp%2Fwebui", "name").await;
        assert_eq!(n, ["p/webui"]);

        for u in ["carol", "carl", "dave"] {
            s.create_user(u, "Passw0rd!").await;
        }
        let (n, _) = names(
            &s,
            &format!("/users?q={}", enc("username=~car")),
            "username",
        )
        .await;
        assert_eq!(n, ["carol", "carl"]);
        let (n, _) = names(
            &s,
            &format!(
                "/users?q={}&sort=-username",
                enc("username={carol dave admin}")
            ),
            "username",
        )
        .await;
        assert_eq!(n, ["dave", "carol", "admin"]);
        let (n, _) = names(
            &s,
            &format!("/users?q={}", enc("email=carl@example.com")),
            "username",
        )
        .await;
        assert_eq!(n, ["carl"]);
    }
}
