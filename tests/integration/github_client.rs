//! The GitHub client against fake-github over real HTTP: pagination, errors, retries,
//! rate limits, conditional requests, and every request it sends checked against GitHub's
//! OpenAPI description.

use std::time::Duration;

use fake_github::contract::Spec;
use fake_github::{Config, Emulator, Fault, NewRunner, ScopeConfig};
use github_runner::github::{
    api_base, ClientConfig, Deleted, GithubClient, GithubError, RetryPolicy, RunnerStatus, Scope,
};
use github_runner::secret::Secret;

const TOKEN: &str = "ghp_emulatortoken";

fn org() -> Scope {
    Scope::Org {
        org: "test-org".into(),
        group: "default".into(),
    }
}

fn client_for(emulator: &Emulator, scope: Scope, token: &str) -> GithubClient {
    let github_url = url::Url::parse(&emulator.base_url).expect("url");
    let config = ClientConfig {
        api_base: api_base(&github_url).expect("GHES-style base"),
        token: Secret::new(token),
        scope,
        proxy: Default::default(),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_millis(800),
        retry: RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            secondary_wait: Duration::from_millis(20),
            max_wait: Duration::from_secs(3),
        },
    };
    GithubClient::new(config).expect("client")
}

async fn emulator() -> Emulator {
    Emulator::start(Config::default(), "127.0.0.1:0")
        .await
        .expect("emulator starts")
}

fn seed(emulator: &Emulator, count: usize, prefix: &str) -> Vec<u64> {
    let mut w = emulator.world();
    (0..count)
        .map(|i| w.add_runner(NewRunner::named(format!("{prefix}{i}"))).expect("seeded"))
        .collect()
}

#[tokio::test]
async fn a_thousand_org_runners_over_ten_pages_are_listed_once_each() {
    let emulator = emulator().await;
    seed(&emulator, 1000, "github-runner-0-");
    let client = client_for(&emulator, org(), TOKEN);
    let runners = client.list_runners().await.expect("listed");
    let mut ids: Vec<u64> = runners.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1000);
    assert_eq!(runners.len(), 1000);
    let pages = emulator
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/actions/runners"))
        .count();
    assert_eq!(pages, 10, "per_page=100, following Link");
    assert!(runners.iter().all(|r| r.status == RunnerStatus::Offline));
}

#[tokio::test]
async fn only_this_unit_s_runners_are_kept_by_prefix() {
    let emulator = emulator().await;
    seed(&emulator, 3, "github-runner-0-");
    seed(&emulator, 2, "github-runner-1-");
    let client = client_for(&emulator, org(), TOKEN);
    let mine = client
        .list_runners_with_prefix("github-runner-1-")
        .await
        .expect("listed");
    assert_eq!(mine.len(), 2);
}

#[tokio::test]
async fn a_bad_token_is_token_rejected() {
    let emulator = emulator().await;
    let err = client_for(&emulator, org(), "ghp_wrong")
        .list_runners()
        .await
        .expect_err("401");
    assert!(matches!(err, GithubError::TokenRejected { .. }), "{err:?}");
    assert!(err.to_string().contains("config `token`"), "{err}");
}

#[tokio::test]
async fn a_path_the_token_cannot_see_is_no_access() {
    let emulator = emulator().await;
    let scope = Scope::Org {
        org: "someone-else".into(),
        group: "default".into(),
    };
    let err = client_for(&emulator, scope, TOKEN)
        .list_runners()
        .await
        .expect_err("404");
    assert!(matches!(err, GithubError::NoAccess { status: 404, .. }), "{err:?}");
    assert!(err.to_string().contains("no access to someone-else"), "{err}");
}

#[tokio::test]
async fn deleting_a_busy_runner_is_runner_busy_and_a_gone_one_is_fine() {
    let emulator = emulator().await;
    let ids = seed(&emulator, 2, "r-");
    emulator.world().runners.get_mut(&ids[0]).expect("runner").busy = true;
    let client = client_for(&emulator, org(), TOKEN);
    let err = client.delete_runner(ids[0]).await.expect_err("busy");
    assert!(
        matches!(err, GithubError::RunnerBusy { id, .. } if id == ids[0]),
        "{err:?}"
    );
    assert_eq!(client.delete_runner(ids[1]).await.expect("deleted"), Deleted::Removed);
    assert_eq!(
        client.delete_runner(ids[1]).await.expect("idempotent"),
        Deleted::AlreadyGone
    );
    assert!(client.get_runner(ids[1]).await.expect("asked").is_none());
}

#[tokio::test]
async fn a_server_error_is_retried_until_it_succeeds() {
    let emulator = emulator().await;
    emulator
        .world()
        .faults
        .push(Fault::on("GET", "/actions/runners").times(2).status(502));
    let client = client_for(&emulator, org(), TOKEN);
    client.list_runners().await.expect("third try succeeds");
    assert_eq!(client.stats().retries, 2);
}

#[tokio::test]
async fn a_server_error_that_lasts_is_reported_with_its_tries() {
    let emulator = emulator().await;
    emulator
        .world()
        .faults
        .push(Fault::on("GET", "/actions/runners").times(10).status(500));
    let err = client_for(&emulator, org(), TOKEN)
        .list_runners()
        .await
        .expect_err("500");
    assert!(
        matches!(
            err,
            GithubError::Server {
                status: 500,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_secondary_rate_limit_waits_for_retry_after_then_succeeds() {
    let emulator = emulator().await;
    let limit = Fault::on("POST", "registration-token")
        .status(429)
        .kind("secondary")
        .retry_after(1);
    emulator.world().faults.push(limit);
    let client = client_for(&emulator, org(), TOKEN);
    let started = std::time::Instant::now();
    client.registration_token().await.expect("second try succeeds");
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was honoured");
}

#[tokio::test]
async fn a_secondary_limit_longer_than_the_client_waits_is_reported() {
    let emulator = emulator().await;
    let limit = Fault::on("GET", "").status(403).kind("secondary").retry_after(600);
    emulator.world().faults.push(limit);
    let err = client_for(&emulator, org(), TOKEN)
        .list_runners()
        .await
        .expect_err("limited");
    assert!(
        matches!(err, GithubError::SecondaryRateLimited { retry_after, .. } if retry_after == Duration::from_secs(600)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_used_up_primary_limit_is_not_retried_and_says_when_it_resets() {
    let emulator = emulator().await;
    emulator.world().config.rate_limit = 1;
    let client = client_for(&emulator, org(), TOKEN);
    client.list_runners().await.expect("the one allowed request");
    let err = client.list_runners().await.expect_err("limit used up");
    let GithubError::RateLimited { reset, .. } = err else {
        panic!("{err:?}")
    };
    assert!(reset > 0);
    assert_eq!(client.stats().requests, 2, "no retry storm");
    assert_eq!(client.stats().rate_limit.remaining, Some(0));
}

#[tokio::test]
async fn an_injected_primary_limit_429_is_rate_limited_too() {
    let emulator = emulator().await;
    emulator
        .world()
        .faults
        .push(Fault::on("GET", "").status(429).kind("primary"));
    let err = client_for(&emulator, org(), TOKEN)
        .list_runners()
        .await
        .expect_err("limited");
    assert!(matches!(err, GithubError::RateLimited { .. }), "{err:?}");
}

#[tokio::test]
async fn a_request_that_times_out_is_retried_then_reported() {
    let emulator = emulator().await;
    emulator
        .world()
        .faults
        .push(Fault::on("GET", "/actions/runners").delay(Duration::from_secs(2)));
    let client = client_for(&emulator, org(), TOKEN);
    client.list_runners().await.expect("the retry is fast");
    emulator.world().faults.push(
        Fault::on("GET", "/actions/runners")
            .times(5)
            .delay(Duration::from_secs(2)),
    );
    let err = client.list_runners().await.expect_err("every try times out");
    assert!(matches!(err, GithubError::Timeout { attempts: 3, .. }), "{err:?}");
}

#[tokio::test]
async fn a_repeated_list_is_a_free_304() {
    let emulator = emulator().await;
    seed(&emulator, 150, "r-");
    let client = client_for(&emulator, org(), TOKEN);
    let first = client.list_runners().await.expect("listed");
    let used = emulator.world().budgets[TOKEN].used;
    let second = client.list_runners().await.expect("listed again");
    assert_eq!(first, second);
    assert_eq!(emulator.world().budgets[TOKEN].used, used, "304s cost no rate limit");
    assert_eq!(client.stats().not_modified, 2, "both pages unchanged");
    // The cache survives a new process through the charm's state.
    let cache = client.etag_cache();
    let next = client_for(&emulator, org(), TOKEN).with_etag_cache(cache);
    assert_eq!(next.list_runners().await.expect("listed").len(), 150);
    assert_eq!(emulator.world().budgets[TOKEN].used, used);
}

#[tokio::test]
async fn a_changed_list_is_fetched_again() {
    let emulator = emulator().await;
    seed(&emulator, 2, "r-");
    let client = client_for(&emulator, org(), TOKEN);
    client.list_runners().await.expect("listed");
    seed(&emulator, 1, "s-");
    assert_eq!(client.list_runners().await.expect("listed").len(), 3);
}

#[tokio::test]
async fn jit_configs_register_offline_runners_and_a_taken_name_is_a_conflict() {
    let emulator = emulator().await;
    let client = client_for(&emulator, org(), TOKEN);
    let group = client.runner_group_id().await.expect("default group");
    assert_eq!(group, 1, "`default` matches GitHub's `Default`");
    let labels = vec!["self-hosted".to_string(), "jammy".to_string()];
    let jit = client
        .generate_jit_config("github-runner-0-aa", &labels, group)
        .await
        .expect("created");
    assert_eq!(jit.runner.status, RunnerStatus::Offline);
    assert!(!jit.encoded_jit_config.expose().is_empty());
    assert!(
        !format!("{jit:?}").contains(jit.encoded_jit_config.expose()),
        "the blob never prints"
    );
    let err = client
        .generate_jit_config("github-runner-0-aa", &labels, group)
        .await
        .expect_err("taken");
    assert!(matches!(err, GithubError::Conflict { .. }), "{err:?}");
}

#[tokio::test]
async fn a_server_without_jit_configs_says_so() {
    let emulator = emulator().await;
    let client = client_for(&emulator, org(), TOKEN);
    // An older GitHub Enterprise Server: no such endpoint.
    let fault = Fault::on("POST", "generate-jitconfig").status(404);
    emulator.world().faults.push(fault);
    let err = client
        .generate_jit_config("github-runner-0-ab", &["self-hosted".to_string()], 1)
        .await
        .expect_err("no JIT here");
    assert!(matches!(err, GithubError::JitUnsupported { .. }), "{err:?}");
    assert!(err.to_string().contains("older GitHub Enterprise Server"), "{err}");
}

#[tokio::test]
async fn an_unknown_runner_group_names_the_groups_there_are() {
    let emulator = emulator().await;
    let scope = Scope::Org {
        org: "test-org".into(),
        group: "gpu".into(),
    };
    let err = client_for(&emulator, scope, TOKEN)
        .runner_group_id()
        .await
        .expect_err("no such group");
    assert!(
        err.to_string()
            .contains("no runner group \"gpu\" (groups: Default, ci)"),
        "{err}"
    );
}

#[tokio::test]
async fn repository_scope_uses_group_1_and_its_own_routes() {
    let config = Config {
        scope: ScopeConfig::Repo {
            owner: "acme".into(),
            repo: "app".into(),
        },
        ..Config::default()
    };
    let emulator = Emulator::start(config, "127.0.0.1:0").await.expect("starts");
    let client = client_for(
        &emulator,
        Scope::Repo {
            owner: "acme".into(),
            repo: "app".into(),
        },
        TOKEN,
    );
    assert_eq!(client.runner_group_id().await.expect("repo group"), 1);
    let token = client.registration_token().await.expect("token");
    assert_eq!(token.token.expose().len(), 29);
    assert!(token.expires_at.ends_with("+00:00"), "{}", token.expires_at);
    client.remove_token().await.expect("remove token");
    assert!(emulator
        .requests()
        .iter()
        .all(|r| r.path.starts_with("/api/v3/repos/acme/app/")));
}

#[tokio::test]
async fn every_request_the_client_sends_is_a_github_operation_with_the_required_headers() {
    let emulator = emulator().await;
    let ids = seed(&emulator, 3, "r-");
    let client = client_for(&emulator, org(), TOKEN);
    client.list_runners().await.expect("list");
    client.get_runner(ids[0]).await.expect("get");
    client.delete_runner(ids[1]).await.expect("delete");
    client.registration_token().await.expect("registration");
    client.remove_token().await.expect("remove");
    client.runner_downloads().await.expect("downloads");
    let group = client.runner_group_id().await.expect("groups");
    client
        .generate_jit_config("jit-x", &["self-hosted".into()], group)
        .await
        .expect("jit");
    let spec = Spec::load();
    let requests = emulator.requests();
    assert_eq!(requests.len(), 8);
    for request in &requests {
        spec.check_request(request).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(request.headers["accept"], "application/vnd.github+json");
        assert_eq!(request.headers["x-github-api-version"], "2022-11-28");
        assert_eq!(request.headers["authorization"], "Bearer");
        assert!(request.headers["user-agent"].starts_with("github-runner-charm/"));
    }
}

#[tokio::test]
async fn the_model_proxy_carries_every_request_unless_no_proxy_says_otherwise() {
    let emulator = emulator().await;
    let proxied = |no_proxy: Option<&str>| {
        let mut config = ClientConfig::new(
            &url::Url::parse("http://github.invalid").expect("url"),
            Secret::new(TOKEN),
            org(),
        )
        .expect("config");
        config.proxy = github_runner::github::Proxy {
            http: Some(emulator.base_url.clone()),
            https: None,
            no_proxy: no_proxy.map(String::from),
        };
        config.retry.attempts = 1;
        GithubClient::new(config).expect("client")
    };
    // github.invalid does not resolve: only the proxy (the emulator) can answer.
    proxied(None).list_runners().await.expect("through the proxy");
    let err = proxied(Some("github.invalid"))
        .list_runners()
        .await
        .expect_err("direct, and unresolvable");
    assert!(matches!(err, GithubError::Transport { .. }), "{err:?}");
}
