//! Signed URLs, decided exactly as nginx's `secure_link` + `secure_link_md5` and the nginx HMAC
//! secure-link module decide them; and signing, for the `sign` command and for playlists that
//! sign their children. Pure: the handler supplies the request's values and the clock, and maps
//! a [`Verdict`] to a status.

pub mod base64url;
pub mod children;
pub mod template;
pub mod timestamp;

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

use crate::path::NormPath;
use crate::request::Fields;
use template::{Template, Values, Var};

/// A secret that never appears in logs or `Debug` output.
#[derive(Clone)]
pub struct Secret(pub Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The validated `[secure_link]` section.
#[derive(Clone, Debug)]
pub struct SecureLink {
    /// How tokens are computed.
    pub mode: Mode,
    /// The shared secret.
    pub secret: Secret,
    /// Path prefixes that require a valid signature.
    pub protect: Vec<String>,
    /// Rewrite URIs inside protected playlists with their own signatures.
    pub sign_children: bool,
    /// Child expiries are rounded up to a multiple of this, so viewers share bytes.
    pub child_bucket: Duration,
}

/// Token schemes.
#[derive(Clone, Debug)]
pub enum Mode {
    /// nginx `secure_link $arg_<md5_arg>,$arg_<expires_arg>` + `secure_link_md5 <expression>`.
    Md5 {
        /// The `secure_link_md5` expression.
        expression: Template,
        /// Query argument carrying the token.
        md5_arg: String,
        /// Query argument carrying the expiry (empty: links never expire, as
        /// `secure_link $arg_md5;`).
        expires_arg: String,
    },
    /// The HMAC module: `secure_link_hmac $arg_<token>,$arg_<timestamp>,$arg_<expires>` with
    /// `secure_link_hmac_algorithm sha256`.
    Hmac {
        /// The `secure_link_hmac_message` template.
        message: Template,
        /// Query argument carrying the token.
        token_arg: String,
        /// Query argument carrying the timestamp.
        timestamp_arg: String,
        /// Query argument carrying the lifetime in seconds (0: no expiry).
        expires_arg: String,
    },
}

/// The request values a verification or signature may use.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// `$uri`.
    pub path: &'a NormPath,
    /// The raw query string (without `?`).
    pub query: &'a str,
    /// Request headers.
    pub headers: Fields<'a>,
    /// The client address.
    pub remote: Option<IpAddr>,
}

/// The outcome of checking a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Signed and current; `until` is the link's expiry (Unix seconds), if it has one.
    Valid {
        /// When the link stops being valid.
        until: Option<i64>,
    },
    /// Missing, malformed or wrong token (403).
    Invalid,
    /// Correct token, past its expiry (410).
    Expired,
}

/// Why a URL could not be signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignError(pub String);

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// nginx's `ngx_http_arg`: the first `name=` at the start of the query or after `&`, the name
/// compared case-insensitively, the value as sent up to the next `&`.
pub fn query_arg<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.eq_ignore_ascii_case(name).then_some(v)
    })
}

struct RequestValues<'a> {
    req: Request<'a>,
    secret: &'a [u8],
    expires: &'a str,
    /// Argument values that override the query (used when signing).
    overrides: &'a [(&'a str, &'a str)],
}

impl Values for RequestValues<'_> {
    fn value(&self, var: &Var) -> Vec<u8> {
        match var {
            Var::Uri => self.req.path.as_str().as_bytes().to_vec(),
            Var::RemoteAddr => self.req.remote.map(|a| a.to_string().into_bytes()).unwrap_or_default(),
            Var::Expires => self.expires.as_bytes().to_vec(),
            Var::Secret => self.secret.to_vec(),
            Var::Arg(name) => {
                let over = self.overrides.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| *v);
                over.or_else(|| query_arg(self.req.query, name)).unwrap_or_default().as_bytes().to_vec()
            }
            Var::Http(name) => self.req.headers.get(name.as_str()).map(<[u8]>::to_vec).unwrap_or_default(),
        }
    }
}

/// Equal-length comparison whose time does not depend on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
}

impl SecureLink {
    /// `target` with the values of the signature and expiry arguments replaced, for logs.
    pub fn redact<'t>(&self, target: &'t str) -> std::borrow::Cow<'t, str> {
        let names: [&str; 3] = match &self.mode {
            Mode::Md5 { md5_arg, expires_arg, .. } => [md5_arg, expires_arg, ""],
            Mode::Hmac { token_arg, timestamp_arg, expires_arg, .. } => [token_arg, timestamp_arg, expires_arg],
        };
        let Some((path, query)) = target.split_once('?') else { return target.into() };
        let secret = |arg: &str| {
            let name = arg.split('=').next().unwrap_or_default();
            names.iter().any(|n| !n.is_empty() && n.eq_ignore_ascii_case(name))
        };
        if !query.split('&').any(secret) {
            return target.into();
        }
        let args: Vec<String> = query
            .split('&')
            .map(|a| if secret(a) { format!("{}=REDACTED", a.split('=').next().unwrap_or_default()) } else { a.into() })
            .collect();
        format!("{path}?{}", args.join("&")).into()
    }

    /// The signature a request carries (its `md5_arg` or `hmac_token_arg` value), the key of
    /// `requests_per_second_per_token`: one signed link shared by many viewers is one token.
    pub fn token<'q>(&self, query: &'q str) -> Option<&'q str> {
        let name = match &self.mode {
            Mode::Md5 { md5_arg, .. } => md5_arg,
            Mode::Hmac { token_arg, .. } => token_arg,
        };
        query_arg(query, name).filter(|t| !t.is_empty())
    }

    /// Whether the links this configuration signs expire (an MD5 setup without an expiry
    /// argument signs links that never do).
    pub fn links_expire(&self) -> bool {
        match &self.mode {
            Mode::Md5 { expires_arg, .. } => !expires_arg.is_empty(),
            Mode::Hmac { .. } => true,
        }
    }

    /// Does `path` need a signature?
    pub fn protects(&self, path: &NormPath) -> bool {
        self.protect.iter().any(|p| path.as_str().starts_with(p.as_str()))
    }

    /// Checks a request at time `now` (Unix seconds): hash first, then expiry.
    pub fn verify(&self, req: Request<'_>, now: i64) -> Verdict {
        match &self.mode {
            Mode::Md5 { expression, md5_arg, expires_arg } => {
                let token = query_arg(req.query, md5_arg).unwrap_or_default();
                // nginx renders "$arg_md5,$arg_expires" and splits at the first comma.
                let joined;
                let (token, expires_text) = if expires_arg.is_empty() {
                    (token, None)
                } else {
                    joined = format!("{token},{}", query_arg(req.query, expires_arg).unwrap_or_default());
                    let (t, e) = joined.split_once(',').unwrap_or((&joined, ""));
                    (t, Some(e))
                };
                let expires = match expires_text.map(timestamp::atotm) {
                    None => None,
                    Some(Some(e)) if e > 0 => Some(e),
                    Some(_) => return Verdict::Invalid,
                };
                if token.len() > 24 {
                    return Verdict::Invalid;
                }
                let Some(hash) = base64url::decode(token.as_bytes()).filter(|h| h.len() == 16) else {
                    return Verdict::Invalid;
                };
                let values =
                    RequestValues { req, secret: &self.secret.0, expires: expires_text.unwrap_or(""), overrides: &[] };
                if !constant_time_eq(&hash, &Md5::digest(expression.render(&values))) {
                    return Verdict::Invalid;
                }
                match expires {
                    Some(e) if e < now => Verdict::Expired,
                    _ => Verdict::Valid { until: expires },
                }
            }
            Mode::Hmac { message, token_arg, timestamp_arg, expires_arg } => {
                let arg = |n: &str| query_arg(req.query, n).unwrap_or_default();
                let joined = format!("{},{},{}", arg(token_arg), arg(timestamp_arg), arg(expires_arg));
                self.verify_hmac(message, &joined, req, now)
            }
        }
    }

    /// The HMAC module's handler, on the rendered `token,timestamp,expires` value.
    fn verify_hmac(&self, message: &Template, value: &str, req: Request<'_>, now: i64) -> Verdict {
        let (token, fields) = value.split_once(',').unwrap_or((value, ""));
        // An IMF-fixdate has a comma after the weekday: skip it before looking for the next.
        let skip = if fields.len() >= 4
            && fields.as_bytes()[..3].iter().all(u8::is_ascii_alphabetic)
            && fields.as_bytes()[3] == b','
        {
            4
        } else {
            0
        };
        let (ts_text, expires_text) = match fields[skip..].find(',') {
            Some(i) => (&fields[..skip + i], Some(&fields[skip + i + 1..])),
            None => (fields, None),
        };
        let Some(ts) = timestamp::parse_timestamp(ts_text).filter(|&t| t > 0) else {
            return Verdict::Invalid;
        };
        let lifetime = match expires_text.map(timestamp::atotm) {
            None => 0,
            Some(Some(e)) => e,
            Some(None) => return Verdict::Invalid,
        };
        // base64 of 32 bytes is 44 characters; the module allows 2 more.
        if token.len() > 46 {
            return Verdict::Invalid;
        }
        let Some(hash) = base64url::decode(token.as_bytes()).filter(|h| h.len() == 32) else {
            return Verdict::Invalid;
        };
        let values = RequestValues { req, secret: &self.secret.0, expires: expires_text.unwrap_or(""), overrides: &[] };
        if !constant_time_eq(&hash, &hmac_sha256(&self.secret.0, &message.render(&values))) {
            return Verdict::Invalid;
        }
        let until = (lifetime > 0).then(|| ts.saturating_add(lifetime));
        match until {
            Some(u) if u < now => Verdict::Expired,
            _ => Verdict::Valid { until },
        }
    }

    /// The query string (`md5=…&expires=…` or `st=…&ts=…&e=…`) that makes `req.path` valid until
    /// `until`; `issued` is the HMAC timestamp. Request values the template needs are taken from
    /// `req` (the parent request when signing a playlist's children).
    pub fn sign(&self, req: Request<'_>, until: i64, issued: i64) -> String {
        match &self.mode {
            Mode::Md5 { expression, md5_arg, expires_arg } => {
                let expires = until.to_string();
                let overrides = [(expires_arg.as_str(), expires.as_str())];
                let values = RequestValues { req, secret: &self.secret.0, expires: &expires, overrides: &overrides };
                let token = base64url::encode(&Md5::digest(expression.render(&values)));
                if expires_arg.is_empty() {
                    format!("{md5_arg}={token}")
                } else {
                    format!("{md5_arg}={token}&{expires_arg}={expires}")
                }
            }
            Mode::Hmac { message, token_arg, timestamp_arg, expires_arg } => {
                let (ts, lifetime) = (issued.to_string(), (until - issued).max(1).to_string());
                let overrides = [(timestamp_arg.as_str(), ts.as_str()), (expires_arg.as_str(), lifetime.as_str())];
                let values = RequestValues { req, secret: &self.secret.0, expires: &lifetime, overrides: &overrides };
                let token = base64url::encode(&hmac_sha256(&self.secret.0, &message.render(&values)));
                format!("{token_arg}={token}&{timestamp_arg}={ts}&{expires_arg}={lifetime}")
            }
        }
    }

    /// The `sign` command: `path` (a request path, optionally with a query to keep) plus the
    /// signature, valid for `ttl_secs` from `now`. `remote` supplies `$remote_addr`.
    pub fn sign_path(&self, path: &str, ttl_secs: u64, now: i64, remote: Option<IpAddr>) -> Result<String, SignError> {
        let missing: Vec<String> =
            self.request_variables().into_iter().filter(|v| !(v == "$remote_addr" && remote.is_some())).collect();
        if !missing.is_empty() {
            return Err(SignError(format!(
                "the signature depends on {} which only a live request has{}",
                missing.join(", "),
                if missing.iter().any(|m| m == "$remote_addr") { " (pass --remote-addr)" } else { "" }
            )));
        }
        let (target, query) = path.split_once('?').map_or((path, None), |(t, q)| (t, Some(q)));
        let norm = NormPath::parse(target).map_err(|e| SignError(format!("{path:?}: {e}")))?;
        if !self.protects(&norm) {
            tracing::warn!("{} is not under a protected prefix; the signature will not be checked", norm.as_str());
        }
        let ttl = i64::try_from(ttl_secs).map_err(|_| SignError("--ttl is too large".into()))?;
        let request = Request { path: &norm, query: query.unwrap_or(""), headers: Fields::raw(&[]), remote };
        let signature = self.sign(request, now.saturating_add(ttl), now);
        // The signature covers the normalised, decoded path: print exactly that, encoded.
        let target = crate::path::percent_encode(norm.as_str());
        Ok(match query {
            Some(q) if !q.is_empty() => format!("{target}?{q}&{signature}"),
            _ => format!("{target}?{signature}"),
        })
    }

    /// True when signatures depend on the request beyond the path and expiry (no allocation:
    /// asked per signed-playlist request).
    pub fn reads_request(&self) -> bool {
        self.request_vars().next().is_some()
    }

    /// Variables a template needs that only a live request can supply (for `sign` on the
    /// command line): `$remote_addr`, `$http_*`, and `$arg_*` other than the signature's own.
    pub fn request_variables(&self) -> Vec<String> {
        self.request_vars()
            .map(|v| match v {
                Var::Http(h) => format!("$http_{}", h.replace('-', "_")),
                Var::Arg(a) => format!("$arg_{a}"),
                _ => "$remote_addr".to_string(),
            })
            .collect()
    }

    fn request_vars(&self) -> impl Iterator<Item = &Var> {
        let (template, own): (&Template, [&String; 3]) = match &self.mode {
            Mode::Md5 { expression, md5_arg, expires_arg } => (expression, [md5_arg, expires_arg, md5_arg]),
            Mode::Hmac { message, token_arg, timestamp_arg, expires_arg } => {
                (message, [token_arg, timestamp_arg, expires_arg])
            }
        };
        template.vars().filter(move |v| match v {
            Var::RemoteAddr | Var::Http(_) => true,
            Var::Arg(a) => !own.iter().any(|o| o.eq_ignore_ascii_case(a)),
            _ => false,
        })
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length (RFC 2104 §2), so construction cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests;
