//! Keeps `docs/reference/metrics.md` true to the code: every metric the exporter serves (read
//! from a scrape of a record with every field set), every label value, every alert rule and
//! every event of the event log must be named on the page.

use std::collections::BTreeSet;
use std::path::Path;

use super::events::LogEntry;
use super::exposition::{render, Process};
use super::record::{Histogram, Record, RunnerState, Verdict};
use crate::manager::plan::Reason;

const PAGE: &str = "docs/reference/metrics.md";

fn page() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(PAGE)).expect("the metrics reference exists")
}

/// A record with every field set (a new field fails to compile here until it has a value),
/// so that every family the exporter can serve is in its scrape.
fn full_record() -> Record {
    Record {
        runners: RunnerState::ALL.iter().map(|s| (*s, 1)).collect(),
        target: 3,
        demand_busy: 1,
        demand_queued: 2,
        floor: Some(1),
        max: Some(6),
        reconciles: Verdict::ALL.iter().map(|v| (*v, 1)).collect(),
        reconcile_seconds: Verdict::ALL.iter().map(|v| (*v, Histogram::default())).collect(),
        creations: Verdict::ALL.iter().map(|v| (*v, 1)).collect(),
        removals: Default::default(),
        time_to_online: Histogram::default(),
        queue_wait: Histogram::default(),
        github_requests: [(200, 1), (304, 1), (403, 1)].into(),
        rate_limit_remaining: Some(4999),
        rate_limit_reset: Some(1_700_000_000),
        binary_version: Some("2.330.0".into()),
        binary_update_failures: 0,
        last_success: Some(1_700_000_000.0),
        busy: BTreeSet::new(),
    }
}

/// The names a query uses, from the scrape's `# TYPE` lines: `_total` for counters, `_info`
/// for info metrics, the family's own name for the others (histograms: its `_bucket`,
/// `_sum` and `_count` follow from it).
fn served_names() -> Vec<String> {
    render(full_record(), Process::default())
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| {
            let (name, kind) = l.split_once(' ')?;
            Some(match kind {
                "counter" => format!("{name}_total"),
                "info" => format!("{name}_info"),
                _ => name.to_string(),
            })
        })
        .collect()
}

/// One sample of each kind of event (a new kind fails to compile here until it has one).
fn events() -> Vec<LogEntry> {
    let all = vec![
        LogEntry::RunnerCreated {
            runner: "r".into(),
            seconds: 1.0,
        },
        LogEntry::RunnerCreationFailed { error: "e".into() },
        LogEntry::RunnerRemoved {
            runner: "r".into(),
            reason: "flush",
        },
        LogEntry::JobDone { runner: "r".into() },
        LogEntry::Reconciliation {
            result: "success",
            target: 1,
            healthy: 1,
            created: 0,
            removed: 0,
            failed: 0,
            seconds: 1.0,
        },
    ];
    for entry in &all {
        match entry {
            LogEntry::RunnerCreated { .. }
            | LogEntry::RunnerCreationFailed { .. }
            | LogEntry::RunnerRemoved { .. }
            | LogEntry::JobDone { .. }
            | LogEntry::Reconciliation { .. } => {}
        }
    }
    all
}

fn unnamed(page: &str, names: impl IntoIterator<Item = String>) -> Vec<String> {
    names
        .into_iter()
        .filter(|name| !page.contains(&format!("`{name}`")))
        .collect()
}

#[test]
fn every_metric_the_exporter_serves_is_in_the_metrics_reference() {
    let names = served_names();
    assert!(names.len() > 15, "the scrape's families were not found: {names:?}");
    let missing = unnamed(&page(), names);
    assert!(
        missing.is_empty(),
        "{PAGE} does not name these metrics (as `name`): {missing:?}"
    );
}

#[test]
fn every_label_value_of_the_exporter_is_in_the_metrics_reference() {
    let values = RunnerState::ALL
        .iter()
        .map(|s| s.label())
        .chain(Reason::ALL.iter().map(|r| r.label()))
        .chain(Verdict::ALL.iter().map(|v| v.label()))
        .map(String::from);
    let missing = unnamed(&page(), values);
    assert!(
        missing.is_empty(),
        "{PAGE} does not name these label values (as `value`): {missing:?}"
    );
}

#[test]
fn every_alert_rule_is_in_the_metrics_reference() {
    let rules = include_str!("../prometheus_alert_rules/github-runner.rules");
    let alerts = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .map(|a| a.trim().to_string())
        .collect::<Vec<_>>();
    assert!(!alerts.is_empty(), "no alert found in the rules file");
    let missing = unnamed(&page(), alerts);
    assert!(
        missing.is_empty(),
        "{PAGE} does not name these alerts (as `name`): {missing:?}"
    );
}

#[test]
fn every_event_of_the_event_log_and_its_fields_are_in_the_metrics_reference() {
    let mut names = Vec::new();
    for entry in events() {
        let value = serde_json::to_value(&entry).expect("an event serialises");
        let object = value.as_object().expect("an event is a JSON object");
        names.extend(object.iter().map(|(key, v)| match key.as_str() {
            "event" => v.as_str().expect("the event's name").to_string(),
            field => field.to_string(),
        }));
    }
    let missing = unnamed(&page(), names);
    assert!(
        missing.is_empty(),
        "{PAGE} does not name these events or fields (as `name`): {missing:?}"
    );
}
