//! What a Go program was built with: the Go release and the modules, as
//! the linker writes them into every binary (`go version -m` shows them).
//! Go 1.18 and later write them inline after a 16-byte-aligned magic, in
//! ELF, Mach-O and PE files alike; older binaries point to them instead,
//! and are not read.

use std::io::{self, Read};

const MAGIC: &[u8] = b"\xff Go buildinf:";
/// The header: the magic, pointer size, flags, padding.
const HEADER: usize = 32;
/// Flag: the version and module strings follow the header.
const INLINE: u8 = 0x2;
/// What the strings may add up to.
const MAX_INFO: usize = 1 << 20;
/// Bytes read at a time.
const CHUNK: usize = 1 << 20;

/// Whether a file's first bytes are those of an executable format Go writes.
pub fn is_executable(head: &[u8]) -> bool {
    let Some(magic) = head.get(..4) else {
        return false;
    };
    magic == b"\x7fELF"
        || magic.starts_with(b"MZ")
        || matches!(
            u32::from_be_bytes([magic[0], magic[1], magic[2], magic[3]]),
            0xfeedface | 0xfeedfacf | 0xcefaedfe | 0xcffaedfe
        )
}

/// The build information of the binary `r` streams, as `go<version>` on
/// the first line and the module lines after it; None for a binary that
/// is not Go's (or too old). Reads until it is found, holding little.
pub fn build_info(mut r: impl Read) -> io::Result<Option<String>> {
    let finder = memchr::memmem::Finder::new(MAGIC);
    let mut window: Vec<u8> = Vec::with_capacity(CHUNK + HEADER + MAX_INFO);
    // The file offset of `window[0]`: the magic is aligned in the file.
    let mut base = 0usize;
    let mut chunk = vec![0; CHUNK];
    loop {
        let n = read_some(&mut r, &mut chunk)?;
        window.extend_from_slice(&chunk[..n]);
        let mut from = 0;
        while let Some(at) = finder.find(&window[from..]).map(|i| i + from) {
            if (base + at).is_multiple_of(16) {
                while window.len() < at + HEADER + MAX_INFO {
                    let more = read_some(&mut r, &mut chunk)?;
                    if more == 0 {
                        break;
                    }
                    window.extend_from_slice(&chunk[..more]);
                }
                if let Some(info) = parse(&window[at..]) {
                    return Ok(Some(info));
                }
            }
            from = at + 1;
        }
        if n == 0 {
            return Ok(None);
        }
        // What could begin a magic split between two chunks stays.
        let cut = window.len().saturating_sub(MAGIC.len() - 1);
        base += cut;
        window.drain(..cut);
    }
}

fn read_some(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// The strings after a header: a varint length and the Go version, a
/// varint length and the module information between two 16-byte sentinels.
fn parse(data: &[u8]) -> Option<String> {
    if data.get(15)? & INLINE == 0 {
        return None;
    }
    let mut rest = data.get(HEADER..)?;
    let mut string = || -> Option<&[u8]> {
        let (len, used) = uvarint(rest)?;
        let end = used.checked_add(usize::try_from(len).ok()?)?;
        let s = rest.get(used..end)?;
        rest = &rest[end..];
        Some(s)
    };
    let version = std::str::from_utf8(string()?).ok()?;
    if !version.starts_with("go") {
        return None;
    }
    let modules = string()?;
    let modules = match modules.len() >= 33 && modules[modules.len() - 17] == b'\n' {
        true => &modules[16..modules.len() - 16],
        false => &[][..],
    };
    Some(format!("{version}\n{}", String::from_utf8_lossy(modules)))
}

/// Go's unsigned varint: seven bits a byte, least significant first.
fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// A module a binary was built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Its path, or `stdlib` for Go's standard library.
    pub path: String,
    /// As Go writes it: `v1.2.3` for a module, `1.21.5` for the library.
    pub version: String,
}

/// The standard library and the modules of a build's information, each as
/// it was built (a replacement replaces); the main module only when it has
/// a version (`go install path@version`).
pub fn modules(info: &str) -> Vec<Module> {
    let mut lines = info.lines();
    let mut out = Vec::new();
    let release = lines.next().unwrap_or_default();
    // `go1.21.5`, perhaps followed by experiments (`X:…`).
    if let Some(v) = release
        .split_whitespace()
        .next()
        .and_then(|r| r.strip_prefix("go"))
    {
        out.push(Module {
            path: "stdlib".into(),
            version: v.to_string(),
        });
    }
    for line in lines {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["mod" | "dep", path, version, ..] => out.push(Module {
                path: path.to_string(),
                version: version.to_string(),
            }),
            ["=>", path, version, ..] if out.len() > 1 => {
                if let Some(last) = out.last_mut() {
                    *last = Module {
                        path: path.to_string(),
                        version: version.to_string(),
                    };
                }
            }
            _ => {}
        }
    }
    // A local replacement or the main module built from source has none.
    out.retain(|m| {
        m.version
            .starts_with(|c: char| c.is_ascii_digit() || c == 'v')
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build information as the linker lays it out, at `at` in a file.
    fn binary(at: usize, version: &str, modules: &str) -> Vec<u8> {
        let mut file = b"\x7fELF".to_vec();
        file.resize(at, 0);
        file.extend(MAGIC);
        file.extend([8, INLINE]);
        file.resize(at + HEADER, 0);
        let sentinel = [0x30u8; 16];
        let wrapped = [&sentinel[..], modules.as_bytes(), &sentinel[..]].concat();
        for s in [version.as_bytes(), &wrapped[..]] {
            let mut n = s.len();
            while n >= 0x80 {
                file.push((n as u8) | 0x80);
                n >>= 7;
            }
            file.push(n as u8);
            file.extend(s);
        }
        file.extend([0u8; 64]);
        file
    }

    const MODULES: &str = "path\texample.com/app\nmod\texample.com/app\t(devel)\t\n\
        dep\tgolang.org/x/text\tv0.3.7\th1:olpwvP2KacW1ZWvsR7uQhoyTYvKAupfQrRGBFM352Gk=\n\
        dep\tgithub.com/old/thing\tv1.0.0\th1:x=\n=>\tgithub.com/new/thing\tv1.2.0\th1:y=\n\
        dep\tgithub.com/local/thing\tv0.1.0\n=>\t../thing\t\n\
        build\t-compiler=gc\n";

    /// A reader that hands out a few bytes at a time, as a tar entry may.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(7);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn reads_inline_build_info_however_it_is_read() {
        let mut file = binary(4096, "go1.19.8", MODULES);
        // An unaligned copy of the magic (as in Go's own tools) is passed over.
        file[100..100 + MAGIC.len()].copy_from_slice(MAGIC);
        let want: Vec<(String, String)> = [
            ("stdlib", "1.19.8"),
            ("golang.org/x/text", "v0.3.7"),
            ("github.com/new/thing", "v1.2.0"),
        ]
        .iter()
        .map(|(p, v)| (p.to_string(), v.to_string()))
        .collect();
        for info in [build_info(&file[..]), build_info(Trickle(&file))] {
            let info = info.ok().flatten().unwrap_or_default();
            let found: Vec<(String, String)> = (modules(&info).into_iter())
                .map(|m| (m.path, m.version))
                .collect();
            assert_eq!(found, want);
        }
        assert!(build_info(&b"\x7fELF not go"[..]).ok().flatten().is_none());
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_junk(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse(&bytes);
            let _ = build_info(&bytes[..]);
            let _ = modules(&String::from_utf8_lossy(&bytes));
        }
    }
}
