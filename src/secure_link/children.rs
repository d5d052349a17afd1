//! Playlists that sign their children: every URI in a protected playlist fetched with a valid
//! signature (segment lines, variant playlists, and `URI="…"` attributes of `EXT-X-MAP`,
//! `EXT-X-KEY`, `EXT-X-MEDIA`, `EXT-X-I-FRAME-STREAM-INF`, …) gets its own signature. Expiries
//! are rounded to a bucket so every viewer in the same bucket gets byte-identical playlists.
//! Pure: the caller memoises the result per playlist version.

use super::{Mode, Request, SecureLink};
use crate::path::NormPath;

/// When children signed now expire, and the HMAC timestamp they carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChildExpiry {
    /// Expiry of child links (Unix seconds).
    pub until: i64,
    /// Issue time for HMAC links (the bucket start).
    pub issued: i64,
}

/// Children expire at the end of the bucket after the current one (so every link is valid for
/// at least one whole bucket), never after the parent link does.
pub fn child_expiry(bucket_secs: u64, parent_until: Option<i64>, now: i64) -> ChildExpiry {
    let bucket = i64::try_from(bucket_secs.max(1)).unwrap_or(i64::MAX / 4);
    let start = now - now.rem_euclid(bucket);
    let until = start.saturating_add(bucket.saturating_mul(2));
    ChildExpiry { until: parent_until.map_or(until, |p| until.min(p)), issued: start }
}

/// Rewrites every signable URI in `playlist` (fetched as `path` by `parent`).
pub fn rewrite(link: &SecureLink, playlist: &[u8], parent: Request<'_>, expiry: ChildExpiry) -> Vec<u8> {
    let host = parent.headers.host();
    let signer = Signer { link, parent, expiry, host };
    let text = String::from_utf8_lossy(playlist);
    let mut out = String::with_capacity(playlist.len() + 64 * 16);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let (body, cr) = line.strip_suffix('\r').map_or((line, ""), |b| (b, "\r"));
        if body.starts_with('#') {
            out.push_str(&signer.tag(body));
        } else if body.trim().is_empty() {
            out.push_str(body);
        } else {
            out.push_str(&signer.uri(body.trim()).unwrap_or_else(|| body.to_string()));
        }
        out.push_str(cr);
    }
    out.into_bytes()
}

struct Signer<'a> {
    link: &'a SecureLink,
    parent: Request<'a>,
    expiry: ChildExpiry,
    host: Option<&'a str>,
}

impl Signer<'_> {
    /// Signs the value of every `URI="…"` attribute of a tag line (RFC 8216 §4.2).
    fn tag(&self, line: &str) -> String {
        let mut out = String::with_capacity(line.len() + 64);
        let mut rest = line;
        while let Some(i) = rest.find("URI=\"") {
            let value_start = i + 5;
            let Some(len) = rest[value_start..].find('"') else { break };
            out.push_str(&rest[..value_start]);
            let uri = &rest[value_start..value_start + len];
            out.push_str(&self.uri(uri).unwrap_or_else(|| uri.to_string()));
            rest = &rest[value_start + len..];
        }
        out.push_str(rest);
        out
    }

    /// The signed form of one URI, or `None` to leave it alone (another host, unparsable, or
    /// not protected).
    fn uri(&self, uri: &str) -> Option<String> {
        let (uri, fragment) = uri.split_once('#').map_or((uri, None), |(u, f)| (u, Some(f)));
        let (target, query) = uri.split_once('?').map_or((uri, None), |(t, q)| (t, Some(q)));
        let (origin, path) = self.split_origin(target)?;
        let resolved = if path.starts_with('/') {
            path.to_string()
        } else {
            let base = self.parent.path.as_str();
            format!("{}{path}", &base[..base.rfind('/').map_or(0, |i| i + 1)])
        };
        let norm = NormPath::parse(&resolved).ok()?;
        if !self.link.protects(&norm) {
            return None;
        }
        let request = Request { path: &norm, ..self.parent };
        let signature = self.link.sign(request, self.expiry.until, self.expiry.issued);
        let mut out = format!("{origin}{path}?");
        for kept in query.into_iter().flat_map(|q| q.split('&')).filter(|a| !a.is_empty() && !self.is_signature_arg(a))
        {
            out.push_str(kept);
            out.push('&');
        }
        out.push_str(&signature);
        if let Some(f) = fragment {
            out.push('#');
            out.push_str(f);
        }
        Some(out)
    }

    /// Splits `scheme://host` (or `//host`) off an absolute URL to this host; `None` for a URL
    /// to another host.
    fn split_origin<'u>(&self, target: &'u str) -> Option<(&'u str, &'u str)> {
        let after_scheme = match target.find("://") {
            Some(i) if target[..i].bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) => i + 3,
            _ if target.starts_with("//") => 2,
            _ => return Some(("", target)),
        };
        let host_end = target[after_scheme..].find('/').map_or(target.len(), |i| after_scheme + i);
        let host = &target[after_scheme..host_end];
        let ours = self.host.is_some_and(|h| h.eq_ignore_ascii_case(host));
        ours.then(|| (&target[..host_end], &target[host_end..])).filter(|(_, p)| !p.is_empty())
    }

    /// Arguments of an existing signature are replaced, not duplicated (nginx reads the first).
    fn is_signature_arg(&self, arg: &str) -> bool {
        let name = arg.split('=').next().unwrap_or_default();
        let own: [&str; 3] = match &self.link.mode {
            Mode::Md5 { md5_arg, expires_arg, .. } => [md5_arg, expires_arg, md5_arg],
            Mode::Hmac { token_arg, timestamp_arg, expires_arg, .. } => [token_arg, timestamp_arg, expires_arg],
        };
        own.iter().any(|o| !o.is_empty() && o.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::super::template::Template;
    use super::super::{Secret, Verdict};
    use super::*;
    use crate::request::Fields;
    use http::HeaderMap;
    use std::time::Duration;

    fn link() -> SecureLink {
        SecureLink {
            mode: Mode::Md5 {
                expression: Template::parse("$secure_link_expires$uri $secret").unwrap(),
                md5_arg: "md5".into(),
                expires_arg: "expires".into(),
            },
            secret: Secret(b"k".to_vec()),
            protect: vec!["/secure/".into()],
            sign_children: true,
            child_bucket: Duration::from_secs(300),
        }
    }

    #[test]
    fn expiry_buckets() {
        assert_eq!(child_expiry(300, None, 1000), ChildExpiry { until: 1500, issued: 900 });
        assert_eq!(child_expiry(300, None, 1199), ChildExpiry { until: 1500, issued: 900 });
        assert_eq!(child_expiry(300, None, 1200), ChildExpiry { until: 1800, issued: 1200 });
        assert_eq!(child_expiry(300, Some(1100), 1000), ChildExpiry { until: 1100, issued: 900 });
    }

    #[test]
    fn rewrites_every_uri_and_the_results_verify() {
        let l = link();
        let playlist = "#EXTM3U\r\n#EXT-X-MAP:URI=\"init.mp4\"\r\n#EXT-X-KEY:METHOD=AES-128,URI=\"/secure/keys/k.key\",IV=0x1\r\n#EXTINF:4,\r\nseg1.m4s\r\n#EXTINF:4,\r\n../other/seg2.m4s?x=1&md5=old\r\n#EXTINF:4,\r\nhttps://cdn.example/secure/a/seg3.m4s\r\nhttps://origin.example/secure/a/seg4.m4s#t\r\n/public/seg5.m4s\r\n";
        let path = NormPath::parse("/secure/a/index.m3u8").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("host", "origin.example".parse().unwrap());
        let parent = Request { path: &path, query: "", headers: Fields::Map(&headers), remote: None };
        let out =
            String::from_utf8(rewrite(&l, playlist.as_bytes(), parent, ChildExpiry { until: 2000, issued: 1700 }))
                .unwrap();
        assert!(out.contains("#EXT-X-MAP:URI=\"init.mp4?md5="), "{out}");
        assert!(out.contains("URI=\"/secure/keys/k.key?md5="), "{out}");
        assert!(out.contains("\r\nseg1.m4s?md5="), "{out}");
        assert!(out.contains("../other/seg2.m4s?x=1&md5="), "{out}");
        assert!(!out.contains("md5=old"), "{out}");
        assert!(out.contains("https://cdn.example/secure/a/seg3.m4s\r\n"), "other hosts untouched: {out}");
        assert!(out.contains("https://origin.example/secure/a/seg4.m4s?md5="), "{out}");
        assert!(out.contains("&expires=2000#t"), "{out}");
        assert!(out.contains("\r\n/public/seg5.m4s\r\n"), "unprotected untouched: {out}");
        // Every signed child verifies as the request the player will make.
        for (uri, resolved) in [("seg1.m4s", "/secure/a/seg1.m4s"), ("../other/seg2.m4s", "/secure/other/seg2.m4s")] {
            let line = out.lines().find(|l| l.starts_with(uri)).unwrap().trim_end();
            let query = line.split_once('?').unwrap().1;
            let p = NormPath::parse(resolved).unwrap();
            let got = l.verify(Request { path: &p, query, headers: Fields::Map(&headers), remote: None }, 1999);
            assert_eq!(got, Verdict::Valid { until: Some(2000) }, "{line}");
        }
    }
}
