//! systemd's notification protocol (`sd_notify(3)`): `READY=1`, `RELOADING=1`,
//! `STOPPING=1`, `STATUS=…` and watchdog pings, sent to `$NOTIFY_SOCKET`.
//!
//! Every function does nothing when `NOTIFY_SOCKET` is unset (not run by systemd), and
//! a failed send is logged, never fatal: the service manager's bookkeeping must not stop
//! the daemon. Cost: one datagram on a Unix socket per call.

use std::time::Duration;

use sd_notify::NotifyState;

/// `READY=1` with a status line: startup (or a reload) is complete.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// `RELOADING=1` with the monotonic timestamp systemd ≥ 253 requires for
/// `Type=notify-reload`; [`ready`] ends the reload.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now, NotifyState::Status("reloading configuration")]),
        Err(_) => send(&[NotifyState::Reloading, NotifyState::Status("reloading configuration")]),
    }
}

/// `STOPPING=1`: shutdown has begun (systemd stops sending requests our way).
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("draining in-flight requests")]);
}

/// Starts `WATCHDOG=1` pings at half the interval systemd asked for (`WATCHDOG_USEC`,
/// set by `WatchdogSec=`), or returns `None` when no watchdog is configured. The pings
/// come from a runtime task, so a wedged runtime stops them and systemd restarts us.
pub fn spawn_watchdog() -> Option<tokio::task::JoinHandle<()>> {
    let interval = sd_notify::watchdog_enabled()?;
    let every = (interval / 2).max(Duration::from_millis(10));
    tracing::info!(interval_ms = interval.as_millis() as u64, "systemd watchdog enabled");
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        loop {
            ticker.tick().await;
            send(&[NotifyState::Watchdog]);
        }
    }))
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(err) = sd_notify::notify(states) {
        tracing::warn!(error = %err, "cannot notify systemd");
    }
}
