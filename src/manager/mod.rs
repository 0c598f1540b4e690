//! The runner manager: keeps the healthy runners the pool's sizing wants for the configured
//! path (`virtual-machines`, or the elastic pool's busy runners plus its floor or this unit's
//! share of the queue), replaces used and broken ones, never kills a busy job (outside a flush
//! that asks to), and keeps the runner binary current.
//!
//! Built as observe (LXD + GitHub, [`observe`]) → plan (pure, [`plan`]) → act (concurrent,
//! [`act`]); [`steps`] is the one path hooks and actions take through them
//! ([`RunnerManager::take`]). The unit's LXD setup is [`crate::lxd_setup`]'s. This is where
//! `lxd`, `host` and `github` meet; they never import each other.
//!
//! What a hook builds once is a [`Deps`] (the unit, its host, the LXD client); a
//! [`RunnerManager`] adds the GitHub client of one config and one [`Generation`] (path and
//! token), and [`RunnerManager::finish`] hands back what the charm must keep ([`Saved`]:
//! ETags, call stats).

mod act;
mod observe;
pub mod plan;
mod settings;
pub use settings::runner_labels;
mod steps;

use std::sync::Mutex;
use std::time::Duration;

use crate::config::{CharmConfig, GithubPath};
use crate::github::{self, CallStats, ClientConfig, EtagCache, GithubClient, GithubError, RetryPolicy, Runner, Scope};
use crate::host::Host;
use crate::lxd::{LxdClient, LxdError};
use crate::runner::{self, RunnerEnv, RunnerError};
use crate::runner_binary::{self, BinaryError, RunnerBinaryCache, VerifiedTarball};
use crate::state::Generation;
use crate::unit::UnitName;

pub use act::Report;
pub use plan::Flush;
pub use steps::{BinaryCheck, OnNewBinary, Stage, Steps, StepsDone};

#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    #[error(transparent)]
    Github(#[from] GithubError),
    #[error(transparent)]
    Lxd(#[from] LxdError),
    #[error(transparent)]
    Binary(#[from] BinaryError),
    #[error(transparent)]
    Runner(#[from] RunnerError),
    #[error("no runner binary yet (it is downloaded from GitHub first)")]
    MissingBinary,
    /// Runners come from the baked image, and there is none yet.
    #[error("no runner image yet")]
    NoRunnerImage,
}

/// What new runners start from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RunnerImage {
    /// `base-image` as it is, the runner pushed in (`bake-image=false`).
    #[default]
    Base,
    /// The baked image under `alias`, holding the runner whose tarball has `runner_sha256`.
    Baked { alias: String, runner_sha256: String },
    /// Baking is on and no image is finished yet: no runner is made.
    NotYet,
}

/// The time a new runner has to come online on GitHub (a VM boots, the listener starts): a
/// runner GitHub shows offline after it is replaced.
pub const ONLINE_GRACE: Duration = Duration::from_secs(600);

/// What every hook works with below the charm: built once per hook.
#[derive(Debug, Clone)]
pub struct Deps {
    pub unit: UnitName,
    pub host: Host,
    pub lxd: LxdClient,
    /// How long one GitHub request may take ([`github::REQUEST_TIMEOUT`] unless the hook's
    /// environment says otherwise).
    pub github_timeout: Duration,
    /// How GitHub requests are retried (the default outside tests).
    pub github_retry: RetryPolicy,
    /// A new runner's time to come online ([`ONLINE_GRACE`] unless the hook's environment says
    /// otherwise).
    pub online_grace: Duration,
}

impl Deps {
    /// The unit's dependencies with GitHub's default timeout and retries.
    pub fn new(unit: UnitName, host: Host, lxd: LxdClient) -> Self {
        Deps {
            unit,
            host,
            lxd,
            github_timeout: github::REQUEST_TIMEOUT,
            github_retry: RetryPolicy::default(),
            online_grace: ONLINE_GRACE,
        }
    }
}

impl Deps {
    /// Removes every instance of this unit's runners, leaving GitHub alone (for a unit going
    /// away whose config no longer gives a GitHub client); returns how many went.
    pub async fn remove_instances(&self) -> Result<usize, ManagerError> {
        Ok(runner::remove_instances(&self.lxd, |name| self.unit.owns(name)).await?)
    }

    /// The names of this unit's runner instances.
    pub async fn runner_instances(&self) -> Result<Vec<String>, ManagerError> {
        let instances = self.lxd.instances().await?;
        Ok(instances
            .into_iter()
            .map(|i| i.name)
            .filter(|n| self.unit.owns(n))
            .collect())
    }

    /// The names of this application's LXD objects here ([`crate::lxd_setup::names_for`]).
    pub async fn names(&self) -> Result<crate::lxd_setup::Names, LxdError> {
        crate::lxd_setup::names_for(&self.lxd, &self.unit).await
    }

    /// Removes the unit's LXD setup where nothing uses it any more ([`crate::lxd_setup::tear_down`]),
    /// its resource profile being the one `config` gives (when it parses).
    pub async fn tear_down(&self, config: Option<&crate::config::CharmConfig>) -> Vec<String> {
        let names = match self.names().await {
            Ok(names) => names,
            Err(e) => {
                tracing::warn!("keeping the unit's LXD objects: {e}");
                return Vec::new();
            }
        };
        let resource_profile = config.map(|c| names.resource_profile(c));
        crate::lxd_setup::tear_down(&self.lxd, &self.host, resource_profile.as_deref(), &names).await
    }
}

/// What a manager leaves for the charm to keep.
#[derive(Debug, Default)]
pub struct Saved {
    pub etags: EtagCache,
    pub stats: CallStats,
}

/// The outcome of a reconcile.
#[derive(Debug, Default)]
pub struct Reconciled {
    /// Healthy runners the reconcile aimed at.
    pub target: usize,
    /// Why, for an elastic pool.
    pub demand: Option<plan::Demand>,
    /// `target − healthy` before acting, as the original returned.
    pub delta: i64,
    pub report: Report,
    /// Healthy runners after acting (the plan's count of what stays, plus creations).
    pub healthy: usize,
    /// The runners as the reconcile found them, before it acted.
    pub seen: plan::Counts,
    /// Every runner name of the unit it saw (an earlier path's or token's too), and those
    /// GitHub said were busy.
    pub names: std::collections::BTreeSet<String>,
    pub busy: std::collections::BTreeSet<String>,
    /// Those GitHub showed online (busy or idle).
    pub online: std::collections::BTreeSet<String>,
}

/// The GitHub scope a config names.
pub fn scope(path: &GithubPath, group: Option<&str>) -> Scope {
    match path {
        GithubPath::Org(org) => Scope::Org {
            org: org.clone(),
            group: group.unwrap_or("default").to_string(),
        },
        GithubPath::Repo { owner, repo } => Scope::Repo {
            owner: owner.clone(),
            repo: repo.clone(),
        },
    }
}

/// Which of the unit's runners a manager works on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RunnerFilter {
    #[default]
    All,
    /// Only these (the runners of an earlier path or token).
    Only(std::collections::BTreeSet<String>),
    /// All but these (they belong to an earlier path or token, and do not count).
    Except(std::collections::BTreeSet<String>),
}

impl RunnerFilter {
    fn includes(&self, name: &str) -> bool {
        match self {
            RunnerFilter::All => true,
            RunnerFilter::Only(names) => names.contains(name),
            RunnerFilter::Except(names) => !names.contains(name),
        }
    }
}

/// The runners of one unit, for one config.
pub struct RunnerManager {
    /// Which runners of the unit this manager sees.
    runners: RunnerFilter,
    deps: Deps,
    github: GithubClient,
    config: CharmConfig,
    cache: RunnerBinaryCache,
    /// The cached tarball, read once (`None` until read).
    tarball: Mutex<Option<Option<VerifiedTarball>>>,
    http: reqwest::Client,
    /// What new runners start from.
    image: RunnerImage,
}

impl RunnerManager {
    /// A manager of the runners `made_with` registered (the current path and token, or an
    /// earlier one's), with the rest of `config` and the ETag cache the state kept.
    pub fn new(
        deps: &Deps,
        config: &CharmConfig,
        made_with: &Generation,
        etags: EtagCache,
    ) -> Result<Self, ManagerError> {
        let mut client = ClientConfig::new(
            &config.github_url,
            made_with.token.clone(),
            scope(&made_with.path, config.group.as_deref()),
        )?;
        client.request_timeout = deps.github_timeout;
        client.retry = deps.github_retry.clone();
        client.proxy = config.proxy.clone();
        let http = github::http_client(
            reqwest::Client::builder().read_timeout(Duration::from_secs(60)),
            &client.proxy,
            client.connect_timeout,
        )?;
        let github = GithubClient::new(client)?.with_etag_cache(etags);
        Ok(RunnerManager {
            runners: RunnerFilter::All,
            cache: RunnerBinaryCache::new(&deps.host),
            deps: deps.clone(),
            github,
            config: config.clone(),
            tarball: Mutex::new(None),
            http,
            image: RunnerImage::Base,
        })
    }

    /// This manager, working on `runners` of the unit only.
    pub fn on(self, runners: RunnerFilter) -> Self {
        RunnerManager { runners, ..self }
    }

    /// This manager, making new runners from `image`.
    pub fn from_image(self, image: RunnerImage) -> Self {
        RunnerManager { image, ..self }
    }

    /// The unit's runners this manager sees, from both sides.
    async fn observe(&self) -> Result<Vec<plan::Observed>, ManagerError> {
        Ok(self.only_mine(self.observe_all().await?))
    }

    /// Every runner of the unit, those of an earlier path or token included.
    async fn observe_all(&self) -> Result<Vec<plan::Observed>, ManagerError> {
        let lifetimes = plan::Lifetimes {
            online_grace_secs: self.deps.online_grace.as_secs(),
            max_age_secs: u64::from(self.config.runner_max_age) * 3600,
        };
        observe::observe(&self.deps.lxd, &self.github, &self.deps.unit, &lifetimes).await
    }

    /// The runners of `snapshot` this manager works on ([`RunnerFilter`]).
    fn only_mine(&self, snapshot: Vec<plan::Observed>) -> Vec<plan::Observed> {
        snapshot
            .into_iter()
            .filter(|r| self.runners.includes(&r.name))
            .collect()
    }

    /// The GitHub calls made so far.
    pub fn stats(&self) -> CallStats {
        self.github.stats()
    }

    /// What the charm must keep: the ETags GitHub's answers came with, and the calls made.
    pub fn finish(self) -> Saved {
        Saved {
            etags: self.github.etag_cache(),
            stats: self.github.stats(),
        }
    }

    /// Runs the plan+act loop once: brings the unit to the healthy runners `sizing` wants.
    pub async fn reconcile(&self, sizing: plan::Sizing) -> Result<Reconciled, ManagerError> {
        let lxd = &self.deps.lxd;
        let all = self.observe_all().await?;
        // Jobs are seen done on every runner of the unit, whichever token made it.
        let names = all.iter().map(|r| r.name.clone()).collect();
        let busy = all.iter().filter(|r| r.busy()).map(|r| r.name.clone()).collect();
        let online = all
            .iter()
            .filter(|r| r.github.is_some_and(|g| g.online))
            .map(|r| r.name.clone())
            .collect();
        let all_instances = all.iter().filter(|r| r.local.is_some()).count();
        let snapshot = self.only_mine(all);
        let sizing = match sizing {
            plan::Sizing::Elastic(e) => plan::Sizing::Elastic(plan::Elastic {
                held: all_instances - snapshot.iter().filter(|r| r.local.is_some()).count(),
                ..e
            }),
            fixed => fixed,
        };
        let mut plan = plan::reconcile(&snapshot, sizing);
        tracing::info!(
            "reconcile: target {}{}, healthy {}, seen {}; removing {}, creating {}",
            plan.target,
            plan.demand.map(|d| format!(" ({})", d.why())).unwrap_or_default(),
            plan.target as i64 - plan.delta,
            snapshot.len(),
            plan.remove.len(),
            plan.create
        );
        let mut report = act::remove(lxd, &self.github, &plan.remove).await;
        if let plan::Sizing::Elastic(_) = sizing {
            // A runner that could not go (it took a job meanwhile, or LXD refused) still holds
            // its instance: no replacement past the ceiling.
            plan.create = plan.create.saturating_sub(report.failed_removals.len());
        }
        if plan.needs_binary() {
            if self.image == RunnerImage::NotYet {
                return Err(ManagerError::NoRunnerImage);
            }
            let tarball = self.cached_tarball().ok_or(ManagerError::MissingBinary)?;
            let settings = self.settings().await?;
            let env = RunnerEnv {
                lxd,
                github: &self.github,
                tarball: &tarball,
                settings: &settings,
            };
            report.merge(act::create(&env, &plan, &self.deps.unit.runner_prefix()).await);
        }
        Ok(Reconciled {
            target: plan.target,
            demand: plan.demand,
            seen: plan::Counts::of(&snapshot),
            names,
            busy,
            online,
            delta: plan.delta,
            healthy: plan.healthy_after(&report.removed, report.created.len()),
            report,
        })
    }

    /// Removes this unit's runners (which, [`Flush`] says) and its orphan registrations.
    /// Returns what was removed and what failed.
    pub async fn flush(&self, which: Flush) -> Result<Report, ManagerError> {
        let lxd = &self.deps.lxd;
        let snapshot = self.observe().await?;
        let plan = plan::flush(&snapshot, which);
        tracing::info!("flush ({which:?}): removing {} runners", plan.remove.len());
        Ok(act::remove(lxd, &self.github, &plan.remove).await)
    }

    /// This unit's runners as GitHub lists them.
    pub async fn github_runners(&self) -> Result<Vec<Runner>, ManagerError> {
        observe::registrations(&self.github, &self.deps.unit).await
    }

    /// The cached runner tarball, if there is one (read from disk once per manager).
    pub fn cached_tarball(&self) -> Option<VerifiedTarball> {
        let mut cached = self.tarball.lock().expect("tarball lock poisoned");
        cached.get_or_insert_with(|| self.cache.current()).clone()
    }

    /// Makes GitHub's latest build for this host the cached one; `true` when that changed
    /// the binary.
    pub async fn update_to_latest_tarball(&self) -> Result<bool, ManagerError> {
        let latest = runner_binary::latest(&self.github).await?;
        if self.cached_tarball().is_some_and(|current| current.is(&latest)) {
            return Ok(false);
        }
        let tarball = self.cache.update(&self.http, &latest).await?;
        tracing::info!("runner binary {} is now cached", tarball.filename());
        *self.tarball.lock().expect("tarball lock poisoned") = Some(Some(tarball));
        Ok(true)
    }
}
