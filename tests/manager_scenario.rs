//! The charm's main job, end to end: the real binary under fake-juju, fake-github on the LXD
//! bridge, and the stub runner in real busybox containers. One test at a time (they share
//! LXD's `runner` pool and one host root).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::Juju;
use fake_github::{Emulator, Fault};
use github_runner::lxd::LxdClient;
use serde_json::Value;

const PREFIX: &str = "github-runner-0-";

struct Stack {
    lxd: LxdClient,
    emulator: Emulator,
    juju: Juju,
}

/// Runs a fake-juju command without stalling the runtime that serves the emulator.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

impl Stack {
    async fn deploy(lxd: LxdClient, virtual_machines: u32) -> Stack {
        let emulator = common::emulator_on_bridge(&lxd).await;
        // A fresh unit on the shared root: no timer, state or cache of an earlier test, and
        // no runner instance an earlier (failed) test left.
        for dir in ["etc", "var"] {
            let _ = std::fs::remove_dir_all(common::root().join(dir));
        }
        for instance in lxd.instances().await.expect("instances") {
            if instance.name.starts_with(PREFIX) {
                let _ = lxd.stop_instance(&instance.name, Duration::from_secs(5), true).await;
                let _ = lxd.delete_instance(&instance.name).await;
            }
        }
        let mut juju = Juju::new();
        juju.root = Some(common::root());
        juju.lxd_dir = Some(lxd.socket().parent().expect("socket dir").to_path_buf());
        let url = format!("github-url={}", emulator.base_url);
        let vms = format!("virtual-machines={virtual_machines}");
        let config = [
            "path=test-org",
            "token=ghp_emulatortoken",
            "test-mode=insecure",
            "base-image=runner-test",
            "vm-cpu=1",
            "vm-memory=256MiB",
            "vm-disk=64MiB",
            url.as_str(),
            vms.as_str(),
        ];
        blocking(|| juju.deploy(&config));
        Stack { lxd, emulator, juju }
    }

    async fn instances(&self) -> BTreeSet<String> {
        let all = self.lxd.instances().await.expect("instances");
        all.into_iter()
            .map(|i| i.name)
            .filter(|n| n.starts_with(PREFIX))
            .collect()
    }

    fn registered(&self) -> Vec<Value> {
        let w = self.emulator.world();
        w.runners
            .values()
            .filter(|r| r.name.starts_with(PREFIX))
            .map(|r| w.runner_json(r))
            .collect()
    }

    fn online(&self) -> BTreeSet<String> {
        self.registered()
            .iter()
            .filter(|r| r["status"] == "online")
            .filter_map(|r| r["name"].as_str().map(String::from))
            .collect()
    }

    fn id_of(&self, name: &str) -> u64 {
        self.registered()
            .iter()
            .find(|r| r["name"] == name)
            .and_then(|r| r["id"].as_u64())
            .expect("registered")
    }

    async fn admin(&self, path: &str) -> u16 {
        common::emulator_admin(&self.emulator, path).await
    }

    /// A job runs on one runner and finishes; returns its name once its instance is gone.
    async fn run_one_job(&self) -> String {
        let used = self.instances().await.into_iter().next().expect("a runner");
        self.finish_job_on(&used).await;
        common::eventually(
            "the used runner's instance is gone",
            Duration::from_secs(30),
            async || !self.instances().await.contains(&used),
        )
        .await;
        used
    }

    /// Waits until `n` runners of the unit are online and `n` instances exist.
    async fn settle(&self, n: usize) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !(self.online().len() == n && self.instances().await.len() == n) {
            if std::time::Instant::now() > deadline {
                let log = blocking(|| self.juju.debug_log());
                panic!(
                    "timed out waiting for {n} runners online: online {:?}, instances {:?}, status {:?}\n{log}",
                    self.online(),
                    self.instances().await,
                    blocking(|| self.juju.unit_status())
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn juju(&self, args: &[&str]) -> String {
        blocking(|| self.juju.ok(args))
    }

    fn action(&self, action: &str) -> Value {
        let out = blocking(|| self.juju.run(&["run", "github-runner/0", action, "--format=json"]));
        let task: Value = serde_json::from_slice(&out.stdout).expect("task JSON");
        task["github-runner/0"].clone()
    }

    async fn finish_job_on(&self, name: &str) {
        let id = self.id_of(name);
        assert_eq!(self.admin(&format!("/runners/{id}/job")).await, 200);
        assert_eq!(self.admin(&format!("/runners/{id}/finish")).await, 200);
    }

    /// The unit leaves nothing behind for the next test.
    fn remove(&self) {
        blocking(|| self.juju.ok(&["remove-unit", "github-runner/0"]));
    }
}

async fn stack(virtual_machines: u32) -> Option<(tokio::sync::MutexGuard<'static, ()>, Stack)> {
    let lxd = common::lxd().await?;
    let guard = common::exclusive(&lxd).await;
    Some((guard, Stack::deploy(lxd, virtual_machines).await))
}

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
        "the busy ones survive, the idle one goes"
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
    let orphan = {
        let mut w = s.emulator.world();
        w.add_runner(
            "github-runner-0-deadbeef",
            fake_github::state::labels(&[], true),
            1,
            true,
            "Linux",
        )
        .expect("seeded")
    };
    let other_unit = {
        let mut w = s.emulator.world();
        w.add_runner(
            "github-runner-1-cafecafe",
            fake_github::state::labels(&[], true),
            1,
            true,
            "Linux",
        )
        .expect("seeded")
    };
    s.juju(&["tick"]);
    let w = s.emulator.world();
    assert!(!w.runners.contains_key(&orphan), "this unit's orphan is deleted");
    assert!(
        w.runners.contains_key(&other_unit),
        "another unit's runner is not touched"
    );
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
async fn one_failed_registration_of_three_leaves_nothing_and_the_next_reconcile_reaches_three() {
    let Some((_one, s)) = stack(0).await else { return };
    let fault = Fault {
        method: "POST".into(),
        path: "generate-jitconfig".into(),
        times: 1,
        status: Some(500),
        delay_ms: None,
        kind: None,
        retry_after: None,
    };
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
    let slow = Fault {
        method: "POST".into(),
        path: "generate-jitconfig".into(),
        times: 5,
        status: None,
        delay_ms: Some(700),
        kind: None,
        retry_after: None,
    };
    s.emulator.world().faults.push(slow);
    blocking(|| {
        let model = s.juju.model();
        let mut child = std::process::Command::new(Juju::fake_juju())
            .args(["config", "github-runner", "virtual-machines=5"])
            .env("FAKE_JUJU_MODEL", &model)
            .env("GITHUB_RUNNER_ROOT", s.juju.root())
            .env("LXD_DIR", s.juju.lxd_dir.clone().expect("lxd dir"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("config-changed starts");
        // Wait until the charm is busy creating (some instances exist), then kill -9 it.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let pid = loop {
            let model_json: Value =
                serde_json::from_slice(&std::fs::read(model.join("model.json")).unwrap_or_default())
                    .unwrap_or_default();
            let pid = model_json["app"]["units"][0]["context"]["pid"].as_u64();
            let instances = std::process::Command::new("lxc")
                .args(["list", "-c", "n", "--format", "csv"])
                .output()
                .expect("lxc");
            let made = String::from_utf8_lossy(&instances.stdout)
                .lines()
                .filter(|l| l.starts_with(PREFIX))
                .count();
            if let (Some(pid), true) = (pid, made >= 2) {
                break pid;
            }
            assert!(std::time::Instant::now() < deadline, "the reconcile never got going");
            std::thread::sleep(Duration::from_millis(50));
        };
        nix_kill(pid);
        let _ = child.wait();
    });
    s.juju(&["resolved", "github-runner/0", "--no-retry"]);
    s.juju(&["tick"]);
    s.settle(5).await;
    assert_eq!(s.registered().len(), 5, "no orphan registration");
    assert_eq!(s.instances().await.len(), 5, "no orphan instance");
    s.remove();
}

fn nix_kill(pid: u64) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "killed the charm");
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
async fn remove_unit_with_a_broken_config_still_removes_the_instances() {
    let Some((_one, s)) = stack(2).await else { return };
    s.settle(2).await;
    s.juju(&["config", "github-runner", "vm-disk=10G"]);
    assert_eq!(blocking(|| s.juju.unit_status()).0, "blocked");
    assert_eq!(s.instances().await.len(), 2, "a bad config touches nothing");
    s.remove();
    assert!(s.instances().await.is_empty());
}
