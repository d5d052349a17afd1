//! Config reload (SIGHUP): re-read and validate the file, put its per-request keys in force
//! atomically (secure_link, CORS and cache ages, require_header, access log, limits,
//! retention), and keep — with a "needs a restart" line each — the keys fixed at start. A file
//! that does not validate changes nothing, is logged with its reason and counted. The rescan
//! SIGHUP always did happens too. Must not touch connections: requests in flight finish with the
//! settings they started with.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::config::{Config, ConfigError};
use crate::headers::HeaderPolicy;
use crate::notify;
use crate::state::AppState;

/// What a reload did.
#[derive(Debug, PartialEq, Eq)]
pub enum Reloaded {
    /// The file's per-request keys are in force; the listed startup keys changed and were kept.
    Applied {
        /// Keys that need a restart to change.
        kept: Vec<&'static str>,
    },
    /// The server was started without a config file (`serve --root`): nothing to re-read.
    NoFile,
}

/// Reloads the config file the server started from.
pub fn reload(state: &AppState) -> Result<Reloaded, ConfigError> {
    let source = &state.config.source;
    if !source.is_file() && source.extension().is_none_or(|e| e != "toml") {
        return Ok(Reloaded::NoFile);
    }
    let next = Config::load(source).inspect_err(|e| {
        state.metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
        tracing::error!("config reload refused, the running config is kept: {e}");
    })?;
    let kept = state.config.startup.changed_keys(&next.startup);
    for key in &kept {
        tracing::warn!(
            "config reload: `{key}` changed in {}; it needs a restart, the running value is kept",
            source.display()
        );
    }
    let mut kept = kept;
    apply_retention(state, &next, &mut kept);
    apply(state, next.policy);
    state.metrics.reloads.fetch_add(1, Ordering::Relaxed);
    tracing::info!("config reloaded from {}", source.display());
    Ok(Reloaded::Applied { kept })
}

/// Puts a validated per-request policy in force everywhere it is read.
fn apply(state: &AppState, policy: Arc<crate::config::Policy>) {
    if state.store.set_header_policy(HeaderPolicy::of(&policy)) {
        tracing::info!("config reload: response header policy changed; cached header blocks are rebuilt");
    }
    state.gate.set_limits(&policy.limits);
    state.settings.replace(policy);
}

/// Retention's thread takes a changed `[retention]` section; adding or removing the section
/// starts or stops a thread and the index it walked, which needs a restart.
fn apply_retention(state: &AppState, next: &Config, kept: &mut Vec<&'static str>) {
    match (&state.retention, &next.policy.retention) {
        (Some(running), Some(cfg)) => running.set_config(cfg.clone()),
        (None, None) => {}
        _ => {
            tracing::warn!("config reload: the [retention] section was added or removed; that needs a restart");
            kept.push("retention");
        }
    }
}

/// For every SIGHUP: tell systemd a reload is under way, reload, rescan the root, and say
/// READY again (with the outcome as the status line).
pub async fn on_hangup(state: Arc<AppState>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(hup) => hup,
        Err(e) => {
            tracing::warn!("cannot install a SIGHUP handler: {e}");
            return;
        }
    };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the config and rescanning the media root");
        notify::reloading();
        let status = match reload(&state) {
            Ok(Reloaded::Applied { kept }) if kept.is_empty() => "serving; config reloaded".to_string(),
            Ok(Reloaded::Applied { kept }) => {
                format!("serving; config reloaded, restart needed for {}", kept.join(", "))
            }
            Ok(Reloaded::NoFile) => "serving; no config file to reload (started with --root)".to_string(),
            Err(e) => format!("serving; config reload refused: {e}"),
        };
        if let Some(watcher) = &state.watcher {
            watcher.rescan();
        }
        notify::ready(&status);
    }
}
