//! hls-origin: an HTTP origin for HLS that serves the directory a packager (ffmpeg) writes
//! into, to a CDN.
//!
//! # Module map
//! Each layer depends only on the ones above it; `docs/architecture.md` draws the flows.
//!
//! - Pure pieces (no I/O): [`path`] (nginx-style `$uri` normalisation), [`media`] (kinds,
//!   content types, the one scratch-file rule), [`playlist`] (RFC 8216 facts, the media playlist
//!   model, delivery directives, renderings made once per version), [`range`]
//!   (RFC 9110 §14), [`conditional`] (RFC 9110 §13), [`request`] (the request head either
//!   driver hands over, and every head-size limit), [`plan`] (the response plan drivers
//!   render), [`usage`] (per-stream reads in flight, last read, last playlist update),
//!   [`secure_link`] (nginx-compatible signed URLs), [`counter`] (per-thread counter shards),
//!   [`metrics`] (what the request path counts), [`encoding`] (Accept-Encoding, gzip),
//!   [`lint`] (producer problems between two playlist versions).
//! - [`config`]: the TOML file, validated once into keys fixed at start and a per-request
//!   [`config::Policy`]. [`headers`]: which header fields every response carries.
//!   [`respond`]: the [`respond::Respond`] seam drivers call, refusals, the access line.
//!   [`limits`]: request-rate limiters. [`settings`]: the per-request settings in force,
//!   swapped whole by a reload. [`net`]: binding and THE accept loop — admission (connection
//!   caps), watchdog, stop signal, drain. [`notify`]: systemd's notify protocol.
//! - [`store`]: the RAM cache of file versions and all file I/O of the request path, on the
//!   blocking pool, confined to the root. [`watcher`]: inotify → store changes, published to
//!   subscribers. [`retention`]: the on-disk side, a subscriber of the watcher.
//! - [`on_demand`]: starting a stream's encoder for its first viewer, holding viewers until its
//!   playlist lands, stopping idle streams.
//! - [`handler`]: the media [`respond::Respond`]er, request → plan; [`admin`]: `/metrics`,
//!   `/healthz`, `/readyz`. The only places that pick status codes.
//! - [`native_driver`] (httparse, `write`/`sendfile`) and [`hyper_driver`] (hyper, HTTP/1.1 and
//!   h2c): HTTP on a connection the accept loop hands them.
//! - [`state`], [`reload`] (SIGHUP: the config re-read and swapped in), [`app`] (the one assembly: `serve`, `demo` and the tests call it), [`process`]
//!   (open-file limit, signals), [`cli`], [`allocator`], [`demo`].
//!
//! # Request flow (a playlist hit)
//! 1. [`net::serve`] accepts, admits and wraps the socket under the watchdog; the configured
//!    driver parses the head (414/431/400 refusals go to [`respond::Respond::refuse`]).
//! 2. [`handler::MediaHandler`] checks limits, `require_header`, method, path (400), signature
//!    (403/410), scratch files (404), then asks [`store::Store::lookup`].
//! 3. The store answers from a per-thread memo or moka; a miss reads the file once for all
//!    concurrent requests, beneath the root (`openat2` + `RESOLVE_BENEATH`), checks it was not
//!    torn and builds a [`store::FileEntry`] with every header block precomputed.
//! 4. Conditionals (304/412), Range (206/416); [`usage::Usage::begin_read`] marks the stream.
//! 5. `handler::present` maps the outcome to a [`plan::ResponsePlan`]; the driver writes the
//!    entry's header block and body (one `write`, `writev`, or `sendfile` for a file body) and
//!    [`respond::finish`] writes the access line.

pub mod admin;
pub mod allocator;
pub mod app;
pub mod cli;
pub mod conditional;
pub mod config;
pub mod counter;
pub mod demo;
pub mod encoding;
pub mod handler;
pub mod headers;
pub mod hyper_driver;
pub mod limits;
pub mod lint;
pub mod media;
pub mod metrics;
pub mod native_driver;
pub mod net;
pub mod notify;
pub mod on_demand;
pub mod path;
pub mod plan;
pub mod playlist;
pub mod process;
pub mod range;
pub mod reload;
pub mod request;
pub mod respond;
pub mod retention;
pub mod secure_link;
pub mod settings;
pub mod state;
pub mod store;
pub mod usage;
pub mod watcher;
