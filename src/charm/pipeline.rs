//! The one pipeline of hooks and actions, in this order:
//! 1. the unit's LXD set up ([`crate::lxd_setup`]), where the run may create runners;
//! 2. the runners of previous generations retired, each with its own path and token
//!    ([`super::generations`]);
//! 3. the runner image looked at, its bake started when due ([`super::image`]), and the
//!    manager's [`Steps`] on the current generation's runners, recorded ([`super::record`]);
//! 4. the unit's registrations listed, where an action reports them;
//! 5. the ETags of every GitHub client of the run kept, and the state saved.
//!
//! Hooks turn its [`Outcome`] into a status; actions into results. Nothing here sets a
//! status or an action result.

use std::collections::BTreeSet;

use super::{generations, image, record, status, Ctx};
use crate::bake::plan::ImageStatus;
use crate::config::{CharmConfig, Generation};
use crate::github::Runner;
use crate::juju::Status;
use crate::lxd_setup;
use crate::manager::{Flush, ManagerError, RunnerFilter, RunnerImage, RunnerManager, Saved, Stage, Steps, StepsDone};
use crate::runner_binary::RunnerBinaryCache;
use crate::state::{State, StateError};

/// What one run of the pipeline is asked for.
#[derive(Debug, Clone)]
pub(super) struct Work {
    /// Set the unit's LXD up first (every run that may create runners).
    pub setup: bool,
    /// Which runners of previous generations go.
    pub retire: Option<Flush>,
    /// The manager's steps on the current generation's runners.
    pub steps: Option<Steps>,
    /// The path and token of the current generation.
    pub made_with: Generation,
    /// List the unit's registrations after the steps.
    pub list: bool,
}

/// How a run went.
#[derive(Debug)]
pub(super) enum Outcome {
    /// LXD could not be set up, and nothing else ran: the status says why.
    NoSetup(Status),
    /// The manager could not be made, or a step failed as a whole.
    Failed(ManagerError),
    /// Runners were due and there is no runner image yet: what its bake is doing.
    NoImage(ImageStatus),
    Done {
        /// Boxed: the report of every step is far larger than the other variants.
        done: Box<StepsDone>,
        /// The unit's registrations, when listed.
        registrations: Vec<Runner>,
        /// The runner image's bake, when one runs or failed.
        image: Option<ImageStatus>,
    },
}

/// Runs `work` for `config`, keeping what it learns in `state` (saved before it returns).
///
/// # Errors
/// Only when the state could not be saved.
pub(super) async fn run(
    ctx: &Ctx<'_>,
    config: &CharmConfig,
    state: &mut State,
    work: Work,
    progress: &dyn Fn(Stage),
) -> Result<Outcome, StateError> {
    if work.setup {
        if let Some(status) = setup_lxd(ctx, config).await {
            return Ok(Outcome::NoSetup(status));
        }
    }
    if let Some(which) = work.retire.filter(|_| !state.previous.is_empty()) {
        retire(ctx, config, state, which).await;
        ctx.state.save(state)?;
    }
    // The runner image first (a bake starts in the background when one is due), then again
    // if the steps changed the runner binary, so that its bake starts now, not next hook.
    let cache = RunnerBinaryCache::new(&ctx.deps.host);
    let before = cache.current();
    let mut image = match work.setup {
        true => Some(image::ensure(ctx, config, before.as_ref()).await),
        false => None,
    };
    let outcome = match RunnerManager::new(&ctx.deps, config, &work.made_with, state.etags.clone()) {
        Ok(manager) => {
            let runners = image.as_ref().map_or(RunnerImage::Base, |i| i.runners.clone());
            let manager = manager.on(generations::current(state)).from_image(runners);
            let outcome = take(ctx, &manager, work.steps, work.list, progress).await;
            keep(state, manager.finish());
            outcome
        }
        Err(e) => Outcome::Failed(e),
    };
    if let Outcome::Done { done, .. } = &outcome {
        if let (
            Some(reconciled),
            Some(image::Image {
                runners: RunnerImage::Baked { .. },
                ..
            }),
        ) = (&done.reconciled, &image)
        {
            image::retire_previous(ctx, &reconciled.online).await;
        }
    }
    let after = cache.current();
    if work.setup && after.as_ref().map(|t| t.sha256()) != before.as_ref().map(|t| t.sha256()) {
        image = Some(image::ensure(ctx, config, after.as_ref()).await);
    }
    ctx.state.save(state)?;
    let status = image.and_then(|i| i.status);
    Ok(match outcome {
        Outcome::Failed(ManagerError::NoRunnerImage) => Outcome::NoImage(status.unwrap_or(ImageStatus::Baking {
            step: "waiting for the runner binary".into(),
            first: true,
        })),
        Outcome::Done {
            done, registrations, ..
        } => Outcome::Done {
            done,
            registrations,
            image: status.filter(|s| *s != ImageStatus::Ready),
        },
        other => other,
    })
}

/// The steps, then the list, on the current generation.
async fn take(
    ctx: &Ctx<'_>,
    manager: &RunnerManager,
    steps: Option<Steps>,
    list: bool,
    progress: &dyn Fn(Stage),
) -> Outcome {
    let done = match steps {
        Some(steps) => match record::take_recorded(ctx, manager, steps, progress).await {
            Ok(done) => done,
            Err(e) => return Outcome::Failed(e),
        },
        None => StepsDone::default(),
    };
    let registrations = match list {
        true => match manager.github_runners().await {
            Ok(runners) => runners,
            Err(e) => return Outcome::Failed(e),
        },
        false => Vec::new(),
    };
    Outcome::Done {
        done: Box::new(done),
        registrations,
        image: None,
    }
}

/// Keeps a finished client's ETags in `state` (the next run's lists are free 304s) and logs
/// its calls.
fn keep(state: &mut State, saved: Saved) {
    let stats = saved.stats;
    tracing::info!(
        "GitHub: {} requests ({} free 304s, {} retries); rate limit remaining {}",
        stats.requests,
        stats.not_modified,
        stats.retries,
        stats
            .rate_limit
            .remaining
            .map_or("unknown".to_string(), |r| r.to_string())
    );
    state.etags = saved.etags;
}

/// Sets up LXD for runners; `Some(status)` says why it could not.
async fn setup_lxd(ctx: &Ctx<'_>, config: &CharmConfig) -> Option<Status> {
    let setup = async {
        let names = lxd_setup::claim_names(&ctx.deps.lxd, &ctx.deps.unit).await?;
        lxd_setup::ensure(&ctx.deps.lxd, &ctx.deps.host, config, &names).await
    };
    match setup.await {
        Ok(report) => {
            for made in &report.created {
                tracing::info!("LXD setup: created {made}");
            }
            None
        }
        Err(e) => {
            match e.needs_operator() {
                true => tracing::error!("LXD setup: {e}"),
                false => tracing::warn!("LXD setup: {e}"),
            }
            Some(status::lxd_setup_failed(&e))
        }
    }
}

/// Removes the previous generations' runners `which` says (idle ones, or all), each with its
/// own path and token, and forgets the generations whose runners are all gone.
async fn retire(ctx: &Ctx<'_>, config: &CharmConfig, state: &mut State, which: Flush) {
    let generations = std::mem::take(&mut state.previous);
    for generation in &generations {
        let names: BTreeSet<String> = generation.runners.iter().cloned().collect();
        let flushed = match RunnerManager::new(&ctx.deps, config, &generation.made_with, state.etags.clone()) {
            Ok(manager) => {
                let manager = manager.on(RunnerFilter::Only(names));
                let done = record::take_recorded(ctx, &manager, Steps::flush_only(which), &|_| {}).await;
                keep(state, manager.finish());
                done.map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        match flushed.map(|done| done.flushed.map_or(0, |r| r.removed.len())) {
            Ok(0) => {}
            Ok(removed) => tracing::info!(
                "removed {removed} runners made with path {}'s previous token or path",
                generation.made_with.path
            ),
            Err(e) => tracing::warn!("removing the runners made with the previous path or token: {e}"),
        }
    }
    // One look at what is left, once every generation had its flush.
    let live: Option<BTreeSet<String>> = ctx.deps.runner_instances().await.ok().map(|n| n.into_iter().collect());
    state.previous = generations::left(generations, live.as_ref());
}

impl Outcome {
    /// Whether every runner a flush step was asked to remove went (no flush: yes).
    pub fn flushed_all(&self) -> bool {
        match self {
            Outcome::Done { done, .. } => done.flushed.as_ref().is_none_or(|f| f.failures.is_empty()),
            Outcome::NoSetup(_) | Outcome::Failed(_) | Outcome::NoImage(_) => false,
        }
    }
}
