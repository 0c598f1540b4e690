//! Faults, end to end: GitHub failing a registration, the charm killed half way, LXD refusing
//! a resource, a unit removed with a broken config.

use std::time::Duration;

use crate::common::stack::{blocking, stack, PREFIX};
use fake_github::Fault;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failed_registration_of_three_leaves_nothing_and_the_next_reconcile_reaches_three() {
    let Some((_one, s)) = stack(0).await else { return };
    let fault = Fault::on("POST", "generate-jitconfig").status(500);
    s.emulator.world().faults.push(fault);
    s.juju(&["config", "github-runner", "virtual-machines=3"]);
    s.settle(2).await;
    let (status, message) = blocking(|| s.juju.unit_status());
    assert_eq!(status, "waiting");
    assert!(
        message.starts_with("2/3 runners; 1 failed, first: runner github-runner-0-"),
        "{message}"
    );
    assert_eq!(s.registered().len(), 2, "the failed one left no registration");
    s.juju(&["tick"]);
    s.settle(3).await;
    assert_eq!(blocking(|| s.juju.unit_status()).0, "active");
    s.remove();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconcile_killed_half_way_is_finished_by_the_next_one() {
    let Some((_one, s)) = stack(0).await else { return };
    // Slow registrations, so the kill lands in the middle of the work.
    let slow = Fault::on("POST", "generate-jitconfig")
        .times(5)
        .delay(Duration::from_millis(700));
    s.emulator.world().faults.push(slow);
    // Kill -9 the charm once it is busy creating (some instances exist).
    let made_two = || {
        let instances = std::process::Command::new("lxc")
            .args(["list", "-c", "n", "--format", "csv"])
            .output()
            .expect("lxc");
        let names = String::from_utf8_lossy(&instances.stdout).into_owned();
        names.lines().filter(|l| l.starts_with(PREFIX)).count() >= 2
    };
    let killed = blocking(|| s.kill_hook_when(&["config", "github-runner", "virtual-machines=5"], made_two));
    assert!(killed, "the reconcile never got going");
    s.juju(&["resolved", "github-runner/0", "--no-retry"]);
    s.juju(&["tick"]);
    s.settle(5).await;
    assert_eq!(s.registered().len(), 5, "no orphan registration");
    assert_eq!(s.instances().await.len(), 5, "no orphan instance");
    s.remove();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_lxd_refuses_blocks_the_unit_naming_the_option() {
    let Some((_one, s)) = stack(1).await else { return };
    s.settle(1).await;
    s.juju(&["config", "github-runner", "vm-memory=8EiB"]);
    let (status, message) = blocking(|| s.juju.unit_status());
    assert_eq!(status, "blocked");
    assert!(
        message.starts_with("LXD refused config `vm-memory` = \"8EiB\""),
        "{message}"
    );
    s.juju(&["config", "github-runner", "vm-memory=256MiB"]);
    assert_eq!(blocking(|| s.juju.unit_status()).0, "active");
    s.remove();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_unit_with_a_broken_config_still_removes_the_instances() {
    let Some((_one, s)) = stack(2).await else { return };
    s.settle(2).await;
    s.juju(&["config", "github-runner", "vm-disk=10G"]);
    assert_eq!(blocking(|| s.juju.unit_status()).0, "blocked");
    assert_eq!(s.instances().await.len(), 2, "a bad config touches nothing");
    s.remove();
    assert!(s.instances().await.is_empty());
}
