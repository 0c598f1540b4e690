//! The runner manager: keeps exactly `virtual-machines` healthy runners for the configured
//! path, replaces used and broken ones, never kills a busy job (outside a flush that asks
//! to), and keeps the runner binary current.
//!
//! Built as observe (LXD + GitHub, [`observe`]) → plan (pure, [`plan`]) → act (concurrent,
//! [`act`]). The unit's LXD setup lives in [`setup`]. This is where `lxd`, `host` and `github`
//! meet; they never import each other.
//!
//! The surface is the original's `RunnerManager`: `reconcile(quantity) -> delta`,
//! `flush(flush_busy) -> removed`, `get_github_info()`, `check_runner_bin()`,
//! `get_latest_runner_bin_url()`, `update_runner_bin(..)`.

pub mod act;
pub mod observe;
pub mod plan;
pub mod setup;

use std::time::Duration;

use crate::config::{CharmConfig, GithubPath};
use crate::github::{self, ClientConfig, EtagCache, GithubClient, GithubError, Runner, RunnerApplication, Scope};
use crate::host::Host;
use crate::lxd::{InstanceType, LxdClient, LxdError};
use crate::runner::{self, Registration, RunnerEnv, RunnerSettings};
use crate::runner_binary::{self, BinaryError, RunnerBinaryCache, VerifiedTarball};

pub use act::Report;

#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    #[error("{0}")]
    Github(#[from] GithubError),
    #[error("{0}")]
    Lxd(#[from] LxdError),
    #[error("{0}")]
    Binary(#[from] BinaryError),
    #[error("no runner binary yet (it is downloaded from GitHub first); automatic retry will be attempted")]
    MissingBinary,
}

/// The outcome of a reconcile.
#[derive(Debug, Default)]
pub struct Reconciled {
    /// `target − healthy` before acting, as the original returned.
    pub delta: i64,
    pub report: Report,
    /// Healthy runners after acting (those that were healthy, minus removals, plus creations).
    pub healthy: usize,
}

/// `<app>-<unit>-` for unit `<app>/<unit>`: every runner name of the unit starts with it.
pub fn runner_prefix(unit: &str) -> String {
    format!("{}-", unit.replace('/', "-"))
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

/// The runners of one unit.
pub struct RunnerManager {
    lxd: LxdClient,
    github: GithubClient,
    config: CharmConfig,
    /// The application's name, a label on every runner.
    app: String,
    /// `<app>-<unit>-`: every runner name of this unit starts with it.
    prefix: String,
    cache: RunnerBinaryCache,
    http: reqwest::Client,
}

impl RunnerManager {
    /// A manager for `unit` (e.g. `github-runner/0`) with the GitHub token and path of
    /// `config` (a caller flushing an old path passes a config carrying the old values).
    pub fn new(
        config: &CharmConfig,
        unit: &str,
        host: &Host,
        lxd: LxdClient,
        etags: EtagCache,
    ) -> Result<Self, ManagerError> {
        let mut client = ClientConfig::new(
            &config.github_url,
            config.token.clone(),
            scope(&config.path, config.group.as_deref()),
        )?;
        client.proxy = github::Proxy {
            http: config.proxy.http.clone(),
            https: config.proxy.https.clone(),
            no_proxy: config.proxy.no_proxy.clone(),
        };
        let http = github::http_client(
            reqwest::Client::builder().read_timeout(Duration::from_secs(60)),
            &client.proxy,
            client.connect_timeout,
        )?;
        let github = GithubClient::new(client)?.with_etag_cache(etags);
        Ok(RunnerManager {
            lxd,
            github,
            config: config.clone(),
            app: unit.split('/').next().unwrap_or(unit).to_string(),
            prefix: runner_prefix(unit),
            cache: RunnerBinaryCache::new(host),
            http,
        })
    }

    pub fn github(&self) -> &GithubClient {
        &self.github
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Runs the plan+act loop once: brings the unit to `quantity` healthy runners.
    pub async fn reconcile(&self, quantity: usize) -> Result<Reconciled, ManagerError> {
        let snapshot = observe::observe(&self.lxd, &self.github, &self.prefix).await?;
        let plan = plan::reconcile(&snapshot, quantity);
        let healthy_before = snapshot.iter().filter(|r| r.healthy()).count();
        tracing::info!(
            "reconcile: target {quantity}, healthy {healthy_before}, seen {}; removing {}, creating {}",
            snapshot.len(),
            plan.remove.len(),
            plan.create
        );
        let mut report = act::remove(&self.lxd, &self.github, &plan.remove).await;
        if plan.create > 0 {
            let tarball = self.check_runner_bin().ok_or(ManagerError::MissingBinary)?;
            let settings = self.settings().await?;
            let env = RunnerEnv {
                lxd: &self.lxd,
                github: &self.github,
                tarball: &tarball,
                settings: &settings,
            };
            report.merge(act::create(&env, &plan, &self.prefix).await);
        }
        let healthy_removed = report
            .removed
            .iter()
            .filter(|r| snapshot.iter().any(|s| s.name == r.name && s.healthy()))
            .count();
        let healthy = healthy_before - healthy_removed + report.created.len();
        Ok(Reconciled {
            delta: plan.delta,
            report,
            healthy,
        })
    }

    /// Removes this unit's runners (busy ones too with `flush_busy`) and its orphan
    /// registrations. Returns what was removed and what failed.
    pub async fn flush(&self, flush_busy: bool) -> Result<Report, ManagerError> {
        let snapshot = observe::observe(&self.lxd, &self.github, &self.prefix).await?;
        let plan = plan::flush(&snapshot, flush_busy);
        tracing::info!("flush (busy too: {flush_busy}): removing {} runners", plan.remove.len());
        Ok(act::remove(&self.lxd, &self.github, &plan.remove).await)
    }

    /// This unit's runners as GitHub lists them.
    pub async fn get_github_info(&self) -> Result<Vec<Runner>, ManagerError> {
        Ok(self.github.list_runners_with_prefix(&self.prefix).await?)
    }

    /// The cached runner binary, if there is one.
    pub fn check_runner_bin(&self) -> Option<VerifiedTarball> {
        self.cache.current()
    }

    /// The build GitHub offers this host now.
    pub async fn get_latest_runner_bin_url(&self) -> Result<RunnerApplication, ManagerError> {
        Ok(runner_binary::latest(&self.github).await?)
    }

    /// Downloads and verifies `app` unless it is the cached build.
    pub async fn update_runner_bin(&self, app: &RunnerApplication) -> Result<VerifiedTarball, ManagerError> {
        Ok(self.cache.update(&self.http, app).await?)
    }

    /// Makes the latest build the cached one; `true` when that changed the binary.
    pub async fn ensure_latest_runner_bin(&self) -> Result<bool, ManagerError> {
        let latest = self.get_latest_runner_bin_url().await?;
        if self.check_runner_bin().is_some_and(|current| current.is(&latest)) {
            return Ok(false);
        }
        let tarball = self.update_runner_bin(&latest).await?;
        tracing::info!("runner binary {} is now cached", tarball.filename());
        Ok(true)
    }

    /// What every new runner gets; asks GitHub for the group id and LXD for the image.
    async fn settings(&self) -> Result<RunnerSettings, ManagerError> {
        let config = &self.config;
        let arch = runner_binary::host_arch()?;
        let mut environment = Vec::new();
        for (key, value) in [
            ("HTTP_PROXY", &config.proxy.http),
            ("HTTPS_PROXY", &config.proxy.https),
            ("NO_PROXY", &config.proxy.no_proxy),
        ] {
            if let Some(value) = value {
                environment.push((key.to_string(), value.clone()));
                environment.push((key.to_lowercase(), value.clone()));
            }
        }
        Ok(RunnerSettings {
            kind: if config.insecure {
                InstanceType::Container
            } else {
                InstanceType::VirtualMachine
            },
            source: runner::resolve_source(&self.lxd, &config.base_image).await?,
            profiles: vec![
                "default".into(),
                setup::RUNNER_PROFILE.into(),
                config.resource_profile(),
            ],
            url: self.github.scope().registration_url(&config.github_url),
            labels: vec![
                "self-hosted".into(),
                "linux".into(),
                arch.into(),
                self.app.clone(),
                config.base_image.clone(),
            ],
            group: config.group.clone(),
            group_id: self.github.runner_group_id().await?,
            registration: Registration::Jit,
            environment,
            dockerhub_mirror: config
                .dockerhub_mirror
                .as_ref()
                .map(|u| u.as_str().trim_end_matches('/').to_string()),
            ready_timeout: if config.insecure {
                Duration::from_secs(120)
            } else {
                Duration::from_secs(600)
            },
        })
    }
}
