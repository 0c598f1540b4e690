//! `dispatch watch --spec PATH`: the watcher's process. It looks at GitHub every
//! `watch-interval` (the unit's runners, and a repository's queued jobs, all with ETags; an
//! organisation's waiting jobs one by one, also with ETags), serves the webhook endpoint when
//! there is one, keeps the job book in `demand.json`, and asks for reconciles
//! ([`super::trigger`]) as [`super::signal::react`] says. GitHub failing changes nothing: the
//! last look stands, the failure is logged once, and the next look tries again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::book::{JobBook, JobEvent};
use super::signal::{react, Signal};
use super::spec::WatchSpec;
use super::trigger::Trigger;
use super::webhook::{self, Endpoint};
use crate::config::{GithubPath, IdleSchedule};
use crate::github::{ClientConfig, GithubClient, GithubError, Scope};
use crate::host::Host;
use crate::secret::Secret;

/// The `dispatch` argument that runs the watcher instead of a hook.
pub const COMMAND: &str = "watch";
/// A waiting job of an organisation is asked after only once it waited this long: a runner
/// usually takes it sooner, and its `in_progress` delivery says so for free.
const CHECK_AFTER: u64 = 60;
/// Waiting jobs asked after per look, at most.
const CHECKS_PER_LOOK: usize = 50;

/// `dispatch watch --spec PATH`: runs until systemd stops it; 2 for a bad command line, 1
/// when it cannot start (systemd starts it again).
pub fn main(args: &[String]) -> std::process::ExitCode {
    use std::process::ExitCode;
    use tracing_subscriber::layer::SubscriberExt;
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(crate::juju::log::StderrLayer));
    let [flag, path] = args else {
        eprintln!("error: usage: dispatch {COMMAND} --spec PATH");
        return ExitCode::from(2);
    };
    if flag != "--spec" {
        eprintln!("error: usage: dispatch {COMMAND} --spec PATH");
        return ExitCode::from(2);
    }
    let spec = match WatchSpec::load(std::path::Path::new(path)) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(runtime) = crate::runtime() else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(watch(spec, Host::from_env())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the watcher works with.
struct Watcher {
    spec: WatchSpec,
    github: GithubClient,
    schedule: IdleSchedule,
    book: Mutex<JobBook>,
    book_file: std::path::PathBuf,
    trigger: Arc<Trigger>,
    /// Demand as last seen, by a look or a delivery.
    last: Mutex<Option<Signal>>,
}

async fn watch(spec: WatchSpec, host: Host) -> Result<(), String> {
    let watcher = Arc::new(Watcher::new(spec, &host)?);
    if watcher.spec.webhook_port != 0 {
        let port = watcher.spec.webhook_port;
        let listener = tokio::net::TcpListener::bind(("0.0.0.0", port))
            .await
            .map_err(|e| format!("listening on port {port}: {e} (is `webhook-port` taken?)"))?;
        let endpoint = Arc::new(Endpoint {
            secret: Secret::new(watcher.spec.webhook_secret.clone()),
            path: watcher.spec.path.clone(),
            labels: watcher.spec.labels.clone(),
        });
        let me = watcher.clone();
        let overflow = crate::http_serve::Overflow::Wait;
        let handle = move |request| {
            let (me, endpoint) = (me.clone(), endpoint.clone());
            async move {
                let counted = |taken| me.heard_by_webhook(taken);
                webhook::answer(request, &endpoint, &me.book, &counted).await
            }
        };
        let server = crate::http_serve::serve(listener, webhook::MAX_CLIENTS, overflow, "webhook", handle);
        tokio::spawn(server);
        tracing::info!("taking workflow_job webhooks on port {port} (/webhook)");
    }
    let reconciler = watcher.clone();
    tokio::spawn(async move {
        let before = || reconciler.save_book();
        let service = reconciler.spec.reconcile_service.clone();
        reconciler.trigger.run(host.systemd(), &service, &before).await;
    });
    watcher.look_for_ever().await;
    Ok(())
}

impl Watcher {
    fn new(spec: WatchSpec, host: &Host) -> Result<Watcher, String> {
        let path = GithubPath::parse(&spec.path).map_err(|e| format!("path {:?} {e}", spec.path))?;
        let scope: Scope = crate::manager::scope(&path, spec.group.as_deref());
        let url = url::Url::parse(&spec.github_url).map_err(|e| format!("github-url {}: {e}", spec.github_url))?;
        let mut config = ClientConfig::new(&url, Secret::new(spec.token.clone()), scope).map_err(|e| e.to_string())?;
        config.proxy = spec.proxy.clone();
        // The next look is the retry: one try each, never longer than a look's interval.
        config.retry.attempts = 1;
        config.request_timeout = Duration::from_secs(u64::from(spec.interval_secs).clamp(5, 20));
        let github = GithubClient::new(config).map_err(|e| e.to_string())?;
        let schedule = IdleSchedule::parse(&spec.idle_schedule).map_err(|e| format!("idle-schedule: {e}"))?;
        let book_file = JobBook::file(host, &spec.unit);
        let book = Mutex::new(JobBook::load(&book_file, &spec.path));
        Ok(Watcher {
            spec,
            github,
            schedule,
            book,
            book_file,
            trigger: Arc::new(Trigger::default()),
            last: Mutex::new(None),
        })
    }

    /// A delivery changed the book: a runner taking a job may need replacing at once; a job
    /// queued or ended asks for a reconcile only when the target moves with it (a flood of
    /// jobs past the ceiling is one reconcile, not one each).
    fn heard_by_webhook(&self, taken: bool) {
        let queued = self
            .book
            .lock()
            .expect("book lock poisoned")
            .queued_for(&self.spec.labels);
        let mut last = self.last.lock().expect("signal lock poisoned");
        let max = usize::try_from(self.spec.max).unwrap_or(usize::MAX);
        let moved = match *last {
            Some(seen) => {
                let now = Signal { queued, ..seen };
                let moved = now.wanted(max) != seen.wanted(max);
                *last = Some(now);
                moved
            }
            None => true,
        };
        if taken || moved {
            self.trigger.ask();
        }
    }

    fn save_book(&self) {
        let book = self.book.lock().expect("book lock poisoned").clone();
        if let Err(e) = book.save(&self.book_file) {
            tracing::warn!("saving the job book {}: {e}", self.book_file.display());
        }
    }

    async fn look_for_ever(&self) {
        let mut every = tokio::time::interval(Duration::from_secs(u64::from(self.spec.interval_secs)));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        let max = usize::try_from(self.spec.max).unwrap_or(usize::MAX);
        loop {
            every.tick().await;
            match self.look().await {
                Ok((seen, have)) => {
                    if failing {
                        tracing::info!("GitHub answers again");
                        failing = false;
                    }
                    let last = self.last.lock().expect("signal lock poisoned").replace(seen);
                    let reaction = react(last, seen, have, max);
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
                // The last look stands: nothing is made or removed on a failure.
                Err(e) if !failing => {
                    tracing::warn!("looking at GitHub: {e}; demand stays as last seen, retrying every look");
                    failing = true;
                }
                Err(_) => {}
            }
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
                for job in &jobs.started {
                    book.hear(&started(job, &self.spec.path), now);
                }
                jobs.queued
                    .iter()
                    .filter(|j| crate::github::serves(&self.spec.labels, &j.labels))
                    .count()
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

    /// Asks GitHub after an organisation's jobs that have waited a while (a missed
    /// `in_progress` or `completed` delivery would keep them waiting here for ever).
    async fn check_waiting(&self, now: u64) {
        let due: Vec<(u64, String)> = {
            let book = self.book.lock().expect("book lock poisoned");
            book.pending()
                .filter(|(_, p)| now.saturating_sub(p.heard) >= CHECK_AFTER)
                .map(|(id, p)| (id, p.repo.clone()))
                .take(CHECKS_PER_LOOK)
                .collect()
        };
        for (id, repo) in due {
            let Some((owner, name)) = repo.split_once('/') else {
                continue;
            };
            let status = match self.github.job(owner, name, id).await {
                Ok(Some(job)) => JobEvent {
                    id,
                    status: job.status,
                    labels: Vec::new(),
                    repo: repo.clone(),
                    created_at: job.created_at,
                    started_at: job.started_at,
                },
                Ok(None) => gone(id, &repo),
                Err(e) => {
                    tracing::debug!("job {id} of {repo}: {e}");
                    continue;
                }
            };
            self.book.lock().expect("book lock poisoned").hear(&status, now);
        }
    }
}

/// A job the runs API shows taken.
fn started(job: &crate::github::StartedJob, path: &str) -> JobEvent {
    JobEvent {
        id: job.id,
        status: "in_progress".into(),
        labels: job.labels.clone(),
        repo: path.to_string(),
        created_at: job.created_at.clone(),
        started_at: job.started_at.clone(),
    }
}

/// A job GitHub no longer has.
fn gone(id: u64, repo: &str) -> JobEvent {
    JobEvent {
        id,
        status: "completed".into(),
        labels: Vec::new(),
        repo: repo.to_string(),
        created_at: None,
        started_at: None,
    }
}
