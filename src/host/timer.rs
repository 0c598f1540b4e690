//! The systemd timer that wakes the charm up to reconcile, as the original charm did.
//!
//! `ghro.<event>.service` runs `juju-exec <unit> "JUJU_DISPATCH_PATH=hooks/<event> timeout <t>
//! ./dispatch"` (or `juju-run` on Juju 2.9); `ghro.<event>.timer` starts it `interval` minutes
//! after the previous run *ended*, plus up to a quarter of the interval at random. Units are
//! rewritten only when their text changes; the timer is restarted only then, or when it is not
//! running. Differences from the original (kept in the README): the delay is a quarter of the
//! interval in seconds (the original's whole-minute division gave 0 below 4 minutes), the
//! timeout is never under 5 minutes, `juju-run` is tried only when `juju-exec` does not exist
//! (the original ran the reconcile twice when it failed), and `stop` deletes the unit files.

use minijinja::syntax::SyntaxConfig;
use minijinja::{context, Environment};

use super::systemd_unit::{ensure_units, remove_units, Ensured, UnitError, UNIT_DIR};
use super::Host;

const SERVICE_TEMPLATE: &str = include_str!("../../templates/dispatch-event.service.j2");
const TIMER_TEMPLATE: &str = include_str!("../../templates/dispatch-event.timer.j2");

/// The shortest time a reconcile may run before `timeout` stops it.
const MIN_TIMEOUT_SECS: u32 = 300;

/// The custom event the reconcile timer dispatches.
pub const RECONCILE_EVENT: &str = "reconcile-runners";

/// One periodic event for one unit.
#[derive(Debug, Clone)]
pub struct EventTimer<'a> {
    pub event: &'a str,
    /// The Juju unit, e.g. `github-runner/0`.
    pub unit: &'a str,
    pub interval_minutes: u32,
}

impl EventTimer<'_> {
    pub fn service_name(event: &str) -> String {
        format!("ghro.{event}.service")
    }

    pub fn timer_name(event: &str) -> String {
        format!("ghro.{event}.timer")
    }

    /// Seconds `timeout` lets one dispatch run: half the interval, at least five minutes.
    pub fn timeout_secs(&self) -> u32 {
        self.interval_minutes.saturating_mul(30).max(MIN_TIMEOUT_SECS)
    }

    /// The service and timer unit texts.
    pub fn render(&self) -> Result<(String, String), UnitError> {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder().keep_trailing_newline(true).build();
        env.set_syntax(syntax.expect("the default delimiters are a valid syntax"));
        let ctx = context! {
            event => self.event,
            unit => self.unit,
            interval => self.interval_minutes,
            random_delay => self.interval_minutes.saturating_mul(15),
            timeout => self.timeout_secs(),
        };
        let render = |template: &'static str, source: &str| {
            env.render_str(source, &ctx)
                .map_err(|source| UnitError::Template { template, source })
        };
        Ok((
            render("dispatch-event.service.j2", SERVICE_TEMPLATE)?,
            render("dispatch-event.timer.j2", TIMER_TEMPLATE)?,
        ))
    }

    /// Writes the units if they changed, then makes sure the timer is enabled and running.
    pub fn ensure(&self, host: &Host) -> Result<Ensured, UnitError> {
        let (service, timer) = self.render()?;
        let units = [
            (Self::service_name(self.event), service),
            (Self::timer_name(self.event), timer),
        ];
        ensure_units(host, &units, &Self::timer_name(self.event))
    }

    /// Whether the timer's unit file is there (`stop` deletes it).
    pub fn installed(host: &Host, event: &str) -> bool {
        host.path(UNIT_DIR).join(Self::timer_name(event)).exists()
    }

    /// Stops and disables the timer and deletes both units ([`remove_units`]).
    pub fn remove(host: &Host, event: &str) -> Vec<UnitError> {
        // A run already started waits for Juju's machine lock, held by this very hook: its
        // service is stopped too, so that it cannot reconcile after the unit went away.
        remove_units(host, &[Self::timer_name(event), Self::service_name(event)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(interval_minutes: u32) -> EventTimer<'static> {
        EventTimer {
            event: "reconcile-runners",
            unit: "github-runner/0",
            interval_minutes,
        }
    }

    #[test]
    fn service_dispatches_the_hook_through_juju_exec_with_a_juju_run_fallback() {
        let (service, _) = timer(10).render().expect("renders");
        assert!(service.contains("Type=oneshot"));
        assert!(service.contains(
            "exec juju-exec \"github-runner/0\" \"JUJU_DISPATCH_PATH=hooks/reconcile-runners timeout 300 ./dispatch\""
        ));
        assert!(service.contains("else exec juju-run \"github-runner/0\""));
        assert!(service.contains("TimeoutStartSec=360\n"));
    }

    #[test]
    fn timer_runs_interval_after_the_last_run_with_a_quarter_random_delay() {
        let (_, text) = timer(10).render().expect("renders");
        assert!(text.contains("OnUnitInactiveSec=10m\n"));
        assert!(text.contains("RandomizedDelaySec=150s\n"));
        assert!(text.contains("Unit=ghro.reconcile-runners.service\n"));
        assert!(text.contains("WantedBy=timers.target"));
    }

    #[test]
    fn timeout_is_half_the_interval_but_never_under_five_minutes() {
        assert_eq!(timer(1).timeout_secs(), 300);
        assert_eq!(timer(60).timeout_secs(), 1800);
    }
}
