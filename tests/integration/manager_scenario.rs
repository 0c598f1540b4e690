//! The charm's main job, end to end: the real binary under fake-juju, fake-github on the LXD
//! bridge, and the stub runner in real busybox containers.

use crate::common;
use crate::common::stack::{blocking, stack};
use fake_github::NewRunner;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_runners_come_up_and_a_used_one_is_replaced_after_a_tick() {
    let Some((_one, s)) = stack(3).await else { return };
    s.settle(3).await;
    let (status, message) = blocking(|| s.juju.unit_status());
    assert_eq!((status.as_str(), message.as_str()), ("active", "3/3 runners"));
    let before = s.instances().await;
    let used = s.run_one_job().await;
    s.juju(&["tick"]);
    s.settle(3).await;
    let after = s.instances().await;
    assert!(!after.contains(&used));
    assert_eq!(after.difference(&before).count(), 1, "one new name");
    let check = s.action("check-runners");
    assert_eq!(check["status"], "completed");
    assert_eq!(check["results"]["online"], "3");
    assert_eq!(check["results"]["offline"], "0");
    s.remove();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_down_keeps_busy_runners_and_removes_idle_ones() {
    let Some((_one, s)) = stack(3).await else { return };
    s.settle(3).await;
    let names: Vec<String> = s.instances().await.into_iter().collect();
    for name in &names[..2] {
        let id = s.id_of(name);
        assert_eq!(s.admin(&format!("/runners/{id}/job")).await, 200);
    }
    s.juju(&["config", "github-runner", "virtual-machines=1"]);
    let left = s.instances().await;
    assert_eq!(
        left,
        names[..2].iter().cloned().collect(),
        "the busy ones survive, the idle one goes\n{}",
        blocking(|| s.juju.debug_log())
    );
    let (_, message) = blocking(|| s.juju.unit_status());
    assert_eq!(message, "2/1 runners");
    s.remove();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_runners_replaces_every_runner() {
    let Some((_one, s)) = stack(2).await else { return };
    s.settle(2).await;
    let before = s.instances().await;
    let task = s.action("flush-runners");
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(task["results"]["delta"]["virtual-machines"], "2");
    let after = s.instances().await;
    assert_eq!(after.len(), 2);
    assert!(after.is_disjoint(&before), "all new names");
    s.remove();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphan_registration_is_gone_after_one_reconcile() {
    let Some((_one, s)) = stack(1).await else { return };
    s.settle(1).await;
    // This unit's names: `<app>-<unit>-<model>-` and 8 hex.
    let name = s.instances().await.into_iter().next().expect("a runner");
    let prefix = &name[..name.len() - 8];
    let (orphan, other_unit, other_model) = {
        let mut w = s.emulator.world();
        let mut seed = |name: String| w.add_runner(NewRunner::named(name)).expect("seeded");
        (
            seed(format!("{prefix}deadbeef")),
            seed("github-runner-1-cafecafe".into()),
            // The same app and unit in another model: another model tag.
            seed("github-runner-0-00000000-cafecafe".into()),
        )
    };
    s.juju(&["tick"]);
    let w = s.emulator.world();
    assert!(!w.runners.contains_key(&orphan), "this unit's orphan is deleted");
    assert!(
        w.runners.contains_key(&other_unit),
        "another unit's runner is not touched"
    );
    assert!(w.runners.contains_key(&other_model), "nor another model's");
    drop(w);
    s.remove();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_runner_version_is_picked_up_and_new_runners_use_it() {
    let Some((_one, s)) = stack(2).await else { return };
    s.settle(2).await;
    assert!(s.registered().iter().all(|r| r["version"] == "2.330.0"));
    s.emulator.world().publish("2.331.0");
    let task = s.action("update-dependencies");
    assert_eq!(task["results"]["flush"], "True", "{task}");
    s.juju(&["tick"]);
    s.settle(2).await;
    assert!(
        s.registered().iter().all(|r| r["version"] == "2.331.0"),
        "{:?}",
        s.registered()
    );
    let again = s.action("update-dependencies");
    assert_eq!(again["results"]["flush"], "False");
    s.remove();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_unit_leaves_no_instance_and_no_registration() {
    let Some((_one, s)) = stack(2).await else { return };
    s.settle(2).await;
    let busy = s.instances().await.into_iter().next().expect("a runner");
    let id = s.id_of(&busy);
    assert_eq!(s.admin(&format!("/runners/{id}/job")).await, 200);
    s.emulator.world().runners.get_mut(&id).expect("runner").busy = false; // the job ends as the unit goes
    s.remove();
    assert!(s.instances().await.is_empty());
    assert!(s.registered().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_reaches_the_charm_s_logs_or_files_while_runners_come_and_go() {
    let Some((_one, s)) = stack(2).await else { return };
    s.settle(2).await;
    s.run_one_job().await;
    s.juju(&["tick"]);
    s.settle(2).await;
    let mut secrets: Vec<String> = s.emulator.world().jit.keys().cloned().collect();
    assert!(secrets.len() >= 3, "the JIT secrets of every runner made");
    secrets.push("ghp_emulatortoken".into());
    let log = blocking(|| s.juju.debug_log());
    let status = s.juju(&["status", "--format=json"]);
    let state = s.juju.root().join("var/lib/github-runner/github-runner-0/state.json");
    let mut files = Vec::new();
    let mut stack = vec![s.juju.root().join("etc"), s.juju.root().join("var")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path != state && !path.to_string_lossy().ends_with(".tar.gz") {
                files.push((path.clone(), std::fs::read_to_string(&path).unwrap_or_default()));
            }
        }
    }
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "a token in debug-log");
        assert!(!status.contains(secret.as_str()), "a token in the status");
        for (path, text) in &files {
            assert!(!text.contains(secret.as_str()), "a token in {}", path.display());
        }
    }
    s.remove();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_token_replaces_idle_runners_and_busy_old_ones_never_count_until_gone() {
    let Some((_one, s)) = stack(2).await else { return };
    s.settle(2).await;
    let old: Vec<String> = s.instances().await.into_iter().collect();
    let busy = old[0].clone();
    let id = s.id_of(&busy);
    assert_eq!(s.admin(&format!("/runners/{id}/job")).await, 200);
    s.emulator.world().config.tokens.push("ghp_rotatedtoken".into());
    s.juju(&["config", "github-runner", "token=ghp_rotatedtoken"]);
    let now = s.instances().await;
    assert!(now.contains(&busy), "the busy runner finishes its job");
    assert!(!now.contains(&old[1]), "the idle one made with the old token is gone");
    assert_eq!(now.len(), 3, "two new runners: the old busy one does not count");
    let (_, message) = blocking(|| s.juju.unit_status());
    assert_eq!(message, "2/2 runners");
    let state_file = s.juju.root().join("var/lib/github-runner/github-runner-0/state.json");
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(&state_file).expect("state")).expect("JSON");
    assert_eq!(state["previous"][0]["runners"], serde_json::json!([busy]));

    s.finish_job_on(&busy).await;
    common::eventually(
        "the old runner's instance is gone",
        Duration::from_secs(30),
        async || !s.instances().await.contains(&busy),
    )
    .await;
    s.juju(&["tick"]);
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(&state_file).expect("state")).expect("JSON");
    assert!(
        state.get("previous").is_none(),
        "forgotten once its runners are gone: {state}"
    );
    s.settle(2).await;
    s.remove();
}
