//! The elastic pool's watcher on the local stack (real LXD, fake-github on its test host,
//! fake-juju), run from its own unit file as systemd would: demand moving makes a reconcile in
//! seconds with no timer tick; signed `workflow_job` webhooks scale an organisation; bad,
//! replayed, oversized and unservable deliveries change nothing; GitHub down, a flood and the
//! watcher's death neither crash it, nor stop the pool.

use std::time::Duration;

use fake_github::Fault;
use serde_json::{json, Value};

use crate::common::stack::{blocking, Stack};
use crate::common::{self, eventually, Service};

const WATCHER: &str = "ghro.watcher.service";
const SECRET: &str = "webhook-secret-0123456789abcdef";

fn status(s: &Stack) -> String {
    blocking(|| s.juju.unit_status()).1
}

async fn take_job(s: &Stack, name: &str) {
    let id = s.id_of(name);
    assert_eq!(s.admin(&format!("/runners/{id}/job")).await, 200);
}

async fn post(s: &Stack, path: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}/_emulator{path}", s.emulator.base_url))
        .json(&body)
        .send()
        .await
        .expect("admin API");
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().await.unwrap_or(Value::Null)
}

/// A free TCP port of this machine.
fn free_port() -> u16 {
    std::net::TcpListener::bind("0.0.0.0:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Sets the webhook endpoint up on a free port with a Juju secret; its port.
fn with_webhook(s: &Stack) -> u16 {
    let uri = s.juju(&["add-secret", "github-webhook", &format!("secret={SECRET}")]);
    s.juju(&["grant-secret", "github-webhook", "github-runner"]);
    let port = free_port();
    s.juju(&[
        "config",
        "github-runner",
        &format!("webhook-port={port}"),
        &format!("webhook-secret-id={}", uri.trim()),
    ]);
    port
}

/// fake-github delivers its jobs' webhooks to the watcher, as a repository's or an
/// organisation's webhook would (from its test host, to this machine's side of the link).
async fn hook_up(s: &Stack, port: u16) {
    let url = format!("http://10.152.0.1:{port}/webhook");
    post(s, "/webhooks", json!({"url": url, "secret": SECRET})).await;
}

async fn deliveries(s: &Stack) -> Vec<Value> {
    let text = reqwest::get(format!("{}/_emulator/webhooks", s.emulator.base_url))
        .await
        .expect("admin API")
        .text()
        .await
        .expect("body");
    serde_json::from_str::<Vec<Value>>(&text).expect("JSON")
}

/// Reconciles the watcher started (fake-juju logs every `systemctl` call).
fn reconciles_started(s: &Stack) -> usize {
    s.juju
        .calls()
        .iter()
        .filter(|(tool, args)| tool == "systemctl" && args.iter().any(|a| a == "ghro.reconcile-runners.service"))
        .filter(|(_, args)| args.first().is_some_and(|a| a == "start"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_and_queued_demand_is_met_without_a_timer_tick_and_idle_runners_above_it_go_after_their_wait() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let extra = ["max-virtual-machines=4", "watch-interval=5", "idle-wait=1"];
    let s = Stack::deploy_repo(lxd, 1, &extra).await;
    s.settle(1).await;
    let watcher = Service::start(&s.juju, WATCHER);

    // A job takes the only idle runner: a new idle one within a look and a creation.
    let busy = s.instances().await.into_iter().next().expect("a runner");
    take_job(&s, &busy).await;
    eventually(
        "a new idle runner beside the busy one",
        Duration::from_secs(60),
        async || s.online().len() == 2 && status(&s) == "2/2 runners (1 busy, floor 1)",
    )
    .await;

    // Three queued jobs: 1 busy + 3 for the queue = 4, never 5.
    let queued = post(&s, "/jobs", json!({"labels": ["self-hosted", "linux"], "count": 3})).await;
    eventually("a runner for each queued job", Duration::from_secs(60), async || {
        s.online().len() == 4 && status(&s).starts_with("4/4 runners (1 busy, floor 1, 3 queued)")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(
        s.instances().await.len(),
        4,
        "never past the queue: {}",
        watcher.output()
    );

    // The queued jobs are cancelled: the idle runners above the floor wait their minute, then
    // go at the reconcile the watcher asks for then; the busy runner stays.
    for id in queued["ids"].as_array().expect("ids") {
        post(&s, &format!("/jobs/{id}/cancel"), Value::Null).await;
    }
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(
        s.instances().await.len(),
        4,
        "idle-wait=1: kept a minute for the next job"
    );
    eventually("the pool back at busy + floor", Duration::from_secs(90), async || {
        s.instances().await.len() == 2
    })
    .await;
    assert!(
        s.instances().await.contains(&busy),
        "a busy runner never goes to shrink the pool"
    );
    assert_eq!(status(&s), "2/2 runners (1 busy, floor 1)");
    assert!(
        reconciles_started(&s) >= 3,
        "the watcher reconciled: {}",
        watcher.output()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_webhooks_scale_an_organisation_and_bad_or_replayed_deliveries_change_nothing() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let extra = ["max-virtual-machines=4", "watch-interval=30"];
    let s = Stack::deploy_with(lxd, 1, &extra, |_| {}).await;
    let port = with_webhook(&s);
    s.settle(1).await;
    let watcher = Service::start(&s.juju, WATCHER);
    let endpoint = format!("http://127.0.0.1:{port}/webhook");
    eventually("the endpoint listens", Duration::from_secs(10), async || {
        reqwest::get(&endpoint).await.is_ok()
    })
    .await;
    hook_up(&s, port).await;

    // Two queued jobs of the organisation, heard by webhook alone (an organisation has no
    // listing of queued jobs): two runners within seconds, the look every 30 s not needed.
    post(&s, "/jobs", json!({"labels": ["self-hosted"], "count": 2})).await;
    eventually("a runner for each queued job", Duration::from_secs(45), async || {
        s.online().len() == 2 && status(&s).contains("2 queued")
    })
    .await;
    let sent = deliveries(&s).await;
    assert!(sent.iter().all(|d| d["answer"] == 200), "{sent:?}");

    // Refused: no signature, a wrong one, a body past the bound.
    let client = reqwest::Client::new();
    let body = serde_json::to_vec(&sent[0]["body"]).expect("JSON");
    let send = async |body: Vec<u8>, signature: Option<String>, delivery: &str| {
        let mut request = client
            .post(&endpoint)
            .header("x-github-event", "workflow_job")
            .header("x-github-delivery", delivery)
            .body(body);
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        request.send().await.expect("the watcher answers").status().as_u16()
    };
    assert_eq!(send(body.clone(), None, "x-1").await, 401);
    let wrong = fake_github::webhooks::signature("not-the-secret-at-all", &body);
    assert_eq!(send(body.clone(), Some(wrong), "x-2").await, 401);
    let huge = vec![b' '; 300 * 1024];
    let signed = fake_github::webhooks::signature(SECRET, &huge);
    assert_eq!(send(huge, Some(signed), "x-3").await, 413);

    // Replayed (GitHub's "Redeliver"): counted once.
    let first = sent[0]["id"].as_str().expect("id").to_string();
    post(&s, &format!("/webhooks/{first}/redeliver"), Value::Null).await;
    // A job our runners cannot serve: accepted, and nothing changes.
    post(&s, "/jobs", json!({"labels": ["self-hosted", "gpu"]})).await;
    eventually("both delivered", Duration::from_secs(10), async || {
        deliveries(&s).await.iter().all(|d| !d["answer"].is_null()) && deliveries(&s).await.len() == 4
    })
    .await;
    let answers: Vec<Value> = deliveries(&s).await.iter().map(|d| d["answer"].clone()).collect();
    assert_eq!(
        answers,
        [json!(200), json!(200), json!(200), json!(202)],
        "replay 200, gpu 202"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(s.instances().await.len(), 2, "{}", watcher.output());

    // A runner takes a job: its wait reaches the exporter's histogram.
    let name = s.instances().await.into_iter().next().expect("a runner");
    take_job(&s, &name).await;
    eventually("the queue-wait observed", Duration::from_secs(45), async || {
        let file = s.juju.root().join("var/lib/github-runner/github-runner-0/metrics.json");
        let record: Value = serde_json::from_slice(&std::fs::read(file).unwrap_or_default()).unwrap_or_default();
        record["queue_wait"]["count"] == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_down_a_webhook_flood_and_a_dead_watcher_neither_crash_it_nor_stop_the_pool() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let extra = ["max-virtual-machines=3", "watch-interval=5"];
    let s = Stack::deploy_with(lxd, 1, &extra, |_| {}).await;
    let port = with_webhook(&s);
    s.settle(1).await;
    let unit = std::fs::read_to_string(s.juju.unit_file(WATCHER)).expect("the unit");
    assert!(unit.contains("Restart=always") && unit.contains("MemoryMax="), "{unit}");
    let mut watcher = Service::start(&s.juju, WATCHER);

    // GitHub down for a while: no change, no crash, one warning.
    s.emulator
        .world()
        .faults
        .push(Fault::on("*", "").times(10_000).status(503));
    tokio::time::sleep(Duration::from_secs(16)).await;
    assert!(
        watcher.child.try_wait().expect("waitable").is_none(),
        "{}",
        watcher.output()
    );
    assert_eq!(s.instances().await.len(), 1);
    assert_eq!(
        watcher.output().matches("looking at GitHub").count(),
        1,
        "{}",
        watcher.output()
    );
    // It recovers: a job taken is met again.
    s.emulator.world().faults.clear();
    let first = s.instances().await.into_iter().next().expect("a runner");
    take_job(&s, &first).await;
    eventually(
        "a new idle runner after the outage",
        Duration::from_secs(60),
        async || s.online().len() == 2,
    )
    .await;
    assert!(
        watcher.output().contains("GitHub answers again"),
        "{}",
        watcher.output()
    );

    // A flood: 400 signed deliveries of distinct jobs at once. All answered, a reconcile or
    // two, bounded memory.
    let before = reconciles_started(&s);
    let pid = watcher.child.id();
    let cpu_before = cpu_ticks(pid);
    let endpoint = format!("http://127.0.0.1:{port}/webhook");
    let answers = common::flood(&endpoint, SECRET, "flood", 400, |i| {
        json!({
            "action": "queued",
            "workflow_job": {"id": 90_000 + i, "labels": ["self-hosted"], "created_at": "2026-12-06T10:00:00Z"},
            "repository": {"full_name": "test-org/app"},
        })
    })
    .await;
    let answered = answers.iter().filter(|a| **a == Some(200)).count();
    assert_eq!(answered, 400, "{}", watcher.output());
    eventually("the pool at its ceiling", Duration::from_secs(60), async || {
        s.instances().await.len() == 3
    })
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let reconciles = reconciles_started(&s) - before;
    assert!((1..=3).contains(&reconciles), "400 deliveries, {reconciles} reconciles");
    let peak_kib = peak_rss_kib(pid);
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB");
    let cpu_secs = (cpu_ticks(pid) - cpu_before) as f64 / 100.0;
    assert!(cpu_secs < 10.0, "{cpu_secs} s of CPU for 400 deliveries");

    // The watcher dies: systemd would start it again (Restart=always); meanwhile the timer
    // still reconciles.
    watcher.child.kill().expect("killed");
    watcher.child.wait().expect("reaped");
    let idle: Vec<String> = s
        .registered()
        .iter()
        .filter(|r| r["busy"] == false)
        .map(|r| r["name"].as_str().expect("name").to_string())
        .collect();
    for name in &idle {
        take_job(&s, name).await;
    }
    for name in std::iter::once(&first).chain(&idle) {
        s.finish_job_on(name).await;
    }
    eventually("the used runners are gone", Duration::from_secs(30), async || {
        s.instances().await.is_empty() || s.registered().is_empty()
    })
    .await;
    s.juju(&["tick"]);
    assert!(
        !s.instances().await.is_empty(),
        "the timer's reconcile made runners again"
    );
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let fields: Vec<&str> = stat.rsplit(')').next().expect("fields").split_whitespace().collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// The peak resident set of `pid` (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}
