//! The role matrix, table-driven: every role (and admin, a non-member,
//! anonymous and a robot) × every endpoint family × a public and a private
//! project, over real HTTP, with `/v2` rights checked through the token flow.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The operations, in the order of each row's allow string below.
const OPS: &[&str] = &[
    "project:read",
    "metadata:update",
    "project:delete",
    "member:list",
    "member:create",
    "repository:list",
    "artifact:list",
    "tag:create",
    "v2:pull",
    "v2:push",
    "v2:delete",
];

/// (who, private project allows, public project allows): `1` allowed, `0` denied.
const MATRIX: &[(&str, &str, &str)] = &[
    ("admin", "11111111111", "11111111111"),
    ("projectAdmin", "11111111111", "11111111111"),
    ("maintainer", "10010111111", "10010111111"),
    ("developer", "10010111110", "10010111110"),
    ("guest", "10010110100", "10010110100"),
    ("limitedGuest", "10000110100", "10000110100"),
    ("nonMember", "00000000000", "10000110100"),
    ("anonymous", "00000000000", "10000110100"),
    ("robot", "00000000100", "10000110100"),
];

const PASSWORD: &str = "Matrix1234";

fn actions(token: &str, repo: &str) -> Vec<String> {
    granted(&token_claims(token), repo)
}

#[tokio::test(flavor = "multi_thread")]
async fn role_matrix() {
    for s in servers().await {
        for (project, public) in [("priv", false), ("pub", true)] {
            s.create_project(project, public, ADMIN).await;
            s.push_image(&format!("{project}/app"), "v1", project).await;
        }
        let roles = [
            ("projectAdmin", 1),
            ("maintainer", 4),
            ("developer", 2),
            ("guest", 3),
            ("limitedGuest", 5),
        ];
        for (name, role) in roles {
            s.create_user(name, PASSWORD).await;
            for project in ["priv", "pub"] {
                let r = s
                    .api(Method::POST, &format!("/projects/{project}/members"), ADMIN)
                    .header("x-is-resource-name", "true")
                    .json(&json!({"role_id": role, "member_user": {"username": name}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
            }
        }
        s.create_user("nonMember", PASSWORD).await;
        let robot: Value = s
            .api(Method::POST, "/robots", ADMIN)
            .json(&json!({"name": "reader", "level": "project", "duration": -1, "permissions": [
                {"kind": "project", "namespace": "priv", "access": [{"resource": "repository", "action": "pull"}]}]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let robot_secret = robot["secret"].as_str().unwrap().to_string();

        for (who, private_allows, public_allows) in MATRIX {
            let creds: Option<(&str, &str)> = match *who {
                "admin" => ADMIN,
                "anonymous" => None,
                "robot" => Some(("robot$priv+reader", robot_secret.as_str())),
                name => Some((name, PASSWORD)),
            };
            for (project, allows) in [("priv", private_allows), ("pub", public_allows)] {
                let (token, _) = {
                    let mut rb = s.anon.get(s.u(&format!(
                        "/service/token?service=harbor-registry&scope=repository%3A{project}%2Fapp%3Apull%2Cpush%2Cdelete"
                    )));
                    if let Some((u, p)) = creds {
                        rb = rb.basic_auth(u, Some(p));
                    }
                    let body: Value = rb.send().await.unwrap().json().await.unwrap();
                    (body["token"].as_str().unwrap().to_string(), ())
                };
                let granted = actions(&token, &format!("{project}/app"));
                for (op, expect) in OPS.iter().zip(allows.chars()) {
                    let expect = expect == '1';
                    let allowed = match *op {
                        "v2:pull" | "v2:push" | "v2:delete" => {
                            granted.iter().any(|a| *a == op[3..])
                        }
                        _ => {
                            let (method, path, body) = match *op {
                                "project:read" => {
                                    (Method::GET, format!("/projects/{project}"), None)
                                }
                                "metadata:update" => (
                                    Method::PUT,
                                    format!("/projects/{project}"),
                                    Some(json!({"metadata": {"auto_scan": "false"}})),
                                ),
                                "project:delete" => {
                                    (Method::GET, format!("/projects/{project}/_deletable"), None)
                                }
                                "member:list" => {
                                    (Method::GET, format!("/projects/{project}/members"), None)
                                }
                                "member:create" => (
                                    Method::POST,
                                    format!("/projects/{project}/members"),
                                    Some(
                                        json!({"role_id": 3, "member_user": {"username": "admin"}}),
                                    ),
                                ),
                                "repository:list" => (
                                    Method::GET,
                                    format!("/projects/{project}/repositories"),
                                    None,
                                ),
                                "artifact:list" => (
                                    Method::GET,
                                    format!("/projects/{project}/repositories/app/artifacts"),
                                    None,
                                ),
                                "tag:create" => (
                                    Method::POST,
                                    format!(
                                        "/projects/{project}/repositories/app/artifacts/v1/tags"
                                    ),
                                    Some(json!({"name": format!("t-{who}")})),
                                ),
                                other => panic!("unknown op {other}"),
                            };
                            let mut rb = s
                                .api(method, &path, creds)
                                .header("x-is-resource-name", "true");
                            if let Some(b) = body {
                                rb = rb.json(&b);
                            }
                            let status = rb.send().await.unwrap().status();
                            match status.as_u16() {
                                200 | 201 | 409 => true,
                                401 => {
                                    assert!(
                                        creds.is_none(),
                                        "{who} {op} {project}: 401 for an authenticated caller"
                                    );
                                    false
                                }
                                403 => {
                                    assert!(
                                        creds.is_some(),
                                        "{who} {op} {project}: 403 for anonymous"
                                    );
                                    false
                                }
                                other => panic!("{who} {op} {project}: unexpected status {other}"),
                            }
                        }
                    };
                    assert_eq!(
                        allowed, expect,
                        "{who} {op} on {project} ({}): allowed={allowed}",
                        s.backend
                    );
                }
            }
        }
    }
}
