//! Content types, Cache-Control, ETag / Last-Modified / CORS headers, HEAD.

use std::time::{Duration, SystemTime};

use crate::support::TestServer;

#[tokio::test]
async fn content_types_and_bytes_match_the_files() {
    let s = TestServer::start().await;
    for (path, ct) in [
        ("/vod_ts/index.m3u8", "application/vnd.apple.mpegurl"),
        ("/vod_ts/seg0.ts", "video/mp2t"),
        ("/fmp4/seg1.m4s", "video/iso.segment"),
        ("/fmp4/init.mp4", "video/mp4"),
        ("/audio.m4a", "audio/mp4"),
        ("/audio.aac", "audio/aac"),
        ("/subs.vtt", "text/vtt"),
        ("/enc.key", "application/octet-stream"),
    ] {
        let r = s.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some(ct), "{path}");
        assert_eq!(r.body, std::fs::read(s.path(&path[1..])).unwrap(), "{path}");
        assert_eq!(r.header("content-length").unwrap(), r.body.len().to_string());
    }
}

fn max_age(cache_control: &str) -> u64 {
    cache_control
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no max-age in {cache_control:?}"))
}

#[tokio::test]
async fn live_playlist_is_cached_at_most_half_its_target_duration() {
    let s = TestServer::start().await;
    let r = s.get("/live_ts/index.m3u8").await;
    let target = 2;
    assert!(max_age(r.header("cache-control").unwrap()) * 2 <= target);
    for target in [1u64, 4, 6, 10] {
        let text =
            format!("#EXTM3U\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:{target}.0,\nseg1.ts\n");
        std::fs::write(s.path(&format!("live_ts/t{target}.m3u8")), text).unwrap();
        let r = s.get(&format!("/live_ts/t{target}.m3u8")).await;
        let age = max_age(r.header("cache-control").unwrap());
        assert!(age * 2 <= target, "target {target}: max-age {age}");
    }
}

#[tokio::test]
async fn vod_playlists_segments_and_init_are_cached_long() {
    let s = TestServer::start().await;
    for path in ["/vod_ts/index.m3u8", "/fmp4/index.m3u8", "/vod_ts/seg1.ts", "/fmp4/seg0.m4s", "/fmp4/init.mp4"] {
        let r = s.get(path).await;
        assert!(max_age(r.header("cache-control").unwrap()) >= 3600, "{path}: {:?}", r.header("cache-control"));
    }
}

#[tokio::test]
async fn every_file_has_validators_ranges_and_cors() {
    let s = TestServer::start().await;
    let r = s.get("/vod_ts/seg0.ts").await;
    assert!(r.header("etag").unwrap().starts_with('"'));
    let modified = std::fs::metadata(s.path("vod_ts/seg0.ts")).unwrap().modified().unwrap();
    assert_eq!(r.header("last-modified").unwrap(), httpdate::fmt_http_date(modified));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-expose-headers"), Some("Content-Length, Content-Range"));
}

#[tokio::test]
async fn cors_is_configurable() {
    let s = TestServer::start_with("[http]\ncors_allow_origin = \"https://player.example\"\n").await;
    let r = s.get("/vod_ts/seg0.ts").await;
    assert_eq!(r.header("access-control-allow-origin"), Some("https://player.example"));
    let s = TestServer::start_with("[http]\ncors = false\n").await;
    let r = s.get("/vod_ts/seg0.ts").await;
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn etag_changes_on_a_same_second_same_size_rewrite() {
    let s = TestServer::start().await;
    let path = s.path("live_ts/rewrite.m3u8");
    let stamp = SystemTime::now() - Duration::from_secs(5);
    let write = |body: &str| {
        std::fs::write(&path, body).unwrap();
        // Pin the mtime so both versions share it exactly, as a same-second rewrite does.
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(stamp).unwrap();
    };
    write("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na1.ts\n");
    let first = s.get("/live_ts/rewrite.m3u8").await;
    write("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na2.ts\n");
    // The change reaches the cache through inotify; poll until it has.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let second = loop {
        let r = s.get("/live_ts/rewrite.m3u8").await;
        if r.text().contains("a2.ts") || std::time::Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(first.header("last-modified"), second.header("last-modified"));
    assert_eq!(first.body.len(), second.body.len());
    assert_ne!(first.header("etag"), second.header("etag"));
    assert!(second.text().contains("a2.ts"));
}

#[tokio::test]
async fn head_has_the_get_headers_and_no_body() {
    let s = TestServer::start().await;
    for path in ["/vod_ts/seg2.ts", "/vod_ts/index.m3u8", "/missing.ts"] {
        let get = s.get(path).await;
        let head = s.send(&format!("HEAD {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")).await;
        assert_eq!(head.status, get.status);
        assert!(head.body.is_empty());
        for name in ["content-type", "content-length", "etag", "last-modified", "cache-control", "accept-ranges"] {
            assert_eq!(head.header(name), get.header(name), "{path}: {name}");
        }
    }
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out).unwrap();
    out
}

#[tokio::test]
async fn playlists_are_gzipped_for_clients_that_accept_it_with_their_own_etag() {
    let s = TestServer::start().await;
    let get = |extra: &str| format!("GET /vod_ts/index.m3u8 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{extra}\r\n");
    let plain = s.send(&get("")).await;
    let packed = s.send(&get("Accept-Encoding: br, gzip;q=0.8\r\n")).await;
    assert_eq!((plain.status, packed.status), (200, 200));
    assert_eq!(packed.header("content-encoding"), Some("gzip"));
    assert_eq!(plain.header("content-encoding"), None);
    for r in [&plain, &packed] {
        assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{:?}", r.headers);
    }
    assert!(packed.body.len() < plain.body.len());
    assert_eq!(gunzip(&packed.body), plain.body, "gzip round-trips to the identity bytes");
    let (plain_tag, packed_tag) = (plain.header("etag").unwrap(), packed.header("etag").unwrap());
    assert_ne!(plain_tag, packed_tag);
    assert_eq!(packed.header("content-length").unwrap(), packed.body.len().to_string());
    // Revalidation of the gzip representation: 304 with Vary; the identity ETag does not match it.
    let again = s.send(&get(&format!("Accept-Encoding: gzip\r\nIf-None-Match: {packed_tag}\r\n"))).await;
    assert_eq!((again.status, again.header("vary")), (304, Some("Accept-Encoding")));
    let crossed = s.send(&get(&format!("Accept-Encoding: gzip\r\nIf-None-Match: {plain_tag}\r\n"))).await;
    assert_eq!(crossed.status, 200);
    // A range is of the identity; gzip;q=0 refuses it; segments are never compressed.
    let ranged = s.send(&get("Accept-Encoding: gzip\r\nRange: bytes=0-9\r\n")).await;
    assert_eq!((ranged.status, ranged.header("content-encoding")), (206, None));
    assert_eq!(ranged.body, plain.body[..10]);
    let refused = s.send(&get("Accept-Encoding: gzip;q=0, *\r\n")).await;
    assert_eq!(refused.header("content-encoding"), None);
    let seg =
        s.send("GET /vod_ts/seg0.ts HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n").await;
    assert_eq!((seg.header("content-encoding"), seg.header("vary")), (None, None));

    let off = TestServer::start_with("[hls]\ncompress = false\n").await;
    let r = off.send(&get("Accept-Encoding: gzip\r\n")).await;
    assert_eq!((r.header("content-encoding"), r.header("vary")), (None, None));
}
