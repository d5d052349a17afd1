//! The `[on_demand]` section: raw serde struct and its validation into [`OnDemandConfig`] — the
//! path pattern that names a stream, the start/stop hook URL templates, and the timings and
//! limits of starts. Must not call hooks (that is `on_demand`'s job).

use std::time::Duration;

use serde::Deserialize;

use super::units::parse_duration;

/// The validated `[on_demand]` section: start an encoder when a stream's playlist is first asked
/// for, stop it when nobody watches.
#[derive(Clone, Debug, PartialEq)]
pub struct OnDemandConfig {
    /// The request-path prefix before the stream id, e.g. `/live/` for `/live/{stream}/`.
    pub prefix: String,
    /// `start_url` with `{stream}` split out: `[before, after]`, called with POST.
    pub start_url: UrlTemplate,
    /// `stop_url`, absent when empty.
    pub stop_url: Option<UrlTemplate>,
    /// How long viewers wait for the first playlist (`start_timeout`, default 10s).
    pub start_timeout: Duration,
    /// A started stream with no read for this long is stopped (`idle_after`, default 60s).
    pub idle_after: Duration,
    /// A stream is started at most once per this (`start_cooldown`, default 10s): a failed
    /// start is not retried at once for every viewer.
    pub start_cooldown: Duration,
    /// Starts per second over all streams (`max_starts_per_second`, default 10): a crowd
    /// asking for a thousand cold channels does not fork a thousand encoders at once.
    pub max_starts_per_second: u32,
}

/// A hook URL with one `{stream}` placeholder.
#[derive(Clone, Debug, PartialEq)]
pub struct UrlTemplate {
    /// Before `{stream}`.
    pub before: String,
    /// After `{stream}`.
    pub after: String,
}

impl UrlTemplate {
    /// The URL for `stream`, percent-encoded as a path segment (RFC 3986 §2.3: everything but
    /// unreserved characters).
    pub fn render(&self, stream: &str) -> String {
        let mut out = String::with_capacity(self.before.len() + stream.len() * 3 + self.after.len());
        out.push_str(&self.before);
        for b in stream.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out.push_str(&self.after);
        out
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOnDemand {
    pattern: String,
    start_url: String,
    stop_url: Option<String>,
    start_timeout: Option<String>,
    idle_after: Option<String>,
    start_cooldown: Option<String>,
    max_starts_per_second: Option<u32>,
}

type KeyError = (&'static str, String);

pub(super) fn on_demand(raw: RawOnDemand) -> Result<OnDemandConfig, KeyError> {
    let duration = |key: &'static str, v: Option<&str>, default: &str| -> Result<Duration, KeyError> {
        let d = parse_duration(v.unwrap_or(default)).map_err(|m| (key, m))?;
        if d.is_zero() {
            return Err((key, "must be greater than zero".into()));
        }
        Ok(d)
    };
    let prefix = pattern(&raw.pattern)?;
    let start_url = template("on_demand.start_url", &raw.start_url)?;
    let stop_url = match raw.stop_url.as_deref() {
        None | Some("") => None,
        Some(url) => Some(template("on_demand.stop_url", url)?),
    };
    let max_starts_per_second = raw.max_starts_per_second.unwrap_or(10);
    if max_starts_per_second == 0 {
        return Err(("on_demand.max_starts_per_second", "must be at least 1".into()));
    }
    Ok(OnDemandConfig {
        prefix,
        start_url,
        stop_url,
        start_timeout: duration("on_demand.start_timeout", raw.start_timeout.as_deref(), "10s")?,
        idle_after: duration("on_demand.idle_after", raw.idle_after.as_deref(), "60s")?,
        start_cooldown: duration("on_demand.start_cooldown", raw.start_cooldown.as_deref(), "10s")?,
        max_starts_per_second,
    })
}

/// `/prefix/{stream}/`: `{stream}` is one whole path segment after a literal prefix.
fn pattern(text: &str) -> Result<String, KeyError> {
    let key = "on_demand.pattern";
    let Some(prefix) = text.strip_suffix("{stream}/") else {
        return Err((key, format!("{text:?} must end with \"{{stream}}/\", like \"/live/{{stream}}/\"")));
    };
    if !prefix.starts_with('/') || !prefix.ends_with('/') || prefix.contains(['{', '}', '%', '?', '#']) {
        return Err((key, format!("{text:?}: the part before {{stream}} must be a plain path like \"/live/\"")));
    }
    if prefix.split('/').any(|s| s == "." || s == "..") {
        return Err((key, format!("{text:?} must not contain . or .. segments")));
    }
    Ok(prefix.to_string())
}

fn template(key: &'static str, url: &str) -> Result<UrlTemplate, KeyError> {
    if !url.starts_with("http://") {
        return Err((key, format!("{url:?} must be an http:// URL (the hook is a local service)")));
    }
    let Some((before, after)) = url.split_once("{stream}") else {
        return Err((key, format!("{url:?} must contain {{stream}}")));
    };
    if after.contains("{stream}") {
        return Err((key, format!("{url:?} must contain {{stream}} once")));
    }
    if url.parse::<http::Uri>().is_err() && format!("{before}x{after}").parse::<http::Uri>().is_err() {
        return Err((key, format!("{url:?} is not a valid URL")));
    }
    Ok(UrlTemplate { before: before.to_string(), after: after.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pattern: &str, start: &str) -> RawOnDemand {
        RawOnDemand {
            pattern: pattern.into(),
            start_url: start.into(),
            stop_url: Some(String::new()),
            start_timeout: None,
            idle_after: None,
            start_cooldown: None,
            max_starts_per_second: None,
        }
    }

    #[test]
    fn the_shipped_example_parses_uncommented() {
        let text = include_str!("../../config/hls-origin.toml").replace("root = \"/var/hls\"", "root = \"/tmp\"");
        let keys = ["[on_demand]", "pattern", "start_url", "stop_url", "start_timeout", "idle_after", "start_cooldown"];
        let all = keys.iter().fold(text, |t, k| t.replace(&format!("# {k}"), k));
        let all = all.replace("# max_starts_per_second", "max_starts_per_second");
        let c = crate::config::Config::from_toml(&all, std::path::Path::new("example.toml")).unwrap();
        let od = c.startup.on_demand.unwrap();
        assert_eq!(od.stop_url.unwrap().render("ch1"), "http://127.0.0.1:5000/channel/ch1/stop");
        assert_eq!((od.start_cooldown, od.max_starts_per_second), (Duration::from_secs(10), 10));
    }

    #[test]
    fn validates_and_defaults() {
        let c = on_demand(raw("/live/{stream}/", "http://127.0.0.1:5000/channel/{stream}/start")).unwrap();
        assert_eq!(c.prefix, "/live/");
        assert_eq!(c.start_url.render("a b/.."), "http://127.0.0.1:5000/channel/a%20b%2F../start");
        assert_eq!(
            (c.stop_url, c.start_timeout, c.idle_after),
            (None, Duration::from_secs(10), Duration::from_secs(60))
        );
        for bad in ["/live/{stream}", "live/{stream}/", "/a/../{stream}/", "/x/{stream}/y/"] {
            assert_eq!(on_demand(raw(bad, "http://h/{stream}")).unwrap_err().0, "on_demand.pattern", "{bad}");
        }
        for bad in ["https://h/{stream}", "http://h/start", "http://h/{stream}/{stream}"] {
            assert_eq!(on_demand(raw("/live/{stream}/", bad)).unwrap_err().0, "on_demand.start_url", "{bad}");
        }
    }
}
