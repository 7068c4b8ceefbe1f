//! rpm's package database in its SQLite form (`rpmdb.sqlite`, rpm 4.16 and
//! later: RHEL 9 and its rebuilds, Fedora): one row per installed package
//! in its `Packages` table, the package's header as a blob.

use rusqlite::serialize::OwnedData;
use rusqlite::{ffi, Connection, DatabaseName};
use std::ptr::NonNull;

/// SQLite virtual-machine steps a read may take (a few per row; a real
/// database of thousands of packages takes well under a million).
const MAX_STEPS: u64 = 50_000_000;
/// How often, in steps, the bound is checked.
const CHECK_EVERY: i32 = 10_000;

/// An installed package, as its header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    /// `[epoch:]version-release`, as advisories write it.
    pub evr: String,
    pub arch: Option<String>,
    pub license: Option<String>,
    pub source_rpm: Option<String>,
}

/// The packages of a database file; nothing when it is not one.
pub fn packages(file: &[u8]) -> Vec<Header> {
    match blobs(file) {
        Ok(blobs) => blobs.iter().filter_map(|b| header(b)).collect(),
        Err(_) => Vec::new(),
    }
}

/// The blobs of the `Packages` table. The file comes from an image, so it
/// is read as hostile input: from memory and read-only, with its schema
/// untrusted, `Packages` required to be a plain table, and the work bounded.
fn blobs(file: &[u8]) -> rusqlite::Result<Vec<Vec<u8>>> {
    let mut conn = Connection::open_in_memory()?;
    conn.deserialize(DatabaseName::Main, copy(file)?, true)?;
    conn.pragma_update(None, "trusted_schema", false)?;
    conn.pragma_update(None, "cell_size_check", true)?;
    let mut steps = 0u64;
    conn.progress_handler(
        CHECK_EVERY,
        Some(move || {
            steps += CHECK_EVERY as u64;
            steps > MAX_STEPS
        }),
    );
    let tables: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'Packages'",
        [],
        |r| r.get(0),
    )?;
    if tables != 1 {
        return Ok(Vec::new());
    }
    let mut query = conn.prepare("SELECT blob FROM Packages")?;
    let rows = query.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
    rows.collect()
}

/// The file in memory SQLite owns, as its deserializer wants it, marked as
/// a rollback-journal database: an image holds no write-ahead log to read,
/// and SQLite will not open a WAL database from memory.
fn copy(file: &[u8]) -> rusqlite::Result<OwnedData> {
    let nomem = || rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_NOMEM), None);
    if file.len() < 100 {
        return Err(rusqlite::Error::SqliteFailure(
            ffi::Error::new(ffi::SQLITE_NOTADB),
            None,
        ));
    }
    // SAFETY: sqlite3_malloc64 returns null or `file.len()` writable bytes,
    // which are filled here before OwnedData, which frees them with
    // sqlite3_free, takes them.
    unsafe {
        let raw = ffi::sqlite3_malloc64(file.len() as u64).cast::<u8>();
        let ptr = NonNull::new(raw).ok_or_else(nomem)?;
        std::ptr::copy_nonoverlapping(file.as_ptr(), ptr.as_ptr(), file.len());
        // The file format's read and write versions: 1 is legacy, 2 WAL.
        *ptr.as_ptr().add(18) = 1;
        *ptr.as_ptr().add(19) = 1;
        Ok(OwnedData::from_raw_nonnull(ptr, file.len()))
    }
}

const NAME: u32 = 1000;
const VERSION: u32 = 1001;
const RELEASE: u32 = 1002;
const EPOCH: u32 = 1003;
const LICENSE: u32 = 1014;
const ARCH: u32 = 1022;
const SOURCE_RPM: u32 = 1044;

const INT32: u32 = 4;
const STRING: u32 = 6;
const I18N_STRING: u32 = 9;

/// A header blob as rpm stores it: the count of index entries and the size
/// of the data, the entries (tag, type, offset, count; big-endian), then
/// the data they point into.
fn header(blob: &[u8]) -> Option<Header> {
    let be32 = |b: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    let entries = be32(blob, 0)? as usize;
    let size = be32(blob, 4)? as usize;
    let index_end = 8usize.checked_add(entries.checked_mul(16)?)?;
    let index = blob.get(8..index_end)?;
    let data = blob.get(index_end..index_end.checked_add(size)?)?;
    let mut h = Header {
        name: String::new(),
        evr: String::new(),
        arch: None,
        license: None,
        source_rpm: None,
    };
    let (mut version, mut release, mut epoch) = (None, None, None);
    for entry in index.chunks_exact(16) {
        let (tag, kind, offset) = (be32(entry, 0)?, be32(entry, 4)?, be32(entry, 8)? as usize);
        let string = || -> Option<String> {
            if kind != STRING && kind != I18N_STRING {
                return None;
            }
            let rest = data.get(offset..)?;
            let end = rest.iter().position(|b| *b == 0)?;
            Some(String::from_utf8_lossy(&rest[..end]).into_owned())
        };
        match tag {
            NAME => h.name = string()?,
            VERSION => version = string(),
            RELEASE => release = string(),
            EPOCH if kind == INT32 => epoch = be32(data, offset),
            LICENSE => h.license = string(),
            ARCH => h.arch = string(),
            SOURCE_RPM => h.source_rpm = string(),
            _ => {}
        }
    }
    // rpm's own `gpg-pubkey` entries are keys, not packages.
    if h.name.is_empty() || h.name == "gpg-pubkey" {
        return None;
    }
    let (version, release) = (version?, release?);
    h.evr = match epoch {
        Some(e) => format!("{e}:{version}-{release}"),
        None => format!("{version}-{release}"),
    };
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header blob with string and int32 entries, as rpm writes one.
    pub(crate) fn blob(fields: &[(u32, Result<&str, u32>)]) -> Vec<u8> {
        let (mut index, mut data) = (Vec::new(), Vec::new());
        for (tag, value) in fields {
            let (kind, bytes) = match value {
                Ok(s) => (STRING, [s.as_bytes(), &[0]].concat()),
                Err(n) => {
                    while data.len() % 4 != 0 {
                        data.push(0);
                    }
                    (INT32, n.to_be_bytes().to_vec())
                }
            };
            for n in [*tag, kind, data.len() as u32, 1] {
                index.extend(n.to_be_bytes());
            }
            data.extend(bytes);
        }
        let mut out = Vec::new();
        out.extend((fields.len() as u32).to_be_bytes());
        out.extend((data.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(data);
        out
    }

    #[test]
    fn reads_headers_with_and_without_epoch() {
        let h = header(&blob(&[
            (NAME, Ok("openssl-libs")),
            (VERSION, Ok("3.0.1")),
            (RELEASE, Ok("46.el9_1")),
            (EPOCH, Err(1)),
            (ARCH, Ok("x86_64")),
            (SOURCE_RPM, Ok("openssl-3.0.1-46.el9_1.src.rpm")),
        ]));
        let h = h.unwrap_or_else(|| panic!("no header"));
        assert_eq!(
            (h.name.as_str(), h.evr.as_str()),
            ("openssl-libs", "1:3.0.1-46.el9_1")
        );
        assert_eq!(h.arch.as_deref(), Some("x86_64"));
        let plain = header(&blob(&[
            (NAME, Ok("zlib")),
            (VERSION, Ok("1.2.11")),
            (RELEASE, Ok("40.el9")),
        ]));
        assert_eq!(plain.map(|h| h.evr), Some("1.2.11-40.el9".to_string()));
        assert!(header(&blob(&[
            (NAME, Ok("gpg-pubkey")),
            (VERSION, Ok("1")),
            (RELEASE, Ok("2"))
        ]))
        .is_none());
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_junk(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = header(&bytes);
            let _ = packages(&bytes);
        }
    }
}
