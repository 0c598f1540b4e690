//! The jobs the watcher has heard of, by `workflow_job` webhook or by its look at GitHub: those
//! still waiting for a runner (the organisation's queue, which only webhooks tell), those a
//! runner took (so a late `queued` delivery cannot bring one back), the deliveries already
//! counted, and how long jobs waited for a runner. Pure: the watcher keeps it in
//! `demand.json` beside the unit's state, which reconciles read ([`JobBook::load`]).

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::github::WorkflowJob;
use crate::host::Host;
use crate::metrics::record::{Histogram, QUEUE_WAIT_BUCKETS};

/// Deliveries remembered for replays: GitHub redelivers by hand or on a failed delivery, within
/// days, but a unit hears far fewer distinct jobs than this between two of the same.
const DELIVERIES_KEPT: usize = 4096;
/// The longest delivery id kept.
const MAX_DELIVERY_ID: usize = 64;
/// A job waits at most a day for a runner: GitHub fails it then.
const PENDING_FOR: u64 = 24 * 3600;
/// How long a job taken or done is remembered against late deliveries.
const ENDED_FOR: u64 = 3 * 3600;

/// One job as a webhook or a look at GitHub tells it: the job, with its `status` the webhook's
/// `action` (`queued`, `waiting`, `in_progress`, `completed`) or the API's, the repository it
/// runs in (`owner/repo`), and whether one of this unit's runners took it (only those count in
/// the unit's queue-wait histogram).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEvent {
    pub job: WorkflowJob,
    pub repo: String,
    pub mine: bool,
}

/// A job waiting for a runner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub labels: Vec<String>,
    pub repo: String,
    /// When it was heard of first (seconds since the epoch).
    pub heard: u64,
    /// GitHub would not say what became of it (no access to its repository): not asked again;
    /// it counts until a delivery ends it or it has waited a day.
    #[serde(default)]
    pub unverifiable: bool,
}

/// What hearing of a job did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// The queue changed.
    Changed,
    /// Known already: nothing changed.
    Unchanged,
    /// This delivery was counted before.
    Replay,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobBook {
    /// The `path` (organisation or `owner/repo`) the jobs are of: another path's are not ours.
    pub path: String,
    pending: BTreeMap<u64, Pending>,
    /// Jobs taken or done, with when that was heard.
    ended: BTreeMap<u64, u64>,
    deliveries: VecDeque<String>,
    /// Seconds from queued to taken, of every job seen taken.
    pub queue_wait: Histogram,
}

impl JobBook {
    pub fn new(path: &str) -> Self {
        JobBook {
            path: path.to_string(),
            ..JobBook::default()
        }
    }

    /// The file of `unit`, beside its state.
    pub fn file(host: &Host, unit: &str) -> PathBuf {
        crate::state::unit_dir(host, unit).join("demand.json")
    }

    /// The book in `file` when it is `path`'s; an empty one for `path` otherwise.
    pub fn load(file: &Path, path: &str) -> Self {
        Self::read(file)
            .filter(|book| book.path == path)
            .unwrap_or_else(|| JobBook::new(path))
    }

    /// The book in `file`, whichever path it is of.
    pub fn read(file: &Path) -> Option<Self> {
        serde_json::from_slice(&std::fs::read(file).ok()?).ok()
    }

    /// Writes it to `file`, root's alone.
    pub fn save(&self, file: &Path) -> std::io::Result<()> {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_vec(self).expect("a book serialises");
        crate::host::fs::write_atomic(file, &text, 0o600).map(drop)
    }

    /// Counts a webhook delivery once: a replayed `delivery` id changes nothing.
    pub fn deliver(&mut self, delivery: &str, event: &JobEvent, now: u64) -> Heard {
        // GitHub's ids are GUIDs: a longer one is cut, not stored whole.
        let delivery: String = delivery.chars().take(MAX_DELIVERY_ID).collect();
        if !delivery.is_empty() {
            if self.deliveries.contains(&delivery) {
                return Heard::Replay;
            }
            if self.deliveries.len() == DELIVERIES_KEPT {
                self.deliveries.pop_front();
            }
            self.deliveries.push_back(delivery);
        }
        self.hear(event, now)
    }

    /// Takes in what `event` says of its job; a job taken or done never waits again. Only a
    /// `queued` job waits for a runner: one `waiting` for an environment's approval, or
    /// `pending` behind a concurrency group, could not run on one yet.
    pub fn hear(&mut self, event: &JobEvent, now: u64) -> Heard {
        let job = &event.job;
        match job.status.as_str() {
            "waiting" | "pending" | "requested" => Heard::Unchanged,
            "queued" => {
                if self.ended.contains_key(&job.id) || self.pending.contains_key(&job.id) {
                    return Heard::Unchanged;
                }
                let pending = Pending {
                    labels: job.labels.clone(),
                    repo: event.repo.clone(),
                    heard: now,
                    unverifiable: false,
                };
                self.pending.insert(job.id, pending);
                Heard::Changed
            }
            _ => {
                let was_pending = self.pending.remove(&job.id).is_some();
                let first = self.ended.insert(job.id, now).is_none();
                if first && event.mine {
                    if let Some(waited) = waited(job) {
                        self.queue_wait.observe(&QUEUE_WAIT_BUCKETS, waited);
                    }
                }
                if was_pending {
                    Heard::Changed
                } else {
                    Heard::Unchanged
                }
            }
        }
    }

    /// The waiting jobs runners with `labels` can take.
    pub fn queued_for(&self, labels: &[String]) -> usize {
        self.pending
            .values()
            .filter(|p| crate::github::serves(labels, &p.labels))
            .count()
    }

    /// The waiting jobs, by id.
    pub fn pending(&self) -> impl Iterator<Item = (u64, &Pending)> {
        self.pending.iter().map(|(id, p)| (*id, p))
    }

    /// Marks job `id` as one GitHub will not tell about (no access to its repository).
    pub fn unverifiable(&mut self, id: u64) {
        if let Some(pending) = self.pending.get_mut(&id) {
            pending.unverifiable = true;
        }
    }

    /// Keeps waiting only the jobs of `queued` (GitHub's own list of a repository's queued
    /// jobs, which wins over deliveries: a missed `completed` one leaves nothing behind).
    /// Whether the queue changed.
    pub fn keep_queued(&mut self, queued: &std::collections::BTreeSet<u64>, now: u64) -> bool {
        let gone: Vec<u64> = self.pending.keys().filter(|id| !queued.contains(id)).copied().collect();
        for id in &gone {
            self.pending.remove(id);
            self.ended.insert(*id, now);
        }
        !gone.is_empty()
    }

    /// Forgets jobs waiting longer than GitHub lets them, and ended ones no delivery can come
    /// for any more. Whether the queue changed.
    pub fn prune(&mut self, now: u64) -> bool {
        let before = self.pending.len();
        self.pending.retain(|_, p| now.saturating_sub(p.heard) < PENDING_FOR);
        self.ended.retain(|_, at| now.saturating_sub(*at) < ENDED_FOR);
        self.pending.len() != before
    }
}

/// Seconds from `created_at` to `started_at`, when both are known and in order.
fn waited(job: &WorkflowJob) -> Option<f64> {
    let at = |t: &Option<String>| t.as_deref()?.parse::<jiff::Timestamp>().ok();
    let (created, started) = (at(&job.created_at)?, at(&job.started_at)?);
    let millis = started.as_millisecond() - created.as_millisecond();
    (millis >= 0).then(|| millis as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: u64, status: &str, labels: &[&str]) -> JobEvent {
        JobEvent {
            job: WorkflowJob {
                id,
                status: status.into(),
                labels: labels.iter().map(|l| l.to_string()).collect(),
                created_at: Some("2026-12-06T10:00:00Z".into()),
                started_at: (status == "in_progress").then(|| "2026-12-06T10:00:12Z".into()),
                runner_name: None,
            },
            repo: "acme/app".into(),
            mine: true,
        }
    }

    fn runner() -> Vec<String> {
        ["self-hosted", "linux", "x64"].map(String::from).to_vec()
    }

    #[test]
    fn a_queued_job_waits_until_a_runner_takes_it_and_its_wait_is_observed_once() {
        let mut book = JobBook::new("acme");
        assert_eq!(
            book.deliver("d1", &event(7, "queued", &["self-hosted"]), 100),
            Heard::Changed
        );
        assert_eq!(book.queued_for(&runner()), 1);
        assert_eq!(
            book.deliver("d2", &event(7, "in_progress", &["self-hosted"]), 112),
            Heard::Changed
        );
        assert_eq!(book.queued_for(&runner()), 0);
        assert_eq!(
            book.deliver("d3", &event(7, "completed", &["self-hosted"]), 200),
            Heard::Unchanged
        );
        assert_eq!(
            (book.queue_wait.count, book.queue_wait.sum),
            (1, 12.0),
            "taken after 12 s, once"
        );
    }

    #[test]
    fn a_replayed_delivery_counts_once_and_a_late_queued_never_brings_a_job_back() {
        let mut book = JobBook::new("acme");
        book.deliver("d1", &event(7, "queued", &[]), 100);
        assert_eq!(book.deliver("d1", &event(8, "queued", &[]), 101), Heard::Replay);
        assert_eq!(book.queued_for(&runner()), 1, "the replay's job is not counted");
        book.deliver("d2", &event(9, "completed", &[]), 102);
        assert_eq!(book.deliver("d3", &event(9, "queued", &[]), 103), Heard::Unchanged);
        assert_eq!(book.queued_for(&runner()), 1);
    }

    #[test]
    fn only_jobs_the_runners_labels_serve_are_counted() {
        let mut book = JobBook::new("acme");
        book.hear(&event(1, "queued", &["self-hosted", "Linux"]), 0);
        book.hear(&event(2, "queued", &["self-hosted", "gpu"]), 0);
        assert_eq!(book.queued_for(&runner()), 1);
    }

    #[test]
    fn a_job_waiting_for_approval_is_no_demand_until_it_is_queued() {
        let mut book = JobBook::new("acme");
        assert_eq!(book.hear(&event(1, "waiting", &[]), 0), Heard::Unchanged);
        assert_eq!(book.queued_for(&runner()), 0);
        assert_eq!(book.hear(&event(1, "queued", &[]), 1), Heard::Changed);
    }

    #[test]
    fn only_jobs_this_unit_s_runners_took_are_timed_and_github_s_list_wins() {
        let mut book = JobBook::new("acme/app");
        let mut theirs = event(1, "in_progress", &[]);
        theirs.mine = false;
        book.hear(&theirs, 0);
        assert_eq!(book.queue_wait.count, 0, "another unit's runner, or GitHub's");
        book.hear(&event(2, "queued", &[]), 0);
        book.hear(&event(3, "queued", &[]), 0);
        assert!(book.keep_queued(&[3].into(), 5), "job 2 is no longer queued");
        assert_eq!(book.queued_for(&runner()), 1);
        assert_eq!(book.hear(&event(2, "queued", &[]), 6), Heard::Unchanged, "ended");
    }

    #[test]
    fn jobs_waiting_past_a_day_and_old_ended_ones_are_forgotten() {
        let mut book = JobBook::new("acme");
        book.hear(&event(1, "queued", &[]), 0);
        book.hear(&event(2, "completed", &[]), 0);
        assert!(!book.prune(PENDING_FOR - 1));
        assert!(book.prune(PENDING_FOR));
        assert_eq!(book.queued_for(&runner()), 0);
        assert_eq!(
            book.hear(&event(2, "queued", &[]), PENDING_FOR),
            Heard::Changed,
            "forgotten"
        );
    }

    #[test]
    fn a_book_of_another_path_is_not_read() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("demand.json");
        let mut book = JobBook::new("acme");
        book.hear(&event(1, "queued", &[]), 0);
        book.save(&file).expect("saved");
        assert_eq!(JobBook::load(&file, "acme").queued_for(&runner()), 1);
        assert_eq!(JobBook::load(&file, "acme/app").queued_for(&runner()), 0);
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).expect("meta").permissions());
        assert_eq!(mode & 0o777, 0o600);
    }
}
