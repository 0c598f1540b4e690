//! Every run of the manager's steps, hook or action, reconcile or flush alone, goes through
//! [`take_recorded`]: it times the run, then leaves what happened where operators look: the
//! metrics file the exporter serves, the event log, and (after a reconcile) the runner version
//! in `juju status` (`application-version-set`).

use std::time::Instant;

use super::Ctx;
use crate::manager::{ManagerError, Report, RunnerManager, Stage, Steps, StepsDone};
use crate::metrics::{self, EventLog, LogEntry, MetricsFile, Outcome};

/// Characters of a failure kept in the event log.
const MAX_ERROR: usize = 1000;

/// Has `manager` take `steps` and records how it went.
pub(super) async fn take_recorded(
    ctx: &Ctx<'_>,
    manager: &RunnerManager,
    steps: Steps,
    progress: &dyn Fn(Stage),
) -> Result<StepsDone, ManagerError> {
    let started = Instant::now();
    let target = steps.target.map(|sizing| sizing.nominal());
    let done = manager.take(steps, progress).await;
    let seconds = started.elapsed().as_secs_f64();
    let version = manager.cached_tarball().map(|t| t.version().to_string());
    let outcome = Outcome {
        result: done.as_ref().map_err(|_| ()),
        target,
        seconds,
        binary_version: version.clone(),
        binary_update_failed: match &done {
            Ok(done) => done.binary_check_failed,
            Err(e) => matches!(e, ManagerError::Binary(_)),
        },
        now: metrics::unix_now(),
    };
    let unit = ctx.deps.unit.as_str();
    let mut jobs_done = Vec::new();
    let book = crate::watch::book::JobBook::read(&crate::watch::book::JobBook::file(&ctx.deps.host, unit));
    MetricsFile::new(&ctx.deps.host, unit).update(|record| {
        record.ran(&outcome);
        if let Some(book) = book {
            record.queue_wait = book.queue_wait;
        }
        record.called(&manager.stats());
        jobs_done = record.jobs_done(&outcome);
    });
    EventLog::new(&ctx.deps.host).append(unit, outcome.now, &events(&outcome, &jobs_done));
    // Once a hook: its reconcile, not each flush of a previous path or token before it.
    if let (Some(_), Some(version)) = (target, version) {
        if let Err(e) = ctx.tools.application_version_set(&version) {
            tracing::warn!("application-version-set: {e}");
        }
    }
    done
}

/// The event log's lines for one run of the steps.
fn events(outcome: &Outcome<'_>, jobs_done: &[String]) -> Vec<LogEntry> {
    let mut events = Vec::new();
    let done = match outcome.result {
        Ok(done) => done,
        Err(()) => {
            if outcome.target.is_some() {
                let target = outcome.target.unwrap_or_default();
                events.push(reconciliation(outcome, "failure", target, 0, &Report::default()));
            }
            return events;
        }
    };
    for report in done.reports() {
        for created in &report.created {
            events.push(LogEntry::RunnerCreated {
                runner: created.name.clone(),
                seconds: created.seconds,
            });
        }
        for error in &report.failed_creations {
            // A bootstrap's stderr can be long: the log (and Loki) gets its start.
            let error: String = error.chars().take(MAX_ERROR).collect();
            events.push(LogEntry::RunnerCreationFailed { error });
        }
        for removed in &report.removed {
            events.push(LogEntry::RunnerRemoved {
                runner: removed.name.clone(),
                reason: removed.reason.label(),
            });
        }
    }
    events.extend(
        jobs_done
            .iter()
            .map(|runner| LogEntry::JobDone { runner: runner.clone() }),
    );
    if let Some(reconciled) = &done.reconciled {
        events.push(reconciliation(
            outcome,
            "success",
            reconciled.target,
            reconciled.healthy,
            &reconciled.report,
        ));
    }
    events
}

fn reconciliation(
    outcome: &Outcome<'_>,
    result: &'static str,
    target: usize,
    healthy: usize,
    report: &Report,
) -> LogEntry {
    LogEntry::Reconciliation {
        result,
        target,
        healthy,
        created: report.created.len(),
        removed: report.removed.len(),
        failed: report.failures.len(),
        seconds: outcome.seconds,
    }
}
