//! What the server really answers against two documents: Berth's own
//! published OpenAPI document and Harbor's API description (a tagged
//! release's swagger.yaml, in `fixtures/`). Every documented operation is
//! called, and every answer must be a status both documents give the
//! operation, with a body that validates against both schemas (no
//! undocumented fields), on every database. Where Berth deliberately
//! differs from Harbor, `openapi/harbor.rs` lists it with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "openapi/harbor.rs"]
mod harbor;

use common::ldap::{self, Slapd};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const PW: &str = "Passw0rd!";

/// Sends API requests and checks each answer against the document.
struct Checker<'a> {
    s: &'a Server,
    doc: Value,
    /// The component schemas as `$defs`, every object closed to extra fields.
    defs: Value,
    /// (method, path template) of every call made.
    seen: BTreeSet<(String, String)>,
    /// Harbor's description, checking the same answers.
    harbor: harbor::Harbor,
}

/// Forbids fields a schema does not name (except where it says otherwise).
fn close_objects(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.contains_key("properties") && !m.contains_key("additionalProperties") {
                m.insert("additionalProperties".into(), Value::Bool(false));
            }
            m.values_mut().for_each(close_objects);
        }
        Value::Array(a) => a.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// Points `$ref`s at `$defs` instead of `components/schemas`.
fn rebase(v: &Value) -> Value {
    serde_json::from_str(&v.to_string().replace("#/components/schemas/", "#/$defs/")).unwrap()
}

impl<'a> Checker<'a> {
    async fn new(s: &'a Server) -> Checker<'a> {
        let r = s
            .anon
            .get(s.u("/api/v2.0/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let doc: Value = r.json().await.unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut defs = rebase(&doc["components"]["schemas"]);
        close_objects(&mut defs);
        // Build history entries are passed on from image configs as they are.
        defs["BuildHistoryEntry"]["additionalProperties"] = Value::Bool(true);
        Checker {
            s,
            doc,
            defs,
            seen: BTreeSet::new(),
            harbor: harbor::Harbor::load(),
        }
    }

    /// The documented path that `path` instantiates.
    fn template(&self, path: &str) -> String {
        harbor::template_of(self.doc["paths"].as_object().unwrap().keys(), path)
            .unwrap_or_else(|| panic!("{path} is not documented"))
    }

    /// Calls `method path` (path without its query) as `user`; checks the
    /// answer; returns its status and JSON body (Null when there is none).
    async fn call(
        &mut self,
        method: Method,
        path_and_query: &str,
        user: Option<(&str, &str)>,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.call_with(method, path_and_query, user, body, &[])
            .await
    }

    /// [`Checker::call`] with request headers.
    async fn call_with(
        &mut self,
        method: Method,
        path_and_query: &str,
        user: Option<(&str, &str)>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let url = self.s.u(path_and_query);
        let mut rb = self.s.anon.request(method.clone(), url);
        for (name, value) in headers {
            rb = rb.header(*name, *value);
        }
        if let Some((u, p)) = user {
            rb = rb.basic_auth(u, Some(p));
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let ct = headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = r.bytes().await.unwrap();
        let m = method.as_str().to_lowercase();
        self.harbor
            .check(&m, path_and_query, status, &headers, &bytes);

        let path = path_and_query.split('?').next().unwrap();
        let template = self.template(path);
        let op = &self.doc["paths"][&template][&m];
        assert!(op.is_object(), "{m} {template} is not documented");
        let what = format!("{m} {path_and_query} → {status}");
        let resp = &op["responses"][status.to_string()];
        assert!(resp.is_object(), "{what}: status not documented");
        self.seen.insert((m.clone(), template));

        let content = resp["content"].as_object();
        if m == "head" || bytes.is_empty() {
            assert!(
                content.is_none() || m == "head",
                "{what}: documented body missing"
            );
            return (status, Value::Null);
        }
        let content = content.unwrap_or_else(|| panic!("{what}: body not documented"));
        let essence = ct.split(';').next().unwrap().trim();
        let media = content
            .get(essence)
            .unwrap_or_else(|| panic!("{what}: content type {ct} not documented"));
        if essence != "application/json" {
            return (
                status,
                Value::String(String::from_utf8_lossy(&bytes).into()),
            );
        }
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        let mut schema = rebase(&media["schema"]);
        close_objects(&mut schema);
        schema["$defs"] = self.defs.clone();
        if let Err(e) = jsonschema::validate(&schema, &value) {
            panic!("{what}: body does not match the schema: {e}\n{value:#}");
        }
        (status, value)
    }

    /// Polls a run (as admin) until its `job_status` is `Success`.
    async fn wait_success(&mut self, path: &str) {
        for _ in 0..100 {
            let (_, r) = self.call(Method::GET, path, ADMIN, None).await;
            if r["job_status"] == "Success" {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{path} did not succeed");
    }

    /// Every operation of Berth's document that Harbor describes too has
    /// Harbor's operation id (generated Harbor clients call by it), and
    /// every answer was as Harbor describes.
    fn assert_harbor_agrees(&self) {
        let mut wrong = Vec::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for (m, op) in item.as_object().unwrap() {
                if harbor::BERTH_ONLY
                    .iter()
                    .any(|(hm, hp, _)| hm == m && hp == path)
                {
                    continue;
                }
                let theirs = self.harbor.operation_id(m, path);
                let ours = op["operationId"].as_str().map(String::from);
                if theirs.is_none() || theirs != ours {
                    wrong.push(format!("{m} {path}: Berth {ours:?}, Harbor {theirs:?}"));
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "operations unlike Harbor's:\n{}",
            wrong.join("\n")
        );
        assert!(
            self.harbor.failures.is_empty(),
            "{} answers unlike Harbor's:\n{}",
            self.harbor.failures.len(),
            self.harbor.failures.join("\n")
        );
    }

    /// Every documented operation has been called.
    fn assert_all_called(&self) {
        let mut missing = Vec::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for m in item.as_object().unwrap().keys() {
                if !self.seen.contains(&(m.clone(), path.clone())) {
                    missing.push(format!("{m} {path}"));
                }
            }
        }
        assert!(missing.is_empty(), "never called: {missing:?}");
    }
}

#[tokio::test]
async fn every_answer_matches_the_published_document() {
    use Method as M;
    for s in servers().await {
        let mut c = Checker::new(&s).await;
        let a = ADMIN;
        let v2 = |p: &str| format!("/api/v2.0{p}");

        // System.
        c.call(M::GET, "/api/version", None, None).await;
        c.call(M::GET, &v2("/ping"), None, None).await;
        c.call(M::GET, &v2("/health"), None, None).await;
        c.call(M::GET, &v2("/systeminfo"), None, None).await;
        c.call(M::GET, &v2("/systeminfo"), a, None).await;
        let (_, stats) = c.call(M::GET, &v2("/statistics"), a, None).await;
        // The check is not vacuous: an extra or mistyped field fails it.
        let schema = json!({"$ref": "#/$defs/Statistic", "$defs": c.defs.clone()});
        assert!(jsonschema::is_valid(&schema, &stats));
        let mut extra = stats.clone();
        extra["surprise"] = json!(1);
        assert!(!jsonschema::is_valid(&schema, &extra));
        let mut mistyped = stats.clone();
        mistyped["total_repo_count"] = json!("3");
        assert!(!jsonschema::is_valid(&schema, &mistyped));
        c.call(M::GET, &v2("/permissions"), a, None).await;
        c.call(M::GET, &v2("/configurations"), a, None).await;
        let cfg = json!({"project_creation_restriction": "everyone"});
        assert_eq!(
            c.call(M::PUT, &v2("/configurations"), a, Some(cfg)).await.0,
            200
        );
        c.call(M::GET, &v2("/search?q=p"), a, None).await;
        let allowlist =
            json!({"items": [{"cve_id": "CVE-2020-14343"}], "expires_at": 4_000_000_000u64});
        let put = c
            .call(M::PUT, &v2("/system/CVEAllowlist"), a, Some(allowlist))
            .await;
        assert_eq!(put.0, 200);
        let (_, got) = c.call(M::GET, &v2("/system/CVEAllowlist"), a, None).await;
        assert_eq!(got["items"][0]["cve_id"], "CVE-2020-14343");

        // Users.
        let body = json!({"username": "uma", "email": "uma@example.com", "realname": "Uma", "password": PW});
        assert_eq!(
            c.call(M::POST, &v2("/users"), a, Some(body.clone()))
                .await
                .0,
            201
        );
        assert_eq!(c.call(M::POST, &v2("/users"), a, Some(body)).await.0, 409);
        let (_, users) = c
            .call(
                M::GET,
                &v2("/users?q=username%3D~um&sort=-username"),
                a,
                None,
            )
            .await;
        let uid = users[0]["user_id"].as_i64().unwrap();
        let uma = Some(("uma", PW));
        c.call(M::GET, &v2("/users/current"), uma, None).await;
        c.call(M::GET, &v2("/users/search?username=um"), uma, None)
            .await;
        c.call(M::GET, &v2(&format!("/users/{uid}")), a, None).await;
        let profile = json!({"email": "uma@example.org", "realname": "Uma B", "comment": "x"});
        c.call(M::PUT, &v2(&format!("/users/{uid}")), a, Some(profile))
            .await;
        let pw = json!({"old_password": PW, "new_password": "Passw0rd!2"});
        assert_eq!(
            c.call(
                M::PUT,
                &v2(&format!("/users/{uid}/password")),
                uma,
                Some(pw)
            )
            .await
            .0,
            200
        );
        let uma = Some(("uma", "Passw0rd!2"));
        let flag = json!({"sysadmin_flag": false});
        c.call(
            M::PUT,
            &v2(&format!("/users/{uid}/sysadmin")),
            a,
            Some(flag),
        )
        .await;
        assert_eq!(c.call(M::GET, &v2("/users"), None, None).await.0, 401);
        assert_eq!(
            c.call(M::GET, &v2("/configurations"), uma, None).await.0,
            403
        );

        // Projects, metadata, members.
        let proj = json!({"project_name": "docs", "metadata": {"public": "false"}});
        assert_eq!(
            c.call(M::POST, &v2("/projects"), a, Some(proj.clone()))
                .await
                .0,
            201
        );
        assert_eq!(
            c.call(M::POST, &v2("/projects"), a, Some(proj)).await.0,
            409
        );
        assert_eq!(
            c.call(M::HEAD, &v2("/projects?project_name=docs"), a, None)
                .await
                .0,
            200
        );
        assert_eq!(
            c.call(M::HEAD, &v2("/projects?project_name=nope"), a, None)
                .await
                .0,
            404
        );
        let (_, list) = c
            .call(M::GET, &v2("/projects?q=name%3Ddocs"), a, None)
            .await;
        let pid = list[0]["project_id"].as_i64().unwrap();
        c.call(M::GET, &v2("/projects/docs"), a, None).await;
        assert_eq!(
            c.call(M::GET, &v2("/projects/999999"), a, None).await.0,
            404
        );
        c.call(
            M::PUT,
            &v2("/projects/docs"),
            a,
            Some(json!({"metadata": {"auto_scan": "true"},
                "cve_allowlist": {"items": [{"cve_id": "CVE-2021-25900"}]}})),
        )
        .await;
        c.call(M::GET, &v2("/projects/docs/_deletable"), a, None)
            .await;
        c.call(M::GET, &v2("/projects/docs/summary"), a, None).await;
        c.call(M::GET, &v2("/projects/docs/metadatas"), a, None)
            .await;
        c.call(
            M::POST,
            &v2("/projects/docs/metadatas"),
            a,
            Some(json!({"severity": "high"})),
        )
        .await;
        c.call(M::GET, &v2("/projects/docs/metadatas/severity"), a, None)
            .await;
        c.call(
            M::PUT,
            &v2("/projects/docs/metadatas/severity"),
            a,
            Some(json!({"severity": "low"})),
        )
        .await;
        c.call(M::DELETE, &v2("/projects/docs/metadatas/severity"), a, None)
            .await;
        let member = json!({"role_id": 2, "member_user": {"username": "uma"}});
        assert_eq!(
            c.call(M::POST, &v2("/projects/docs/members"), a, Some(member))
                .await
                .0,
            201
        );
        let (_, members) = c
            .call(M::GET, &v2("/projects/docs/members?entityname=um"), a, None)
            .await;
        let mid = members[0]["id"].as_i64().unwrap();
        c.call(
            M::GET,
            &v2(&format!("/projects/docs/members/{mid}")),
            a,
            None,
        )
        .await;
        c.call(
            M::PUT,
            &v2(&format!("/projects/docs/members/{mid}")),
            a,
            Some(json!({"role_id": 4})),
        )
        .await;
        c.call(
            M::GET,
            &v2(&format!("/users/current/permissions?scope=/project/{pid}")),
            uma,
            None,
        )
        .await;

        // A webhook that cannot be delivered (nothing listens on port 9).
        let hook = json!({"name": "h", "event_types": ["PUSH_ARTIFACT"],
            "targets": [{"type": "http", "address": "http://127.0.0.1:9/"}]});
        let (st, _) = c
            .call(
                M::POST,
                &v2("/projects/docs/webhook/policies"),
                a,
                Some(hook.clone()),
            )
            .await;
        assert_eq!(st, 201);
        let (_, hooks) = c
            .call(M::GET, &v2("/projects/docs/webhook/policies"), a, None)
            .await;
        let hid = hooks[0]["id"].as_i64().unwrap();
        let hp = v2(&format!("/projects/docs/webhook/policies/{hid}"));
        c.call(M::GET, &hp, a, None).await;
        c.call(M::PUT, &hp, a, Some(hook)).await;
        c.call(M::GET, &v2("/projects/docs/webhook/events"), a, None)
            .await;

        // Registry content.
        let (d, _) = s.push_image("docs/app", "v1", "one").await;
        let config =
            serde_json::to_vec(&json!({"os": "linux", "history": [{"created_by": "RUN x"}]}))
                .unwrap();
        let layer = b"layer".to_vec();
        let m = image_manifest(
            OCI_MANIFEST,
            (
                OCI_CONFIG,
                &s.push_blob("docs/app", &config).await,
                config.len(),
            ),
            &[(
                OCI_LAYER,
                &s.push_blob("docs/app", &layer).await,
                layer.len(),
            )],
            None,
        );
        assert_eq!(
            s.put_manifest("docs/app", "built", OCI_MANIFEST, &m)
                .await
                .status(),
            201
        );
        c.call(M::GET, &v2("/repositories"), a, None).await;
        c.call(
            M::GET,
            &v2("/projects/docs/repositories?sort=-name"),
            a,
            None,
        )
        .await;
        let repo = v2("/projects/docs/repositories/app");
        c.call(M::GET, &repo, a, None).await;
        c.call(M::PUT, &repo, a, Some(json!({"description": "an app"})))
            .await;
        let arts = format!("{repo}/artifacts");
        c.call(
            M::GET,
            &format!("{arts}?with_accessory=true&q=tags%3D~v"),
            a,
            None,
        )
        .await;
        c.call(M::GET, &format!("{arts}/v1"), a, None).await;
        // An index, its signatures (a referrer and a cosign tag) and a Helm
        // chart, listed with every flag Harbor's portal sends.
        let (d2, b2) = s.push_image("docs/app", "v2", "two").await;
        let idx = index_manifest(OCI_INDEX, &[(OCI_MANIFEST, &d2, b2.len())]);
        assert_eq!(
            s.put_manifest("docs/app", "multi", OCI_INDEX, &idx)
                .await
                .status(),
            201
        );
        let index = (digest(&idx), idx);
        push_referrer(
            &s,
            "docs/app",
            &index,
            "application/vnd.cncf.notary.signature",
        )
        .await;
        s.push_image(
            "docs/app",
            &format!("{}.sig", index.0.replace(':', "-")),
            "sig",
        )
        .await;
        let chart = json!({"name": "app", "version": "0.1.0", "apiVersion": "v2",
            "dependencies": [{"name": "db", "version": "1.x", "repository": "oci://charts.example"}]});
        let archive = chart_archive(
            &chart,
            &[("values.yaml", b"replicas: 1\n"), ("README.md", b"# app\n")],
        );
        s.push_chart("docs/app", "0.1.0", &chart, &archive).await;
        let flags = "with_tag=true&with_label=true&with_scan_overview=true&with_signature=true\
            &with_immutable_status=true&with_accessory=true&with_sbom_overview=true&page_size=20";
        let (_, listed) = c.call(M::GET, &format!("{arts}?{flags}"), a, None).await;
        assert_eq!(listed.as_array().unwrap().len(), 5, "{listed:#}");
        let (_, multi) = c
            .call(M::GET, &format!("{arts}/multi?{flags}"), a, None)
            .await;
        assert_eq!(multi["references"][0]["child_digest"], d2);
        let (_, across) = c
            .call(
                M::GET,
                &v2(&format!("/projects/docs/artifacts?{flags}")),
                a,
                None,
            )
            .await;
        assert_eq!(across.as_array().unwrap().len(), 5);
        let icon = format!("/icons/{}", multi["icon"].as_str().unwrap());
        c.call(M::GET, &v2(&icon), a, None).await;
        assert_eq!(
            c.call(M::POST, &format!("{arts}?from=docs/app:v1"), a, None)
                .await
                .0,
            201
        );
        let art = format!("{arts}/{d}");
        assert_eq!(
            c.call(
                M::POST,
                &format!("{art}/tags"),
                a,
                Some(json!({"name": "v9"}))
            )
            .await
            .0,
            201
        );
        assert_eq!(
            c.call(
                M::POST,
                &format!("{art}/tags"),
                a,
                Some(json!({"name": "v9"}))
            )
            .await
            .0,
            409
        );
        c.call(M::GET, &format!("{art}/tags"), a, None).await;
        c.call(M::DELETE, &format!("{art}/tags/v9"), a, None).await;
        // Labels: made, read, changed, put on the artifact, listed with it,
        // taken off, deleted.
        let labels = v2("/labels");
        let release = json!({"name": "release", "scope": "g", "color": "#00aa00"});
        assert_eq!(
            c.call(M::POST, &labels, a, Some(release.clone())).await.0,
            201
        );
        assert_eq!(c.call(M::POST, &labels, a, Some(release)).await.0, 409);
        let (_, all) = c.call(M::GET, &v2("/labels?scope=g"), a, None).await;
        let lid = all[0]["id"].as_i64().unwrap();
        let label = v2(&format!("/labels/{lid}"));
        c.call(M::GET, &label, a, None).await;
        c.call(M::PUT, &label, a, Some(json!({"name": "shipped"})))
            .await;
        assert_eq!(c.call(M::GET, &v2("/labels?scope=x"), a, None).await.0, 400);
        let put_on = format!("{art}/labels");
        assert_eq!(
            c.call(M::POST, &put_on, a, Some(json!({"id": lid})))
                .await
                .0,
            200
        );
        c.call(M::GET, &format!("{arts}?with_label=true"), a, None)
            .await;
        c.call(M::GET, &format!("{art}?with_label=true"), a, None)
            .await;
        assert_eq!(
            c.call(M::DELETE, &format!("{put_on}/{lid}"), a, None)
                .await
                .0,
            200
        );
        assert_eq!(
            c.call(M::DELETE, &format!("{put_on}/{lid}"), a, None)
                .await
                .0,
            404
        );
        c.call(M::DELETE, &label, a, None).await;
        assert_eq!(c.call(M::GET, &label, a, None).await.0, 404);
        // Tag immutability: a rule added, listed, disabled, deleted.
        let rules = v2("/projects/docs/immutabletagrules");
        let rule = json!({
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
            "scope_selectors": {"repository": [
                {"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}});
        assert_eq!(c.call(M::POST, &rules, a, Some(rule.clone())).await.0, 201);
        assert_eq!(c.call(M::POST, &rules, a, Some(rule)).await.0, 409);
        let (_, listed) = c.call(M::GET, &rules, a, None).await;
        let rid = listed[0]["id"].as_i64().unwrap();
        c.call(
            M::GET,
            &format!("{art}/tags?with_immutable_status=true"),
            a,
            None,
        )
        .await;
        c.call(
            M::GET,
            &format!("{arts}?with_immutable_status=true"),
            a,
            None,
        )
        .await;
        let mut off = listed[0].clone();
        off["disabled"] = json!(true);
        let one = format!("{rules}/{rid}");
        assert_eq!(c.call(M::PUT, &one, a, Some(off)).await.0, 200);
        assert_eq!(c.call(M::DELETE, &one, a, None).await.0, 200);
        // Tag retention: a policy, a dry run, its tasks and log, a stop.
        c.call(M::GET, &v2("/retentions/metadatas"), a, None).await;
        let (_, docs) = c.call(M::GET, &v2("/projects/docs"), a, None).await;
        let keep = json!({"algorithm": "or", "rules": [{"template": "always", "params": {},
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
            "scope_selectors": {"repository": [
                {"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}],
            "trigger": {"kind": "Schedule", "settings": {"cron": ""}},
            "scope": {"level": "project", "ref": docs["project_id"]}});
        assert_eq!(
            c.call(M::POST, &v2("/retentions"), a, Some(keep.clone()))
                .await
                .0,
            201
        );
        assert_eq!(
            c.call(M::POST, &v2("/retentions"), a, Some(keep.clone()))
                .await
                .0,
            400
        );
        let (_, meta) = c
            .call(M::GET, &v2("/projects/docs/metadatas"), a, None)
            .await;
        let policy = v2(&format!(
            "/retentions/{}",
            meta["retention_id"].as_str().unwrap()
        ));
        c.call(M::GET, &policy, a, None).await;
        assert_eq!(c.call(M::PUT, &policy, a, Some(keep)).await.0, 200);
        let runs = format!("{policy}/executions");
        let dry = json!({"dry_run": true});
        assert_eq!(c.call(M::POST, &runs, a, Some(dry)).await.0, 201);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let run = loop {
            let (_, listed) = c.call(M::GET, &runs, a, None).await;
            if listed[0]["status"] == "Success" {
                break listed[0]["id"].clone();
            }
            assert!(std::time::Instant::now() < deadline, "{listed}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        let (_, tasks) = c
            .call(M::GET, &format!("{runs}/{run}/tasks"), a, None)
            .await;
        let log = format!("{runs}/{run}/tasks/{}", tasks[0]["id"]);
        assert_eq!(c.call(M::GET, &log, a, None).await.0, 200);
        let stop = json!({"action": "stop"});
        assert_eq!(
            c.call(M::PATCH, &format!("{runs}/{run}"), a, Some(stop))
                .await
                .0,
            200
        );
        assert_eq!(c.call(M::DELETE, &policy, a, None).await.0, 200);
        // Quotas: listed sorted, one read, its limit set (and refused).
        let (_, quotas) = c
            .call(
                M::GET,
                &v2("/quotas?sort=-used.storage&reference=project"),
                a,
                None,
            )
            .await;
        let quota = v2(&format!("/quotas/{}", quotas[0]["id"]));
        c.call(M::GET, &quota, a, None).await;
        let limit = json!({"hard": {"storage": 1 << 30}});
        assert_eq!(c.call(M::PUT, &quota, a, Some(limit)).await.0, 200);
        let bad = json!({"hard": {"storage": 0}});
        assert_eq!(c.call(M::PUT, &quota, a, Some(bad)).await.0, 400);
        assert_eq!(c.call(M::GET, &v2("/quotas/999999"), a, None).await.0, 404);
        c.call(M::GET, &format!("{art}/accessories"), a, None).await;
        let (_, history) = c
            .call(
                M::GET,
                &format!("{arts}/built/additions/build_history"),
                a,
                None,
            )
            .await;
        assert_eq!(history[0]["created_by"], "RUN x");
        let chart_additions = format!("{arts}/0.1.0/additions");
        let (_, deps) = c
            .call(M::GET, &format!("{chart_additions}/dependencies"), a, None)
            .await;
        assert_eq!(deps[0]["name"], "db");
        for (addition, text) in [("values.yaml", "replicas: 1\n"), ("readme.md", "# app\n")] {
            let (st, body) = c
                .call(M::GET, &format!("{chart_additions}/{addition}"), a, None)
                .await;
            assert_eq!((st, body), (200, Value::String(text.into())));
        }
        let (st, _) = c
            .call(M::GET, &format!("{chart_additions}/build_history"), a, None)
            .await;
        assert_eq!(st, 400);
        // A scan (of an image whose layer is no archive: it fails, and
        // says so in its overview and log).
        let v1 = format!("{arts}/v1");
        assert_eq!(c.call(M::POST, &format!("{v1}/scan"), a, None).await.0, 202);
        let mut overview = Value::Null;
        for _ in 0..100 {
            let (_, art) = c.call(M::GET, &format!("{v1}?{flags}"), a, None).await;
            overview = art["scan_overview"]
                .as_object()
                .and_then(|o| o.values().next().cloned())
                .unwrap_or_default();
            if overview["scan_status"] == "Error" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(overview["scan_status"], "Error", "{overview}");
        let report = overview["report_id"].as_str().unwrap();
        // The job service records a run's log as the run ends, a moment
        // after the report says how it ended.
        let log_path = format!("{v1}/scan/{report}/log");
        for _ in 0..100 {
            let r = s
                .anon
                .get(s.u(&log_path))
                .basic_auth(a.unwrap().0, Some(a.unwrap().1))
                .send()
                .await
                .unwrap();
            if !r.text().await.unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let (st, log) = c.call(M::GET, &log_path, a, None).await;
        assert_eq!(st, 200);
        assert!(log.as_str().unwrap().contains("not a tar archive"), "{log}");
        let stop = Some(json!({"scan_type": "vulnerability"}));
        assert_eq!(
            c.call(M::POST, &format!("{v1}/scan/stop"), a, stop).await.0,
            400
        );
        let (_, none) = c
            .call(M::GET, &format!("{v1}/additions/vulnerabilities"), a, None)
            .await;
        assert_eq!(none, json!({}));
        let sbom = Some(json!({"scan_type": "sbom"}));
        assert_eq!(c.call(M::POST, &format!("{v1}/scan"), a, sbom).await.0, 202);
        for _ in 0..100 {
            let (_, art) = c.call(M::GET, &format!("{v1}?{flags}"), a, None).await;
            if art["sbom_overview"]["scan_status"] == "Error" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        c.call(M::GET, &format!("{arts}?{flags}"), a, None).await;
        assert_eq!(
            c.call(M::DELETE, &v2("/projects/docs"), a, None).await.0,
            412
        );
        assert_eq!(c.call(M::DELETE, &art, a, None).await.0, 200);
        let (st, why) = c.call(M::DELETE, &repo, a, None).await;
        assert_eq!(st, 200, "{why}");

        let mut execs = Value::Null;
        for _ in 0..100 {
            execs = c.call(M::GET, &format!("{hp}/executions"), a, None).await.1;
            if execs.as_array().is_some_and(|e| !e.is_empty()) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let eid = execs[0]["id"].as_i64().unwrap();
        let (_, tasks) = c
            .call(M::GET, &format!("{hp}/executions/{eid}/tasks"), a, None)
            .await;
        let tid = tasks[0]["id"].as_i64().unwrap();
        c.call(
            M::GET,
            &format!("{hp}/executions/{eid}/tasks/{tid}/log"),
            a,
            None,
        )
        .await;
        c.call(M::GET, &v2("/projects/docs/webhook/lasttrigger"), a, None)
            .await;
        c.call(M::DELETE, &hp, a, None).await;

        // Robots.
        let robot = json!({"name": "ci", "level": "project", "duration": 30, "permissions": [
            {"kind": "project", "namespace": "docs", "access": [{"resource": "repository", "action": "pull"}]}]});
        let (st, created) = c
            .call(M::POST, &v2("/robots"), a, Some(robot.clone()))
            .await;
        assert_eq!(st, 201);
        let rid = created["id"].as_i64().unwrap();
        c.call(
            M::GET,
            &v2(&format!("/robots?q=Level%3Dproject,ProjectID%3D{pid}")),
            a,
            None,
        )
        .await;
        c.call(M::GET, &v2(&format!("/robots/{rid}")), a, None)
            .await;
        c.call(M::PUT, &v2(&format!("/robots/{rid}")), a, Some(robot))
            .await;
        c.call(M::PATCH, &v2(&format!("/robots/{rid}")), a, Some(json!({})))
            .await;
        c.call(M::DELETE, &v2(&format!("/robots/{rid}")), a, None)
            .await;

        // Scan all.
        let manual = json!({"schedule": {"type": "Manual"}});
        let (st, _) = c
            .call(M::POST, &v2("/system/scanAll/schedule"), a, Some(manual))
            .await;
        assert_eq!(st, 201);
        for _ in 0..100 {
            let (_, stats) = c.call(M::GET, &v2("/scans/all/metrics"), a, None).await;
            if stats["ongoing"] == false {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        c.call(M::GET, &v2("/scans/schedule/metrics"), a, None)
            .await;
        let weekly = json!({"schedule": {"type": "Weekly"}});
        c.call(M::PUT, &v2("/system/scanAll/schedule"), a, Some(weekly))
            .await;
        c.call(M::GET, &v2("/system/scanAll/schedule"), a, None)
            .await;
        assert_eq!(
            c.call(M::POST, &v2("/system/scanAll/stop"), a, None)
                .await
                .0,
            202
        );

        // Scanner registrations: Berth's own, and Berth's adapter
        // registered again over HTTP.
        let (_, scanners) = c.call(M::GET, &v2("/scanners"), a, None).await;
        let builtin = scanners[0]["uuid"].as_str().unwrap().to_string();
        c.call(M::GET, &v2(&format!("/scanners/{builtin}")), a, None)
            .await;
        c.call(
            M::GET,
            &v2(&format!("/scanners/{builtin}/metadata")),
            a,
            None,
        )
        .await;
        let credential = format!("admin:{}", common::ADMIN_PASSWORD);
        let reg = json!({"name": "again", "url": c.s.u("/scanner-adapter"),
                         "auth": "Basic", "access_credential": credential});
        let (st, _) = c
            .call(M::POST, &v2("/scanners/ping"), a, Some(reg.clone()))
            .await;
        assert_eq!(st, 200);
        let (st, _) = c
            .call(M::POST, &v2("/scanners"), a, Some(reg.clone()))
            .await;
        assert_eq!(st, 201);
        let (_, found) = c.call(M::GET, &v2("/scanners?name=again"), a, None).await;
        let again = found[0]["uuid"].as_str().unwrap().to_string();
        let scanner = json!({"uuid": again});
        c.call(M::PUT, &v2("/projects/docs/scanner"), a, Some(scanner))
            .await;
        c.call(M::GET, &v2("/projects/docs/scanner"), a, None).await;
        c.call(M::GET, &v2("/projects/docs/scanner/candidates"), a, None)
            .await;
        c.call(M::PUT, &v2(&format!("/scanners/{again}")), a, Some(reg))
            .await;
        let default = json!({"is_default": true});
        c.call(
            M::PATCH,
            &v2(&format!("/scanners/{again}")),
            a,
            Some(default),
        )
        .await;
        let (st, _) = c
            .call(M::DELETE, &v2(&format!("/scanners/{builtin}")), a, None)
            .await;
        assert_eq!(st, 403);
        c.call(M::DELETE, &v2(&format!("/scanners/{again}")), a, None)
            .await;

        // LDAP (settings only: the mode stays database users).
        let ldap = Slapd::start(
            "dn: uid=lu,dc=berth,dc=test\nobjectClass: inetOrgPerson\nuid: lu\ncn: L\nsn: U\n\n\
             dn: cn=lg,dc=berth,dc=test\nobjectClass: groupOfNames\ncn: lg\nmember: uid=lu,dc=berth,dc=test\n",
        )
        .await;
        let directory = json!({"ldap_url": ldap.url, "ldap_search_dn": ldap::MANAGER_DN,
            "ldap_search_password": ldap::MANAGER_PASSWORD, "ldap_base_dn": ldap::SUFFIX,
            "ldap_uid": "uid"});
        assert_eq!(
            c.call(M::PUT, &v2("/configurations"), a, Some(directory))
                .await
                .0,
            200
        );
        let (_, pinged) = c.call(M::POST, &v2("/ldap/ping"), a, Some(json!({}))).await;
        assert_eq!(pinged["success"], true);
        c.call(M::GET, &v2("/ldap/users/search?username=lu"), a, None)
            .await;
        let import = |uid: &str| Some(json!({"ldap_uid_list": [uid]}));
        assert_eq!(
            c.call(M::POST, &v2("/ldap/users/import"), a, import("lu"))
                .await
                .0,
            200
        );
        assert_eq!(
            c.call(M::POST, &v2("/ldap/users/import"), a, import("no"))
                .await
                .0,
            404
        );
        c.call(M::GET, &v2("/ldap/groups/search?groupname=lg"), a, None)
            .await;
        c.call(M::GET, &v2("/ldap/groups/search?groupname=no"), a, None)
            .await;
        let nobody = json!({"url": "http://127.0.0.1:1", "verify_cert": true});
        let oidc_ping = v2("/system/oidc/ping");
        assert_eq!(c.call(M::POST, &oidc_ping, a, Some(nobody)).await.0, 400);
        // CLI secrets are for OIDC mode only.
        let secret = json!({"secret": "Secret-12345"});
        let cli = v2("/users/1/cli_secret");
        assert_eq!(c.call(M::PUT, &cli, a, Some(secret)).await.0, 412);
        // User groups: the directory's group `lg`.
        let group = json!({"group_name": "lg", "group_type": 1,
            "ldap_group_dn": "cn=lg,dc=berth,dc=test"});
        let groups = v2("/usergroups");
        let created = c.call(M::POST, &groups, a, Some(group.clone()));
        assert_eq!(created.await.0, 201);
        assert_eq!(c.call(M::POST, &groups, a, Some(group)).await.0, 409);
        let (_, groups) = c
            .call(M::GET, &v2("/usergroups?group_name=lg"), a, None)
            .await;
        let gid = groups[0]["id"].as_i64().unwrap();
        c.call(M::GET, &v2("/usergroups/search?groupname=l"), a, None)
            .await;
        let g = v2(&format!("/usergroups/{gid}"));
        c.call(M::GET, &g, a, None).await;
        c.call(M::PUT, &g, a, Some(json!({"group_name": "lg2"})))
            .await;
        c.call(M::DELETE, &g, a, None).await;
        assert_eq!(c.call(M::GET, &g, a, None).await.0, 404);

        // Registry endpoints: Berth itself, over HTTP.
        c.call(M::GET, &v2("/replication/adapters"), a, None).await;
        c.call(M::GET, &v2("/replication/adapterinfos"), a, None)
            .await;
        let itself = json!({"type": "harbor", "url": c.s.url});
        let (st, _) = c
            .call(M::POST, &v2("/registries/ping"), a, Some(itself))
            .await;
        assert_eq!(st, 200);
        let endpoint = json!({"name": "itself", "type": "harbor", "url": c.s.url,
            "credential": {"type": "basic", "access_key": "admin",
                           "access_secret": common::ADMIN_PASSWORD}});
        let (st, _) = c.call(M::POST, &v2("/registries"), a, Some(endpoint)).await;
        assert_eq!(st, 201);
        let (_, found) = c
            .call(M::GET, &v2("/registries?q=name%3Ditself"), a, None)
            .await;
        let id = found[0]["id"].as_i64().unwrap();
        c.call(M::GET, &v2(&format!("/registries/{id}")), a, None)
            .await;
        c.call(M::GET, &v2(&format!("/registries/{id}/info")), a, None)
            .await;
        let change = json!({"description": "Berth"});
        c.call(M::PUT, &v2(&format!("/registries/{id}")), a, Some(change))
            .await;

        // Replication: a rule pushing a project to Berth itself, run once.
        c.s.create_project("replsrc", false, a).await;
        c.s.push_image("replsrc/app", "v1", "openapi-replication")
            .await;
        let rule = json!({"name": "to-itself", "enabled": true,
            "dest_registry": {"id": id}, "dest_namespace": "repldst",
            "filters": [{"type": "name", "value": "replsrc/**"}],
            "trigger": {"type": "manual"}});
        let (st, _) = c
            .call(M::POST, &v2("/replication/policies"), a, Some(rule.clone()))
            .await;
        assert_eq!(st, 201);
        let (_, rules) = c
            .call(M::GET, &v2("/replication/policies?name=to-itself"), a, None)
            .await;
        let rid = rules[0]["id"].as_i64().unwrap();
        let rule_path = v2(&format!("/replication/policies/{rid}"));
        c.call(M::GET, &rule_path, a, None).await;
        let mut changed = rule.clone();
        changed["description"] = json!("to Berth itself");
        c.call(M::PUT, &rule_path, a, Some(changed)).await;
        let start = json!({"policy_id": rid});
        let (st, _) = c
            .call(M::POST, &v2("/replication/executions"), a, Some(start))
            .await;
        assert_eq!(st, 201);
        let (_, runs) = c
            .call(
                M::GET,
                &v2(&format!("/replication/executions?policy_id={rid}")),
                a,
                None,
            )
            .await;
        let run_path = v2(&format!("/replication/executions/{}", runs[0]["id"]));
        for _ in 0..300 {
            let (_, run) = c.call(M::GET, &run_path, a, None).await;
            if run["status"] != "InProgress" {
                assert_eq!(run["status"], "Succeed", "{run}");
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let (_, tasks) = c.call(M::GET, &format!("{run_path}/tasks"), a, None).await;
        let log = format!("{run_path}/tasks/{}/log", tasks[0]["id"]);
        c.call(M::GET, &log, a, None).await;
        c.call(M::PUT, &run_path, a, None).await;
        c.call(M::DELETE, &rule_path, a, None).await;

        c.call(M::DELETE, &v2(&format!("/registries/{id}")), a, None)
            .await;

        // The security hub.
        let full = "/security/summary?with_dangerous_cve=true&with_dangerous_artifact=true";
        c.call(M::GET, &v2(full), a, None).await;
        c.call(
            M::GET,
            &v2("/security/vul?with_tag=true&tune_count=true"),
            a,
            None,
        )
        .await;

        // CVE export.
        let (_, docs) = c.call(M::GET, &v2("/projects/docs"), a, None).await;
        let criteria = json!({"projects": [docs["project_id"]]});
        let data_type = [(
            "X-Scan-Data-Type",
            "application/vnd.security.vulnerability.report; version=1.1",
        )];
        let (st, job) = c
            .call_with(M::POST, &v2("/export/cve"), a, Some(criteria), &data_type)
            .await;
        assert_eq!(st, 200);
        let export = job["id"].as_i64().unwrap();
        for _ in 0..100 {
            let path = v2(&format!("/export/cve/execution/{export}"));
            let (_, run) = c.call(M::GET, &path, a, None).await;
            if run["file_present"] == true {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        c.call(M::GET, &v2("/export/cve/executions"), a, None).await;
        let (st, _) = c
            .call(
                M::GET,
                &v2(&format!("/export/cve/download/{export}")),
                a,
                None,
            )
            .await;
        assert_eq!(st, 200);

        // A project's cosign keys (Berth's own API).
        let (_, pem) = common::cosign_key();
        let key = json!({"name": "ci", "public_key": pem});
        let (st, _) = c
            .call(M::POST, &v2("/projects/docs/cosign-keys"), a, Some(key))
            .await;
        assert_eq!(st, 201);
        let (_, keys) = c
            .call(M::GET, &v2("/projects/docs/cosign-keys"), a, None)
            .await;
        let kid = keys[0]["id"].as_i64().unwrap();
        c.call(
            M::DELETE,
            &v2(&format!("/projects/docs/cosign-keys/{kid}")),
            a,
            None,
        )
        .await;

        // Garbage collection and the job service.
        let run = json!({"schedule": {"type": "Manual"}, "parameters": {"dry_run": true}});
        let (st, _) = c
            .call(M::POST, &v2("/system/gc/schedule"), a, Some(run))
            .await;
        assert_eq!(st, 201);
        let (_, runs) = c.call(M::GET, &v2("/system/gc"), a, None).await;
        let gc = runs[0]["id"].as_i64().unwrap();
        c.wait_success(&v2(&format!("/system/gc/{gc}"))).await;
        c.call(M::GET, &v2(&format!("/system/gc/{gc}/log")), a, None)
            .await;
        let daily = json!({"schedule": {"type": "Daily"}, "parameters": {"dry_run": true}});
        c.call(M::PUT, &v2("/system/gc/schedule"), a, Some(daily))
            .await;
        c.call(M::GET, &v2("/system/gc/schedule"), a, None).await;
        c.call(M::GET, &v2("/schedules"), a, None).await;
        c.call(M::GET, &v2("/schedules/GARBAGE_COLLECTION/paused"), a, None)
            .await;
        // Stopping a run that has ended changes nothing, as in Harbor.
        assert_eq!(
            c.call(M::PUT, &v2(&format!("/system/gc/{gc}")), a, None)
                .await
                .0,
            200
        );
        let (_, run) = c
            .call(M::GET, &v2(&format!("/system/gc/{gc}")), a, None)
            .await;
        assert_eq!(run["job_status"], "Success");
        let (_, pools) = c.call(M::GET, &v2("/jobservice/pools"), a, None).await;
        let pool = pools[0]["worker_pool_id"].as_str().unwrap().to_string();
        c.call(
            M::GET,
            &v2(&format!("/jobservice/pools/{pool}/workers")),
            a,
            None,
        )
        .await;
        c.call(M::GET, &v2("/jobservice/queues"), a, None).await;
        let resume = json!({"action": "resume"});
        c.call(M::PUT, &v2("/jobservice/queues/all"), a, Some(resume))
            .await;
        let stop = json!({"action": "stop"});
        assert_eq!(
            c.call(M::PUT, &v2("/jobservice/jobs/999999"), a, Some(stop))
                .await
                .0,
            404
        );
        assert_eq!(
            c.call(M::GET, &v2("/jobservice/jobs/999999/log"), a, None)
                .await
                .0,
            404
        );

        // Audit logs and their purge.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        c.call(M::GET, &v2("/audit-logs?q=operation%3Dcreate"), a, None)
            .await;
        c.call(M::GET, &v2("/projects/docs/logs"), a, None).await;
        c.call(M::GET, &v2("/auditlog-exts?sort=-op_time"), a, None)
            .await;
        c.call(M::GET, &v2("/projects/docs/auditlog-exts"), a, None)
            .await;
        c.call(M::GET, &v2("/auditlog-exts/events"), a, None).await;
        let purge = json!({"schedule": {"type": "Manual"}, "parameters": {"dry_run": true}});
        let (st, _) = c
            .call(M::POST, &v2("/system/purgeaudit/schedule"), a, Some(purge))
            .await;
        assert_eq!(st, 201);
        let (_, runs) = c.call(M::GET, &v2("/system/purgeaudit"), a, None).await;
        let pid_ = runs[0]["id"].as_i64().unwrap();
        c.wait_success(&v2(&format!("/system/purgeaudit/{pid_}")))
            .await;
        c.call(
            M::GET,
            &v2(&format!("/system/purgeaudit/{pid_}/log")),
            a,
            None,
        )
        .await;
        let (st, _) = c
            .call(M::PUT, &v2(&format!("/system/purgeaudit/{pid_}")), a, None)
            .await;
        assert_eq!(st, 200);
        let weekly = json!({"schedule": {"type": "Weekly"}, "parameters": {}});
        c.call(M::PUT, &v2("/system/purgeaudit/schedule"), a, Some(weekly))
            .await;
        c.call(M::GET, &v2("/system/purgeaudit/schedule"), a, None)
            .await;

        // Removals, and an unsupported body.
        c.call(
            M::DELETE,
            &v2(&format!("/projects/docs/members/{mid}")),
            a,
            None,
        )
        .await;
        let (st, why) = c.call(M::DELETE, &v2("/projects/docs"), a, None).await;
        assert_eq!(st, 200, "{why}");
        assert_eq!(
            c.call(M::DELETE, &v2(&format!("/users/{uid}")), a, None)
                .await
                .0,
            200
        );
        let r = s
            .api(Method::POST, "/projects", ADMIN)
            .header("content-type", "text/plain")
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 415);
        assert!(c.doc["paths"]["/api/v2.0/projects"]["post"]["responses"]["415"].is_object());

        c.assert_all_called();
        c.assert_harbor_agrees();
        // Nor is Harbor's check vacuous: `null` where Harbor's type cannot
        // be null, a field Harbor does not define, a missing header fail it.
        let mut json_headers = reqwest::header::HeaderMap::new();
        json_headers.insert("content-type", "application/json".parse().unwrap());
        json_headers.insert("x-request-id", "r".parse().unwrap());
        for bad in [
            json!({"project_id": 1, "registry_id": null}),
            json!({"project_id": 1, "surprise": true}),
        ] {
            let before = c.harbor.failures.len();
            let body = serde_json::to_vec(&bad).unwrap();
            c.harbor
                .check("get", "/api/v2.0/projects/p", 200, &json_headers, &body);
            assert_eq!(c.harbor.failures.len(), before + 1, "{bad} passed");
        }
        let before = c.harbor.failures.len();
        c.harbor
            .check("get", "/api/v2.0/projects", 200, &json_headers, b"[]");
        assert_eq!(
            c.harbor.failures.len(),
            before + 1,
            "no X-Total-Count passed"
        );
    }
}
