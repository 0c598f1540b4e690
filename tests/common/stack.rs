//! The charm's whole local stack for scenario tests: the real binary under fake-juju,
//! fake-github on the LXD bridge, the stub runner in busybox containers. One test at a time
//! (they share LXD's `runner` pool and one host root).

use std::collections::BTreeSet;
use std::time::Duration;

use fake_github::Emulator;
use github_runner::lxd::LxdClient;
use serde_json::Value;

use super::Juju;

pub const PREFIX: &str = "github-runner-0-";

pub struct Stack {
    pub lxd: LxdClient,
    pub emulator: Emulator,
    pub juju: Juju,
}

/// Runs a fake-juju command without stalling the runtime that serves the emulator.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

impl Stack {
    pub async fn deploy(lxd: LxdClient, virtual_machines: u32) -> Stack {
        Stack::deploy_with(lxd, virtual_machines, &[], |_| {}).await
    }

    /// [`Stack::deploy`] with more options (`key=value`) and a unit set up by `customize`.
    pub async fn deploy_with(
        lxd: LxdClient,
        virtual_machines: u32,
        extra: &[&str],
        customize: impl FnOnce(&mut Juju),
    ) -> Stack {
        let emulator = super::emulator_in_test_host().await;
        // A fresh unit on the shared root: no timer, state or cache of an earlier test, and
        // no runner instance an earlier (failed) test left.
        for dir in ["etc", "var"] {
            let _ = std::fs::remove_dir_all(super::root().join(dir));
        }
        for instance in lxd.instances().await.expect("instances") {
            if instance.name.starts_with(PREFIX) {
                let _ = lxd.stop_instance(&instance.name, Duration::from_secs(5), true).await;
                let _ = lxd.delete_instance(&instance.name).await;
            }
        }
        let mut juju = Juju::new();
        juju.root = Some(super::root());
        juju.lxd_dir = Some(lxd.socket().parent().expect("socket dir").to_path_buf());
        let url = format!("github-url={}", emulator.base_url);
        let vms = format!("virtual-machines={virtual_machines}");
        let mut config = vec![
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
        config.extend_from_slice(extra);
        customize(&mut juju);
        blocking(|| juju.deploy(&config));
        Stack { lxd, emulator, juju }
    }

    pub async fn instances(&self) -> BTreeSet<String> {
        let all = self.lxd.instances().await.expect("instances");
        all.into_iter()
            .map(|i| i.name)
            .filter(|n| n.starts_with(PREFIX))
            .collect()
    }

    pub fn registered(&self) -> Vec<Value> {
        let w = self.emulator.world();
        w.runners
            .values()
            .filter(|r| r.name.starts_with(PREFIX))
            .map(|r| w.runner_json(r))
            .collect()
    }

    pub fn online(&self) -> BTreeSet<String> {
        self.registered()
            .iter()
            .filter(|r| r["status"] == "online")
            .filter_map(|r| r["name"].as_str().map(String::from))
            .collect()
    }

    pub fn id_of(&self, name: &str) -> u64 {
        self.registered()
            .iter()
            .find(|r| r["name"] == name)
            .and_then(|r| r["id"].as_u64())
            .expect("registered")
    }

    pub async fn admin(&self, path: &str) -> u16 {
        super::emulator_admin(&self.emulator, path).await
    }

    /// A job runs on one runner and finishes; returns its name once its instance is gone.
    pub async fn run_one_job(&self) -> String {
        let used = self.instances().await.into_iter().next().expect("a runner");
        self.finish_job_on(&used).await;
        super::eventually(
            "the used runner's instance is gone",
            Duration::from_secs(30),
            async || !self.instances().await.contains(&used),
        )
        .await;
        used
    }

    /// Waits until `n` runners of the unit are online and `n` instances exist.
    pub async fn settle(&self, n: usize) {
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

    pub fn juju(&self, args: &[&str]) -> String {
        blocking(|| self.juju.ok(args))
    }

    pub fn action(&self, action: &str) -> Value {
        let out = blocking(|| self.juju.run(&["run", "github-runner/0", action, "--format=json"]));
        let task: Value = serde_json::from_slice(&out.stdout).expect("task JSON");
        task["github-runner/0"].clone()
    }

    pub async fn finish_job_on(&self, name: &str) {
        let id = self.id_of(name);
        assert_eq!(self.admin(&format!("/runners/{id}/job")).await, 200);
        assert_eq!(self.admin(&format!("/runners/{id}/finish")).await, 200);
    }

    /// The unit leaves nothing behind for the next test.
    pub fn remove(&self) {
        blocking(|| self.juju.ok(&["remove-unit", "github-runner/0"]));
    }
}

pub async fn stack(virtual_machines: u32) -> Option<(tokio::sync::MutexGuard<'static, ()>, Stack)> {
    let lxd = super::lxd().await?;
    let guard = super::exclusive(&lxd).await;
    Some((guard, Stack::deploy(lxd, virtual_machines).await))
}
