//! If-None-Match / If-Modified-Since (RFC 9110 §13).

use std::time::Duration;

use crate::support::TestServer;

async fn get_with(s: &TestServer, path: &str, header: &str) -> crate::support::Response {
    s.send(&format!("GET {path} HTTP/1.1\r\nHost: t\r\n{header}Connection: close\r\n\r\n")).await
}

#[tokio::test]
async fn if_none_match_gives_304_with_validators() {
    let s = TestServer::start().await;
    let r = s.get("/vod_ts/seg0.ts").await;
    let etag = r.header("etag").unwrap().to_string();
    let nm = get_with(&s, "/vod_ts/seg0.ts", &format!("If-None-Match: \"nope\", {etag}\r\n")).await;
    assert_eq!(nm.status, 304);
    assert!(nm.body.is_empty());
    assert_eq!(nm.header("etag"), Some(etag.as_str()));
    assert!(nm.header("cache-control").is_some());
    assert_eq!(get_with(&s, "/vod_ts/seg0.ts", "If-None-Match: \"nope\"\r\n").await.status, 200);
    assert_eq!(get_with(&s, "/vod_ts/seg0.ts", "If-None-Match: *\r\n").await.status, 304);
}

#[tokio::test]
async fn if_modified_since() {
    let s = TestServer::start().await;
    let modified = std::fs::metadata(s.path("vod_ts/seg0.ts")).unwrap().modified().unwrap();
    let same = httpdate::fmt_http_date(modified);
    let later = httpdate::fmt_http_date(modified + Duration::from_secs(60));
    let earlier = httpdate::fmt_http_date(modified - Duration::from_secs(60));
    assert_eq!(get_with(&s, "/vod_ts/seg0.ts", &format!("If-Modified-Since: {same}\r\n")).await.status, 304);
    assert_eq!(get_with(&s, "/vod_ts/seg0.ts", &format!("If-Modified-Since: {later}\r\n")).await.status, 304);
    assert_eq!(get_with(&s, "/vod_ts/seg0.ts", &format!("If-Modified-Since: {earlier}\r\n")).await.status, 200);
    assert_eq!(get_with(&s, "/vod_ts/seg0.ts", "If-Modified-Since: yesterday\r\n").await.status, 200);
}

#[tokio::test]
async fn if_none_match_wins_over_if_modified_since() {
    let s = TestServer::start().await;
    let modified = std::fs::metadata(s.path("vod_ts/seg0.ts")).unwrap().modified().unwrap();
    let later = httpdate::fmt_http_date(modified + Duration::from_secs(60));
    let r =
        get_with(&s, "/vod_ts/seg0.ts", &format!("If-None-Match: \"stale\"\r\nIf-Modified-Since: {later}\r\n")).await;
    assert_eq!(r.status, 200);
    let etag = s.get("/vod_ts/seg0.ts").await.header("etag").unwrap().to_string();
    let earlier = httpdate::fmt_http_date(modified - Duration::from_secs(60));
    let r =
        get_with(&s, "/vod_ts/seg0.ts", &format!("If-None-Match: {etag}\r\nIf-Modified-Since: {earlier}\r\n")).await;
    assert_eq!(r.status, 304);
}

#[tokio::test]
async fn if_match_failure_is_412() {
    let s = TestServer::start().await;
    assert_eq!(get_with(&s, "/vod_ts/seg0.ts", "If-Match: \"other\"\r\n").await.status, 412);
}
