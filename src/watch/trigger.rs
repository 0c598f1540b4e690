//! Reconciles asked for by the watcher, debounced: a request waits until requests have been
//! quiet for [`QUIET`] (at most [`LONGEST_BURST`] after the first), then starts the reconcile
//! timer's own service (`juju-exec` under Juju's machine lock, never two at once) and waits
//! for it to end. Requests during a reconcile make one more after it, so a burst of
//! deliveries is one or two reconciles, and the last change is always seen by a reconcile
//! that started after it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::host::systemctl::Systemd;

/// A burst is over when no request came for this long.
pub const QUIET: Duration = Duration::from_secs(2);
/// A burst that goes on is cut here: the reconcile starts anyway.
pub const LONGEST_BURST: Duration = Duration::from_secs(10);
/// How often a running reconcile is looked at.
const WAIT_STEP: Duration = Duration::from_millis(500);
/// The longest wait for one reconcile (the timer's service has its own timeout).
const LONGEST: Duration = Duration::from_secs(3600);

/// Requests in, reconciles out.
#[derive(Debug, Default)]
pub struct Trigger {
    asked: Notify,
    /// Reconciles started.
    pub started: AtomicU64,
}

impl Trigger {
    /// Asks for a reconcile soon.
    pub fn ask(&self) {
        self.asked.notify_one();
    }

    /// Asks for a reconcile after `delay`.
    pub fn ask_after(self: &Arc<Self>, delay: Duration) {
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            me.ask();
        });
    }

    /// Runs reconciles of `service` as asked, for ever; `before` runs ahead of each (the
    /// watcher saves what the reconcile will read).
    pub async fn run(&self, systemd: &dyn Systemd, service: &str, before: &(dyn Fn() + Sync)) {
        loop {
            self.asked.notified().await;
            let first = tokio::time::Instant::now();
            while first.elapsed() < LONGEST_BURST && tokio::time::timeout(QUIET, self.asked.notified()).await.is_ok() {}
            // One the timer started may have read the queue before this change: let it end,
            // then start ours (starting a running oneshot service would only join it).
            wait_while_running(systemd, service).await;
            before();
            self.started.fetch_add(1, Ordering::Relaxed);
            tracing::info!("demand moved: reconciling now ({service})");
            if let Err(e) = systemd.start_in_background(service) {
                tracing::warn!("starting {service}: {e}; the reconcile timer stays the safety net");
                continue;
            }
            // A real systemd reports the job at once; give a slower one a moment to start it.
            tokio::time::sleep(WAIT_STEP).await;
            wait_while_running(systemd, service).await;
        }
    }
}

async fn wait_while_running(systemd: &dyn Systemd, service: &str) {
    let mut waited = Duration::ZERO;
    while systemd.is_running(service) && waited < LONGEST {
        tokio::time::sleep(WAIT_STEP).await;
        waited += WAIT_STEP;
    }
}
