//! The unit's LXD setup and one runner's whole life, on the real LXD daemon with fake-github
//! reachable through the bridge and the stub runner inside real busybox containers.
//!
//! Every test here shares LXD's `runner` pool and profiles, so they run one at a time, on one
//! host root outside the checkout (`/run/github-runner-tests/root`: a RAM disk left mounted
//! inside a checkout would make it undeletable).

use crate::common;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use fake_github::{Emulator, Fault};
use github_runner::config::{CharmConfig, Proxy};
use github_runner::github::{ClientConfig, GithubClient, Scope};
use github_runner::host::storage::RamDisk;
use github_runner::host::Host;
use github_runner::lxd::{InstanceType, LxdClient};
use github_runner::lxd_setup::{self as setup, SetupError};
use github_runner::runner::{self, Health, Registration, RemovalOrder, RunnerEnv, RunnerSettings};
use github_runner::runner_binary::{self, RunnerBinaryCache, VerifiedTarball};
use github_runner::secret::Secret;
use serde_json::{json, Value};

const PAT: &str = "ghp_emulatortoken";

fn charm_config(extra: &[(&str, Value)]) -> CharmConfig {
    let mut raw = json!({
        "path": "test-org", "token": PAT, "test-mode": "insecure", "virtual-machines": 2,
        "vm-cpu": 1, "vm-memory": "256MiB", "vm-disk": "64MiB", "base-image": common::TEST_IMAGE,
    });
    for (k, v) in extra {
        raw[*k] = v.clone();
    }
    CharmConfig::from_raw(raw.as_object().expect("object"), Proxy::default()).expect("valid config")
}

struct World {
    emulator: Emulator,
    github: GithubClient,
    tarball: VerifiedTarball,
    settings: RunnerSettings,
}

async fn world(lxd: &LxdClient, registration: Registration) -> World {
    let emulator = common::emulator_in_test_host().await;
    let host = Host::new(common::root());
    let charm = charm_config(&[("github-url", json!(emulator.base_url))]);
    let names = common::direct_names();
    setup::ensure(lxd, &host, &charm, &names).await.expect("unit setup");
    let scope = Scope::Org {
        org: "test-org".into(),
        group: "default".into(),
    };
    let github = GithubClient::new(ClientConfig::new(&charm.github_url, Secret::new(PAT), scope).expect("config"))
        .expect("client");
    let http = reqwest::Client::new();
    let tarball = RunnerBinaryCache::new(&host)
        .update(&http, &runner_binary::latest(&github).await.expect("latest"))
        .await
        .expect("tarball");
    let settings = RunnerSettings {
        kind: InstanceType::Container,
        source: runner::resolve_source(lxd, &charm.base_image).await.expect("source"),
        runner_in_image: false,
        profiles: vec![names.runner_profile.clone(), names.resource_profile(&charm)],
        devices: BTreeMap::new(),
        url: format!("{}/test-org", emulator.base_url),
        labels: vec!["github-runner".into(), common::TEST_IMAGE.into()],
        group: Some("default".into()),
        group_id: github.runner_group_id().await.expect("group"),
        registration,
        proxy: Default::default(),
        dockerhub_mirror: None,
        aproxy: None,
        ready_timeout: Duration::from_secs(60),
    };
    World {
        emulator,
        github,
        tarball,
        settings,
    }
}

impl World {
    fn env<'a>(&'a self, lxd: &'a LxdClient) -> RunnerEnv<'a> {
        RunnerEnv {
            lxd,
            github: &self.github,
            tarball: &self.tarball,
            settings: &self.settings,
        }
    }

    /// A JIT runner, created and seen online in GitHub; with its GitHub id.
    async fn online_runner(&self, lxd: &LxdClient) -> (String, u64) {
        let name = runner::new_name("gh-test-0-");
        let created = runner::create(&self.env(lxd), &name).await.expect("created");
        let id = created.github_id.expect("JIT runners are registered by the charm");
        let instance = lxd.instance(&name).await.expect("asked").expect("its instance");
        let born: u64 = instance.config[runner::CREATED_KEY].parse().expect("Unix seconds");
        assert!(
            runner::unix_now().abs_diff(born) < 300,
            "its age counts from its creation"
        );
        common::eventually("online in GitHub", Duration::from_secs(30), async || {
            self.registered(&name).is_some_and(|r| r["status"] == "online")
        })
        .await;
        (name, id)
    }

    fn registered(&self, name: &str) -> Option<Value> {
        let w = self.emulator.world();
        w.runners.values().find(|r| r.name == name).map(|r| w.runner_json(r))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unit_setup_makes_the_pool_profiles_and_ram_disk_and_a_second_run_changes_nothing() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let host = Host::new(common::root());
    let config = charm_config(&[]);
    let names = common::direct_names();
    let default_before = lxd.profile("default").await.expect("asked").expect("default");
    let first = setup::ensure(&lxd, &host, &config, &names).await.expect("setup");
    let ram = host.path(&names.ram_disk);
    assert!(
        matches!(first.ram_disk, RamDisk::Mounted { kib, .. } | RamDisk::Resized { kib, .. } | RamDisk::Unchanged { kib, .. } if kib == 2 * 64 * 1024)
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        mounts
            .lines()
            .any(|l| l.contains(ram.to_str().expect("utf-8")) && l.contains(" tmpfs ") && l.contains("size=131072k")),
        "tmpfs of 128 MiB"
    );
    let pool = lxd
        .storage_pool(names.pool.as_str())
        .await
        .expect("asked")
        .expect("pool");
    assert_eq!(pool.driver, "dir");
    assert_eq!(pool.source(), ram.to_str());
    let resource = lxd
        .profile(&names.resource_profile(&config))
        .await
        .expect("asked")
        .expect("resource profile");
    assert_eq!(resource.config["limits.cpu"], "1");
    assert_eq!(resource.config["limits.memory"], "256MiB");
    assert_eq!(
        resource.devices["root"],
        BTreeMap::from([
            ("path".into(), "/".into()),
            ("pool".into(), names.pool.clone()),
            ("size".into(), "64MiB".into()),
            ("type".into(), "disk".into())
        ])
    );
    let runner = lxd
        .profile(names.runner_profile.as_str())
        .await
        .expect("asked")
        .expect("runner profile");
    assert_eq!(
        runner.devices["eth0"]
            .get("security.ipv4_filtering")
            .map(String::as_str),
        Some("true"),
        "the runners' NIC is hardened in the charm's own profile"
    );
    // The host-wide `default` profile is the host's, not the charm's: the runners' NIC and its
    // hardening live in the charm's own profile.
    let default_after = lxd.profile("default").await.expect("asked").expect("default");
    assert_eq!(default_after, default_before, "the `default` profile is untouched");

    let second = setup::ensure(&lxd, &host, &config, &names).await.expect("setup again");
    assert!(second.created.is_empty(), "{:?}", second.created);
    assert!(matches!(second.ram_disk, RamDisk::Unchanged { .. }));
    let mode = |path: &std::path::Path| std::fs::metadata(path).expect("the RAM disk").permissions().mode() & 0o7777;
    assert_eq!(
        mode(&ram),
        0o711,
        "root's alone: no local user fills it or drops a file in it"
    );
    let bigger = charm_config(&[("virtual-machines", json!(3))]);
    let third = setup::ensure(&lxd, &host, &bigger, &names)
        .await
        .expect("setup, resized");
    assert!(
        matches!(third.ram_disk, RamDisk::Resized { .. }),
        "{:?}",
        third.ram_disk
    );
    assert_eq!(mode(&ram), 0o711, "and after a remount");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_lxd_refuses_is_named_and_leaves_no_profile() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let config = charm_config(&[("vm-memory", json!("8EiB"))]);
    let names = common::direct_names();
    let err = setup::ensure(&lxd, &Host::new(common::root()), &config, &names)
        .await
        .expect_err("LXD refuses 8EiB");
    assert!(
        matches!(
            &err,
            SetupError::Resource {
                option: "vm-memory",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.needs_operator());
    assert!(
        err.to_string().starts_with("LXD refused config `vm-memory` = \"8EiB\""),
        "{err}"
    );
    assert!(lxd
        .profile(&names.resource_profile(&config))
        .await
        .expect("asked")
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jit_runner_goes_online_runs_one_job_and_its_instance_is_gone() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let w = world(&lxd, Registration::Jit).await;
    let (name, id) = w.online_runner(&lxd).await;
    assert_eq!(runner::health(&lxd, &name).await.expect("health"), Health::Healthy);
    let labels: Vec<String> = w.registered(&name).expect("runner")["labels"]
        .as_array()
        .expect("labels")
        .iter()
        .filter_map(|l| l["name"].as_str().map(String::from))
        .collect();
    assert!(
        labels.contains(&"github-runner".to_string()) && labels.contains(&"runner-test".to_string()),
        "{labels:?}"
    );
    // The busybox image has no ubuntu user and no /opt: the runner runs as root, and says so.
    let out = lxd
        .exec(
            &name,
            &["sh", "-c", "cat /var/log/github-runner.log; test -e /opt && echo has-opt; ps -o user,args | grep 'bin/Runner.Listener run' | grep -v grep"],
            &Default::default(),
        )
        .await
        .expect("exec");
    assert!(
        out.stdout
            .contains("this image has no ubuntu user: the runner runs as root"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("has-opt"),
        "the image layout assumed nothing of /opt"
    );
    assert!(out.stdout.lines().any(|l| l.starts_with("root ")), "{}", out.stdout);

    let admin = |action: &'static str| common::emulator_admin(&w.emulator, format!("/runners/{id}/{action}"));
    assert_eq!(admin("job").await, 200);
    assert_eq!(w.registered(&name).expect("runner")["busy"], true);
    assert_eq!(admin("finish").await, 200);
    assert!(
        w.registered(&name).is_none(),
        "GitHub unregisters an ephemeral runner after its job"
    );
    common::eventually(
        "the instance powers off and is deleted",
        Duration::from_secs(60),
        async || lxd.instance(&name).await.expect("asked").is_none(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_live_runner_leaves_no_instance_and_no_registration() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let w = world(&lxd, Registration::Jit).await;
    let (name, id) = w.online_runner(&lxd).await;
    runner::remove(&lxd, &w.github, &name, Some(id), RemovalOrder::RegistrationFirst)
        .await
        .expect("removed");
    assert!(lxd.instance(&name).await.expect("asked").is_none());
    assert!(w.registered(&name).is_none());
    assert_eq!(runner::health(&lxd, &name).await.expect("health"), Health::Missing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_that_took_a_job_keeps_its_instance_when_github_refuses_the_removal() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let w = world(&lxd, Registration::Jit).await;
    let (name, id) = w.online_runner(&lxd).await;
    // It picked up a job after the reconcile looked: the scale-down's removal meets it busy.
    assert_eq!(
        common::emulator_admin(&w.emulator, format!("/runners/{id}/job")).await,
        200
    );
    let err = runner::remove(&lxd, &w.github, &name, Some(id), RemovalOrder::RegistrationFirst)
        .await
        .expect_err("busy");
    assert!(err.to_string().contains("busy: its job goes on"), "{err}");
    assert_eq!(
        runner::health(&lxd, &name).await.expect("health"),
        Health::Healthy,
        "the job is unharmed"
    );
    // A flush of busy runners (the unit going away) removes it anyway.
    runner::remove(&lxd, &w.github, &name, Some(id), RemovalOrder::InstanceFirst)
        .await
        .expect("removed");
    assert!(lxd.instance(&name).await.expect("asked").is_none());
    // GitHub still shows the job a moment (until it sees the runner gone): then an orphan.
    common::eventually("the registration offline", Duration::from_secs(30), async || {
        w.registered(&name).is_none_or(|r| r["status"] == "offline")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_token_runner_registers_with_config_sh_and_goes_with_its_registration() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let w = world(&lxd, Registration::Token).await;
    let name = runner::new_name("gh-test-0-");
    let created = runner::create(&w.env(&lxd), &name).await.expect("created");
    assert_eq!(created.github_id, None);
    common::eventually("online", Duration::from_secs(30), async || {
        w.registered(&name).is_some_and(|r| r["status"] == "online")
    })
    .await;
    // As a reconcile removes it: by the id GitHub lists it under.
    let id = w
        .registered(&name)
        .and_then(|r| r["id"].as_u64())
        .expect("config.sh registered it");
    runner::remove(&lxd, &w.github, &name, Some(id), RemovalOrder::RegistrationFirst)
        .await
        .expect("removed");
    assert!(w.registered(&name).is_none(), "its registration deleted");
    assert!(lxd.instance(&name).await.expect("asked").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_registration_leaves_no_instance_behind() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let w = world(&lxd, Registration::Jit).await;
    let fault = Fault::on("POST", "generate-jitconfig").times(5).status(500);
    w.emulator.world().faults.push(fault);
    let name = runner::new_name("gh-test-0-");
    let err = runner::create(&w.env(&lxd), &name)
        .await
        .expect_err("GitHub answered 500");
    assert!(err.to_string().contains("500"), "{err}");
    assert!(
        lxd.instance(&name).await.expect("asked").is_none(),
        "the instance was removed"
    );
    assert!(w.registered(&name).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_shows_in_host_ps_or_lxd_s_log_during_creation() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let w = world(&lxd, Registration::Jit).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seen = String::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let out = std::process::Command::new("ps")
                    .args(["-eo", "args"])
                    .output()
                    .expect("ps");
                seen.push_str(&String::from_utf8_lossy(&out.stdout));
                std::thread::sleep(Duration::from_millis(20));
            }
            seen
        })
    };
    let name = runner::new_name("gh-test-0-");
    let created = runner::create(&w.env(&lxd), &name).await.expect("created");
    common::eventually("online", Duration::from_secs(30), async || {
        w.registered(&name).is_some_and(|r| r["status"] == "online")
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut ps = watcher.join().expect("watcher");
    // One more look now that the runner is online, so its process is surely seen.
    ps.push_str(&String::from_utf8_lossy(
        &std::process::Command::new("ps")
            .args(["-eo", "args"])
            .output()
            .expect("ps")
            .stdout,
    ));
    let secrets: Vec<String> = std::iter::once(PAT.to_string())
        .chain(w.emulator.world().jit.keys().cloned())
        .collect();
    assert!(secrets.len() >= 2, "the JIT secret is checked too");
    assert!(
        ps.contains("bin/Runner.Listener run"),
        "the watcher saw the runner start"
    );
    let lxd_logs = std::fs::read_to_string("/var/log/lxd/lxd.log").unwrap_or_default();
    for secret in &secrets {
        assert!(!ps.contains(secret.as_str()), "a token showed in ps");
        assert!(!lxd_logs.contains(secret.as_str()), "a token showed in LXD's log");
    }
    runner::remove(
        &lxd,
        &w.github,
        &name,
        created.github_id,
        RemovalOrder::RegistrationFirst,
    )
    .await
    .expect("removed");
}
