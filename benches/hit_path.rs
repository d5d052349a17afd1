//! Criterion micro-benchmarks of the request hot path: a cache hit through the handler (the
//! part every request pays), and the pure parsers it calls.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use hls_origin::config::Config;
use hls_origin::native_driver::head::{self, Connection, Head};
use hls_origin::path::NormPath;
use hls_origin::request::RequestHead;
use hls_origin::request::{Fields, Target};
use hls_origin::respond::Respond;
use hls_origin::state::AppState;
use http::{HeaderMap, HeaderValue, Method};

fn hits(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut playlist = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:100\n");
    for i in 100..110 {
        playlist.push_str(&format!("#EXTINF:6.000,\nsegment_{i}.ts\n"));
    }
    std::fs::write(dir.path().join("index.m3u8"), &playlist).unwrap();
    std::fs::write(dir.path().join("seg.ts"), vec![0x47u8; 1_300_000]).unwrap();
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nroot = {:?}\naccess_log = false\n[cache]\nmanifest_validity = \"1h\"\nsegment_validity = \"1h\"\n",
        dir.path()
    );
    let config = Config::from_toml(&text, Path::new("bench.toml")).unwrap();
    let state = rt.block_on(async { AppState::new(config).unwrap() });
    let get = Method::GET;
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("bench"));
    let fields = Fields::Map(&headers);
    for (name, path) in [("playlist_hit", "/index.m3u8"), ("segment_hit", "/seg.ts")] {
        let target = Target::origin_form(path).unwrap();
        let head = RequestHead { remote: None, method: &get, target, headers: fields, stop: None };
        rt.block_on(state.handler.respond(head));
        c.bench_function(name, |b| b.to_async(&rt).iter(|| async { black_box(state.handler.respond(head).await) }));
    }
    let target = Target::origin_form("/index.m3u8").unwrap();
    let plan = rt.block_on(state.handler.respond(RequestHead {
        remote: None,
        method: &get,
        target,
        headers: fields,
        stop: None,
    }));
    let etag = plan.header_map()["etag"].clone();
    let mut conditional = headers.clone();
    conditional.insert("if-none-match", etag);
    let head = RequestHead { remote: None, method: &get, target, headers: Fields::Map(&conditional), stop: None };
    c.bench_function("playlist_304", |b| {
        b.to_async(&rt).iter(|| async { black_box(state.handler.respond(head).await) })
    });
    // What the native driver does per request, short of the socket: parse the head, handle it,
    // render the response head.
    let raw = b"GET /index.m3u8 HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\n\r\n";
    c.bench_function("playlist_hit_native", |b| {
        b.to_async(&rt).iter(|| {
            let state = &state;
            async move {
                let mut out = Vec::with_capacity(512);
                let mut slots = head::slots();
                let Head::Request(p) = head::parse(black_box(raw), &mut slots) else { unreachable!() };
                let mut uri = None;
                let target = head::target(p.target, &mut uri).unwrap();
                let req = RequestHead { remote: None, method: &p.method, target, headers: p.fields(), stop: None };
                let plan = state.handler.respond(req).await;
                out.clear();
                head::render((&plan).into(), b"Sat, 21 Nov 2026 08:00:00 GMT", Connection::KeepAlive, &mut out);
                black_box(out.len());
            }
        })
    });
}

fn parsers(c: &mut Criterion) {
    c.bench_function("path_normalise", |b| b.iter(|| NormPath::parse(black_box("/live/channel-42/720p/index.m3u8"))));
    c.bench_function("range_decide", |b| {
        b.iter(|| hls_origin::range::decide(black_box(b"bytes=1000-2000"), 1_300_000))
    });
}

criterion_group!(benches, hits, parsers);
criterion_main!(benches);
