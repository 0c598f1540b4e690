//! Two units of one application share the queued jobs without a coordinator: each ranks itself
//! among the units of the peer relation `runner-peers` and takes its slice. Four jobs, two
//! units: four runners in all, two each; the second unit removed, the first takes the whole
//! queue at its next reconcile.
//!
//! On one machine: both units use the application's LXD objects (their names are the
//! application's), and their reconciles run through the `reconcile-runners` action (the
//! timer's and the watcher's unit files have the same names on one machine, so only the last
//! unit's would stay; in production each unit has a machine of its own).

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::stack::{blocking, Stack};
use crate::common::{self, eventually};

fn reconcile(s: &Stack, unit: &str) -> Value {
    let out = blocking(|| s.juju.run(&["run", unit, "reconcile-runners", "--format=json"]));
    let task: Value = serde_json::from_slice(&out.stdout).expect("task JSON");
    assert_eq!(task[unit]["status"], "completed", "{task}");
    task[unit]["results"].clone()
}

/// Unit `n`'s runner instances (the stack's own helpers see unit 0's alone).
async fn of_unit(s: &Stack, n: u32) -> usize {
    let prefix = format!("github-runner-{n}-");
    let all = s.lxd.instances().await.expect("instances");
    all.iter().filter(|i| i.name.starts_with(&prefix)).count()
}

/// Runners of either unit online in GitHub.
fn online(s: &Stack) -> usize {
    let w = s.emulator.world();
    w.runners
        .values()
        .filter(|r| r.name.starts_with("github-runner-"))
        .filter(|r| w.runner_json(r)["status"] == "online")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_queued_jobs_across_two_units_make_four_runners_and_a_unit_gone_leaves_its_share() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let s = Stack::deploy_repo(lxd, 0, &["max-virtual-machines=4"]).await;
    s.juju(&["add-unit", "github-runner"]);
    let response = reqwest::Client::new()
        .post(format!("{}/_emulator/jobs", s.emulator.base_url))
        .json(&json!({"labels": ["self-hosted", "linux"], "count": 4}))
        .send()
        .await
        .expect("admin API");
    assert_eq!(response.status().as_u16(), 201);

    for unit in ["github-runner/0", "github-runner/1"] {
        let results = reconcile(&s, unit);
        assert_eq!(
            (&results["queued"], &results["target"]),
            (&json!("2"), &json!("2")),
            "{unit}: {results}"
        );
    }
    let each = (of_unit(&s, 0).await, of_unit(&s, 1).await);
    assert_eq!(each, (2, 2), "two each, not eight\n{}", blocking(|| s.juju.debug_log()));
    eventually("four runners online", Duration::from_secs(60), async || online(&s) == 4).await;

    // The second unit goes away (its runners with it): the first takes the whole queue.
    s.juju(&["remove-unit", "github-runner/1"]);
    assert_eq!(of_unit(&s, 1).await, 0);
    let results = reconcile(&s, "github-runner/0");
    assert_eq!(results["target"], "4", "{results}");
    eventually(
        "four runners of the remaining unit",
        Duration::from_secs(60),
        async || of_unit(&s, 0).await == 4 && online(&s) == 4,
    )
    .await;
}
