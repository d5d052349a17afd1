//! systemd's notify protocol (`Type=notify`, the `sd-notify` crate): READY=1 once the listeners
//! are bound and the root indexed, RELOADING=1 … READY=1 around a config reload, STOPPING=1 on
//! drain, STATUS= lines, and WATCHDOG=1 pings from a runtime task while `WatchdogSec` is set.
//! Without `NOTIFY_SOCKET` (not under systemd) every call is a no-op. Must not decide anything.

use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState<'_>]) {
    // Never unset the environment: a reload or the watchdog sends again later.
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::debug!(error = %e, "sd_notify");
    }
}

/// The service is up: listeners bound, root indexed.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload starts (with the monotonic time `Type=notify-reload` asks for).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now, NotifyState::Status("reloading the config")]),
        Err(_) => send(&[NotifyState::Reloading, NotifyState::Status("reloading the config")]),
    }
}

/// The service is draining its connections and will exit.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("draining connections")]);
}

/// A free-form status line (`systemctl status` shows it).
pub fn status(text: &str) {
    send(&[NotifyState::Status(text)]);
}

/// The watchdog interval systemd asks for (`WATCHDOG_USEC` for this process), if any.
pub fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0;
    sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec))
}

/// Pings systemd's watchdog at half its interval for as long as the runtime runs this task: a
/// wedged runtime stops the pings, and systemd restarts the service. `alive` is checked before
/// each ping (it proves more than the timer: e.g. that the watcher still runs).
pub async fn watchdog(interval: Duration, alive: impl Fn() -> bool) {
    let mut tick = tokio::time::interval(interval / 2);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if alive() {
            send(&[NotifyState::Watchdog]);
        } else {
            tracing::error!("health check failed; not pinging the systemd watchdog");
        }
    }
}
