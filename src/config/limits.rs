//! The `[limits]` and `[admin]` sections: raw serde structs and their validation into
//! [`LimitsConfig`] and the admin listener's address. Must not build limiters (that is
//! `limits`'s job); this only checks and types the numbers.

use std::net::SocketAddr;

use ipnet::IpNet;
use serde::Deserialize;

use super::secure::KeyError;

/// The validated `[limits]` section. Every number 0 means "no limit", as in the contract;
/// the section absent is every key at 0.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LimitsConfig {
    /// Open connections on the public listeners, all clients together (`max_connections`).
    pub max_connections: usize,
    /// Open connections from one client IP (`max_connections_per_ip`).
    pub max_connections_per_ip: usize,
    /// Requests per second from one client IP (`requests_per_second_per_ip`).
    pub per_ip_rps: u32,
    /// Requests per second carrying one secure_link token (`requests_per_second_per_token`).
    pub per_token_rps: u32,
    /// Bucket size (`burst`); 0: one second's worth of each rate.
    pub burst: u32,
    /// Client networks never limited per IP or per token (`exempt`: the CDN's ranges).
    pub exempt: Vec<IpNet>,
}

impl LimitsConfig {
    /// True when `ip` is in an exempt network.
    pub fn is_exempt(&self, ip: std::net::IpAddr) -> bool {
        self.exempt.iter().any(|net| net.contains(&ip))
    }

    /// True when any request-rate limit is set.
    pub fn limits_rates(&self) -> bool {
        self.per_ip_rps > 0 || self.per_token_rps > 0
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    requests_per_second_per_ip: Option<u32>,
    requests_per_second_per_token: Option<u32>,
    burst: Option<u32>,
    #[serde(default)]
    exempt: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmin {
    listen: String,
}

pub(super) fn limits(raw: RawLimits) -> Result<LimitsConfig, KeyError> {
    let exempt = raw
        .exempt
        .iter()
        .map(|text| {
            parse_net(text).ok_or_else(|| {
                ("limits.exempt", format!("{text:?} is not a CIDR like \"10.0.0.0/8\" or an IP address"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LimitsConfig {
        max_connections: raw.max_connections.unwrap_or(0),
        max_connections_per_ip: raw.max_connections_per_ip.unwrap_or(0),
        per_ip_rps: raw.requests_per_second_per_ip.unwrap_or(0),
        per_token_rps: raw.requests_per_second_per_token.unwrap_or(0),
        burst: raw.burst.unwrap_or(0),
        exempt,
    })
}

/// A CIDR, or a bare address as its own /32 or /128.
fn parse_net(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>().ok().or_else(|| text.parse::<std::net::IpAddr>().ok().map(IpNet::from)).map(|n| n.trunc())
}

/// `[admin] listen`: one address, never one of the public ones.
pub(super) fn admin(raw: RawAdmin, public: &[SocketAddr]) -> Result<SocketAddr, KeyError> {
    let addr = raw
        .listen
        .parse::<SocketAddr>()
        .map_err(|_| ("admin.listen", format!("{:?} is not an IP:port address", raw.listen)))?;
    if addr.port() != 0
        && public.iter().any(|p| {
            p.port() == addr.port() && (p.ip() == addr.ip() || p.ip().is_unspecified() || addr.ip().is_unspecified())
        })
    {
        return Err(("admin.listen", format!("{addr} is also a public listener; metrics must never be public")));
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exempt_networks_parse_and_match() {
        let raw = RawLimits { exempt: vec!["10.1.2.3/8".into(), "2001:db8::1".into()], ..RawLimits::default() };
        let cfg = limits(raw).unwrap();
        assert!(cfg.is_exempt("10.200.0.1".parse().unwrap()));
        assert!(cfg.is_exempt("2001:db8::1".parse().unwrap()));
        assert!(!cfg.is_exempt("2001:db8::2".parse().unwrap()));
        assert!(!cfg.is_exempt("11.0.0.1".parse().unwrap()));
        let bad = RawLimits { exempt: vec!["10.0.0.0/33".into()], ..RawLimits::default() };
        assert_eq!(limits(bad).unwrap_err().0, "limits.exempt");
    }

    #[test]
    fn the_admin_listener_is_never_a_public_one() {
        let public: Vec<SocketAddr> = vec!["0.0.0.0:8080".parse().unwrap()];
        let same = RawAdmin { listen: "127.0.0.1:8080".into() };
        assert_eq!(admin(same, &public).unwrap_err().0, "admin.listen");
        let other = RawAdmin { listen: "127.0.0.1:9090".into() };
        assert_eq!(admin(other, &public).unwrap(), "127.0.0.1:9090".parse().unwrap());
        assert!(admin(RawAdmin { listen: "nope".into() }, &public).is_err());
    }
}
