//! Blobs on the local filesystem: `blobs/sha256/<2 hex>/<hex>`,
//! `uploads/<uuid>`.
//!
//! A file appears under `blobs/` only as a hard link to a fully written,
//! fsynced upload whose digest was computed while it was written. The link
//! is made and made durable before the blob's transaction (`seal`), so the
//! database's single writer never waits on the disk; inside it, `place`
//! only checks that the link is still there (a collection may have taken
//! it meanwhile) and links the upload again if not.

use crate::{digest_of_name, limited, BlobStream, StorageError, UploadHash, UploadState};
use berth_oci::Digest;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Writeback is started every this many bytes so the final fsync has little left to flush.
const WRITEBACK_EVERY: u64 = 16 * 1024 * 1024;
/// Window size when streaming a blob out.
const READ_SLICE: u64 = 4 * 1024 * 1024;
/// Alignment of memory-map offsets (the page size on every supported target).
const PAGE: u64 = 4096;
/// Windows up to this size are copied rather than mapped: unmapping
/// interrupts every other CPU running the process to flush its TLB, which
/// costs more than copying a few pages (manifest configs, small layers).
const COPY_BELOW: u64 = 64 * 1024;
/// Chunks buffered between the network and the writer thread.
const PIPELINE_DEPTH: usize = 16;

/// Filesystem blob store.
#[derive(Clone, Debug)]
pub struct FsStore {
    root: PathBuf,
    reclaim: Arc<Reclaim>,
}

/// The unlinks of deleted blobs, which run after `delete_blobs` returns.
#[derive(Debug)]
struct Reclaim {
    /// At most this many threads unlinking at once.
    unlinkers: Arc<Semaphore>,
    /// Those not yet awaited (finished ones are pruned as more start).
    running: Mutex<Vec<JoinHandle<()>>>,
}

impl Reclaim {
    fn running(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Threads unlinking deleted blobs at once.
const UNLINKERS: usize = 4;

/// Runs blocking file work off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> Result<T, StorageError> {
    Ok(tokio::task::spawn_blocking(f)
        .await
        .map_err(io::Error::other)??)
}

impl FsStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        fs::create_dir_all(root.join("blobs/sha256"))?;
        fs::create_dir_all(root.join("uploads"))?;
        // What a process stopped before unlinking: no row names it.
        let _ = fs::remove_dir_all(root.join("reclaim"));
        fs::create_dir_all(root.join("reclaim"))?;
        let reclaim = Arc::new(Reclaim {
            unlinkers: Arc::new(Semaphore::new(UNLINKERS)),
            running: Mutex::new(Vec::new()),
        });
        let store = FsStore { root, reclaim };
        store.restore_trash()?;
        Ok(store)
    }

    /// Earlier versions moved a blob to `trash/` inside the collection's
    /// transaction; one cut short there may have left a blob its row still
    /// names. Each goes back: what no row names is an orphan the next
    /// collection removes.
    fn restore_trash(&self) -> io::Result<()> {
        let dir = self.root.join("trash");
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(());
        };
        for e in entries {
            let path = e?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let digest = name.as_deref().and_then(|n| n.strip_prefix("sha256-"));
            match digest.and_then(digest_of_name) {
                Some(d) => {
                    let to = self.blob_path(&d);
                    fs::create_dir_all(to.parent().unwrap_or(Path::new(".")))?;
                    fs::rename(&path, to)?;
                }
                None => fs::remove_file(&path)?,
            }
        }
        fs::remove_dir(dir)
    }

    /// Where a committed blob lives.
    fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root
            .join("blobs")
            .join(digest.algorithm())
            .join(&hex[..2])
            .join(hex)
    }

    fn upload_path(&self, id: Uuid) -> PathBuf {
        self.root.join("uploads").join(id.to_string())
    }

    /// Whether the store's directories can be read.
    pub async fn check(&self) -> Result<(), StorageError> {
        let dir = self.root.join("blobs");
        blocking(move || fs::read_dir(dir).map(|_| ())).await
    }

    /// Streams bytes `start..end` of a committed blob. The file is opened
    /// now, so it stays readable to the end even if a collection unlinks it.
    pub async fn read(
        &self,
        digest: &Digest,
        start: u64,
        end: u64,
    ) -> Result<Option<BlobStream>, StorageError> {
        let path = self.blob_path(digest);
        let file = match blocking(move || File::open(path)).await {
            Ok(f) => std::sync::Arc::new(f),
            Err(StorageError::Io(e)) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(stream_file(file, start, end).boxed()))
    }

    /// A blob of `size` bytes read whole in one blocking call (a read
    /// stream takes two); None if it is not there.
    pub async fn read_whole(
        &self,
        digest: &Digest,
        size: u64,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let path = self.blob_path(digest);
        blocking(move || {
            let file = match File::open(path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            map_window(&file, 0, size).map(|b| Some(Vec::from(b)))
        })
        .await
    }

    /// Creates the empty file of a new upload.
    pub async fn create_upload(&self, id: Uuid) -> Result<UploadState, StorageError> {
        let path = self.upload_path(id);
        blocking(move || OpenOptions::new().write(true).create_new(true).open(path)).await?;
        Ok(UploadState::default())
    }

    /// The saved state when the file agrees with it; else the hash is
    /// rebuilt from the file (a crash after a write, before its save), whose
    /// length is the upload's true offset.
    pub async fn resume_upload(
        &self,
        id: Uuid,
        saved: Option<UploadState>,
    ) -> Result<UploadState, StorageError> {
        let path = self.upload_path(id);
        blocking(move || {
            let mut file = File::open(path)?;
            let len = file.metadata()?.len();
            if let Some(state) = saved.filter(|s| s.len() == len) {
                return Ok(state);
            }
            let mut hash = UploadHash::default();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hash.update(&buf[..n]);
            }
            Ok(UploadState {
                hash,
                ..UploadState::default()
            })
        })
        .await
    }

    /// Streams `body` onto the end of an upload's file.
    ///
    /// Network reads run on the async task while a blocking thread writes and
    /// hashes, so receiving, hashing and disk writeback overlap.
    pub async fn append<S, E>(
        &self,
        id: Uuid,
        state: UploadState,
        body: S,
        limit: Option<u64>,
    ) -> (UploadState, Result<(), StorageError>)
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        let path = self.upload_path(id);
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(PIPELINE_DEPTH);
        let writer = tokio::task::spawn_blocking(move || write_chunks(&path, state, rx));
        let mut body = limited(body, limit);
        let mut fed = Ok(());
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => {
                    // A writer that stopped (an I/O error) reports it.
                    if tx.send(chunk).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    fed = Err(e);
                    break;
                }
            }
        }
        drop(tx);
        match writer.await {
            Ok((state, write)) => (state, write.and(fed)),
            Err(join) => (
                UploadState::default(),
                Err(StorageError::Io(io::Error::other(join))),
            ),
        }
    }

    /// Makes an upload's bytes durable and links them, durably, at their
    /// content address. The upload keeps its own name until it is deleted.
    pub async fn seal(&self, id: Uuid, digest: &Digest) -> Result<(), StorageError> {
        let from = self.upload_path(id);
        let to = self.blob_path(digest);
        blocking(move || {
            File::open(&from)?.sync_all()?;
            link_durably(&from, &to)
        })
        .await
    }

    /// Makes sure a sealed upload is at its content address: the link
    /// `seal` made, or another upload's of the same bytes, made again when
    /// a collection removed it since.
    pub async fn place(&self, id: Uuid, digest: &Digest) -> Result<(), StorageError> {
        let from = self.upload_path(id);
        let to = self.blob_path(digest);
        blocking(move || {
            use std::os::unix::fs::MetadataExt;
            let ours = fs::metadata(&from)?;
            match fs::metadata(&to) {
                // The link `seal` made durable.
                Ok(m) if (m.dev(), m.ino()) == (ours.dev(), ours.ino()) => Ok(()),
                // Another upload's link, perhaps not yet durable: this
                // upload's commit must not depend on it.
                Ok(_) => File::open(to.parent().unwrap_or(Path::new(".")))?.sync_all(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => link_durably(&from, &to),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Removes an upload's file; missing is fine.
    pub async fn delete_upload(&self, id: Uuid) -> Result<(), StorageError> {
        let path = self.upload_path(id);
        blocking(move || remove_if_present(&path)).await
    }

    /// Ids of upload files not written to for `age`.
    pub async fn old_uploads(&self, age: std::time::Duration) -> Result<Vec<Uuid>, StorageError> {
        let dir = self.root.join("uploads");
        blocking(move || {
            let mut out = Vec::new();
            for e in fs::read_dir(&dir)? {
                let e = e?;
                let old = e.metadata()?.modified()?.elapsed().is_ok_and(|d| d >= age);
                if let (true, Ok(id)) = (old, Uuid::parse_str(&e.file_name().to_string_lossy())) {
                    out.push(id);
                }
            }
            Ok(out)
        })
        .await
    }

    /// Deletes committed blobs (readers that opened one keep reading it).
    /// Each is renamed into `reclaim/`, which takes it off the store at
    /// once; the unlinks, which free the blocks and cost ten times the
    /// rename on ext4, run afterwards on up to `UNLINKERS` threads, so a
    /// collection holding the database's writer meanwhile holds it for the
    /// renames only. [`FsStore::reclaimed`] waits for them.
    pub async fn delete_blobs(&self, digests: &[Digest]) -> Result<(), StorageError> {
        let reclaim = self.root.join("reclaim");
        let moves: Vec<_> = (digests.iter())
            .map(|d| (self.blob_path(d), reclaim.join(d.hex())))
            .collect();
        let moved = blocking(move || {
            // Another process opening this store (`berth backup`) empties it.
            fs::create_dir_all(&reclaim)?;
            let mut moved = Vec::with_capacity(moves.len());
            for (from, to) in moves {
                match fs::rename(&from, &to) {
                    Ok(()) => moved.push(to),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(moved)
        })
        .await?;
        let unlinkers = self.reclaim.unlinkers.clone();
        let unlink = tokio::spawn(async move {
            let Ok(_permit) = unlinkers.acquire_owned().await else {
                return;
            };
            let done = blocking(move || moved.iter().try_for_each(|p| remove_if_present(p)));
            // Left in `reclaim/`, which the next start empties.
            if let Err(e) = done.await {
                tracing::warn!(error = %e, "unlinking deleted blobs");
            }
        });
        let mut running = self.reclaim.running();
        running.retain(|h| !h.is_finished());
        running.push(unlink);
        Ok(())
    }

    /// Waits until the blobs deleted so far are unlinked (their space is free).
    pub async fn reclaimed(&self) {
        let running = std::mem::take(&mut *self.reclaim.running());
        for h in running {
            let _ = h.await;
        }
    }

    /// Copies a committed blob into another store, checking its digest on
    /// the way, so a backup or a restore never carries a damaged blob; its
    /// size, or `None` when this store lacks it.
    pub async fn copy_to(
        &self,
        digest: &Digest,
        dest: &FsStore,
    ) -> Result<Option<u64>, StorageError> {
        let (from, to) = (self.blob_path(digest), dest.blob_path(digest));
        let tmp = dest.upload_path(Uuid::new_v4());
        let want = digest.clone();
        blocking(move || {
            let mut src = match File::open(&from) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let mut out = File::create(&tmp)?;
            let mut hash = UploadHash::default();
            let mut buf = vec![0; READ_SLICE as usize];
            loop {
                let n = src.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hash.update(&buf[..n]);
                out.write_all(&buf[..n])?;
            }
            out.sync_all()?;
            if hash.digest() != want {
                remove_if_present(&tmp)?;
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the stored bytes of {want} do not match their digest"),
                ));
            }
            let dir = to.parent().unwrap_or(Path::new("."));
            fs::create_dir_all(dir)?;
            fs::rename(&tmp, &to)?;
            File::open(dir)?.sync_all()?;
            Ok(Some(hash.len()))
        })
        .await
    }

    /// Every committed blob's digest.
    pub async fn list_blobs(&self) -> Result<Vec<Digest>, StorageError> {
        let dir = self.root.join("blobs/sha256");
        blocking(move || {
            let mut out = Vec::new();
            for prefix in fs::read_dir(&dir)? {
                for e in fs::read_dir(prefix?.path())? {
                    if let Some(d) = digest_of_name(&e?.file_name().to_string_lossy()) {
                        out.push(d);
                    }
                }
            }
            Ok(out)
        })
        .await
    }
}

/// Links `from` at `to` (an existing `to` holds the same bytes: the name
/// is their digest) and fsyncs `to`'s directory.
fn link_durably(from: &Path, to: &Path) -> io::Result<()> {
    let dir = to.parent().unwrap_or(Path::new("."));
    // The directory is made only when missing: making it takes its
    // parent's lock, which every upload shares, even when it exists.
    let linked = match fs::hard_link(from, to) {
        Err(e) if e.kind() == io::ErrorKind::NotFound && from.exists() => {
            fs::create_dir_all(dir)?;
            fs::hard_link(from, to)
        }
        linked => linked,
    };
    match linked {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    File::open(dir)?.sync_all()
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Streams bytes `start..end` of an open blob file.
///
/// Each slice is a read-only memory map of one window of the file, made
/// (and faulted in with `MAP_POPULATE`) on a blocking thread, so bytes go
/// from the page cache to the socket with one copy and a cold read never
/// stalls the async runtime. A window is unmapped when the response has
/// sent it, so memory use stays at a few windows per download. A window
/// of `COPY_BELOW` bytes or less is copied instead.
fn stream_file(
    file: std::sync::Arc<File>,
    start: u64,
    end: u64,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    futures_util::stream::unfold(start, move |offset| {
        let file = file.clone();
        async move {
            if offset >= end {
                return None;
            }
            let next = (offset + READ_SLICE).min(end);
            let window = tokio::task::spawn_blocking(move || map_window(&file, offset, next))
                .await
                .map_err(io::Error::other)
                .and_then(|r| r);
            Some((window, next))
        }
    })
}

/// Bytes `start..end` of a blob file: mapped read-only and faulted in, or
/// copied when there are few.
fn map_window(file: &File, start: u64, end: u64) -> io::Result<Bytes> {
    // Touching a mapped page past the end of the file would be SIGBUS.
    if file.metadata()?.len() < end {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "blob file is shorter than recorded",
        ));
    }
    if end - start <= COPY_BELOW {
        let mut buf = vec![0; (end - start) as usize];
        std::os::unix::fs::FileExt::read_exact_at(file, &mut buf, start)?;
        return Ok(Bytes::from(buf));
    }
    // Map offsets must be page-aligned; the slice skips the alignment slack.
    let aligned = start - start % PAGE;
    let len = usize::try_from(end - aligned).map_err(io::Error::other)?;
    // SAFETY: blob files are immutable: written under a temporary name,
    // fsynced, renamed into place, and never modified or truncated after;
    // removal unlinks the name, which leaves an existing mapping valid.
    let map = unsafe {
        memmap2::MmapOptions::new()
            .offset(aligned)
            .len(len)
            .populate()
            .map(file)?
    };
    Ok(Bytes::from_owner(map).slice((start - aligned) as usize..))
}

fn write_chunks(
    path: &Path,
    mut state: UploadState,
    mut rx: tokio::sync::mpsc::Receiver<Bytes>,
) -> (UploadState, Result<(), StorageError>) {
    let mut file = match OpenOptions::new().append(true).open(path) {
        Ok(f) => f,
        Err(e) => return (state, Err(e.into())),
    };
    let mut unflushed_from = state.len();
    while let Some(chunk) = rx.blocking_recv() {
        if let Err(e) = file.write_all(&chunk) {
            return (state, Err(e.into()));
        }
        state.hash.update(&chunk);
        if state.len() - unflushed_from >= WRITEBACK_EVERY {
            start_writeback(&file, unflushed_from, state.len() - unflushed_from);
            unflushed_from = state.len();
        }
    }
    (state, Ok(()))
}

/// Asks the kernel to begin writing a range back now (Linux), without waiting.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: plain syscall on a valid open fd; failure only loses the hint.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, String>> + Unpin {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn upload_hash_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        let id = Uuid::new_v4();
        let state = store.create_upload(id).await.unwrap();
        let (state, r) = store
            .append(id, state, chunks(&[b"hello ", b"world"]), None)
            .await;
        r.unwrap();
        assert_eq!(state.len(), 11);
        // A state that disagrees with the file is rebuilt from it.
        let rehashed = store
            .resume_upload(id, Some(UploadState::default()))
            .await
            .unwrap();
        assert_eq!(rehashed.digest(), state.digest());
        let digest = state.digest();
        assert_eq!(
            digest.to_string(),
            "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        store.seal(id, &digest).await.unwrap();
        assert!(store.read(&digest, 0, 11).await.unwrap().is_some());
        // A collection took the bytes between seal and place: placed again.
        let digests = std::slice::from_ref(&digest);
        store.delete_blobs(digests).await.unwrap();
        store.place(id, &digest).await.unwrap();
        store.delete_upload(id).await.unwrap();
        let stream = store.read(&digest, 6, 11).await.unwrap().unwrap();
        let parts: Vec<Bytes> = stream.map(|c| c.unwrap()).collect().await;
        assert_eq!(parts.concat(), b"world");
        assert!(store.resume_upload(id, None).await.is_err());
        assert_eq!(store.list_blobs().await.unwrap(), vec![digest.clone()]);
        store
            .delete_blobs(std::slice::from_ref(&digest))
            .await
            .unwrap();
        assert!(store.read(&digest, 0, 11).await.unwrap().is_none());
        store.reclaimed().await;
        let reclaim = dir.path().join("reclaim");
        assert_eq!(fs::read_dir(&reclaim).unwrap().count(), 0);
        // What a stopped process left to unlink goes when the store opens.
        fs::write(reclaim.join(digest.hex()), b"hello world").unwrap();
        FsStore::open(dir.path()).unwrap();
        assert_eq!(fs::read_dir(&reclaim).unwrap().count(), 0);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn limit_is_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        let id = Uuid::new_v4();
        let state = store.create_upload(id).await.unwrap();
        let (_, r) = store
            .append(id, state, chunks(&[b"abc", b"def"]), Some(4))
            .await;
        assert!(r.is_err());
    }
}
