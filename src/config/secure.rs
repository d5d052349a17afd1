//! The `[secure_link]` section and `server.require_header`: raw serde structs and their
//! validation into [`SecureLink`] and [`RequiredHeader`]. Secrets never reach a log line.

use std::time::Duration;

use http::header::HeaderName;
use serde::Deserialize;

use crate::secure_link::template::Template;
use crate::secure_link::{Mode, Secret, SecureLink};

/// `server.require_header = "NAME: VALUE"`: only requests carrying it are served.
#[derive(Clone, Debug)]
pub struct RequiredHeader {
    /// Header name.
    pub name: HeaderName,
    /// Expected value (compared in constant time).
    pub value: Secret,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSecureLink {
    mode: Option<String>,
    secret: Option<String>,
    secret_file: Option<String>,
    #[serde(default)]
    protect: Vec<String>,
    md5_expression: Option<String>,
    md5_arg: Option<String>,
    expires_arg: Option<String>,
    hmac_message: Option<String>,
    hmac_token_arg: Option<String>,
    hmac_timestamp_arg: Option<String>,
    hmac_expires_arg: Option<String>,
    hmac_algorithm: Option<String>,
    sign_children: Option<bool>,
    child_expiry_bucket: Option<String>,
}

/// Errors as (key, message); the caller adds the file.
pub(super) type KeyError = (&'static str, String);

pub(super) fn secure_link(raw: RawSecureLink) -> Result<SecureLink, KeyError> {
    let secret = match (raw.secret, raw.secret_file) {
        (Some(s), None) => s.into_bytes(),
        (None, Some(f)) => {
            let mut bytes = std::fs::read(&f).map_err(|e| ("secure_link.secret_file", format!("{f:?}: {e}")))?;
            // A trailing newline from `echo secret > file` is not part of the secret.
            while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                bytes.pop();
            }
            bytes
        }
        (Some(_), Some(_)) => return Err(("secure_link.secret", "set either secret or secret_file, not both".into())),
        (None, None) => return Err(("secure_link.secret", "required (or secret_file)".into())),
    };
    if raw.protect.is_empty() {
        return Err(("secure_link.protect", "list at least one path prefix, like [\"/secure/\"]".into()));
    }
    if let Some(p) = raw.protect.iter().find(|p| !p.starts_with('/')) {
        return Err(("secure_link.protect", format!("{p:?} must start with /")));
    }
    let arg = |v: Option<String>, default: &str| v.unwrap_or_else(|| default.to_string());
    let template = |key: &'static str, text: &str| Template::parse(text).map_err(|e| (key, e.to_string()));
    let mode = match raw.mode.as_deref().unwrap_or("md5") {
        "md5" => Mode::Md5 {
            expression: template(
                "secure_link.md5_expression",
                raw.md5_expression.as_deref().unwrap_or("$secure_link_expires$uri$secret"),
            )?,
            md5_arg: arg(raw.md5_arg, "md5"),
            expires_arg: arg(raw.expires_arg, "expires"),
        },
        "hmac" => {
            if raw.hmac_algorithm.as_deref().is_some_and(|a| a != "sha256") {
                return Err(("secure_link.hmac_algorithm", "only \"sha256\" is supported".into()));
            }
            Mode::Hmac {
                message: template(
                    "secure_link.hmac_message",
                    raw.hmac_message.as_deref().unwrap_or("$uri|$arg_ts|$arg_e"),
                )?,
                token_arg: arg(raw.hmac_token_arg, "st"),
                timestamp_arg: arg(raw.hmac_timestamp_arg, "ts"),
                expires_arg: arg(raw.hmac_expires_arg, "e"),
            }
        }
        other => return Err(("secure_link.mode", format!("{other:?}: use \"md5\" or \"hmac\""))),
    };
    let bucket = raw.child_expiry_bucket.as_deref().unwrap_or("5m");
    let child_bucket = super::units::parse_duration(bucket).map_err(|m| ("secure_link.child_expiry_bucket", m))?;
    if child_bucket < Duration::from_secs(1) {
        return Err(("secure_link.child_expiry_bucket", "must be at least 1s".into()));
    }
    Ok(SecureLink {
        mode,
        secret: Secret(secret),
        protect: raw.protect,
        sign_children: raw.sign_children.unwrap_or(true),
        child_bucket,
    })
}

pub(super) fn required_header(text: &str) -> Result<RequiredHeader, KeyError> {
    let key = "server.require_header";
    let (name, value) = text.split_once(':').ok_or((key, "expected \"NAME: VALUE\"".to_string()))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| (key, "invalid header name".to_string()))?;
    let value = value.trim();
    if value.is_empty() {
        return Err((key, "the value must not be empty".into()));
    }
    Ok(RequiredHeader { name, value: Secret(value.as_bytes().to_vec()) })
}
