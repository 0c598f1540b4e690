//! Every converge, hook or action, reconcile or flush alone, goes through [`converge`]: it
//! times the run, then leaves what happened where operators look: the metrics file the
//! exporter serves, the event log, and (after a reconcile) the runner version in
//! `juju status` (`application-version-set`).

use std::time::Instant;

use super::Ctx;
use crate::manager::{Converge, Converged, ManagerError, Report, RunnerManager, Stage};
use crate::metrics::{self, Event, EventLog, MetricsFile, Outcome};

/// Characters of a failure kept in the event log.
const MAX_ERROR: usize = 1000;

/// Runs `steps` on `manager` and records how it went.
pub async fn converge(
    ctx: &Ctx<'_>,
    manager: &RunnerManager,
    steps: Converge,
    target: u32,
    progress: &dyn Fn(Stage),
) -> Result<Converged, ManagerError> {
    let started = Instant::now();
    let reconciles = steps.target.is_some();
    let done = manager.converge(steps, progress).await;
    let seconds = started.elapsed().as_secs_f64();
    let version = manager.cached_tarball().map(|t| t.version().to_string());
    let outcome = Outcome {
        result: done.as_ref().map_err(|_| ()),
        reconciles,
        seconds,
        target,
        binary_version: version.clone(),
        binary_update_failed: match &done {
            Ok(done) => done.binary_check_failed,
            Err(e) => matches!(e, ManagerError::Binary(_)),
        },
        now: metrics::unix_now(),
    };
    let unit = ctx.deps.unit.as_str();
    let mut jobs_done = Vec::new();
    MetricsFile::new(&ctx.deps.host, unit).update(|record| {
        record.converged(&outcome);
        record.called(&manager.stats());
        jobs_done = record.jobs_done(&outcome);
    });
    EventLog::new(&ctx.deps.host).append(unit, outcome.now, &events(&outcome, &jobs_done));
    // Once a hook: its reconcile, not each flush of a previous path or token before it.
    if let (true, Some(version)) = (reconciles, version) {
        if let Err(e) = ctx.tools.application_version_set(&version) {
            tracing::warn!("application-version-set: {e}");
        }
    }
    done
}

/// The event log's lines for one converge.
fn events(outcome: &Outcome<'_>, jobs_done: &[String]) -> Vec<Event> {
    let mut events = Vec::new();
    let done = match outcome.result {
        Ok(done) => done,
        Err(()) => {
            if outcome.reconciles {
                events.push(reconciliation(outcome, "failure", 0, &Report::default()));
            }
            return events;
        }
    };
    for report in done.reports() {
        for created in &report.created {
            events.push(Event::RunnerCreated {
                runner: created.name.clone(),
                seconds: created.seconds,
            });
        }
        for error in &report.failed_creations {
            // A bootstrap's stderr can be long: the log (and Loki) gets its start.
            let error: String = error.chars().take(MAX_ERROR).collect();
            events.push(Event::RunnerCreationFailed { error });
        }
        for removed in &report.removed {
            events.push(Event::RunnerRemoved {
                runner: removed.name.clone(),
                reason: removed.reason.label(),
            });
        }
    }
    events.extend(jobs_done.iter().map(|runner| Event::JobDone { runner: runner.clone() }));
    if let Some(reconciled) = &done.reconciled {
        events.push(reconciliation(
            outcome,
            "success",
            reconciled.healthy,
            &reconciled.report,
        ));
    }
    events
}

fn reconciliation(outcome: &Outcome<'_>, result: &'static str, healthy: usize, report: &Report) -> Event {
    Event::Reconciliation {
        result,
        target: outcome.target,
        healthy,
        created: report.created.len(),
        removed: report.removed.len(),
        failed: report.failures.len(),
        seconds: outcome.seconds,
    }
}
