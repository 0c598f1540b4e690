//! Runners a job with sudo broke, on the real LXD through the real charm: the one reconcile
//! that follows replaces exactly those, leaves the others untouched, and the hook exits 0.

use crate::common;
use std::collections::BTreeSet;

use crate::common::stack::{stack, Stack};

async fn break_with(s: &Stack, name: &str, script: &str) {
    let out = s.sh(name, script).await;
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
