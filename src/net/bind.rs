//! Binding listeners: `SO_REUSEADDR` (a restart must not wait out TIME_WAIT) and a listen
//! queue deep enough for a CDN's reconnect storm. Must not accept.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::{TcpListener, TcpSocket};

/// Where Linux caps every listen queue; `listen(2)` silently truncates a larger backlog.
const SOMAXCONN: &str = "/proc/sys/net/core/somaxconn";

/// Binds every address with a listen queue of `backlog` (capped by `net.core.somaxconn`),
/// logging `listening on <addr>` for each.
pub async fn bind(addrs: &[SocketAddr], backlog: u32) -> anyhow::Result<Vec<TcpListener>> {
    let backlog = effective_backlog(backlog);
    let mut listeners = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let listener = bind_one(*addr, backlog).with_context(|| format!("binding {addr}"))?;
        tracing::info!("listening on {}", listener.local_addr()?);
        listeners.push(listener);
    }
    Ok(listeners)
}

fn bind_one(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// `backlog`, or the kernel's cap when that is lower (said once, with the sysctl to raise it).
fn effective_backlog(backlog: u32) -> u32 {
    let cap = std::fs::read_to_string(SOMAXCONN).ok().and_then(|s| s.trim().parse::<u32>().ok());
    match cap {
        Some(cap) if cap < backlog => {
            tracing::warn!(
                "server.backlog = {backlog} is capped at {cap} by net.core.somaxconn; \
                 raise it with `sysctl -w net.core.somaxconn={backlog}`"
            );
            cap
        }
        _ => backlog,
    }
}
