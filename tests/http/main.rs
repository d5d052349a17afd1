//! Integration tests: the real server (the same `app` assembly `serve` runs) over real TCP, on
//! ffmpeg-made fixtures (`tests/fixtures`). Every test runs against either HTTP/1 driver:
//! `HLS_ORIGIN_TEST_DRIVER=hyper|native` (default native). Every await has a timeout.
#![allow(clippy::unwrap_used, missing_docs)]

// The test server and a raw HTTP/1.1 client.
mod support;
// The open-file limit, for tests that hold thousands of sockets.
#[path = "../shared/fds.rs"]
mod fds;

// Behind a real caching proxy (Varnish) with a real ffmpeg: the CDN's view.
mod cdn;
// If-None-Match, If-Modified-Since, If-Match, If-Range: RFC 9110 §13.
mod conditional;
// Content types, Cache-Control per kind, ETag, Last-Modified, CORS, HEAD.
pub mod content;
// Connection handling: methods, OPTIONS, head limits, keep-alive, pipelining, h2c, timeouts,
// graceful stop, descriptors.
mod driver;
// Playlists renamed or rewritten in place, misses, rescans: never stale, never torn.
mod freshness;
// Live HLS: blocking playlist reload, its rules, SERVER-CONTROL, delta updates, cache ages.
pub mod live;
// Malformed requests of every kind get a 4xx or a close, and the server keeps serving.
mod malformed;
// secure_link agreement with a real nginx.
mod nginx_compat;
// On-demand streams: a start/stop service launching a real ffmpeg, failures, idle stop, ids.
mod on_demand;
// Operations: /metrics, /healthz, /readyz, rate limits, connection caps, the listen queue.
mod operations;
// The operator's loop: a real encoder restarted on the same path, hand-written playlists,
// Upgrade requests, sidecar files.
pub mod operator;
// Path normalisation, escapes, symlinks, dot-files, scratch files, directories.
mod paths;
// Range: single, open, suffix, multiple, unsatisfiable.
mod range;
// Disk retention on a real tree: stale streams, LRU eviction, segment windows.
mod retention;
// Signed URLs: verification, expiry, signed children, require_header.
mod signed;
// Large files sent from disk with sendfile; files that shrink mid-send.
mod zero_copy;
