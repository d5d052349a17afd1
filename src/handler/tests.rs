//! Handler tests without sockets: request heads in, plans out, over a real directory and the
//! real store (the integration suite in `tests/http` covers the same ground over TCP).

use std::path::Path;

use http::{HeaderMap, Method, StatusCode};

use super::*;
use crate::config::Config;
use crate::plan::Body;
use crate::request::Target;
use crate::state::AppState;

const PLAYLIST: &str = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:7\n\
                        #EXTINF:6.000,\na7.ts\n#EXTINF:6.000,\na8.ts\n";

struct Fixture {
    _dir: tempfile::TempDir,
    state: Arc<AppState>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("live")).unwrap();
    std::fs::write(dir.path().join("live/index.m3u8"), PLAYLIST).unwrap();
    std::fs::write(dir.path().join("live/a7.ts"), vec![0x47u8; 4000]).unwrap();
    std::fs::write(dir.path().join("live/a9.ts.tmp"), b"partial").unwrap();
    std::fs::write(dir.path().join("live/.complete"), b"").unwrap();
    let text = format!("[server]\nlisten = \"127.0.0.1:0\"\nroot = {:?}\naccess_log = false\n", dir.path());
    let config = Config::from_toml(&text, Path::new("test.toml")).unwrap();
    Fixture { state: AppState::new(config).unwrap(), _dir: dir }
}

/// Handles the request with both header representations and checks they agree.
async fn request(state: &AppState, method: Method, target: &str, headers: &[(&str, &str)]) -> ResponsePlan {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
    }
    let raw: Vec<_> = headers.iter().map(|(n, v)| httparse::Header { name: n, value: v.as_bytes() }).collect();
    let uri: http::Uri = target.parse().unwrap();
    let head =
        |headers| RequestHead { remote: None, method: &method, target: Target::of_uri(&uri), headers, stop: None };
    let from_map = state.handler.respond(head(Fields::Map(&map))).await;
    let from_raw = state.handler.respond(head(Fields::raw(&raw))).await;
    assert_eq!(from_map.status, from_raw.status, "{method} {target} {headers:?}");
    assert_eq!(from_map.header_map(), from_raw.header_map(), "{method} {target} {headers:?}");
    from_map
}

fn body(plan: &ResponsePlan) -> &[u8] {
    match &plan.body {
        Body::Bytes(b) => b,
        Body::File { .. } => panic!("expected a RAM body"),
    }
}

#[tokio::test]
async fn a_playlist_hit_carries_every_header_precomputed() {
    let f = fixture().await;
    let plan = request(&f.state, Method::GET, "/live/index.m3u8", &[("Host", "o")]).await;
    assert_eq!(plan.status, StatusCode::OK);
    assert_eq!(body(&plan), PLAYLIST.as_bytes());
    // The whole 200 head comes from the entry's fixed block: nothing formatted per request.
    assert!(plan.headers.is_empty());
    let headers = plan.header_map();
    assert_eq!(headers["content-type"], "application/vnd.apple.mpegurl");
    assert_eq!(headers["cache-control"], "public, max-age=3");
    assert_eq!(headers["content-length"], PLAYLIST.len().to_string().as_str());
    assert_eq!(headers["access-control-allow-origin"], "*");
    let head = request(&f.state, Method::HEAD, "/live/index.m3u8", &[]).await;
    assert_eq!((head.status, head.header_map(), head.body.len()), (StatusCode::OK, headers, 0));
}

#[tokio::test]
async fn conditionals_and_ranges() {
    let f = fixture().await;
    let full = request(&f.state, Method::GET, "/live/a7.ts", &[]).await;
    let etag = full.header_map()["etag"].to_str().unwrap().to_string();
    let not_modified = request(&f.state, Method::GET, "/live/a7.ts", &[("If-None-Match", &etag)]).await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    let headers = not_modified.header_map();
    assert_eq!(headers["etag"], etag.as_str());
    assert!(headers.get("content-length").is_none() && not_modified.body.is_empty());
    let failed = request(&f.state, Method::GET, "/live/a7.ts", &[("If-Match", "\"other\"")]).await;
    assert_eq!(failed.status, StatusCode::PRECONDITION_FAILED);
    let part = request(&f.state, Method::GET, "/live/a7.ts", &[("Range", "bytes=10-19")]).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.header_map()["content-range"], "bytes 10-19/4000");
    assert_eq!(body(&part).len(), 10);
    let beyond = request(&f.state, Method::GET, "/live/a7.ts", &[("range", "bytes=5000-")]).await;
    assert_eq!(beyond.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(beyond.header_map()["content-range"], "bytes */4000");
}

#[tokio::test]
async fn refusals_map_to_one_status_each() {
    let f = fixture().await;
    for (method, target, status) in [
        (Method::GET, "/../etc/passwd", StatusCode::BAD_REQUEST),
        (Method::GET, "/live/%00.ts", StatusCode::BAD_REQUEST),
        (Method::GET, "/live/a9.ts.tmp", StatusCode::NOT_FOUND),
        (Method::GET, "/live/.complete", StatusCode::NOT_FOUND),
        (Method::GET, "/live/", StatusCode::NOT_FOUND),
        (Method::GET, "/live/missing.ts", StatusCode::NOT_FOUND),
        (Method::POST, "/live/a7.ts", StatusCode::METHOD_NOT_ALLOWED),
        (Method::OPTIONS, "/live/a7.ts", StatusCode::NO_CONTENT),
    ] {
        let plan = request(&f.state, method.clone(), target, &[]).await;
        assert_eq!(plan.status, status, "{method} {target}");
    }
    let long = format!("/{}", "a".repeat(MAX_TARGET_BYTES));
    assert_eq!(request(&f.state, Method::GET, &long, &[]).await.status, StatusCode::URI_TOO_LONG);
    let big = "v".repeat(MAX_HEADER_BYTES);
    let plan = request(&f.state, Method::GET, "/live/a7.ts", &[("x-big", &big)]).await;
    assert_eq!(plan.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(plan.header_map()["cache-control"], "no-cache");
}
