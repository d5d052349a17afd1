//! The one assembly of a running server, used by `serve`, `demo` and the integration tests
//! alike: bind the listeners, build the state (store, usage, retention, watcher), serve every
//! listener through the one accept loop with the configured driver, react to signals, drain.
//! Must not contain request logic.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::{Config, ConfigError, Http1Driver};
use crate::hyper_driver::HyperDriver;
use crate::native_driver::NativeDriver;
use crate::net::{self, Timeouts};
use crate::process;
use crate::state::AppState;

/// A server that is bound and has its state, not yet serving.
pub struct App {
    state: Arc<AppState>,
    listeners: Vec<TcpListener>,
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
        let listeners = net::bind(&config.startup.listen).await.map_err(|e| as_config_problem(&config, e))?;
        let state = AppState::new(config)?;
        Ok(App { state, listeners })
    }

    /// The shared state (tests read the store and the watcher through it).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// The bound addresses, in `listen` order (port 0 resolved).
    pub fn local_addrs(&self) -> anyhow::Result<Vec<SocketAddr>> {
        self.listeners.iter().map(|l| l.local_addr().context("listener address")).collect()
    }

    /// Serves every listener until `shutdown` resolves; SIGHUP meanwhile rescans the root.
    /// Then every listener stops accepting and drains for at most `shutdown_grace`.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let App { state, listeners } = self;
        let hangups = state.watcher.clone().map(|w| tokio::spawn(process::on_hangup(move || w.rescan())));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
        let mut tasks = tokio::task::JoinSet::new();
        for listener in listeners {
            let mut rx = stop_rx.clone();
            let stopped = async move {
                let _ = rx.changed().await;
            };
            serve_listener(&mut tasks, listener, &state, stopped);
        }
        shutdown.await;
        drop(stop_tx);
        while let Some(result) = tasks.join_next().await {
            result.context("listener task panicked")?;
        }
        if let Some(task) = hangups {
            task.abort();
        }
        Ok(())
    }
}

/// A bind failure that no restart can cure is a configuration problem; one that may pass (the
/// address in use by a process that is stopping) is not.
fn as_config_problem(config: &Config, e: anyhow::Error) -> anyhow::Error {
    use std::io::ErrorKind;
    let kind = e.chain().find_map(|c| c.downcast_ref::<std::io::Error>()).map(std::io::Error::kind);
    match kind {
        Some(ErrorKind::AddrNotAvailable | ErrorKind::PermissionDenied) => anyhow::Error::new(ConfigError {
            file: config.source.clone(),
            key: "server.listen".into(),
            message: format!("{e:#}"),
        }),
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
    let timeouts =
        Timeouts { first_byte: startup.header_read_timeout, idle: startup.idle_timeout, grace: startup.shutdown_grace };
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
