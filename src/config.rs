//! The configuration file: a raw serde mirror of the TOML (unknown keys rejected) validated once
//! into an immutable [`Config`] with typed fields, split into the keys fixed at start
//! ([`Startup`]: listeners, root, timeouts, cache sizing) and the keys read per request
//! ([`Policy`], shared behind one `Arc` so a reload can swap it whole). Owns every default; must
//! not read media files.

mod hls;
mod limits;
mod on_demand;
mod raw;
mod retention;
mod secure;
pub mod units;

pub use hls::HlsConfig;
pub use limits::LimitsConfig;
pub use on_demand::{OnDemandConfig, UrlTemplate};
pub use retention::RetentionConfig;
pub use secure::RequiredHeader;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

/// The validated, immutable configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was loaded from (for messages); empty for built-in configs (`demo`).
    pub source: PathBuf,
    /// Keys fixed at start: changing one needs a restart.
    pub startup: Startup,
    /// Keys read per request: what a reload may change, swapped as one value.
    pub policy: Arc<Policy>,
}

/// Keys fixed at start: `[server]`'s listeners, root, timeouts and driver, and `[cache]`.
#[derive(Debug, Clone)]
pub struct Startup {
    /// Addresses to listen on (`listen`).
    pub listen: Vec<SocketAddr>,
    /// The directory the packager writes into (`root`), as configured.
    pub root: PathBuf,
    /// A client must send a whole request head within this (`header_read_timeout`, default 10s).
    pub header_read_timeout: Duration,
    /// A connection with no bytes read or written for this long is closed (`idle_timeout`, 60s).
    pub idle_timeout: Duration,
    /// On SIGTERM/SIGINT, in-flight responses get this long to finish (`shutdown_grace`, 10s).
    pub shutdown_grace: Duration,
    /// Which HTTP/1.x implementation serves connections (`http1_driver`, default native).
    pub http1_driver: Http1Driver,
    /// Large files not in the RAM cache are sent from disk (`zero_copy`, default true).
    pub zero_copy: bool,
    /// What counts as large (`zero_copy_min_size`, default 256KiB).
    pub zero_copy_min_bytes: u64,
    /// `[cache]`.
    pub cache: CacheConfig,
    /// The listen queue of every public listener (`backlog`, default 4096), capped by the
    /// kernel's `net.core.somaxconn`.
    pub backlog: u32,
    /// A response sending slower than this many bytes per second, over a window of
    /// [`SEND_RATE_WINDOW`], is cut short (`min_send_rate`, default 1KiB; 0 = off).
    pub min_send_rate: u64,
    /// `[admin] listen`: metrics and health, never on a public listener.
    pub admin: Option<SocketAddr>,
    /// `[on_demand]`: encoders started by the first viewer and stopped when idle.
    pub on_demand: Option<OnDemandConfig>,
}

/// The window over which `min_send_rate` is measured.
pub const SEND_RATE_WINDOW: Duration = Duration::from_secs(10);

impl Startup {
    /// The keys fixed at start that differ between `self` and `other` (a reload logs them as
    /// needing a restart and keeps the running values).
    pub fn changed_keys(&self, other: &Startup) -> Vec<&'static str> {
        let c = (&self.cache, &other.cache);
        [
            ("server.listen", self.listen != other.listen),
            ("server.root", self.root != other.root),
            ("server.header_read_timeout", self.header_read_timeout != other.header_read_timeout),
            ("server.idle_timeout", self.idle_timeout != other.idle_timeout),
            ("server.shutdown_grace", self.shutdown_grace != other.shutdown_grace),
            ("server.http1_driver", self.http1_driver != other.http1_driver),
            ("server.zero_copy", self.zero_copy != other.zero_copy),
            ("server.zero_copy_min_size", self.zero_copy_min_bytes != other.zero_copy_min_bytes),
            ("server.backlog", self.backlog != other.backlog),
            ("server.min_send_rate", self.min_send_rate != other.min_send_rate),
            ("admin.listen", self.admin != other.admin),
            ("on_demand", self.on_demand != other.on_demand),
            ("cache.manifest_validity", c.0.manifest_validity != c.1.manifest_validity),
            ("cache.segment_validity", c.0.segment_validity != c.1.segment_validity),
            ("cache.miss_validity", c.0.miss_validity != c.1.miss_validity),
            ("cache.memory_budget", c.0.memory_budget_bytes != c.1.memory_budget_bytes),
            ("cache.promote_large", c.0.promote_large != c.1.promote_large),
        ]
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
    }
}

/// Keys read per request (and by retention's thread).
#[derive(Debug, Clone)]
pub struct Policy {
    /// One log line per request (`server.access_log`, default true).
    pub access_log: bool,
    /// Only requests carrying this header are served (`server.require_header`); the CDN adds it.
    pub require_header: Option<RequiredHeader>,
    /// `[http]`.
    pub http: HttpConfig,
    /// `[hls]`.
    pub hls: HlsConfig,
    /// `[secure_link]`, absent when no path needs a signature.
    pub secure_link: Option<crate::secure_link::SecureLink>,
    /// `[retention]`, absent when hls-origin must never delete anything.
    pub retention: Option<RetentionConfig>,
    /// `[limits]` (connection caps and request rates); all 0 when absent.
    pub limits: LimitsConfig,
}

/// The HTTP/1.x connection driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Http1Driver {
    /// hyper (HTTP/1.1 and h2c).
    Hyper,
    /// The native driver (`native_driver`); h2c connections still go to hyper.
    Native,
}

/// `[cache]`: revalidation intervals and the RAM budget for file bytes.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Fallback revalidation interval for playlists (`manifest_validity`, default 500ms).
    pub manifest_validity: Duration,
    /// Fallback revalidation interval for segments (`segment_validity`, default 10s).
    pub segment_validity: Duration,
    /// How long a miss is remembered when no creation event arrives (`miss_validity`, 500ms).
    pub miss_validity: Duration,
    /// Bytes of file content held in RAM (`memory_budget`, default 256MiB).
    pub memory_budget_bytes: u64,
    /// Large files (`server.zero_copy_min_size` and up) requested again are also copied into
    /// RAM when the cache has room (`promote_large`, default true: on the machine last measured
    /// a RAM copy sent with `writev` cost less than half the CPU per byte of `sendfile`; the
    /// benchmark's `hls-origin-sendfile` row re-decides it per machine).
    pub promote_large: bool,
}

/// `[http]`: response header policy.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `max-age` for content that never changes once complete: segments, init files, VOD
    /// playlists (`immutable_max_age`, default 1d).
    pub immutable_max_age: Duration,
    /// CORS headers, `None` when `cors = false`.
    pub cors: Option<CorsConfig>,
}

/// CORS response headers, precomputed.
#[derive(Debug, Clone, PartialEq)]
pub struct CorsConfig {
    /// `Access-Control-Allow-Origin` (`cors_allow_origin`, default `*`).
    pub allow_origin: HeaderValue,
    /// `Access-Control-Max-Age` for preflights (`cors_max_age`, default 1d).
    pub max_age: HeaderValue,
    /// `Access-Control-Expose-Headers`: [`crate::headers::CORS_EXPOSED`], plus `Age` and `Date`
    /// with blocking reload on (hls.js reads them to tune in behind a CDN).
    pub expose: HeaderValue,
}

/// A configuration error, naming the file and the offending key. Maps to exit code 78.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file being loaded.
    pub file: PathBuf,
    /// Dotted key path, e.g. `cache.memory_budget`; empty when the error is not about one key.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "config {}: {}", self.file.display(), self.message)
        } else {
            write!(f, "config {}: key `{}`: {}", self.file.display(), self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            key: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        Config::from_toml(&text, path)
    }

    /// Parses and validates TOML text; `path` is only used in messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        raw::parse(text, path)
    }

    /// A config serving `root` on `listen` with every other key at its default
    /// (`serve --root DIR --listen ADDR`, and `demo`). A relative `root` is taken from the
    /// current directory.
    pub fn for_root(root: &Path, listen: &[SocketAddr]) -> Result<Config, ConfigError> {
        Config::for_root_with(root, listen, "")
    }

    /// Like [`Config::for_root`], with `sections` (TOML tables) added after `[server]`.
    pub fn for_root_with(root: &Path, listen: &[SocketAddr], sections: &str) -> Result<Config, ConfigError> {
        let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
        let listen: Vec<String> = listen.iter().map(|a| format!("\"{a}\"")).collect();
        let text =
            format!("[server]\nlisten = [{}]\nroot = {:?}\n{sections}", listen.join(", "), root.to_string_lossy());
        Config::from_toml(&text, Path::new("<command line>"))
    }
}
