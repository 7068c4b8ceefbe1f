//! Backups of the embedded setup — SQLite with blobs on the filesystem —
//! taken while Berth runs, and their restore. A backup is a directory
//! laid out like a data directory: `berth.db`, `storage/` holding every
//! blob the database names (each checked against its digest on the way),
//! and `secret-key`, without which the database's sealed keys cannot be
//! opened.

use crate::error::{CoreError, CoreResult};
use berth_db::{backup, now_millis, properties, Db};
use berth_oci::Digest;
use berth_storage::FsStore;
use std::path::Path;
use std::time::Duration;

/// The setting that tells collections a backup is copying blobs (until
/// when, in Unix milliseconds).
const RUNNING_UNTIL: &str = "backup_running_until";
/// How long that holds without being renewed (a killed backup stops
/// holding collections back after this).
const HOLD_FOR: Duration = Duration::from_secs(600);
/// How often a running backup renews it.
const RENEW_EVERY: Duration = Duration::from_secs(60);

/// What a backup or a restore copied.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub blobs: usize,
    pub bytes: u64,
}

/// Whether a backup is copying blobs: a collection then deletes rows but
/// leaves their bytes in the trash for a later run, so every blob named by
/// the backup's copy of the database is still there to copy.
pub async fn running(db: &Db) -> CoreResult<bool> {
    let until = properties::get(db.reader(), RUNNING_UNTIL).await?;
    Ok(until
        .and_then(|u| u.parse::<i64>().ok())
        .is_some_and(|u| u > now_millis()))
}

async fn hold(db: &Db) -> CoreResult<()> {
    let until = now_millis() + HOLD_FOR.as_millis() as i64;
    properties::set(db.writer(), RUNNING_UNTIL, &until.to_string()).await?;
    Ok(())
}

/// Copies the database, the blobs it names and the secret key into `to`,
/// a new or empty directory, consistent with each other.
pub async fn backup(db: &Db, store: &FsStore, secret_key: &Path, to: &Path) -> CoreResult<Summary> {
    let occupied = std::fs::read_dir(to).is_ok_and(|mut d| d.next().is_some());
    if occupied {
        return Err(CoreError::Conflict(format!(
            "{} is not empty: a backup goes into a new directory",
            to.display()
        )));
    }
    std::fs::create_dir_all(to).map_err(|e| io(to, e))?;
    // Set before the snapshot: a collection that did not see it had already
    // deleted its rows, so the snapshot cannot name what it deletes.
    hold(db).await?;
    let renew = {
        let db = db.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                let _ = hold(&db).await;
            }
        })
    };
    let copied = copy_out(db, store, secret_key, to).await;
    renew.abort();
    properties::delete(db.writer(), RUNNING_UNTIL).await?;
    copied
}

async fn copy_out(db: &Db, store: &FsStore, secret_key: &Path, to: &Path) -> CoreResult<Summary> {
    let file = to.join("berth.db");
    backup::snapshot(db, &file.display().to_string()).await?;
    let copy = Db::connect(&sqlite_url(&file)).await?;
    backup::forget_in_flight(&copy).await?;
    let blobs = backup::blobs(&copy).await?;
    copy.close().await;
    let summary = copy_blobs(&blobs, store, &open_store(&to.join("storage"))?).await?;
    copy_key(secret_key, &to.join(crate::iam::secrets::KEY_FILE))?;
    Ok(summary)
}

/// Puts the backup in `from` in place: its blobs into `store`, its secret
/// key at `secret_key` and its database at `db_file`, last, so a restore
/// cut short leaves no database naming missing blobs. Berth must not be
/// running, and there must be no database at `db_file` yet.
pub async fn restore(
    from: &Path,
    db_file: &Path,
    store: &FsStore,
    secret_key: &Path,
) -> CoreResult<Summary> {
    let source = from.join("berth.db");
    if !source.is_file() {
        return Err(CoreError::NotFound(format!(
            "{} is not a backup: it has no berth.db",
            from.display()
        )));
    }
    if db_file.exists() {
        return Err(CoreError::Conflict(format!(
            "{} exists: a backup is restored into a new data directory",
            db_file.display()
        )));
    }
    let key = std::fs::read(from.join(crate::iam::secrets::KEY_FILE)).map_err(|e| io(from, e))?;
    match std::fs::read(secret_key) {
        Ok(existing) if existing != key => {
            return Err(CoreError::Conflict(format!(
                "{} holds another secret key than the backup's",
                secret_key.display()
            )))
        }
        Ok(_) => {}
        Err(_) => copy_key(&from.join(crate::iam::secrets::KEY_FILE), secret_key)?,
    }
    // The copy is opened (and migrated, if an earlier version wrote the
    // backup) beside its final name, which it takes once its blobs are in.
    if let Some(dir) = db_file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    let partial = db_file.with_extension("db.restoring");
    std::fs::copy(&source, &partial).map_err(|e| io(&source, e))?;
    let restored = Db::connect(&sqlite_url(&partial)).await?;
    let blobs = backup::blobs(&restored).await?;
    restored.close().await;
    let summary = copy_blobs(&blobs, &open_store(&from.join("storage"))?, store).await?;
    std::fs::File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(&partial, e))?;
    std::fs::rename(&partial, db_file).map_err(|e| io(db_file, e))?;
    Ok(summary)
}

/// Copies each blob, checking its digest and size; one missing or damaged
/// fails the whole copy.
async fn copy_blobs(blobs: &[(String, i64)], from: &FsStore, to: &FsStore) -> CoreResult<Summary> {
    let mut summary = Summary::default();
    for (digest, size) in blobs {
        let d = Digest::parse(digest).map_err(|e| CoreError::Internal(e.to_string()))?;
        let copied =
            (from.copy_to(&d, to).await).map_err(|e| CoreError::Internal(e.to_string()))?;
        match copied {
            Some(n) if n as i64 == *size => {
                summary.blobs += 1;
                summary.bytes += n;
            }
            Some(n) => {
                return Err(CoreError::Internal(format!(
                    "blob {digest} has {n} bytes, its row says {size}"
                )))
            }
            None => {
                return Err(CoreError::Internal(format!(
                    "blob {digest} is named by the database but missing from storage"
                )))
            }
        }
    }
    Ok(summary)
}

fn open_store(root: &Path) -> CoreResult<FsStore> {
    FsStore::open(root).map_err(|e| CoreError::Internal(e.to_string()))
}

/// Copies the secret key, readable by its owner only.
fn copy_key(from: &Path, to: &Path) -> CoreResult<()> {
    let key = std::fs::read(from).map_err(|e| io(from, e))?;
    crate::iam::token::write_private(to, &key)
}

fn sqlite_url(file: &Path) -> String {
    format!("sqlite://{}", file.display())
}

fn io(path: &Path, e: std::io::Error) -> CoreError {
    CoreError::Internal(format!("{}: {e}", path.display()))
}
