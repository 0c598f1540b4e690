//! A [`Record`] and the exporter's own process facts in the Prometheus text format (the
//! OpenMetrics flavour `prometheus-client` writes: `_total` counters, `_seconds` units,
//! `# EOF`). Pure but for `/proc/self`; one call per scrape.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeCounterValue, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::record::{Histogram, Record, RunnerState, Verdict, ONLINE_BUCKETS, QUEUE_WAIT_BUCKETS, RECONCILE_BUCKETS};
use crate::manager::plan::Reason;

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The exporter process, as the kernel sees it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Process {
    pub resident_bytes: u64,
    pub cpu_seconds: f64,
    pub start_time: f64,
}

impl Process {
    /// This process: resident memory from `/proc/self/status`, CPU time from `getrusage`.
    pub fn current(start_time: f64) -> Process {
        let resident_bytes = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
            .map_or(0, |kib| kib * 1024);
        let cpu_seconds = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
            .map(|u| {
                let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
                secs(u.user_time()) + secs(u.system_time())
            })
            .unwrap_or_default();
        Process {
            resident_bytes,
            cpu_seconds,
            start_time,
        }
    }
}

/// The text a scrape gets.
pub fn render(record: Record, process: Process) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot { record, process }));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("writing to a String cannot fail");
    text
}

#[derive(Debug)]
struct Snapshot {
    record: Record,
    process: Process,
}

/// One metric family: its name, help, unit and type.
struct Family<'a> {
    name: &'a str,
    help: &'a str,
    unit: Option<Unit>,
    kind: MetricType,
}

impl Family<'_> {
    fn open<'e>(&'e self, encoder: &'e mut DescriptorEncoder) -> Result<MetricEncoder<'e>, std::fmt::Error> {
        encoder.encode_descriptor(self.name, self.help, self.unit.as_ref(), self.kind)
    }
}

fn family<'a>(name: &'a str, help: &'a str, unit: Option<Unit>, kind: MetricType) -> Family<'a> {
    Family { name, help, unit, kind }
}

impl Collector for Snapshot {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let r = &self.record;
        let gauge = MetricType::Gauge;
        let counter = MetricType::Counter;

        let f = family("github_runner_runners", "Runners by state at the last reconcile: healthy after it acted; unhealthy, busy, idle and offline as it found them.", None, gauge);
        let mut m = f.open(&mut e)?;
        for state in RunnerState::ALL {
            let n = r.runners.get(&state).copied().unwrap_or(0);
            m.encode_family(&[("state", state.label())])?.encode_gauge(&n)?;
        }
        let f = family(
            "github_runner_runners_target",
            "Healthy runners the last reconcile aimed at: virtual-machines, or the elastic pool's busy runners plus its idle floor (or queued jobs), at most max-virtual-machines.",
            None,
            gauge,
        );
        f.open(&mut e)?.encode_gauge(&r.target)?;
        let f = family(
            "github_runner_demand",
            "What the target follows, at the last reconcile: runners busy, and queued jobs this unit takes.",
            None,
            gauge,
        );
        let mut m = f.open(&mut e)?;
        for (signal, n) in [("busy", r.demand_busy), ("queued", r.demand_queued)] {
            m.encode_family(&[("signal", signal)])?.encode_gauge(&n)?;
        }
        if let (Some(floor), Some(max)) = (r.floor, r.max) {
            let f = family(
                "github_runner_idle_floor",
                "The elastic pool's idle floor (virtual-machines, or idle-schedule's now).",
                None,
                gauge,
            );
            f.open(&mut e)?.encode_gauge(&floor)?;
            let f = family(
                "github_runner_max_runners",
                "The elastic pool's ceiling (max-virtual-machines).",
                None,
                gauge,
            );
            f.open(&mut e)?.encode_gauge(&max)?;
        }

        let f = family("github_runner_reconciles", "Reconciles by result.", None, counter);
        by_result(f.open(&mut e)?, &r.reconciles)?;
        let f = family(
            "github_runner_reconcile_duration",
            "Time one reconcile took, by result.",
            Some(Unit::Seconds),
            MetricType::Histogram,
        );
        let mut m = f.open(&mut e)?;
        for result in Verdict::ALL {
            let h = r.reconcile_seconds.get(&result).cloned().unwrap_or_default();
            histogram(m.encode_family(&[("result", result.label())])?, &h, &RECONCILE_BUCKETS)?;
        }

        let f = family("github_runner_creations", "Runner creations by result.", None, counter);
        by_result(f.open(&mut e)?, &r.creations)?;
        let f = family(
            "github_runner_removals",
            "Runner removals by result and reason (unhealthy, unregistered, scale_down, orphan, flush, offline, expired).",
            None,
            counter,
        );
        let mut m = f.open(&mut e)?;
        // Every label set from the first scrape, at 0: `increase()` sees the first removal.
        for result in Verdict::ALL {
            for reason in Reason::ALL {
                let n = r
                    .removals
                    .get(&result)
                    .and_then(|by| by.get(&reason))
                    .copied()
                    .unwrap_or(0);
                let labels = [("result", result.label()), ("reason", reason.label())];
                count(m.encode_family(&labels)?, &n)?;
            }
        }
        let f = family("github_runner_time_to_online", "From the start of a runner's creation to its runner process started and registered (GitHub shows it online moments later).", Some(Unit::Seconds), MetricType::Histogram);
        histogram(f.open(&mut e)?, &r.time_to_online, &ONLINE_BUCKETS)?;
        let f = family("github_runner_job_queue_wait", "From a job queued to a runner taking it, by GitHub's own timestamps (created_at, started_at), of the jobs the elastic pool's watcher heard of by webhook or saw in the runs API.", Some(Unit::Seconds), MetricType::Histogram);
        histogram(f.open(&mut e)?, &r.queue_wait, &QUEUE_WAIT_BUCKETS)?;

        let f = family(
            "github_runner_github_requests",
            "GitHub API answers by HTTP status; free=\"true\" for 304s, which cost no rate limit.",
            None,
            counter,
        );
        let mut m = f.open(&mut e)?;
        // The two answers every unit gets (200, and 304 for a list that did not change) are
        // there at 0 from the first scrape; others appear with their first answer.
        let mut requests = r.github_requests.clone();
        for status in [200, 304] {
            requests.entry(status).or_insert(0);
        }
        for (status, n) in &requests {
            let (status, free) = (status.to_string(), (*status == 304).to_string());
            let labels = [("status", status.as_str()), ("free", free.as_str())];
            count(m.encode_family(&labels)?, n)?;
        }
        if let Some(remaining) = r.rate_limit_remaining {
            let f = family(
                "github_runner_github_rate_limit_remaining",
                "GitHub API requests left in this rate-limit window.",
                None,
                gauge,
            );
            f.open(&mut e)?.encode_gauge(&remaining)?;
        }
        if let Some(reset) = r.rate_limit_reset {
            let f = family(
                "github_runner_github_rate_limit_reset_timestamp",
                "When GitHub's rate-limit window resets (Unix time).",
                Some(Unit::Seconds),
                gauge,
            );
            f.open(&mut e)?.encode_gauge(&reset)?;
        }
        if let Some(version) = &r.binary_version {
            let f = family(
                "github_runner_binary",
                "The runner binary version new runners are made with.",
                None,
                MetricType::Info,
            );
            f.open(&mut e)?.encode_info(&[("version", version.as_str())])?;
        }
        let f = family(
            "github_runner_binary_update_failures",
            "Checks for a new runner binary that failed.",
            None,
            counter,
        );
        count(f.open(&mut e)?, &r.binary_update_failures)?;
        if let Some(at) = r.last_success {
            let f = family(
                "github_runner_last_successful_reconcile_timestamp",
                "When the last reconcile that succeeded ended (Unix time).",
                Some(Unit::Seconds),
                gauge,
            );
            f.open(&mut e)?.encode_gauge(&at)?;
        }

        let p = self.process;
        let f = family(
            "process_resident_memory",
            "The exporter's resident memory.",
            Some(Unit::Bytes),
            gauge,
        );
        f.open(&mut e)?.encode_gauge(&p.resident_bytes)?;
        let f = family(
            "process_cpu",
            "CPU time the exporter used, user and system.",
            Some(Unit::Seconds),
            counter,
        );
        count(f.open(&mut e)?, &p.cpu_seconds)?;
        let f = family(
            "process_start_time",
            "When the exporter started (Unix time).",
            Some(Unit::Seconds),
            gauge,
        );
        f.open(&mut e)?.encode_gauge(&p.start_time)?;
        Ok(())
    }
}

/// A counter by `result`, both results always there (an alert sees the first failure as an
/// increase from 0).
fn by_result(mut m: MetricEncoder, counts: &std::collections::BTreeMap<Verdict, u64>) -> Result<(), std::fmt::Error> {
    for result in Verdict::ALL {
        let n = counts.get(&result).copied().unwrap_or(0);
        count(m.encode_family(&[("result", result.label())])?, &n)?;
    }
    Ok(())
}

/// One counter sample, without exemplar.
fn count(mut m: MetricEncoder, n: &impl EncodeCounterValue) -> Result<(), std::fmt::Error> {
    m.encode_counter::<NoLabelSet, _, f64>(n, None)
}

fn histogram(mut m: MetricEncoder, h: &Histogram, bounds: &[f64]) -> Result<(), std::fmt::Error> {
    m.encode_histogram::<NoLabelSet>(h.sum, h.count, &h.cumulative(bounds), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_renders_with_base_units_total_counters_and_every_state() {
        let mut record = Record {
            target: 3,
            ..Record::default()
        };
        record.runners.insert(RunnerState::Healthy, 3);
        record.reconciles.insert(Verdict::Success, 2);
        record.github_requests.insert(304, 5);
        record.binary_version = Some("2.330.0".into());
        record.time_to_online.observe(&ONLINE_BUCKETS, 7.0);
        let text = render(record, Process::default());
        for line in [
            "github_runner_runners{state=\"healthy\"} 3",
            "github_runner_runners{state=\"busy\"} 0",
            "github_runner_runners_target 3",
            "github_runner_reconciles_total{result=\"success\"} 2",
            "github_runner_github_requests_total{status=\"304\",free=\"true\"} 5",
            "github_runner_binary_info{version=\"2.330.0\"} 1",
            "github_runner_time_to_online_seconds_bucket{le=\"10.0\"} 1",
            "github_runner_time_to_online_seconds_count 1",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
