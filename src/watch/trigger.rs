//! Reconciles asked for by the watcher, debounced: a request waits until requests have been
//! quiet for [`QUIET`] (at most [`LONGEST_BURST`] after the first), then starts the reconcile
//! timer's own service (`juju-exec` under Juju's machine lock, never two at once) and waits
//! for it to end. Requests during a reconcile make one more after it, so a burst of
//! deliveries is one or two reconciles, and the last change is always seen by a reconcile
//! that started after it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::host::Host;

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
    /// When the one delayed request is due (none: no timer waits).
    later: Mutex<Option<Instant>>,
}

impl Trigger {
    /// Asks for a reconcile soon.
    pub fn ask(&self) {
        self.asked.notify_one();
    }

    /// Asks for a reconcile after `delay`: one timer, moved later by a later request (demand
    /// falling look after look is one reconcile once the last fall has waited).
    pub fn ask_after(self: &Arc<Self>, delay: Duration) {
        let due = Instant::now() + delay;
        let mut later = self.later.lock().expect("trigger lock poisoned");
        let waiting = later.is_some();
        *later = Some(later.map_or(due, |d| d.max(due)));
        if waiting {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let Some(due) = *me.later.lock().expect("trigger lock poisoned") else {
                    return;
                };
                if Instant::now() >= due {
                    break;
                }
                tokio::time::sleep_until(due).await;
            }
            *me.later.lock().expect("trigger lock poisoned") = None;
            me.ask();
        });
    }

    /// Runs reconciles of `service` as asked, for ever; `before` runs ahead of each (the
    /// watcher saves what the reconcile will read). `systemctl` runs off the async threads:
    /// deliveries are served while it waits.
    pub async fn run(&self, host: &Host, service: &str, before: &(dyn Fn() + Sync)) {
        loop {
            self.asked.notified().await;
            let first = tokio::time::Instant::now();
            while first.elapsed() < LONGEST_BURST && tokio::time::timeout(QUIET, self.asked.notified()).await.is_ok() {}
            // One the timer started may have read the queue before this change: let it end,
            // then start ours (starting a running oneshot service would only join it).
            wait_while_running(host, service).await;
            before();
            tracing::info!("demand moved: reconciling now ({service})");
            let (h, s) = (host.clone(), service.to_string());
            let started = tokio::task::spawn_blocking(move || h.systemd().start_in_background(&s)).await;
            if let Ok(Err(e)) = started {
                tracing::warn!("starting {service}: {e}; the reconcile timer stays the safety net");
                continue;
            }
            // A real systemd reports the job at once; give a slower one a moment to start it.
            tokio::time::sleep(WAIT_STEP).await;
            wait_while_running(host, service).await;
        }
    }
}

async fn wait_while_running(host: &Host, service: &str) {
    let mut waited = Duration::ZERO;
    loop {
        let (h, s) = (host.clone(), service.to_string());
        let running = tokio::task::spawn_blocking(move || h.systemd().is_running(&s)).await;
        if !running.unwrap_or(false) || waited >= LONGEST {
            return;
        }
        tokio::time::sleep(WAIT_STEP).await;
        waited += WAIT_STEP;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::systemctl::Systemd;
    use crate::process::ProcessError;

    /// A systemd whose reconcile ends at once; it counts the starts.
    #[derive(Default)]
    struct Starts(std::sync::Mutex<usize>);

    impl Systemd for Starts {
        fn daemon_reload(&self) -> Result<(), ProcessError> {
            Ok(())
        }
        fn unit(&self, _: &str, _: &str) -> Result<(), ProcessError> {
            Ok(())
        }
        fn is_active(&self, _: &str) -> bool {
            false
        }
        fn start_in_background(&self, _: &str) -> Result<(), ProcessError> {
            *self.0.lock().expect("lock") += 1;
            Ok(())
        }
        fn is_running(&self, _: &str) -> bool {
            false
        }
    }

    fn started(systemd: &Starts) -> usize {
        *systemd.0.lock().expect("lock")
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_one_reconcile_and_a_falling_demand_one_more_after_the_last_wait() {
        let systemd = Arc::new(Starts::default());
        let host = Host::with_systemd("/", systemd.clone());
        let trigger = Arc::new(Trigger::default());
        let runner = trigger.clone();
        tokio::spawn(async move { runner.run(&host, "ghro.reconcile-runners.service", &|| {}).await });
        for _ in 0..20 {
            trigger.ask();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(started(&systemd), 1, "twenty requests in two seconds");

        for _ in 0..3 {
            trigger.ask_after(Duration::from_secs(60));
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        tokio::time::sleep(Duration::from_secs(45)).await;
        assert_eq!(started(&systemd), 1, "the last request's wait is not over");
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(started(&systemd), 2, "three delayed requests, one reconcile");
    }
}
