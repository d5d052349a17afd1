//! HLS delivery directives in a playlist request's query (RFC 8216bis §6.2.5): `_HLS_msn`,
//! `_HLS_part`, `_HLS_skip`. Parsing only; what they make the server do is the handler's.
//! Pure; the query is untrusted input.

/// The delivery directives of one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Directives {
    /// `_HLS_msn=M`: answer once segment M (or a later one) is listed.
    pub msn: Option<u64>,
    /// `_HLS_part=P`: with `_HLS_msn`, once part P of segment M is listed.
    pub part: Option<u64>,
    /// `_HLS_skip=YES|v2`: a delta update is acceptable.
    pub skip: Skip,
}

/// What `_HLS_skip` asks for (§6.2.5.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Skip {
    /// The whole playlist.
    #[default]
    No,
    /// `YES`: segments older than the Skip Boundary may be replaced by `EXT-X-SKIP`.
    Segments,
    /// `v2`: date ranges in the skipped part too.
    SegmentsAndDateRanges,
}

/// Why a query's directives are refused with 400 (§6.2.5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectiveError {
    /// A directive whose value is not what the spec allows (a decimal integer, `YES`/`v2`).
    BadValue(&'static str),
    /// `_HLS_part` without `_HLS_msn`.
    PartWithoutMsn,
}

impl Directives {
    /// Reads the directives from a query string. Other parameters (a signature, a cache
    /// buster) and unknown `_HLS_` parameters are ignored, as §6.2.5 asks. The last of a
    /// repeated directive wins.
    pub fn parse(query: &str) -> Result<Directives, DirectiveError> {
        let mut d = Directives::default();
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "_HLS_msn" => d.msn = Some(integer(value).ok_or(DirectiveError::BadValue("_HLS_msn"))?),
                "_HLS_part" => d.part = Some(integer(value).ok_or(DirectiveError::BadValue("_HLS_part"))?),
                "_HLS_skip" => {
                    d.skip = match value {
                        "YES" => Skip::Segments,
                        "v2" => Skip::SegmentsAndDateRanges,
                        _ => return Err(DirectiveError::BadValue("_HLS_skip")),
                    }
                }
                _ => {}
            }
        }
        if d.part.is_some() && d.msn.is_none() {
            return Err(DirectiveError::PartWithoutMsn);
        }
        Ok(d)
    }

    /// True when the query asks for nothing special.
    pub fn is_empty(&self) -> bool {
        *self == Directives::default()
    }
}

/// A decimal-integer (§4.2): digits only, at most 20 of them, within u64.
fn integer(value: &str) -> Option<u64> {
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_each_directive() {
        assert_eq!(Directives::parse("").unwrap(), Directives::default());
        let d = Directives::parse("md5=abc&_HLS_msn=42&_HLS_part=3&_HLS_skip=YES&_HLS_future=1").unwrap();
        assert_eq!(d, Directives { msn: Some(42), part: Some(3), skip: Skip::Segments });
        assert_eq!(Directives::parse("_HLS_skip=v2").unwrap().skip, Skip::SegmentsAndDateRanges);
        assert_eq!(Directives::parse("_HLS_part=1"), Err(DirectiveError::PartWithoutMsn));
        assert_eq!(Directives::parse("_HLS_msn=-1"), Err(DirectiveError::BadValue("_HLS_msn")));
        assert_eq!(Directives::parse("_HLS_msn=1e3"), Err(DirectiveError::BadValue("_HLS_msn")));
        assert_eq!(Directives::parse("_HLS_msn=99999999999999999999"), Err(DirectiveError::BadValue("_HLS_msn")));
        assert_eq!(Directives::parse("_HLS_skip=yes"), Err(DirectiveError::BadValue("_HLS_skip")));
        assert!(Directives::parse("a=1&&b").unwrap().is_empty());
    }

    proptest! {
        #[test]
        fn never_panics(query in "\\PC{0,200}") {
            let _ = Directives::parse(&query);
        }

        #[test]
        fn round_trips(msn in any::<u64>(), part in proptest::option::of(any::<u64>()), other in "[a-z]{1,8}=[a-z0-9]{0,8}") {
            let mut q = format!("{other}&_HLS_msn={msn}");
            if let Some(p) = part {
                q += &format!("&_HLS_part={p}");
            }
            let d = Directives::parse(&q).unwrap();
            prop_assert_eq!((d.msn, d.part, d.skip), (Some(msn), part, Skip::No));
        }
    }
}
