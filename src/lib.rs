//! hls-origin: an HTTP origin for HLS that serves the directory a packager (ffmpeg) writes
//! into, to a CDN.
//!
//! # Module map
//! - [`cli`]: the command line. [`config`]: the TOML file, validated once into [`config::Config`].
//! - [`allocator`]: one glibc tunable set at start (the only `unsafe`).
//! - [`server`]: the connection driver (hyper, HTTP/1.1 + h2c): timeouts, limits, access log,
//!   graceful shutdown. [`driver`]: the native HTTP/1.x driver (`server.http1_driver =
//!   "native"`), rendering the same plans. [`process`]: open-file limit and signals.
//! - [`fields`]: the request target and header fields as either driver parsed them (the native
//!   driver's are borrowed from its read buffer, never copied).
//! - [`handler`]: request → [`plan::ResponsePlan`]; the only place that picks status codes.
//!   Pure helpers: [`path`] (nginx-style `$uri` normalisation), [`media`] (content types,
//!   Cache-Control), [`playlist`] (RFC 8216 facts), [`range`] (RFC 9110 §14), [`conditional`]
//!   (RFC 9110 §13).
//! - [`store`]: the RAM cache of file versions (moka, tiered validity, byte budget, a per-thread
//!   memo in front for small hot entries) and all file I/O of the request path, on the blocking
//!   pool, confined to the root.
//! - [`watcher`]: inotify events → store changes (playlists replaced on rename, misses and
//!   removed files invalidated, rescans after lost events).
//! - [`retention`]: the on-disk side — an index of stream directories, stale-stream cleanup,
//!   spec-aware segment retention, LRU eviction to `max_disk`, orphan removal.
//! - [`secure_link`]: nginx-compatible signed URLs (MD5 and HMAC) and playlists that sign their
//!   children.
//! - [`demo`]: a built-in live stream for first-time users.
//!
//! # Request flow
//! 1. [`server::run`] accepts a connection; the native driver ([`driver`]) parses the request
//!    head with httparse (hyper does for `http1_driver = "hyper"` and for every h2c
//!    connection). Heads it cannot accept get 400/431 from [`handler::refuse`].
//! 2. [`handler::handle`] checks the head's size (414/431), `require_header` (403) and the
//!    method (405, OPTIONS → preflight).
//! 3. [`path::NormPath::parse`] normalises the path (400 for bad encoding, NUL, escapes);
//!    [`secure_link`] checks protected paths (403/410) before any file access; dot files,
//!    `*.tmp` and directories are 404.
//! 4. [`store::Store::lookup`] answers from the per-thread memo or the cache; on a miss (one
//!    read for N concurrent requests) it opens the file beneath the root (`openat2` +
//!    `RESOLVE_BENEATH`) and either reads it whole into `Bytes`, checks it was not torn and
//!    builds a [`store::FileEntry`] with every header precomputed, or — large files with
//!    `zero_copy` — keeps only the open file.
//! 5. [`conditional::evaluate`] (304/412), then [`range::decide`] (206/416); a protected
//!    playlist gets its children signed (memoised per version and bucket).
//! 6. `handler::present` turns the outcome into a [`plan::ResponsePlan`] — for a 200 or 304 the
//!    entry's header block, formatted when it was cached; the driver renders it (one `write` for
//!    a small body, `writev`, or `sendfile` for a file body) and [`retention`] sees the read.

pub mod allocator;
pub mod cli;
pub mod conditional;
pub mod config;
pub mod demo;
pub mod driver;
pub mod fields;
pub mod handler;
pub mod media;
pub mod path;
pub mod plan;
pub mod playlist;
pub mod process;
pub mod range;
pub mod retention;
pub mod secure_link;
pub mod server;
pub mod state;
pub mod store;
pub mod watcher;
