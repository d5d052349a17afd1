//! Request-path normalisation, as nginx computes `$uri`: percent-decode, merge slashes, resolve
//! `.` and `..`. Pure; must not touch the filesystem (the store confines lookups to the root).

use std::fmt;

/// A decoded, normalised absolute path: starts with `/`, no empty, `.` or `..` segments.
/// A trailing `/` is kept, because `/a.ts/` must not name the file `/a.ts`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NormPath {
    path: String,
    /// Some segment starts with `.`: found by the scan that made the path, so every request's
    /// dot-file check is a load (a function of `path`, so equality and hashing agree).
    hidden: bool,
}

/// Why a request path was rejected; every variant is a 400.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// `%` not followed by two hex digits.
    BadEncoding,
    /// A decoded NUL byte (`%00`).
    Nul,
    /// `..` above the root.
    Escape,
    /// Decodes to bytes that are not UTF-8.
    NotUtf8,
    /// Not an absolute path.
    NotAbsolute,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::BadEncoding => "bad percent-encoding in path",
            PathError::Nul => "NUL byte in path",
            PathError::Escape => "path escapes the root",
            PathError::NotUtf8 => "path is not UTF-8",
            PathError::NotAbsolute => "path is not absolute",
        })
    }
}

impl NormPath {
    /// Normalises the path part of a request target (no query string).
    pub fn parse(raw: &str) -> Result<NormPath, PathError> {
        if !raw.starts_with('/') {
            return Err(PathError::NotAbsolute);
        }
        if let Some(hidden) = scan_normal(raw.as_bytes()) {
            return Ok(NormPath { path: raw.to_owned(), hidden });
        }
        NormPath::normalise(raw)
    }

    /// The full normalisation (`raw` starts with `/`).
    fn normalise(raw: &str) -> Result<NormPath, PathError> {
        let decoded = percent_decode(raw.as_bytes())?;
        let decoded = String::from_utf8(decoded).map_err(|_| PathError::NotUtf8)?;
        let mut segments: Vec<&str> = Vec::new();
        let mut trailing_slash = false;
        for seg in decoded.split('/').skip(1) {
            // A path ending in "/", "/." or "/.." names a directory (RFC 3986 §5.2.4 keeps
            // the final slash in those cases; nginx does the same).
            trailing_slash = matches!(seg, "" | "." | "..");
            match seg {
                "" | "." => {}
                ".." => {
                    segments.pop().ok_or(PathError::Escape)?;
                }
                s => segments.push(s),
            }
        }
        let mut out = String::with_capacity(decoded.len());
        for s in &segments {
            out.push('/');
            out.push_str(s);
        }
        if trailing_slash || segments.is_empty() {
            out.push('/');
        }
        Ok(NormPath::new(out))
    }

    /// The request path naming a file at `rel` below the root, as the filesystem spells it (no
    /// percent-decoding: a file called `a%20b.ts` is requested as `/a%2520b.ts`). With `dir`, the
    /// prefix `/rel/` of everything below a directory. `None` for anything a request could not
    /// name (empty, `.`/`..` segments, doubled slashes).
    pub fn from_fs_relative(rel: &str, dir: bool) -> Option<NormPath> {
        if rel.is_empty() || rel.split('/').any(|s| s.is_empty() || s == "." || s == ".." || s.contains('\0')) {
            return None;
        }
        let mut out = String::with_capacity(rel.len() + 2);
        out.push('/');
        out.push_str(rel);
        if dir {
            out.push('/');
        }
        Some(NormPath::new(out))
    }

    /// `path` (already normal) with its dot-file flag found by a scan.
    fn new(path: String) -> NormPath {
        // Every segment follows a `/`, so a segment starting with `.` is a `/.`. A plain byte
        // scan: `str::contains` sets up a substring searcher, costlier than the whole path.
        let hidden = path.as_bytes().windows(2).any(|w| w == b"/.");
        NormPath { path, hidden }
    }

    /// The normalised path, starting with `/` (nginx's `$uri`).
    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// The path relative to the root (no leading `/`); empty for the root itself.
    pub fn relative(&self) -> &str {
        &self.path[1..]
    }

    /// True when any segment is a dot-file (`.complete`, `.git`, editor swap files).
    pub fn is_hidden(&self) -> bool {
        self.hidden
    }

    /// True for a path ending in `/`: a directory, never a file.
    pub fn is_directory(&self) -> bool {
        self.path.ends_with('/')
    }

    /// The last segment's extension, lower-cased comparisons are the caller's business.
    pub fn extension(&self) -> Option<&str> {
        // From the end: a `.` before any `/` starts the last segment's extension.
        let dot = self.path.bytes().rev().position(|b| b == b'.' || b == b'/')?;
        let at = self.path.len() - dot - 1;
        (self.path.as_bytes()[at] == b'.').then(|| &self.path[at + 1..])
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `Some(hidden)` when `raw` (starting with `/`) is already its own normal form (the common
/// case, kept to one allocation): nothing to decode, no NUL, and no empty, `.` or `..` segment
/// (so no trailing slash either, except for the root itself). `hidden`: some segment starts
/// with `.`. One pass over the bytes: this runs on every request.
fn scan_normal(raw: &[u8]) -> Option<bool> {
    if raw == b"/" {
        return Some(false);
    }
    let mut hidden = false;
    // Each segment, from just after its `/`: not empty, not `.` or `..`; no `%`, no NUL.
    let mut start = 1;
    loop {
        let mut end = start;
        while let Some(&b) = raw.get(end).filter(|&&b| b != b'/') {
            if b == b'%' || b == 0 {
                return None;
            }
            end += 1;
        }
        let segment = &raw[start..end];
        match segment.first() {
            None => return None,
            Some(b'.') if matches!(segment, b"." | b"..") => return None,
            Some(&first) => hidden |= first == b'.',
        }
        if end == raw.len() {
            return Some(hidden);
        }
        start = end + 1;
    }
}

fn percent_decode(input: &[u8]) -> Result<Vec<u8>, PathError> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        let byte = if b == b'%' {
            let hi = input.get(i + 1).copied().and_then(hex);
            let lo = input.get(i + 2).copied().and_then(hex);
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(PathError::BadEncoding);
            };
            i += 3;
            hi << 4 | lo
        } else {
            i += 1;
            b
        };
        if byte == 0 {
            return Err(PathError::Nul);
        }
        out.push(byte);
    }
    Ok(out)
}

/// `path` as it may stand in a URL: every byte outside RFC 3986's `pchar` set and `/` as `%XX`
/// (so a normalised path with spaces, `?`, `#` or non-ASCII is a valid, unambiguous target).
pub fn percent_encode(path: &str) -> String {
    const KEEP: &[u8] = b"-._~!$&'()*+,;=:@/";
    let mut out = String::with_capacity(path.len());
    for &b in path.as_bytes() {
        if b.is_ascii_alphanumeric() || KEEP.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn norm(s: &str) -> Result<String, PathError> {
        NormPath::parse(s).map(|p| p.as_str().to_string())
    }

    proptest! {
        /// A path the fast check calls normal is exactly what full normalisation makes of it.
        #[test]
        fn fast_path_is_a_fixed_point(s in "/[a-z./%0-9\\x00]{0,24}") {
            if let Some(hidden) = scan_normal(s.as_bytes()) {
                prop_assert_eq!(NormPath::normalise(&s), Ok(NormPath { path: s.clone(), hidden }));
            }
        }

        /// The byte scans agree with their definitions: the extension is what follows the last
        /// `.` of the last segment; hidden means some segment starts with `.`.
        #[test]
        fn classification_matches_its_definition(s in "/[a-zé./]{0,24}") {
            let path = NormPath::new(s.clone());
            let name = s.rsplit('/').next().unwrap_or("");
            prop_assert_eq!(path.extension(), name.rfind('.').map(|i| &name[i + 1..]));
            prop_assert_eq!(path.is_hidden(), s.split('/').skip(1).any(|seg| seg.starts_with('.')));
        }

        /// Whichever way `parse` went (the one-pass scan or the full normalisation), the
        /// dot-file flag is the definition's for the path it made.
        #[test]
        fn parsed_paths_know_their_dot_files(s in "/[a-z./%0-9]{0,24}") {
            if let Ok(path) = NormPath::parse(&s) {
                let defined = path.as_str().split('/').skip(1).any(|seg| seg.starts_with('.'));
                prop_assert_eq!(path.is_hidden(), defined);
            }
        }
    }

    #[test]
    fn nginx_uri_examples() {
        assert_eq!(norm("/live/a/index.m3u8").unwrap(), "/live/a/index.m3u8");
        assert_eq!(norm("//live///a//x.ts").unwrap(), "/live/a/x.ts");
        assert_eq!(norm("/live/./a/../b/x.ts").unwrap(), "/live/b/x.ts");
        assert_eq!(norm("/live%2Fa%2fx.ts").unwrap(), "/live/a/x.ts");
        assert_eq!(norm("/%6c%69ve/x.ts").unwrap(), "/live/x.ts");
        assert_eq!(norm("/a/%2e%2e/x.ts").unwrap(), "/x.ts");
        assert_eq!(norm("/").unwrap(), "/");
        assert_eq!(norm("/a/").unwrap(), "/a/");
        assert_eq!(norm("/a/.").unwrap(), "/a/");
        assert_eq!(norm("/a/b/..").unwrap(), "/a/");
        assert_eq!(norm("/a/..").unwrap(), "/");
        assert_eq!(norm("/sp%20ace.ts").unwrap(), "/sp ace.ts");
    }

    #[test]
    fn rejects() {
        assert_eq!(norm("/../etc/passwd"), Err(PathError::Escape));
        assert_eq!(norm("/a/../../etc"), Err(PathError::Escape));
        assert_eq!(norm("/%2e%2e/etc"), Err(PathError::Escape));
        assert_eq!(norm("/..%2f..%2fetc"), Err(PathError::Escape));
        assert_eq!(norm("/a%00.ts"), Err(PathError::Nul));
        assert_eq!(norm("/a%zz"), Err(PathError::BadEncoding));
        assert_eq!(norm("/a%4"), Err(PathError::BadEncoding));
        assert_eq!(norm("/a%"), Err(PathError::BadEncoding));
        assert_eq!(norm("/%ff"), Err(PathError::NotUtf8));
        assert_eq!(norm("a.ts"), Err(PathError::NotAbsolute));
        assert_eq!(norm("*"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn classification() {
        assert!(NormPath::parse("/a/.complete").unwrap().is_hidden());
        assert!(NormPath::parse("/.git/config").unwrap().is_hidden());
        assert!(!NormPath::parse("/a/b.ts").unwrap().is_hidden());
        assert!(NormPath::parse("/a/").unwrap().is_directory());
        assert_eq!(NormPath::parse("/a/b.m3u8").unwrap().extension(), Some("m3u8"));
        assert_eq!(NormPath::parse("/a.b/c").unwrap().extension(), None);
        assert_eq!(NormPath::parse("/a/b.ts").unwrap().relative(), "a/b.ts");
        assert_eq!(NormPath::from_fs_relative("a/b%20c.ts", false).unwrap().as_str(), "/a/b%20c.ts");
        assert_eq!(NormPath::from_fs_relative("live/x", true).unwrap().as_str(), "/live/x/");
        assert!(NormPath::from_fs_relative("", false).is_none());
        assert!(NormPath::from_fs_relative("a//b", false).is_none());
        assert!(NormPath::from_fs_relative("../b", false).is_none());
    }

    proptest! {
        #[test]
        fn normalised_paths_are_canonical(raw in "/[a-z./%0-9A-F]{0,40}") {
            if let Ok(p) = NormPath::parse(&raw) {
                let s = p.as_str();
                prop_assert!(s.starts_with('/'));
                prop_assert!(!s.contains("//"));
                prop_assert!(!s.split('/').any(|seg| seg == "." || seg == ".."));
                prop_assert!(!s.contains('\0'));
                // Normalising again changes nothing (a `%` in a file name would be decoded
                // again, so only check idempotence when there is none).
                if !s.contains('%') {
                    let again = NormPath::parse(s).unwrap();
                    prop_assert_eq!(again.as_str(), s);
                }
            }
        }

        #[test]
        fn never_panics(raw in any::<String>()) {
            let _ = NormPath::parse(&raw);
        }

        #[test]
        fn never_escapes(segs in proptest::collection::vec("(\\.\\.|\\.|[a-z]{1,3}|%2e%2e|%2F)", 0..12)) {
            let raw = format!("/{}", segs.join("/"));
            // Count depth the way a filesystem would: if the normaliser accepts, the
            // result must be a plain descendant of the root.
            if let Ok(p) = NormPath::parse(&raw) {
                prop_assert!(!p.relative().split('/').any(|s| s == ".."));
            }
        }
    }

    #[test]
    fn percent_encoding_round_trips_through_normalisation() {
        assert_eq!(percent_encode("/a b/caf\u{e9}?#%.ts"), "/a%20b/caf%C3%A9%3F%23%25.ts");
        for p in ["/live/my stream/index.m3u8", "/x/%/y", "/\u{e9}t\u{e9}/a+b.ts"] {
            assert_eq!(NormPath::parse(&percent_encode(p)).unwrap().as_str(), p);
        }
    }
}
