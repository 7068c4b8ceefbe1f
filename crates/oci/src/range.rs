//! Byte ranges: `Content-Range` on chunked uploads and `Range` on blob reads.

/// An inclusive byte range `start..=end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

/// Why a range header could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("malformed range")]
    Malformed,
    #[error("range not satisfiable")]
    NotSatisfiable,
}

impl ByteRange {
    /// Number of bytes in the range.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// A range is never empty; present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }
}

fn num(s: &str) -> Result<u64, RangeError> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RangeError::Malformed);
    }
    s.parse().map_err(|_| RangeError::Malformed)
}

/// Parses an upload `Content-Range: <start>-<end>` (a `bytes ` or `bytes=` prefix is tolerated).
pub fn parse_content_range(value: &str) -> Result<ByteRange, RangeError> {
    let v = value.trim();
    let v = v
        .strip_prefix("bytes ")
        .or_else(|| v.strip_prefix("bytes="))
        .unwrap_or(v);
    // Tolerate the RFC 9110 "/total" suffix.
    let v = v.split('/').next().unwrap_or(v);
    let (a, b) = v.split_once('-').ok_or(RangeError::Malformed)?;
    let (start, end) = (num(a)?, num(b)?);
    if end < start {
        return Err(RangeError::Malformed);
    }
    Ok(ByteRange { start, end })
}

/// Parses a single-range `Range: bytes=a-b | a- | -n` header against a blob of `size` bytes.
pub fn parse_range(value: &str, size: u64) -> Result<ByteRange, RangeError> {
    let spec = value
        .trim()
        .strip_prefix("bytes=")
        .ok_or(RangeError::Malformed)?;
    if spec.contains(',') {
        // Multipart ranges are not served; a malformed answer is clearer than a wrong one.
        return Err(RangeError::Malformed);
    }
    let (a, b) = spec.split_once('-').ok_or(RangeError::Malformed)?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n = num(b)?;
        if n == 0 || size == 0 {
            return Err(RangeError::NotSatisfiable);
        }
        ByteRange {
            start: size.saturating_sub(n),
            end: size - 1,
        }
    } else {
        let start = num(a)?;
        let end = if b.is_empty() { u64::MAX } else { num(b)? };
        if end < start {
            return Err(RangeError::Malformed);
        }
        if start >= size {
            return Err(RangeError::NotSatisfiable);
        }
        ByteRange {
            start,
            end: end.min(size - 1),
        }
    };
    Ok(range)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn content_range() {
        assert_eq!(
            parse_content_range("0-99"),
            Ok(ByteRange { start: 0, end: 99 })
        );
        assert_eq!(
            parse_content_range("bytes 5-9/10"),
            Ok(ByteRange { start: 5, end: 9 })
        );
        assert_eq!(parse_content_range("9-5"), Err(RangeError::Malformed));
        assert_eq!(parse_content_range("-5"), Err(RangeError::Malformed));
        assert_eq!(parse_content_range("a-b"), Err(RangeError::Malformed));
        assert_eq!(parse_content_range("+1-2"), Err(RangeError::Malformed));
        assert_eq!(
            parse_content_range("0-99999999999999999999999"),
            Err(RangeError::Malformed)
        );
    }

    #[test]
    fn range() {
        assert_eq!(
            parse_range("bytes=0-9", 100),
            Ok(ByteRange { start: 0, end: 9 })
        );
        assert_eq!(
            parse_range("bytes=90-", 100),
            Ok(ByteRange { start: 90, end: 99 })
        );
        assert_eq!(
            parse_range("bytes=-10", 100),
            Ok(ByteRange { start: 90, end: 99 })
        );
        assert_eq!(
            parse_range("bytes=-1000", 100),
            Ok(ByteRange { start: 0, end: 99 })
        );
        assert_eq!(
            parse_range("bytes=50-1000", 100),
            Ok(ByteRange { start: 50, end: 99 })
        );
        assert_eq!(
            parse_range("bytes=100-", 100),
            Err(RangeError::NotSatisfiable)
        );
        assert_eq!(
            parse_range("bytes=0-1,3-4", 100),
            Err(RangeError::Malformed)
        );
        assert_eq!(parse_range("items=0-1", 100), Err(RangeError::Malformed));
    }

    proptest! {
        #[test]
        fn content_range_never_panics(s in ".*") {
            let _ = parse_content_range(&s);
        }

        #[test]
        fn range_within_size(s in "bytes=[0-9]{0,4}-[0-9]{0,4}", size in 0u64..5000) {
            if let Ok(r) = parse_range(&s, size) {
                prop_assert!(r.start <= r.end && r.end < size);
            }
        }
    }
}
