//! One look at GitHub, every `watch-interval`: the unit's runners (which are busy), a
//! repository's queued jobs (GitHub's list wins over deliveries), an organisation's waiting
//! jobs asked after one by one once they waited a minute (a missed delivery would keep them
//! for ever), all with ETags. GitHub failing changes nothing: the last look stands, the
//! failure is logged once, the next look tries again; a rate limit pauses the looks until it
//! resets.

use std::time::Duration;

use super::book::JobEvent;
use super::run::Watcher;
use super::signal::{react, Signal};
use crate::github::{GithubError, WorkflowJob};

/// A waiting job of an organisation is asked after only once it waited this long: a runner
/// usually takes it sooner, and its `in_progress` delivery says so for free.
const CHECK_AFTER: u64 = 60;
/// Waiting jobs asked after per look, at most.
const CHECKS_PER_LOOK: usize = 50;
/// The longest pause for a rate limit.
const LONGEST_PAUSE: Duration = Duration::from_secs(3600);

impl Watcher {
    pub(super) async fn look_for_ever(&self) {
        let mut every = tokio::time::interval(Duration::from_secs(u64::from(self.spec.interval_secs)));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            every.tick().await;
            match self.look().await {
                Ok((seen, have)) => {
                    if failing {
                        tracing::info!("GitHub answers again");
                        failing = false;
                    }
                    self.react_to(seen, have);
                }
                // The last look stands: nothing is made or removed on a failure.
                Err(e) => {
                    if !failing {
                        tracing::warn!("looking at GitHub: {e}; demand stays as last seen, retrying every look");
                        failing = true;
                    }
                    if let Some(pause) = pause_for(&e) {
                        tracing::warn!("rate limited: the next look in {} s", pause.as_secs());
                        tokio::time::sleep(pause).await;
                    }
                }
            }
        }
    }

    fn react_to(&self, seen: Signal, have: usize) {
        let last = self.last.lock().expect("signal lock poisoned").replace(seen);
        let reaction = react(last, seen, have, self.max());
        if reaction.now {
            tracing::info!(
                "{} busy, {} queued, floor {}: was {last:?}",
                seen.busy,
                seen.queued,
                seen.floor
            );
            self.trigger.ask();
        }
        if reaction.after_wait {
            self.trigger
                .ask_after(Duration::from_secs(self.spec.idle_wait_secs + 5));
        }
    }

    /// One look: the demand, and how many runners the unit has registered.
    async fn look(&self) -> Result<(Signal, usize), GithubError> {
        let now = crate::bake::now();
        let mine = self.github.list_runners_with_prefix(&self.spec.runner_prefix).await?;
        let busy = mine.iter().filter(|r| r.busy).count();
        let queued = match self.github.jobs().await? {
            Some(jobs) => {
                let mut book = self.book.lock().expect("book lock poisoned");
                for job in jobs.started {
                    book.hear(&self.event(job, self.spec.path.clone()), now);
                }
                let served: Vec<_> = jobs
                    .queued
                    .iter()
                    .filter(|j| crate::github::serves(&self.spec.labels, &j.labels))
                    .collect();
                book.keep_queued(&served.iter().map(|j| j.id).collect(), now);
                book.prune(now);
                served.len()
            }
            None => {
                self.check_waiting(now).await;
                let mut book = self.book.lock().expect("book lock poisoned");
                book.prune(now);
                book.queued_for(&self.spec.labels)
            }
        };
        let floor = self.schedule.floor_at(jiff::Timestamp::now(), self.spec.floor) as usize;
        self.save_book();
        Ok((Signal { busy, queued, floor }, mine.len()))
    }

    /// Asks GitHub after an organisation's jobs that have waited a while. One GitHub will not
    /// tell about (403, 404: the token cannot read its repository) is not asked after again:
    /// it counts until a delivery ends it or it has waited a day.
    async fn check_waiting(&self, now: u64) {
        let due: Vec<(u64, String)> = {
            let book = self.book.lock().expect("book lock poisoned");
            book.pending()
                .filter(|(_, p)| !p.unverifiable && now.saturating_sub(p.heard) >= CHECK_AFTER)
                .map(|(id, p)| (id, p.repo.clone()))
                .take(CHECKS_PER_LOOK)
                .collect()
        };
        for (id, repo) in due {
            let Some((owner, name)) = repo.split_once('/') else {
                continue;
            };
            let heard = match self.github.job(owner, name, id).await {
                Ok(Some(job)) => self.event(job, repo.clone()),
                Ok(None) | Err(GithubError::NoAccess { .. }) => {
                    tracing::warn!(
                        "job {id} of {repo}: GitHub will not say what became of it (the token needs Actions read on {repo}); it counts until a webhook ends it"
                    );
                    self.book.lock().expect("book lock poisoned").unverifiable(id);
                    continue;
                }
                Err(e) => {
                    tracing::debug!("job {id} of {repo}: {e}");
                    continue;
                }
            };
            let mut book = self.book.lock().expect("book lock poisoned");
            book.hear(&heard, now);
            if !book.pending().any(|(p, _)| p == id) {
                self.github.forget_job(owner, name, id);
            }
        }
    }

    /// What GitHub says of a job of `repo`, as the book hears it.
    fn event(&self, job: WorkflowJob, repo: String) -> JobEvent {
        let mine = job.taken_by(&self.spec.runner_prefix);
        JobEvent { job, repo, mine }
    }
}

/// How long to stop looking after `error`: until a rate limit resets.
fn pause_for(error: &GithubError) -> Option<Duration> {
    let pause = match error {
        GithubError::RateLimited { reset, .. } => Duration::from_secs(reset.saturating_sub(crate::bake::now())),
        GithubError::SecondaryRateLimited { retry_after, .. } => (*retry_after).max(Duration::from_secs(60)),
        _ => return None,
    };
    Some(pause.min(LONGEST_PAUSE))
}
