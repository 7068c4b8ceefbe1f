//! The `berth` binary: command line, configuration, logging and wiring.

mod config;

use anyhow::Context;
use berth_core::gc::Gc;
use berth_core::iam::secrets::Secrets;
use berth_core::iam::token::TokenService;
use berth_core::notify::audit::Audit;
use berth_core::notify::events::Events;
use berth_core::notify::trail::Trail;
use berth_core::notify::webhooks::Webhooks;
use berth_core::policy::{Chain, Inputs, ProjectSettings, ScanVerdicts};
use berth_core::proxy::ProxyCache;
use berth_core::registry::ManifestCache;
use berth_core::replication::flow::{Replication, ReplicationDeps};
use berth_core::replication::registries::Registries;
use berth_core::scan::{RegistryUrls, ScanDeps};
use berth_core::{Artifacts, Configurations, Iam, Jobs, Projects, Registry, Repositories, Scans};
use berth_server::AppState;
use berth_storage::Store;
use clap::{Parser, Subcommand};
use config::{Config, ServeOptions};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Berth: a Harbor-compatible container registry in one binary.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Configuration file (TOML); keys are the `serve` option names with `_`
    #[arg(long, global = true, env = "BERTH_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry server
    Serve(ServeOptions),
    /// Copy the database, every blob it names and the secret key into a new
    /// directory, consistent with each other, while Berth runs (SQLite with
    /// blobs on the filesystem)
    Backup {
        /// The directory to create
        to: PathBuf,
        #[command(flatten)]
        opts: ServeOptions,
    },
    /// Put a backup in place in a data directory that has no database yet
    /// (with Berth stopped)
    Restore {
        /// The backup's directory
        from: PathBuf,
        #[command(flatten)]
        opts: ServeOptions,
    },
    /// Operator tasks on the database (stop Berth first on SQLite)
    Admin {
        #[command(subcommand)]
        task: AdminTask,
    },
    /// The vulnerability database the built-in scanner matches against
    Vulndb {
        #[command(subcommand)]
        task: VulndbTask,
    },
}

#[derive(Subcommand)]
enum VulndbTask {
    /// Import OSV advisories: an ecosystem's all.zip as osv.dev publishes
    /// it, or a directory of OSV .json files (Berth may be running)
    Import {
        /// The archive or directory
        source: PathBuf,
        #[command(flatten)]
        opts: ServeOptions,
    },
}

#[derive(Subcommand)]
enum AdminTask {
    /// Set a user's password (prints a generated one unless --password is given)
    ResetPassword {
        /// The user's name, e.g. admin
        username: String,
        /// The new password [env: BERTH_NEW_PASSWORD]
        #[arg(long, env = "BERTH_NEW_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[command(flatten)]
        opts: ServeOptions,
    },
}

fn main() -> anyhow::Result<()> {
    tune_malloc();
    let cli = Cli::parse();
    // One TLS provider for every client and server in the process (the
    // dependency tree offers two).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let file = cli
        .config
        .or_else(|| Some(PathBuf::from("berth.toml")).filter(|p| p.exists()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Serve(opts) => {
            let config = opts.resolve(file.as_deref())?;
            let traces = init_tracing(&config, config.otlp.as_ref())?;
            let served = runtime.block_on(serve(config));
            if let Some(Err(e)) = traces.map(|p| p.shutdown()) {
                eprintln!("sending the last traces: {e}");
            }
            served
        }
        Command::Admin {
            task:
                AdminTask::ResetPassword {
                    username,
                    password,
                    opts,
                },
        } => {
            let config = opts.resolve(file.as_deref())?;
            init_tracing(&config, None)?;
            runtime.block_on(reset_password(config, username, password))
        }
        Command::Backup { to, opts } => {
            let config = opts.resolve(file.as_deref())?;
            init_tracing(&config, None)?;
            runtime.block_on(backup(config, to))
        }
        Command::Restore { from, opts } => {
            let config = opts.resolve(file.as_deref())?;
            init_tracing(&config, None)?;
            runtime.block_on(restore(config, from))
        }
        Command::Vulndb {
            task: VulndbTask::Import { source, opts },
        } => {
            let config = opts.resolve(file.as_deref())?;
            init_tracing(&config, None)?;
            runtime.block_on(import_vulndb(config, source))
        }
    }
}

async fn import_vulndb(config: Config, source: PathBuf) -> anyhow::Result<()> {
    // The database may be the data directory's, before Berth ever ran.
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let db = berth_db::Db::connect(&config.database_url)
        .await
        .context("opening the database")?;
    let vulndb = berth_core::scan::VulnDb::new(db);
    let done = vulndb
        .import(&source)
        .await
        .with_context(|| format!("importing {}", source.display()))?;
    for why in &done.invalid {
        eprintln!("skipped: {why}");
    }
    let status = vulndb.status().await?;
    println!(
        "Read {} records from {}: {} advisories stored, {} withdrawn removed, {} invalid; {} advisories in the database.",
        done.read,
        source.display(),
        done.stored,
        done.withdrawn,
        done.invalid.len(),
        status.advisories
    );
    Ok(())
}

/// The SQLite file and the blob directory of the embedded setup, the one
/// `berth backup` and `berth restore` cover.
fn embedded(config: &Config) -> anyhow::Result<(PathBuf, berth_storage::FsStore)> {
    let file = (config.database_url.strip_prefix("sqlite://"))
        .or_else(|| config.database_url.strip_prefix("sqlite:"))
        .map(|f| PathBuf::from(f.split('?').next().unwrap_or(f)));
    match (file, &config.storage) {
        (Some(file), config::Storage::Filesystem(path)) => {
            let store = berth_storage::FsStore::open(path).context("opening blob storage")?;
            Ok((file, store))
        }
        _ => anyhow::bail!(
            "berth backup and restore cover SQLite with blobs on the filesystem; with \
             PostgreSQL or object storage, back up the database and the bucket \
             with their own tools (see README.md, Backups)"
        ),
    }
}

async fn backup(config: Config, to: PathBuf) -> anyhow::Result<()> {
    let (_, store) = embedded(&config)?;
    let db = berth_db::Db::connect(&config.database_url)
        .await
        .context("opening the database")?;
    let done = berth_core::backup::backup(&db, &store, &config.secret_key_file, &to).await?;
    println!(
        "Backed up the database, {} blobs ({} bytes) and the secret key to {}.",
        done.blobs,
        done.bytes,
        to.display()
    );
    Ok(())
}

async fn restore(config: Config, from: PathBuf) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let (file, store) = embedded(&config)?;
    let done = berth_core::backup::restore(&from, &file, &store, &config.secret_key_file).await?;
    println!(
        "Restored the database, {} blobs ({} bytes) and the secret key from {}.",
        done.blobs,
        done.bytes,
        from.display()
    );
    Ok(())
}

async fn reset_password(
    config: Config,
    username: String,
    password: Option<String>,
) -> anyhow::Result<()> {
    let db = berth_db::Db::connect(&config.database_url)
        .await
        .context("opening the database")?;
    let generated = password.is_none();
    let password = password.unwrap_or_else(berth_core::iam::password::generate);
    Iam::new(db).reset_password(&username, &password).await?;
    if generated {
        println!("New password for {username}: {password}");
    } else {
        println!("Password for {username} changed.");
    }
    Ok(())
}

/// Creates the first administrator and the `library` project on first start.
async fn first_start(config: &Config, iam: &Iam, projects: &Projects) -> anyhow::Result<()> {
    let from_env = std::env::var("BERTH_ADMIN_PASSWORD").ok();
    if let Some(password) = iam.bootstrap_admin(from_env.as_deref()).await? {
        let path = config.data_dir.join("initial-admin-password");
        write_secret(&path, &format!("{password}\n"))?;
        // Shown once, on stderr with the logs, never again.
        eprintln!(
            "Created user admin with password {password} (also in {}). Change it after logging in.",
            path.display()
        );
    }
    projects.ensure_library().await?;
    Ok(())
}

/// Writes a file only its owner can read.
fn write_secret(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))
}

/// Logs to stderr at the configured level; with an OTLP endpoint (`berth
/// serve` only), each request's span and Berth's debug-level spans inside
/// it go to the collector too, whatever the log level. The provider
/// flushes them at shutdown.
fn init_tracing(
    config: &Config,
    otlp: Option<&config::Otlp>,
) -> anyhow::Result<Option<SdkTracerProvider>> {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig as _;
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .with_context(|| format!("bad log level {:?}", config.log_level))?;
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let fmt = match config.json_logs {
        true => fmt.json().boxed(),
        false => fmt.boxed(),
    };
    let mut provider = None;
    let otel = match otlp {
        None => None,
        Some(o) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(&o.endpoint)
                .build()
                .context("setting up the OTLP exporter")?;
            let sampler = Sampler::TraceIdRatioBased(o.sampling_ratio);
            let resource = opentelemetry_sdk::Resource::builder()
                .with_service_name("berth")
                .with_attribute(opentelemetry::KeyValue::new(
                    "service.version",
                    env!("CARGO_PKG_VERSION"),
                ))
                .build();
            let p = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_sampler(Sampler::ParentBased(Box::new(sampler)))
                .with_resource(resource)
                .build();
            opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
            berth_server::traces::enable();
            // Berth's requests, and what runs inside them: a background
            // commit outside any request would make a trace of its own.
            let within_requests = tracing_subscriber::filter::DynFilterFn::new(|meta, cx| {
                meta.target().starts_with("berth")
                    && *meta.level() <= tracing::Level::DEBUG
                    && (meta.name() == "request" || cx.lookup_current().is_some())
            });
            let layer = tracing_opentelemetry::layer().with_tracer(p.tracer("berth"));
            provider = Some(p);
            Some(layer.with_filter(within_requests))
        }
    };
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel)
        .init();
    Ok(provider)
}

/// glibc's malloc raises its mmap threshold to the largest block freed, so
/// after one password hash (argon2's 7 MiB work area) such blocks come from
/// the heap and stay resident, and each of up to 8 arenas per core keeps
/// what its threads freed. A fixed threshold hands large blocks back to
/// the system when freed; two arenas keep the blocking threads' garbage in
/// few places. Fixing the threshold also fixes the trim threshold, at
/// 128 KiB: an upload's pipeline (up to 16 of hyper's ~400 KiB reads) was
/// handed back to the system read by read and faulted in again for the
/// next, a tenth of a large push's CPU; 4 MiB of free heap top stays.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Hands back what start-up freed (migrations, the API description), which
/// the trim threshold would otherwise keep resident while idle.
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases the allocator's free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let db = berth_db::Db::connect(&config.database_url)
        .await
        .context("opening the database")?;
    let store = match &config.storage {
        config::Storage::Filesystem(path) => berth_storage::FsStore::open(path).map(Store::Fs),
        config::Storage::Object(object) => {
            berth_storage::ObjectStore::open(object).map(Store::Object)
        }
    }
    .context("opening blob storage")?;
    // What every service records for the audit log (written out by `Audit`).
    let trail = Trail::new();
    let secrets = Secrets::load_or_create(&config.secret_key_file)?;
    let configurations = Configurations::new(db.clone(), trail.clone())
        .with_token_expiration(config.token_expiry_minutes)
        .with_secrets(secrets.clone());
    // Read-only mode and the other switches hold from the first request.
    configurations.refresh().await?;
    let settings = ProjectSettings::new(db.clone());
    let projects = Projects::new(
        db.clone(),
        configurations.clone(),
        trail.clone(),
        settings.clone(),
    );
    let iam = Iam::with_lockout(
        db.clone(),
        configurations.clone(),
        projects.clone(),
        config.login_max_failures,
        config.login_lockout,
    );
    first_start(&config, &iam, &projects).await?;
    let tokens = TokenService::load_or_create(&db, &secrets, &config.data_dir).await?;
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("binding {}", config.listen))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let external_url = config
        .external_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{addr}"))
        .trim_end_matches('/')
        .to_string();
    let tls = config
        .tls
        .as_ref()
        .map(|(c, k)| tls_config(c, k))
        .transpose()?;
    let jobs = Jobs::new(db.clone(), config.jobs);
    let manifests = ManifestCache::new(config.manifest_cache_bytes);
    let gc = Gc::new(
        db.clone(),
        store.clone(),
        jobs.clone(),
        config.gc,
        manifests.clone(),
    );
    let audit = Audit::new(
        db.clone(),
        configurations.clone(),
        projects.clone(),
        jobs.clone(),
        trail.clone(),
    );
    let webhooks = Webhooks::new(
        db.clone(),
        jobs.clone(),
        projects.clone(),
        configurations.clone(),
        &external_url,
    );
    let events = Events::new();
    webhooks.subscribe(&events);
    let verdicts = ScanVerdicts::default();
    let inputs = Inputs {
        settings: &settings,
        verdicts: &verdicts,
        configurations: &configurations,
        events: &events,
    };
    let chain = Chain::standard(&db, &store, inputs);
    let registry = Arc::new(Registry::new(
        db.clone(),
        store.clone(),
        events.clone(),
        chain,
        trail,
        manifests,
    ));
    let artifacts = Artifacts::new(db.clone(), projects.clone());
    let tokens = Arc::new(tokens);
    let scans = Scans::new(
        registry.clone(),
        ScanDeps {
            projects: projects.clone(),
            settings,
            verdicts,
            artifacts: artifacts.clone(),
            jobs: jobs.clone(),
            events: events.clone(),
            robots: iam.robots.clone(),
            tokens: tokens.clone(),
            urls: RegistryUrls {
                external: external_url.clone(),
                internal: format!("{scheme}://{}", loopback(addr)),
            },
            refresh: config.vulndb.clone(),
            work_dir: config.data_dir.join("tmp"),
            secrets: secrets.clone(),
        },
    );
    let sealed = (scans.scanners().seal_stored().await)
        .context("sealing scanner credentials stored in the clear")?;
    if sealed > 0 {
        tracing::info!(
            registrations = sealed,
            "sealed scanner credentials stored in the clear"
        );
    }
    scans
        .schedule_vulndb_refresh()
        .await
        .context("scheduling the vulnerability database's refresh")?;
    scans.subscribe();
    let registries = Registries::new(db.clone(), secrets);
    registries
        .schedule_health_checks(&jobs, &config.registry_health_cron)
        .await
        .context("scheduling registry endpoints' health checks")?;
    let replication = Replication::new(ReplicationDeps {
        db: db.clone(),
        jobs: jobs.clone(),
        registries: registries.clone(),
        registry: registry.clone(),
        projects: projects.clone(),
        events: events.clone(),
        external_url: external_url.clone(),
    });
    replication.subscribe();
    let proxy = ProxyCache::new(registry.clone(), registries.clone());
    let retention = berth_core::retention::Retention::new(
        db.clone(),
        jobs.clone(),
        projects.clone(),
        (registry.clone(), events.clone()),
        &external_url,
    );
    let health = berth_core::health::Health::new(db.clone(), store, jobs.clone(), scans.clone());
    let state = Arc::new(AppState {
        repositories: Repositories::new(db.clone(), projects.clone()),
        labels: berth_core::project::labels::Labels::new(db.clone(), projects.clone()),
        quotas: berth_core::quota::Quotas::new(db.clone(), jobs.clone()),
        retention,
        immutable: berth_core::project::immutable::ImmutableRules::new(
            db.clone(),
            projects.clone(),
        ),
        artifacts,
        registry,
        scans,
        iam,
        projects,
        configurations,
        tokens,
        external_url,
        jobs: jobs.clone(),
        gc,
        audit,
        webhooks,
        registries,
        replication,
        proxy,
        health: health.clone(),
        exporter: berth_core::metrics::Exporter::new(db.clone(), health),
        metrics_on_main_port: config.metrics,
    });
    jobs.start();
    let flusher = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            loop {
                tick.tick().await;
                flush(&state).await;
            }
        })
    };
    let app = berth_server::router(state.clone());
    if let Some(addr) = config.metrics_listen {
        let metrics = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr} for metrics"))?;
        let router = berth_server::metrics_router(state.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(metrics, router).await {
                tracing::error!(error = %e, "metrics listener");
            }
        });
        tracing::info!(%addr, "metrics served");
    }
    tracing::info!(%addr, external_url = ?config.external_url, "Berth started");
    // A plain line on stdout that scripts and tests wait for.
    println!("Berth listening on {scheme}://{addr}");

    let limits = berth_server::listener::Limits {
        max_connections: config
            .max_connections
            .unwrap_or_else(|| connection_cap(raise_open_file_limit())),
        header_timeout: config.header_timeout,
        body_idle_timeout: config.body_timeout,
        trusted_proxies: config.trusted_proxies.clone().into(),
    };
    tracing::info!(max_connections = limits.max_connections, "serving");
    trim_heap();
    let listener = tokio::net::TcpListener::from_std(listener)?;
    berth_server::listener::serve(listener, app, tls, limits, shutdown_signal()).await;
    flusher.abort();
    jobs.shutdown().await;
    // Pulls counted and audit entries since the last tick are written before exiting.
    flush(&state).await;
    tracing::info!("Berth stopped");
    Ok(())
}

/// The address Berth itself is reached at: the one bound, with a wildcard
/// bind's loopback in its place.
fn loopback(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    std::net::SocketAddr::new(ip, addr.port())
}

/// The rustls configuration for a PEM certificate chain and key, offering
/// HTTP/2 and HTTP/1.1.
fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading the certificate {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the key {}", key.display()))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("loading the TLS certificate and key")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Raises the open-file limit to its hard limit (each connection, blob
/// read and upload holds a descriptor); returns the limit now in force.
fn raise_open_file_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    lim.rlim_cur
}

/// Connections to serve at once for an open-file limit: half of it (the
/// rest for blob files and the database), at most 10,000.
fn connection_cap(open_files: u64) -> usize {
    (open_files.saturating_sub(128) / 2).clamp(64, 10_000) as usize
}

/// How often counted pulls and audit entries are written to the database.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Writes what is buffered in memory: pull counts and audit entries.
async fn flush(state: &AppState) {
    if let Err(e) = state.registry.flush_pulls().await {
        tracing::warn!(error = %e, "writing pull counts");
    }
    if let Err(e) = state.audit.flush().await {
        tracing::warn!(error = %e, "writing audit logs");
    }
}

/// Resolves on SIGTERM or Ctrl-C; in-flight requests then finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
