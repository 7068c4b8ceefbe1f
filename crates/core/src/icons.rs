//! The icons artifacts are shown with, one per Harbor type (Harbor's
//! `icon` field and `GET /icons/{digest}`). Each is named by the digest of
//! its content, so clients may cache it for good.

use std::sync::OnceLock;

/// An icon and the digest that names it.
#[derive(Debug)]
pub struct Icon {
    pub digest: String,
    pub content_type: &'static str,
    pub content: &'static [u8],
}

/// (Harbor type, SVG) of every built-in icon; the last is for any other type.
const SOURCES: &[(&str, &[u8])] = &[
    ("IMAGE", include_bytes!("../assets/icons/image.svg")),
    ("CHART", include_bytes!("../assets/icons/chart.svg")),
    ("CNAB", include_bytes!("../assets/icons/cnab.svg")),
    ("WASM", include_bytes!("../assets/icons/wasm.svg")),
    ("UNKNOWN", include_bytes!("../assets/icons/unknown.svg")),
];

fn all() -> &'static [Icon] {
    static ICONS: OnceLock<Vec<Icon>> = OnceLock::new();
    ICONS.get_or_init(|| {
        SOURCES
            .iter()
            .map(|(_, content)| {
                let hash = ring::digest::digest(&ring::digest::SHA256, content);
                let hex: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
                Icon {
                    digest: format!("sha256:{hex}"),
                    content_type: "image/svg+xml",
                    content,
                }
            })
            .collect()
    })
}

/// The icon of an artifact of this Harbor type.
pub fn for_type(harbor_type: &str) -> &'static Icon {
    let i = SOURCES
        .iter()
        .position(|(t, _)| *t == harbor_type)
        .unwrap_or(SOURCES.len() - 1);
    &all()[i]
}

/// The icon a digest names, if it is one of these.
pub fn by_digest(digest: &str) -> Option<&'static Icon> {
    all().iter().find(|i| i.digest == digest)
}
