//! Labels: global ones kept by administrators, a project's own kept by
//! its maintainers, put on artifacts by developers, shown and filtered on
//! in artifact lists.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// The names of the labels on each artifact of a list, by first tag.
fn labelled(list: &Value) -> Vec<(String, Vec<String>)> {
    (list.as_array().unwrap().iter())
        .map(|a| {
            let tag = a["tags"][0]["name"].as_str().unwrap_or("").to_string();
            let names = (a["labels"].as_array().unwrap().iter())
                .map(|l| l["name"].as_str().unwrap().to_string())
                .collect();
            (tag, names)
        })
        .collect()
}

#[tokio::test]
async fn labels_are_kept_put_on_artifacts_and_filtered_on() {
    for s in servers().await {
        let pid = s.create_project("lp", false, ADMIN).await;
        let other = s.create_project("other", false, ADMIN).await;
        for (user, role) in [("mai", 4), ("dev", 2), ("gus", 3)] {
            s.create_user(user, "Passw0rd-1").await;
            let member = json!({"role_id": role, "member_user": {"username": user}});
            s.create("/projects/lp/members", ADMIN, member).await;
        }
        s.create_user("outsider", "Passw0rd-1").await;
        let (mai, dev, gus, outsider) = (
            Some(("mai", "Passw0rd-1")),
            Some(("dev", "Passw0rd-1")),
            Some(("gus", "Passw0rd-1")),
            Some(("outsider", "Passw0rd-1")),
        );

        // Global labels are the administrators'.
        let release = json!({"name": "release", "color": "#00aa00", "scope": "g",
            "description": "shipped"});
        (s.expect(Method::POST, "/labels", mai, Some(&release)).await).error(403, "FORBIDDEN");
        let g = s.create("/labels", ADMIN, release.clone()).await;
        let e = (s
            .expect(Method::POST, "/labels", ADMIN, Some(&release))
            .await)
            .error(409, "CONFLICT");
        assert!(
            e.to_string().contains("label release already exists"),
            "{e}"
        );
        for bad in [
            json!({"name": "", "scope": "g"}),
            json!({"name": "x".repeat(129), "scope": "g"}),
            json!({"name": "x", "scope": "z"}),
            json!({"name": "x", "scope": "p"}),
        ] {
            (s.expect(Method::POST, "/labels", ADMIN, Some(&bad)).await).error(400, "BAD_REQUEST");
        }
        // A project's labels are its maintainers'.
        let qa = json!({"name": "qa", "scope": "p", "project_id": pid});
        (s.expect(Method::POST, "/labels", dev, Some(&qa)).await).error(403, "FORBIDDEN");
        let p = s.create("/labels", mai, qa).await;
        let foreign = s
            .create(
                "/labels",
                ADMIN,
                json!({"name": "qa", "scope": "p", "project_id": other}),
            )
            .await;

        // Lists: global ones for anyone, a project's for its members.
        let listed = s
            .expect(Method::GET, "/labels?scope=g", None, None)
            .await
            .is(200);
        assert_eq!(listed[0]["name"], "release");
        assert_eq!(listed[0]["project_id"], 0);
        assert_eq!(listed[0]["description"], "shipped");
        let by_name = s
            .expect(Method::GET, "/labels?scope=g&name=ELE", None, None)
            .await;
        assert_eq!(by_name.is(200).as_array().unwrap().len(), 1);
        let path = format!("/labels?scope=p&project_id={pid}");
        let listed = s.expect(Method::GET, &path, gus, None).await.is(200);
        assert_eq!(
            (listed[0]["name"].as_str(), listed[0]["id"].as_i64()),
            (Some("qa"), Some(p))
        );
        (s.expect(Method::GET, &path, outsider, None).await).error(403, "FORBIDDEN");
        let e =
            (s.expect(Method::GET, "/labels?scope=p", dev, None).await).error(400, "BAD_REQUEST");
        assert!(e.to_string().contains("must with project ID"), "{e}");
        (s.expect(Method::GET, "/labels", dev, None).await).error(400, "BAD_REQUEST");

        // One label: a global one is the administrators' to read.
        let got = s
            .expect(Method::GET, &format!("/labels/{g}"), ADMIN, None)
            .await
            .is(200);
        assert_eq!(got["scope"], "g");
        (s.expect(Method::GET, &format!("/labels/{g}"), dev, None)
            .await)
            .error(403, "FORBIDDEN");
        (s.expect(Method::GET, &format!("/labels/{p}"), dev, None)
            .await)
            .is(200);
        (s.expect(Method::GET, "/labels/999999", ADMIN, None).await).error(404, "NOT_FOUND");
        let renamed = json!({"name": "qa2", "color": "#aa0000"});
        (s.expect(Method::PUT, &format!("/labels/{p}"), dev, Some(&renamed))
            .await)
            .error(403, "FORBIDDEN");
        (s.expect(Method::PUT, &format!("/labels/{p}"), mai, Some(&renamed))
            .await)
            .is(200);
        let got = s
            .expect(Method::GET, &format!("/labels/{p}"), mai, None)
            .await
            .is(200);
        assert_eq!(
            (got["name"].as_str(), got["color"].as_str()),
            (Some("qa2"), Some("#aa0000"))
        );

        // Developers put labels on artifacts: global ones and the project's.
        s.push_image("lp/app", "1", "one").await;
        s.push_image("lp/app", "2", "two").await;
        let on =
            |reference: &str| format!("/projects/lp/repositories/app/artifacts/{reference}/labels");
        for l in [g, p] {
            (s.expect(Method::POST, &on("1"), dev, Some(&json!({"id": l})))
                .await)
                .is(200);
        }
        (s.expect(Method::POST, &on("1"), dev, Some(&json!({"id": g})))
            .await)
            .error(409, "CONFLICT");
        let e = (s
            .expect(Method::POST, &on("2"), dev, Some(&json!({"id": foreign})))
            .await)
            .error(404, "NOT_FOUND");
        assert!(
            e.to_string()
                .contains(&format!("label {foreign} not found")),
            "{e}"
        );
        (s.expect(Method::POST, &on("2"), gus, Some(&json!({"id": g})))
            .await)
            .error(403, "FORBIDDEN");
        (s.expect(Method::POST, &on("2"), dev, Some(&json!({"id": g})))
            .await)
            .is(200);

        // Lists show them with with_label and filter on them.
        let list = "/projects/lp/repositories/app/artifacts?with_label=true";
        let all = s.expect(Method::GET, list, gus, None).await.is(200);
        assert_eq!(
            labelled(&all),
            [
                ("2".to_string(), vec!["release".to_string()]),
                (
                    "1".to_string(),
                    vec!["qa2".to_string(), "release".to_string()]
                )
            ]
        );
        let plain = s
            .expect(
                Method::GET,
                "/projects/lp/repositories/app/artifacts",
                gus,
                None,
            )
            .await
            .is(200);
        assert_eq!(plain[0]["labels"], json!([]));
        let both = format!("{list}&q=labels%3D({g}%20{p})");
        let found = s.expect(Method::GET, &both, gus, None).await.is(200);
        assert_eq!(labelled(&found).len(), 1);
        assert_eq!(labelled(&found)[0].0, "1");
        let one = format!("/projects/lp/artifacts?with_label=true&q=labels%3D{g}");
        let found = s.expect(Method::GET, &one, gus, None).await.is(200);
        assert_eq!(found.as_array().unwrap().len(), 2);
        let got = s
            .expect(
                Method::GET,
                "/projects/lp/repositories/app/artifacts/1?with_label=true",
                gus,
                None,
            )
            .await
            .is(200);
        assert_eq!(got["labels"].as_array().unwrap().len(), 2);

        // Taken off; a deleted label leaves every artifact.
        let off = format!("{}/{p}", on("1"));
        (s.expect(Method::DELETE, &off, gus, None).await).error(403, "FORBIDDEN");
        (s.expect(Method::DELETE, &off, dev, None).await).is(200);
        (s.expect(Method::DELETE, &off, dev, None).await).error(404, "NOT_FOUND");
        (s.expect(Method::DELETE, &format!("/labels/{g}"), mai, None)
            .await)
            .error(403, "FORBIDDEN");
        (s.expect(Method::DELETE, &format!("/labels/{g}"), ADMIN, None)
            .await)
            .is(200);
        (s.expect(Method::GET, &format!("/labels/{g}"), ADMIN, None)
            .await)
            .error(404, "NOT_FOUND");
        let all = s.expect(Method::GET, list, gus, None).await.is(200);
        assert!(labelled(&all).iter().all(|(_, l)| l.is_empty()), "{all}");

        // A project's labels go with it.
        (s.expect(Method::DELETE, &format!("/projects/{other}"), ADMIN, None)
            .await)
            .is(200);
        (s.expect(Method::GET, &format!("/labels/{foreign}"), ADMIN, None)
            .await)
            .error(404, "NOT_FOUND");
    }
}
