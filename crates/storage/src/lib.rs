//! Content-addressed blob storage on the local filesystem.
//!
//! Layout under the root: `blobs/sha256/<first two hex>/<hex>` for committed
//! blobs, `uploads/<uuid>` for upload sessions in progress.
//!
//! Architecture invariants: a file appears under `blobs/` only by an atomic
//! rename of a fully written, fsynced file whose digest was computed while it
//! was written, so a committed blob is never partial; no path is built from
//! anything but a parsed `Digest` or `Uuid`.

use berth_oci::Digest;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Errors from the blob store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage I/O: {0}")]
    Io(#[from] io::Error),
    #[error("upload body: {0}")]
    Body(String),
}

/// Writeback is started every this many bytes so the final fsync has little left to flush.
const WRITEBACK_EVERY: u64 = 16 * 1024 * 1024;
/// Window size when streaming a blob out.
const READ_SLICE: u64 = 4 * 1024 * 1024;
/// Alignment of memory-map offsets (the page size on every supported target).
const PAGE: u64 = 4096;
/// Chunks buffered between the network and the writer thread.
const PIPELINE_DEPTH: usize = 16;

/// The running hash of an upload, kept in memory between requests.
/// (ring's SHA-256 uses the CPU's SHA extensions: the hash is the upload's
/// main CPU cost.)
#[derive(Clone)]
pub struct UploadHash {
    hasher: ring::digest::Context,
    len: u64,
}

impl Default for UploadHash {
    fn default() -> Self {
        UploadHash {
            hasher: ring::digest::Context::new(&ring::digest::SHA256),
            len: 0,
        }
    }
}

fn to_digest(out: ring::digest::Digest) -> Digest {
    // A SHA-256 output is always 32 bytes; the fallback is unreachable.
    Digest::from_sha256_bytes(out.as_ref().try_into().unwrap_or(&[0; 32]))
}

/// The sha256 digest of a byte string.
pub fn digest_of(data: &[u8]) -> Digest {
    to_digest(ring::digest::digest(&ring::digest::SHA256, data))
}

impl UploadHash {
    /// Bytes hashed so far (equals the upload's size).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing has been hashed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Hashes more bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.len += data.len() as u64;
    }

    /// The digest of everything hashed so far.
    pub fn digest(&self) -> Digest {
        to_digest(self.hasher.clone().finish())
    }
}

/// Filesystem blob store.
#[derive(Clone, Debug)]
pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        fs::create_dir_all(root.join("blobs/sha256"))?;
        fs::create_dir_all(root.join("uploads"))?;
        Ok(FsStore { root })
    }

    /// Where a committed blob lives.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
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

    /// Opens a committed blob; None if its file is not there (a collection
    /// is deleting it, or moved it aside before a crash).
    pub async fn open_blob(&self, digest: &Digest) -> Result<Option<BlobFile>, StorageError> {
        let path = self.blob_path(digest);
        let file = tokio::task::spawn_blocking(move || File::open(path))
            .await
            .map_err(io::Error::other)?;
        match file {
            Ok(f) => Ok(Some(BlobFile(std::sync::Arc::new(f)))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The first of `digests` whose file is not there, if any.
    pub async fn first_missing(
        &self,
        digests: Vec<Digest>,
    ) -> Result<Option<Digest>, StorageError> {
        let paths: Vec<_> = digests.iter().map(|d| self.blob_path(d)).collect();
        let found = tokio::task::spawn_blocking(move || -> io::Result<Option<usize>> {
            for (i, p) in paths.iter().enumerate() {
                match fs::metadata(p) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Some(i)),
                    Err(e) => return Err(e),
                }
            }
            Ok(None)
        })
        .await
        .map_err(io::Error::other)??;
        Ok(found.map(|i| digests[i].clone()))
    }

    /// Creates the empty file of a new upload session.
    pub async fn create_upload(&self, id: Uuid) -> Result<(), StorageError> {
        let path = self.upload_path(id);
        tokio::task::spawn_blocking(move || {
            OpenOptions::new().write(true).create_new(true).open(path)
        })
        .await
        .map_err(io::Error::other)??;
        Ok(())
    }

    /// Rebuilds an upload's hash state from its file, after a restart lost the
    /// in-memory state. The file length is the upload's true offset.
    pub async fn rehash_upload(&self, id: Uuid) -> Result<UploadHash, StorageError> {
        let path = self.upload_path(id);
        let state = tokio::task::spawn_blocking(move || -> io::Result<UploadHash> {
            let mut file = File::open(path)?;
            let mut state = UploadHash::default();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                state.hasher.update(&buf[..n]);
                state.len += n as u64;
            }
            Ok(state)
        })
        .await
        .map_err(io::Error::other)??;
        Ok(state)
    }

    /// Streams `body` onto the end of an upload, hashing as it writes.
    ///
    /// Network reads run on the async task while a blocking thread writes and
    /// hashes, so receiving, hashing and disk writeback overlap. Returns the new
    /// hash state; on a body error the bytes already written stay (the client can
    /// resume from the reported offset) and the error is returned with the state.
    pub async fn append<S, E>(
        &self,
        id: Uuid,
        state: UploadHash,
        body: S,
        limit: Option<u64>,
    ) -> (UploadHash, Result<(), StorageError>)
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        let path = self.upload_path(id);
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(PIPELINE_DEPTH);
        let writer = tokio::task::spawn_blocking(move || write_chunks(&path, state, rx));
        let feed = feed(body, tx, limit).await;
        match writer.await {
            Ok((state, write)) => {
                let result = write.and(feed);
                (state, result)
            }
            Err(join) => (
                UploadHash::default(),
                Err(StorageError::Io(io::Error::other(join))),
            ),
        }
    }

    /// Makes an upload's bytes durable (before it is placed).
    pub async fn sync_upload(&self, id: Uuid) -> Result<(), StorageError> {
        let path = self.upload_path(id);
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            let started = std::time::Instant::now();
            File::open(&path)?.sync_all()?;
            tracing::debug!(
                fsync_ms = started.elapsed().as_millis() as u64,
                "upload fsynced"
            );
            Ok(())
        })
        .await
        .map_err(io::Error::other)??;
        Ok(())
    }

    /// Moves a synced upload to its content address, durably.
    pub async fn place(&self, id: Uuid, digest: &Digest) -> Result<(), StorageError> {
        let from = self.upload_path(id);
        let to = self.blob_path(digest);
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            let dir = to.parent().unwrap_or(Path::new("."));
            fs::create_dir_all(dir)?;
            // Renaming over an existing copy is harmless: same digest, same bytes.
            fs::rename(&from, &to)?;
            File::open(dir)?.sync_all()
        })
        .await
        .map_err(io::Error::other)??;
        Ok(())
    }

    fn trash_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("trash")
            .join(format!("{}-{}", digest.algorithm(), digest.hex()))
    }

    /// Moves a blob aside (the first step of deleting it); false if it was not there.
    pub async fn trash_blob(&self, digest: &Digest) -> Result<bool, StorageError> {
        let (from, to) = (self.blob_path(digest), self.trash_path(digest));
        tokio::task::spawn_blocking(move || -> io::Result<bool> {
            fs::create_dir_all(to.parent().unwrap_or(Path::new(".")))?;
            match fs::rename(&from, &to) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e),
            }
        })
        .await
        .map_err(io::Error::other)?
        .map_err(Into::into)
    }

    /// Puts a trashed blob back, unless a fresh copy took its place.
    pub async fn restore_blob(&self, digest: &Digest) -> Result<(), StorageError> {
        let (to, from) = (self.blob_path(digest), self.trash_path(digest));
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            if to.exists() {
                return remove_if_present(&from);
            }
            match fs::rename(&from, &to) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        })
        .await
        .map_err(io::Error::other)??;
        Ok(())
    }

    /// Deletes a trashed blob for good.
    pub async fn empty_trash(&self, digest: &Digest) -> Result<(), StorageError> {
        let path = self.trash_path(digest);
        tokio::task::spawn_blocking(move || remove_if_present(&path))
            .await
            .map_err(io::Error::other)??;
        Ok(())
    }

    /// Blobs left in the trash by an interrupted deletion.
    pub async fn trashed(&self) -> Result<Vec<Digest>, StorageError> {
        let dir = self.root.join("trash");
        let names = tokio::task::spawn_blocking(move || -> io::Result<Vec<String>> {
            match fs::read_dir(&dir) {
                Ok(entries) => entries
                    .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                    .collect(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(e),
            }
        })
        .await
        .map_err(io::Error::other)??;
        Ok(names
            .iter()
            .filter_map(|n| n.split_once('-'))
            .filter_map(|(alg, hex)| Digest::parse(&format!("{alg}:{hex}")).ok())
            .collect())
    }

    /// Ids of upload files not written to for `age`.
    pub async fn old_uploads(&self, age: std::time::Duration) -> Result<Vec<Uuid>, StorageError> {
        let dir = self.root.join("uploads");
        let ids = tokio::task::spawn_blocking(move || -> io::Result<Vec<Uuid>> {
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
        .map_err(io::Error::other)??;
        Ok(ids)
    }

    /// Removes an upload's file; missing is fine.
    pub async fn delete_upload(&self, id: Uuid) -> Result<(), StorageError> {
        match tokio::fs::remove_file(self.upload_path(id)).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// An open committed blob: it stays readable to the end even if a
/// collection unlinks it meanwhile.
pub struct BlobFile(std::sync::Arc<File>);

impl BlobFile {
    /// Streams bytes `start..end`.
    ///
    /// Each slice is a read-only memory map of one window of the file, made
    /// (and faulted in with `MAP_POPULATE`) on a blocking thread, so bytes go
    /// from the page cache to the socket with one copy and a cold read never
    /// stalls the async runtime. A window is unmapped when the response has
    /// sent it, so memory use stays at a few windows per download.
    pub fn stream(
        &self,
        start: u64,
        end: u64,
    ) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
        let file = self.0.clone();
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
}

/// Maps bytes `start..end` of a blob file read-only, faulted in.
fn map_window(file: &File, start: u64, end: u64) -> io::Result<Bytes> {
    // Touching a mapped page past the end of the file would be SIGBUS.
    if file.metadata()?.len() < end {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "blob file is shorter than recorded",
        ));
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

/// Moves body chunks into the writer's channel, enforcing an optional byte limit.
async fn feed<S, E>(
    mut body: S,
    tx: tokio::sync::mpsc::Sender<Bytes>,
    limit: Option<u64>,
) -> Result<(), StorageError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut seen = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| StorageError::Body(e.to_string()))?;
        seen += chunk.len() as u64;
        if limit.is_some_and(|l| seen > l) {
            return Err(StorageError::Body("body is longer than declared".into()));
        }
        if tx.send(chunk).await.is_err() {
            // The writer stopped on an I/O error; it reports it.
            break;
        }
    }
    Ok(())
}

fn write_chunks(
    path: &Path,
    mut state: UploadHash,
    mut rx: tokio::sync::mpsc::Receiver<Bytes>,
) -> (UploadHash, Result<(), StorageError>) {
    let mut file = match OpenOptions::new().append(true).open(path) {
        Ok(f) => f,
        Err(e) => return (state, Err(e.into())),
    };
    let mut unflushed_from = state.len;
    while let Some(chunk) = rx.blocking_recv() {
        if let Err(e) = file.write_all(&chunk) {
            return (state, Err(e.into()));
        }
        state.hasher.update(&chunk);
        state.len += chunk.len() as u64;
        if state.len - unflushed_from >= WRITEBACK_EVERY {
            start_writeback(&file, unflushed_from, state.len - unflushed_from);
            unflushed_from = state.len;
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
        store.create_upload(id).await.unwrap();
        let (state, r) = store
            .append(
                id,
                UploadHash::default(),
                chunks(&[b"hello ", b"world"]),
                None,
            )
            .await;
        r.unwrap();
        assert_eq!(state.len(), 11);
        let rehashed = store.rehash_upload(id).await.unwrap();
        assert_eq!(rehashed.digest(), state.digest());
        let digest = state.digest();
        assert_eq!(
            digest.to_string(),
            "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        store.sync_upload(id).await.unwrap();
        store.place(id, &digest).await.unwrap();
        let file = store.open_blob(&digest).await.unwrap().unwrap();
        let parts: Vec<Bytes> = file.stream(6, 11).map(|c| c.unwrap()).collect().await;
        assert_eq!(parts.concat(), b"world");
        assert!(store.rehash_upload(id).await.is_err());
        assert!(store
            .first_missing(vec![digest.clone()])
            .await
            .unwrap()
            .is_none());
        assert!(store.trash_blob(&digest).await.unwrap());
        assert!(store.open_blob(&digest).await.unwrap().is_none());
        assert_eq!(
            store.first_missing(vec![digest.clone()]).await.unwrap(),
            Some(digest)
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn limit_is_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        let id = Uuid::new_v4();
        store.create_upload(id).await.unwrap();
        let (_, r) = store
            .append(
                id,
                UploadHash::default(),
                chunks(&[b"abc", b"def"]),
                Some(4),
            )
            .await;
        assert!(r.is_err());
    }
}
