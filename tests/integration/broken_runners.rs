//! Runners a job with sudo broke, on the real LXD through the real charm: the one reconcile
//! that follows replaces exactly those, leaves the others untouched, and the hook exits 0.

use crate::common;
use std::collections::BTreeSet;

use crate::common::stack::{stack, Stack};

async fn break_with(s: &Stack, name: &str, script: &str) {
    let out = s
        .lxd
        .exec(name, &["sh", "-c", script], &Default::default())
        .await
        .expect("exec");
    assert!(out.success(), "{script}: {}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_runners_one_without_bin_sh_one_reconcile_replaces_only_it() {
    let Some((_one, s)) = stack(3).await else { return };
    s.settle(3).await;
    let before = s.instances().await;
    let broken = before.iter().next().expect("a runner").clone();
    // The job removed the shell: /bin/sh and, on busybox, the binary it links to (busybox
    // runs its own applets without the links).
    break_with(&s, &broken, "rm /bin/sh /bin/busybox").await;
    s.juju(&["tick"]); // `ok`: the hook exits 0
    let after = s.instances().await;
    assert!(
        !after.contains(&broken),
        "the broken runner is replaced\n{}",
        common::stack::blocking(|| s.juju.debug_log())
    );
    let untouched: BTreeSet<String> = before.iter().filter(|n| **n != broken).cloned().collect();
    assert!(after.is_superset(&untouched), "the two others are untouched: {after:?}");
    assert_eq!(after.len(), 3, "back to three");
    s.settle(3).await;
    s.remove();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_pid_file_and_a_hanging_probe_are_unhealthy_and_nothing_else_is_held_up() {
    let Some((_one, s)) = stack(3).await else { return };
    s.settle(3).await;
    let before: Vec<String> = s.instances().await.into_iter().collect();
    // One reads a FIFO for ever; the other's `timeout` (the probe's first command) hangs.
    break_with(
        &s,
        &before[0],
        "rm -f /run/github-runner.pid && mkfifo /run/github-runner.pid",
    )
    .await;
    break_with(
        &s,
        &before[1],
        "rm -f /bin/timeout /usr/bin/timeout && printf '#!/bin/busybox sh\\nexec /bin/busybox sleep 1000\\n' > /usr/bin/timeout && chmod +x /usr/bin/timeout",
    )
    .await;
    s.juju(&["tick"]);
    let after = s.instances().await;
    assert!(
        !after.contains(&before[0]) && !after.contains(&before[1]),
        "before {before:?}, after {after:?}\n{}",
        common::stack::blocking(|| s.juju.debug_log())
    );
    assert!(after.contains(&before[2]), "the healthy one is untouched");
    assert_eq!(after.len(), 3);
    s.settle(3).await;
    s.remove();
}

/// A job with sudo kills the runner's listener and the launcher that would power the instance
/// off, and leaves a live process behind the pid file: locally the runner looks healthy, but
/// GitHub shows it offline, and past its grace (1 s here, 10 min in production) it is replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_whose_listener_was_killed_under_a_fake_pid_is_replaced_after_its_grace() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let grace = |j: &mut crate::common::Juju| j.env.push(("GITHUB_RUNNER_ONLINE_GRACE".into(), "1".into()));
    let s = Stack::deploy_with(lxd, 2, &[], grace).await;
    s.settle(2).await;
    let before = s.instances().await;
    let victim = before.iter().next().expect("a runner").clone();
    break_with(
        &s,
        &victim,
        "for p in $(ps -o pid,args | grep -E 'poweroff|launch|Runner.Listener' | grep -v grep | awk '{print $1}'); do \
         kill -9 $p; done; (sleep 100000 >/dev/null 2>&1 &) ; sleep 1; \
         pidof sleep | awk '{print $1}' > /run/github-runner.pid",
    )
    .await;
    common::eventually(
        "GitHub shows it offline",
        std::time::Duration::from_secs(30),
        async || {
            s.registered()
                .iter()
                .any(|r| r["name"] == victim.as_str() && r["status"] == "offline")
        },
    )
    .await;
    s.juju(&["tick"]);
    let after = s.instances().await;
    assert!(
        !after.contains(&victim),
        "the listener-less runner is replaced\n{}",
        common::stack::blocking(|| s.juju.debug_log())
    );
    assert!(after.is_superset(&before.iter().filter(|n| **n != victim).cloned().collect()));
    assert_eq!(after.len(), 2, "back to two");
    s.remove();
}

/// A runner older than `runner-max-age` (its creation stamp moved 145 h back; the default is
/// 144 h) is replaced once idle; a busy one as old keeps its job until it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runners_past_their_maximum_age_are_replaced_when_idle_and_kept_while_busy() {
    let Some((_one, s)) = stack(2).await else { return };
    s.settle(2).await;
    let before: Vec<String> = s.instances().await.into_iter().collect();
    let (idle, busy) = (&before[0], &before[1]);
    assert_eq!(s.admin(&format!("/runners/{}/job", s.id_of(busy))).await, 200);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let created = (now - 145 * 3600).to_string();
    for name in &before {
        let config = serde_json::json!({ "config": { github_runner::runner::CREATED_KEY: created } });
        common::lxd_patch(&s.lxd, &format!("/1.0/instances/{name}"), config).await;
    }
    s.juju(&["tick"]);
    let after = s.instances().await;
    let log = common::stack::blocking(|| s.juju.debug_log());
    assert!(!after.contains(idle), "the idle one past its age is replaced\n{log}");
    assert!(after.contains(busy), "the busy one keeps its job\n{log}");
    assert_eq!(after.len(), 2, "back to two: {after:?}");
    s.finish_job_on(busy).await;
    s.remove();
}
