//! Conditional requests (RFC 9110 §13): `If-Match`, `If-Unmodified-Since`, `If-None-Match`,
//! `If-Modified-Since` and `If-Range`, evaluated in the §13.2.2 order. Pure; knows nothing of
//! files beyond the two validators.

use http::header::{HeaderName, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE};

use crate::request::Fields;

/// The validators of the selected representation.
#[derive(Clone, Copy, Debug)]
pub struct Validators<'a> {
    /// The strong entity tag, with its quotes, e.g. `"9f2c-1a0"`.
    pub etag: &'a [u8],
    /// Last-Modified as Unix seconds.
    pub modified_secs: u64,
}

/// What the preconditions say to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// Go on; `use_range` is false when `If-Range` did not match (§13.1.5: send the full body).
    Proceed {
        /// Whether a `Range` header may be honoured.
        use_range: bool,
    },
    /// 304 Not Modified (§13.1.2–13.1.3, GET/HEAD only).
    NotModified,
    /// 412 Precondition Failed (§13.1.1, §13.1.4).
    Failed,
}

/// Evaluates the preconditions of a GET or HEAD request (§13.2.2 steps 1–5).
pub fn evaluate(headers: Fields<'_>, v: Validators<'_>) -> Precondition {
    if let Some(im) = headers.get(IF_MATCH.as_str()) {
        if !matches_any(im, v.etag, Strength::Strong) {
            return Precondition::Failed;
        }
    } else if let Some(date) = header_date(headers, IF_UNMODIFIED_SINCE) {
        if v.modified_secs > date {
            return Precondition::Failed;
        }
    }
    if let Some(inm) = headers.get(IF_NONE_MATCH.as_str()) {
        if matches_any(inm, v.etag, Strength::Weak) {
            return Precondition::NotModified;
        }
    } else if let Some(date) = header_date(headers, IF_MODIFIED_SINCE) {
        // §13.1.3: not modified when the representation is no newer than the date given.
        if v.modified_secs <= date {
            return Precondition::NotModified;
        }
    }
    Precondition::Proceed { use_range: if_range_holds(headers, v) }
}

/// §13.1.5: `If-Range` holds for a strong ETag match or an exactly equal Last-Modified date.
fn if_range_holds(headers: Fields<'_>, v: Validators<'_>) -> bool {
    let Some(value) = headers.get(IF_RANGE.as_str()) else { return true };
    let bytes = value;
    if bytes.starts_with(b"\"") || bytes.starts_with(b"W/") {
        return !bytes.starts_with(b"W/") && bytes == v.etag;
    }
    header_date(headers, IF_RANGE) == Some(v.modified_secs)
}

fn header_date(headers: Fields<'_>, name: HeaderName) -> Option<u64> {
    let text = std::str::from_utf8(headers.get(name.as_str())?).ok()?;
    let t = httpdate::parse_http_date(text).ok()?;
    t.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Strength {
    Strong,
    Weak,
}

/// Does an `If-Match`/`If-None-Match` list contain `etag`? `*` matches any current
/// representation. Weak comparison (§8.8.3.2) ignores a `W/` prefix; strong never matches one.
fn matches_any(list: &[u8], etag: &[u8], strength: Strength) -> bool {
    let mut rest = list;
    loop {
        while let [b' ' | b'\t' | b',', tail @ ..] = rest {
            rest = tail;
        }
        if rest.is_empty() {
            return false;
        }
        if rest[0] == b'*' {
            return true;
        }
        let weak = rest.starts_with(b"W/");
        if weak {
            rest = &rest[2..];
        }
        if rest.first() != Some(&b'"') {
            return false;
        }
        let Some(close) = rest[1..].iter().position(|&b| b == b'"') else {
            return false;
        };
        let tag = &rest[..close + 2];
        if tag == etag && !(weak && strength == Strength::Strong) {
            return true;
        }
        rest = &rest[close + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};
    use proptest::prelude::*;

    const ETAG: &str = "\"abc-10\"";
    const V: Validators<'static> = Validators { etag: ETAG.as_bytes(), modified_secs: 1_700_000_000 };

    fn eval(pairs: &[(http::header::HeaderName, &str)]) -> Precondition {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        let raw: Vec<_> =
            pairs.iter().map(|(k, v)| httparse::Header { name: k.as_str(), value: v.as_bytes() }).collect();
        let from_map = evaluate(Fields::Map(&h), V);
        assert_eq!(from_map, evaluate(Fields::raw(&raw), V), "{pairs:?}");
        from_map
    }

    fn date(secs: u64) -> String {
        httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
    }

    const GO: Precondition = Precondition::Proceed { use_range: true };

    #[test]
    fn if_none_match() {
        assert_eq!(eval(&[(IF_NONE_MATCH, ETAG)]), Precondition::NotModified);
        assert_eq!(eval(&[(IF_NONE_MATCH, "W/\"abc-10\"")]), Precondition::NotModified);
        assert_eq!(eval(&[(IF_NONE_MATCH, "\"x\", \"abc-10\"")]), Precondition::NotModified);
        assert_eq!(eval(&[(IF_NONE_MATCH, "*")]), Precondition::NotModified);
        assert_eq!(eval(&[(IF_NONE_MATCH, "\"other\"")]), GO);
        assert_eq!(eval(&[(IF_NONE_MATCH, "garbage")]), GO);
    }

    #[test]
    fn if_modified_since_and_precedence() {
        assert_eq!(eval(&[(IF_MODIFIED_SINCE, &date(1_700_000_000))]), Precondition::NotModified);
        assert_eq!(eval(&[(IF_MODIFIED_SINCE, &date(1_700_000_100))]), Precondition::NotModified);
        assert_eq!(eval(&[(IF_MODIFIED_SINCE, &date(1_699_999_999))]), GO);
        assert_eq!(eval(&[(IF_MODIFIED_SINCE, "not a date")]), GO);
        // If-None-Match wins: a non-matching tag means modified even if the date says not.
        assert_eq!(eval(&[(IF_NONE_MATCH, "\"other\""), (IF_MODIFIED_SINCE, &date(1_800_000_000))]), GO);
    }

    #[test]
    fn if_match_and_unmodified_since() {
        assert_eq!(eval(&[(IF_MATCH, ETAG)]), GO);
        assert_eq!(eval(&[(IF_MATCH, "W/\"abc-10\"")]), Precondition::Failed);
        assert_eq!(eval(&[(IF_MATCH, "\"nope\"")]), Precondition::Failed);
        assert_eq!(eval(&[(IF_UNMODIFIED_SINCE, &date(1_600_000_000))]), Precondition::Failed);
        assert_eq!(eval(&[(IF_UNMODIFIED_SINCE, &date(1_700_000_000))]), GO);
    }

    #[test]
    fn if_range() {
        assert_eq!(eval(&[(IF_RANGE, ETAG)]), GO);
        assert_eq!(eval(&[(IF_RANGE, "\"old\"")]), Precondition::Proceed { use_range: false });
        assert_eq!(eval(&[(IF_RANGE, "W/\"abc-10\"")]), Precondition::Proceed { use_range: false });
        assert_eq!(eval(&[(IF_RANGE, &date(1_700_000_000))]), GO);
        assert_eq!(eval(&[(IF_RANGE, &date(1_700_000_001))]), Precondition::Proceed { use_range: false });
    }

    proptest! {
        #[test]
        fn etag_lists_never_panic(list in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = matches_any(&list, ETAG.as_bytes(), Strength::Weak);
            let _ = matches_any(&list, ETAG.as_bytes(), Strength::Strong);
        }

        #[test]
        fn own_tag_in_any_list_matches(before in "[a-z0-9]{0,8}", after in "[a-z0-9]{0,8}") {
            let list = format!("\"{before}\", {ETAG} ,\"{after}\"");
            prop_assert!(matches_any(list.as_bytes(), ETAG.as_bytes(), Strength::Strong));
        }
    }
}
