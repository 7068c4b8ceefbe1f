//! Content digests (`algorithm:encoded`), per the OCI image spec.

use std::fmt;
use std::str::FromStr;

/// A validated sha256 digest; the only algorithm Berth stores.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    /// Lowercase hex, 64 characters.
    hex: String,
}

/// Why a string is not a digest Berth accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("digest is not of the form algorithm:encoded")]
    Malformed,
    #[error("unsupported digest algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    #[error("sha256 digest must be 64 lowercase hex characters")]
    BadEncoding,
}

impl Digest {
    /// Parses `sha256:<64 lowercase hex>`; other well-formed algorithms are
    /// reported as unsupported rather than malformed.
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        let (alg, enc) = s.split_once(':').ok_or(DigestError::Malformed)?;
        if !valid_algorithm(alg) || !valid_encoded(enc) {
            return Err(DigestError::Malformed);
        }
        if alg != "sha256" {
            return Err(DigestError::UnsupportedAlgorithm(alg.to_string()));
        }
        if enc.len() != 64 || !enc.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(DigestError::BadEncoding);
        }
        Ok(Digest {
            hex: enc.to_string(),
        })
    }

    /// Builds a digest from a raw 32-byte sha256 output.
    pub fn from_sha256_bytes(bytes: &[u8; 32]) -> Self {
        Digest {
            hex: hex::encode(bytes),
        }
    }

    /// The encoded part (hex) of the digest.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The algorithm name.
    pub fn algorithm(&self) -> &'static str {
        "sha256"
    }
}

fn valid_algorithm(alg: &str) -> bool {
    // algorithm-component (algorithm-separator algorithm-component)*
    !alg.is_empty()
        && alg.split(['+', '.', '_', '-']).all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

fn valid_encoded(enc: &str) -> bool {
    !enc.is_empty()
        && enc
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_valid() {
        let d = Digest::parse(EMPTY).unwrap();
        assert_eq!(d.to_string(), EMPTY);
    }

    #[test]
    fn rejects_bad() {
        assert_eq!(Digest::parse("sha256"), Err(DigestError::Malformed));
        assert_eq!(Digest::parse("sha256:"), Err(DigestError::Malformed));
        assert_eq!(Digest::parse("SHA256:abc"), Err(DigestError::Malformed));
        assert_eq!(Digest::parse("sha256:abc"), Err(DigestError::BadEncoding));
        assert_eq!(
            Digest::parse(&EMPTY.to_uppercase().replace("SHA256", "sha256")),
            Err(DigestError::BadEncoding)
        );
        assert!(matches!(
            Digest::parse("sha512:abcd"),
            Err(DigestError::UnsupportedAlgorithm(_))
        ));
        assert_eq!(
            Digest::parse("sha256:../../etc"),
            Err(DigestError::Malformed)
        );
    }

    proptest! {
        #[test]
        fn never_panics(s in ".*") {
            let _ = Digest::parse(&s);
        }

        #[test]
        fn roundtrips(bytes in proptest::array::uniform32(any::<u8>())) {
            let d = Digest::from_sha256_bytes(&bytes);
            prop_assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
        }
    }
}
