//! kill -9 of the charm at points spread over a reconcile (scale up) and a flush of idle
//! runners (upgrade-charm), slowed by slow registrations so that the kill lands inside. The
//! rounds of a kind share one deployed scene: after each, the figures, and the scene put back
//! where the next round starts.

use std::time::Duration;

use fake_github::Fault;

use super::{Figures, Row, KILLS};
use crate::common::stack::blocking;

/// `KILLS` rounds of `args` killed mid-hook, each followed by `reset` (unkilled) when given.
async fn kill_rounds(kind: &str, args: &[&str], reset: Option<&[&str]>) {
    let Some(row) = Row::start().await else { return };
    let mut scene = row.scene(2, true).await;
    let (mut total, mut killed) = (Figures::default(), 0);
    for round in 0..KILLS {
        let slow = Fault::on("POST", "generate-jitconfig")
            .times(10)
            .delay(Duration::from_millis(300));
        scene.s.emulator.world().faults.push(slow);
        let (started, after) = (std::time::Instant::now(), Duration::from_millis(150 * round as u64));
        if blocking(|| scene.s.kill_hook_when(args, || started.elapsed() >= after)) {
            killed += 1;
            // The killed hook is in error, as Juju would have it; the operator resolves.
            scene.juju(&["resolved", "github-runner/0", "--no-retry"]);
        }
        total += scene.measure(&row.bystander).await;
        if let Some(reset) = reset {
            scene.juju(reset);
        }
    }
    scene.end().await;
    row.end(&format!("{kind} ({KILLS} rounds, {killed} killed mid-hook)"), total)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_reconcile_leaves_no_orphan_no_killed_job_and_no_touched_neighbour() {
    kill_rounds(
        "kill -9 during reconcile",
        &["config", "github-runner", "virtual-machines=4"],
        Some(&["config", "github-runner", "virtual-machines=2"]),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_the_flush_of_upgrade_charm_leaves_no_orphan_no_killed_job_and_no_touched_neighbour() {
    kill_rounds(
        "kill -9 during flush (upgrade-charm)",
        &["refresh", "github-runner"],
        None,
    )
    .await;
}
