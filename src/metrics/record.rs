//! What the exporter serves, as the hooks left it: gauges of the last reconcile, counters and
//! histograms summed over every hook since the unit was installed. Pure: updated from what a
//! run of the manager's steps reports, serialised to a small JSON file by [`super::MetricsFile`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::github::CallStats;
use crate::manager::plan::Reason;
use crate::manager::{Report, StepsDone};

/// Upper bounds of the reconcile-duration buckets, in seconds.
pub const RECONCILE_BUCKETS: [f64; 10] = [0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];
/// Upper bounds of the time-to-online buckets, in seconds.
pub const ONLINE_BUCKETS: [f64; 9] = [2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// Upper bounds of the buckets of a job's wait for a runner, in seconds.
pub const QUEUE_WAIT_BUCKETS: [f64; 12] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// A histogram's state: a count per bucket (not cumulative; the last one is `+Inf`), the sum
/// and the count of observations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub buckets: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn observe(&mut self, bounds: &[f64], value: f64) {
        self.buckets.resize(bounds.len() + 1, 0);
        let at = bounds.iter().position(|le| value <= *le).unwrap_or(bounds.len());
        self.buckets[at] += 1;
        self.sum += value;
        self.count += 1;
    }

    /// `(upper bound, cumulative count)` pairs, `+Inf` last, as the exposition wants them.
    pub fn cumulative(&self, bounds: &[f64]) -> Vec<(f64, u64)> {
        let mut total = 0;
        bounds
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .enumerate()
            .map(|(i, le)| {
                total += self.buckets.get(i).copied().unwrap_or(0);
                (le, total)
            })
            .collect()
    }
}

/// A runner's state at the last reconcile (the `state` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunnerState {
    Healthy,
    Unhealthy,
    Busy,
    Idle,
    Offline,
}

impl RunnerState {
    pub const ALL: [RunnerState; 5] = [
        RunnerState::Healthy,
        RunnerState::Unhealthy,
        RunnerState::Busy,
        RunnerState::Idle,
        RunnerState::Offline,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RunnerState::Healthy => "healthy",
            RunnerState::Unhealthy => "unhealthy",
            RunnerState::Busy => "busy",
            RunnerState::Idle => "idle",
            RunnerState::Offline => "offline",
        }
    }
}

/// How a reconcile, creation or removal ended (the `result` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Success,
    Failure,
}

impl Verdict {
    pub const ALL: [Verdict; 2] = [Verdict::Success, Verdict::Failure];

    pub fn label(self) -> &'static str {
        match self {
            Verdict::Success => "success",
            Verdict::Failure => "failure",
        }
    }
}

/// Every figure the exporter serves.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Record {
    /// Runners by state at the last reconcile: `healthy` after it acted; `unhealthy`, `busy`,
    /// `idle` and `offline` as it found them.
    pub runners: BTreeMap<RunnerState, u64>,
    /// The healthy runners the last reconcile aimed at.
    pub target: u64,
    /// What the target follows: busy runners and queued jobs.
    pub demand_busy: u64,
    pub demand_queued: u64,
    /// The elastic pool's idle floor and ceiling at the last reconcile (`None`: a fixed pool).
    pub floor: Option<u64>,
    pub max: Option<u64>,
    pub reconciles: BTreeMap<Verdict, u64>,
    /// Reconcile durations by result.
    pub reconcile_seconds: BTreeMap<Verdict, Histogram>,
    pub creations: BTreeMap<Verdict, u64>,
    /// Removals by result, then reason.
    pub removals: BTreeMap<Verdict, BTreeMap<Reason, u64>>,
    pub time_to_online: Histogram,
    /// From a job queued to a runner taking it, as the watcher's book has them (GitHub's own
    /// timestamps, from webhooks or the runs API).
    pub queue_wait: Histogram,
    /// GitHub answers by HTTP status.
    pub github_requests: BTreeMap<u16, u64>,
    pub rate_limit_remaining: Option<u64>,
    pub rate_limit_reset: Option<u64>,
    /// The runner binary version the runners are made with.
    pub binary_version: Option<String>,
    pub binary_update_failures: u64,
    /// Unix time of the last reconcile that succeeded.
    pub last_success: Option<f64>,
    /// The runners GitHub said were busy at the last reconcile.
    pub busy: BTreeSet<String>,
}

/// How one run of the manager's steps went, as the metrics see it.
pub struct Outcome<'a> {
    pub result: Result<&'a StepsDone, ()>,
    /// The reconcile's target; `None` when no reconcile was asked for (a flush alone is no
    /// reconcile, failed or not).
    pub target: Option<usize>,
    pub seconds: f64,
    pub binary_version: Option<String>,
    /// The binary check failed while a cached one was used.
    pub binary_update_failed: bool,
    /// Unix time at the end.
    pub now: f64,
}

impl Record {
    /// Adds one run: its reports, and for a reconcile its gauges, duration and result.
    pub fn ran(&mut self, outcome: &Outcome<'_>) {
        if outcome.binary_update_failed {
            self.binary_update_failures += 1;
        }
        if outcome.binary_version.is_some() {
            self.binary_version.clone_from(&outcome.binary_version);
        }
        let done = match outcome.result {
            Ok(done) => done,
            Err(()) if outcome.target.is_some() => return self.reconciled(Verdict::Failure, outcome.seconds),
            Err(()) => return,
        };
        for report in done.reports() {
            self.acted(report);
        }
        if let Some(reconciled) = &done.reconciled {
            let seen = reconciled.seen;
            self.runners = [
                (RunnerState::Healthy, reconciled.healthy),
                (RunnerState::Unhealthy, seen.unhealthy),
                (RunnerState::Busy, seen.busy),
                (RunnerState::Idle, seen.idle),
                (RunnerState::Offline, seen.offline),
            ]
            .into_iter()
            .map(|(state, n)| (state, n as u64))
            .collect();
            self.target = reconciled.target as u64;
            let demand = reconciled.demand;
            self.demand_busy = demand.map_or(seen.busy, |d| d.busy) as u64;
            self.demand_queued = demand.map_or(0, |d| d.queued) as u64;
            (self.floor, self.max) = (demand.map(|d| d.floor as u64), demand.map(|d| d.max as u64));
            self.reconciled(Verdict::Success, outcome.seconds);
            self.last_success = Some(outcome.now);
        }
    }

    /// Counts what a flush or reconcile did to runners.
    pub fn acted(&mut self, report: &Report) {
        *self.creations.entry(Verdict::Success).or_default() += report.created.len() as u64;
        *self.creations.entry(Verdict::Failure).or_default() += report.failed_creations.len() as u64;
        for created in &report.created {
            self.time_to_online.observe(&ONLINE_BUCKETS, created.seconds);
        }
        let removed = report.removed.iter().map(|r| (Verdict::Success, r.reason));
        let failed = report.failed_removals.iter().map(|r| (Verdict::Failure, *r));
        for (result, reason) in removed.chain(failed) {
            *self.removals.entry(result).or_default().entry(reason).or_default() += 1;
        }
    }

    /// The runners busy at the previous reconcile that this one did not see: their job is
    /// over (an ephemeral runner goes with its job). Remembers who is busy now.
    pub fn jobs_done(&mut self, outcome: &Outcome<'_>) -> Vec<String> {
        let Ok(StepsDone {
            reconciled: Some(reconciled),
            ..
        }) = outcome.result
        else {
            return Vec::new();
        };
        let done = self.busy.difference(&reconciled.names).cloned().collect();
        self.busy.clone_from(&reconciled.busy);
        done
    }

    /// Adds a GitHub client's calls.
    pub fn called(&mut self, stats: &CallStats) {
        for (status, n) in &stats.by_status {
            *self.github_requests.entry(*status).or_default() += n;
        }
        if stats.rate_limit.remaining.is_some() {
            self.rate_limit_remaining = stats.rate_limit.remaining;
            self.rate_limit_reset = stats.rate_limit.reset;
        }
    }

    fn reconciled(&mut self, result: Verdict, seconds: f64) {
        *self.reconciles.entry(result).or_default() += 1;
        self.reconcile_seconds
            .entry(result)
            .or_default()
            .observe(&RECONCILE_BUCKETS, seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_each_value_in_the_first_bucket_that_holds_it() {
        let mut h = Histogram::default();
        for v in [0.1, 1.0, 3.0, 1000.0] {
            h.observe(&RECONCILE_BUCKETS, v);
        }
        let cumulative = h.cumulative(&RECONCILE_BUCKETS);
        assert_eq!(cumulative[0], (0.5, 1));
        assert_eq!(cumulative[1], (1.0, 2), "a value on a bound is in that bucket");
        assert_eq!(cumulative[3], (5.0, 3));
        assert_eq!(cumulative.last(), Some(&(f64::INFINITY, 4)));
        assert_eq!((h.count, h.sum), (4, 1004.1));
    }

    #[test]
    fn a_failed_run_counts_a_failure_and_keeps_the_last_gauges() {
        let mut record = Record {
            target: 3,
            ..Record::default()
        };
        record.ran(&Outcome {
            result: Err(()),
            target: Some(5),
            seconds: 2.0,
            binary_version: None,
            binary_update_failed: true,
            now: 100.0,
        });
        assert_eq!(record.reconciles[&Verdict::Failure], 1);
        assert_eq!(record.target, 3);
        assert_eq!(record.binary_update_failures, 1);
        assert_eq!(record.last_success, None);
    }

    #[test]
    fn a_runner_seen_busy_then_gone_did_its_job_and_one_still_there_did_not() {
        use crate::manager::Reconciled;
        let reconcile = |names: &[&str], busy: &[&str]| StepsDone {
            reconciled: Some(Reconciled {
                names: names.iter().map(|n| n.to_string()).collect(),
                busy: busy.iter().map(|n| n.to_string()).collect(),
                ..Reconciled::default()
            }),
            ..StepsDone::default()
        };
        let outcome = |done: &StepsDone| -> Vec<String> {
            let mut record = Record {
                busy: ["r1", "r2"].map(String::from).into(),
                ..Record::default()
            };
            let outcome = Outcome {
                result: Ok(done),
                target: Some(2),
                seconds: 1.0,
                binary_version: None,
                binary_update_failed: false,
                now: 1.0,
            };
            record.jobs_done(&outcome)
        };
        assert_eq!(outcome(&reconcile(&["r2", "r3"], &["r2"])), ["r1"]);
        assert!(
            outcome(&reconcile(&["r1", "r2"], &[])).is_empty(),
            "idle again is not gone"
        );
    }

    #[test]
    fn the_metrics_file_keeps_its_string_keys() {
        let mut record = Record::default();
        record.runners.insert(RunnerState::Healthy, 2);
        record.reconciles.insert(Verdict::Success, 1);
        record
            .removals
            .entry(Verdict::Failure)
            .or_default()
            .insert(Reason::ScaleDown, 3);
        let json = serde_json::to_value(&record).expect("serialises");
        assert_eq!(json["runners"]["healthy"], 2);
        assert_eq!(json["reconciles"]["success"], 1);
        assert_eq!(json["removals"]["failure"]["scale_down"], 3);
        let back: Record = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, record);
    }
}
