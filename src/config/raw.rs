//! The TOML file as written: serde structs with unknown keys rejected, and the one validation
//! pass that turns them into [`Config`]. Every error names its key.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use serde::Deserialize;

use super::units::{parse_duration, parse_size};
use super::{CacheConfig, Config, ConfigError, CorsConfig, HttpConfig, Policy, RequiredHeader, Startup};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    server: RawServer,
    #[serde(default)]
    cache: RawCache,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    hls: super::hls::RawHls,
    secure_link: Option<super::secure::RawSecureLink>,
    retention: Option<super::retention::RawRetention>,
    admin: Option<super::limits::RawAdmin>,
    #[serde(default)]
    limits: super::limits::RawLimits,
    on_demand: Option<super::on_demand::RawOnDemand>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: OneOrMany,
    root: String,
    header_read_timeout: Option<String>,
    idle_timeout: Option<String>,
    shutdown_grace: Option<String>,
    access_log: Option<bool>,
    require_header: Option<String>,
    http1_driver: Option<String>,
    zero_copy: Option<bool>,
    zero_copy_min_size: Option<String>,
    backlog: Option<u32>,
    min_send_rate: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCache {
    manifest_validity: Option<String>,
    segment_validity: Option<String>,
    miss_validity: Option<String>,
    memory_budget: Option<String>,
    promote_large: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    immutable_max_age: Option<String>,
    cors: Option<bool>,
    cors_allow_origin: Option<String>,
    cors_max_age: Option<String>,
}

/// Builds errors that all name the same file.
struct Errors<'a> {
    file: &'a Path,
}

impl Errors<'_> {
    fn at(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError { file: self.file.to_path_buf(), key: key.to_string(), message: message.into() }
    }

    fn duration(&self, key: &str, value: Option<&str>, default: &str) -> Result<Duration, ConfigError> {
        let d = parse_duration(value.unwrap_or(default)).map_err(|m| self.at(key, m))?;
        if d.is_zero() {
            return Err(self.at(key, "must be greater than zero"));
        }
        Ok(d)
    }
}

pub(super) fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
    let errors = Errors { file };
    let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(&errors, text, &e))?;
    let secure_link = raw.secure_link.map(super::secure::secure_link).transpose().map_err(|(k, m)| errors.at(k, m))?;
    let (access_log, require_header) = server_policy(&errors, &raw.server)?;
    let cache = cache(&errors, raw.cache)?;
    let policy = Policy {
        access_log,
        require_header,
        http: http(&errors, raw.http)?,
        hls: super::hls::hls(raw.hls).map_err(|(k, m)| errors.at(k, m))?,
        secure_link,
        retention: raw.retention.map(super::retention::retention).transpose().map_err(|(k, m)| errors.at(k, m))?,
        limits: super::limits::limits(raw.limits).map_err(|(k, m)| errors.at(k, m))?,
    };
    let mut startup = startup(&errors, raw.server, cache)?;
    startup.admin =
        raw.admin.map(|a| super::limits::admin(a, &startup.listen)).transpose().map_err(|(k, m)| errors.at(k, m))?;
    startup.on_demand = raw.on_demand.map(super::on_demand::on_demand).transpose().map_err(|(k, m)| errors.at(k, m))?;
    Ok(Config { source: file.to_path_buf(), startup, policy: Arc::new(policy) })
}

/// The media root must be an absolute path (a service's working directory is not the
/// operator's) to a directory this user can list and read.
fn check_root(errors: &Errors<'_>, root: &Path) -> Result<(), ConfigError> {
    use nix::unistd::{access, AccessFlags};
    let shown = root.display();
    if root.is_relative() {
        return Err(errors.at("server.root", format!("{shown:?} is relative; give an absolute path")));
    }
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(errors.at("server.root", format!("{shown:?} is not a directory"))),
        Err(e) => return Err(errors.at("server.root", format!("{shown:?}: {e}"))),
    }
    access(root, AccessFlags::R_OK | AccessFlags::X_OK)
        .map_err(|e| errors.at("server.root", format!("{shown:?} is not readable and searchable by this user: {e}")))
}

/// toml's messages name the field for unknown keys (`unknown field `x``) and point at the
/// offending text; we name the dotted key there (`cache.foo`), or the section itself when the
/// unknown name is a `[section]` header, and add the line.
fn toml_error(errors: &Errors<'_>, text: &str, e: &toml::de::Error) -> ConfigError {
    let message = e.message().to_string();
    let Some(span) = e.span() else { return errors.at("", message) };
    let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
    let line = text[..span.start.min(text.len())].rsplit('\n').next().unwrap_or_default().to_string()
        + text[span.start.min(text.len())..].split('\n').next().unwrap_or_default();
    let line = line.trim();
    if let Some(section) = line.strip_prefix('[').and_then(|l| l.split(']').next()).filter(|_| !line.starts_with("[["))
    {
        let section = section.trim();
        if message.starts_with("unknown field") {
            let known = "server, cache, http, hls, secure_link, retention, admin, limits, on_demand";
            return errors.at(section, format!("line {line_no}: unknown section `[{section}]` (known: {known})"));
        }
        return errors.at(section, format!("line {line_no}: {message}"));
    }
    let field = match message.strip_prefix("unknown field `") {
        Some(rest) => rest.split('`').next().unwrap_or_default().to_string(),
        None => line.split('=').next().unwrap_or_default().trim().trim_matches('"').to_string(),
    };
    let key = match (enclosing_table(text, span.start), field.is_empty()) {
        (_, true) => String::new(),
        (Some(table), false) => format!("{table}.{field}"),
        (None, false) => field,
    };
    errors.at(&key, format!("line {line_no}: {message}"))
}

/// The `[table]` header in force at byte offset `at`, if any.
fn enclosing_table(text: &str, at: usize) -> Option<String> {
    text[..at.min(text.len())]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
}

/// `[server]`'s per-request keys: `access_log` and `require_header`.
fn server_policy(errors: &Errors<'_>, raw: &RawServer) -> Result<(bool, Option<RequiredHeader>), ConfigError> {
    let required = raw
        .require_header
        .as_deref()
        .map(super::secure::required_header)
        .transpose()
        .map_err(|(k, m)| errors.at(k, m))?;
    Ok((raw.access_log.unwrap_or(true), required))
}

fn startup(errors: &Errors<'_>, raw: RawServer, cache: CacheConfig) -> Result<Startup, ConfigError> {
    let listen_raw = match raw.listen {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    };
    if listen_raw.is_empty() {
        return Err(errors.at("server.listen", "needs at least one address, like \"127.0.0.1:8080\""));
    }
    let listen = listen_raw
        .iter()
        .map(|s| {
            s.parse::<SocketAddr>().map_err(|_| errors.at("server.listen", format!("{s:?} is not an IP:port address")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(dup) = listen.iter().enumerate().find_map(|(i, a)| listen[..i].contains(a).then_some(a)) {
        return Err(errors.at("server.listen", format!("{dup} is listed twice")));
    }
    let root = std::path::PathBuf::from(&raw.root);
    check_root(errors, &root)?;
    Ok(Startup {
        listen,
        root,
        header_read_timeout: errors.duration(
            "server.header_read_timeout",
            raw.header_read_timeout.as_deref(),
            "10s",
        )?,
        idle_timeout: errors.duration("server.idle_timeout", raw.idle_timeout.as_deref(), "60s")?,
        shutdown_grace: errors.duration("server.shutdown_grace", raw.shutdown_grace.as_deref(), "10s")?,
        zero_copy: raw.zero_copy.unwrap_or(true),
        zero_copy_min_bytes: parse_size(raw.zero_copy_min_size.as_deref().unwrap_or("256KiB"))
            .map_err(|m| errors.at("server.zero_copy_min_size", m))?,
        http1_driver: match raw.http1_driver.as_deref().unwrap_or("native") {
            "hyper" => super::Http1Driver::Hyper,
            "native" => super::Http1Driver::Native,
            other => return Err(errors.at("server.http1_driver", format!("{other:?}: use \"hyper\" or \"native\""))),
        },
        cache,
        backlog: match raw.backlog {
            Some(0) => return Err(errors.at("server.backlog", "must be greater than zero")),
            Some(n) => n,
            None => 4096,
        },
        min_send_rate: parse_size(raw.min_send_rate.as_deref().unwrap_or("1KiB"))
            .map_err(|m| errors.at("server.min_send_rate", m))?,
        admin: None,
        on_demand: None,
    })
}

fn cache(errors: &Errors<'_>, raw: RawCache) -> Result<CacheConfig, ConfigError> {
    let memory_budget_bytes = parse_size(raw.memory_budget.as_deref().unwrap_or("256MiB"))
        .map_err(|m| errors.at("cache.memory_budget", m))?;
    Ok(CacheConfig {
        manifest_validity: errors.duration("cache.manifest_validity", raw.manifest_validity.as_deref(), "500ms")?,
        segment_validity: errors.duration("cache.segment_validity", raw.segment_validity.as_deref(), "10s")?,
        miss_validity: errors.duration("cache.miss_validity", raw.miss_validity.as_deref(), "500ms")?,
        memory_budget_bytes,
        promote_large: raw.promote_large.unwrap_or(true),
    })
}

fn http(errors: &Errors<'_>, raw: RawHttp) -> Result<HttpConfig, ConfigError> {
    let immutable_max_age = errors.duration("http.immutable_max_age", raw.immutable_max_age.as_deref(), "1d")?;
    let cors = if raw.cors.unwrap_or(true) {
        let origin = raw.cors_allow_origin.as_deref().unwrap_or("*");
        let allow_origin = HeaderValue::from_str(origin)
            .ok()
            .filter(|_| !origin.is_empty())
            .ok_or_else(|| errors.at("http.cors_allow_origin", format!("{origin:?} is not a valid header value")))?;
        let max_age = errors.duration("http.cors_max_age", raw.cors_max_age.as_deref(), "1d")?;
        Some(CorsConfig {
            allow_origin,
            max_age: HeaderValue::from(max_age.as_secs()),
            expose: crate::headers::CORS_EXPOSED,
        })
    } else {
        None
    };
    Ok(HttpConfig { immutable_max_age, cors })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        parse(text, Path::new("test.toml"))
    }

    fn minimal(extra: &str) -> String {
        format!("[server]\nlisten = [\"127.0.0.1:0\"]\nroot = \"/tmp\"\n{extra}")
    }

    #[test]
    fn defaults() {
        let c = load(&minimal("")).unwrap();
        assert_eq!(c.startup.cache.manifest_validity, Duration::from_millis(500));
        assert_eq!(c.startup.cache.segment_validity, Duration::from_secs(10));
        assert_eq!(c.startup.cache.memory_budget_bytes, 256 << 20);
        assert!(c.policy.access_log);
        assert_eq!(c.policy.http.cors.as_ref().unwrap().allow_origin, "*");
    }

    #[test]
    fn unknown_key_is_named_with_its_table() {
        let e = load(&minimal("[cache]\nmanifest_validty = \"1s\"\n")).unwrap_err();
        assert_eq!(e.key, "cache.manifest_validty");
        assert!(e.message.starts_with("line 5:"), "{e}");
        assert!(e.to_string().contains("test.toml"), "{e}");
        let e = load(&minimal("bogus = 1\n")).unwrap_err();
        assert_eq!(e.key, "server.bogus");
        let e = load(&minimal("[cahce]\nmemory_budget = \"1GiB\"\n")).unwrap_err();
        assert_eq!(e.key, "cahce", "{e}");
        assert!(e.message.contains("unknown section `[cahce]`"), "{e}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = load(&minimal("[cache]\nmemory_budget = \"lots\"\n")).unwrap_err();
        assert_eq!(e.key, "cache.memory_budget");
        let e = load(&minimal("[cache]\nsegment_validity = \"0s\"\n")).unwrap_err();
        assert_eq!(e.key, "cache.segment_validity");
        let e = load("[server]\nlisten = [\"nope\"]\nroot = \"/tmp\"\n").unwrap_err();
        assert_eq!(e.key, "server.listen");
        let e = load("[server]\nlisten = []\nroot = \"/tmp\"\n").unwrap_err();
        assert_eq!(e.key, "server.listen");
        let e = load("[server]\nlisten = [\"127.0.0.1:1\", \"127.0.0.1:1\"]\nroot = \"/tmp\"\n").unwrap_err();
        assert_eq!(e.key, "server.listen");
        assert!(e.message.contains("twice"), "{e}");
        let e = load("[server]\nlisten = \"127.0.0.1:1\"\nroot = \"relative/dir\"\n").unwrap_err();
        assert_eq!(e.key, "server.root");
        assert!(e.message.contains("relative"), "{e}");
        let e = load(&minimal("[cache]\nmemory_budget = 5\n")).unwrap_err();
        assert_eq!(e.key, "cache.memory_budget", "{e}");
        let e = load(&minimal("access_log = \"yes\"\n")).unwrap_err();
        assert_eq!(e.key, "server.access_log", "{e}");
        let e = load("[server]\nlisten = \"127.0.0.1:1\"\nroot = \"/nonexistent/x\"\n").unwrap_err();
        assert_eq!(e.key, "server.root");
        let e = load(&minimal("[secure_link]\nsecret = \"x\"\n")).unwrap_err();
        assert_eq!(e.key, "secure_link.protect");
        let e = load(&minimal("[secure_link]\nprotect = [\"/s/\"]\n")).unwrap_err();
        assert_eq!(e.key, "secure_link.secret");
        let e =
            load(&minimal("[secure_link]\nsecret = \"x\"\nprotect = [\"/s/\"]\nmd5_expression = \"$uri$sekret\"\n"))
                .unwrap_err();
        assert_eq!(e.key, "secure_link.md5_expression");
        let e = load(&minimal("[secure_link]\nsecret = \"x\"\nprotect = [\"/s/\"]\nmode = \"sha1\"\n")).unwrap_err();
        assert_eq!(e.key, "secure_link.mode");
        let e = load(&minimal("require_header = \"nocolon\"\n")).unwrap_err();
        assert_eq!(e.key, "server.require_header");
        let e = load(&minimal("[retention]\nmax_disk = \"lots\"\n")).unwrap_err();
        assert_eq!(e.key, "retention.max_disk");
        let e = load(&minimal("[retention]\nsegment_retention = \"always\"\n")).unwrap_err();
        assert_eq!(e.key, "retention.segment_retention");
        let e = load(&minimal("[retention]\nstale_afterr = \"1m\"\n")).unwrap_err();
        assert_eq!(e.key, "retention.stale_afterr");
        let r = load(&minimal("[retention]\nmax_disk = \"6GiB\"\n")).unwrap().policy.retention.clone().unwrap();
        assert_eq!(r.max_disk_bytes, Some(6 << 30));
        assert!(r.keep_vod && !r.dry_run && r.stale_after.is_none());
    }

    #[test]
    fn missing_server_section_is_an_error() {
        let e = load("[cache]\n").unwrap_err();
        assert!(e.message.contains("server"), "{e}");
    }

    #[test]
    fn shipped_example_is_valid_and_complete() {
        let text = include_str!("../../config/hls-origin.toml").replace("root = \"/var/hls\"", "root = \"/tmp\"");
        let c = load(&text).unwrap();
        assert_eq!(c.startup.listen, vec!["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]);
        // The commented sections parse too, once uncommented.
        let all = text
            .replace("# [admin]", "[admin]")
            .replace("# listen = \"127", "listen = \"127")
            .replace("# [limits]", "[limits]");
        let limits = [
            "max_connections",
            "max_connections_per_ip",
            "requests_per_second_per_ip",
            "requests_per_second_per_token",
            "burst",
            "exempt",
        ];
        let all = limits.iter().fold(all, |t, k| t.replace(&format!("# {k} = "), &format!("{k} = ")));
        let c = load(&all).unwrap();
        assert_eq!(c.startup.admin, Some("127.0.0.1:9090".parse().unwrap()));
        assert!(c.policy.limits.is_exempt("10.1.2.3".parse().unwrap()));
        for key in [
            "header_read_timeout",
            "idle_timeout",
            "shutdown_grace",
            "access_log",
            "http1_driver",
            "zero_copy",
            "zero_copy_min_size",
            "manifest_validity",
            "segment_validity",
            "miss_validity",
            "memory_budget",
            "immutable_max_age",
            "cors_allow_origin",
            "cors_max_age",
            "ended_max_age",
            "compress",
            "backlog",
            "min_send_rate",
        ] {
            assert!(text.contains(&format!("\n{key} = ")), "example must show `{key}`");
        }
    }
}
