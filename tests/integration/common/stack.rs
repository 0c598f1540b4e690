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

/// No runner instance an earlier (failed) test left, nor the charm's objects.
async fn reset(lxd: &LxdClient) {
    for instance in lxd.instances().await.expect("instances") {
        if instance.name.starts_with(PREFIX) {
            let _ = lxd.stop_instance(&instance.name, Duration::from_secs(5)).await;
            let _ = lxd.delete_instance(&instance.name).await;
        }
    }
    super::reset_charm(lxd).await;
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
        reset(&lxd).await;
        Stack::deploy_onto(lxd, virtual_machines, extra, customize).await
    }

    /// [`Stack::deploy_with`] onto LXD as the test left it: the charm's objects of earlier
    /// tests and releases are not reset first.
    pub async fn deploy_onto(
        lxd: LxdClient,
        virtual_machines: u32,
        extra: &[&str],
        customize: impl FnOnce(&mut Juju),
    ) -> Stack {
        let emulator = super::emulator_in_test_host().await;
        Stack::deploy_for(lxd, emulator, virtual_machines, extra, customize)
    }

    /// [`Stack::deploy_with`] for the repository `test-org/test-repo` instead of the
    /// organisation (GitHub lists a repository's queued jobs).
    pub async fn deploy_repo(lxd: LxdClient, virtual_machines: u32, extra: &[&str]) -> Stack {
        reset(&lxd).await;
        let scope = fake_github::ScopeConfig::Repo {
            owner: "test-org".into(),
            repo: "test-repo".into(),
        };
        let emulator = super::emulator_in_test_host_for(scope).await;
        let mut extra = extra.to_vec();
        extra.push("path=test-org/test-repo");
        Stack::deploy_for(lxd, emulator, virtual_machines, &extra, |_| {})
    }

    fn deploy_for(
        lxd: LxdClient,
        emulator: Emulator,
        virtual_machines: u32,
        extra: &[&str],
        customize: impl FnOnce(&mut Juju),
    ) -> Stack {
        // A fresh unit on the shared root: no timer, state or cache of an earlier test.
        for dir in ["etc", "var"] {
            let _ = std::fs::remove_dir_all(super::root().join(dir));
        }
        let mut juju = unit_on(&lxd);
        // yq comes from fake-github's stand-in in tests: GitHub's releases are out of reach.
        let (_, yq_sha256) = fake_github::releases::yq();
        let yq_url = format!("{}{}", emulator.base_url, fake_github::releases::yq_path(yq_arch()));
        juju.env
            .push(("GITHUB_RUNNER_YQ".into(), format!("{yq_url} {yq_sha256}")));
        let mut config = config(&emulator, virtual_machines);
        config.extend(extra.iter().map(|kv| kv.to_string()));
        customize(&mut juju);
        let config: Vec<&str> = config.iter().map(String::as_str).collect();
        blocking(|| juju.deploy(&config));
        Stack { lxd, emulator, juju }
    }

    /// What `sh -c script` in the instance `name` did (as a job with a shell would).
    pub async fn sh(&self, name: &str, script: &str) -> github_runner::lxd::ExecOutput {
        self.lxd
            .exec(name, &["sh", "-c", script], &Default::default())
            .await
            .expect("exec")
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

    /// Starts `fake-juju args`, kills the charm's hook with SIGKILL once `now()` says so, and
    /// waits; `false` when the hook ended first.
    pub fn kill_hook_when(&self, args: &[&str], mut now: impl FnMut() -> bool) -> bool {
        let model = self.juju.model();
        let mut child = std::process::Command::new(Juju::fake_juju())
            .args(args)
            .env("FAKE_JUJU_MODEL", &model)
            .env("GITHUB_RUNNER_ROOT", self.juju.root())
            .env("LXD_DIR", self.juju.lxd_dir.clone().expect("lxd dir"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("fake-juju starts");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        // fake-juju records the pid of the hook it runs.
        let hook_pid = || {
            let text = std::fs::read(model.join("model.json")).ok()?;
            let model: Value = serde_json::from_slice(&text).ok()?;
            model["app"]["units"][0]["context"]["pid"].as_u64()
        };
        loop {
            if let (Some(pid), true) = (hook_pid(), now()) {
                let killed = std::process::Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status()
                    .is_ok_and(|k| k.success());
                let _ = child.wait();
                return killed;
            }
            if child.try_wait().ok().flatten().is_some() || std::time::Instant::now() > deadline {
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The unit leaves nothing behind for the next test.
    pub fn remove(&self) {
        blocking(|| self.juju.ok(&["remove-unit", "github-runner/0"]));
    }
}

/// yq's name for this machine's architecture.
fn yq_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    }
}

/// A unit's model on the shared host root and the real LXD.
pub fn unit_on(lxd: &LxdClient) -> Juju {
    let mut juju = Juju::new();
    juju.root = Some(super::root());
    juju.lxd_dir = Some(lxd.socket().parent().expect("socket dir").to_path_buf());
    juju
}

/// The config of a unit on the local stack: busybox runners, small ones, from the image as it
/// is (busybox has no apt to bake with: `bake` tests turn baking on).
pub fn config(emulator: &Emulator, virtual_machines: u32) -> Vec<String> {
    [
        "path=test-org",
        "token=ghp_emulatortoken",
        "test-mode=insecure",
        "base-image=runner-test",
        "bake-image=false",
        "vm-cpu=1",
        "vm-memory=256MiB",
        "vm-disk=64MiB",
    ]
    .map(String::from)
    .into_iter()
    .chain([
        format!("github-url={}", emulator.base_url),
        format!("virtual-machines={virtual_machines}"),
    ])
    .collect()
}

pub async fn stack(virtual_machines: u32) -> Option<(tokio::sync::MutexGuard<'static, ()>, Stack)> {
    let lxd = super::lxd().await?;
    let guard = super::exclusive(&lxd).await;
    Some((guard, Stack::deploy(lxd, virtual_machines).await))
}
