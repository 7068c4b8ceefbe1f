//! Configuration: defaults, then `berth.toml`, then `BERTH_*` environment
//! variables and command-line flags (clap reads both; flags win).

use clap::Args;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Options of `berth serve`; each is also a `berth.toml` key of the same name
/// with `_` for `-`.
#[derive(Args, Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ServeOptions {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "BERTH_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// URL clients use to reach Berth (token realm, links) [default: http(s)://<listen>]
    #[arg(long, env = "BERTH_EXTERNAL_URL")]
    pub external_url: Option<String>,
    /// Directory for all local data [default: ./berth-data]
    #[arg(long, env = "BERTH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The key that seals stored credentials and the token signing key;
    /// every replica on one database needs the same one [default: <data-dir>/secret-key, made at the first start]
    #[arg(long, env = "BERTH_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// Load balancers and proxies in front of Berth, as addresses or CIDR
    /// blocks (comma-separated in the environment): from them, the client
    /// is the last address in X-Forwarded-For not itself one of them
    #[arg(
        long = "trusted-proxies",
        env = "BERTH_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Option<Vec<String>>,
    /// Database URL: sqlite://path or postgres://user@host/db [default: sqlite://<data-dir>/berth.db]
    #[arg(long, env = "BERTH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Directory for blobs and uploads [default: <data-dir>/storage]
    #[arg(long, env = "BERTH_STORAGE_PATH", conflicts_with = "storage_url")]
    pub storage_path: Option<PathBuf>,
    /// Keep blobs in an object store instead: s3://bucket[/prefix],
    /// gs://bucket[/prefix] or az://container[/prefix]
    #[arg(long, env = "BERTH_STORAGE_URL")]
    pub storage_url: Option<String>,
    /// An object store setting as key=value (repeatable, or comma-separated
    /// in the environment): endpoint, region, access_key_id,
    /// secret_access_key, allow_http, virtual_hosted_style_request,
    /// server_side_encryption, sse_kms_key_id …; AWS_*/GOOGLE_*/AZURE_*
    /// variables and instance credentials apply where these are silent
    #[arg(
        long = "storage-option",
        env = "BERTH_STORAGE_OPTIONS",
        value_delimiter = ','
    )]
    pub storage_options: Option<Vec<String>>,
    /// Answer blob downloads with a redirect to a presigned object-store URL [default: false]
    #[arg(long, env = "BERTH_STORAGE_REDIRECT", num_args = 0..=1, default_missing_value = "true")]
    pub storage_redirect: Option<bool>,
    /// PEM certificate chain; with --tls-key, serve HTTPS (rustls)
    #[arg(long, env = "BERTH_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert
    #[arg(long, env = "BERTH_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Log filter, e.g. info or berth_core=debug,info [default: info]
    #[arg(long, env = "BERTH_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Send traces to this OpenTelemetry collector (OTLP over HTTP, e.g.
    /// http://collector:4318; /v1/traces is added) [default: no tracing]
    #[arg(long, env = "BERTH_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Share of new traces sampled, 0 to 1; a request carrying a
    /// traceparent follows its caller's decision [default: 1]
    #[arg(long, env = "BERTH_OTLP_SAMPLING_RATIO")]
    pub otlp_sampling_ratio: Option<f64>,
    /// Log format: text or json [default: text]
    #[arg(long, env = "BERTH_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Lifetime of registry tokens from /service/token, in minutes [default: 30]
    #[arg(long, env = "BERTH_TOKEN_EXPIRY_MINUTES")]
    pub token_expiry_minutes: Option<i64>,
    /// Failed logins in a row that lock a user out [default: 10]
    #[arg(long, env = "BERTH_LOGIN_MAX_FAILURES")]
    pub login_max_failures: Option<u32>,
    /// How long a lockout lasts, in seconds [default: 300]
    #[arg(long, env = "BERTH_LOGIN_LOCKOUT_SECONDS")]
    pub login_lockout_seconds: Option<u64>,
    /// Memory for manifests kept to answer pulls by tag and digest without
    /// a database read, in MiB; 0 keeps none [default: 8]
    #[arg(long, env = "BERTH_MANIFEST_CACHE_MB")]
    pub manifest_cache_mb: Option<usize>,
    /// Background job workers in this process [default: 10]
    #[arg(long, env = "BERTH_JOB_WORKERS")]
    pub job_workers: Option<usize>,
    /// Seconds a job stays claimed without a heartbeat before another
    /// process may run it again [default: 30]
    #[arg(long, env = "BERTH_JOB_LEASE_SECONDS")]
    pub job_lease_seconds: Option<u64>,
    /// Blobs touched this many seconds ago or less are never garbage
    /// collected, whatever the time window, so pushes in flight never fail [default: 60]
    #[arg(long, env = "BERTH_GC_MIN_WINDOW_SECONDS")]
    pub gc_min_window_seconds: Option<u64>,
    /// Upload sessions idle this many hours are purged by garbage collection [default: 168]
    #[arg(long, env = "BERTH_UPLOAD_PURGE_AGE_HOURS")]
    pub upload_purge_age_hours: Option<u64>,
    /// Connections served at once; past it clients are answered 503
    /// [default: half the open-file limit, at most 10000]
    #[arg(long, env = "BERTH_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds a connection may go without a request in flight: to send a
    /// request's headers or finish a TLS handshake, and between requests [default: 30]
    #[arg(long, env = "BERTH_HEADER_TIMEOUT_SECONDS")]
    pub header_timeout_seconds: Option<u64>,
    /// Seconds a request body may send nothing before the request fails [default: 60]
    #[arg(long, env = "BERTH_BODY_TIMEOUT_SECONDS")]
    pub body_timeout_seconds: Option<u64>,
    /// URLs of OSV archives (osv.dev's per-ecosystem all.zip) the
    /// vulnerability database is refreshed from, comma-separated; none: it
    /// is only imported by hand (`berth vulndb import`)
    #[arg(long, env = "BERTH_VULNDB_URLS", value_delimiter = ',')]
    pub vulndb_urls: Option<Vec<String>>,
    /// When the vulnerability database is refreshed from its URLs, as a
    /// cron with seconds [default: 0 0 3 * * * (daily at 03:00 UTC)]
    #[arg(long, env = "BERTH_VULNDB_REFRESH_CRON")]
    pub vulndb_refresh_cron: Option<String>,
    /// When every registry endpoint's health is checked, as a cron with
    /// seconds [default: 0 */5 * * * * (every five minutes, as Harbor)]
    #[arg(long, env = "BERTH_REGISTRY_HEALTH_CRON")]
    pub registry_health_cron: Option<String>,
    /// Serve Prometheus metrics at /metrics on the main port, to system
    /// administrators [default: false]
    #[arg(long, env = "BERTH_METRICS", num_args = 0..=1, default_missing_value = "true")]
    pub metrics: Option<bool>,
    /// Serve Prometheus metrics at /metrics on an address of their own,
    /// without credentials (bind it where only the scraper reaches)
    #[arg(long, env = "BERTH_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

/// Where blobs are kept.
#[derive(Debug, Clone)]
pub enum Storage {
    Filesystem(PathBuf),
    Object(berth_storage::ObjectConfig),
}

/// OpenTelemetry trace export.
#[derive(Debug, Clone)]
pub struct Otlp {
    /// The collector's traces URL.
    pub endpoint: String,
    pub sampling_ratio: f64,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub external_url: Option<String>,
    pub data_dir: PathBuf,
    pub secret_key_file: PathBuf,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub database_url: String,
    pub storage: Storage,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub log_level: String,
    pub json_logs: bool,
    /// Where traces go, if anywhere.
    pub otlp: Option<Otlp>,
    pub token_expiry_minutes: i64,
    pub login_max_failures: u32,
    pub login_lockout: std::time::Duration,
    /// Bytes of manifests kept for pulls.
    pub manifest_cache_bytes: usize,
    pub jobs: berth_core::jobs::JobSettings,
    pub gc: berth_core::gc::GcSettings,
    /// `None`: from the open-file limit at start.
    pub max_connections: Option<usize>,
    pub header_timeout: std::time::Duration,
    pub body_timeout: std::time::Duration,
    /// Where and when the vulnerability database is refreshed from.
    pub vulndb: berth_core::scan::vulndb::Refresh,
    /// When registry endpoints' health is checked (a cron with seconds).
    pub registry_health_cron: String,
    /// `/metrics` on the main port.
    pub metrics: bool,
    /// `/metrics` on an address of its own.
    pub metrics_listen: Option<SocketAddr>,
}

impl ServeOptions {
    /// Fills unset options from `other`.
    fn or(self, other: ServeOptions) -> ServeOptions {
        ServeOptions {
            listen: self.listen.or(other.listen),
            external_url: self.external_url.or(other.external_url),
            data_dir: self.data_dir.or(other.data_dir),
            secret_key_file: self.secret_key_file.or(other.secret_key_file),
            trusted_proxies: self.trusted_proxies.or(other.trusted_proxies),
            database_url: self.database_url.or(other.database_url),
            storage_path: self.storage_path.or(other.storage_path),
            storage_url: self.storage_url.or(other.storage_url),
            storage_options: self.storage_options.or(other.storage_options),
            storage_redirect: self.storage_redirect.or(other.storage_redirect),
            tls_cert: self.tls_cert.or(other.tls_cert),
            tls_key: self.tls_key.or(other.tls_key),
            log_level: self.log_level.or(other.log_level),
            log_format: self.log_format.or(other.log_format),
            otlp_endpoint: self.otlp_endpoint.or(other.otlp_endpoint),
            otlp_sampling_ratio: self.otlp_sampling_ratio.or(other.otlp_sampling_ratio),
            token_expiry_minutes: self.token_expiry_minutes.or(other.token_expiry_minutes),
            login_max_failures: self.login_max_failures.or(other.login_max_failures),
            manifest_cache_mb: self.manifest_cache_mb.or(other.manifest_cache_mb),
            login_lockout_seconds: self.login_lockout_seconds.or(other.login_lockout_seconds),
            job_workers: self.job_workers.or(other.job_workers),
            job_lease_seconds: self.job_lease_seconds.or(other.job_lease_seconds),
            gc_min_window_seconds: self.gc_min_window_seconds.or(other.gc_min_window_seconds),
            upload_purge_age_hours: self.upload_purge_age_hours.or(other.upload_purge_age_hours),
            max_connections: self.max_connections.or(other.max_connections),
            header_timeout_seconds: self.header_timeout_seconds.or(other.header_timeout_seconds),
            body_timeout_seconds: self.body_timeout_seconds.or(other.body_timeout_seconds),
            vulndb_urls: self.vulndb_urls.or(other.vulndb_urls),
            vulndb_refresh_cron: self.vulndb_refresh_cron.or(other.vulndb_refresh_cron),
            registry_health_cron: self.registry_health_cron.or(other.registry_health_cron),
            metrics: self.metrics.or(other.metrics),
            metrics_listen: self.metrics_listen.or(other.metrics_listen),
        }
    }

    /// Merges flags/environment over the config file (if any) over defaults.
    pub fn resolve(self, file: Option<&Path>) -> anyhow::Result<Config> {
        let from_file = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            }
            None => ServeOptions::default(),
        };
        let o = self.or(from_file);
        if o.storage_redirect == Some(true) && o.storage_url.is_none() {
            anyhow::bail!("storage_redirect needs storage_url: the filesystem serves blobs itself");
        }
        let data_dir = o.data_dir.unwrap_or_else(|| PathBuf::from("berth-data"));
        let database_url = o
            .database_url
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("berth.db").display()));
        let json_logs = match o.log_format.as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => anyhow::bail!("log format must be text or json, not {other:?}"),
        };
        let otlp = match (o.otlp_endpoint, o.otlp_sampling_ratio) {
            (None, None) => None,
            (None, Some(_)) => {
                anyhow::bail!(
                    "otlp_sampling_ratio needs otlp_endpoint: without it nothing is traced"
                )
            }
            (Some(_), Some(r)) if !(0.0..=1.0).contains(&r) => {
                anyhow::bail!("otlp_sampling_ratio must be between 0 and 1, not {r}")
            }
            (Some(endpoint), ratio) => {
                let base = endpoint.trim().trim_end_matches('/');
                if !base.starts_with("http://") && !base.starts_with("https://") {
                    anyhow::bail!(
                        "otlp_endpoint must be an http:// or https:// URL, not {endpoint:?}"
                    );
                }
                Some(Otlp {
                    endpoint: match base.ends_with("/v1/traces") {
                        true => base.to_string(),
                        false => format!("{base}/v1/traces"),
                    },
                    sampling_ratio: ratio.unwrap_or(1.0),
                })
            }
        };
        Ok(Config {
            otlp,
            listen: o
                .listen
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            external_url: o.external_url,
            storage: match o.storage_url {
                Some(url) => Storage::Object(berth_storage::ObjectConfig {
                    url,
                    options: (o.storage_options.unwrap_or_default().iter())
                        .map(|kv| match kv.split_once('=') {
                            Some((k, v)) => Ok((k.trim().to_string(), v.trim().to_string())),
                            None => Err(anyhow::anyhow!("storage option {kv:?} is not key=value")),
                        })
                        .collect::<anyhow::Result<_>>()?,
                    redirect: o.storage_redirect.unwrap_or(false),
                }),
                None => {
                    Storage::Filesystem(o.storage_path.unwrap_or_else(|| data_dir.join("storage")))
                }
            },
            secret_key_file: o
                .secret_key_file
                .unwrap_or_else(|| data_dir.join(berth_core::iam::secrets::KEY_FILE)),
            trusted_proxies: (o.trusted_proxies.unwrap_or_default().iter())
                .map(|p| p.trim())
                .filter(|p| !p.is_empty())
                .map(|p| {
                    p.parse::<ipnet::IpNet>()
                        .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                        .map_err(|_| {
                            anyhow::anyhow!("trusted proxy {p:?} is not an address or CIDR block")
                        })
                })
                .collect::<anyhow::Result<_>>()?,
            data_dir,
            database_url,
            tls: o.tls_cert.zip(o.tls_key),
            log_level: o.log_level.unwrap_or_else(|| "info".into()),
            json_logs,
            token_expiry_minutes: o.token_expiry_minutes.unwrap_or(30).max(1),
            login_max_failures: o.login_max_failures.unwrap_or(10).max(1),
            manifest_cache_bytes: o.manifest_cache_mb.unwrap_or(8).saturating_mul(1 << 20),
            login_lockout: std::time::Duration::from_secs(o.login_lockout_seconds.unwrap_or(300)),
            jobs: berth_core::jobs::JobSettings {
                workers: o.job_workers.unwrap_or(10).clamp(1, 100),
                lease: std::time::Duration::from_secs(o.job_lease_seconds.unwrap_or(30).max(3)),
            },
            gc: berth_core::gc::GcSettings {
                min_window: std::time::Duration::from_secs(o.gc_min_window_seconds.unwrap_or(60)),
                upload_age: std::time::Duration::from_secs(
                    o.upload_purge_age_hours.unwrap_or(168) * 3600,
                ),
            },
            max_connections: o.max_connections.map(|n| n.max(1)),
            header_timeout: std::time::Duration::from_secs(
                o.header_timeout_seconds.unwrap_or(30).max(1),
            ),
            body_timeout: std::time::Duration::from_secs(
                o.body_timeout_seconds.unwrap_or(60).max(1),
            ),
            vulndb: berth_core::scan::vulndb::Refresh {
                urls: (o.vulndb_urls.unwrap_or_default().into_iter())
                    .map(|u| u.trim().to_string())
                    .filter(|u| !u.is_empty())
                    .collect(),
                cron: o
                    .vulndb_refresh_cron
                    .unwrap_or_else(|| "0 0 3 * * *".into()),
            },
            registry_health_cron: o
                .registry_health_cron
                .unwrap_or_else(|| "0 */5 * * * *".into()),
            metrics: o.metrics.unwrap_or(false),
            metrics_listen: o.metrics_listen,
        })
    }
}
