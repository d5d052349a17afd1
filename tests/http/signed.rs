//! Signed playlists that sign their children, CDN-only access, and 403/410.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::{Response, TestServer};

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

async fn signed_server(mode: &str) -> TestServer {
    let extra = format!("[secure_link]\nmode = \"{mode}\"\nsecret = \"s3cret\"\nprotect = [\"/secure/\"]\nchild_expiry_bucket = \"5m\"\n");
    let s = TestServer::start_with(&extra).await;
    // The whole fixture tree again, under a protected prefix.
    std::fs::create_dir(s.path("secure")).unwrap();
    for entry in ["master.m3u8", "vod_ts", "fmp4"] {
        let from = s.path(entry);
        let to = s.path(&format!("secure/{entry}"));
        if from.is_dir() {
            std::fs::create_dir(&to).unwrap();
            for f in std::fs::read_dir(&from).unwrap() {
                let f = f.unwrap();
                std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
            }
        } else {
            std::fs::copy(from, to).unwrap();
        }
    }
    s
}

fn sign(s: &TestServer, path: &str, ttl: u64, at: i64) -> String {
    s.state.config.policy.secure_link.as_ref().unwrap().sign_path(path, ttl, at, None).unwrap()
}

/// Every URI a playlist lists: URI lines and `URI="…"` attributes.
fn child_uris(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            if let Some(i) = line.find("URI=\"") {
                let rest = &line[i + 5..];
                out.push(rest[..rest.find('"').unwrap()].to_string());
            }
        } else if !line.trim().is_empty() {
            out.push(line.trim().to_string());
        }
    }
    out
}

fn resolve(base: &str, uri: &str) -> String {
    format!("{}{uri}", &base[..base.rfind('/').unwrap() + 1])
}

async fn walk(s: &TestServer, playlist_target: &str, fetched: &mut usize) {
    let r: Response = s.get(playlist_target).await;
    assert_eq!(r.status, 200, "{playlist_target}");
    let base = playlist_target.split('?').next().unwrap();
    for uri in child_uris(&r.text()) {
        assert!(uri.contains("md5=") || uri.contains("st="), "unsigned child {uri} in {playlist_target}");
        let target = resolve(base, &uri);
        *fetched += 1;
        if uri.split('?').next().unwrap().ends_with(".m3u8") {
            Box::pin(walk(s, &target, fetched)).await;
        } else {
            assert_eq!(s.get(&target).await.status, 200, "{target}");
            let unsigned = target.split('?').next().unwrap();
            assert_eq!(s.get(unsigned).await.status, 403, "{unsigned}");
            let tampered = target.replacen("md5=", "md5=A", 1).replacen("st=", "st=A", 1);
            assert_eq!(s.get(&tampered).await.status, 403, "{tampered}");
        }
    }
}

#[tokio::test]
async fn a_signed_master_signs_every_child_down_to_the_segments() {
    for mode in ["md5", "hmac"] {
        let s = signed_server(mode).await;
        let master = sign(&s, "/secure/master.m3u8", 3600, now());
        let mut fetched = 0;
        walk(&s, &master, &mut fetched).await;
        // 2 variants + 3 TS segments + init + 3 fMP4 segments.
        assert_eq!(fetched, 9, "{mode}");
        assert_eq!(s.get("/secure/master.m3u8").await.status, 403);
        assert_eq!(s.get("/secure/vod_ts/seg0.ts").await.status, 403);
    }
}

#[tokio::test]
async fn viewers_in_the_same_bucket_get_byte_identical_playlists() {
    let s = signed_server("md5").await;
    // Two viewers with different parent links (both expiring well after the bucket).
    let started = now();
    let a = s.get(&sign(&s, "/secure/vod_ts/index.m3u8", 7200, started)).await;
    let b = s.get(&sign(&s, "/secure/vod_ts/index.m3u8", 9000, started - 5)).await;
    let ended = now();
    assert_eq!(a.status, 200);
    // Only a bucket boundary (every 5 minutes) between the fetches may change the bytes.
    if started / 300 == ended / 300 {
        assert_eq!(a.body, b.body);
        assert_eq!(a.header("etag"), b.header("etag"));
    }
    // The signed bytes differ from the file, and so does the validator.
    let raw = std::fs::read(s.path("secure/vod_ts/index.m3u8")).unwrap();
    assert_ne!(a.body, raw);
    assert_eq!(a.header("content-length").unwrap(), a.body.len().to_string());
}

#[tokio::test]
async fn children_never_outlive_the_parent() {
    let s = signed_server("md5").await;
    let r = s.get(&sign(&s, "/secure/vod_ts/index.m3u8", 30, now())).await;
    let parent_expires = now() + 30;
    for uri in child_uris(&r.text()) {
        let e: i64 = uri.rsplit("expires=").next().unwrap().parse().unwrap();
        assert!(e <= parent_expires + 1, "{uri}");
    }
}

#[tokio::test]
async fn expired_is_410_and_bad_is_403() {
    let s = signed_server("md5").await;
    let expired = sign(&s, "/secure/vod_ts/seg0.ts", 10, now() - 100);
    assert_eq!(s.get(&expired).await.status, 410);
    let tampered = expired.replacen("md5=", "md5=B", 1);
    assert_eq!(s.get(&tampered).await.status, 403);
    assert_eq!(s.get("/vod_ts/seg0.ts").await.status, 200, "unprotected paths need nothing");
}

#[tokio::test]
async fn require_header_admits_only_the_cdn() {
    let s = TestServer::start_with("require_header = \"X-Origin-Token: t0ken-value\"\n").await;
    assert_eq!(s.get("/vod_ts/seg0.ts").await.status, 403);
    let wrong = s
        .send("GET /vod_ts/seg0.ts HTTP/1.1\r\nHost: t\r\nX-Origin-Token: t0ken-valuf\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(wrong.status, 403);
    let right = s
        .send("GET /vod_ts/seg0.ts HTTP/1.1\r\nHost: t\r\nx-origin-token: t0ken-value\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(right.status, 200);
}

#[tokio::test]
async fn a_signed_playlist_is_cacheable_no_longer_than_its_children_are_valid() {
    let s = signed_server("md5").await;
    // Unsigned, the VOD playlist is cached for a day...
    assert_eq!(s.get("/vod_ts/index.m3u8").await.header("cache-control"), Some("public, max-age=86400"));
    // ...signed, its children expire at the end of the next 5-minute bucket (300-600 s from
    // now), so a CDN copy must expire at least 10 s before that.
    let at = now();
    let r = s.get(&sign(&s, "/secure/vod_ts/index.m3u8", 7200, at)).await;
    assert_eq!(r.status, 200);
    let cc = r.header("cache-control").unwrap().to_string();
    let age: i64 = cc.strip_prefix("public, max-age=").unwrap().parse().unwrap();
    let bucket_end = at - at.rem_euclid(300) + 600;
    assert!(age <= bucket_end - at - 10 + 1 && age >= 300 - 10 - 2, "{cc} at {at}");
    // A parent link that expires sooner caps it further.
    let r = s.get(&sign(&s, "/secure/vod_ts/index.m3u8", 60, at)).await;
    let age: i64 = r.header("cache-control").unwrap().strip_prefix("public, max-age=").unwrap().parse().unwrap();
    assert!(age <= 50, "max-age {age} with a parent valid for 60 s");
    // A live playlist's own max-age (half its target) is already shorter: unchanged.
    let live = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:9\n#EXTINF:4.0,\nseg9.ts\n";
    std::fs::write(s.path("secure/live.m3u8"), live).unwrap();
    let r = s.get(&sign(&s, "/secure/live.m3u8", 7200, at)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("public, max-age=2"));
}

#[tokio::test]
async fn a_signed_playlist_is_compressed_as_signed() {
    let s = signed_server("md5").await;
    let link = sign(&s, "/secure/vod_ts/index.m3u8", 3600, now());
    let plain = s.get(&link).await;
    let raw = format!("GET {link} HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n");
    let packed = s.send(&raw).await;
    assert_eq!((plain.status, packed.status), (200, 200));
    assert_eq!(packed.header("content-encoding"), Some("gzip"));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&packed.body[..]), &mut text).unwrap();
    assert_eq!(text, plain.text(), "the gzip body is the signed variant, children signed");
    assert!(child_uris(&text).iter().all(|u| u.contains("md5=")), "{text}");
}
