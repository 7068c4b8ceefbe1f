//! Berth alone over a large data set, on whichever database it runs
//! (`bench/scale.sh` runs it on SQLite and on PostgreSQL): a repository of
//! 100,000 artifacts, 10,000 projects and 100,000 repositories, all pushed
//! or created through the API first; then the latency of the lists over
//! them, a `_catalog` walk, and 256 clients pulling a mix.

use crate::{concurrently, fetch_token, percentile};
use anyhow::{ensure, Context, Result};
use berth_testkit::registry::{check, Registry};
use berth_testkit::OCI_MANIFEST;
use bytes::Bytes;
use reqwest::{Client, RequestBuilder, StatusCode};
use std::time::{Duration, Instant};

/// The lists' target: every one answers within this at p99.
const P99_TARGET_MS: f64 = 50.0;
/// Requests timed per list query, one at a time.
const SAMPLES: usize = 100;
/// Repositories per token while seeding (each scope one grant).
const SCOPES_PER_TOKEN: usize = 100;

/// A signed-in portal session: the API as the portal calls it.
struct Session {
    http: Client,
    url: String,
    cookie: String,
    csrf: String,
}

impl Session {
    async fn sign_in(url: &str, user: &str, password: &str) -> Result<Self> {
        let http = Client::builder().pool_max_idle_per_host(32).build()?;
        let (cookie, csrf) = crate::portal_sign_in(&http, url, user, password).await?;
        Ok(Session {
            url: url.to_string(),
            http,
            cookie,
            csrf,
        })
    }

    fn get(&self, path: &str) -> RequestBuilder {
        (self.http.get(format!("{}/api/v2.0{path}", self.url))).header("cookie", &self.cookie)
    }

    fn post(&self, path: &str) -> RequestBuilder {
        (self.http.post(format!("{}/api/v2.0{path}", self.url)))
            .header("cookie", &self.cookie)
            .header("x-harbor-csrf-token", &self.csrf)
    }
}

/// One row of the results: what was measured and its latencies in ms.
struct Row {
    what: String,
    ms: Vec<f64>,
}

/// Seeds, measures and prints the table.
pub async fn run(
    url: &str,
    (user, password): (&str, &str),
    scale: usize,
    analyze: Option<&str>,
) -> Result<()> {
    let artifacts = 100_000 / scale;
    let projects = 10_000 / scale;
    let repositories = 100_000 / scale;
    let mix_for = Duration::from_secs(60 / scale as u64).max(Duration::from_secs(1));
    let s = Session::sign_in(url, user, password).await?;
    let r = (s.post("/projects"))
        .json(&serde_json::json!({"project_name": "scale"}))
        .send()
        .await?;
    check(r.status(), StatusCode::CREATED, "project scale")?;

    let started = Instant::now();
    let image = seed_artifacts(url, user, password, artifacts).await?;
    seeded("artifacts in scale/many", artifacts, started);
    let started = Instant::now();
    seed_projects(&s, projects).await?;
    seeded("projects", projects, started);
    let started = Instant::now();
    seed_repositories(url, user, password, &image, repositories).await?;
    seeded("repositories in project scale", repositories, started);
    if let Some(db) = analyze {
        let started = Instant::now();
        let done = std::process::Command::new("psql")
            .args(["-q", db, "-c", "VACUUM ANALYZE"])
            .status()?;
        ensure!(done.success(), "VACUUM ANALYZE failed");
        eprintln!("VACUUM ANALYZE in {:.1} s", started.elapsed().as_secs_f64());
    }

    let mut rows = Vec::new();
    let list = "/projects/scale/repositories/many/artifacts";
    let pages = artifacts.div_ceil(15);
    let all = Some(artifacts);
    for (what, query, total) in [
        ("first page", "page=1".to_string(), all),
        ("middle page", format!("page={}", pages / 2), all),
        ("last page", format!("page={pages}"), all),
        (
            "q=tags=t<middle>",
            format!("q=tags%3Dt{}", artifacts / 2),
            Some(1),
        ),
        ("q=tags=~t1234 (fuzzy)", "q=tags%3D~t1234".into(), None),
        ("sort=size, first page", "sort=size".into(), all),
        (
            "sort=-push_time, middle page",
            format!("sort=-push_time&page={}", pages / 2),
            all,
        ),
    ] {
        rows.push(Row {
            what: format!("artifact list of {artifacts}, {what}"),
            ms: timed(&s, &format!("{list}?{query}&page_size=15"), total).await?,
        });
    }
    let pages = (projects + 2).div_ceil(15);
    for (what, query) in [
        ("first page", "page=1".to_string()),
        ("middle page", format!("page={}", pages / 2)),
        ("last page", format!("page={pages}")),
        ("q=name=~p123 (fuzzy)", "q=name%3D~p123".into()),
        ("sort=-creation_time", "sort=-creation_time".into()),
    ] {
        rows.push(Row {
            what: format!("project list of {projects}, {what}"),
            ms: timed(&s, &format!("/projects?{query}&page_size=15"), None).await?,
        });
    }
    let (walked, pages_ms, walk_s) = walk_catalog(url, user, password).await?;
    ensure!(
        walked > repositories,
        "_catalog listed {walked} repositories, fewer than the {} pushed",
        repositories + 1
    );
    rows.push(Row {
        what: format!("_catalog n=1000, each of {} pages", pages_ms.len()),
        ms: pages_ms,
    });
    let mix = pull_mix(url, user, password, &image, artifacts, 256, mix_for).await?;

    println!(
        "\n| scale scenario | requests | p50 ms | p99 ms | max ms | p99 < {P99_TARGET_MS} ms |"
    );
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        let p99 = percentile(&r.ms, 0.99);
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {} |",
            r.what,
            r.ms.len(),
            percentile(&r.ms, 0.5),
            p99,
            percentile(&r.ms, 1.0),
            if p99 < P99_TARGET_MS { "yes" } else { "NO" }
        );
    }
    println!("\n_catalog walk: {walked} repositories in {walk_s:.3} s");
    println!(
        "pull mix, 256 clients for {} s: {} requests ({:.0}/s), {} errors{}; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        mix_for.as_secs(),
        mix.ms.len(),
        mix.ms.len() as f64 / mix_for.as_secs_f64(),
        mix.errors,
        mix.first_error
            .as_ref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default(),
        percentile(&mix.ms, 0.5),
        percentile(&mix.ms, 0.99),
        percentile(&mix.ms, 1.0),
    );
    Ok(())
}

fn seeded(what: &str, n: usize, started: Instant) {
    let s = started.elapsed().as_secs_f64();
    eprintln!("seeded {n} {what} in {s:.1} s ({:.0}/s)", n as f64 / s);
}

/// What every seeded manifest shares: its config and layer, and one
/// manifest of them with no annotation.
struct Image {
    manifest: serde_json::Value,
    config: String,
    layer: String,
}

/// `n` artifacts in `scale/many`, one config and layer, manifests told
/// apart by an annotation, each tagged `t<i>`.
async fn seed_artifacts(url: &str, user: &str, password: &str, n: usize) -> Result<Image> {
    let reg = token_registry(url, (user, password), &["scale/many"], 16).await?;
    let config = Bytes::from_static(br#"{"os":"linux","architecture":"amd64"}"#);
    let layer = Bytes::from(crate::random(4096, 42));
    let manifest: serde_json::Value =
        serde_json::from_slice(&reg.push_image_blobs("scale/many", config, layer).await?)?;
    let digest = |i: usize| {
        manifest["layers"][i]["digest"]
            .as_str()
            .map(str::to_string)
            .context("no digest")
    };
    let image = Image {
        config: manifest["config"]["digest"]
            .as_str()
            .context("no config digest")?
            .to_string(),
        layer: digest(0)?,
        manifest,
    };
    let (reg, base) = (&reg, &image.manifest);
    concurrently(16, (0..n).collect(), |i| async move {
        let mut m = base.clone();
        m["annotations"] = serde_json::json!({"i": i.to_string()});
        let body = Bytes::from(serde_json::to_vec(&m)?);
        reg.push_manifest("scale/many", &format!("t{i}"), OCI_MANIFEST, body)
            .await
    })
    .await?;
    Ok(image)
}

/// `n` projects `p<i>`, created through the API as the portal does.
async fn seed_projects(s: &Session, n: usize) -> Result<()> {
    concurrently(16, (0..n).collect(), |i| async move {
        let r = (s.post("/projects"))
            .json(&serde_json::json!({"project_name": format!("p{i}")}))
            .send()
            .await?;
        check(r.status(), StatusCode::CREATED, "project")
    })
    .await?;
    Ok(())
}

/// `n` repositories `scale/r<i>`, each holding the seeded image's config
/// (mounted from `scale/many`) under a manifest of no layers, tagged `latest`.
async fn seed_repositories(
    url: &str,
    user: &str,
    password: &str,
    image: &Image,
    n: usize,
) -> Result<()> {
    let mut m = image.manifest.clone();
    m["layers"] = serde_json::json!([]);
    let body = Bytes::from(serde_json::to_vec(&m)?);
    let batches: Vec<Vec<usize>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(SCOPES_PER_TOKEN)
        .map(<[usize]>::to_vec)
        .collect();
    let (body, config) = (&body, image.config.as_str());
    concurrently(2, batches, |batch| async move {
        let names: Vec<String> = batch.iter().map(|i| format!("scale/r{i}")).collect();
        let mut repos: Vec<&str> = names.iter().map(String::as_str).collect();
        repos.push("scale/many");
        let reg = &token_registry(url, (user, password), &repos, 16).await?;
        concurrently(8, names.iter().collect(), |name| async move {
            let r = (reg.http)
                .post(format!(
                    "{}/v2/{name}/blobs/uploads/?mount={config}&from=scale/many",
                    reg.url
                ))
                .send()
                .await?;
            check(r.status(), StatusCode::CREATED, "mount")?;
            reg.push_manifest(name, "latest", OCI_MANIFEST, body.clone())
                .await
        })
        .await?;
        Ok(())
    })
    .await?;
    Ok(())
}

/// A registry client whose every request carries a token to pull and push
/// `repos`, keeping up to `idle` connections.
pub async fn token_registry(
    url: &str,
    (user, password): (&str, &str),
    repos: &[&str],
    idle: usize,
) -> Result<Registry> {
    let scope = (repos.iter())
        .map(|r| format!("repository:{r}:pull,push"))
        .collect::<Vec<_>>()
        .join("&scope=");
    let token = fetch_token(&Client::new(), url, user, password, &scope).await?;
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse()?,
    );
    Ok(Registry {
        url: url.to_string(),
        http: Client::builder()
            .pool_max_idle_per_host(idle)
            .default_headers(h)
            .build()?,
    })
}

/// `SAMPLES` GETs of an API path one at a time (after one untimed), each
/// checked for a 200 and, if given, its `X-Total-Count`; ms each.
async fn timed(s: &Session, path: &str, total: Option<usize>) -> Result<Vec<f64>> {
    let mut ms = Vec::with_capacity(SAMPLES);
    for i in 0..=SAMPLES {
        let started = Instant::now();
        let r = s.get(path).send().await?;
        check(r.status(), StatusCode::OK, path)?;
        let count =
            (r.headers().get("x-total-count")).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        let body = r.bytes().await?;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        ensure!(body.starts_with(b"["), "{path}: not a list");
        if let Some(total) = total {
            ensure!(
                count == Some(total),
                "{path}: X-Total-Count {count:?}, not {total}"
            );
        }
        if i > 0 {
            ms.push(elapsed);
        }
    }
    Ok(ms)
}

/// Walks `/v2/_catalog` 1,000 names at a time by its `Link` headers:
/// repositories listed, ms per page, seconds in all.
async fn walk_catalog(url: &str, user: &str, password: &str) -> Result<(usize, Vec<f64>, f64)> {
    let http = Client::new();
    let token = fetch_token(&http, url, user, password, "registry:catalog:*").await?;
    let mut next = Some("/v2/_catalog?n=1000".to_string());
    let (mut walked, mut ms) = (0, Vec::new());
    let started = Instant::now();
    while let Some(path) = next.take() {
        let page_started = Instant::now();
        let r = (http.get(format!("{url}{path}")))
            .bearer_auth(&token)
            .send()
            .await?;
        check(r.status(), StatusCode::OK, "_catalog")?;
        next = (r.headers().get("link"))
            .and_then(|v| v.to_str().ok())
            .and_then(|l| Some(l.strip_prefix('<')?.split_once('>')?.0.to_string()));
        let v: serde_json::Value = r.json().await?;
        ms.push(page_started.elapsed().as_secs_f64() * 1000.0);
        walked += v["repositories"].as_array().map_or(0, Vec::len);
    }
    Ok((walked, ms, started.elapsed().as_secs_f64()))
}

/// What the pull mix saw: each request's ms, and its failures.
#[derive(Default)]
struct Mix {
    ms: Vec<f64>,
    errors: usize,
    first_error: Option<String>,
}

impl Mix {
    /// Times one pull request; its `Docker-Content-Digest` if it succeeded.
    async fn pull(&mut self, req: RequestBuilder, token: &str) -> Option<String> {
        let started = Instant::now();
        let outcome = async {
            let r = req
                .bearer_auth(token)
                .header("accept", OCI_MANIFEST)
                .send()
                .await?;
            check(r.status(), StatusCode::OK, r.url().path())?;
            let digest = (r.headers().get("docker-content-digest"))
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            r.bytes().await?;
            anyhow::Ok(digest)
        }
        .await;
        self.ms.push(started.elapsed().as_secs_f64() * 1000.0);
        outcome
            .map_err(|e| {
                self.errors += 1;
                self.first_error.get_or_insert(format!("{e:#}"));
            })
            .ok()
            .flatten()
    }
}

/// `clients` clients, each with its own token, pulling images of
/// `scale/many` for `period`: a manifest by a random tag, HEAD by its
/// digest, its config and layer, and every tenth round the tag list.
async fn pull_mix(
    url: &str,
    user: &str,
    password: &str,
    image: &Image,
    artifacts: usize,
    clients: usize,
    period: Duration,
) -> Result<Mix> {
    let http = Client::builder().pool_max_idle_per_host(clients).build()?;
    let tokens = concurrently(16, (0..clients).collect(), |_| {
        fetch_token(&http, url, user, password, "repository:scale/many:pull")
    })
    .await?;
    let base = format!("{url}/v2/scale/many");
    let until = Instant::now() + period;
    let (http, base) = (&http, base.as_str());
    let seen = concurrently(
        clients,
        tokens.into_iter().enumerate().collect(),
        |(c, token)| async move {
            let mut seen = Mix::default();
            let mut x = (c as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut round = 0;
            while Instant::now() < until {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let tag = format!("t{}", x as usize % artifacts);
                let by_tag = http.get(format!("{base}/manifests/{tag}"));
                if let Some(d) = seen.pull(by_tag, &token).await {
                    seen.pull(http.head(format!("{base}/manifests/{d}")), &token)
                        .await;
                }
                for blob in [&image.config, &image.layer] {
                    seen.pull(http.get(format!("{base}/blobs/{blob}")), &token)
                        .await;
                }
                if round % 10 == 0 {
                    seen.pull(http.get(format!("{base}/tags/list?n=100")), &token)
                        .await;
                }
                round += 1;
            }
            anyhow::Ok(seen)
        },
    )
    .await?;
    let mut mix = Mix::default();
    for s in seen {
        mix.ms.extend(s.ms);
        mix.errors += s.errors;
        mix.first_error = mix.first_error.or(s.first_error);
    }
    Ok(mix)
}
