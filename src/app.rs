//! The one assembly of a running server, used by `serve`, `demo` and the integration tests
//! alike: bind the listeners, build the state (store, usage, retention, watcher), serve every
//! listener through the one accept loop with the configured driver, react to signals, drain.
//! Must not contain request logic.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::admin::AdminHandler;
use crate::config::{Config, ConfigError, Http1Driver};
use crate::hyper_driver::HyperDriver;
use crate::native_driver::NativeDriver;
use crate::net::{self, Gate, Timeouts};
use crate::state::AppState;
use crate::{notify, process, reload};

/// A server that is bound and has its state, not yet serving.
pub struct App {
    state: Arc<AppState>,
    listeners: Vec<TcpListener>,
    admin: Option<TcpListener>,
}

/// Binds, builds the state and serves until `shutdown` resolves, then drains.
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    App::start(config).await?.run(shutdown).await
}

impl App {
    /// Binds every listener (logging `listening on …`) and builds the state: the root is open
    /// and indexed, the watcher running. Call inside a Tokio runtime.
    /// Errors that are configuration problems (an address that is not this host's or that
    /// needs privileges, a root that cannot be opened) are a [`ConfigError`] inside the
    /// `anyhow::Error`, so `serve` can exit 78 for them and 1 for runtime failures.
    pub async fn start(config: Config) -> anyhow::Result<App> {
        process::raise_open_file_limit();
        // The request clock calibrates on first use (milliseconds): here, not in a request.
        let _ = quanta::Instant::now();
        let startup = &config.startup;
        let listeners = net::bind(&startup.listen, startup.backlog)
            .await
            .map_err(|e| as_config_problem(&config, "server.listen", e))?;
        let admin = match startup.admin {
            Some(addr) => Some(
                net::bind(&[addr], 128).await.map_err(|e| as_config_problem(&config, "admin.listen", e))?.remove(0),
            ),
            None => None,
        };
        let state = AppState::new(config)?;
        Ok(App { state, listeners, admin })
    }

    /// The admin listener's address, when `[admin] listen` is set (port 0 resolved).
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The shared state (tests read the store and the watcher through it).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// The bound addresses, in `listen` order (port 0 resolved).
    pub fn local_addrs(&self) -> anyhow::Result<Vec<SocketAddr>> {
        self.listeners.iter().map(|l| l.local_addr().context("listener address")).collect()
    }

    /// Serves every listener (and the admin one) until `shutdown` resolves; SIGHUP meanwhile
    /// reloads the config and rescans the root. Then every listener stops accepting and drains
    /// for at most `shutdown_grace`. systemd hears READY, RELOADING, STOPPING and the watchdog.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let App { state, listeners, admin } = self;
        let mut background = tokio::task::JoinSet::new();
        background.spawn(reload::on_hangup(Arc::clone(&state)));
        background.spawn(housekeeping(Arc::clone(&state)));
        background.spawn(refresh_playlists(state.store.clone()));
        if let Some(on_demand) = state.on_demand.clone() {
            background.spawn(stop_idle(on_demand, Arc::clone(&state.usage)));
        }
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.changed().await;
            }
        };
        let mut tasks = tokio::task::JoinSet::new();
        let count = listeners.len();
        for listener in listeners {
            serve_listener(&mut tasks, listener, &state, stopped());
        }
        if let Some(listener) = admin {
            serve_admin(&mut tasks, listener, &state, stopped());
        }
        state.serving.store(true, std::sync::atomic::Ordering::Release);
        notify::ready(&format!("serving {count} listener(s) from {}", state.store.root().display()));
        if let Some(interval) = notify::watchdog_interval() {
            let alive = Arc::clone(&state);
            background.spawn(notify::watchdog(interval, move || alive.is_healthy()));
        }
        shutdown.await;
        notify::stopping();
        drop(stop_tx);
        while let Some(result) = tasks.join_next().await {
            result.context("listener task panicked")?;
        }
        background.abort_all();
        Ok(())
    }
}

/// Periodic upkeep: rate-limit buckets of clients gone quiet are forgotten (every minute), and
/// once many connections have closed, their freed memory goes back to the system.
async fn housekeeping(state: Arc<AppState>) {
    const TICK: std::time::Duration = std::time::Duration::from_secs(2);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut ticks, mut peak) = (0u64, 0usize);
    loop {
        tick.tick().await;
        ticks += 1;
        if ticks % 30 == 0 {
            state.settings.peek().limiter.forget_idle();
        }
        peak = peak.max(state.gate.take_peak());
        let open = state.gate.open_connections();
        if peak >= open + TRIM_AFTER_CLOSED && open <= peak / 2 {
            tracing::debug!(peak, open, "connections closed; returning free memory to the system");
            let _ = tokio::task::spawn_blocking(crate::allocator::return_free_memory).await;
            peak = open;
        }
    }
}

/// Renews unchanged playlists ahead of their validity (see `store::refresh`), so a request
/// never waits for a revalidation read.
async fn refresh_playlists(store: crate::store::Store) {
    let Some(period) = store.refresh_period() else { return };
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        store.refresh_playlists().await;
    }
}

/// Stops on-demand streams nobody reads any more.
async fn stop_idle(on_demand: Arc<crate::on_demand::OnDemand>, usage: Arc<crate::usage::Usage>) {
    let mut tick = tokio::time::interval(on_demand.check_every());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        on_demand.stop_idle(&usage).await;
    }
}

/// How many connections must have closed since the peak before freed memory is trimmed.
const TRIM_AFTER_CLOSED: usize = 500;

/// The admin endpoints, always through hyper, never capped (the gate is its own).
fn serve_admin(
    tasks: &mut tokio::task::JoinSet<()>,
    listener: TcpListener,
    state: &Arc<AppState>,
    stopped: impl Future<Output = ()> + Send + 'static,
) {
    let mut timeouts = timeouts(state);
    timeouts.min_send_rate = 0;
    let driver = HyperDriver::new(Arc::new(AdminHandler::new(Arc::clone(state))), timeouts.first_byte);
    tasks.spawn(net::serve(listener, Gate::default(), timeouts, stopped, move |conn| driver.clone().serve(conn)));
}

fn timeouts(state: &AppState) -> Timeouts {
    let startup = &state.config.startup;
    Timeouts {
        first_byte: startup.header_read_timeout,
        idle: startup.idle_timeout,
        grace: startup.shutdown_grace,
        min_send_rate: startup.min_send_rate,
    }
}

/// A bind failure that no restart can cure is a configuration problem; one that may pass (the
/// address in use by a process that is stopping) is not.
fn as_config_problem(config: &Config, key: &str, e: anyhow::Error) -> anyhow::Error {
    use std::io::ErrorKind;
    let kind = e.chain().find_map(|c| c.downcast_ref::<std::io::Error>()).map(std::io::Error::kind);
    match kind {
        Some(ErrorKind::AddrNotAvailable | ErrorKind::PermissionDenied) => {
            anyhow::Error::new(ConfigError { file: config.source.clone(), key: key.into(), message: format!("{e:#}") })
        }
        _ => e,
    }
}

/// Serves one listener with the configured HTTP/1 driver (HTTP/2 always through hyper).
fn serve_listener(
    tasks: &mut tokio::task::JoinSet<()>,
    listener: TcpListener,
    state: &AppState,
    stopped: impl Future<Output = ()> + Send + 'static,
) {
    let startup = &state.config.startup;
    let timeouts = timeouts(state);
    let gate = state.gate.clone();
    let hyper = HyperDriver::new(Arc::clone(&state.handler), startup.header_read_timeout);
    match startup.http1_driver {
        Http1Driver::Native => {
            let native = NativeDriver::new(Arc::clone(&state.handler), hyper, startup.header_read_timeout);
            tasks.spawn(net::serve(listener, gate, timeouts, stopped, move |conn| native.clone().serve(conn)));
        }
        Http1Driver::Hyper => {
            tasks.spawn(net::serve(listener, gate, timeouts, stopped, move |conn| hyper.clone().serve(conn)));
        }
    }
}
