//! The `Range` request header (RFC 9110 §14.1–14.2), decided as nginx's range filter does.
//! Pure; must not choose status codes (the handler maps a [`RangeDecision`] to 200/206/416).

/// An inclusive byte range within a representation of known length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte offset.
    pub start: u64,
    /// Last byte offset, inclusive (`start <= end < len`).
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes in the range.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Never true: a range holds at least one byte. Present for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// What to send for a request's `Range` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeDecision {
    /// Send the whole representation (no header, another unit, or a range set not worth it).
    Full,
    /// Send these ranges (one → a single part, several → multipart/byteranges), in request order.
    Partial(Vec<ByteRange>),
    /// No range overlaps the representation, or the header is malformed: 416.
    Unsatisfiable,
}

/// More ranges than this in one request are answered with the full body (RFC 9110 §14.2 lets a
/// server ignore a range set; this bounds the work a single request can cause).
pub const MAX_RANGES: usize = 16;

/// Decides a `Range` header value against a representation of `len` bytes.
///
/// As nginx: a unit other than `bytes` is ignored (full body); a malformed `bytes=` set, a
/// range with first > last, or a set with no satisfiable range is a 416; ranges beginning past
/// the end are dropped; ranges whose total exceeds the length (overlap games) get the full body.
pub fn decide(header: &[u8], len: u64) -> RangeDecision {
    let Some(spec) = strip_prefix_ignore_case(header, b"bytes=") else {
        return RangeDecision::Full;
    };
    let mut ranges = Vec::new();
    let mut total: u64 = 0;
    for part in spec.split(|&b| b == b',') {
        let part = trim(part);
        if part.is_empty() {
            // RFC 9110 §5.6.1: empty list elements are allowed and ignored.
            continue;
        }
        let Some(parsed) = parse_one(part, len) else {
            return RangeDecision::Unsatisfiable;
        };
        if let Some(r) = parsed {
            total = total.saturating_add(r.len());
            ranges.push(r);
        }
        if ranges.len() > MAX_RANGES {
            return RangeDecision::Full;
        }
    }
    if ranges.is_empty() {
        return RangeDecision::Unsatisfiable;
    }
    if ranges.len() > 1 && total > len {
        return RangeDecision::Full;
    }
    RangeDecision::Partial(ranges)
}

/// `None`: malformed. `Some(None)`: well-formed but not satisfiable. `Some(Some(r))`: a range.
fn parse_one(part: &[u8], len: u64) -> Option<Option<ByteRange>> {
    let dash = part.iter().position(|&b| b == b'-')?;
    let (first, last) = (trim(&part[..dash]), trim(&part[dash + 1..]));
    if first.is_empty() {
        let suffix = number(last)?;
        if suffix == 0 || len == 0 {
            return Some(None);
        }
        return Some(Some(ByteRange { start: len.saturating_sub(suffix), end: len - 1 }));
    }
    let start = number(first)?;
    let end = if last.is_empty() { u64::MAX } else { number(last)? };
    if start > end {
        return None;
    }
    if start >= len {
        return Some(None);
    }
    Some(Some(ByteRange { start, end: end.min(len - 1) }))
}

fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &d| acc.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn strip_prefix_ignore_case<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)).then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    #[test]
    fn single_open_suffix() {
        assert_eq!(decide(b"bytes=0-99", 1000), RangeDecision::Partial(vec![r(0, 99)]));
        assert_eq!(decide(b"bytes=900-", 1000), RangeDecision::Partial(vec![r(900, 999)]));
        assert_eq!(decide(b"bytes=-100", 1000), RangeDecision::Partial(vec![r(900, 999)]));
        assert_eq!(decide(b"bytes=-5000", 1000), RangeDecision::Partial(vec![r(0, 999)]));
        assert_eq!(decide(b"bytes=990-5000", 1000), RangeDecision::Partial(vec![r(990, 999)]));
        assert_eq!(decide(b"Bytes= 0 - 1 ", 10), RangeDecision::Partial(vec![r(0, 1)]));
    }

    #[test]
    fn unsatisfiable_and_malformed() {
        assert_eq!(decide(b"bytes=1000-", 1000), RangeDecision::Unsatisfiable);
        assert_eq!(decide(b"bytes=-0", 1000), RangeDecision::Unsatisfiable);
        assert_eq!(decide(b"bytes=5-2", 1000), RangeDecision::Unsatisfiable);
        assert_eq!(decide(b"bytes=abc", 1000), RangeDecision::Unsatisfiable);
        assert_eq!(decide(b"bytes=", 1000), RangeDecision::Unsatisfiable);
        assert_eq!(decide(b"bytes=-", 1000), RangeDecision::Unsatisfiable);
        assert_eq!(decide(b"bytes=99999999999999999999-", 1000), RangeDecision::Unsatisfiable);
        assert_eq!(decide(b"bytes=0-0", 0), RangeDecision::Unsatisfiable);
    }

    #[test]
    fn other_units_and_multi() {
        assert_eq!(decide(b"items=0-1", 1000), RangeDecision::Full);
        assert_eq!(decide(b"", 1000), RangeDecision::Full);
        assert_eq!(decide(b"bytes=0-1,5-6", 10), RangeDecision::Partial(vec![r(0, 1), r(5, 6)]));
        assert_eq!(decide(b"bytes=0-1,,20-30", 10), RangeDecision::Partial(vec![r(0, 1)]));
        assert_eq!(decide(b"bytes=0-9,0-9", 10), RangeDecision::Full);
        let many = format!("bytes={}", (0..40).map(|i| format!("{i}-{i}")).collect::<Vec<_>>().join(","));
        assert_eq!(decide(many.as_bytes(), 100), RangeDecision::Full);
    }

    proptest! {
        #[test]
        fn ranges_always_lie_inside(header in "(bytes|BYTES|x)=[-0-9, ]{0,30}", len in 0u64..5000) {
            if let RangeDecision::Partial(rs) = decide(header.as_bytes(), len) {
                prop_assert!(!rs.is_empty() && rs.len() <= MAX_RANGES);
                for r in rs {
                    prop_assert!(r.start <= r.end && r.end < len);
                }
            }
        }

        #[test]
        fn never_panics(header in proptest::collection::vec(any::<u8>(), 0..64), len in any::<u64>()) {
            let _ = decide(&header, len);
        }
    }
}
