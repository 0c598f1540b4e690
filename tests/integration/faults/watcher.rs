//! The elastic pool's watcher (run from its unit file as systemd would) under faults: GitHub
//! down while it watches, the watcher killed while the reconcile it asked for runs, a flood of
//! signed webhook deliveries. Each row ends as every row does: two clean reconciles, then the
//! figures, all 0.

use std::time::Duration;

use fake_github::Fault;
use serde_json::json;

use super::{Row, Scene};
use crate::common::{self, eventually, Service};

const WATCHER: &str = "ghro.watcher.service";
const SECRET: &str = "fault-suite-webhook-secret-0123";

/// An elastic scene (floor 2, ceiling 4, a look every 5 s) with the webhook endpoint on a
/// free port, its watcher running; the port.
async fn watched(row: &Row) -> (Scene, Service, u16) {
    let extra = ["max-virtual-machines=4", "watch-interval=5", "idle-wait=0"];
    let mut scene = Scene::configured(&row.lxd, 2, &extra, true, |_| {}).await;
    let uri = scene
        .s
        .juju(&["add-secret", "fault-webhook", &format!("secret={SECRET}")]);
    scene.s.juju(&["grant-secret", "fault-webhook", "github-runner"]);
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    scene.juju(&[
        "config",
        "github-runner",
        &format!("webhook-port={port}"),
        &format!("webhook-secret-id={}", uri.trim()),
    ]);
    let watcher = Service::start(&scene.s.juju, WATCHER);
    (scene, watcher, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_down_while_the_watcher_watches_changes_nothing_and_it_recovers() {
    let Some(row) = Row::start().await else { return };
    let (scene, mut watcher, _) = watched(&row).await;
    let before = scene.s.instances().await;
    scene
        .s
        .emulator
        .world()
        .faults
        .push(Fault::on("*", "").times(100_000).status(503));
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(
        watcher.child.try_wait().expect("waitable").is_none(),
        "{}",
        watcher.output()
    );
    assert_eq!(scene.s.instances().await, before, "no change while GitHub is down");
    scene.s.emulator.world().faults.clear();
    eventually("the watcher sees GitHub again", Duration::from_secs(20), async || {
        watcher.output().contains("GitHub answers again")
    })
    .await;
    // Stopped before the clean reconciles, so that none of its own runs across the count.
    drop(watcher);
    let figures = row.figures(scene).await;
    row.end(
        "GitHub 503 on every call for 20 s while the watcher watches (elastic pool)",
        figures,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_killed_while_its_reconcile_runs_leaves_the_pool_to_the_timer() {
    let Some(row) = Row::start().await else { return };
    let (scene, mut watcher, _) = watched(&row).await;
    // A job takes an idle runner: the watcher starts a reconcile; it dies as it runs.
    let idle = scene
        .s
        .registered()
        .iter()
        .find(|r| r["busy"] == false)
        .and_then(|r| r["name"].as_str().map(String::from))
        .expect("an idle runner");
    let id = scene.s.id_of(&idle);
    assert_eq!(scene.s.admin(&format!("/runners/{id}/job")).await, 200);
    eventually("the watcher's reconcile starts", Duration::from_secs(30), async || {
        watcher.output().contains("reconciling now")
    })
    .await;
    watcher.child.kill().expect("killed");
    watcher.child.wait().expect("reaped");
    let figures = row.figures(scene).await;
    row.end(
        "the watcher killed (SIGKILL) as the reconcile it asked for starts",
        figures,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_signed_webhook_deliveries_leaves_the_pool_whole() {
    let Some(row) = Row::start().await else { return };
    let (scene, mut watcher, port) = watched(&row).await;
    let client = reqwest::Client::new();
    let endpoint = format!("http://127.0.0.1:{port}/webhook");
    eventually("the endpoint listens", Duration::from_secs(10), async || {
        client.get(&endpoint).send().await.is_ok()
    })
    .await;
    let answers = common::flood(&endpoint, SECRET, "fault-flood", 400, |i| {
        json!({
            "action": if i % 2 == 0 { "queued" } else { "completed" },
            "workflow_job": {"id": 70_000 + i / 2, "labels": ["self-hosted"]},
            "repository": {"full_name": "test-org/app"},
        })
    })
    .await;
    assert!(
        answers.iter().all(|a| *a == Some(200)),
        "{answers:?}\n{}",
        watcher.output()
    );
    assert!(
        watcher.child.try_wait().expect("waitable").is_none(),
        "{}",
        watcher.output()
    );
    drop(watcher);
    let figures = row.figures(scene).await;
    row.end(
        "400 signed webhook deliveries at once (queued and completed jobs)",
        figures,
    )
    .await;
}
