//! `dispatch watch --spec PATH`: the watcher's process. It serves the webhook endpoint when
//! there is one, looks at GitHub every `watch-interval` ([`super::look`]), keeps the job book
//! in `demand.json`, and asks for reconciles ([`super::trigger`]) as [`super::signal`] says.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::book::JobBook;
use super::signal::{after_delivery, Signal};
use super::spec::WatchSpec;
use super::trigger::Trigger;
use super::webhook::{self, Endpoint};
use crate::config::{GithubPath, IdleSchedule};
use crate::github::{ClientConfig, GithubClient, Scope};
use crate::host::Host;
use crate::secret::Secret;

/// The `dispatch` argument that runs the watcher instead of a hook.
pub const COMMAND: &str = "watch";

/// `dispatch watch --spec PATH`: runs until systemd stops it; 2 for a bad command line, 1
/// when it cannot start (systemd starts it again).
pub fn main(args: &[String]) -> std::process::ExitCode {
    use std::process::ExitCode;
    use tracing_subscriber::layer::SubscriberExt;
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(crate::juju::log::StderrLayer));
    let ["--spec", path] = args.iter().map(String::as_str).collect::<Vec<_>>()[..] else {
        eprintln!("error: usage: dispatch {COMMAND} --spec PATH");
        return ExitCode::from(2);
    };
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
pub(super) struct Watcher {
    pub(super) spec: WatchSpec,
    pub(super) github: GithubClient,
    pub(super) schedule: IdleSchedule,
    pub(super) book: Mutex<JobBook>,
    book_file: std::path::PathBuf,
    pub(super) trigger: Arc<Trigger>,
    /// Demand as last seen, by a look or a delivery.
    pub(super) last: Mutex<Option<Signal>>,
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
            runner_prefix: watcher.spec.runner_prefix.clone(),
        });
        let me = watcher.clone();
        let overflow = crate::http_serve::Overflow::Wait;
        let handle = move |request| {
            let (me, endpoint) = (me.clone(), endpoint.clone());
            async move {
                let counted = |taken| me.heard_by_webhook(taken);
                super::http::answer(request, &endpoint, &me.book, &counted).await
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
        reconciler.trigger.run(&host, &service, &before).await;
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

    /// A delivery changed the book: reconcile as [`after_delivery`] says.
    fn heard_by_webhook(&self, taken: bool) {
        let queued = self
            .book
            .lock()
            .expect("book lock poisoned")
            .queued_for(&self.spec.labels);
        let mut last = self.last.lock().expect("signal lock poisoned");
        let repository = self.spec.path.contains('/');
        let (now, reconcile) = after_delivery(*last, queued, taken, repository, self.max());
        *last = now;
        if reconcile {
            self.trigger.ask();
        }
    }

    pub(super) fn max(&self) -> usize {
        usize::try_from(self.spec.max).unwrap_or(usize::MAX)
    }

    pub(super) fn save_book(&self) {
        let book = self.book.lock().expect("book lock poisoned").clone();
        if let Err(e) = book.save(&self.book_file) {
            tracing::warn!("saving the job book {}: {e}", self.book_file.display());
        }
    }
}
