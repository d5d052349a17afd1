//! Range requests (RFC 9110 §14).

use crate::support::TestServer;

async fn ranged(s: &TestServer, range: &str) -> crate::support::Response {
    s.send(&format!("GET /vod_ts/seg1.ts HTTP/1.1\r\nHost: t\r\nRange: {range}\r\nConnection: close\r\n\r\n")).await
}

#[tokio::test]
async fn single_open_and_suffix_ranges() {
    let s = TestServer::start().await;
    let file = std::fs::read(s.path("vod_ts/seg1.ts")).unwrap();
    let len = file.len();
    for (range, start, end) in [
        ("bytes=0-99", 0, 99),
        ("bytes=188-", 188, len - 1),
        ("bytes=-376", len - 376, len - 1),
        ("bytes=10-99999999", 10, len - 1),
    ] {
        let r = ranged(&s, range).await;
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(r.header("content-range").unwrap(), format!("bytes {start}-{end}/{len}"));
        assert_eq!(r.header("content-type"), Some("video/mp2t"));
        assert_eq!(r.body, &file[start..=end], "{range}");
    }
}

#[tokio::test]
async fn unsatisfiable_is_416_with_the_length() {
    let s = TestServer::start().await;
    let len = std::fs::metadata(s.path("vod_ts/seg1.ts")).unwrap().len();
    for range in ["bytes=99999999-", "bytes=-0", "bytes=5-2", "bytes=x-y"] {
        let r = ranged(&s, range).await;
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.header("content-range").unwrap(), format!("bytes */{len}"));
    }
}

#[tokio::test]
async fn multiple_ranges_are_multipart() {
    let s = TestServer::start().await;
    let file = std::fs::read(s.path("vod_ts/seg1.ts")).unwrap();
    let len = file.len();
    let r = ranged(&s, "bytes=0-9, 100-109").await;
    assert_eq!(r.status, 206);
    let ct = r.header("content-type").unwrap();
    let boundary = ct.strip_prefix("multipart/byteranges; boundary=").expect(ct);
    let body = r.body.clone();
    let mut parts = Vec::new();
    for chunk in split(&body, format!("--{boundary}").as_bytes()).into_iter().skip(1) {
        if chunk.starts_with(b"--") {
            break;
        }
        let head_end = chunk.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&chunk[..head_end]).to_string();
        let data = &chunk[head_end + 4..chunk.len() - 2];
        parts.push((head, data.to_vec()));
    }
    assert_eq!(parts.len(), 2);
    assert!(parts[0].0.contains(&format!("Content-Range: bytes 0-9/{len}")));
    assert!(parts[0].0.contains("Content-Type: video/mp2t"));
    assert_eq!(parts[0].1, &file[0..10]);
    assert!(parts[1].0.contains(&format!("Content-Range: bytes 100-109/{len}")));
    assert_eq!(parts[1].1, &file[100..110]);
}

#[tokio::test]
async fn if_range_mismatch_sends_the_full_body() {
    let s = TestServer::start().await;
    let r = s.send("GET /vod_ts/seg1.ts HTTP/1.1\r\nHost: t\r\nRange: bytes=0-9\r\nIf-Range: \"old\"\r\nConnection: close\r\n\r\n").await;
    assert_eq!(r.status, 200);
    let etag = r.header("etag").unwrap().to_string();
    let r = s.send(&format!("GET /vod_ts/seg1.ts HTTP/1.1\r\nHost: t\r\nRange: bytes=0-9\r\nIf-Range: {etag}\r\nConnection: close\r\n\r\n")).await;
    assert_eq!(r.status, 206);
}

fn split<'a>(haystack: &'a [u8], needle: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + needle.len() <= haystack.len() {
        if &haystack[i..i + needle.len()] == needle {
            out.push(&haystack[start..i]);
            i += needle.len();
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&haystack[start..]);
    out
}
