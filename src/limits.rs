//! Request-rate limits: token buckets (GCRA, the `governor` crate) per client IP and per
//! secure_link token, with exempt networks. Built from a [`LimitsConfig`] once per config
//! version (a reload builds new ones). Connection caps are the accept loop's (`net::Gate`).
//! Must not choose status codes or touch sockets.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::LimitsConfig;
use crate::metrics::Limited;

/// The rate limiters of one config version.
pub struct Limiter {
    config: LimitsConfig,
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_token: Option<DefaultKeyedRateLimiter<Box<str>>>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A request over its rate: which limit, and when to try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverLimit {
    /// Which limit refused it.
    pub why: Limited,
    /// Seconds until a request would pass (`Retry-After`, at least 1).
    pub retry_after_secs: u64,
}

impl Limiter {
    /// The limiters `config` asks for (none when every rate is 0).
    pub fn new(config: &LimitsConfig) -> Limiter {
        let quota = |rps: u32| {
            let rate = NonZeroU32::new(rps)?;
            let burst = NonZeroU32::new(config.burst).unwrap_or(rate);
            Some(Quota::per_second(rate).allow_burst(burst))
        };
        Limiter {
            config: config.clone(),
            per_ip: quota(config.per_ip_rps).map(RateLimiter::keyed),
            per_token: quota(config.per_token_rps).map(RateLimiter::keyed),
        }
    }

    /// The config these limiters were built from.
    pub fn config(&self) -> &LimitsConfig {
        &self.config
    }

    /// True when no request-rate limit is configured (the request path skips [`check`]).
    ///
    /// [`check`]: Limiter::check
    pub fn is_off(&self) -> bool {
        self.per_ip.is_none() && self.per_token.is_none()
    }

    /// Takes one request from the client's and the token's buckets; `Err` when either is empty.
    /// Exempt clients (the CDN) are never limited.
    pub fn check(&self, client: Option<IpAddr>, token: Option<&str>) -> Result<(), OverLimit> {
        if client.is_some_and(|ip| self.config.is_exempt(ip)) {
            return Ok(());
        }
        let now = DefaultClock::default().now();
        if let (Some(limiter), Some(ip)) = (&self.per_ip, client) {
            limiter.check_key(&ip).map_err(|not| over(Limited::Ip, not.wait_time_from(now)))?;
        }
        if let (Some(limiter), Some(token)) = (&self.per_token, token) {
            limiter.check_key(&Box::from(token)).map_err(|not| over(Limited::Token, not.wait_time_from(now)))?;
        }
        Ok(())
    }

    /// Forgets buckets that are full again (clients gone quiet), so the maps stay the size of
    /// the clients actually active. Call periodically.
    pub fn forget_idle(&self) {
        if let Some(l) = &self.per_ip {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.per_token {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

fn over(why: Limited, wait: Duration) -> OverLimit {
    // Retry-After has one-second resolution (RFC 9110 §10.2.3): round up, never 0.
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    OverLimit { why, retry_after_secs: secs.max(1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(ip: u32, token: u32, burst: u32) -> LimitsConfig {
        LimitsConfig { per_ip_rps: ip, per_token_rps: token, burst, ..LimitsConfig::default() }
    }

    #[test]
    fn a_client_gets_its_burst_then_429s() {
        let limiter = Limiter::new(&config(2, 0, 5));
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..5 {
            limiter.check(Some(ip), None).unwrap();
        }
        let refused = limiter.check(Some(ip), None).unwrap_err();
        assert_eq!(refused.why, Limited::Ip);
        assert_eq!(refused.retry_after_secs, 1);
        // Another client has its own bucket.
        limiter.check(Some("192.0.2.8".parse().unwrap()), None).unwrap();
    }

    #[test]
    fn tokens_are_limited_across_clients_and_exempt_networks_never() {
        let mut cfg = config(0, 1, 0);
        cfg.exempt = vec!["10.0.0.0/8".parse().unwrap()];
        let limiter = Limiter::new(&cfg);
        limiter.check(Some("192.0.2.1".parse().unwrap()), Some("tok")).unwrap();
        let refused = limiter.check(Some("192.0.2.2".parse().unwrap()), Some("tok")).unwrap_err();
        assert_eq!(refused.why, Limited::Token);
        for _ in 0..10 {
            limiter.check(Some("10.1.1.1".parse().unwrap()), Some("tok")).unwrap();
        }
        limiter.check(Some("192.0.2.2".parse().unwrap()), Some("other")).unwrap();
        assert!(Limiter::new(&LimitsConfig::default()).is_off());
    }
}
