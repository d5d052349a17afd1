//! nginx complex-value templates (`secure_link_md5`, `secure_link_hmac_message`): literal text
//! and `$name` / `${name}` variables, parsed once and rendered per request. Pure.

use std::fmt;

/// A variable a template may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Var {
    /// `$uri`: the decoded, normalised path.
    Uri,
    /// `$remote_addr`: the client's IP address.
    RemoteAddr,
    /// `$secure_link_expires`: the expires argument as sent.
    Expires,
    /// `$secret`: the configured secret.
    Secret,
    /// `$arg_NAME`: a query argument as sent (not decoded).
    Arg(String),
    /// `$http_NAME`: a request header (`_` in NAME matches `-`).
    Http(String),
}

/// A parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(Var),
}

/// The values variables render to, for one request.
pub trait Values {
    /// The value of `var`; empty when absent (as nginx renders a missing variable).
    fn value(&self, var: &Var) -> Vec<u8>;
}

/// Why a template was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Template {
    /// Parses nginx syntax. Unknown variable names are errors, so a typo cannot silently sign
    /// with an empty value.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(i) = rest.find('$') {
            literal.push_str(&rest[..i]);
            rest = &rest[i + 1..];
            let (name, after) = if let Some(braced) = rest.strip_prefix('{') {
                let close = braced.find('}').ok_or_else(|| TemplateError("unclosed ${".into()))?;
                (&braced[..close], &braced[close + 1..])
            } else {
                let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            };
            if !literal.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut literal)));
            }
            parts.push(Part::Var(variable(name)?));
            rest = after;
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    /// Renders with the given values.
    pub fn render(&self, values: &dyn Values) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        for part in &self.parts {
            match part {
                Part::Text(t) => out.extend_from_slice(t.as_bytes()),
                Part::Var(v) => out.extend_from_slice(&values.value(v)),
            }
        }
        out
    }

    /// The variables used, in order.
    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v),
            Part::Text(_) => None,
        })
    }
}

fn variable(name: &str) -> Result<Var, TemplateError> {
    Ok(match name {
        "uri" => Var::Uri,
        "remote_addr" => Var::RemoteAddr,
        "secure_link_expires" => Var::Expires,
        "secret" => Var::Secret,
        _ => {
            if let Some(arg) = name.strip_prefix("arg_").filter(|a| !a.is_empty()) {
                Var::Arg(arg.to_string())
            } else if let Some(h) = name.strip_prefix("http_").filter(|h| !h.is_empty()) {
                Var::Http(h.replace('_', "-"))
            } else {
                return Err(TemplateError(format!(
                    "unknown variable ${name} (known: $uri, $remote_addr, $secure_link_expires, $secret, $arg_NAME, $http_NAME)"
                )));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl Values for Fixed {
        fn value(&self, var: &Var) -> Vec<u8> {
            match var {
                Var::Uri => b"/a.ts".to_vec(),
                Var::Expires => b"123".to_vec(),
                Var::Secret => b"s".to_vec(),
                Var::RemoteAddr => b"1.2.3.4".to_vec(),
                Var::Arg(n) => format!("arg:{n}").into_bytes(),
                Var::Http(n) => format!("hdr:{n}").into_bytes(),
            }
        }
    }

    #[test]
    fn parses_and_renders_nginx_syntax() {
        let t = Template::parse("$secure_link_expires$uri$remote_addr $secret").unwrap();
        assert_eq!(t.render(&Fixed), b"123/a.ts1.2.3.4 s");
        let t = Template::parse("${uri}x|$arg_ts|$http_x_token-").unwrap();
        assert_eq!(t.render(&Fixed), b"/a.tsx|arg:ts|hdr:x-token-");
        assert_eq!(Template::parse("plain").unwrap().render(&Fixed), b"plain");
        assert!(Template::parse("$urii").is_err());
        assert!(Template::parse("${uri").is_err());
        assert!(Template::parse("$").is_err());
    }
}
