//! The web portal in a real browser: headless Chromium driven through
//! chromedriver (Debian's `chromium` and `chromium-driver`, installed by
//! scripts/test.sh). Screenshots of the pages land in target/screenshots.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Server, ADMIN, ADMIN_PASSWORD};
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::Method;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A chromedriver of our own on a free port, stopped when dropped.
struct Driver(Child, u16);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn browser() -> (Driver, Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian chromium-driver; scripts/test.sh installs it)");
    let driver = Driver(child, port);
    let caps = json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,900"]
        }
    });
    let caps = caps.as_object().unwrap().clone();
    for _ in 0..100 {
        if let Ok(c) = ClientBuilder::rustls()
            .expect("rustls")
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{}", driver.1))
            .await
        {
            return (driver, c);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer");
}

async fn screenshot(c: &Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// The text of the first element matching `css`, waiting for it; when it
/// never comes, the failure shows the page the browser is on.
async fn text(c: &Client, css: &str) -> String {
    match c.wait().for_element(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap(),
        Err(e) => {
            let url = c.current_url().await.map(|u| u.to_string());
            let page = match c.find(Locator::Css("body")).await {
                Ok(b) => b.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            panic!("{css}: {e}\non {url:?}:\n{page}");
        }
    }
}

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Clicks a submit button and waits until the next page has replaced this one.
async fn submit(c: &Client, css: &str) {
    let old = c.find(Locator::Css("html")).await.unwrap();
    click(c, css).await;
    for _ in 0..400 {
        if old.tag_name().await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("clicking {css} led to no new page");
}

/// Changes system settings through the API, as the administrator.
async fn configure(s: &Server, settings: serde_json::Value) {
    let r = s
        .client
        .put(s.u("/api/v2.0/configurations"))
        .json(&settings)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn sign_in(c: &Client, s: &Server, user: &str, password: &str) {
    c.goto(&s.u("/harbor/projects")).await.unwrap();
    // Not signed in: the portal sends the browser to its sign-in page.
    assert!(c
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/harbor/sign-in"));
    fill(c, "#principal", user).await;
    fill(c, "#password", password).await;
    submit(c, "form[action='/harbor/sign-in'] button").await;
}

#[tokio::test]
async fn sign_in_create_and_find_projects_sign_out() {
    let (_driver, c) = browser().await;
    for s in common::servers().await {
        let b = s.backend;
        sign_in(&c, &s, "admin", "wrong").await;
        assert_eq!(
            text(&c, ".notice.err").await,
            "Invalid username or password."
        );
        screenshot(&c, &format!("{b}-sign-in-failed")).await;

        fill(&c, "#principal", "admin").await;
        fill(&c, "#password", ADMIN_PASSWORD).await;
        submit(&c, "form[action='/harbor/sign-in'] button").await;
        assert_eq!(text(&c, "h1").await, "Projects");
        assert!(text(&c, "header.top").await.contains("Signed in as admin"));
        // The harness's projects p and q are there, both private.
        let rows = text(&c, "tbody").await;
        assert!(
            rows.contains("p\tPrivate") || rows.contains("p Private"),
            "{rows}"
        );

        fill(&c, "#project_name", "web-one").await;
        click(&c, "input[name=public]").await;
        submit(&c, "form[action='/harbor/projects'][method=post] button").await;
        assert_eq!(text(&c, ".notice.ok").await, "Project web-one created.");
        screenshot(&c, &format!("{b}-projects")).await;
        // The API sees what the portal made, public as asked.
        let p: serde_json::Value = s.api_json("/projects/web-one", ADMIN).await;
        assert_eq!(p["metadata"]["public"], "true");

        // A name taken already: the error is shown, what was typed stays,
        // nothing else changes.
        fill(&c, "#project_name", "web-one").await;
        submit(&c, "form[action='/harbor/projects'][method=post] button").await;
        assert!(text(&c, ".notice.err").await.contains("already exists"));
        let typed = c.find(Locator::Css("#project_name")).await.unwrap();
        assert_eq!(
            typed.prop("value").await.unwrap().as_deref(),
            Some("web-one")
        );
        // Shown once: the next page starts afresh.
        c.goto(&s.u("/harbor/projects")).await.unwrap();
        let typed = c.find(Locator::Css("#project_name")).await.unwrap();
        assert_eq!(typed.prop("value").await.unwrap().as_deref(), Some(""));

        fill(&c, "#search-name", "web").await;
        submit(&c, "form[role=search] button").await;
        let rows = text(&c, "tbody").await;
        assert!(
            rows.contains("web-one") && !rows.contains("Private"),
            "{rows}"
        );
        fill(&c, "#search-name", "nothing-like-it").await;
        submit(&c, "form[role=search] button").await;
        assert!(text(&c, "p.empty")
            .await
            .contains("No project name contains"));

        // A form posted without the session's CSRF token changes nothing.
        let sid = c.get_named_cookie("sid").await.unwrap().value().to_string();
        let r = s
            .anon
            .post(s.u("/harbor/projects"))
            .header("cookie", format!("sid={sid}"))
            .form(&[("project_name", "forged")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let r = s
            .client
            .get(s.u("/api/v2.0/projects/forged"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);

        // Read-only mode: every page says so and offers no write, and a
        // write posted anyway is refused on a page with the navigation.
        configure(
            &s,
            json!({"read_only": true, "banner_message": "Maintenance tonight"}),
        )
        .await;
        for page in [
            "/harbor/projects",
            "/harbor/users",
            "/harbor/gc",
            "/harbor/account",
        ] {
            c.goto(&s.u(page)).await.unwrap();
            assert!(text(&c, ".notice.read-only")
                .await
                .starts_with("Read-only mode."));
            assert_eq!(text(&c, ".notice.banner").await, "Maintenance tonight");
            let posts = c
                .find_all(Locator::Css("main form[method=post]"))
                .await
                .unwrap();
            assert!(posts.is_empty(), "{page} offers a write in read-only mode");
        }
        let r = s
            .anon
            .post(s.u("/harbor/projects"))
            .header("cookie", format!("sid={sid}"))
            .form(&[("project_name", "during-read-only")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let page = r.text().await.unwrap();
        assert!(
            page.contains("read only mode") && page.contains("aria-label=\"Main\""),
            "{page}"
        );
        configure(&s, json!({"read_only": false, "banner_message": ""})).await;
        c.goto(&s.u("/harbor/projects")).await.unwrap();
        assert!(c.find(Locator::Css("#project_name")).await.is_ok());
        assert!(c.find(Locator::Css(".notice.read-only")).await.is_err());

        // Deleting a project: refused while it holds a repository (and the
        // page says why), done once it is empty.
        s.push_image("p/app", "v1", "undeletable").await;
        let p: serde_json::Value = s.api_json("/projects/p", ADMIN).await;
        tab(&c, &s, p["project_id"].as_i64().unwrap(), "configs").await;
        assert!(text(&c, "p.undeletable")
            .await
            .contains("delete its 1 repository first"));
        assert!(c.find(Locator::Css("button[value=delete]")).await.is_err());
        let web: serde_json::Value = s.api_json("/projects/web-one", ADMIN).await;
        tab(&c, &s, web["project_id"].as_i64().unwrap(), "configs").await;
        confirm(&c, "button[value=delete]").await;
        assert_eq!(text(&c, ".notice.ok").await, "Project web-one deleted.");
        assert_eq!(s.get("/api/v2.0/projects/web-one").await.status(), 404);

        c.goto(&s.u("/harbor/projects")).await.unwrap();
        submit(&c, "form[action='/harbor/sign-out'] button").await;
        assert_eq!(text(&c, ".notice.ok").await, "You have signed out.");
        // The session is over: the cookie no longer opens the portal.
        let r = s
            .anon
            .get(s.u("/harbor/projects"))
            .header("cookie", format!("sid={sid}"))
            .send()
            .await
            .unwrap();
        assert!(r.url().path().ends_with("/harbor/sign-in"));
    }
    c.close().await.unwrap();
}

#[tokio::test]
async fn a_developer_sees_only_what_they_may_and_cannot_create_when_restricted() {
    let (_driver, c) = browser().await;
    for s in common::servers().await {
        s.create_user("dev1", "Dev12345pass").await;
        configure(&s, json!({"project_creation_restriction": "adminonly"})).await;
        sign_in(&c, &s, "dev1", "Dev12345pass").await;
        screenshot(&c, &format!("{}-projects-developer", s.backend)).await;
        // Only the public library: private p and q are not theirs; no form.
        assert!(text(&c, "caption").await.starts_with("1 project"));
        let rows = text(&c, "tbody").await;
        assert!(
            rows.contains("library") && rows.contains("Public"),
            "{rows}"
        );
        assert!(c.find(Locator::Css("#project_name")).await.is_err());
        fill(&c, "#search-name", "p").await;
        submit(&c, "form[role=search] button").await;
        assert!(text(&c, "p.empty")
            .await
            .contains("No project name contains"));
        submit(&c, "form[action='/harbor/sign-out'] button").await;
        text(&c, ".notice.ok").await;
    }
    c.close().await.unwrap();
}

/// Clicks a button whose form asks first, says yes, and waits for the next page.
async fn confirm(c: &Client, css: &str) {
    let old = c.find(Locator::Css("html")).await.unwrap();
    click(c, css).await;
    c.accept_alert()
        .await
        .expect("the action asks for confirmation");
    for _ in 0..400 {
        if old.tag_name().await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("confirming {css} led to no new page");
}

/// A one-layer image in an OCI layout, built with umoci (no network).
fn image_layout(dir: &std::path::Path) -> String {
    let layout = dir.join("img");
    let run = |args: &[&str]| {
        let out = Command::new("umoci")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("umoci (scripts/test.sh installs it)");
        assert!(out.status.success(), "umoci {args:?}: {out:?}");
    };
    run(&["init", "--layout", "img"]);
    run(&["new", "--image", "img:v1"]);
    run(&["config", "--image", "img:v1", "--config.cmd", "/hello"]);
    run(&["unpack", "--rootless", "--image", "img:v1", "bundle"]);
    std::fs::write(
        dir.join("bundle/rootfs/greeting"),
        "hello from the portal test\n",
    )
    .unwrap();
    run(&["repack", "--image", "img:v1", "bundle"]);
    format!("oci:{}:v1", layout.display())
}

/// `skopeo copy` of `src` to `host/dest` as `creds`; the command's output.
fn skopeo_push(src: &str, s: &Server, dest: &str, creds: &str) -> std::process::Output {
    let host = s.url.trim_start_matches("http://");
    Command::new("skopeo")
        .args(["--insecure-policy", "copy", "-q", src])
        .arg(format!("docker://{host}/{dest}"))
        .args(["--dest-tls-verify=false", "--dest-creds", creds])
        .output()
        .expect("skopeo (scripts/test.sh installs it)")
}

/// Opens one of project p's tabs.
async fn tab(c: &Client, s: &Server, project: i64, name: &str) {
    c.goto(&s.u(&format!("/harbor/projects/{project}/{name}")))
        .await
        .unwrap();
}

#[tokio::test]
async fn members_images_tags_robots_gc_and_read_only_in_the_browser() {
    let (_driver, c) = browser().await;
    let work = tempfile::tempdir().unwrap();
    let image = image_layout(work.path());
    let admin = format!("admin:{ADMIN_PASSWORD}");
    for s in common::servers().await {
        let b = s.backend;
        s.create_user("dev1", "Dev12345pass").await;
        let p: serde_json::Value = s.api_json("/projects/p", ADMIN).await;
        let pid = p["project_id"].as_i64().unwrap();
        sign_in(&c, &s, "admin", ADMIN_PASSWORD).await;

        // Members: add, change role, remove (which asks first).
        tab(&c, &s, pid, "members").await;
        fill(&c, "#username", "dev1").await;
        submit(&c, "form[action$='/members'] button").await;
        assert_eq!(text(&c, ".notice.ok").await, "dev1 was added to p.");
        assert!(text(&c, "tbody").await.contains("dev1"));
        screenshot(&c, &format!("{b}-project-members")).await;
        let members: serde_json::Value = s
            .api_json("/projects/p/members?entityname=dev1", ADMIN)
            .await;
        assert_eq!(members[0]["role_name"], "developer", "{members}");
        let mid = members[0]["id"].as_i64().unwrap();
        c.find(Locator::Css(&format!("#role-{mid} option[value='3']")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        submit(
            &c,
            &format!("form[action$='/members/{mid}'] button[value=role]"),
        )
        .await;
        assert_eq!(text(&c, ".notice.ok").await, "dev1 is now Guest.");
        confirm(
            &c,
            &format!("form[action$='/members/{mid}'] button[value=remove]"),
        )
        .await;
        assert_eq!(text(&c, ".notice.ok").await, "dev1 was removed from p.");
        assert!(!text(&c, "tbody").await.contains("dev1"));

        // An image pushed with skopeo shows up with its tag.
        tab(&c, &s, pid, "repositories").await;
        assert!(text(&c, "p.empty").await.contains("No repositories yet"));
        let out = skopeo_push(&image, &s, "p/app:v1", &admin);
        assert!(out.status.success(), "{out:?}");
        tab(&c, &s, pid, "summary").await;
        let used = text(&c, "dd.storage").await;
        assert!(
            !used.starts_with("0 B") && used.ends_with("B of unlimited"),
            "{used}"
        );
        screenshot(&c, &format!("{b}-project-summary")).await;
        tab(&c, &s, pid, "repositories").await;
        screenshot(&c, &format!("{b}-project-repositories")).await;
        submit(&c, "tbody a").await;
        assert_eq!(text(&c, "h1").await, "p/app");
        assert_eq!(text(&c, "td.tags").await, "v1");
        screenshot(&c, &format!("{b}-repository")).await;
        submit(&c, "tbody a").await;
        let digest: serde_json::Value = s
            .api_json("/projects/p/repositories/app/artifacts/v1", ADMIN)
            .await;
        let digest = digest["digest"].as_str().unwrap().to_string();
        let host = s.url.trim_start_matches("http://");
        let commands = text(&c, "dl.commands").await;
        assert!(
            commands.contains(&format!("docker pull {host}/p/app@{digest}")),
            "{commands}"
        );
        assert!(text(&c, "table.layers").await.contains("sha256:"));
        // Every command has a working copy button.
        let copy = format!("button[aria-label='Copy docker pull {host}/p/app@{digest}']");
        click(&c, &copy).await;
        let mut said = String::new();
        for _ in 0..40 {
            said = text(&c, &copy).await;
            if said != "Copy" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(said == "Copied" || said == "Press Ctrl+C", "{said}");
        assert!(text(&c, "table.history").await.contains("umoci"));

        // On a phone's width nothing needs sideways scrolling.
        c.set_window_size(390, 844).await.unwrap();
        let fits = c
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth",
                vec![],
            )
            .await
            .unwrap();
        screenshot(&c, &format!("{b}-artifact-narrow")).await;
        c.set_window_size(1280, 900).await.unwrap();
        assert_eq!(
            fits,
            serde_json::Value::Bool(true),
            "the artifact page overflows"
        );

        // Tags: add one, see it through the API, delete it.
        fill(&c, "#new_tag", "v2").await;
        submit(&c, "button[value=add-tag]").await;
        assert_eq!(text(&c, ".notice.ok").await, "Tag v2 added.");
        screenshot(&c, &format!("{b}-artifact")).await;
        let tags: serde_json::Value = s
            .api_json("/projects/p/repositories/app/artifacts/v2/tags", ADMIN)
            .await;
        assert_eq!(tags.as_array().unwrap().len(), 2, "{tags}");
        confirm(&c, "button[aria-label='Delete tag v2']").await;
        assert_eq!(text(&c, ".notice.ok").await, "Tag v2 deleted.");
        // Tags in natural order on the artifact's page; in the repository's
        // list, the first and how many more.
        for t in ["v10", "v9"] {
            fill(&c, "#new_tag", t).await;
            submit(&c, "button[value=add-tag]").await;
        }
        let mut names = Vec::new();
        for e in c.find_all(Locator::Css("td.tag-name")).await.unwrap() {
            names.push(e.text().await.unwrap());
        }
        assert_eq!(names, ["v1", "v9", "v10"]);
        submit(&c, "p.crumbs a[href$='/repositories/app']").await;
        assert_eq!(text(&c, "td.tags").await, "v1 +2");
        let r = s
            .get("/api/v2.0/projects/p/repositories/app/artifacts/v2")
            .await;
        assert_eq!(r.status(), 404);

        // A chart's page shows its README, dependencies and values.
        let chart = serde_json::json!({"apiVersion": "v2", "name": "web", "version": "1.0.0",
            "dependencies": [{"name": "redis", "version": "17.x", "repository": "oci://charts.example"}]});
        let archive = common::chart_archive(
            &chart,
            &[
                ("README.md", b"# Web chart\n"),
                ("values.yaml", b"replicas: 3\n"),
            ],
        );
        let web = s.push_chart("p/web", "1.0.0", &chart, &archive).await;
        c.goto(&s.u(&format!(
            "/harbor/projects/{pid}/repositories/web/artifacts/{web}"
        )))
        .await
        .unwrap();
        assert!(text(&c, "dl.facts").await.contains("CHART"));
        let files = c.find_all(Locator::Css("pre.chart-file")).await.unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].text().await.unwrap(), "# Web chart");
        assert_eq!(files[1].text().await.unwrap(), "replicas: 3");
        assert!(text(&c, "table.dependencies").await.contains("redis"));
        screenshot(&c, &format!("{b}-chart")).await;

        // A robot's secret is shown once and works with skopeo until disabled.
        tab(&c, &s, pid, "robot-account").await;
        fill(&c, "#robot_name", "ci").await;
        submit(&c, "form[action$='/robot-account'] button").await;
        let secret = text(&c, "#robot-secret").await;
        screenshot(&c, &format!("{b}-project-robots")).await;
        let robot = format!("robot$p+ci:{secret}");
        let out = skopeo_push(&image, &s, "p/app:from-robot", &robot);
        assert!(out.status.success(), "{out:?}");
        tab(&c, &s, pid, "robot-account").await;
        assert!(
            c.find(Locator::Css("#robot-secret")).await.is_err(),
            "shown once only"
        );
        submit(&c, "button[value=disable]").await;
        assert_eq!(text(&c, ".notice.ok").await, "robot$p+ci is disabled.");
        let out = skopeo_push(&image, &s, "p/app:refused", &robot);
        assert!(!out.status.success(), "a disabled robot pushed");

        // GC from the portal, then its log.
        c.goto(&s.u("/harbor/gc")).await.unwrap();
        fill(&c, "#run_time_window", "0").await;
        submit(&c, "button[value=run]").await;
        assert!(text(&c, ".notice.ok")
            .await
            .starts_with("Garbage collection"));
        let mut status = String::new();
        for _ in 0..100 {
            c.goto(&s.u("/harbor/gc")).await.unwrap();
            status = text(&c, "td.status").await;
            if status != "Pending" && status != "Running" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status, "Success");
        screenshot(&c, &format!("{b}-gc")).await;
        // A schedule has parameters of its own, keeps them, and the page
        // says what a scheduled run will do.
        let untagged = "fieldset:has(#cron_type) input[name=delete_untagged]";
        for css in [
            "#cron_type option[value=Daily]",
            "#schedule_workers option[value='2']",
            untagged,
        ] {
            c.find(Locator::Css(css))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
        }
        submit(&c, "button[value=schedule]").await;
        assert_eq!(text(&c, ".notice.ok").await, "The schedule was saved.");
        let scheduled = text(&c, "p.scheduled").await;
        assert!(
            scheduled.starts_with("Next run:")
                && scheduled.contains("2 worker(s)")
                && !scheduled.contains("untagged"),
            "{scheduled}"
        );
        let schedule: serde_json::Value = s.api_json("/system/gc/schedule", ADMIN).await;
        assert_eq!(schedule["schedule"]["type"], "Daily", "{schedule}");
        let params: serde_json::Value =
            serde_json::from_str(schedule["job_parameters"].as_str().unwrap()).unwrap();
        assert_eq!(params["delete_untagged"], false, "{schedule}");
        assert_eq!(params["workers"], 2, "{schedule}");
        let ticked = |css: &'static str| {
            let c = c.clone();
            async move {
                c.find(Locator::Css(css))
                    .await
                    .unwrap()
                    .is_selected()
                    .await
                    .unwrap()
            }
        };
        assert!(!ticked(untagged).await);
        // A run now starts from Harbor's defaults, not the schedule's.
        assert!(ticked("fieldset:has(#run_workers) input[name=delete_untagged]").await);
        submit(&c, "tbody a").await;
        assert!(text(&c, "pre.log").await.contains("succeeded"));
        screenshot(&c, &format!("{b}-gc-log")).await;

        // Job queues: one paused through the API is resumed from the page.
        c.goto(&s.u("/harbor/job-service-dashboard")).await.unwrap();
        assert!(text(&c, "table.pools tbody").await.contains("pid"));
        let r = s
            .api(reqwest::Method::PUT, "/jobservice/queues/WEBHOOK", ADMIN)
            .json(&json!({"action": "pause"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        c.refresh().await.unwrap();
        assert!(text(&c, "table.queues").await.contains("Paused"));
        screenshot(&c, &format!("{b}-job-queues")).await;
        submit(&c, "button[value=resume]").await;
        assert_eq!(text(&c, ".notice.ok").await, "WEBHOOK: resume done.");
        let queues = text(&c, "table.queues").await;
        assert!(
            queues.contains("Running") && !queues.contains("Paused"),
            "{queues}"
        );

        // Read-only from the configuration page refuses a push, and the page
        // can turn it off again.
        c.goto(&s.u("/harbor/configs")).await.unwrap();
        click(&c, "input[name=read_only]").await;
        submit(&c, "form[action='/harbor/configs'] button").await;
        assert_eq!(text(&c, ".notice.ok").await, "The configuration was saved.");
        screenshot(&c, &format!("{b}-configs")).await;
        let out = skopeo_push(&image, &s, "p/app:during-read-only", &admin);
        assert!(!out.status.success(), "pushed in read-only mode");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("read only"),
            "{out:?}"
        );
        click(&c, "input[name=read_only]").await;
        submit(&c, "form[action='/harbor/configs'] button").await;
        assert_eq!(text(&c, ".notice.ok").await, "The configuration was saved.");
        let out = skopeo_push(&image, &s, "p/app:after-read-only", &admin);
        assert!(out.status.success(), "{out:?}");

        // The portal's changes are in the project's log.
        let mut logged = String::new();
        for _ in 0..50 {
            tab(&c, &s, pid, "logs").await;
            logged = text(&c, "main").await;
            if logged.contains("p/app:v2") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            logged.contains("p/member dev1") && logged.contains("p/app:v2"),
            "{logged}"
        );
        // Filters narrow the log and keep to its pages.
        click(&c, "#log_operation option[value=delete]").await;
        submit(&c, "form.filters button").await;
        let operations = c
            .find_all(Locator::Css("table.logs tbody td:nth-child(3)"))
            .await
            .unwrap();
        assert!(!operations.is_empty());
        for o in operations {
            assert_eq!(o.text().await.unwrap(), "delete");
        }
        assert!(c
            .current_url()
            .await
            .unwrap()
            .query()
            .unwrap_or("")
            .contains("operation=delete"));
        let later = format!("/harbor/projects/{pid}/logs?username=admin&from=2999-01-01");
        c.goto(&s.u(&later)).await.unwrap();
        assert_eq!(text(&c, "p.empty").await, "No entry matches these filters.");
        submit(&c, "form[action='/harbor/sign-out'] button").await;
    }
    c.close().await.unwrap();
}

#[tokio::test]
async fn sign_up_account_and_user_administration_in_the_browser() {
    let (_driver, c) = browser().await;
    for s in common::servers().await {
        let b = s.backend;
        // Without self-registration there is no sign-up page.
        let r = s.anon.get(s.u("/harbor/sign-up")).send().await.unwrap();
        assert_eq!(r.status(), 404);
        configure(&s, json!({"self_registration": true})).await;
        c.goto(&s.u("/harbor/sign-in")).await.unwrap();
        submit(&c, "a[href='/harbor/sign-up']").await;
        fill(&c, "#new_username", "newbie").await;
        fill(&c, "#new_email", "newbie@example.com").await;
        fill(&c, "#new_password", "weak").await;
        submit(&c, "form[action='/harbor/sign-up'] button").await;
        let err = text(&c, ".notice.err").await;
        assert!(err.starts_with("Password must be 8 to 128"), "{err}");
        fill(&c, "#new_username", "newbie").await;
        fill(&c, "#new_password", "Newbie12345").await;
        submit(&c, "form[action='/harbor/sign-up'] button").await;
        assert_eq!(
            text(&c, ".notice.ok").await,
            "Account newbie created: sign in."
        );
        fill(&c, "#principal", "newbie").await;
        fill(&c, "#password", "Newbie12345").await;
        submit(&c, "form[action='/harbor/sign-in'] button").await;
        assert!(text(&c, "header.top").await.contains("Signed in as newbie"));
        // Not an administrator: no user list.
        let nav = text(&c, "header.top nav").await;
        assert!(!nav.contains("Users"), "{nav}");
        let sid = c.get_named_cookie("sid").await.unwrap().value().to_string();
        let r = s
            .anon
            .get(s.u("/harbor/users"))
            .header("cookie", format!("sid={sid}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);

        // Their own account: a wrong current password changes nothing.
        c.goto(&s.u("/harbor/account")).await.unwrap();
        fill(&c, "#old_password", "Wrong12345").await;
        fill(&c, "#new_password", "Changed12345").await;
        submit(&c, "button[value=password]").await;
        text(&c, ".notice.err").await;
        fill(&c, "#old_password", "Newbie12345").await;
        fill(&c, "#new_password", "Changed12345").await;
        submit(&c, "button[value=password]").await;
        assert_eq!(text(&c, ".notice.ok").await, "Your password was changed.");
        fill(&c, "#realname", "New Bie").await;
        submit(&c, "button[value=profile]").await;
        assert_eq!(text(&c, ".notice.ok").await, "Your profile was saved.");
        screenshot(&c, &format!("{b}-account")).await;
        submit(&c, "form[action='/harbor/sign-out'] button").await;
        sign_in(&c, &s, "newbie", "Newbie12345").await;
        text(&c, ".notice.err").await;
        fill(&c, "#principal", "newbie").await;
        fill(&c, "#password", "Changed12345").await;
        submit(&c, "form[action='/harbor/sign-in'] button").await;
        assert!(text(&c, "header.top").await.contains("Signed in as newbie"));
        submit(&c, "form[action='/harbor/sign-out'] button").await;

        // The administrator creates a user, makes them an admin, deletes another.
        sign_in(&c, &s, "admin", ADMIN_PASSWORD).await;
        submit(&c, "header.top a[href='/harbor/users']").await;
        fill(&c, "#new_username", "made").await;
        fill(&c, "#new_email", "made@example.com").await;
        fill(&c, "#new_password", "Made12345pass").await;
        submit(&c, "form[action='/harbor/users'][method=post] button").await;
        assert_eq!(text(&c, ".notice.ok").await, "User made created.");
        submit(&c, "button[aria-label='Make made an administrator']").await;
        assert_eq!(
            text(&c, ".notice.ok").await,
            "made is now an administrator."
        );
        let users: serde_json::Value = s.api_json("/users?q=username%3Dmade", ADMIN).await;
        assert_eq!(users[0]["sysadmin_flag"], true, "{users}");
        screenshot(&c, &format!("{b}-users")).await;
        confirm(&c, "button[aria-label='Delete newbie']").await;
        assert_eq!(text(&c, ".notice.ok").await, "User newbie deleted.");
        let users: serde_json::Value = s.api_json("/users?q=username%3Dnewbie", ADMIN).await;
        assert_eq!(users.as_array().unwrap().len(), 0, "{users}");
        // No buttons against oneself.
        assert!(c
            .find(Locator::Css("button[aria-label='Delete admin']"))
            .await
            .is_err());
        // The administrator resets another person's password, without
        // knowing the old one; a weak one is refused on the same page.
        submit(&c, "a[aria-label='Reset the password of made']").await;
        fill(&c, "#new_password", "weak").await;
        submit(&c, "button[value=password]").await;
        assert!(text(&c, ".notice.err")
            .await
            .contains("8 to 128 characters"));
        fill(&c, "#new_password", "Reset12345pass").await;
        submit(&c, "button[value=password]").await;
        assert_eq!(
            text(&c, ".notice.ok").await,
            "The password of made was reset."
        );
        let made = Some(("made", "Reset12345pass"));
        s.expect(Method::GET, "/users/current", made, None)
            .await
            .is(200);
        submit(&c, "form[action='/harbor/sign-out'] button").await;
    }
    c.close().await.unwrap();
}

#[tokio::test]
async fn project_webhooks_and_configuration_in_the_browser() {
    let (_driver, c) = browser().await;
    // A receiver that keeps the event types it is sent.
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let received = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let received = received.clone();
            async move {
                let event: serde_json::Value = serde_json::from_str(&body).unwrap();
                let kind = event["type"].as_str().unwrap_or_default().to_string();
                received.lock().unwrap().push(kind);
                "ok"
            }
        }),
    );
    let types = |got: &std::sync::Mutex<Vec<String>>| got.lock().unwrap().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    for s in common::servers().await {
        let b = s.backend;
        let p: serde_json::Value = s.api_json("/projects/p", ADMIN).await;
        let pid = p["project_id"].as_i64().unwrap();
        sign_in(&c, &s, "admin", ADMIN_PASSWORD).await;

        tab(&c, &s, pid, "webhooks").await;
        assert!(text(&c, "p.empty").await.contains("No webhooks"));
        fill(&c, "#hook_name", "ci").await;
        // A message for people, and what was typed stays.
        fill(&c, "#hook_address", "ftp://example.com/hook").await;
        submit(&c, "form[action$='/webhooks'] button").await;
        assert_eq!(
            text(&c, ".notice.err").await,
            "Enter an endpoint URL starting with http:// or https://, not \"ftp://example.com/hook\""
        );
        let name = c.find(Locator::Css("#hook_name")).await.unwrap();
        assert_eq!(name.prop("value").await.unwrap().as_deref(), Some("ci"));
        fill(&c, "#hook_address", &hook).await;
        submit(&c, "form[action$='/webhooks'] button").await;
        assert_eq!(text(&c, ".notice.ok").await, "Webhook ci added.");
        assert_eq!(text(&c, "dd.last").await, "never");
        // A push is delivered and shows as the policy's last trigger.
        let before = types(&got).len();
        s.push_image("p/hooked", "v1", "portal-webhook").await;
        let mut last = String::new();
        for _ in 0..100 {
            tab(&c, &s, pid, "webhooks").await;
            last = text(&c, "dd.last").await;
            if last != "never" && text(&c, "main").await.contains("Success") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(last.ends_with("UTC"), "{last}");
        assert!(text(&c, "table.deliveries").await.contains("PUSH_ARTIFACT"));
        assert_eq!(
            types(&got).get(before).map(String::as_str),
            Some("PUSH_ARTIFACT")
        );
        // "Test endpoint" sends a PING now and says what the endpoint answered.
        let before = types(&got).len();
        submit(&c, "button[value=ping]").await;
        let said = text(&c, ".notice.ok").await;
        assert!(
            said.starts_with(&format!("Test event sent: {hook} answered 200 OK")),
            "{said}"
        );
        assert_eq!(types(&got)[before..], ["PING"]);
        // An endpoint nobody answers at: the page says so.
        let dead = json!({"name": "dead", "event_types": ["PUSH_ARTIFACT"],
            "targets": [{"type": "http", "address": "http://127.0.0.1:9/"}]});
        let dead = s.create("/projects/p/webhook/policies", ADMIN, dead).await;
        tab(&c, &s, pid, "webhooks").await;
        submit(
            &c,
            &format!("form[action$='/webhooks/{dead}'] button[value=ping]"),
        )
        .await;
        let said = text(&c, ".notice.err").await;
        assert!(
            said.starts_with(
                "The test event did not arrive: sending to http://127.0.0.1:9/ failed"
            ),
            "{said}"
        );
        let path = format!("/projects/p/webhook/policies/{dead}");
        s.expect(Method::DELETE, &path, ADMIN, None).await.is(200);
        tab(&c, &s, pid, "webhooks").await;
        screenshot(&c, &format!("{b}-project-webhooks")).await;
        // A delivery's log, from its row.
        submit(&c, "table.deliveries a").await;
        assert_eq!(text(&c, "strong.status").await, "Success");
        assert!(!text(&c, "pre.log").await.is_empty());
        // Editing a policy keeps what is not changed and saves what is.
        tab(&c, &s, pid, "webhooks").await;
        submit(&c, "a[aria-label='Edit webhook ci']").await;
        assert_eq!(
            c.find(Locator::Css("#hook_address"))
                .await
                .unwrap()
                .prop("value")
                .await
                .unwrap(),
            Some(hook.clone())
        );
        click(&c, "#hook_format option[value=CloudEvents]").await;
        click(&c, "input[value=DELETE_ARTIFACT]").await;
        submit(&c, "button[value=update]").await;
        assert_eq!(text(&c, ".notice.ok").await, "Webhook ci saved.");
        let policies: serde_json::Value = s.api_json("/projects/p/webhook/policies", ADMIN).await;
        assert_eq!(
            policies[0]["targets"][0]["payload_format"], "CloudEvents",
            "{policies}"
        );
        assert_eq!(
            policies[0]["targets"][0]["address"],
            hook.as_str(),
            "{policies}"
        );
        let events = policies[0]["event_types"].to_string();
        assert!(
            events.contains("PUSH_ARTIFACT") && !events.contains("DELETE_ARTIFACT"),
            "{events}"
        );

        submit(&c, "button[value=disable]").await;
        assert_eq!(text(&c, ".notice.ok").await, "Webhook ci is disabled.");
        let policies: serde_json::Value = s.api_json("/projects/p/webhook/policies", ADMIN).await;
        assert_eq!(policies[0]["enabled"], false, "{policies}");
        confirm(&c, "button[value=delete]").await;
        assert_eq!(text(&c, ".notice.ok").await, "Webhook ci deleted.");

        // Configuration: make p public and ask for cosign signatures;
        // what an API client set shows as set.
        let vul = json!({"metadata": {"prevent_vul": "true", "severity": "critical"}});
        s.expect(Method::PUT, "/projects/p", ADMIN, Some(&vul))
            .await
            .is(200);
        tab(&c, &s, pid, "configs").await;
        assert!(is_ticked(&c, "input[name=prevent_vul]").await);
        let chosen = c
            .find(Locator::Css("#severity"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap();
        assert_eq!(chosen.as_deref(), Some("critical"));
        click(&c, "input[name=public]").await;
        click(&c, "input[name=enable_content_trust_cosign]").await;
        click(&c, "input[name=auto_scan]").await;
        let select = c.find(Locator::Css("#severity")).await.unwrap();
        select.select_by_value("high").await.unwrap();
        submit(&c, "form[action$='/configs'] button").await;
        assert_eq!(
            text(&c, ".notice.ok").await,
            "The project's configuration was saved."
        );
        screenshot(&c, &format!("{b}-project-configs")).await;
        let p: serde_json::Value = s.api_json("/projects/p", ADMIN).await;
        assert_eq!(p["metadata"]["public"], "true", "{p}");
        assert_eq!(p["metadata"]["enable_content_trust_cosign"], "true", "{p}");
        assert_eq!(p["metadata"]["enable_content_trust"], "false", "{p}");
        assert_eq!(p["metadata"]["auto_scan"], "true", "{p}");
        assert_eq!(p["metadata"]["auto_sbom_generation"], "false", "{p}");
        assert_eq!(p["metadata"]["prevent_vul"], "true", "{p}");
        assert_eq!(p["metadata"]["severity"], "high", "{p}");
        // Now anyone may pull: the anonymous catalog of p answers.
        let r = s
            .anon
            .get(s.u("/api/v2.0/projects/p"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);

        // A signature pushed for the image shows in its repository's list
        // and on its page.
        let (subject, body) = s.push_image("p/signed", "v1", "portal-referrer").await;
        let signature = common::push_referrer(
            &s,
            "p/signed",
            &(subject.clone(), body),
            "application/vnd.cncf.notary.signature",
        )
        .await;
        c.goto(&s.u(&format!("/harbor/projects/{pid}/repositories/signed")))
            .await
            .unwrap();
        let row = text(&c, &format!("tr:has(a[href$='{subject}'])")).await;
        assert!(row.contains("v1"), "{row}");
        assert_eq!(
            text(&c, &format!("tr:has(a[href$='{subject}']) td.referrers")).await,
            "1"
        );
        submit(&c, &format!("a[href$='{subject}']")).await;
        assert!(text(&c, "main").await.contains(&signature[..19]));
        // p asks for cosign signatures, and this one is notation's: the
        // page says pulls are refused, and why.
        let refused = text(&c, ".notice.pull-refused").await;
        assert!(
            refused.contains("The image is not signed by cosign."),
            "{refused}"
        );
        // The signature's page links back to its subject and offers no
        // container client's pull; a signature itself is pulled.
        submit(&c, &format!("a[href$='{signature}']")).await;
        assert!(!text(&c, "dl.commands").await.contains("docker pull"));
        assert!(c.find(Locator::Css(".notice.pull-refused")).await.is_err());
        submit(&c, "dd.subject a").await;
        assert!(text(&c, "h1").await.contains(&subject[..19]));

        // A two-platform index: its children are on its page, with their
        // platforms and links, not rows of their own in the repository.
        let mut children = Vec::new();
        for (seed, platform) in [
            ("amd", json!({"os": "linux", "architecture": "amd64"})),
            (
                "arm",
                json!({"os": "linux", "architecture": "arm64", "variant": "v8"}),
            ),
        ] {
            let body = s.image("p/signed", seed).await;
            let d = common::digest(&body);
            assert_eq!(
                s.put_manifest("p/signed", &d, common::OCI_MANIFEST, &body)
                    .await
                    .status(),
                201
            );
            children.push(json!({"mediaType": common::OCI_MANIFEST, "digest": d, "size": body.len(), "platform": platform}));
        }
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": common::OCI_INDEX, "manifests": children,
        }))
        .unwrap();
        assert_eq!(
            s.put_manifest("p/signed", "multi", common::OCI_INDEX, &index)
                .await
                .status(),
            201
        );
        submit(&c, "p.crumbs a[href$='/repositories/signed']").await;
        let rows = c
            .find_all(Locator::Css("table.artifacts tbody tr"))
            .await
            .unwrap();
        assert_eq!(rows.len(), 2, "{}", text(&c, "table.artifacts").await);
        let index_digest = common::digest(&index);
        submit(&c, &format!("table.artifacts a[href$='{index_digest}']")).await;
        let platforms = text(&c, "table.manifests").await;
        assert!(
            platforms.contains("linux/amd64") && platforms.contains("linux/arm64/v8"),
            "{platforms}"
        );
        let arm = children[1]["digest"].as_str().unwrap().to_string();
        submit(&c, &format!("table.manifests a[href$='{arm}']")).await;
        assert!(text(&c, "h1").await.contains(&arm[..19]));
        screenshot(&c, &format!("{b}-index-child")).await;
        // The repository goes, after a confirmation.
        submit(&c, "p.crumbs a[href$='/repositories/signed']").await;
        confirm(&c, "button[value=delete]").await;
        assert_eq!(text(&c, ".notice.ok").await, "Repository p/signed deleted.");
        let r = s.get("/api/v2.0/projects/p/repositories/signed").await;
        assert_eq!(r.status(), 404);
        submit(&c, "form[action='/harbor/sign-out'] button").await;
    }
    c.close().await.unwrap();
}

#[tokio::test]
async fn harbor_links_unknown_pages_and_sign_in_return() {
    let (_driver, c) = browser().await;
    for s in common::servers().await {
        let p: serde_json::Value = s.api_json("/projects/p", ADMIN).await;
        let pid = p["project_id"].as_i64().unwrap();
        let (digest, _) = s.push_image("p/app", "v1", "links").await;
        let path = |c: &Client| {
            let c = c.clone();
            async move { c.current_url().await.unwrap().path().to_string() }
        };

        // Signing in leads back to the page that was asked for.
        c.goto(&s.u("/harbor/gc")).await.unwrap();
        assert_eq!(path(&c).await, "/harbor/sign-in");
        fill(&c, "#principal", "admin").await;
        fill(&c, "#password", ADMIN_PASSWORD).await;
        submit(&c, "form[action='/harbor/sign-in'] button").await;
        assert_eq!(path(&c).await, "/harbor/gc");
        assert_eq!(text(&c, "h1").await, "Garbage collection");
        // The navigation marks the section; a skip link leads past it.
        assert_eq!(
            text(&c, "nav a[aria-current=page]").await,
            "Garbage Collection"
        );
        assert!(c.find(Locator::Css("a.skip[href='#main']")).await.is_ok());

        // Harbor's portal addresses land on Berth's pages.
        let app = format!("/harbor/projects/{pid}/repositories/app");
        for (harbor, berth) in [
            (
                "/harbor/clearing-job/gc".to_string(),
                "/harbor/gc".to_string(),
            ),
            ("/harbor/audit-log".into(), "/harbor/logs".into()),
            (
                "/harbor/robot-accounts".into(),
                "/harbor/robot-accounts".into(),
            ),
            (
                format!("/harbor/projects/{pid}/webhook"),
                format!("/harbor/projects/{pid}/webhooks"),
            ),
            (format!("{app}/artifacts-tab"), app.clone()),
            (
                format!("{app}/artifacts-tab/artifacts/{digest}"),
                format!("{app}/artifacts/{digest}"),
            ),
        ] {
            c.goto(&s.u(&harbor)).await.unwrap();
            assert_eq!(path(&c).await, berth, "{harbor}");
            text(&c, "h1").await;
        }
        assert!(text(&c, "h1").await.contains(&digest[..19]));

        // Unknown pages and malformed addresses get the portal's own page,
        // with the navigation.
        for bad in ["/harbor/no-such-page", "/harbor/gc/not-a-number/log"] {
            c.goto(&s.u(bad)).await.unwrap();
            assert!(!text(&c, "main .notice.err").await.is_empty(), "{bad}");
            assert!(
                text(&c, "nav[aria-label=Main]").await.contains("Projects"),
                "{bad}"
            );
        }
        let r = s
            .anon
            .get(s.u("/harbor/static/favicon.svg"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["content-type"], "image/svg+xml");

        // Only the portal's own pages are places to return to.
        submit(&c, "form[action='/harbor/sign-out'] button").await;
        c.goto(&s.u("/harbor/sign-in?next=//evil.example/harbor/"))
            .await
            .unwrap();
        fill(&c, "#principal", "admin").await;
        fill(&c, "#password", ADMIN_PASSWORD).await;
        submit(&c, "form[action='/harbor/sign-in'] button").await;
        assert_eq!(path(&c).await, "/harbor/projects");
        submit(&c, "form[action='/harbor/sign-out'] button").await;
    }
    c.close().await.unwrap();
}

/// Whether the checkbox `css` is ticked.
async fn is_ticked(c: &Client, css: &str) -> bool {
    let e = c.find(Locator::Css(css)).await.unwrap();
    e.prop("checked").await.unwrap().as_deref() == Some("true")
}

/// A robot's permissions from the API, as sorted `namespace:resource:action`.
async fn robot_grants(s: &Server, name: &str) -> (serde_json::Value, Vec<String>) {
    let all: serde_json::Value = s.api_json("/robots", ADMIN).await;
    let robot = all
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {all}"))
        .clone();
    let mut grants = Vec::new();
    for p in robot["permissions"].as_array().unwrap() {
        for a in p["access"].as_array().unwrap() {
            let ns = p["namespace"].as_str().unwrap();
            grants.push(format!("{ns}:{}:{}", a["resource"], a["action"]).replace('"', ""));
        }
    }
    grants.sort();
    (robot, grants)
}

#[tokio::test]
async fn robot_accounts_with_the_permission_grid_in_the_browser() {
    let (_driver, c) = browser().await;
    let work = tempfile::tempdir().unwrap();
    let image = image_layout(work.path());
    for s in common::servers().await {
        let b = s.backend;
        let p: serde_json::Value = s.api_json("/projects/p", ADMIN).await;
        let pid = p["project_id"].as_i64().unwrap();
        s.create_user("dev1", "Dev12345pass").await;
        sign_in(&c, &s, "admin", ADMIN_PASSWORD).await;

        // The grid: a row per resource, "select all" ticks every box.
        tab(&c, &s, pid, "robot-account").await;
        assert!(is_ticked(&c, "input[name=perm][value='repository:push']").await);
        assert!(!is_ticked(&c, "input[name=perm][value='artifact:delete']").await);
        assert!(
            c.find(Locator::Css("input[value='repository:stop']"))
                .await
                .is_err(),
            "only grantable pairs get a box"
        );
        click(&c, "input[data-select-all=perm]").await;
        assert!(is_ticked(&c, "input[name=perm][value='artifact:delete']").await);
        fill(&c, "#robot_name", "all").await;
        screenshot(&c, &format!("{b}-robot-grid")).await;
        submit(&c, "form[action$='/robot-account'] button[type=submit]").await;
        text(&c, "#robot-secret").await;
        let (_, grants) = robot_grants(&s, "robot$p+all").await;
        assert_eq!(grants.len(), 46, "{grants:?}");

        // Editing: fewer permissions, never expires; a refused form keeps
        // what was typed.
        let (robot, _) = robot_grants(&s, "robot$p+all").await;
        let rid = robot["id"].as_i64().unwrap();
        tab(&c, &s, pid, "robot-account").await;
        click(&c, &format!("a[href$='/robot-account/{rid}']")).await;
        assert_eq!(text(&c, "h2").await, "Edit robot$p+all");
        assert!(is_ticked(&c, "input[name=perm][value='artifact:delete']").await);
        click(&c, "input[data-select-all=perm]").await;
        click(&c, "input[name=perm][value='repository:pull']").await;
        fill(&c, "#robot_description", "pulls only").await;
        fill(&c, "#robot_days", "soon").await;
        submit(&c, "button[value=update]").await;
        assert_eq!(
            text(&c, ".notice.err").await,
            "Enter how many days the robot account lasts (1 or more), or tick \"Never expires\"."
        );
        let kept = c.find(Locator::Css("#robot_description")).await.unwrap();
        assert_eq!(
            kept.prop("value").await.unwrap().as_deref(),
            Some("pulls only")
        );
        assert!(!is_ticked(&c, "input[name=perm][value='artifact:delete']").await);
        click(&c, "#robot_never").await;
        submit(&c, "button[value=update]").await;
        assert_eq!(text(&c, ".notice.ok").await, "robot$p+all was saved.");
        let (robot, grants) = robot_grants(&s, "robot$p+all").await;
        assert_eq!(grants, ["p:repository:pull"]);
        assert_eq!(robot["description"], "pulls only");
        assert_eq!(robot["duration"], -1);
        assert_eq!(robot["expires_at"], -1);

        // System robots: their own page, permissions across projects.
        click(&c, "nav a[href='/harbor/robot-accounts']").await;
        assert_eq!(text(&c, "h1").await, "Robot accounts");
        fill(&c, "#robot_name", "builder").await;
        click(&c, "input[name=sys][value='catalog:read']").await;
        fill(&c, "#robot_projects", "p").await;
        submit(
            &c,
            "form[action='/harbor/robot-accounts'] button[type=submit]",
        )
        .await;
        let secret = text(&c, "#robot-secret").await;
        screenshot(&c, &format!("{b}-system-robots")).await;
        let (_, grants) = robot_grants(&s, "robot$builder").await;
        assert_eq!(
            grants,
            ["/:catalog:read", "p:repository:pull", "p:repository:push"]
        );
        let out = skopeo_push(
            &image,
            &s,
            "p/app:from-system-robot",
            &format!("robot$builder:{secret}"),
        );
        assert!(out.status.success(), "{out:?}");
        assert!(text(&c, "tbody")
            .await
            .contains("Project p: Repository pull, push"));
        // A project robot is not edited from here, nor the other way round.
        c.goto(&s.u(&format!("/harbor/robot-accounts/{rid}")))
            .await
            .unwrap();
        assert!(text(&c, ".notice.err").await.contains("not found"));
        // Every project, including later ones.
        let (robot, _) = robot_grants(&s, "robot$builder").await;
        let sid = robot["id"].as_i64().unwrap();
        c.goto(&s.u(&format!("/harbor/robot-accounts/{sid}")))
            .await
            .unwrap();
        click(&c, "input[name=scope][value=all]").await;
        submit(&c, "button[value=update]").await;
        assert_eq!(text(&c, ".notice.ok").await, "robot$builder was saved.");
        let (_, grants) = robot_grants(&s, "robot$builder").await;
        assert_eq!(
            grants,
            ["*:repository:pull", "*:repository:push", "/:catalog:read"]
        );
        assert!(text(&c, "tbody")
            .await
            .contains("All projects: Repository pull, push"));
        // Project permissions need projects.
        click(&c, "input[name=scope][value=listed]").await;
        fill(&c, "#robot_name", "nowhere").await;
        submit(
            &c,
            "form[action='/harbor/robot-accounts'] button[type=submit]",
        )
        .await;
        assert!(text(&c, ".notice.err")
            .await
            .starts_with("Name the projects"));
        assert!(is_ticked(&c, "input[name=scope][value=listed]").await);

        // Only administrators manage system robots.
        submit(&c, "form[action='/harbor/sign-out'] button").await;
        sign_in(&c, &s, "dev1", "Dev12345pass").await;
        assert!(c
            .find(Locator::Css("nav a[href='/harbor/robot-accounts']"))
            .await
            .is_err());
        c.goto(&s.u("/harbor/robot-accounts")).await.unwrap();
        assert!(text(&c, "main .notice.err")
            .await
            .contains("system administrators"));
        submit(&c, "form[action='/harbor/sign-out'] button").await;
    }
    c.close().await.unwrap();
}

#[tokio::test]
async fn repository_description_and_tag_pages_in_the_browser() {
    let (_driver, c) = browser().await;
    for s in common::servers().await {
        let p: serde_json::Value = s.api_json("/projects/p", ADMIN).await;
        let pid = p["project_id"].as_i64().unwrap();
        let (digest, body) = s.push_image("p/app", "v1", "described").await;
        for n in 2..=20 {
            let tag = format!("v{n}");
            let r = s
                .put_manifest("p/app", &tag, common::OCI_MANIFEST, &body)
                .await;
            assert_eq!(r.status(), 201);
        }
        sign_in(&c, &s, "admin", ADMIN_PASSWORD).await;

        // The description is Markdown, shown without its HTML or script links.
        let app = format!("/harbor/projects/{pid}/repositories/app");
        c.goto(&s.u(&app)).await.unwrap();
        assert_eq!(text(&c, ".overview p.muted").await, "No description.");
        click(&c, "details.describe summary").await;
        let markdown = "# Web app\n\nServes **everything**.\n\n<script>document.title='x'</script>\n\n[docs](javascript:alert(1)) and [site](https://example.com/)";
        fill(&c, "#description", markdown).await;
        submit(&c, "button[value=describe]").await;
        assert_eq!(text(&c, ".notice.ok").await, "The description was saved.");
        assert_eq!(text(&c, ".readme h3").await, "Web app");
        assert_eq!(text(&c, ".readme strong").await, "everything");
        assert!(text(&c, ".readme").await.contains("<script>"));
        assert!(c.find(Locator::Css(".readme script")).await.is_err());
        let links = c.find_all(Locator::Css(".readme a")).await.unwrap();
        assert_eq!(links[0].attr("href").await.unwrap().as_deref(), Some("#"));
        assert_eq!(
            links[1].attr("href").await.unwrap().as_deref(),
            Some("https://example.com/")
        );
        assert_eq!(c.title().await.unwrap(), "p/app · Berth");
        let repo: serde_json::Value = s.api_json("/projects/p/repositories/app", ADMIN).await;
        assert_eq!(repo["description"], markdown);
        screenshot(&c, &format!("{}-repository-description", s.backend)).await;

        // Twenty tags come fifteen to a page, in natural order.
        c.goto(&s.u(&format!("{app}/artifacts/{digest}")))
            .await
            .unwrap();
        assert_eq!(text(&c, "table.tags caption").await, "20 tags");
        let names = |c: &Client| {
            let c = c.clone();
            async move {
                let mut out = Vec::new();
                for e in c.find_all(Locator::Css("td.tag-name")).await.unwrap() {
                    out.push(e.text().await.unwrap());
                }
                out
            }
        };
        let first = names(&c).await;
        assert_eq!(first.len(), 15);
        assert_eq!((first[0].as_str(), first[14].as_str()), ("v1", "v15"));
        click(&c, "nav.pager a[rel=next]").await;
        assert_eq!(names(&c).await, ["v16", "v17", "v18", "v19", "v20"]);
        submit(&c, "form[action='/harbor/sign-out'] button").await;
    }
    c.close().await.unwrap();
}

#[tokio::test]
async fn scans_and_sboms_from_the_artifact_page() {
    let (_driver, c) = browser().await;
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/osv");
    for s in common::servers().await {
        s.import_vulndb(&fixtures);
        let p: serde_json::Value = s.api_json("/projects/p", ADMIN).await;
        let pid = p["project_id"].as_i64().unwrap();
        let installed =
            "P:libcrypto3\nV:3.1.4-r1\nA:x86_64\no:openssl\n\nP:musl\nV:1.2.4-r2\nA:x86_64\n";
        let layer = common::tar_gz(&[
            ("etc/os-release", "ID=alpine\nVERSION_ID=3.19.0\n"),
            ("lib/apk/db/installed", installed),
        ]);
        let (digest, _) = s.push_layers("p/alpine", "3.19", &[layer]).await;
        sign_in(&c, &s, "admin", ADMIN_PASSWORD).await;
        let repo = format!("/harbor/projects/{pid}/repositories/alpine");
        c.goto(&s.u(&repo)).await.unwrap();
        assert!(text(&c, "td.scan").await.starts_with("Not scanned"));
        c.goto(&s.u(&format!("{repo}/artifacts/{digest}")))
            .await
            .unwrap();
        assert_eq!(text(&c, ".scans .scan-state").await, "Not scanned");

        // Scan: the findings appear once the job ends.
        submit(&c, ".scans button[value=scan]").await;
        assert!(text(&c, ".notice.ok").await.starts_with("Scan queued"));
        let mut state = String::new();
        for _ in 0..100 {
            c.refresh().await.unwrap();
            state = text(&c, ".scans .scan-state").await;
            if state.contains("finding") {
                break;
            }
            common::sleep_ms(50).await;
        }
        assert_eq!(state, "Medium · 1 finding");
        let row = text(&c, "table.findings tbody tr").await;
        for part in ["Medium", "CVE-2024-0727", "libcrypto3", "3.1.4-r5"] {
            assert!(row.contains(part), "{row}");
        }
        let link = c.find(Locator::Css("table.findings a")).await.unwrap();
        assert_eq!(
            link.attr("href").await.unwrap().as_deref(),
            Some("https://osv.dev/vulnerability/ALPINE-CVE-2024-0727")
        );
        screenshot(&c, &format!("{}-artifact-vulnerabilities", s.backend)).await;

        // An SBOM, pushed beside the image and linked from its page.
        submit(&c, ".scans button[value=sbom]").await;
        assert_eq!(text(&c, ".notice.ok").await, "SBOM generation queued.");
        for _ in 0..100 {
            c.refresh().await.unwrap();
            if text(&c, ".scans p.sbom").await.starts_with("SBOM: sha256:") {
                break;
            }
            common::sleep_ms(50).await;
        }
        submit(&c, ".scans p.sbom a").await;
        assert_eq!(text(&c, "dl.facts dd:nth-of-type(2)").await, "SBOM");

        // The repository's list shows the scan's result and the SBOM, and
        // scans again from its row.
        c.goto(&s.u(&repo)).await.unwrap();
        assert!(text(&c, "td.scan").await.starts_with("Medium · 1 finding"));
        assert_eq!(text(&c, "td.sbom a").await, "SBOM");
        submit(&c, "td.scan button[value=scan]").await;
        assert!(text(&c, ".notice.ok").await.starts_with("Scan queued"));
        for _ in 0..100 {
            c.refresh().await.unwrap();
            if text(&c, ".scans .scan-state").await.contains("finding") {
                break;
            }
            common::sleep_ms(50).await;
        }

        // The security hub counts it, and finds it by CVE and severity.
        c.goto(&s.u("/harbor/security-hub")).await.unwrap();
        let facts = text(&c, "dl.hub").await;
        assert!(facts.contains("1 (1 fixable)"), "{facts}");
        assert!(text(&c, "table.dangerous-artifacts tbody")
            .await
            .contains("p/alpine"));
        fill(&c, "#cve_id", "CVE-2024-0727").await;
        c.execute(
            "document.querySelector('#severity').value = 'Medium'",
            vec![],
        )
        .await
        .unwrap();
        submit(&c, "form.search button").await;
        let found = text(&c, "table.findings tbody").await;
        assert!(
            found.contains("libcrypto3") && found.contains("3.19"),
            "{found}"
        );
        fill(&c, "#cve_id", "CVE-1999-0001").await;
        submit(&c, "form.search button").await;
        assert_eq!(text(&c, "table.findings caption").await, "0 findings");
        screenshot(&c, &format!("{}-security-hub", s.backend)).await;

        // A CVE export from the project's Configuration tab.
        tab(&c, &s, pid, "configs").await;
        fill(&c, "#export_repositories", "alpine").await;
        submit(&c, "button[value=export]").await;
        let started = text(&c, ".notice.ok").await;
        assert!(started.starts_with("CVE export "), "{started}");
        let mut href = None;
        for _ in 0..100 {
            c.refresh().await.unwrap();
            if let Ok(a) = c.find(Locator::Css("table.exports a")).await {
                href = a.attr("href").await.unwrap();
                break;
            }
            common::sleep_ms(50).await;
        }
        // The link downloads it in the browser's session.
        let href = href.expect("the export's download link");
        let cookies: Vec<String> = (c.get_all_cookies().await.unwrap().iter())
            .map(|k| format!("{}={}", k.name(), k.value()))
            .collect();
        let csv = s
            .anon
            .get(s.u(&href))
            .header("Cookie", cookies.join("; "))
            .send()
            .await
            .unwrap();
        assert_eq!(csv.headers()["content-type"], "text/csv");
        let csv = csv.text().await.unwrap();
        assert!(
            csv.contains("p/alpine") && csv.contains("CVE-2024-0727"),
            "{csv}"
        );
        c.refresh().await.unwrap();
        assert!(text(&c, "table.exports tbody").await.contains("downloaded"));

        // A cosign key, added and deleted on the same tab.
        let (_, pem) = common::cosign_key();
        fill(&c, "#key_name", "ci").await;
        fill(&c, "#key_pem", &pem).await;
        submit(&c, "button[value=add-key]").await;
        assert_eq!(text(&c, ".notice.ok").await, "Cosign key ci added.");
        assert!(text(&c, "table.cosign-keys tbody").await.contains("ci"));
        submit(&c, "button[value=delete-key]").await;
        assert_eq!(text(&c, ".notice.ok").await, "Cosign key deleted.");
        assert!(c.find(Locator::Css("table.cosign-keys")).await.is_err());

        // Vulnerability prevention refuses the image until the project's
        // allowlist lets its CVE through; the page says which holds.
        let vul = json!({"metadata": {"prevent_vul": "true", "severity": "low"}});
        s.expect(Method::PUT, "/projects/p", ADMIN, Some(&vul))
            .await
            .is(200);
        c.goto(&s.u(&format!("{repo}/artifacts/{digest}")))
            .await
            .unwrap();
        let refused = text(&c, ".notice.pull-refused").await;
        assert!(
            refused.contains("current image with 1 vulnerability"),
            "{refused}"
        );
        tab(&c, &s, pid, "configs").await;
        fill(&c, "#cves", "CVE-2024-0727").await;
        submit(&c, "button[value=allowlist]").await;
        assert_eq!(
            text(&c, ".notice.ok").await,
            "The project's CVE allowlist was saved."
        );
        let project: serde_json::Value = s.api_json("/projects/p", ADMIN).await;
        assert_eq!(
            project["cve_allowlist"]["items"],
            json!([{"cve_id": "CVE-2024-0727"}])
        );
        c.goto(&s.u(&format!("{repo}/artifacts/{digest}")))
            .await
            .unwrap();
        assert!(c.find(Locator::Css(".notice.pull-refused")).await.is_err());

        // The administrators' page: the advisories and the system's list.
        c.goto(&s.u("/harbor/interrogation-services"))
            .await
            .unwrap();
        let db = text(&c, "dl.vulndb").await;
        assert!(
            db.contains("Advisories\n10") || db.contains("Advisories 10"),
            "{db}"
        );
        fill(&c, "#cves", "CVE-2020-14343\nCVE-2021-25900").await;
        c.execute(
            "document.querySelector('#expires').value = '2031-01-01'",
            vec![],
        )
        .await
        .unwrap();
        submit(&c, "button[value=allowlist]").await;
        assert_eq!(
            text(&c, ".notice.ok").await,
            "The system's CVE allowlist was saved."
        );
        let system: serde_json::Value = s.api_json("/system/CVEAllowlist", ADMIN).await;
        assert_eq!(system["items"].as_array().unwrap().len(), 2, "{system}");
        assert_eq!(system["expires_at"], 1_925_078_400);

        // Scanners: Berth's own adapter registered again, chosen by the
        // project, made the default, and deleted.
        fill(&c, "#scanner_name", "over-http").await;
        fill(&c, "#scanner_url", &s.u("/scanner-adapter")).await;
        c.execute(
            "document.querySelector('#scanner_auth').value = 'Basic'",
            vec![],
        )
        .await
        .unwrap();
        fill(
            &c,
            "#scanner_credential",
            &format!("admin:{ADMIN_PASSWORD}"),
        )
        .await;
        submit(&c, "button[value=scanner-add]").await;
        assert_eq!(text(&c, ".notice.ok").await, "Scanner over-http was added.");
        let rows = text(&c, "table.scanners tbody").await;
        assert!(
            rows.contains("over-http") && rows.contains("healthy"),
            "{rows}"
        );
        screenshot(&c, &format!("{}-interrogation-services", s.backend)).await;
        tab(&c, &s, pid, "configs").await;
        assert!(text(&c, ".project-scanner").await.starts_with("Berth"));
        let over_http = s
            .api_json::<serde_json::Value>("/scanners?name=over-http", ADMIN)
            .await[0]["uuid"]
            .as_str()
            .unwrap()
            .to_string();
        c.execute(
            &format!("document.querySelector('#scanner').value = '{over_http}'"),
            vec![],
        )
        .await
        .unwrap();
        submit(&c, "button[value=scanner]").await;
        assert_eq!(
            text(&c, ".notice.ok").await,
            "The project's scanner was set."
        );
        assert!(text(&c, ".project-scanner").await.starts_with("over-http"));
        c.goto(&s.u("/harbor/interrogation-services"))
            .await
            .unwrap();
        submit(&c, "button[value=scanner-default]").await;
        assert_eq!(
            text(&c, ".notice.ok").await,
            "The default scanner was changed."
        );
        let chosen: serde_json::Value = s.api_json(&format!("/scanners/{over_http}"), ADMIN).await;
        assert_eq!(chosen["is_default"], true);
        submit(&c, "button[value=scanner-delete]").await;
        assert_eq!(
            text(&c, ".notice.ok").await,
            "Scanner over-http was deleted."
        );
        let back: serde_json::Value = s.api_json("/projects/p/scanner", ADMIN).await;
        assert_eq!(back["name"], "Berth");

        // A guest sees the findings and no buttons.
        s.create_user("viewer", "Viewer12345").await;
        let member = json!({"role_id": 3, "member_user": {"username": "viewer"}});
        s.create("/projects/p/members", ADMIN, member).await;
        submit(&c, "form[action='/harbor/sign-out'] button").await;
        sign_in(&c, &s, "viewer", "Viewer12345").await;
        c.goto(&s.u(&format!("{repo}/artifacts/{digest}")))
            .await
            .unwrap();
        assert_eq!(text(&c, ".scans .scan-state").await, "Medium · 1 finding");
        assert!(c.find(Locator::Css(".scans button")).await.is_err());
        submit(&c, "form[action='/harbor/sign-out'] button").await;
    }
    c.close().await.unwrap();
}

/// sRGB relative luminance of a CSS `rgb(…)`/`rgba(…)` colour.
#[tokio::test]
async fn registry_endpoints_in_the_browser() {
    let (_driver, c) = browser().await;
    let dist = common::Distribution::start().await;
    for s in common::servers().await {
        sign_in(&c, &s, "admin", ADMIN_PASSWORD).await;
        c.goto(&s.u("/harbor/registries")).await.unwrap();
        assert!(text(&c, "main").await.contains("No registry endpoint yet."));

        // Tested before it is added: a closed port does not answer.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        fill(&c, "#registry_name", "dist").await;
        fill(&c, "#registry_url", &closed).await;
        submit(&c, "button[value='test-new']").await;
        assert_eq!(text(&c, ".notice.err").await, "The registry is unhealthy");
        fill(&c, "#registry_url", &dist.url).await;
        submit(&c, "button[value='test-new']").await;
        assert_eq!(text(&c, ".notice.ok").await, "The registry answered.");
        fill(&c, "#registry_name", "dist").await;
        fill(&c, "#registry_url", &dist.url).await;
        submit(&c, "button[value='add']").await;
        assert_eq!(text(&c, ".notice.ok").await, "The endpoint dist was added.");
        let row = text(&c, "table.registries tbody tr").await;
        assert!(row.contains("dist") && row.contains("healthy"), "{row}");
        submit(&c, "table.registries button[value='test']").await;
        assert_eq!(text(&c, ".notice.ok").await, "The registry answered.");

        // Its page changes it.
        submit(&c, "table.registries a").await;
        fill(&c, "#registry_description", "CNCF Distribution").await;
        submit(&c, "button[value='save']").await;
        assert_eq!(text(&c, ".notice.ok").await, "The endpoint was saved.");
        let stored = s
            .expect(reqwest::Method::GET, "/registries", ADMIN, None)
            .await
            .is(200);
        assert_eq!(stored[0]["description"], "CNCF Distribution");

        c.goto(&s.u("/harbor/registries")).await.unwrap();
        confirm(&c, "table.registries button[value='delete']").await;
        assert_eq!(
            text(&c, ".notice.ok").await,
            "The endpoint dist was deleted."
        );
        submit(&c, "form[action='/harbor/sign-out'] button").await;
    }
}

/// LDAP in the browser: its settings typed and tested before they are
/// saved (a wrong password fails, the fields stay), the mode switched,
/// a directory user found and imported, another signing in with their
/// directory password.
#[tokio::test]
async fn ldap_settings_import_and_sign_in_in_the_browser() {
    use common::ldap::{Slapd, MANAGER_DN, MANAGER_PASSWORD};
    let (_driver, c) = browser().await;
    let ldap = Slapd::start(
        "dn: uid=ann,dc=berth,dc=test\nobjectClass: inetOrgPerson\nuid: ann\ncn: Ann Lee\nsn: Lee\n\
         mail: ann@berth.test\nuserPassword: Ann-12345\n\n\
         dn: uid=ben,dc=berth,dc=test\nobjectClass: inetOrgPerson\nuid: ben\ncn: Ben\nsn: B\n\
         userPassword: Ben-12345\n\n\
         dn: cn=crew,dc=berth,dc=test\nobjectClass: groupOfNames\ncn: crew\nmember: uid=ben,dc=berth,dc=test\n",
    )
    .await;
    for s in common::servers().await {
        sign_in(&c, &s, "admin", ADMIN_PASSWORD).await;
        c.goto(&s.u("/harbor/configs")).await.unwrap();
        fill(&c, "#ldap_url", &ldap.url).await;
        fill(&c, "#ldap_search_dn", MANAGER_DN).await;
        fill(&c, "#ldap_search_password", "wrong").await;
        fill(&c, "#ldap_base_dn", common::ldap::SUFFIX).await;
        fill(&c, "#ldap_uid", "uid").await;
        submit(&c, "button[formaction='/harbor/configs/ldap-ping']").await;
        let refused = text(&c, ".notice.err").await;
        assert!(refused.starts_with("LDAP connection failed"), "{refused}");
        // What was typed is still there (the password is typed again).
        let url = c.find(Locator::Css("#ldap_url")).await.unwrap();
        assert_eq!(url.prop("value").await.unwrap().unwrap(), ldap.url);
        fill(&c, "#ldap_search_password", MANAGER_PASSWORD).await;
        submit(&c, "button[formaction='/harbor/configs/ldap-ping']").await;
        assert_eq!(
            text(&c, ".notice.ok").await,
            "The LDAP server answered and the search DN signed in."
        );
        fill(&c, "#ldap_search_password", MANAGER_PASSWORD).await;
        click(&c, "#auth_mode option[value=ldap_auth]").await;
        submit(&c, "form[action='/harbor/configs'] button").await;
        assert_eq!(text(&c, ".notice.ok").await, "The configuration was saved.");
        screenshot(&c, &format!("{}-configs-ldap", s.backend)).await;
        let cfg = s
            .expect(reqwest::Method::GET, "/configurations", ADMIN, None)
            .await
            .is(200);
        assert_eq!(cfg["auth_mode"]["value"], "ldap_auth");
        assert_eq!(cfg["ldap_url"]["value"], ldap.url.as_str());

        c.goto(&s.u("/harbor/users")).await.unwrap();
        submit(&c, "form[action='/harbor/users/ldap'] button").await;
        let found = text(&c, "table.users").await;
        assert!(
            found.contains("Ann Lee") && found.contains("ben"),
            "{found}"
        );
        submit(&c, "button[aria-label='Import ann']").await;
        assert_eq!(text(&c, ".notice.ok").await, "ann was imported.");
        assert!(text(&c, "table.users").await.contains("ann@berth.test"));
        // The directory keeps passwords: none is reset here.
        let actions = c
            .find_all(Locator::Css("a[aria-label^='Reset the password']"))
            .await;
        assert!(actions.unwrap().is_empty());

        // A directory group, added by DN, made a member of a private project.
        c.goto(&s.u("/harbor/groups")).await.unwrap();
        assert!(text(&c, "main").await.contains("No group yet."));
        fill(&c, "#name", "crew").await;
        fill(&c, "#ldap_group_dn", "cn=nobody,dc=berth,dc=test").await;
        submit(&c, "button[value='add']").await;
        let refused = text(&c, ".notice.err").await;
        assert!(refused.contains("LDAP Group DN is not found"), "{refused}");
        fill(&c, "#ldap_group_dn", "cn=crew,dc=berth,dc=test").await;
        submit(&c, "button[value='add']").await;
        assert_eq!(text(&c, ".notice.ok").await, "The group crew was added.");
        assert!(text(&c, "table.groups")
            .await
            .contains("cn=crew,dc=berth,dc=test"));
        screenshot(&c, &format!("{}-groups", s.backend)).await;
        let project = json!({"project_name": "crewp", "metadata": {"public": "false"}});
        let pid = s.create("/projects", ADMIN, project).await;
        tab(&c, &s, pid, "members").await;
        click(&c, "#kind option[value=group]").await;
        fill(&c, "#username", "crew").await;
        submit(&c, "form[action$='/members'] button").await;
        assert_eq!(text(&c, ".notice.ok").await, "crew was added to crewp.");
        assert!(text(&c, "tbody").await.contains("Group"));
        submit(&c, "form[action='/harbor/sign-out'] button").await;

        // ben is in crew: the private project is his to see.
        sign_in(&c, &s, "ben", "Ben-12345").await;
        assert!(c
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/harbor/projects"));
        assert!(text(&c, "main").await.contains("crewp"));
        submit(&c, "form[action='/harbor/sign-out'] button").await;
    }
}

/// Replication rules in the browser: added (a bad cron refused with the
/// form kept), run, its run's tasks and a task's log shown, disabled,
/// changed and deleted.
#[tokio::test]
async fn replication_rules_in_the_browser() {
    let (_driver, c) = browser().await;
    let dist = common::Distribution::start().await;
    for s in common::servers().await {
        let b = s.backend;
        s.push_image("p/web", "v1", &format!("portal-replication-{b}"))
            .await;
        let endpoint = json!({"name": "dist", "type": "docker-registry", "url": dist.url});
        s.create("/registries", ADMIN, endpoint).await;
        sign_in(&c, &s, "admin", ADMIN_PASSWORD).await;
        c.goto(&s.u("/harbor/replications")).await.unwrap();
        assert!(text(&c, "main").await.contains("No replication rule yet."));

        let pick = |css: &'static str| {
            let c = c.clone();
            async move {
                c.find(Locator::Css(css))
                    .await
                    .unwrap()
                    .click()
                    .await
                    .unwrap();
            }
        };
        fill(&c, "#rule_name", "mirror").await;
        fill(&c, "#rule_filter_name", "p/web").await;
        fill(&c, "#rule_namespace", &format!("portal-{b}")).await;
        pick("#rule_trigger option[value=scheduled]").await;
        fill(&c, "#rule_cron", "0 * * * * *").await;
        submit(&c, "button[value='add']").await;
        assert_eq!(
            text(&c, ".notice.err").await,
            "* is not allowed for the Minutes field of the cron setting of replication policy"
        );
        let kept = c.find(Locator::Css("#rule_filter_name")).await.unwrap();
        assert_eq!(kept.prop("value").await.unwrap().as_deref(), Some("p/web"));
        pick("#rule_trigger option[value=manual]").await;
        fill(&c, "#rule_cron", "").await;
        submit(&c, "button[value='add']").await;
        assert_eq!(text(&c, ".notice.ok").await, "The rule mirror was added.");
        let row = text(&c, "table.rules tbody tr").await;
        assert!(row.contains("mirror") && row.contains("Enabled"), "{row}");

        submit(&c, "table.rules button[value='run']").await;
        assert!(text(&c, ".notice.ok").await.starts_with("Run "));
        let mut status = String::new();
        for _ in 0..100 {
            c.goto(&s.u("/harbor/replications")).await.unwrap();
            status = text(&c, "table.runs td.status").await;
            if status == "Success" {
                break;
            }
            common::sleep_ms(100).await;
        }
        assert_eq!(status, "Success");
        submit(&c, "table.runs a").await;
        let task = text(&c, "table.tasks tbody tr").await;
        assert!(
            task.contains("p/web:v1") && task.contains("Success"),
            "{task}"
        );
        submit(&c, "table.tasks a").await;
        assert!(text(&c, "pre.log").await.contains("stored 2 manifests"));

        c.goto(&s.u("/harbor/replications")).await.unwrap();
        submit(&c, "table.rules button[value='disable']").await;
        assert_eq!(
            text(&c, ".notice.ok").await,
            "The rule mirror was disabled."
        );
        submit(&c, "table.rules a").await;
        fill(&c, "#rule_description", "to Distribution").await;
        submit(&c, "button[value='save']").await;
        assert_eq!(text(&c, ".notice.ok").await, "The rule was saved.");
        let stored = s
            .expect(reqwest::Method::GET, "/replication/policies", ADMIN, None)
            .await
            .is(200);
        assert_eq!(stored[0]["description"], "to Distribution");
        assert_eq!(stored[0]["enabled"], false);
        assert_eq!(stored[0]["filters"][0]["value"], "p/web");

        c.goto(&s.u("/harbor/replications")).await.unwrap();
        confirm(&c, "table.rules button[value='delete']").await;
        assert_eq!(text(&c, ".notice.ok").await, "The rule mirror was deleted.");

        // A proxy-cache project of the endpoint, and its upstream shown.
        c.goto(&s.u("/harbor/projects")).await.unwrap();
        fill(&c, "#project_name", "cache").await;
        pick("#project_registry option:nth-child(2)").await;
        submit(&c, "form[action='/harbor/projects'][method=post] button").await;
        assert_eq!(text(&c, ".notice.ok").await, "Project cache created.");
        let table = text(&c, "main table").await;
        assert!(table.contains("cache (proxy cache)"), "{table}");
        let cache: serde_json::Value = s.api_json("/projects/cache", ADMIN).await;
        assert!(cache["registry_id"].as_i64().is_some(), "{cache}");
        let summary = format!("/harbor/projects/{}/summary", cache["project_id"]);
        c.goto(&s.u(&summary)).await.unwrap();
        assert!(text(&c, "dd.upstream").await.starts_with("dist ("));
        submit(&c, "form[action='/harbor/sign-out'] button").await;
    }
}

fn luminance(css: &str) -> f64 {
    let inner = css.split_once('(').unwrap().1.trim_end_matches(')');
    let channels: Vec<f64> = inner
        .split(',')
        .take(3)
        .map(|c| c.trim().parse::<f64>().unwrap() / 255.0)
        .map(|c| {
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        })
        .collect();
    0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]
}

/// WCAG contrast ratio of two CSS colours.
fn contrast(a: &str, b: &str) -> f64 {
    let (x, y) = (luminance(a), luminance(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

/// Runs a script in the page and returns its string result.
async fn eval(c: &Client, script: &str) -> String {
    let v = c.execute(script, vec![]).await.unwrap();
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

#[tokio::test]
async fn every_page_fits_a_phone_in_both_themes() {
    let (_driver, c) = browser().await;
    for s in common::servers().await {
        let b = s.backend;
        let p: serde_json::Value = s.api_json("/projects/p", ADMIN).await;
        let pid = p["project_id"].as_i64().unwrap();
        let (digest, _) = s
            .push_image(
                "p/a-rather-long-repository-name/with/parts",
                "release-2026.12.05-candidate",
                "phone",
            )
            .await;
        let uid = s.create_user("dev1", "Dev12345pass").await;
        let hook = json!({"name": "h", "event_types": ["PUSH_ARTIFACT"],
            "targets": [{"type": "http", "address": "http://127.0.0.1:9/a/rather/long/address/for/a/webhook/endpoint"}]});
        let hid = s.create("/projects/p/webhook/policies", ADMIN, hook).await;
        let grant = |kind: &str, ns: &str| {
            json!([{"kind": kind, "namespace": ns,
            "access": [{"resource": "repository", "action": "pull"}]}])
        };
        let rid = s
            .create(
                "/robots",
                ADMIN,
                json!({"name": "ci", "level": "project",
            "duration": 30, "permissions": grant("project", "p")}),
            )
            .await;
        let sid = s
            .create(
                "/robots",
                ADMIN,
                json!({"name": "sys", "level": "system",
            "duration": -1, "permissions": grant("project", "*")}),
            )
            .await;
        let own = json!({"name": "this-registry-itself", "type": "harbor", "url": s.url});
        let eid = s.create("/registries", ADMIN, own).await;
        let rule = json!({"name": "a-rather-long-replication-rule-name", "dest_registry": {"id": eid},
            "dest_namespace": "a-rather-long-destination-namespace",
            "filters": [{"type": "name", "value": "p/a-rather-long-repository-name/**"}]});
        let rule = s.create("/replication/policies", ADMIN, rule).await;
        // Label chips on the artifact and in lists.
        let long = json!({"name": "a-rather-long-label-name", "scope": "g", "color": "#aa3300"});
        let long = s.create("/labels", ADMIN, long).await;
        let qa = json!({"name": "qa", "scope": "p", "project_id": pid});
        s.create("/labels", ADMIN, qa).await;
        let on = format!(
            "/projects/p/repositories/a-rather-long-repository-name%252Fwith%252Fparts/artifacts/{digest}/labels"
        );
        (s.expect(Method::POST, &on, ADMIN, Some(&json!({"id": long})))
            .await)
            .is(200);
        let project = format!("/harbor/projects/{pid}");
        let repo = format!("{project}/repositories/a-rather-long-repository-name%2Fwith%2Fparts");
        let mut pages = vec![
            ("projects".to_string(), "/harbor/projects".to_string()),
            ("repository".into(), repo.clone()),
            ("artifact".into(), format!("{repo}/artifacts/{digest}")),
            ("webhook".into(), format!("{project}/webhooks/{hid}")),
            ("robot".into(), format!("{project}/robot-account/{rid}")),
            ("users".into(), "/harbor/users".into()),
            (
                "user-password".into(),
                format!("/harbor/users/{uid}/password"),
            ),
            ("account".into(), "/harbor/account".into()),
            ("system-robots".into(), "/harbor/robot-accounts".into()),
            (
                "system-robot".into(),
                format!("/harbor/robot-accounts/{sid}"),
            ),
            ("logs".into(), "/harbor/logs".into()),
            ("gc".into(), "/harbor/gc".into()),
            ("job-queues".into(), "/harbor/job-service-dashboard".into()),
            ("configs".into(), "/harbor/configs".into()),
            ("labels".into(), "/harbor/labels".into()),
            (
                "interrogation-services".into(),
                "/harbor/interrogation-services".into(),
            ),
            ("security-hub".into(), "/harbor/security-hub".into()),
            ("registries".into(), "/harbor/registries".into()),
            ("replications".into(), "/harbor/replications".into()),
            ("replication".into(), format!("/harbor/replications/{rule}")),
        ];
        for tab in [
            "summary",
            "repositories",
            "members",
            "robot-account",
            "logs",
            "webhooks",
            "labels",
            "immutability",
            "configs",
        ] {
            pages.push((format!("project-{tab}"), format!("{project}/{tab}")));
        }
        c.set_window_size(390, 844).await.unwrap();
        c.goto(&s.u("/harbor/sign-in")).await.unwrap();
        let width = eval(&c, "return String(window.innerWidth)").await;
        assert!(
            width.parse::<i64>().unwrap() <= 400,
            "the window is {width} px wide"
        );
        let fits = |c: &Client, name: String| {
            let c = c.clone();
            async move {
                let sizes = eval(
                    &c,
                    "return document.documentElement.scrollWidth + ' ' + window.innerWidth",
                )
                .await;
                let (page, window) = sizes.split_once(' ').unwrap();
                assert!(
                    page.parse::<i64>().unwrap() <= window.parse::<i64>().unwrap(),
                    "{name} scrolls sideways at 390 px: {sizes}"
                );
            }
        };
        configure(&s, json!({"self_registration": true})).await;
        let signed_out = [
            ("sign-in", "/harbor/sign-in"),
            ("sign-up", "/harbor/sign-up"),
        ];
        for (name, path) in signed_out {
            c.goto(&s.u(path)).await.unwrap();
            fits(&c, name.into()).await;
            screenshot(&c, &format!("{b}-phone-{name}")).await;
        }
        sign_in(&c, &s, "admin", ADMIN_PASSWORD).await;
        for (name, path) in &pages {
            c.goto(&s.u(path)).await.unwrap();
            text(&c, "main").await;
            fits(&c, name.clone()).await;
            screenshot(&c, &format!("{b}-phone-{name}")).await;
        }

        // The theme switch: the choice holds on every page, and each theme's
        // focus ring stands out from the page at 3:1 or more.
        c.set_window_size(1280, 900).await.unwrap();
        let background = "return getComputedStyle(document.body).backgroundColor";
        for theme in ["light", "dark"] {
            c.goto(&s.u("/harbor/projects")).await.unwrap();
            c.find(Locator::Css(&format!("#theme option[value={theme}]")))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            assert_eq!(
                eval(&c, "return document.documentElement.dataset.theme").await,
                theme
            );
            let expected = if theme == "dark" {
                "rgb(15, 19, 26)"
            } else {
                "rgb(246, 248, 251)"
            };
            for (name, path) in &pages {
                c.goto(&s.u(path)).await.unwrap();
                text(&c, "main").await;
                assert_eq!(eval(&c, background).await, expected, "{name} in {theme}");
                screenshot(&c, &format!("{b}-{name}-{theme}")).await;
            }
            c.find(Locator::Css("body"))
                .await
                .unwrap()
                .send_keys("\u{e004}")
                .await
                .unwrap();
            let ring = eval(
                &c,
                "return getComputedStyle(document.activeElement).outlineColor",
            )
            .await;
            let page = eval(&c, background).await;
            let ratio = contrast(&ring, &page);
            assert!(
                ratio >= 3.0,
                "{theme}: focus ring {ring} on {page} is {ratio:.2}:1"
            );
        }
        // Back to following the system.
        click(&c, "#theme option[value=auto]").await;
        c.refresh().await.unwrap();
        assert_eq!(
            eval(
                &c,
                "return String(document.documentElement.hasAttribute('data-theme'))"
            )
            .await,
            "false"
        );
        let system_dark = eval(
            &c,
            "return String(matchMedia('(prefers-color-scheme: dark)').matches)",
        )
        .await;
        let expected = if system_dark == "true" {
            "rgb(15, 19, 26)"
        } else {
            "rgb(246, 248, 251)"
        };
        assert_eq!(eval(&c, background).await, expected);
        submit(&c, "form[action='/harbor/sign-out'] button").await;
        // The signed-out pages have the switch too.
        for theme in ["light", "dark", "auto"] {
            for (name, path) in signed_out {
                c.goto(&s.u(path)).await.unwrap();
                let option = format!("#theme option[value={theme}]");
                c.find(Locator::Css(&option))
                    .await
                    .unwrap()
                    .click()
                    .await
                    .unwrap();
                if theme != "auto" {
                    screenshot(&c, &format!("{b}-{name}-{theme}")).await;
                }
            }
        }
    }
    c.close().await.unwrap();
}

/// OIDC in the browser: the provider's settings tried and saved, an OIDC
/// group added, a new user signing in with the provider's button and
/// choosing a username, their CLI secret shown and regenerated in the
/// profile, and signing out at the provider too, which ends the secret.
#[tokio::test]
async fn oidc_sign_in_onboarding_and_cli_secret_in_the_browser() {
    use common::oidc::OidcProvider;
    let (_driver, c) = browser().await;
    let servers = common::servers().await;
    let clients: Vec<_> = (servers.iter().enumerate())
        .map(|(i, s)| {
            json!({
                "client_id": format!("portal-{i}"),
                "client_secret": "Portal-client-1",
                "redirect_uris": [s.u("/c/oidc/callback")],
                "post_logout_redirect_uris": [s.u("/harbor/sign-in")],
            })
        })
        .collect();
    let provider = OidcProvider::start_with(&json!({
        "clients": clients,
        "accounts": {"erin": {"name": "Erin", "groups": ["crew"]}},
        "access_token_ttl": 5,
    }));
    for (i, s) in servers.iter().enumerate() {
        sign_in(&c, s, "admin", ADMIN_PASSWORD).await;
        c.goto(&s.u("/harbor/configs")).await.unwrap();
        fill(&c, "#oidc_name", "Test IdP").await;
        fill(&c, "#oidc_endpoint", &provider.url).await;
        fill(&c, "#oidc_client_id", &format!("portal-{i}")).await;
        fill(&c, "#oidc_scope", "openid,profile,email,groups").await;
        fill(&c, "#oidc_groups_claim", "groups").await;
        submit(&c, "button[formaction='/harbor/configs/oidc-ping']").await;
        let ok = text(&c, ".notice.ok").await;
        assert!(ok.contains("answered with its discovery document"), "{ok}");
        // What was typed is kept; the secret is typed again.
        fill(&c, "#oidc_client_secret", "Portal-client-1").await;
        click(&c, "input[name=oidc_logout]").await;
        click(&c, "#auth_mode option[value=oidc_auth]").await;
        submit(&c, "form[action='/harbor/configs'] button").await;
        assert_eq!(text(&c, ".notice.ok").await, "The configuration was saved.");
        let cfg = s
            .expect(Method::GET, "/configurations", ADMIN, None)
            .await
            .is(200);
        assert_eq!(cfg["auth_mode"]["value"], "oidc_auth");
        assert_eq!(cfg["oidc_logout"]["value"], true);
        screenshot(&c, &format!("{}-configs-oidc", s.backend)).await;

        // An OIDC group by name, made a member of a private project.
        c.goto(&s.u("/harbor/groups")).await.unwrap();
        assert!(c.find(Locator::Css("#ldap_group_dn")).await.is_err());
        fill(&c, "#name", "crew").await;
        submit(&c, "button[value='add']").await;
        assert_eq!(text(&c, ".notice.ok").await, "The group crew was added.");
        assert!(text(&c, "table.groups").await.contains("OIDC"));
        let project = json!({"project_name": "crewp", "metadata": {"public": "false"}});
        let pid = s.create("/projects", ADMIN, project).await;
        // The member form suggests groups as a name is typed.
        tab(&c, s, pid, "members").await;
        click(&c, "#kind option[value=group]").await;
        fill(&c, "#username", "cr").await;
        let suggested = "return document.querySelector('#member-names option')?.value || ''";
        let mut seen = String::new();
        for _ in 0..100 {
            seen = eval(&c, suggested).await;
            if !seen.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(seen, "crew");
        fill(&c, "#username", "crew").await;
        submit(&c, "form[action$='/members'] button").await;
        assert_eq!(text(&c, ".notice.ok").await, "crew was added to crewp.");
        submit(&c, "form[action='/harbor/sign-out'] button").await;

        // The sign-in page offers the provider; it signs erin in, and she
        // chooses her username.
        c.goto(&s.u("/harbor/projects")).await.unwrap();
        let button = text(&c, "#oidc-sign-in").await;
        assert_eq!(button, "Sign in with Test IdP");
        click(&c, "#oidc-sign-in").await;
        c.wait()
            .for_element(Locator::Css("input[name=login]"))
            .await
            .unwrap();
        fill(&c, "input[name=login]", "erin").await;
        fill(&c, "input[name=password]", "any").await;
        click(&c, "button[type=submit]").await;
        let suggested = c
            .wait()
            .for_element(Locator::Css("#username"))
            .await
            .unwrap();
        assert_eq!(suggested.prop("value").await.unwrap().unwrap(), "Erin");
        screenshot(&c, &format!("{}-oidc-onboard", s.backend)).await;
        fill(&c, "#username", "erin").await;
        submit(&c, "form[action='/harbor/oidc-onboard'] button").await;
        assert!(
            text(&c, "main").await.contains("crewp"),
            "the group's project"
        );
        assert!(c
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/harbor/projects"));

        // The profile shows the CLI secret; regenerating replaces it.
        c.goto(&s.u("/harbor/account")).await.unwrap();
        click(&c, "details summary").await;
        let secret = text(&c, "#cli-secret").await;
        screenshot(&c, &format!("{}-cli-secret", s.backend)).await;
        let me = |secret: &str| {
            let secret = secret.to_string();
            async move {
                s.expect(Method::GET, "/projects", Some(("erin", &secret)), None)
                    .await
                    .status
            }
        };
        assert_eq!(me(&secret).await, 200);
        submit(&c, "button[value=cli_secret]").await;
        assert_eq!(text(&c, ".notice.ok").await, "Your CLI secret was set.");
        click(&c, "details summary").await;
        let fresh = text(&c, "#cli-secret").await;
        assert_ne!(fresh, secret);
        assert_eq!((me(&secret).await, me(&fresh).await), (401, 200));

        // Signing out ends the session at the provider too (it asks to
        // confirm); the provider then refreshes nothing more for it.
        submit(&c, "form[action='/harbor/sign-out'] button").await;
        click(&c, "button[name=logout]").await;
        for _ in 0..100 {
            if c.current_url()
                .await
                .unwrap()
                .path()
                .ends_with("/harbor/sign-in")
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(c
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/harbor/sign-in"));
        assert_eq!(me(&fresh).await, 401);
    }
}

/// Labels in the browser: a global label and a project's added, put on an
/// artifact and taken off, shown as chips in the repository's list, which
/// filters on them.
#[tokio::test]
async fn labels_on_artifacts_in_the_browser() {
    let (_driver, c) = browser().await;
    for s in common::servers().await {
        let p: serde_json::Value = s.api_json("/projects/p", ADMIN).await;
        let pid = p["project_id"].as_i64().unwrap();
        let (one, _) = s.push_image("p/app", "v1", "labelled").await;
        s.push_image("p/app", "v2", "plain").await;
        sign_in(&c, &s, "admin", ADMIN_PASSWORD).await;

        c.goto(&s.u("/harbor/labels")).await.unwrap();
        assert!(text(&c, "main").await.contains("No label yet."));
        fill(&c, "#name", "release").await;
        fill(&c, "#description", "Shipped to customers").await;
        submit(&c, "button[value=add]").await;
        assert_eq!(text(&c, ".notice.ok").await, "The label release was added.");
        fill(&c, "#name", "release").await;
        submit(&c, "button[value=add]").await;
        assert!(text(&c, ".notice.err").await.contains("already exists"));
        screenshot(&c, &format!("{}-labels", s.backend)).await;

        tab(&c, &s, pid, "labels").await;
        fill(&c, "#name", "qa").await;
        submit(&c, "button[value=add]").await;
        assert_eq!(text(&c, ".notice.ok").await, "The label qa was added.");
        assert!(text(&c, "table.labels").await.contains("qa"));

        // Put on v1 from its page, both of them; one taken off again.
        let art = format!("/harbor/projects/{pid}/repositories/app/artifacts/{one}");
        c.goto(&s.u(&art)).await.unwrap();
        assert!(text(&c, "main").await.contains("No labels."));
        for _ in 0..2 {
            submit(&c, "button[value=add-label]").await;
            assert_eq!(text(&c, ".notice.ok").await, "Label added.");
        }
        let chips = text(&c, "ul.chips").await;
        assert!(chips.contains("release") && chips.contains("qa"), "{chips}");
        screenshot(&c, &format!("{}-artifact-labels", s.backend)).await;
        submit(&c, "button[aria-label='Remove the label qa']").await;
        assert_eq!(text(&c, ".notice.ok").await, "Label removed.");
        assert!(!text(&c, "ul.chips").await.contains("qa"));

        // The list shows the chip and filters on it.
        c.goto(&s.u(&format!("/harbor/projects/{pid}/repositories/app")))
            .await
            .unwrap();
        assert!(text(&c, "table.artifacts").await.contains("release"));
        submit(&c, "nav.label-filter a .chip").await;
        let rows = c
            .find_all(Locator::Css("table.artifacts tbody tr"))
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert!(text(&c, "table.artifacts").await.contains("v1"));
        submit(&c, "form[action='/harbor/sign-out'] button").await;
    }
}

/// Tag immutability in the browser: a rule added on the project's tab
/// keeps a tag from being deleted on its artifact's page, until the rule
/// is disabled; then the rule is deleted.
#[tokio::test]
async fn storage_quotas_in_the_browser() {
    let (_driver, c) = browser().await;
    for s in common::servers().await {
        sign_in(&c, &s, "admin", ADMIN_PASSWORD).await;
        // The default limit, in people's units.
        c.goto(&s.u("/harbor/configs")).await.unwrap();
        fill(&c, "#storage_per_project", "3 MiB").await;
        submit(&c, "form[action='/harbor/configs'] button[type=submit]").await;
        assert_eq!(text(&c, ".notice.ok").await, "The configuration was saved.");
        assert_eq!(
            eval(
                &c,
                "return document.querySelector('#storage_per_project').value"
            )
            .await,
            "3 MiB"
        );
        fill(&c, "#storage_per_project", "lots").await;
        submit(&c, "form[action='/harbor/configs'] button[type=submit]").await;
        assert!(text(&c, ".notice.err")
            .await
            .contains("is not a storage limit"));

        // A new project takes it, or the limit an administrator gives.
        c.goto(&s.u("/harbor/projects")).await.unwrap();
        fill(&c, "#project_name", "quoted").await;
        fill(&c, "#storage_limit", "1 MiB").await;
        submit(&c, "form[action='/harbor/projects'][method=post] button").await;
        assert_eq!(text(&c, ".notice.ok").await, "Project quoted created.");
        s.push_layers("quoted/app", "v1", &[common::bytes(800_000, 9)])
            .await;
        let p: serde_json::Value = s.api_json("/projects/quoted", ADMIN).await;
        let pid = p["project_id"].as_i64().unwrap();
        tab(&c, &s, pid, "summary").await;
        let shown = text(&c, "dd.storage").await;
        assert!(shown.ends_with("of 1.00 MiB (76%)"), "{shown}");
        screenshot(&c, &format!("{}-quota-summary", s.backend)).await;

        // The quotas page, fullest first; a limit set there holds.
        c.goto(&s.u("/harbor/project-quotas")).await.unwrap();
        let first = text(&c, "table.quotas tbody tr").await;
        assert!(first.starts_with("quoted"), "{first}");
        fill(&c, "table.quotas tbody tr input[name=limit]", "700 KiB").await;
        submit(&c, "table.quotas tbody tr button").await;
        assert_eq!(
            text(&c, ".notice.ok").await,
            "The storage limit of quoted was set."
        );
        assert!(text(&c, "table.quotas tbody tr").await.contains("(100%)"));
        screenshot(&c, &format!("{}-project-quotas", s.backend)).await;
        let r = s
            .registry()
            .push_blob_at_once("quoted/app", bytes::Bytes::from(common::bytes(10, 1)))
            .await;
        assert!(r.unwrap_err().to_string().contains("403"));
        submit(&c, "form[action='/harbor/sign-out'] button").await;
    }
}

#[tokio::test]
async fn tag_retention_in_the_browser() {
    let (_driver, c) = browser().await;
    for s in common::servers().await {
        let p: serde_json::Value = s.api_json("/projects/p", ADMIN).await;
        let pid = p["project_id"].as_i64().unwrap();
        for tag in ["v1", "v2", "v3"] {
            s.push_image("p/app", tag, tag).await;
        }
        sign_in(&c, &s, "admin", ADMIN_PASSWORD).await;
        tab(&c, &s, pid, "tag-retention").await;
        assert!(text(&c, "p.empty").await.contains("No retention rule"));
        fill(&c, "#count", "1").await;
        fill(&c, "#tag_pattern", "v*").await;
        submit(&c, "button[value=add]").await;
        assert_eq!(text(&c, ".notice.ok").await, "The rule was added.");
        let rules = text(&c, "table.rules").await;
        assert!(
            rules.contains("matching v*") && rules.contains("the 1 most recently pushed"),
            "{rules}"
        );
        // Edited in place: keep two, then one again.
        click(&c, "table.rules summary").await;
        fill(&c, "#count-0", "2").await;
        submit(&c, "table.rules button[value=update]").await;
        assert_eq!(text(&c, ".notice.ok").await, "The rule was saved.");
        assert!(text(&c, "table.rules")
            .await
            .contains("the 2 most recently pushed"));
        click(&c, "table.rules summary").await;
        fill(&c, "#count-0", "1").await;
        submit(&c, "table.rules button[value=update]").await;
        submit(&c, "button[value=dry-run]").await;
        assert!(text(&c, ".notice.ok").await.starts_with("Run "));
        // The run ends in a moment: its repository shows what it kept.
        let mut runs = String::new();
        for _ in 0..100 {
            tab(&c, &s, pid, "tag-retention").await;
            runs = text(&c, "table.runs").await;
            if runs.contains("Success") {
                break;
            }
            common::sleep_ms(100).await;
        }
        assert!(
            runs.contains("(dry run)") && runs.contains("p/app: 1 of 3 kept"),
            "{runs}"
        );
        screenshot(&c, &format!("{}-tag-retention", s.backend)).await;
        submit(&c, "table.runs a").await;
        let log = text(&c, "pre.log").await;
        assert_eq!(log.matches("(dry run: kept)").count(), 2, "{log}");
        assert_eq!(
            s.api_json::<serde_json::Value>("/projects/p/repositories/app/artifacts", ADMIN)
                .await
                .as_array()
                .unwrap()
                .len(),
            3
        );
        tab(&c, &s, pid, "tag-retention").await;
        confirm(&c, "table.rules button[value=delete]").await;
        assert_eq!(text(&c, ".notice.ok").await, "The rule was deleted.");
        submit(&c, "form[action='/harbor/sign-out'] button").await;
    }
}

#[tokio::test]
async fn tag_immutability_rules_in_the_browser() {
    let (_driver, c) = browser().await;
    for s in common::servers().await {
        let p: serde_json::Value = s.api_json("/projects/p", ADMIN).await;
        let pid = p["project_id"].as_i64().unwrap();
        let (digest, _) = s.push_image("p/app", "v1.0", "kept").await;
        sign_in(&c, &s, "admin", ADMIN_PASSWORD).await;

        tab(&c, &s, pid, "immutability").await;
        assert!(text(&c, "main").await.contains("No rule"));
        fill(&c, "#tag_pattern", "v1.*").await;
        submit(&c, "button[value=add]").await;
        assert_eq!(text(&c, ".notice.ok").await, "The rule was added.");
        let rules = text(&c, "table.rules").await;
        assert!(
            rules.contains("matching v1.*") && rules.contains("Enabled"),
            "{rules}"
        );
        screenshot(&c, &format!("{}-immutability", s.backend)).await;

        let art = format!("/harbor/projects/{pid}/repositories/app/artifacts/{digest}");
        c.goto(&s.u(&art)).await.unwrap();
        confirm(&c, "button[aria-label='Delete tag v1.0']").await;
        let refused = text(&c, ".notice.err").await;
        assert!(refused.contains("configured as immutable"), "{refused}");

        tab(&c, &s, pid, "immutability").await;
        submit(&c, "button[value=disable]").await;
        assert_eq!(text(&c, ".notice.ok").await, "The rule was disabled.");
        assert!(text(&c, "table.rules").await.contains("Disabled"));
        c.goto(&s.u(&art)).await.unwrap();
        confirm(&c, "button[aria-label='Delete tag v1.0']").await;
        assert_eq!(text(&c, ".notice.ok").await, "Tag v1.0 deleted.");

        tab(&c, &s, pid, "immutability").await;
        confirm(&c, "button[value=delete]").await;
        assert_eq!(text(&c, ".notice.ok").await, "The rule was deleted.");
        submit(&c, "form[action='/harbor/sign-out'] button").await;
    }
}
