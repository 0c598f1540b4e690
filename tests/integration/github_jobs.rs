//! The client's queued jobs against fake-github's repository over real HTTP: queued and
//! running runs' queued jobs, each once; free 304s when nothing changed; the cached pages of
//! ended runs forgotten; every request as GitHub's OpenAPI description has it.

use std::time::Duration;

use fake_github::contract::Spec;
use fake_github::{Config, Emulator, NewRunner, ScopeConfig};
use github_runner::github::{api_base, ClientConfig, GithubClient, RetryPolicy, Scope};
use github_runner::secret::Secret;

const TOKEN: &str = "ghp_emulatortoken";

fn client(emulator: &Emulator, scope: Scope) -> GithubClient {
    let github_url = url::Url::parse(&emulator.base_url).expect("url");
    GithubClient::new(ClientConfig {
        api_base: api_base(&github_url).expect("GHES-style base"),
        token: Secret::new(TOKEN),
        scope,
        proxy: Default::default(),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        retry: RetryPolicy::default(),
    })
    .expect("client")
}

#[tokio::test]
async fn queued_jobs_are_counted_once_cost_nothing_unchanged_and_ended_runs_are_forgotten() {
    let scope = ScopeConfig::Repo {
        owner: "acme".into(),
        repo: "app".into(),
    };
    let emulator = Emulator::start(
        Config {
            scope,
            ..Config::default()
        },
        "127.0.0.1:0",
    )
    .await
    .expect("starts");
    let (first, second, runner) = {
        let mut w = emulator.world();
        let now = fake_github::state::rfc3339(w.now());
        let labels = vec!["self-hosted".to_string(), "linux".to_string()];
        let first = w.actions.queue(labels.clone(), now.clone());
        let second = w.actions.queue(labels, now);
        let runner = w.add_runner(NewRunner::named("r-1")).expect("add");
        w.runners.get_mut(&runner).expect("runner").pinned_online = true;
        (first, second, runner)
    };
    let repo = client(
        &emulator,
        Scope::Repo {
            owner: "acme".into(),
            repo: "app".into(),
        },
    );
    let jobs = repo
        .queued_jobs()
        .await
        .expect("listed")
        .expect("a repository has a queue");
    let mut ids: Vec<u64> = jobs.iter().map(|j| j.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, [first, second]);
    assert_eq!(jobs[0].labels, ["self-hosted", "linux"]);

    // Nothing changed: every page a free 304 (2 run lists, 2 jobs pages).
    let used = emulator.world().budgets[TOKEN].used;
    let free = repo.stats().not_modified;
    assert_eq!(repo.queued_jobs().await.expect("listed").expect("queue").len(), 2);
    assert_eq!(repo.stats().not_modified - free, 4);
    assert_eq!(emulator.world().budgets[TOKEN].used, used, "304s cost no rate limit");

    // The runner takes the first job and finishes it: its run ends, its cached page goes.
    let admin = |path: String| {
        let url = format!("{}/_emulator{path}", emulator.base_url);
        async move {
            reqwest::Client::new()
                .post(url)
                .send()
                .await
                .expect("admin")
                .status()
                .as_u16()
        }
    };
    assert_eq!(admin(format!("/runners/{runner}/job")).await, 200);
    assert_eq!(admin(format!("/runners/{runner}/finish")).await, 200);
    let jobs = repo.queued_jobs().await.expect("listed").expect("queue");
    assert_eq!(jobs.iter().map(|j| j.id).collect::<Vec<_>>(), [second]);
    let cache = repo.etag_cache();
    let cached: Vec<&str> = cache.urls().collect();
    assert!(
        !cached.iter().any(|u| u.contains(&format!("/runs/{first}/jobs"))),
        "{cached:?}"
    );
    assert!(
        cached.iter().any(|u| u.contains(&format!("/runs/{second}/jobs"))),
        "{cached:?}"
    );

    let spec = Spec::load();
    for request in emulator.requests() {
        spec.check_request(&request).unwrap_or_else(|e| panic!("{e}"));
    }
    let org = client(
        &emulator,
        Scope::Org {
            org: "acme".into(),
            group: "default".into(),
        },
    );
    assert!(
        org.queued_jobs().await.expect("no call").is_none(),
        "an organisation has no listing"
    );
}
