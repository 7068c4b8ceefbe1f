//! The vulnerability database the built-in scanner matches packages
//! against: OSV advisories imported into Berth's own database, so every
//! replica scans with the same advisories.

use super::report::{Cvss, Finding};
use crate::error::{CoreError, CoreResult};
use crate::jobs::JobContext;
use berth_db::{properties, vulnerabilities as db, Db};
use berth_scan::inventory::Inventory;
use berth_scan::osv::{self, Record, Versions};
use berth_scan::version::Scheme;
use berth_scan::Severity;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Advisories written per transaction.
const BATCH: usize = 500;
const UPDATED_AT: &str = "vulndb.updated_at";
const SOURCE: &str = "vulndb.source";

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Imported {
    /// Records read.
    pub read: u64,
    /// Advisories stored (new or replaced).
    pub stored: u64,
    /// Withdrawn advisories removed.
    pub withdrawn: u64,
    /// Records that were not valid OSV, with why.
    pub invalid: Vec<String>,
}

/// The database's state, as the portal and `/scanners/{id}/metadata` show it.
#[derive(Debug, Clone)]
pub struct Status {
    pub advisories: i64,
    /// When the last import ended (ms), if any.
    pub updated_at: Option<i64>,
    pub source: Option<String>,
}

/// The job type of a refresh of the database from its URLs.
pub const REFRESH_JOB: &str = "VULNDB_UPDATE";
/// A database older than this is refreshed when Berth starts.
const STALE_AFTER_MS: i64 = 24 * 3600 * 1000;

/// Where the database is refreshed from, and when (`berth serve`'s
/// `vulndb_urls` and `vulndb_refresh_cron`).
#[derive(Debug, Clone, Default)]
pub struct Refresh {
    pub urls: Vec<String>,
    /// A cron with seconds, as Harbor's schedules take.
    pub cron: String,
}

/// The vulnerability database.
#[derive(Clone)]
pub struct VulnDb {
    db: Db,
}

/// An advisory or a withdrawal, read from an archive.
enum Item {
    Store(Box<(db::Advisory, Vec<db::Affected>)>),
    Withdraw(String),
    Invalid(String),
}

impl VulnDb {
    /// The database in Berth's metadata database.
    pub fn new(db: Db) -> Self {
        VulnDb { db }
    }

    /// Imports OSV records from an archive (`all.zip`) or a directory of
    /// `.json` files (searched recursively); a record replaces what an
    /// earlier import stored under its id.
    pub async fn import(&self, source: &Path) -> CoreResult<Imported> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Item>>(4);
        let path = source.to_path_buf();
        let reader = tokio::task::spawn_blocking(move || read_records(&path, tx));
        let mut done = Imported::default();
        while let Some(items) = rx.recv().await {
            let mut store = Vec::new();
            let mut withdraw = Vec::new();
            for item in items {
                done.read += 1;
                match item {
                    Item::Store(advisory) => store.push(*advisory),
                    Item::Withdraw(id) => withdraw.push(id),
                    Item::Invalid(why) => done.invalid.push(why),
                }
            }
            let mut tx = self.db.begin().await?;
            db::upsert(&mut tx, &store).await?;
            db::remove(&mut tx, &withdraw).await?;
            berth_db::commit(tx).await?;
            done.stored += store.len() as u64;
            done.withdrawn += withdraw.len() as u64;
        }
        reader
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))?
            .map_err(CoreError::BadRequest)?;
        let w = self.db.writer();
        properties::set(w, UPDATED_AT, &berth_db::now_millis().to_string()).await?;
        properties::set(w, SOURCE, &source.display().to_string()).await?;
        Ok(done)
    }

    /// Downloads each archive, streamed to a file in `dir`, and imports
    /// it; the source shown is then the URLs.
    pub async fn refresh(
        &self,
        urls: &[String],
        dir: &Path,
        job: &JobContext,
    ) -> Result<(), String> {
        use futures_util::StreamExt;
        use tokio::io::AsyncWriteExt;
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(30))
            .read_timeout(std::time::Duration::from_secs(120))
            .build()
            .map_err(|e| e.to_string())?;
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        for url in urls {
            job.log(format!("downloading {url}"));
            let res = http
                .get(url)
                .send()
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            if !res.status().is_success() {
                return Err(format!("{url}: {}", res.status()));
            }
            let path = dir.join(format!("vulndb-{}.zip", uuid::Uuid::new_v4().simple()));
            let downloaded = async {
                let mut file = tokio::fs::File::create(&path).await?;
                let mut body = res.bytes_stream();
                while let Some(chunk) = body.next().await {
                    file.write_all(&chunk.map_err(std::io::Error::other)?)
                        .await?;
                }
                file.flush().await
            }
            .await;
            let imported = match downloaded {
                Ok(()) => self.import(&path).await.map_err(|e| format!("{url}: {e}")),
                Err(e) => Err(format!("{url}: {e}")),
            };
            let _ = tokio::fs::remove_file(&path).await;
            let done = imported?;
            job.log(format!(
                "{url}: {} advisories stored, {} withdrawn removed, {} invalid",
                done.stored,
                done.withdrawn,
                done.invalid.len()
            ));
        }
        (properties::set(self.db.writer(), SOURCE, &urls.join(", ")).await)
            .map_err(|e| e.to_string())
    }

    /// The latest refresh from the URLs, if any ran: how it ended.
    pub async fn last_refresh(&self) -> CoreResult<Option<berth_db::jobs::Execution>> {
        let (runs, _) = berth_db::jobs::executions(&self.db, REFRESH_JOB, None, 0, 1).await?;
        Ok(runs.into_iter().next())
    }

    /// Whether the database was never imported or is older than a day.
    pub async fn stale(&self) -> CoreResult<bool> {
        let at = self.status().await?.updated_at;
        Ok(at.is_none_or(|t| berth_db::now_millis() - t > STALE_AFTER_MS))
    }

    /// How many advisories there are and when they were imported.
    pub async fn status(&self) -> CoreResult<Status> {
        let r = self.db.reader();
        Ok(Status {
            advisories: db::count(r).await?,
            updated_at: properties::get(r, UPDATED_AT)
                .await?
                .and_then(|v| v.parse().ok()),
            source: properties::get(r, SOURCE).await?,
        })
    }

    /// The vulnerabilities of an image's packages, each package and CVE
    /// (or advisory naming none) once.
    pub async fn findings(&self, inv: &Inventory, digest: &str) -> CoreResult<Vec<Finding>> {
        let mut candidates: HashMap<(String, String), Vec<db::Candidate>> = HashMap::new();
        let mut out: BTreeMap<(String, String, String), Finding> = BTreeMap::new();
        for p in &inv.packages {
            let Some(ecosystem) = &p.ecosystem else {
                continue;
            };
            let key = (osv::lookup_ecosystem(ecosystem), p.lookup.0.clone());
            if !candidates.contains_key(&key) {
                let found = db::naming(self.db.reader(), &key.0, &key.1).await?;
                candidates.insert(key.clone(), found);
            }
            let scheme = Scheme::of(ecosystem);
            for c in &candidates[&key] {
                let Ok(versions) = serde_json::from_str::<Versions>(&c.versions) else {
                    continue;
                };
                let Some(fix) = versions.affects(scheme, &p.lookup.1) else {
                    continue;
                };
                let a = &c.advisory;
                let severity = (c.package_severity.as_deref())
                    .and_then(Severity::parse)
                    .or_else(|| Severity::parse(&a.severity))
                    .unwrap_or(Severity::Unknown);
                let mut links = vec![format!("https://osv.dev/vulnerability/{}", a.id)];
                links.extend(serde_json::from_str::<Vec<String>>(&a.links).unwrap_or_default());
                // One finding per CVE an advisory is about, as Harbor lists them.
                let mut ids: Vec<&str> = a.cves.split_whitespace().collect();
                if ids.is_empty() {
                    ids.push(&a.id);
                }
                for id in ids {
                    let finding = Finding {
                        id: id.to_string(),
                        package: p.name.clone(),
                        version: p.version.clone(),
                        fix_version: fix.clone().unwrap_or_default(),
                        severity,
                        description: a.description.clone(),
                        links: links.clone(),
                        artifact_digests: vec![digest.to_string()],
                        preferred_cvss: Cvss {
                            score_v3: a.cvss_x10.map(|s| s as f64 / 10.0),
                            vector_v3: a.cvss_vector.clone().unwrap_or_default(),
                        },
                        cwe_ids: serde_json::from_str(&a.cwe_ids).unwrap_or_default(),
                        vendor_attributes: BTreeMap::from([
                            ("osv_id".into(), a.id.clone().into()),
                            ("package_type".into(), p.kind.into()),
                        ]),
                    };
                    // The same CVE from two databases (GHSA and the CVE's own
                    // record) is one finding; the first fix named wins.
                    let entry = (id.to_string(), p.name.clone(), p.version.clone());
                    out.entry(entry).or_insert(finding);
                }
            }
        }
        Ok(out.into_values().collect())
    }
}

/// Reads the records of an archive or directory on a blocking thread,
/// handing them over in batches.
fn read_records(source: &Path, tx: tokio::sync::mpsc::Sender<Vec<Item>>) -> Result<(), String> {
    let mut batch = Vec::with_capacity(BATCH);
    let mut each = |record: Result<Record, String>| -> Result<(), String> {
        batch.push(item(record));
        if batch.len() >= BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            tx.blocking_send(full)
                .map_err(|_| "import stopped".to_string())?;
        }
        Ok(())
    };
    if source.is_dir() {
        for path in json_files(source)? {
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            each(Record::parse(&bytes).map_err(|e| format!("{}: {e}", path.display())))?;
        }
    } else {
        let file = std::fs::File::open(source).map_err(|e| format!("{}: {e}", source.display()))?;
        osv::read_archive(std::io::BufReader::new(file), &mut each)?;
    }
    if !batch.is_empty() {
        tx.blocking_send(batch)
            .map_err(|_| "import stopped".to_string())?;
    }
    Ok(())
}

fn item(record: Result<Record, String>) -> Item {
    let record = match record {
        Ok(r) => r,
        Err(why) => return Item::Invalid(why),
    };
    let id = record.id.clone();
    let Some((a, packages)) = record.split() else {
        return Item::Withdraw(id);
    };
    let advisory = db::Advisory {
        id: a.id,
        cves: a.cves.join(" "),
        modified: a.modified,
        description: a.description,
        severity: a.severity.as_str().into(),
        cvss_x10: a.cvss.as_ref().map(|(s, _)| (s * 10.0).round() as i64),
        cvss_vector: a.cvss.map(|(_, v)| v),
        links: serde_json::to_string(&a.links).unwrap_or_else(|_| "[]".into()),
        cwe_ids: serde_json::to_string(&a.cwe_ids).unwrap_or_else(|_| "[]".into()),
    };
    let packages = packages
        .into_iter()
        .map(|p| db::Affected {
            ecosystem: p.ecosystem,
            name: p.name,
            versions: p.versions,
            severity: p.severity.map(|s| s.as_str().into()),
        })
        .collect();
    Item::Store(Box::new((advisory, packages)))
}

/// Every `.json` file under a directory, in a stable order.
fn json_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}
