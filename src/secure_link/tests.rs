//! Vectors computed with `echo -n "$EXPIRES$URI$SECRET" | openssl md5 -binary | openssl base64 |
//! tr +/ -_ | tr -d =` (and the space / `$remote_addr` / HMAC-SHA256 variants), plus nginx's
//! edge cases.

use std::net::IpAddr;
use std::time::Duration;

use http::HeaderMap;
use proptest::prelude::*;

use super::*;

const NOW: i64 = 1_800_000_000;

fn md5_link(expression: &str, secret: &str) -> SecureLink {
    SecureLink {
        mode: Mode::Md5 {
            expression: Template::parse(expression).unwrap(),
            md5_arg: "md5".into(),
            expires_arg: "expires".into(),
        },
        secret: Secret(secret.as_bytes().to_vec()),
        protect: vec!["/".into()],
        sign_children: true,
        child_bucket: Duration::from_secs(300),
    }
}

fn check(link: &SecureLink, uri: &str, query: &str, remote: Option<&str>, now: i64) -> Verdict {
    let path =
        NormPath::from_fs_relative(uri.trim_start_matches('/'), false).unwrap_or_else(|| NormPath::parse("/").unwrap());
    let headers = HeaderMap::new();
    let remote: Option<IpAddr> = remote.map(|r| r.parse().unwrap());
    link.verify(Request { path: &path, query, headers: Fields::Map(&headers), remote }, now)
}

/// (expires, uri, secret, token) for "$secure_link_expires$uri$secret".
const PLAIN: &[(&str, &str, &str, &str)] = &[
    ("2147483647", "/s/a.ts", "secret", "UD_fODqwCk5fayzg50OLAA"),
    ("1700000000", "/live/x/index.m3u8", "change-me", "Hgj5kMiKluHc4oFNYThU0w"),
    ("99999999999", "/secure/v/seg_001.ts", "p@ss w0rd", "hJgrX_VGipOoEXB07bEvqQ"),
    ("1700000000", "/sp ace/é.ts", "s", "U3_u9UjNqNlC95vkNuOcUw"),
    ("4102444800", "/secure/master.m3u8", "0123456789abcdef", "wMLCv4Y_bulDHR3YENhiXg"),
    ("1234567890", "/a/b/c/d/e/f.m4s", "x", "ZpbOLacgj3X__Wcmaztd2w"),
    ("1700000001", "/secure/init.mp4", "longsecret-longsecret-longsecret-longsecret", "SWVBx81kdf-wVXNH2ePTbw"),
    ("1700000000", "/UPPER/Case.TS", "Secret", "fSTiC7UjQ-qvY8LtP4AB_w"),
    ("1700000000", "/x.ts", "", "F7jkmi1j4IMNUI8_bePQIw"),
    ("1893456000", "/secure/live/720p/index.m3u8", "Zm9vYmFy", "SI5CLSQZNssiPOzpBETxZQ"),
    ("1700000000", "/secure/live/720p/segment_00001234.ts", "change-me", "pq46F_Rzt5XwfRwqcx6Qmw"),
    ("2000000000", "/vod/movie/1080p/init.mp4", "s", "-2XaxGgf3Vd-ShkNc-mKbw"),
    ("1700000000", "/secure/audio/en/seg1.aac", "secret", "sTJZadQIGQ5l423BSiuYaw"),
    ("1700003600", "/secure/subs/en/seg1.vtt", "secret", "Dg7il76qwzocq2QVZRwVbw"),
];

/// The same with "$secure_link_expires$uri $secret".
const SPACED: &[(&str, &str, &str, &str)] = &[
    ("1700000000", "/secure/a.ts", "mysecret", "o_aeQXalHbKLsKga71lKrg"),
    ("2000000000", "/live/b/index.m3u8", "s3cr3t", "3EJMbQDF2dECom_EEhOD3w"),
    ("1", "/x", "y", "pgA3z2Ubl5W8bWIhkV9RFg"),
    ("1700000000", "/secure/x/y.ts", "with space", "V2xJH6PT38LQ9QND_HHnlg"),
];

/// (expires, uri, remote_addr, secret, token) for "$secure_link_expires$uri$remote_addr $secret".
const WITH_ADDR: &[(&str, &str, &str, &str, &str)] = &[
    ("1700000000", "/secure/a.ts", "127.0.0.1", "mysecret", "NazqyU9_6h1cdg0pTP5Sjw"),
    ("2000000000", "/secure/b.ts", "10.1.2.3", "k", "dnP90kqXyRi9Lq9QY8aSRw"),
    ("1700000000", "/s/c.ts", "::1", "secret", "hZyPama3YoWj8vRiNuqX1w"),
    ("1900000000", "/s/d.m3u8", "192.168.100.200", "x y", "U3W4uzYPFMFDSgWREpgq2g"),
];

fn expected(expires: &str) -> Verdict {
    let e: i64 = expires.parse().unwrap();
    if e < NOW {
        Verdict::Expired
    } else {
        Verdict::Valid { until: Some(e) }
    }
}

#[test]
fn openssl_vectors_plain_spaced_and_remote_addr() {
    for (e, uri, secret, token) in PLAIN {
        let link = md5_link("$secure_link_expires$uri$secret", secret);
        assert_eq!(check(&link, uri, &format!("md5={token}&expires={e}"), None, NOW), expected(e), "{uri}");
    }
    for (e, uri, secret, token) in SPACED {
        let link = md5_link("$secure_link_expires$uri $secret", secret);
        assert_eq!(check(&link, uri, &format!("md5={token}&expires={e}"), None, NOW), expected(e), "{uri}");
    }
    for (e, uri, addr, secret, token) in WITH_ADDR {
        let link = md5_link("$secure_link_expires$uri$remote_addr $secret", secret);
        let q = format!("md5={token}&expires={e}");
        assert_eq!(check(&link, uri, &q, Some(addr), NOW), expected(e), "{uri}");
        assert_eq!(check(&link, uri, &q, Some("203.0.113.9"), NOW), Verdict::Invalid, "other client");
    }
}

#[test]
fn signing_reproduces_the_vectors() {
    for (e, uri, secret, token) in PLAIN.iter().chain(SPACED) {
        let expression = if SPACED.iter().any(|s| s.3 == *token) {
            "$secure_link_expires$uri $secret"
        } else {
            "$secure_link_expires$uri$secret"
        };
        let link = md5_link(expression, secret);
        let path = NormPath::from_fs_relative(uri.trim_start_matches('/'), false).unwrap();
        let headers = HeaderMap::new();
        let q = link.sign(
            Request { path: &path, query: "", headers: Fields::Map(&headers), remote: None },
            e.parse().unwrap(),
            0,
        );
        assert_eq!(q, format!("md5={token}&expires={e}"));
    }
}

#[test]
fn nginx_edge_cases() {
    let link = md5_link("$secure_link_expires$uri$secret", "secret");
    let (e, uri, token) = ("2147483647", "/s/a.ts", "UD_fODqwCk5fayzg50OLAA");
    let ok = Verdict::Valid { until: Some(2_147_483_647) };
    // Padding is optional; anything after the first '=' is ignored; over 24 characters is not.
    assert_eq!(check(&link, uri, &format!("md5={token}==&expires={e}"), None, NOW), ok);
    assert_eq!(check(&link, uri, &format!("md5={token}=&expires={e}"), None, NOW), ok);
    assert_eq!(check(&link, uri, &format!("md5={token}=x&expires={e}"), None, NOW), ok);
    assert_eq!(check(&link, uri, &format!("md5={token}===&expires={e}"), None, NOW), Verdict::Invalid);
    assert_eq!(check(&link, uri, &format!("md5={token}A&expires={e}"), None, NOW), Verdict::Invalid);
    // Unused trailing bits: the last character 'A' (000000) and 'D' (000011) decode alike.
    assert_eq!(check(&link, uri, &format!("md5={}D&expires={e}", &token[..21]), None, NOW), ok);
    // Standard base64 characters are not base64url.
    assert_eq!(check(&link, uri, &format!("md5={}+&expires={e}", &token[..21]), None, NOW), Verdict::Invalid);
    // Missing or malformed pieces.
    assert_eq!(check(&link, uri, &format!("expires={e}"), None, NOW), Verdict::Invalid);
    assert_eq!(check(&link, uri, &format!("md5={token}"), None, NOW), Verdict::Invalid);
    assert_eq!(check(&link, uri, "", None, NOW), Verdict::Invalid);
    for bad in ["-1", "0", "+2147483647", "2147483647x", " 2147483647", "99999999999999999999"] {
        assert_eq!(check(&link, uri, &format!("md5={token}&expires={bad}"), None, NOW), Verdict::Invalid, "{bad}");
    }
    // Query arguments are used as sent: a percent-encoded token is a different token.
    assert_eq!(check(&link, uri, &format!("md5={}%5F&expires={e}", &token[..21]), None, NOW), Verdict::Invalid);
    // Argument names match case-insensitively, the first occurrence wins.
    assert_eq!(check(&link, uri, &format!("MD5={token}&EXPIRES={e}"), None, NOW), ok);
    assert_eq!(check(&link, uri, &format!("md5={token}&expires={e}&md5=x"), None, NOW), ok);
    assert_eq!(check(&link, uri, &format!("xmd5=x&md5={token}&expires={e}"), None, NOW), ok);
}

#[test]
fn hash_is_checked_before_expiry_and_expiry_is_inclusive() {
    let link = md5_link("$secure_link_expires$uri$secret", "change-me");
    let (uri, token) = ("/live/x/index.m3u8", "Hgj5kMiKluHc4oFNYThU0w");
    let q = format!("md5={token}&expires=1700000000");
    assert_eq!(check(&link, uri, &q, None, 1_700_000_000), Verdict::Valid { until: Some(1_700_000_000) });
    assert_eq!(check(&link, uri, &q, None, 1_700_000_001), Verdict::Expired);
    // Wrong hash and expired: 403, not 410.
    assert_eq!(check(&link, uri, "md5=Hgj5kMiKluHc4oFNYThU0A&expires=1700000000", None, NOW), Verdict::Invalid);
    assert_eq!(check(&link, "/live/x/other.m3u8", &q, None, NOW), Verdict::Invalid);
}

fn hmac_link(secret: &str) -> SecureLink {
    SecureLink {
        mode: Mode::Hmac {
            message: Template::parse("$uri|$arg_ts|$arg_e").unwrap(),
            token_arg: "st".into(),
            timestamp_arg: "ts".into(),
            expires_arg: "e".into(),
        },
        ..md5_link("$uri", secret)
    }
}

#[test]
fn hmac_vectors() {
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        ("/secure/a.ts", "1700000000", "3600", "shhhhh", "pB0ZpqazSqJxWTMj4pQJIcFHcydmfEJRO-oJq4cn3dI"),
        ("/t", "2024-01-01T00:00:00Z", "60", "testsecret", "GOiq0TfloqmI6ocXtCRMRCMFh4cCH_rrwXa9Hr2hpI4"),
        ("/live/x/index.m3u8", "1700000000", "0", "k", "YGzRVupabDozACogbpeFFN7JJC4JXXs4hI7AgtGV_bI"),
    ];
    for (uri, ts, e, secret, token) in cases {
        let link = hmac_link(secret);
        let q = format!("st={token}&ts={ts}&e={e}");
        let start = timestamp::parse_timestamp(ts).unwrap();
        let lifetime: i64 = e.parse().unwrap();
        let until = (lifetime > 0).then_some(start + lifetime);
        assert_eq!(check(&link, uri, &q, None, start), Verdict::Valid { until }, "{uri}");
        let later = check(&link, uri, &q, None, start + lifetime + 1);
        assert_eq!(later, if lifetime > 0 { Verdict::Expired } else { Verdict::Valid { until: None } });
        assert_eq!(check(&link, uri, &format!("st={token}&ts={ts}&e=1{e}"), None, start), Verdict::Invalid);
        assert_eq!(check(&link, uri, &format!("st={token}&ts={ts}"), None, start), Verdict::Invalid);
    }
}

proptest! {
    #[test]
    fn sign_then_verify_round_trips(uri in "/[a-z0-9_]{1,12}(/[a-z0-9_.]{1,12}){0,3}", secret in "[ -~]{0,32}", until in 1i64..4_000_000_000, hmac in any::<bool>()) {
        let link = if hmac { hmac_link(&secret) } else { md5_link("$secure_link_expires$uri $secret", &secret) };
        let path = NormPath::parse(&uri).unwrap();
        let headers = HeaderMap::new();
        let q = link.sign(Request { path: &path, query: "", headers: Fields::Map(&headers), remote: None }, until, until - 10);
        let got = link.verify(Request { path: &path, query: &q, headers: Fields::Map(&headers), remote: None }, until - 10);
        prop_assert_eq!(got, Verdict::Valid { until: Some(until) });
    }

    #[test]
    fn any_single_character_change_is_rejected(uri in "/[a-z]{1,8}/[a-z0-9]{1,8}\\.ts", pos in any::<prop::sample::Index>(), c in "[A-Za-z0-9_./-]", in_token in any::<bool>()) {
        let link = md5_link("$secure_link_expires$uri$secret", "k3y");
        let headers = HeaderMap::new();
        let path = NormPath::parse(&uri).unwrap();
        let q = link.sign(Request { path: &path, query: "", headers: Fields::Map(&headers), remote: None }, 4_000_000_000, 0);
        let token = q.split('&').next().unwrap().trim_start_matches("md5=").to_string();
        let (path2, token2) = if in_token {
            let mut t: Vec<char> = token.chars().collect();
            let i = pos.index(t.len());
            // The last character carries 4 unused bits; change a character whose bits all count.
            let i = if i == t.len() - 1 { i - 1 } else { i };
            t[i] = c.chars().next().unwrap();
            (uri.clone(), t.into_iter().collect::<String>())
        } else {
            let mut u: Vec<char> = uri.chars().collect();
            let i = 1 + pos.index(u.len() - 1);
            u[i] = c.chars().next().unwrap();
            (u.into_iter().collect::<String>(), token.clone())
        };
        prop_assume!(path2 != uri || token2 != token);
        let p2 = match NormPath::parse(&path2) { Ok(p) => p, Err(_) => return Ok(()) };
        prop_assume!(p2.as_str() != uri || token2 != token);
        let got = link.verify(Request { path: &p2, query: &format!("md5={token2}&expires=4000000000"), headers: Fields::Map(&headers), remote: None }, 0);
        prop_assert_eq!(got, Verdict::Invalid);
    }

    #[test]
    fn verify_never_panics(query in "[a-zA-Z0-9_=&,%+-]{0,80}", hmac in any::<bool>()) {
        let link = if hmac { hmac_link("s") } else { md5_link("$secure_link_expires$uri$secret", "s") };
        let _ = check(&link, "/a.ts", &query, None, NOW);
    }
}

#[test]
fn access_log_targets_are_redacted() {
    let link = md5_link("$secure_link_expires$uri $secret", "s");
    assert_eq!(link.redact("/s/a.ts?md5=abc&expires=123&x=1"), "/s/a.ts?md5=REDACTED&expires=REDACTED&x=1");
    assert_eq!(link.redact("/s/a.ts?MD5=abc"), "/s/a.ts?MD5=REDACTED");
    assert!(matches!(link.redact("/s/a.ts?x=1"), std::borrow::Cow::Borrowed(_)));
    assert_eq!(link.redact("/s/a.ts"), "/s/a.ts");
}
