//! Listeners and THE accept loop: every listener, whichever driver or responder serves it, is
//! accepted here. Admission (the gate), the first-byte/idle watchdog, the per-connection stop
//! signal and the drain live here once; a driver only gets a [`Conn`] and speaks HTTP on it.
//! Must not parse HTTP or know what answers requests.

pub mod activity;
mod bind;
pub mod gate;
mod race;
pub mod stop;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub use activity::ActivityIo;
use activity::Closed;
pub use bind::bind;
pub use gate::{Admission, Gate};
pub use stop::StopWatch;
use stop::Stops;

use crate::config;

/// The connection timers the loop enforces, whatever the driver.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// No byte at all within this: closed (`header_read_timeout`).
    pub first_byte: Duration,
    /// No byte moved for this long: closed (`idle_timeout`).
    pub idle: Duration,
    /// After the stop signal, open connections get this long to finish (`shutdown_grace`).
    pub grace: Duration,
    /// Bytes per second below which a response in progress is cut (`min_send_rate`; 0: off).
    pub min_send_rate: u64,
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
    let mut backoff = AcceptBackoff::default();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            // A finished task keeps its memory (the whole connection future) until joined:
            // join them as they end, not at the next accept.
            Some(ended) = conns.join_next(), if !conns.is_empty() => {
                log_panic(ended);
                continue;
            }
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff.succeeded();
                accepted
            }
            Err(e) => {
                tokio::select! {
                    () = backoff.failed(&e) => {}
                    () = &mut shutdown => break,
                }
                continue;
            }
        };
        let Some(admission) = gate.admit(peer) else { continue };
        let (io, activity) = ActivityIo::new(stream);
        let stop = stops.register();
        let phase = stop.phase();
        let conn = serve_conn(Conn { io, peer, stop });
        conns.spawn(async move {
            // Declared first, so dropped last: after the socket (owned by `conn`) is closed.
            let _admission = admission;
            let watchdog = activity.watchdog(timeouts.first_byte, timeouts.idle, &phase, timeouts.min_send_rate);
            if let Some(closed) = race::race(conn, watchdog).await {
                watchdog_closed(peer, &phase, closed, &timeouts);
            }
        });
    }
    drop(listener);
    drain(conns, &stops, timeouts.grace).await;
}

/// The watchdog closed a connection: routine between requests, a cut-short response otherwise.
fn watchdog_closed(peer: SocketAddr, phase: &stop::Phase, closed: Closed, timeouts: &Timeouts) {
    match closed {
        Closed::TooSlow { moved } => tracing::warn!(
            target: "access", %peer, moved, window = ?config::SEND_RATE_WINDOW, min_send_rate = timeouts.min_send_rate,
            "response cut short: the client read slower than server.min_send_rate; connection closed"
        ),
        Closed::Silent if phase.is_busy() => tracing::warn!(
            target: "access", %peer, idle = ?timeouts.idle,
            "response cut short: no byte moved for idle_timeout; connection closed"
        ),
        Closed::Silent => tracing::debug!(%peer, "idle connection closed"),
    }
}

/// A connection task that panicked is a bug: say so.
fn log_panic(ended: Result<(), tokio::task::JoinError>) {
    if let Err(e) = ended {
        if e.is_panic() {
            tracing::error!("a connection task panicked: {e}");
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

/// Failing `accept`s (out of descriptors: EMFILE/ENFILE; out of memory) must neither spin the
/// loop nor flood the log: each failure waits longer (10 ms doubling to 1 s, as the queued
/// connections wait in the kernel), the first of a run is logged, and the end of the run says
/// how many failed.
#[derive(Default)]
struct AcceptBackoff {
    failures: u64,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    async fn failed(&mut self, e: &std::io::Error) {
        if self.failures == 0 {
            tracing::warn!(error = %e, "accept failing; backing off up to 1 s between attempts (logged again when accepting resumes)");
        }
        self.failures += 1;
        let exp = u32::try_from(self.failures - 1).unwrap_or(u32::MAX).min(7);
        tokio::time::sleep((Self::FIRST * 2u32.pow(exp)).min(Self::MAX)).await;
    }

    fn succeeded(&mut self) {
        if self.failures > 0 {
            tracing::info!(failed = self.failures, "accepting again");
            self.failures = 0;
        }
    }
}
