//! The one path every hook and action takes to bring the runners where they should be:
//! flush (if asked) → runner binary → replace idle runners when the binary changed (if
//! asked) → reconcile (if asked). Callers name their choices ([`Steps`]) instead of
//! passing booleans, and hear of each stage through a [`Stage`] callback (hooks turn it into
//! a maintenance status, actions into `action-log` lines).

use super::plan::{Flush, Sizing};
use super::{ManagerError, Reconciled, Report, RunnerManager};

/// How far to look for a runner binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryCheck {
    /// Ask GitHub for its latest build and cache it when it is new. A failed check is not a
    /// failure while a cached build exists.
    Latest,
    /// Use the cached build; download GitHub's latest only when none is cached.
    IfMissing,
}

/// What a new runner binary means for the runners made with the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnNewBinary {
    /// Replace the idle ones (busy ones finish their job first).
    FlushIdle,
    /// Leave them: they go after one job anyway.
    Keep,
}

/// The steps one hook or action asks the manager to take, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Steps {
    /// Removed before anything else.
    pub flush: Option<Flush>,
    /// `None` leaves the runner binary alone.
    pub binary: Option<BinaryCheck>,
    pub on_new_binary: OnNewBinary,
    /// How many healthy runners to end with; `None` makes no reconcile.
    pub target: Option<Sizing>,
}

impl Steps {
    /// The binary, then a reconcile to what `target` wants.
    pub fn reconcile(binary: BinaryCheck, target: Sizing) -> Self {
        Steps {
            flush: None,
            binary: Some(binary),
            on_new_binary: OnNewBinary::Keep,
            target: Some(target),
        }
    }

    /// Only a flush: no binary, no reconcile (a unit going away).
    pub fn flush_only(flush: Flush) -> Self {
        Steps {
            flush: Some(flush),
            binary: None,
            on_new_binary: OnNewBinary::Keep,
            target: None,
        }
    }

    pub fn flushing(self, flush: Flush) -> Self {
        Steps {
            flush: Some(flush),
            ..self
        }
    }

    pub fn on_new_binary(self, on_new_binary: OnNewBinary) -> Self {
        Steps { on_new_binary, ..self }
    }

    /// Only the binary check (and what a new binary means), no reconcile.
    pub fn binary_only(self) -> Self {
        Steps { target: None, ..self }
    }
}

/// Which step is running, for the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Flushing(Flush),
    Flushed(Flush, usize),
    CheckingBinary,
    ReplacingIdleForNewBinary,
    Reconciling(Sizing),
}

/// What [`RunnerManager::take`] did.
#[derive(Debug, Default)]
pub struct StepsDone {
    pub flushed: Option<Report>,
    /// The cached binary changed (a new build was downloaded).
    pub binary_changed: bool,
    /// Idle runners replaced because of the new binary.
    pub replaced: Option<Report>,
    pub reconciled: Option<Reconciled>,
    /// The check for a new binary failed (the cached one was used).
    pub binary_check_failed: bool,
}

impl StepsDone {
    /// What each stage did to runners: the flush, the replacement for a new binary, the
    /// reconcile, in that order.
    pub fn reports(&self) -> impl Iterator<Item = &Report> {
        [&self.flushed, &self.replaced]
            .into_iter()
            .flatten()
            .chain(self.reconciled.as_ref().map(|r| &r.report))
    }
}

impl RunnerManager {
    /// Carries `steps` out, telling `progress` of each stage.
    ///
    /// # Errors
    /// The first stage that failed as a whole (GitHub or LXD unreachable, no binary); a
    /// runner that failed alone is in the reports instead.
    pub async fn take(&self, steps: Steps, progress: &dyn Fn(Stage)) -> Result<StepsDone, ManagerError> {
        let mut done = StepsDone::default();
        if let Some(which) = steps.flush {
            progress(Stage::Flushing(which));
            let report = self.flush(which).await?;
            progress(Stage::Flushed(which, report.removed.len()));
            done.flushed = Some(report);
        }
        if steps.binary == Some(BinaryCheck::Latest) {
            progress(Stage::CheckingBinary);
        }
        if let Some(check) = steps.binary {
            let binary = self.ensure_binary(check).await?;
            (done.binary_changed, done.binary_check_failed) = (binary.changed, binary.check_failed);
        }
        if done.binary_changed && steps.on_new_binary == OnNewBinary::FlushIdle {
            progress(Stage::ReplacingIdleForNewBinary);
            done.replaced = Some(self.flush(Flush::Idle).await?);
        }
        if let Some(mut sizing) = steps.target {
            if let Sizing::Elastic(elastic) = &mut sizing {
                elastic.queued = elastic.share.of(self.queued_for_me().await);
            }
            progress(Stage::Reconciling(sizing));
            done.reconciled = Some(self.reconcile(sizing).await?);
        }
        Ok(done)
    }

    /// Makes sure a runner binary is cached, as `check` says.
    async fn ensure_binary(&self, check: BinaryCheck) -> Result<BinaryEnsured, ManagerError> {
        if check == BinaryCheck::IfMissing && self.cached_tarball().is_some() {
            return Ok(BinaryEnsured::default());
        }
        match self.update_to_latest_tarball().await {
            Ok(changed) => Ok(BinaryEnsured {
                changed,
                check_failed: false,
            }),
            // A failed check is not a failed reconcile while there is a binary to use.
            Err(e) if self.cached_tarball().is_some() => {
                tracing::warn!("checking for a new runner binary: {e}");
                Ok(BinaryEnsured {
                    changed: false,
                    check_failed: true,
                })
            }
            Err(e) => Err(e),
        }
    }
}

impl RunnerManager {
    /// The queued jobs this unit's runners could take: a repository's from GitHub's runs and
    /// jobs, an organisation's (which has no such listing) from the watcher's book of
    /// `workflow_job` webhooks. A failed look is no failure: the book stands in for the
    /// runs API, and with neither the pool follows its busy runners alone, as the timer retries.
    async fn queued_for_me(&self) -> usize {
        let labels = match self.runner_labels() {
            Ok(labels) => labels,
            Err(e) => {
                tracing::warn!("queued jobs not counted: {e}");
                return 0;
            }
        };
        // Pruned as it is read: a watcher that stopped leaves no job waiting past its day.
        let book = || {
            let file = crate::watch::book::JobBook::file(&self.deps.host, self.deps.unit.as_str());
            let mut book = crate::watch::book::JobBook::load(&file, &self.github.scope().path());
            book.prune(crate::bake::now());
            book.queued_for(&labels)
        };
        match self.github.queued_jobs().await {
            Ok(Some(jobs)) => jobs
                .iter()
                .filter(|j| crate::github::serves(&labels, &j.labels))
                .count(),
            Ok(None) => book(),
            Err(e) => {
                tracing::warn!(
                    "queued jobs not listed: {e} (the token needs Actions read to list runs); counting the webhooks' instead"
                );
                book()
            }
        }
    }
}

/// What ensuring the runner binary came to.
#[derive(Debug, Default)]
struct BinaryEnsured {
    /// A new build was downloaded and is now the cached one.
    changed: bool,
    /// The check for a new build failed; the cached one is used.
    check_failed: bool,
}
