//! Runners that would outlive their job: one whose listener a job killed under a live fake
//! pid (healthy locally, offline on GitHub), and runners past `runner-max-age`. Each is
//! replaced; a busy one keeps its job.

use std::time::Duration;

use super::{Row, Scene};
use crate::common;
use crate::common::stack::blocking;
use crate::common::Juju;

/// A job with sudo kills the runner's listener and the launcher that would power the instance
/// off, and leaves a live process behind the pid file: locally the runner looks healthy, but
/// GitHub shows it offline, and past its grace (1 s here, 10 min in production) it is replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_whose_listener_was_killed_under_a_fake_pid_is_replaced_after_its_grace() {
    let Some(row) = Row::start().await else { return };
    let grace = |j: &mut Juju| j.env.push(("GITHUB_RUNNER_ONLINE_GRACE".into(), "1".into()));
    let mut scene = Scene::with(&row.lxd, 2, true, grace).await;
    let busy = scene.busy.clone().expect("a busy runner");
    let victim = scene
        .s
        .instances()
        .await
        .into_iter()
        .find(|n| *n != busy)
        .expect("an idle runner");
    let script =
        "for p in $(ps -o pid,args | grep -E 'poweroff|launch|Runner.Listener' | grep -v grep | awk '{print $1}'); do \
         kill -9 $p; done; (sleep 100000 >/dev/null 2>&1 &) ; sleep 1; \
         pidof sleep | awk '{print $1}' > /run/github-runner.pid";
    let out = row
        .lxd
        .exec(&victim, &["sh", "-c", script], &Default::default())
        .await
        .expect("exec");
    assert!(out.success(), "{}", out.stderr);
    common::eventually("GitHub shows it offline", Duration::from_secs(30), async || {
        scene
            .s
            .registered()
            .iter()
            .any(|r| r["name"] == victim.as_str() && r["status"] == "offline")
    })
    .await;
    scene.juju(&["tick"]);
    let after = scene.s.instances().await;
    let log = blocking(|| scene.s.juju.debug_log());
    assert!(!after.contains(&victim), "the listener-less runner is replaced\n{log}");
    assert!(
        after.contains(&busy) && after.len() == 2,
        "the busy one stays, two in all: {after:?}"
    );
    let figures = row.figures(scene).await;
    row.end("a runner's listener killed under a live fake pid (grace 1 s)", figures)
        .await;
}

/// Runners older than `runner-max-age` (their creation stamps moved 145 h back; the default
/// is 144 h): the idle one is replaced, the busy one keeps its job until it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runners_past_their_maximum_age_are_replaced_when_idle_and_kept_while_busy() {
    let Some(row) = Row::start().await else { return };
    let mut scene = row.scene(2, true).await;
    let busy = scene.busy.clone().expect("a busy runner");
    let before = scene.s.instances().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let created = (now - 145 * 3600).to_string();
    for name in &before {
        let config = serde_json::json!({ "config": { github_runner::runner::CREATED_KEY: created } });
        common::lxd_patch(&row.lxd, &format!("/1.0/instances/{name}"), config).await;
    }
    scene.juju(&["tick"]);
    let after = scene.s.instances().await;
    let log = blocking(|| scene.s.juju.debug_log());
    let idle: Vec<&String> = before.iter().filter(|n| **n != busy).collect();
    assert!(
        idle.iter().all(|n| !after.contains(*n)),
        "the idle ones past their age are replaced\n{log}"
    );
    assert!(after.contains(&busy), "the busy one keeps its job\n{log}");
    assert_eq!(after.len(), 2, "back to two: {after:?}");
    let figures = row.figures(scene).await;
    row.end("runners past `runner-max-age` (145 h old, the busy one kept)", figures)
        .await;
}
