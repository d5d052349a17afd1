//! One request as the handler reads it, whichever driver parsed it: [`RequestHead`], its target
//! and header fields (hyper's `Uri` + `HeaderMap`, or the native driver's httparse slices
//! borrowed straight from the read buffer: no copy, no allocation per request), and every limit
//! on the size of a head. Read-only views; must not decide anything about a request.

use http::header::{self, HeaderMap};
use http::Uri;

/// Longest request target accepted (414 beyond).
pub const MAX_TARGET_BYTES: usize = 8 * 1024;
/// Largest total of header names and values accepted (431 beyond).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Most header fields accepted in one head (more: 431, as hyper answers).
pub const MAX_HEADERS: usize = 100;
/// The most bytes of one head either driver buffers: room for the largest head accepted plus
/// slack, so requests just over the limits above still reach the handler and get a precise
/// 414/431; beyond it the driver answers 431 itself.
pub const MAX_HEAD_BYTES: usize = 4 * (MAX_TARGET_BYTES + MAX_HEADER_BYTES);

/// The parts of a request a responder reads, whatever library parsed them.
#[derive(Clone, Copy, Debug)]
pub struct RequestHead<'a> {
    /// The client's address (`$remote_addr`).
    pub remote: Option<std::net::IpAddr>,
    /// Method.
    pub method: &'a http::Method,
    /// Request target.
    pub target: Target<'a>,
    /// Header fields.
    pub headers: Fields<'a>,
    /// The server's stop signal, for a request that waits (`None`: never stops, in tests).
    pub stop: Option<&'a crate::net::stop::StopSignal>,
}

/// Header fields of one request.
#[derive(Clone, Copy, Debug)]
pub enum Fields<'a> {
    /// As hyper parsed them.
    Map(&'a HeaderMap),
    /// As httparse parsed them: names as sent (compared case-insensitively, RFC 9110 §5.1).
    Raw(RawFields<'a>),
}

/// httparse's fields plus a one-word filter of the names present, so asking for a field the
/// request does not carry (the usual answer for `If-*`, `Range`, `Expect`...) costs no scan.
#[derive(Clone, Copy, Debug)]
pub struct RawFields<'a> {
    fields: &'a [httparse::Header<'a>],
    names: u64,
}

impl<'a> RawFields<'a> {
    /// Indexes `fields`.
    pub fn new(fields: &'a [httparse::Header<'a>]) -> Self {
        RawFields { fields, names: fields.iter().fold(0, |m, h| m | name_bit(h.name)) }
    }

    /// False only when no field is called `name`.
    fn may_contain(self, name: &str) -> bool {
        self.names & name_bit(name) != 0
    }
}

/// A one-hash Bloom filter bit for a field name, case-insensitive: length and first letter.
const fn name_bit(name: &str) -> u64 {
    let bytes = name.as_bytes();
    let first = if bytes.is_empty() { 0 } else { bytes[0].to_ascii_lowercase() as usize };
    1 << ((bytes.len() * 31 + first) % 64)
}

/// A set of field names, for asking at once whether a request may carry any of them.
#[derive(Clone, Copy, Debug)]
pub struct NameSet(u64);

impl NameSet {
    /// The set of `names` (lower-case).
    pub const fn of(names: &[&str]) -> NameSet {
        let (mut bits, mut i) = (0, 0);
        while i < names.len() {
            bits |= name_bit(names[i]);
            i += 1;
        }
        NameSet(bits)
    }
}

impl<'a> From<&'a HeaderMap> for Fields<'a> {
    fn from(map: &'a HeaderMap) -> Self {
        Fields::Map(map)
    }
}

impl<'a> Fields<'a> {
    /// httparse's fields.
    pub fn raw(fields: &'a [httparse::Header<'a>]) -> Fields<'a> {
        Fields::Raw(RawFields::new(fields))
    }

    /// The first value of `name` (lower-case).
    pub fn get(self, name: &str) -> Option<&'a [u8]> {
        match self {
            Fields::Map(map) => map.get(name).map(|v| v.as_bytes()),
            // `get_all` consults the name filter first.
            Fields::Raw(_) => self.get_all(name).next(),
        }
    }

    /// False only when the request carries none of `names`: one test for httparse's fields,
    /// so the common request without conditionals or ranges skips looking for each of them.
    pub fn may_contain_any(self, names: NameSet) -> bool {
        match self {
            Fields::Map(_) => true,
            Fields::Raw(raw) => raw.names & names.0 != 0,
        }
    }

    /// Every value of `name` (lower-case), in order.
    pub fn get_all<'n>(self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + 'n
    where
        'a: 'n,
    {
        // The name filter first: asking for a field the request lacks scans nothing.
        let fields = match self {
            Fields::Raw(raw) if !raw.may_contain(name) => FieldIter::Raw([].iter()),
            _ => self.iter(),
        };
        fields.filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// True when `name` (lower-case) is present.
    pub fn contains(self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every field, in order (a name once per value).
    pub fn iter(self) -> FieldIter<'a> {
        match self {
            Fields::Map(map) => FieldIter::Map(map.iter()),
            Fields::Raw(raw) => FieldIter::Raw(raw.fields.iter()),
        }
    }

    /// Bytes of names and values, plus 4 per field (`": "` and CRLF): the size limit's measure.
    pub fn size(self) -> usize {
        self.iter().map(|(n, v)| n.len() + v.len() + 4).sum()
    }

    /// The `Host` field (RFC 9110 §7.2), if it is text.
    pub fn host(self) -> Option<&'a str> {
        self.get(header::HOST.as_str()).and_then(|h| std::str::from_utf8(h).ok())
    }
}

/// Iterator over [`Fields`].
pub enum FieldIter<'a> {
    /// Over a `HeaderMap`.
    Map(header::Iter<'a, http::HeaderValue>),
    /// Over httparse's slice.
    Raw(std::slice::Iter<'a, httparse::Header<'a>>),
}

impl<'a> Iterator for FieldIter<'a> {
    type Item = (&'a str, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            FieldIter::Map(it) => it.next().map(|(n, v)| (n.as_str(), v.as_bytes())),
            FieldIter::Raw(it) => it.next().map(|h| (h.name, h.value)),
        }
    }
}

/// The request target, split (RFC 9112 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target<'a> {
    /// The path (origin-form, or the path of an absolute-form target).
    pub path: &'a str,
    /// The query, without `?`.
    pub query: Option<&'a str>,
    /// Bytes of the target as sent (the 414 limit's measure).
    pub len: usize,
}

impl<'a> Target<'a> {
    /// The target of a parsed `Uri`.
    pub fn of_uri(uri: &'a Uri) -> Target<'a> {
        let len = uri.path_and_query().map_or(0, |pq| pq.as_str().len())
            + uri.authority().map_or(0, |a| a.as_str().len())
            + uri.scheme_str().map_or(0, str::len);
        Target { path: uri.path(), query: uri.query(), len }
    }

    /// An origin-form target split without allocating, or `None` when it holds anything that
    /// needs `Uri`'s full parser to decide: another form, a fragment, non-ASCII, or a byte
    /// `Uri` refuses (then the caller parses it with `Uri`, so both drivers accept and refuse
    /// exactly the same targets).
    pub fn origin_form(raw: &'a str) -> Option<Target<'a>> {
        let bytes = raw.as_bytes();
        if bytes.first() != Some(&b'/') {
            return None;
        }
        // One pass: path bytes up to the first `?` (which `PATH_OK` leaves out), then the query.
        let path_len = bytes.iter().position(|&b| !PATH_OK[usize::from(b)]).unwrap_or(bytes.len());
        let query = match bytes.get(path_len) {
            None => None,
            Some(b'?') if bytes[path_len + 1..].iter().all(|&b| QUERY_OK[usize::from(b)]) => Some(&raw[path_len + 1..]),
            Some(_) => return None,
        };
        Some(Target { path: &raw[..path_len], query, len: raw.len() })
    }
}

/// Bytes `http::Uri` accepts as-is in a path (its `PATH_MAP`, without `?`, `#` and non-ASCII).
const PATH_OK: [bool; 256] = byte_table(false);
/// Bytes `http::Uri` accepts as-is in a query (its `QUERY_MAP`, without `#` and non-ASCII).
const QUERY_OK: [bool; 256] = byte_table(true);

const fn byte_table(query: bool) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = if query {
            matches!(b, 0x21 | 0x24..=0x3B | 0x3D | 0x3F..=0x7E)
        } else {
            matches!(b, 0x21 | 0x24..=0x3B | 0x3D | 0x40..=0x5F | 0x61..=0x7A | 0x7C | 0x7E | b'"' | b'{' | b'}')
        };
        i += 1;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn raw_and_map_fields_agree() {
        let raw = [
            httparse::Header { name: "Host", value: b"a.example" },
            httparse::Header { name: "X-Two", value: b"1" },
            httparse::Header { name: "x-two", value: b"2" },
        ];
        let mut map = HeaderMap::new();
        map.insert("host", "a.example".parse().unwrap());
        map.append("x-two", "1".parse().unwrap());
        map.append("x-two", "2".parse().unwrap());
        for f in [Fields::raw(&raw), Fields::Map(&map)] {
            assert_eq!(f.get("host"), Some(&b"a.example"[..]));
            assert_eq!(f.host(), Some("a.example"));
            assert_eq!(f.get_all("x-two").collect::<Vec<_>>(), [b"1", b"2"]);
            assert!(!f.contains("range") && !f.contains("hostx") && !f.contains("x-one"));
            assert!(f.contains("HOST") || matches!(f, Fields::Map(_)));
            assert!(f.may_contain_any(NameSet::of(&["range", "x-two"])));
            assert_eq!(f.size(), "host".len() + 9 + 4 + 2 * ("x-two".len() + 1 + 4));
        }
    }

    #[test]
    fn a_plain_cdn_request_skips_the_conditional_fields() {
        let raw = ["Host", "User-Agent", "Accept", "Accept-Encoding", "Connection", "Via", "X-Forwarded-For"]
            .map(|name| httparse::Header { name, value: b"v" });
        let conditionals =
            ["if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range", "range"];
        assert!(!Fields::raw(&raw).may_contain_any(NameSet::of(&conditionals)));
    }

    #[test]
    fn splits_origin_form_targets() {
        let t = Target::origin_form("/a/b.m3u8?md5=x&e=1").unwrap();
        assert_eq!((t.path, t.query, t.len), ("/a/b.m3u8", Some("md5=x&e=1"), 19));
        assert_eq!(Target::origin_form("/").unwrap().query, None);
        assert_eq!(Target::origin_form("/?").unwrap().query, Some(""));
        for other in ["*", "http://h/x", "/a#f", "/caf\u{e9}", "/a b", "/<", "", "/?\""] {
            assert_eq!(Target::origin_form(other), None, "{other:?}");
        }
    }

    proptest! {
        /// The name filter never hides a field that is there.
        #[test]
        fn raw_lookup_finds_every_field(names in proptest::collection::vec("[a-zA-Z-]{1,20}", 0..8), probe in "[a-zA-Z-]{1,20}") {
            let raw: Vec<_> = names.iter().map(|n| httparse::Header { name: n, value: b"v" }).collect();
            let fields = Fields::raw(&raw);
            for n in &names {
                prop_assert!(fields.get(&n.to_ascii_lowercase()).is_some());
            }
            let present = names.iter().any(|n| n.eq_ignore_ascii_case(&probe));
            prop_assert_eq!(fields.get(&probe.to_ascii_lowercase()).is_some(), present);
            let every = names.iter().filter(|n| n.eq_ignore_ascii_case(&probe)).count();
            prop_assert_eq!(fields.get_all(&probe.to_ascii_lowercase()).count(), every);
            // A set holding the probe never says it is absent when it is present.
            let lower = probe.to_ascii_lowercase();
            prop_assert!(!present || fields.may_contain_any(NameSet::of(&["if-match", &lower])));
        }

        /// Whatever the fast split accepts, `Uri` accepts with the same path and query.
        #[test]
        fn origin_form_agrees_with_uri(s in "/[ -~\u{e9}]{0,40}") {
            if let Some(t) = Target::origin_form(&s) {
                let uri: Uri = s.parse().expect("Uri refuses what the fast split accepted");
                prop_assert_eq!(t.path, uri.path());
                prop_assert_eq!(t.query, uri.query());
            }
        }

        /// Every byte `Uri` takes plainly in a path or query, the fast split takes too.
        #[test]
        fn origin_form_takes_plain_targets(s in "/[a-zA-Z0-9._~!$&'()*+,;=:@%/-]{0,40}(\\?[a-zA-Z0-9._~!$&'()*+,;=:@%/?-]{0,20})?") {
            prop_assert!(Target::origin_form(&s).is_some());
        }
    }
}
