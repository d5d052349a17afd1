//! Listeners and THE accept loop: every listener, whichever driver or responder serves it, is
//! accepted here. Admission (the gate), the first-byte/idle watchdog, the per-connection stop
//! signal and the drain live here once; a driver only gets a [`Conn`] and speaks HTTP on it.
//! Must not parse HTTP or know what answers requests.

pub mod activity;
pub mod stop;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub use activity::ActivityIo;
pub use stop::StopWatch;
use stop::Stops;

/// Binds every address, logging `listening on <addr>` for each.
pub async fn bind(addrs: &[SocketAddr]) -> anyhow::Result<Vec<TcpListener>> {
    let mut listeners = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let listener = TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        tracing::info!("listening on {}", listener.local_addr()?);
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Decides whether an accepted connection is served, and counts the ones open. Admits everyone
/// for now; connection caps go here, checked before the connection costs a task. One gate may
/// serve several listeners (a cap is per server, not per address).
#[derive(Clone, Debug, Default)]
pub struct Gate {
    open: Arc<AtomicUsize>,
}

/// Held by an admitted connection until its task ends and its socket is closed.
#[derive(Debug)]
pub struct Admission {
    open: Arc<AtomicUsize>,
}

impl Gate {
    /// `None`: close the connection at once.
    pub fn admit(&self, _peer: SocketAddr) -> Option<Admission> {
        self.open.fetch_add(1, Ordering::Relaxed);
        Some(Admission { open: Arc::clone(&self.open) })
    }

    /// Connections admitted and not yet closed.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The connection timers the loop enforces, whatever the driver.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// No byte at all within this: closed (`header_read_timeout`).
    pub first_byte: Duration,
    /// No byte moved for this long: closed (`idle_timeout`).
    pub idle: Duration,
    /// After the stop signal, open connections get this long to finish (`shutdown_grace`).
    pub grace: Duration,
}

/// One accepted connection, handed to a driver.
pub struct Conn {
    /// The socket, counting the bytes it moves for the watchdog.
    pub io: ActivityIo,
    /// The client.
    pub peer: SocketAddr,
    /// The server's stop signal, as this connection sees it.
    pub stop: StopWatch,
}

/// Serves `listener` until `shutdown` resolves: each admitted connection runs `serve_conn` in
/// its own task under the watchdog. Then stops accepting, signals every connection to stop,
/// and waits for them to finish — for at most `timeouts.grace`, after which they are closed.
pub async fn serve<F, Fut>(
    listener: TcpListener,
    gate: Gate,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()>,
    serve_conn: F,
) where
    F: Fn(Conn) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let stops = Arc::new(Stops::default());
    // The set is the drain's drop-guard: a connection is in it until its task ends.
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                accept_error(e).await;
                continue;
            }
        };
        reap(&mut conns);
        let Some(admission) = gate.admit(peer) else { continue };
        let (io, activity) = ActivityIo::new(stream);
        let stop = stops.register();
        let phase = stop.phase();
        let conn = serve_conn(Conn { io, peer, stop });
        conns.spawn(async move {
            // Declared first, so dropped last: after the socket (owned by `conn`) is closed.
            let _admission = admission;
            tokio::select! {
                () = conn => {}
                () = activity.watchdog(timeouts.first_byte, timeouts.idle) => idle_closed(peer, &phase, timeouts.idle),
            }
        });
    }
    drop(listener);
    drain(conns, &stops, timeouts.grace).await;
}

/// The watchdog closed a connection: routine between requests, a cut-short response otherwise.
fn idle_closed(peer: SocketAddr, phase: &stop::Phase, idle: Duration) {
    if phase.is_busy() {
        tracing::warn!(target: "access", %peer, ?idle, "response cut short: no byte moved for idle_timeout; connection closed");
    } else {
        tracing::debug!(%peer, "idle connection closed");
    }
}

/// Forgets connections that ended (so the set holds only open ones).
fn reap(conns: &mut JoinSet<()>) {
    while let Some(ended) = conns.try_join_next() {
        if let Err(e) = ended {
            if e.is_panic() {
                tracing::error!("a connection task panicked: {e}");
            }
        }
    }
}

async fn drain(mut conns: JoinSet<()>, stops: &Stops, grace: Duration) {
    stops.stop();
    let all_ended = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, all_ended).await.is_err() {
        tracing::warn!("shutdown: {} connections still open after {grace:?}; closing them", conns.len());
        conns.shutdown().await;
    }
}

/// Running out of descriptors (EMFILE/ENFILE) must not spin the accept loop.
async fn accept_error(e: std::io::Error) {
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}
