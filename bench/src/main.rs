//! Drives the same scenarios against Berth and CNCF Distribution, alternating
//! runs, and prints each figure with its spread and the Berth/Distribution ratio,
//! plus the machine's ceilings measured in the same run.

use anyhow::{bail, ensure, Context, Result};
use berth_testkit::registry::{check, digest, Registry};
use berth_testkit::{tar_gz, OCI_MANIFEST};
use bytes::Bytes;
use clap::Parser;
use reqwest::{Client, StatusCode};
use std::collections::BTreeMap;
use std::io::Write;
use std::ops::Range;
use std::path::PathBuf;
use std::time::{Duration, Instant};

mod scale;

#[derive(Parser)]
struct Args {
    /// Berth's base URL
    #[arg(long)]
    berth: String,
    /// Berth's process id (for peak RSS)
    #[arg(long, default_value_t = 0)]
    berth_pid: u32,
    /// Distribution's base URL
    #[arg(long, default_value = "")]
    dist: String,
    /// Distribution's process id
    #[arg(long, default_value_t = 0)]
    dist_pid: u32,
    /// A Distribution pull-through cache (`proxy.remoteurl`) of `--dist`
    #[arg(long)]
    dist_proxy: Option<String>,
    /// Berth credentials (user:password): Berth runs with token auth on,
    /// each run's requests carry a bearer token from /service/token
    #[arg(long)]
    berth_creds: Option<String>,
    /// Runs per side
    #[arg(long, default_value_t = 2)]
    runs: usize,
    /// A directory on the registries' disk, for the write+fsync ceiling
    #[arg(long, default_value = ".")]
    scratch: PathBuf,
    /// Only manifest GETs, through each of these `name=URL`s of one
    /// Berth deployment in turn (bench/replicas.sh: one replica, nginx in
    /// front of it, nginx in front of three); the first is `--berth`
    #[arg(long, value_delimiter = ',')]
    replica_reads: Vec<String>,
    /// Scale every size and count down by this factor (for a quick smoke run)
    #[arg(long, default_value_t = 1)]
    scale: usize,
    /// Only Berth's own rows (image pushes with audit and webhooks, GC,
    /// the portal's render of a 10,000-artifact repository)
    #[arg(long)]
    extras_only: bool,
    /// Only the portal's render of a 10,000-artifact repository
    #[arg(long)]
    portal_only: bool,
    /// Only the figures shared with Distribution (no Berth-only rows): for
    /// comparing two builds of Berth on them
    #[arg(long)]
    shared_only: bool,
    /// Only the image-push modes, no GC or portal (implies --extras-only):
    /// for comparing two builds of Berth's push path
    #[arg(long)]
    push_only: bool,
    /// Only the proxy-cache pulls (for comparing two builds of Berth on them)
    #[arg(long)]
    proxy_only: bool,
    /// Only the tag retention runs over 100,000 artifacts.
    #[arg(long)]
    retention_only: bool,
    /// Only Berth's GC mark+sweep of 100,000 orphan blobs
    #[arg(long)]
    gc_only: bool,
    /// Only Berth, over a large data set (bench/scale.sh): 100,000
    /// artifacts, 10,000 projects, 100,000 repositories; list latencies,
    /// a `_catalog` walk, 256 clients pulling for 60 s
    #[arg(long)]
    scale_scenarios: bool,
    /// With --scale-scenarios: the PostgreSQL database to `VACUUM
    /// ANALYZE` (with psql) after seeding, as autovacuum would by then
    #[arg(long)]
    analyze: Option<String>,
    /// Rounds of the image-push modes [default: --runs x 5]
    #[arg(long)]
    push_rounds: Option<usize>,
    /// Which image-push modes run, by number from 0 (as the table lists
    /// them), comma-separated; each one's "off" mode runs too [default: all]
    #[arg(long, value_delimiter = ',')]
    push_modes: Vec<usize>,
}

/// One figure: name, unit, and whether higher is better.
struct Metric {
    name: &'static str,
    unit: &'static str,
    higher_is_better: bool,
}

const METRICS: &[Metric] = &[
    Metric {
        name: "blob push 512 MiB",
        unit: "MB/s",
        higher_is_better: true,
    },
    Metric {
        name: "blob pull 512 MiB",
        unit: "MB/s",
        higher_is_better: true,
    },
    Metric {
        name: "chunked push 256 MiB / 8 MiB",
        unit: "MB/s",
        higher_is_better: true,
    },
    Metric {
        name: "server CPU per GB pushed",
        unit: "s",
        higher_is_better: false,
    },
    Metric {
        name: "16 KiB blob pushes c=16",
        unit: "blobs/s",
        higher_is_better: true,
    },
    Metric {
        name: "server CPU per 16 KiB push",
        unit: "µs",
        higher_is_better: false,
    },
    Metric {
        name: "manifest GET by tag c=32",
        unit: "req/s",
        higher_is_better: true,
    },
    Metric {
        name: "manifest GET by tag p99",
        unit: "ms",
        higher_is_better: false,
    },
    Metric {
        name: "manifest GET CPU per request",
        unit: "µs",
        higher_is_better: false,
    },
    Metric {
        name: "manifest HEAD by digest c=32",
        unit: "req/s",
        higher_is_better: true,
    },
    Metric {
        name: "manifest HEAD by digest p99",
        unit: "ms",
        higher_is_better: false,
    },
    Metric {
        name: "manifest pushes c=16",
        unit: "manifests/s",
        higher_is_better: true,
    },
    Metric {
        name: "list 2,000 tags",
        unit: "lists/s",
        higher_is_better: true,
    },
];

struct Target {
    name: &'static str,
    /// The registry and the client that reaches it.
    reg: Registry,
    pid: u32,
    creds: Option<(String, String)>,
    results: BTreeMap<&'static str, Vec<f64>>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if !args.replica_reads.is_empty() {
        return replica_reads(&args).await;
    }
    if args.scale_scenarios {
        let (user, password) = (args.berth_creds.as_deref())
            .and_then(|c| c.split_once(':'))
            .context("--scale-scenarios needs --berth-creds")?;
        let analyze = args.analyze.as_deref();
        return scale::run(&args.berth, (user, password), args.scale.max(1), analyze).await;
    }
    if args.gc_only {
        let (user, password) = (args.berth_creds.as_deref())
            .and_then(|c| c.split_once(':'))
            .context("--gc-only needs --berth-creds")?;
        let t = berth_pusher(&args.berth, user, password, "bench/extras", 32).await?;
        let (blobs, rate) = gc_rate(&args.berth, &t, (user, password), args.scale.max(1)).await?;
        println!("| Berth GC mark+sweep, {blobs} orphan blobs | blobs/s | {rate:.0} | – | – |");
        return Ok(());
    }
    let client = || Client::builder().pool_max_idle_per_host(64).build();
    let mut targets = [
        Target {
            name: "berth",
            reg: Registry {
                url: args.berth.clone(),
                http: client()?,
            },
            pid: args.berth_pid,
            creds: args
                .berth_creds
                .as_deref()
                .and_then(|c| c.split_once(':'))
                .map(|(u, p)| (u.to_string(), p.to_string())),
            results: BTreeMap::new(),
        },
        Target {
            name: "distribution",
            reg: Registry {
                url: args.dist.clone(),
                http: client()?,
            },
            pid: args.dist_pid,
            creds: None,
            results: BTreeMap::new(),
        },
    ];
    // Memory before any request (the servers were just started).
    let idle: Vec<(f64, f64)> = (targets.iter())
        .map(|t| Ok((status_mb(t.pid, "VmRSS")?, status_mb(t.pid, "RssAnon")?)))
        .collect::<Result<_>>()?;
    let scale = args.scale.max(1);
    let big = random(512 * 1024 * 1024 / scale, 1);
    let mid = random(256 * 1024 * 1024 / scale, 2);

    println!(
        "ceilings: one-core SHA-256 {:.0} MB/s, disk write+fsync {:.0} MB/s",
        sha_ceiling(&big),
        disk_ceiling(&args.scratch, &big)?
    );

    let others_only = args.retention_only;
    let shared_runs =
        if args.extras_only || args.portal_only || args.push_only || args.proxy_only || others_only
        {
            0
        } else {
            args.runs
        };
    for run in 0..shared_runs {
        for t in targets.iter_mut() {
            eprintln!("run {} on {}", run + 1, t.name);
            if let Some((user, password)) = &t.creds {
                let scope = format!("repository:bench/run{run}:pull,push");
                let token = fetch_token(&t.reg.http, &t.reg.url, user, password, &scope).await?;
                let mut h = reqwest::header::HeaderMap::new();
                h.insert(
                    reqwest::header::AUTHORIZATION,
                    format!("Bearer {token}").parse()?,
                );
                t.reg.http = Client::builder()
                    .pool_max_idle_per_host(64)
                    .default_headers(h)
                    .build()?;
            }
            let r = scenarios(t, run, &big, &mid, scale)
                .await
                .with_context(|| format!("{} run {}", t.name, run + 1))?;
            for (k, v) in r {
                t.results.entry(k).or_default().push(v);
            }
        }
    }
    let token_rate = match &targets[0].creds {
        Some((user, password)) if shared_runs > 0 => {
            Some(token_rate(&targets[0].reg.url, user, password, 16, 200 / scale.min(10)).await?)
        }
        _ => None,
    };
    // Peak memory of the shared scenarios, before Berth's own figures below.
    let mem = |field: &str| -> Result<Vec<f64>> {
        (targets.iter()).map(|t| status_mb(t.pid, field)).collect()
    };
    let (rss, anon) = (mem("VmHWM")?, mem("RssAnon")?);
    let extras = match &targets[0].creds {
        Some((user, password))
            if !args.portal_only && !args.shared_only && !args.proxy_only && !others_only =>
        {
            Some(
                berth_extras(
                    &targets[0].reg.url,
                    targets[0].pid,
                    (user, password),
                    &push_plan(&args)?,
                    !args.push_only,
                    scale,
                )
                .await?,
            )
        }
        _ => None,
    };
    let replication = match &targets[0].creds {
        Some((user, password))
            if !args.push_only
                && !args.shared_only
                && !args.portal_only
                && !args.proxy_only
                && !others_only =>
        {
            let creds = (user.as_str(), password.as_str());
            Some(replication_race(&targets[0].reg.url, creds, &args.dist, scale).await?)
        }
        _ => None,
    };
    let proxy = match &targets[0].creds {
        Some((user, password))
            if !args.push_only && !args.shared_only && !args.portal_only && !others_only =>
        {
            let creds = (user.as_str(), password.as_str());
            let upstream = (args.dist.as_str(), args.dist_proxy.as_deref());
            Some(proxy_pulls(&targets[0].reg.url, creds, upstream, args.runs, scale).await?)
        }
        _ => None,
    };
    let retention = match &targets[0].creds {
        Some((user, password))
            if args.retention_only
                || !(args.push_only || args.shared_only || args.portal_only || args.proxy_only) =>
        {
            let creds = (user.as_str(), password.as_str());
            Some(retention_runs(&targets[0].reg.url, creds, 100_000 / scale).await?)
        }
        _ => None,
    };
    let portal = match &targets[0].creds {
        Some((user, password))
            if !args.push_only && !args.shared_only && !args.proxy_only && !others_only =>
        {
            Some(portal_render(&targets[0].reg.url, user, password, 10_000 / scale).await?)
        }
        _ => None,
    };

    println!("\n| scenario | unit | Berth (runs) | Distribution (runs) | Berth / Distribution |");
    println!("|---|---|---|---|---|");
    for m in METRICS.iter().filter(|_| shared_runs > 0) {
        let b = &targets[0].results[m.name];
        let d = &targets[1].results[m.name];
        let (bm, dm) = (mean(b), mean(d));
        let ratio = if m.higher_is_better { bm / dm } else { dm / bm };
        println!(
            "| {} | {} | {} | {} | {:.2}x{} |",
            m.name,
            m.unit,
            fmt_runs(b),
            fmt_runs(d),
            ratio,
            if m.higher_is_better {
                ""
            } else {
                " (lower is better: Dist/Berth)"
            }
        );
    }
    if shared_runs > 0 {
        println!(
            "| peak RSS | MB | {:.1} | {:.1} | {:.2}x (Berth/Dist, lower is better) |",
            rss[0],
            rss[1],
            rss[0] / rss[1]
        );
        println!(
            "| RSS private (anonymous) after the runs | MB | {:.1} | {:.1} | {:.2}x (Berth/Dist, lower is better) |",
            anon[0],
            anon[1],
            anon[0] / anon[1]
        );
        println!(
            "| idle RSS at start (private part) | MB | {:.1} ({:.1}) | {:.1} ({:.1}) | {:.2}x (Berth/Dist, lower is better) |",
            idle[0].0,
            idle[0].1,
            idle[1].0,
            idle[1].1,
            idle[0].0 / idle[1].0
        );
    }
    if let Some(rate) = token_rate {
        println!("| Berth token service c=16 | tokens/s | {rate:.1} | – | – |");
    }
    if let Some(x) = extras {
        let ran = || {
            PUSH_MODES
                .iter()
                .enumerate()
                .filter(|(m, _)| !x.cpu[*m].is_empty())
        };
        for (m, mode) in ran() {
            println!(
                "| Berth image pushes c=16, {} | images/s | {} | – | {} |",
                mode.name,
                fmt_rounds(&x.pushes[m]),
                of_off(&x.pushes[m], &x.pushes[mode.base]),
            );
        }
        for (m, mode) in ran() {
            println!(
                "| Berth CPU per image push, {} | ms | {} | – | {} |",
                mode.name,
                fmt_rounds(&x.cpu[m]),
                of_off(&x.cpu[m], &x.cpu[mode.base]),
            );
        }
        println!(
            "| Berth webhook deliveries arrived | deliveries | {} of {} | – | – |",
            x.delivered, x.expected
        );
        if let Some((blobs, rate)) = x.gc {
            println!("| Berth GC mark+sweep, {blobs} orphan blobs | blobs/s | {rate:.0} | – | – |");
        }
        if let Some([plain, trusted, guarded]) = &x.enforced_reads {
            println!(
                "| Berth manifest GET c=32, plain project | req/s | {} | – | – |",
                fmt_rounds(plain)
            );
            println!(
                "| Berth manifest GET c=32, cosign content trust on (signed) | req/s | {} | – | {} |",
                fmt_rounds(trusted),
                of_base(trusted, plain, "plain")
            );
            println!(
                "| Berth manifest GET c=32, prevent_vul on (scanned, passes) | req/s | {} | – | {} |",
                fmt_rounds(guarded),
                of_base(guarded, plain, "plain")
            );
        }
        if !x.scans.is_empty() {
            println!(
                "| Berth scan of an image of {SCAN_PACKAGES} dpkg packages, request to report | ms | {} | – | – |",
                fmt_rounds(&x.scans)
            );
        }
        if let Some((images, rate)) = x.scan_all {
            println!(
                "| Berth scan all, every image of the run ({images}, most of them one random layer) | images/s | {rate:.0} | – | – |"
            );
        }
    }
    if let Some(r) = replication {
        println!(
            "| Berth replication rule, {} images of one {} KiB layer to Distribution | s | {:.2} | skopeo sync {:.2} | {:.2}x (skopeo/Berth) |",
            r.images,
            r.layer / KIB,
            r.berth,
            r.skopeo,
            r.skopeo / r.berth
        );
    }
    if let Some(p) = proxy {
        let what = format!("{} images of one {} MiB layer", p.images, p.layer / MIB);
        println!(
            "| Berth proxy-cache first pull (upstream Distribution), {what} | s | {} | direct pull {} | {:.2}x (proxy/direct) |",
            fmt_runs(&p.first),
            fmt_runs(&p.direct),
            mean(&p.first) / mean(&p.direct)
        );
        println!(
            "| Berth proxy-cache cached pull, {what} | s | {} | local pull {} | {:.2}x (cached/local) |",
            fmt_runs(&p.cached),
            fmt_runs(&p.local),
            mean(&p.cached) / mean(&p.local)
        );
        if !p.dist_first.is_empty() {
            for (which, berth, dist) in [
                ("first", &p.first, &p.dist_first),
                ("cached", &p.cached, &p.dist_cached),
            ] {
                println!(
                    "| proxy-cache {which} pull, {what} | s | {} | Distribution pull-through cache {} | {:.2}x (lower is better: Dist/Berth) |",
                    fmt_runs(berth),
                    fmt_runs(dist),
                    mean(dist) / mean(berth)
                );
            }
        }
    }
    if let Some((n, dry, real, deleted)) = retention {
        println!("| Berth tag retention dry run, {n} artifacts weighed | s | {dry:.2} | – | – |");
        println!(
            "| Berth tag retention run, {n} artifacts weighed, {deleted} deleted | s | {real:.2} | – | – |"
        );
    }
    if let Some(p) = portal {
        for (which, ms) in &p.pages {
            println!(
                "| Berth portal {which}, a repository of {} artifacts (median of {}) | ms | {:.1} (p95 {:.1}) | – | – |",
                p.artifacts,
                ms.len(),
                percentile(ms, 0.5),
                percentile(ms, 0.95),
            );
        }
    }
    Ok(())
}

/// Manifest GETs by tag, c=32, through each entrance to one deployment
/// of replicas, taking turns in a rotating order over `--runs` rounds.
async fn replica_reads(args: &Args) -> Result<()> {
    let (user, password) = (args.berth_creds.as_deref())
        .and_then(|c| c.split_once(':'))
        .context("--berth-creds")?;
    let entrances: Vec<(&str, &str)> = (args.replica_reads.iter())
        .map(|e| e.split_once('=').context("--replica-reads takes name=URL"))
        .collect::<Result<_>>()?;
    let repo = "bench/replicas";
    let pusher = berth_pusher(&args.berth, user, password, repo, 32).await?;
    let config = Bytes::from_static(br#"{"architecture":"amd64","os":"linux"}"#);
    let layer = Bytes::from(random(1024, 13));
    let manifest = pusher.reg.push_image_blobs(repo, config, layer).await?;
    (pusher.reg)
        .push_manifest(repo, "latest", OCI_MANIFEST, manifest)
        .await?;
    let mut readers = Vec::new();
    for (_, url) in &entrances {
        readers.push(berth_pusher(url, user, password, repo, 32).await?);
    }
    let requests = 20_000 / args.scale.max(1);
    let mut rps = vec![Vec::new(); entrances.len()];
    let mut p99 = vec![Vec::new(); entrances.len()];
    for round in 0..args.runs {
        for k in 0..entrances.len() {
            let i = (round + k) % entrances.len();
            let t = &readers[i];
            let url = format!("{}/v2/{repo}/manifests/latest", t.reg.url);
            let (r, p) = hammer(t, 32, requests, &url, false).await?;
            eprintln!(
                "round {} {}: {r:.0} req/s, p99 {p:.1} ms",
                round + 1,
                entrances[i].0
            );
            rps[i].push(r);
            p99[i].push(p);
        }
    }
    println!(
        "\n| manifest GET by tag c=32, through | req/s (rounds) | p99 ms | of {} |",
        entrances[0].0
    );
    println!("|---|---|---|---|");
    for (i, (name, _)) in entrances.iter().enumerate() {
        println!(
            "| {name} | {} | {:.1} | {:.2}x |",
            fmt_rounds(&rps[i]),
            mean(&p99[i]),
            mean(&rps[i]) / mean(&rps[0])
        );
    }
    Ok(())
}

/// Tag retention over `n` artifacts in ten repositories of a project (one
/// config and layer, `n` manifests each tagged): a policy keeping the
/// 90 % most recently pushed of each repository is dry-run, then run; the
/// seconds of each from the request to the run's success, and how many
/// artifacts the run deleted.
async fn retention_runs(
    url: &str,
    (user, password): (&str, &str),
    n: usize,
) -> Result<(usize, f64, f64, i64)> {
    let admin = Client::new();
    let api = |path: &str| format!("{url}/api/v2.0{path}");
    let r = (admin.post(api("/projects")))
        .basic_auth(user, Some(password))
        .json(&serde_json::json!({"project_name": "retained"}))
        .send()
        .await?;
    check(r.status(), StatusCode::CREATED, "project")?;
    let project = location_id(&r)?;
    let mut pushers = Vec::new();
    for repo in 0..10 {
        let name = format!("retained/r{repo}");
        let t = berth_pusher(url, user, password, &name, 16).await?;
        let config = Bytes::from_static(br#"{"os":"linux"}"#);
        let layer = Bytes::from_static(b"retained");
        let manifest = t.reg.push_image_blobs(&name, config, layer).await?;
        pushers.push((name, t, manifest));
    }
    let pushers = &pushers;
    concurrently(16, (0..n).collect(), |i| async move {
        let (name, t, manifest) = &pushers[i % 10];
        let mut m: serde_json::Value = serde_json::from_slice(manifest)?;
        m["annotations"] = serde_json::json!({"i": i.to_string()});
        let body = Bytes::from(serde_json::to_vec(&m)?);
        t.reg
            .push_manifest(name, &format!("t{i}"), OCI_MANIFEST, body)
            .await
    })
    .await?;
    let keep = (n / 10) * 9 / 10;
    let policy = serde_json::json!({"algorithm": "or", "rules": [{
        "template": "latestPushedK", "params": {"latestPushedK": keep},
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}],
        "trigger": {"kind": "Schedule", "settings": {"cron": ""}},
        "scope": {"level": "project", "ref": project}});
    let r = (admin.post(api("/retentions")))
        .basic_auth(user, Some(password))
        .json(&policy)
        .send()
        .await?;
    check(r.status(), StatusCode::CREATED, "retention policy")?;
    let id = location_id(&r)?;
    let mut seconds = Vec::new();
    let mut deleted = 0;
    for dry_run in [true, false] {
        let started = Instant::now();
        let r = (admin.post(api(&format!("/retentions/{id}/executions"))))
            .basic_auth(user, Some(password))
            .json(&serde_json::json!({"dry_run": dry_run}))
            .send()
            .await?;
        check(r.status(), StatusCode::CREATED, "retention run")?;
        let eid = location_id(&r)?;
        loop {
            let runs: serde_json::Value = (admin.get(api(&format!("/retentions/{id}/executions"))))
                .basic_auth(user, Some(password))
                .send()
                .await?
                .json()
                .await?;
            let run = (runs.as_array().into_iter().flatten())
                .find(|r| r["id"] == eid)
                .context("the run is not listed")?;
            match run["status"].as_str() {
                Some("Success") => break,
                Some("Pending" | "Running") => tokio::time::sleep(Duration::from_millis(50)).await,
                other => bail!("retention run ended {other:?}"),
            }
        }
        seconds.push(started.elapsed().as_secs_f64());
        let tasks: serde_json::Value = (admin.get(api(&format!(
            "/retentions/{id}/executions/{eid}/tasks?page_size=100"
        ))))
        .basic_auth(user, Some(password))
        .send()
        .await?
        .json()
        .await?;
        let weighed: i64 = (tasks.as_array().into_iter().flatten())
            .map(|t| t["total"].as_i64().unwrap_or(0) - t["retained"].as_i64().unwrap_or(0))
            .sum();
        ensure!(
            weighed as usize == n - keep * 10,
            "the run found {weighed} to delete, not {}",
            n - keep * 10
        );
        deleted = weighed;
    }
    Ok((n, seconds[0], seconds[1], deleted))
}

/// The id a `Location` header ends with.
fn location_id(r: &reqwest::Response) -> Result<i64> {
    let loc = r
        .headers()
        .get("location")
        .context("no Location")?
        .to_str()?;
    Ok(loc.rsplit('/').next().unwrap_or("").parse()?)
}

/// Berth-only figures.
struct Extras {
    /// Image push rates per round, one list per `PUSH_MODES` entry.
    pushes: Vec<Vec<f64>>,
    /// Berth's CPU milliseconds per image (deliveries included), likewise.
    cpu: Vec<Vec<f64>>,
    delivered: usize,
    expected: usize,
    /// Orphan blobs collected and the mark+sweep rate (blobs/s), if GC ran.
    gc: Option<(usize, f64)>,
    /// Manifest GET req/s per round on a plain project, one that asks for
    /// cosign signatures (the image signed) and one that prevents
    /// vulnerable images (the image scanned clean), if they ran.
    enforced_reads: Option<[Vec<f64>; 3]>,
    /// Milliseconds from a scan's request to its report, per round, for an
    /// image of `SCAN_PACKAGES` packages.
    scans: Vec<f64>,
    /// Images a scan all scanned and its rate (images/s), if it ran.
    scan_all: Option<(i64, f64)>,
}

/// Which of audit logging and webhooks an image-push run has on, and how
/// big each image's one layer is.
struct PushMode {
    name: &'static str,
    audit: bool,
    webhooks: bool,
    /// The project has a storage limit (1 TiB, never reached) to enforce.
    quota: bool,
    layer: usize,
    /// The mode this one is compared with (same layer size, both off).
    base: usize,
}

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

const PUSH_MODES: &[PushMode] = &[
    PushMode {
        name: "1 KiB layer, audit+webhooks off",
        audit: false,
        webhooks: false,
        quota: false,
        layer: KIB,
        base: 0,
    },
    PushMode {
        name: "1 KiB layer, audit on",
        audit: true,
        webhooks: false,
        quota: false,
        layer: KIB,
        base: 0,
    },
    PushMode {
        name: "1 KiB layer, webhooks on",
        audit: false,
        webhooks: true,
        quota: false,
        layer: KIB,
        base: 0,
    },
    PushMode {
        name: "1 KiB layer, audit+webhooks on",
        audit: true,
        webhooks: true,
        quota: false,
        layer: KIB,
        base: 0,
    },
    PushMode {
        name: "1 MiB layer, audit+webhooks off",
        audit: false,
        webhooks: false,
        quota: false,
        layer: MIB,
        base: 4,
    },
    PushMode {
        name: "1 MiB layer, audit+webhooks on",
        audit: true,
        webhooks: true,
        quota: false,
        layer: MIB,
        base: 4,
    },
    PushMode {
        name: "1 KiB layer, storage quota set",
        audit: false,
        webhooks: false,
        quota: true,
        layer: KIB,
        base: 0,
    },
];

/// Which image-push modes run, and for how many rounds.
struct PushPlan {
    rounds: usize,
    /// Indexed like `PUSH_MODES`.
    modes: Vec<bool>,
}

/// The push plan the arguments ask for; a chosen mode brings its "off" mode.
fn push_plan(args: &Args) -> Result<PushPlan> {
    let mut modes = vec![args.push_modes.is_empty(); PUSH_MODES.len()];
    for &m in &args.push_modes {
        ensure!(
            m < PUSH_MODES.len(),
            "no push mode {m} (0 to {})",
            PUSH_MODES.len() - 1
        );
        modes[m] = true;
        modes[PUSH_MODES[m].base] = true;
    }
    Ok(PushPlan {
        rounds: args.push_rounds.unwrap_or(args.runs * 5),
        modes,
    })
}

/// The cost of audit logs and webhooks on pushes (each image: config,
/// layer, manifest), and (if `gc`) garbage collection's mark+sweep rate.
async fn berth_extras(
    url: &str,
    pid: u32,
    (user, password): (&str, &str),
    plan: &PushPlan,
    gc: bool,
    scale: usize,
) -> Result<Extras> {
    // A webhook receiver that answers every delivery at once.
    let delivered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = delivered.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let admin = Client::new();
    let api = |path: &str| format!("{url}/api/v2.0{path}");
    let settings = |mode: &PushMode| {
        let off_types = if mode.audit {
            String::new()
        } else {
            [
                "create_artifact",
                "pull_artifact",
                "delete_artifact",
                "create_tag",
                "delete_tag",
            ]
            .join(",")
        };
        serde_json::json!({"notification_enable": mode.webhooks, "disabled_audit_log_event_types": off_types})
    };
    let r = admin
        .post(api("/projects/bench/webhook/policies"))
        .basic_auth(user, Some(password))
        .json(
            &serde_json::json!({"name": "bench", "event_types": ["PUSH_ARTIFACT"],
            "targets": [{"type": "http", "address": hook}]}),
        )
        .send()
        .await?;
    check(r.status(), StatusCode::CREATED, "webhook policy")?;

    // The project's quota, given a limit in the quota mode.
    let project: serde_json::Value = (admin.get(api("/projects/bench")))
        .basic_auth(user, Some(password))
        .send()
        .await?
        .json()
        .await?;
    let quotas: serde_json::Value = (admin.get(api(&format!(
        "/quotas?reference_id={}",
        project["project_id"]
    ))))
    .basic_auth(user, Some(password))
    .send()
    .await?
    .json()
    .await?;
    let quota = api(&format!("/quotas/{}", quotas[0]["id"]));

    let t = berth_pusher(url, user, password, "bench/extras", 64).await?;
    // Short rounds of 200 images per mode: modes compared within a round
    // are measured seconds apart, so the drift of a shared machine (a mode's
    // CPU per image swings 2x over minutes here) hardly reaches their ratio.
    let block = 200 / scale.min(10);
    let mut pushes = vec![Vec::new(); PUSH_MODES.len()];
    let mut cpu = vec![Vec::new(); PUSH_MODES.len()];
    let mut expected = 0;
    for round in 0..plan.rounds {
        // Every other round goes backwards, so no mode always follows the
        // same one.
        let mut order: Vec<usize> = (0..PUSH_MODES.len()).filter(|m| plan.modes[*m]).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for m in order {
            let mode = &PUSH_MODES[m];
            // The server that takes the change applies it before answering.
            let r = admin
                .put(api("/configurations"))
                .basic_auth(user, Some(password))
                .json(&settings(mode))
                .send()
                .await?;
            check(r.status(), StatusCode::OK, "configuration")?;
            let hard: i64 = if mode.quota { 1 << 40 } else { -1 };
            let r = (admin.put(&quota))
                .basic_auth(user, Some(password))
                .json(&serde_json::json!({"hard": {"storage": hard}}))
                .send()
                .await?;
            check(r.status(), StatusCode::OK, "quota")?;
            // Writing back dirty pages first keeps the previous mode's
            // write-back from being billed to this one.
            let synced = tokio::process::Command::new("sync").status().await?;
            ensure!(synced.success(), "sync failed");
            let seed = (round * PUSH_MODES.len() + m) as u64;
            // A tenth as many images first, untimed: the mode settles in
            // (connections, prepared statements, the after-effects of the
            // mode before) before it is timed.
            let settle = block / 10;
            for (timed, range) in [(false, 0..settle), (true, settle..settle + block)] {
                let cpu_before = cpu_millis(pid)?;
                let started = Instant::now();
                push_images(&t, seed, mode.layer, range).await?;
                let pushed = started.elapsed();
                if mode.webhooks {
                    expected += if timed { block } else { settle };
                }
                // Deliveries are jobs: their cost counts once they have arrived.
                let deadline = Instant::now() + Duration::from_secs(60);
                while delivered.load(std::sync::atomic::Ordering::Relaxed) < expected
                    && Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                if timed {
                    let rate = block as f64 / pushed.as_secs_f64();
                    let ms = (cpu_millis(pid)? - cpu_before) / block as f64;
                    // Each round's own figures, to compare builds round by round.
                    eprintln!(
                        "round {round} mode {m}: {rate:.1} images/s, {ms:.3} ms CPU per image"
                    );
                    pushes[m].push(rate);
                    cpu[m].push(ms);
                }
            }
        }
    }

    let (gc, enforced_reads, scans, scan_all) = if gc {
        let reads = enforced_reads(url, (user, password), plan.rounds, scale).await?;
        let scans = scan_times(url, (user, password), plan.rounds).await?;
        let all = scan_all_rate(url, (user, password)).await?;
        (
            Some(gc_rate(url, &t, (user, password), scale).await?),
            Some(reads),
            scans,
            Some(all),
        )
    } else {
        (None, None, Vec::new(), None)
    };
    Ok(Extras {
        pushes,
        cpu,
        expected,
        delivered: delivered.load(std::sync::atomic::Ordering::Relaxed),
        gc,
        enforced_reads,
        scans,
        scan_all,
    })
}

/// Manifest GET by tag, 32 in flight, on a plain project, on one with
/// cosign content trust on (its image signed, so every read passes the
/// check) and on one with `prevent_vul` on (its image scanned with nothing
/// found, so every read passes too), taking turns each round: req/s per
/// round of each.
async fn enforced_reads(
    url: &str,
    (user, password): (&str, &str),
    rounds: usize,
    scale: usize,
) -> Result<[Vec<f64>; 3]> {
    let admin = Client::new();
    let projects = [
        (
            "trusted",
            serde_json::json!({"enable_content_trust_cosign": "true"}),
        ),
        (
            "guarded",
            serde_json::json!({"prevent_vul": "true", "severity": "low"}),
        ),
    ];
    for (name, metadata) in projects {
        let r = admin
            .post(format!("{url}/api/v2.0/projects"))
            .basic_auth(user, Some(password))
            .json(&serde_json::json!({"project_name": name, "metadata": metadata}))
            .send()
            .await?;
        check(r.status(), StatusCode::CREATED, "enforcing project")?;
    }
    let mut reads = Vec::new();
    for repo in ["bench/plain", "trusted/app", "guarded/app"] {
        let t = berth_pusher(url, user, password, repo, 32).await?;
        let config = Bytes::from_static(br#"{"architecture":"amd64","os":"linux"}"#);
        // The scanned image needs a layer the scanner reads: a tar.
        let layer = match repo {
            "guarded/app" => {
                Bytes::from(tar_gz(&[("etc/os-release", "ID=debian\nVERSION_ID=12\n")]))
            }
            _ => Bytes::from(random(1024, 11)),
        };
        let manifest = t.reg.push_image_blobs(repo, config, layer).await?;
        let subject = serde_json::json!({"mediaType": OCI_MANIFEST,
            "digest": digest(&manifest), "size": manifest.len()});
        (t.reg)
            .push_manifest(repo, "latest", OCI_MANIFEST, manifest)
            .await?;
        if repo == "trusted/app" {
            let signature = t
                .reg
                .push_image_blobs(repo, Bytes::from_static(b"{}"), Bytes::from_static(b"sig"))
                .await?;
            let mut m: serde_json::Value = serde_json::from_slice(&signature)?;
            m["artifactType"] = "application/vnd.dev.cosign.artifact.sig.v1+json".into();
            m["subject"] = subject;
            let m = Bytes::from(serde_json::to_vec(&m)?);
            let d = digest(&m);
            t.reg.push_manifest(repo, &d, OCI_MANIFEST, m).await?;
        }
        if repo == "guarded/app" {
            scan(url, (user, password), "guarded", "app").await?;
        }
        reads.push((format!("{url}/v2/{repo}/manifests/latest"), t));
    }
    let requests = 10_000 / scale;
    let mut out: [Vec<f64>; 3] = Default::default();
    for round in 0..rounds {
        for k in 0..3 {
            let i = (round + k) % 3;
            let (url, t) = &reads[i];
            let (rps, _) = hammer(t, 32, requests, url, false).await?;
            out[i].push(rps);
        }
    }
    Ok(out)
}

/// Packages in the scanned image of the scan figure.
const SCAN_PACKAGES: usize = 200;

/// A scan of an image of `SCAN_PACKAGES` dpkg packages (one of them with
/// an advisory) per round: milliseconds from the request to the report.
async fn scan_times(url: &str, creds: (&str, &str), rounds: usize) -> Result<Vec<f64>> {
    let mut status = String::new();
    for i in 0..SCAN_PACKAGES {
        let (name, source) = match i {
            0 => ("libssl3", "Source: openssl\n"),
            _ => (&*format!("pkg{i}"), ""),
        };
        status.push_str(&format!(
            "Package: {name}\nStatus: install ok installed\n{source}Version: 1.{i}-1\nArchitecture: amd64\n\n"
        ));
    }
    let layer = tar_gz(&[
        ("etc/os-release", "ID=debian\nVERSION_ID=12\n"),
        ("var/lib/dpkg/status", &status),
    ]);
    let repo = "bench/scanned";
    let t = berth_pusher(url, creds.0, creds.1, repo, 1).await?;
    let config = Bytes::from_static(br#"{"architecture":"amd64","os":"linux"}"#);
    let manifest = t
        .reg
        .push_image_blobs(repo, config, Bytes::from(layer))
        .await?;
    (t.reg)
        .push_manifest(repo, "latest", OCI_MANIFEST, manifest)
        .await?;
    let mut out = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        scan(url, creds, "bench", "scanned").await?;
        out.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(out)
}

/// Scan all over every image the run pushed: images scanned and the rate
/// (images/s). A run still going after two minutes is stopped and counted
/// as far as it got.
async fn scan_all_rate(url: &str, (user, password): (&str, &str)) -> Result<(i64, f64)> {
    let admin = Client::new();
    let started = Instant::now();
    let r = admin
        .post(format!("{url}/api/v2.0/system/scanAll/schedule"))
        .basic_auth(user, Some(password))
        .json(&serde_json::json!({"schedule": {"type": "Manual"}}))
        .send()
        .await?;
    check(r.status(), StatusCode::CREATED, "scan all")?;
    let deadline = started + Duration::from_secs(120);
    loop {
        let m: serde_json::Value = admin
            .get(format!("{url}/api/v2.0/scans/all/metrics"))
            .basic_auth(user, Some(password))
            .send()
            .await?
            .json()
            .await?;
        let completed = m["completed"].as_i64().unwrap_or(0);
        let total = m["total"].as_i64().unwrap_or(0);
        let done = m["ongoing"] == false && total > 0;
        if done || Instant::now() > deadline {
            if !done {
                admin
                    .post(format!("{url}/api/v2.0/system/scanAll/stop"))
                    .basic_auth(user, Some(password))
                    .send()
                    .await?;
            }
            return Ok((
                completed,
                completed as f64 / started.elapsed().as_secs_f64(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Scans `project/repository:latest` and waits for its report.
async fn scan(url: &str, (user, password): (&str, &str), project: &str, repo: &str) -> Result<()> {
    let admin = Client::new();
    let artifact =
        format!("{url}/api/v2.0/projects/{project}/repositories/{repo}/artifacts/latest");
    let r = admin
        .post(format!("{artifact}/scan"))
        .basic_auth(user, Some(password))
        .send()
        .await?;
    check(r.status(), StatusCode::ACCEPTED, "scan")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let a: serde_json::Value = admin
            .get(format!("{artifact}?with_scan_overview=true"))
            .basic_auth(user, Some(password))
            .send()
            .await?
            .json()
            .await?;
        let status = a["scan_overview"]
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(|o| o["scan_status"].as_str())
            .unwrap_or_default()
            .to_string();
        match status.as_str() {
            "Success" => return Ok(()),
            "" | "Pending" | "Running" => tokio::time::sleep(Duration::from_millis(2)).await,
            other => anyhow::bail!("the scan of {project}/{repo} ended {other}"),
        }
    }
    anyhow::bail!("the scan of {project}/{repo} did not end")
}

/// Signs in through the portal's form: the session cookie (`sid=…`) and
/// the CSRF token its writes need.
async fn portal_sign_in(
    http: &Client,
    url: &str,
    user: &str,
    password: &str,
) -> Result<(String, String)> {
    let r = (http.post(format!("{url}/c/login")))
        .form(&[("principal", user), ("password", password)])
        .send()
        .await?;
    check(r.status(), StatusCode::OK, "portal sign-in")?;
    let header = |name| r.headers().get(name).and_then(|v| v.to_str().ok());
    let cookie = (header("set-cookie").and_then(|c| c.split(';').next()))
        .context("no session cookie")?
        .to_string();
    let csrf = header("x-harbor-csrf-token")
        .context("no CSRF token")?
        .to_string();
    Ok((cookie, csrf))
}

/// GC: orphan blobs pushed, then one collection with no time window;
/// returns the blobs and the mark+sweep rate (blobs/s).
async fn gc_rate(
    url: &str,
    t: &Target,
    (user, password): (&str, &str),
    scale: usize,
) -> Result<(usize, f64)> {
    let gc_blobs = 100_000 / scale;
    concurrently(32, (0..gc_blobs).collect(), |i| async move {
        let blob = Bytes::from(random(64, 10_000_000 + i as u64));
        t.reg.push_whole("bench/extras", blob).await
    })
    .await?;
    let admin = Client::new();
    let started = Instant::now();
    let r = admin
        .post(format!("{url}/api/v2.0/system/gc/schedule"))
        .basic_auth(user, Some(password))
        .json(&serde_json::json!({"schedule": {"type": "Manual"},
            "parameters": {"time_window": 0, "workers": 4, "delete_untagged": false}}))
        .send()
        .await?;
    check(r.status(), StatusCode::CREATED, "GC start")?;
    let gc = t.reg.location(&r)?;
    // The polls ride a session, as the portal's do: a password check per
    // poll (argon2, every 50 ms) was a quarter of Berth's CPU samples
    // during the collection measured.
    let (session, _) = portal_sign_in(&admin, url, user, password).await?;
    loop {
        let v: serde_json::Value = admin
            .get(&gc)
            .header(reqwest::header::COOKIE, &session)
            .send()
            .await?
            .json()
            .await?;
        match v["job_status"].as_str() {
            Some("Success") => break,
            Some("Pending" | "Running") => tokio::time::sleep(Duration::from_millis(50)).await,
            other => bail!("GC ended {other:?}"),
        }
    }
    Ok((gc_blobs, gc_blobs as f64 / started.elapsed().as_secs_f64()))
}

/// Pushes images `range` of a run's mode (config, one layer of `layer`
/// bytes, manifest by tag), 16 at a time.
async fn push_images(t: &Target, seed: u64, layer: usize, range: Range<usize>) -> Result<()> {
    concurrently(16, range.collect(), |i| async move {
        let config = Bytes::from(format!(r#"{{"os":"linux","seed":{seed},"i":{i}}}"#));
        let layer = Bytes::from(random(layer, seed * 1_000_000 + i as u64));
        let manifest = t
            .reg
            .push_image_blobs("bench/extras", config, layer)
            .await?;
        let tag = format!("s{seed}i{i}");
        t.reg
            .push_manifest("bench/extras", &tag, OCI_MANIFEST, manifest)
            .await
    })
    .await?;
    Ok(())
}

/// A Berth target whose every request carries a bearer token to pull and
/// push `repo`, keeping up to `idle` connections.
async fn berth_pusher(
    url: &str,
    user: &str,
    password: &str,
    repo: &str,
    idle: usize,
) -> Result<Target> {
    Ok(Target {
        name: "berth",
        reg: scale::token_registry(url, (user, password), &[repo], idle).await?,
        pid: 0,
        creds: None,
        results: BTreeMap::new(),
    })
}

/// The same images copied to Distribution by a Berth replication rule and
/// by `skopeo sync`: seconds each took.
struct ReplicationRace {
    images: usize,
    layer: usize,
    berth: f64,
    skopeo: f64,
}

/// Pushes images (config and one random layer each) into `bench/repl`,
/// then times a replication rule's run copying them to Distribution, and
/// `skopeo sync` copying them again under another name.
async fn replication_race(
    url: &str,
    (user, password): (&str, &str),
    dist: &str,
    scale: usize,
) -> Result<ReplicationRace> {
    let (images, layer) = (200 / scale.min(20), MIB / scale);
    let repo = "bench/repl";
    let t = berth_pusher(url, user, password, repo, 16).await?;
    concurrently(16, (0..images).collect(), |i| {
        let t = &t;
        async move {
            let config = Bytes::from(format!(r#"{{"os":"linux","replicated":{i}}}"#));
            let layer = Bytes::from(random(layer, 7_000_000 + i as u64));
            let manifest = t.reg.push_image_blobs(repo, config, layer).await?;
            t.reg
                .push_manifest(repo, &format!("r{i}"), OCI_MANIFEST, manifest)
                .await
        }
    })
    .await?;
    let admin = Client::new();
    let post = |path: &str, body: serde_json::Value| {
        admin
            .post(format!("{url}/api/v2.0{path}"))
            .basic_auth(user, Some(password))
            .json(&body)
            .send()
    };
    let id_of = |r: &reqwest::Response| -> Result<String> {
        let location = r.headers().get("location").context("no Location")?;
        Ok(location
            .to_str()?
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string())
    };
    let endpoint =
        serde_json::json!({"name": "bench-dist", "type": "docker-registry", "url": dist});
    let r = post("/registries", endpoint).await?;
    check(r.status(), StatusCode::CREATED, "registry endpoint")?;
    let endpoint: i64 = id_of(&r)?.parse()?;
    let rule = serde_json::json!({"name": "bench", "enabled": true,
        "dest_registry": {"id": endpoint}, "dest_namespace": "berth-repl",
        "filters": [{"type": "name", "value": repo}]});
    let r = post("/replication/policies", rule).await?;
    check(r.status(), StatusCode::CREATED, "replication rule")?;
    let rule: i64 = id_of(&r)?.parse()?;

    let started = Instant::now();
    let r = post(
        "/replication/executions",
        serde_json::json!({"policy_id": rule}),
    )
    .await?;
    check(r.status(), StatusCode::CREATED, "replication run")?;
    let run = id_of(&r)?;
    loop {
        let e: serde_json::Value = admin
            .get(format!("{url}/api/v2.0/replication/executions/{run}"))
            .basic_auth(user, Some(password))
            .send()
            .await?
            .json()
            .await?;
        match e["status"].as_str() {
            Some("InProgress") => tokio::time::sleep(Duration::from_millis(20)).await,
            Some("Succeed") if e["succeed"] == images => break,
            _ => bail!("replication run ended {e}"),
        }
    }
    let berth = started.elapsed().as_secs_f64();

    let host = |u: &str| u.trim_start_matches("http://").to_string();
    let started = Instant::now();
    let out = std::process::Command::new("skopeo")
        .args([
            "--insecure-policy",
            "sync",
            "--src",
            "docker",
            "--dest",
            "docker",
        ])
        .args(["--src-tls-verify=false", "--dest-tls-verify=false"])
        .args(["--src-creds", &format!("{user}:{password}")])
        .arg(format!("{}/{repo}", host(url)))
        .arg(format!("{}/skopeo-repl", host(dist)))
        .output()
        .context("skopeo (apt install skopeo)")?;
    ensure!(
        out.status.success(),
        "skopeo sync: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let skopeo = started.elapsed().as_secs_f64();
    Ok(ReplicationRace {
        images,
        layer,
        berth,
        skopeo,
    })
}

/// Seconds to pull the same set of images four ways, one list per way
/// with one entry per round.
struct ProxyPulls {
    images: usize,
    layer: usize,
    /// From Distribution itself.
    direct: Vec<f64>,
    /// Through a Berth proxy-cache project of it, nothing cached yet.
    first: Vec<f64>,
    /// Through that project again, everything cached.
    cached: Vec<f64>,
    /// Images of the same sizes pushed into a plain Berth project.
    local: Vec<f64>,
    /// Through Distribution's pull-through cache: nothing cached, then cached.
    dist_first: Vec<f64>,
    dist_cached: Vec<f64>,
}

/// Each round pushes fresh images into Distribution and the same number of
/// the same sizes into `bench/local`, then pulls them from Distribution, through
/// a proxy-cache project of it (twice) and from `bench/local`.
async fn proxy_pulls(
    url: &str,
    (user, password): (&str, &str),
    (dist, dist_proxy): (&str, Option<&str>),
    rounds: usize,
    scale: usize,
) -> Result<ProxyPulls> {
    let (images, layer) = (8, 32 * MIB / scale);
    let admin = Client::new();
    let endpoint =
        serde_json::json!({"name": "bench-upstream", "type": "docker-registry", "url": dist});
    let r = (admin.post(format!("{url}/api/v2.0/registries")))
        .basic_auth(user, Some(password))
        .json(&endpoint)
        .send()
        .await?;
    check(r.status(), StatusCode::CREATED, "registry endpoint")?;
    let location = r.headers().get("location").context("no Location")?;
    let endpoint: i64 = location
        .to_str()?
        .rsplit('/')
        .next()
        .unwrap_or("")
        .parse()?;
    let project = serde_json::json!({"project_name": "bench-proxy", "registry_id": endpoint,
        "metadata": {"public": "false"}});
    let r = (admin.post(format!("{url}/api/v2.0/projects")))
        .basic_auth(user, Some(password))
        .json(&project)
        .send()
        .await?;
    check(r.status(), StatusCode::CREATED, "proxy-cache project")?;

    let upstream = Registry {
        url: dist.to_string(),
        http: Client::new(),
    };
    let mut out = ProxyPulls {
        images,
        layer,
        direct: Vec::new(),
        first: Vec::new(),
        cached: Vec::new(),
        local: Vec::new(),
        dist_first: Vec::new(),
        dist_cached: Vec::new(),
    };
    let dist_proxy = dist_proxy.map(|url| Registry {
        url: url.to_string(),
        http: Client::new(),
    });
    for round in 0..rounds {
        let (repo, local) = (
            format!("upstream/pulled{round}"),
            format!("bench/local{round}"),
        );
        let proxied = format!("bench-proxy/{repo}");
        let local_target = berth_pusher(url, user, password, &local, 4).await?;
        let proxy_target = berth_pusher(url, user, password, &proxied, 4).await?;
        for (to, to_repo, seed) in [
            (&upstream, &repo, 8_000_000),
            (&local_target.reg, &local, 9_000_000),
        ] {
            for i in 0..images {
                let seed = seed + (round * images + i) as u64;
                let config = Bytes::from(format!(r#"{{"os":"linux","seed":{seed}}}"#));
                let layer = Bytes::from(random(layer, seed));
                let manifest = to.push_image_blobs(to_repo, config, layer).await?;
                to.push_manifest(to_repo, &format!("i{i}"), OCI_MANIFEST, manifest)
                    .await?;
            }
        }
        let timed = |reg: &Registry, repo: String| {
            let reg = reg.clone();
            async move {
                let started = Instant::now();
                let mut bytes = 0;
                for i in 0..images {
                    bytes += pull_image(&reg, &repo, &format!("i{i}")).await?;
                }
                ensure!(bytes > images * layer, "{repo}: pulled {bytes} bytes");
                Ok::<_, anyhow::Error>(started.elapsed().as_secs_f64())
            }
        };
        out.direct.push(timed(&upstream, repo.clone()).await?);
        out.first
            .push(timed(&proxy_target.reg, proxied.clone()).await?);
        if let Some(d) = &dist_proxy {
            out.dist_first.push(timed(d, repo.clone()).await?);
        }
        // The proxy stores a manifest once its blobs are cached, in the background.
        let stored = format!(
            "{url}/api/v2.0/projects/bench-proxy/repositories/{}/artifacts?page_size=100",
            repo.replace('/', "%252F")
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let listed: serde_json::Value = (admin.get(&stored))
                .basic_auth(user, Some(password))
                .send()
                .await?
                .json()
                .await?;
            if listed.as_array().map_or(0, |a| a.len()) == images {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "proxied manifests never stored: {listed}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        out.cached.push(timed(&proxy_target.reg, proxied).await?);
        if let Some(d) = &dist_proxy {
            out.dist_cached.push(timed(d, repo.clone()).await?);
        }
        out.local.push(timed(&local_target.reg, local).await?);
    }
    Ok(out)
}

/// Pulls an image as a client does (manifest by tag, then its config and
/// layers, each read to the end); returns the bytes read.
async fn pull_image(reg: &Registry, repo: &str, tag: &str) -> Result<usize> {
    let r = (reg
        .http
        .get(format!("{}/v2/{repo}/manifests/{tag}", reg.url)))
    .header("accept", OCI_MANIFEST)
    .send()
    .await?;
    check(r.status(), StatusCode::OK, "manifest GET")?;
    let manifest: serde_json::Value = r.json().await?;
    let blobs = std::iter::once(&manifest["config"])
        .chain(manifest["layers"].as_array().into_iter().flatten());
    let mut n = 0;
    for b in blobs {
        let d = b["digest"].as_str().context("a blob without digest")?;
        let mut r = (reg.http.get(format!("{}/v2/{repo}/blobs/{d}", reg.url)))
            .send()
            .await?;
        check(r.status(), StatusCode::OK, "blob GET")?;
        while let Some(c) = r.chunk().await? {
            n += c.len();
        }
    }
    Ok(n)
}

/// Time of the portal's repository page over many artifacts, per request.
struct PortalRender {
    artifacts: usize,
    /// (page, times in ms)
    pages: Vec<(&'static str, Vec<f64>)>,
}

/// Pushes `artifacts` tagged manifests into one repository (one shared
/// config and layer), signs in to the portal, and times its first and last
/// page of artifacts (loopback, one request at a time: server time).
async fn portal_render(
    url: &str,
    user: &str,
    password: &str,
    artifacts: usize,
) -> Result<PortalRender> {
    let client = Client::builder().pool_max_idle_per_host(32).build()?;
    let t = berth_pusher(url, user, password, "bench/many", 32).await?;
    let base: serde_json::Value = serde_json::from_slice(
        &t.reg
            .push_image_blobs(
                "bench/many",
                Bytes::from_static(br#"{"os":"linux"}"#),
                Bytes::from(random(1024, 7)),
            )
            .await?,
    )?;
    let t = &t;
    concurrently(16, (0..artifacts).collect(), |i| {
        let mut m = base.clone();
        async move {
            m["annotations"] = serde_json::json!({"i": i.to_string()});
            let m = Bytes::from(serde_json::to_vec(&m)?);
            t.reg
                .push_manifest("bench/many", &format!("t{i}"), OCI_MANIFEST, m)
                .await
        }
    })
    .await?;

    let (session, _) = portal_sign_in(&client, url, user, password).await?;
    let project: serde_json::Value = client
        .get(format!("{url}/api/v2.0/projects/bench"))
        .basic_auth(user, Some(password))
        .send()
        .await?
        .json()
        .await?;
    let page = format!(
        "{url}/harbor/projects/{}/repositories/many",
        project["project_id"]
    );
    let last = format!("{page}?page={}", artifacts.div_ceil(15));
    let time = |u: String, expect: String| {
        let (client, session) = (&client, &session);
        async move {
            let mut ms = Vec::new();
            for i in 0..35 {
                let started = Instant::now();
                let r = client
                    .get(&u)
                    .header(reqwest::header::COOKIE, session)
                    .send()
                    .await?;
                check(r.status(), StatusCode::OK, "portal page")?;
                let body = r.text().await?;
                // The first five warm the caches and are not counted.
                if i >= 5 {
                    ms.push(started.elapsed().as_secs_f64() * 1000.0);
                }
                ensure!(body.contains(&expect), "{u} does not show {expect:?}");
            }
            Ok::<_, anyhow::Error>(ms)
        }
    };
    let counted = format!("{artifacts} artifacts");
    Ok(PortalRender {
        artifacts,
        pages: vec![
            (
                "repository page, first",
                time(page.clone(), counted.clone()).await?,
            ),
            ("repository page, last", time(last, counted).await?),
            // Its storage column sums the big project's blobs.
            (
                "projects list",
                time(format!("{url}/harbor/projects"), "bench".into()).await?,
            ),
        ],
    })
}

/// The `q` quantile of `v` (nearest rank).
fn percentile(v: &[f64], q: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[((s.len() as f64 - 1.0) * q).round() as usize]
}

async fn scenarios(
    t: &Target,
    run: usize,
    big: &[u8],
    mid: &[u8],
    scale: usize,
) -> Result<BTreeMap<&'static str, f64>> {
    let mut out = BTreeMap::new();
    let repo = format!("bench/run{run}");
    let mb = |n: usize, d: Duration| n as f64 / 1e6 / d.as_secs_f64();

    // Unique content per run and target, so no push is deduplicated away.
    // Digests are computed before the clock starts: only the server is timed.
    let big = Bytes::from(salted(big, run, t.name));
    let big_digest = digest(&big);
    let cpu_before = cpu_millis(t.pid)?;
    let started = Instant::now();
    t.reg.push_blob(&repo, big.clone(), &big_digest).await?;
    out.insert("blob push 512 MiB", mb(big.len(), started.elapsed()));
    let mut push_cpu = cpu_millis(t.pid)? - cpu_before;

    let started = Instant::now();
    let mut resp = t
        .reg
        .http
        .get(format!("{}/v2/{repo}/blobs/{big_digest}", t.reg.url))
        .send()
        .await?;
    check(resp.status(), StatusCode::OK, "blob GET")?;
    let mut n = 0;
    while let Some(c) = resp.chunk().await? {
        n += c.len();
    }
    if n != big.len() {
        bail!("pulled {n} bytes, expected {}", big.len());
    }
    out.insert("blob pull 512 MiB", mb(n, started.elapsed()));

    let mid = salted(mid, run, t.name);
    let mid_digest = digest(&mid);
    let cpu_before = cpu_millis(t.pid)?;
    let started = Instant::now();
    (t.reg)
        .push_chunked(&repo, &mid, &mid_digest, 8 * 1024 * 1024 / scale)
        .await?;
    out.insert(
        "chunked push 256 MiB / 8 MiB",
        mb(mid.len(), started.elapsed()),
    );
    push_cpu += cpu_millis(t.pid)? - cpu_before;
    // The server's own CPU seconds per 10^9 bytes over both pushes.
    let pushed_gb = (big.len() + mid.len()) as f64 / 1e9;
    out.insert("server CPU per GB pushed", push_cpu / 1000.0 / pushed_gb);

    let count = 500 / scale.min(10);
    let small: Vec<(Bytes, String)> = (0..count)
        .map(|i| {
            let b = Bytes::from(salted(&random(16 * 1024, 1000 + i as u64), run, t.name));
            let d = digest(&b);
            (b, d)
        })
        .collect();
    let repo_ref = &repo;
    let cpu_before = cpu_millis(t.pid)?;
    let started = Instant::now();
    concurrently(16, small, |(blob, d)| async move {
        t.reg.push_blob(repo_ref, blob, &d).await
    })
    .await?;
    out.insert(
        "16 KiB blob pushes c=16",
        count as f64 / started.elapsed().as_secs_f64(),
    );
    let cpu = cpu_millis(t.pid)? - cpu_before;
    out.insert("server CPU per 16 KiB push", cpu * 1000.0 / count as f64);

    // A small image for manifest reads; then 2,000 tags on it.
    let config = Bytes::from(format!(
        r#"{{"architecture":"amd64","os":"linux","run":"{run}"}}"#
    ));
    let layer = Bytes::from(salted(&random(1024, 7), run, t.name));
    let manifest = t.reg.push_image_blobs(&repo, config, layer).await?;
    let md = digest(&manifest);
    (t.reg)
        .push_manifest(&repo, "latest", OCI_MANIFEST, manifest.clone())
        .await?;

    let requests = 20_000 / scale;
    let url = format!("{}/v2/{repo}/manifests/latest", t.reg.url);
    let cpu_before = cpu_millis(t.pid)?;
    let (rps, p99) = hammer(t, 32, requests, &url, false).await?;
    let cpu = cpu_millis(t.pid)? - cpu_before;
    out.insert("manifest GET by tag c=32", rps);
    out.insert("manifest GET by tag p99", p99);
    out.insert(
        "manifest GET CPU per request",
        cpu * 1000.0 / requests as f64,
    );
    let url = format!("{}/v2/{repo}/manifests/{md}", t.reg.url);
    let (rps, p99) = hammer(t, 32, requests, &url, true).await?;
    out.insert("manifest HEAD by digest c=32", rps);
    out.insert("manifest HEAD by digest p99", p99);

    let tags: Vec<String> = (0..2000 / scale).map(|i| format!("t{i:05}")).collect();
    let n_tags = tags.len();
    let started = Instant::now();
    concurrently(16, tags, |tag| {
        let manifest = manifest.clone();
        let repo = &repo;
        async move {
            (t.reg)
                .push_manifest(repo, &tag, OCI_MANIFEST, manifest)
                .await
        }
    })
    .await?;
    out.insert(
        "manifest pushes c=16",
        n_tags as f64 / started.elapsed().as_secs_f64(),
    );
    let lists = 50;
    let started = Instant::now();
    for _ in 0..lists {
        let v: serde_json::Value = t
            .reg
            .http
            .get(format!("{}/v2/{repo}/tags/list", t.reg.url))
            .send()
            .await?
            .json()
            .await?;
        let got = v["tags"].as_array().map(|a| a.len()).unwrap_or(0);
        if got != n_tags + 1 {
            bail!("listed {got} tags, expected {}", n_tags + 1);
        }
    }
    out.insert(
        "list 2,000 tags",
        lists as f64 / started.elapsed().as_secs_f64(),
    );
    Ok(out)
}

async fn fetch_token(
    client: &Client,
    url: &str,
    user: &str,
    password: &str,
    scope: &str,
) -> Result<String> {
    let v: serde_json::Value = client
        .get(format!(
            "{url}/service/token?service=harbor-registry&scope={scope}"
        ))
        .basic_auth(user, Some(password))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(v["token"].as_str().context("no token")?.to_string())
}

/// Tokens per second at concurrency `c` (each request verifies the password).
async fn token_rate(url: &str, user: &str, password: &str, c: usize, n: usize) -> Result<f64> {
    let client = Client::new();
    let started = Instant::now();
    concurrently(c, (0..n).collect(), |i| {
        let client = &client;
        async move {
            fetch_token(
                client,
                url,
                user,
                password,
                &format!("repository:bench/t{i}:pull,push"),
            )
            .await
        }
    })
    .await?;
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// `requests` GETs (or HEADs) of one URL from `c` workers: (req/s, p99 ms).
async fn hammer(
    t: &Target,
    c: usize,
    requests: usize,
    url: &str,
    head: bool,
) -> Result<(f64, f64)> {
    let started = Instant::now();
    let mut latencies = concurrently(c, (0..requests).collect(), |_| async move {
        let s = Instant::now();
        let req = if head {
            t.reg.http.head(url)
        } else {
            t.reg.http.get(url)
        };
        let r = req
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await?;
        check(r.status(), StatusCode::OK, "manifest read")?;
        let _ = r.bytes().await?;
        Ok(s.elapsed())
    })
    .await?;
    let rps = requests as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    Ok((rps, p99.as_secs_f64() * 1000.0))
}

/// Runs `f` over `items` with at most `c` in flight.
async fn concurrently<I, T, F, Fut>(c: usize, items: Vec<I>, f: F) -> Result<Vec<T>>
where
    F: Fn(I) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    use futures_util::StreamExt;
    futures_util::stream::iter(items.into_iter().map(f))
        .buffer_unordered(c)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

fn random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

fn salted(data: &[u8], run: usize, name: &str) -> Vec<u8> {
    let mut v = data.to_vec();
    let salt = format!("{run}-{name}-");
    v[..salt.len()].copy_from_slice(salt.as_bytes());
    v
}

fn sha_ceiling(data: &[u8]) -> f64 {
    let started = Instant::now();
    let _ = ring::digest::digest(&ring::digest::SHA256, data);
    data.len() as f64 / 1e6 / started.elapsed().as_secs_f64()
}

fn disk_ceiling(dir: &std::path::Path, data: &[u8]) -> Result<f64> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("ceiling.tmp");
    let started = Instant::now();
    let mut f = std::fs::File::create(&path)?;
    for c in data.chunks(1024 * 1024) {
        f.write_all(c)?;
    }
    f.sync_all()?;
    let rate = data.len() as f64 / 1e6 / started.elapsed().as_secs_f64();
    std::fs::remove_file(path)?;
    Ok(rate)
}

/// A process's user+system CPU time so far, in milliseconds.
fn cpu_millis(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at state.
    let rest = stat.rsplit_once(')').context("bad stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    // Linux reports in USER_HZ, which is 100 on every platform Berth runs on.
    Ok(ticks * 10.0)
}

/// A memory figure of a process from `/proc/<pid>/status` (`VmHWM`: peak
/// RSS; `VmRSS`; `RssAnon`: its private part), in MB.
fn status_mb(pid: u32, field: &str) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .with_context(|| format!("no {field}"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kb / 1024.0)
}

/// A mode's figure against "off": the ratio of the means, and the median of
/// each round's own ratio (a round measures every mode within seconds, so
/// its ratio is spared the drift of a shared machine between rounds).
fn of_off(mode: &[f64], off: &[f64]) -> String {
    of_base(mode, off, "off")
}

/// Like `of_off`, against the rounds of `base` (named `name`).
fn of_base(mode: &[f64], base: &[f64], name: &str) -> String {
    let per_round: Vec<f64> = mode.iter().zip(base).map(|(m, o)| m / o).collect();
    format!(
        "{:.2}x of {name} (per round: median {:.2}x)",
        mean(mode) / mean(base),
        percentile(&per_round, 0.5)
    )
}

/// Per-round figures: too many to list, so their mean, median and range.
fn fmt_rounds(v: &[f64]) -> String {
    let (lo, hi) = range(v);
    format!(
        "{:.1} (median {:.1} of {} rounds, {lo:.1}–{hi:.1})",
        mean(v),
        percentile(v, 0.5),
        v.len()
    )
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// The smallest and largest of `v`.
fn range(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)))
}

fn fmt_runs(v: &[f64]) -> String {
    let (lo, hi) = range(v);
    let spread = if mean(v) > 0.0 {
        (hi - lo) / mean(v) * 100.0
    } else {
        0.0
    };
    let runs: Vec<String> = v.iter().map(|x| format!("{x:.1}")).collect();
    format!(
        "{:.1} ({}; ±{:.0}%)",
        mean(v),
        runs.join(", "),
        spread / 2.0
    )
}
