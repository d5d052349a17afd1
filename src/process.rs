//! Process-level setup: the open-file limit and the shutdown signals (SIGHUP is `reload`'s).
//! Must not touch HTTP.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Raises the soft `RLIMIT_NOFILE` to the hard limit: every viewer holds a socket, and the
/// default soft limit of 1024 is what makes origins fail with "too many open files".
pub fn raise_open_file_limit() {
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::info!("open file limit raised from {soft} to {hard}"),
            Err(e) => tracing::warn!("could not raise the open file limit from {soft} to {hard}: {e}"),
        },
        Ok((soft, _)) => tracing::info!("open file limit is {soft}"),
        Err(e) => tracing::warn!("could not read the open file limit: {e}"),
    }
}

/// Resolves on the first SIGTERM (systemd stop) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = int.recv() => tracing::info!("SIGINT: shutting down"),
            }
        }
        _ => {
            tracing::warn!("cannot install signal handlers; stop with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}
