//! The bake on the real daemon, offline: the Debian systemd image without ICU
//! (`runner-debian`, where the runner refuses to start) as `base-image`, its apt pointed at the
//! mirror test host (`ghr-mirror`, serving the packages
//! downloaded with the image), yq from fake-github's stand-in. A package the archive lacks
//! blocks the unit naming it; fixed, the bake runs in the background (a hook never waits for
//! it), survives a `kill -9` half way (the next one starts clean), publishes the image under the
//! application's alias, and a runner made from it runs a job with the original charm's tools.

use std::process::{Child, Command};
use std::time::Duration;

use crate::common;
use crate::common::stack::{blocking, Stack};
use serde_json::Value;

/// The bake's base (built with the mirror by `scripts/lxd-setup.sh systemd-image`): `runner-systemd` without ICU, where the runner refuses to start.
const BARE: &str = "runner-debian";

/// busybox httpd serving the mirror inside its test host, until dropped.
struct Mirror(Child);

impl Mirror {
    fn start() -> Mirror {
        common::test_hosts();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/images/runner-systemd.mirror");
        let dir = dir
            .canonicalize()
            .unwrap_or_else(|e| panic!("{}: {e}: run `scripts/lxd-setup.sh systemd-image`", dir.display()));
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                "ghr-mirror",
                "busybox",
                "httpd",
                "-f",
                "-p",
                "10.154.0.2:80",
                "-h",
            ])
            .arg(&dir)
            .spawn()
            .expect("busybox httpd starts");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect("10.154.0.2:80").is_err() {
            assert!(std::time::Instant::now() < deadline, "the mirror never listened");
            std::thread::sleep(Duration::from_millis(100));
        }
        Mirror(child)
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn progress(s: &Stack) -> Value {
    let path = s.juju.root().join("var/lib/github-runner/github-runner-0/bake.json");
    std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

/// Waits for the bake's progress to say `state` (and, if given, `step`), up to `minutes`.
async fn bake_reaches(s: &Stack, state: &str, step: Option<&str>, minutes: u64) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(minutes * 60);
    loop {
        let p = progress(s);
        if p["state"] == state && step.is_none_or(|step| p["step"] == step) {
            return p;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bake never reached {state} {step:?}: {p}\n{}",
            services_log(s)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn services_log(s: &Stack) -> String {
    std::fs::read_to_string(s.juju.model().join("services/ghro.bake-image.service.log")).unwrap_or_default()
}

/// LXD with the systemd image, or `None` (skip) where it was not built; with `REQUIRE_LXD=1`
/// it must be there.
async fn lxd_with_image() -> Option<github_runner::lxd::LxdClient> {
    let lxd = common::lxd().await?;
    if lxd.image_alias(BARE).await.expect("asked").is_none() {
        assert!(
            std::env::var("REQUIRE_LXD").as_deref() != Ok("1"),
            "REQUIRE_LXD=1 but LXD has no image {BARE}: run `scripts/lxd-setup.sh systemd-image`"
        );
        return None;
    }
    Some(lxd)
}

/// The images of the application whose alias is `alias`.
async fn images_of(lxd: &github_runner::lxd::LxdClient, alias: &str) -> Vec<String> {
    lxd.images()
        .await
        .expect("images")
        .into_iter()
        .filter(|i| i.properties.get("user.github-runner.owner").map(String::as_str) == Some(alias))
        .map(|i| i.fingerprint)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_baked_image_gives_runners_the_originals_tools_and_a_failed_or_killed_bake_leaves_nothing() {
    let Some(lxd) = lxd_with_image().await else { return };
    let _one = common::exclusive(&lxd).await;
    let _mirror = Mirror::start();
    let extra = [
        "base-image=runner-debian",
        "bake-image=false",
        "vm-memory=1GiB",
        "vm-disk=1GiB",
    ];
    let s = Stack::deploy_with(lxd.clone(), 1, &extra, |_| {}).await;
    // As it is, the bare image cannot run the runner: the stub refuses it as the real one would.
    let (status, message) = blocking(|| s.juju.unit_status());
    assert_eq!(status, "blocked", "{message}");
    assert!(message.contains("the image lacks libicu"), "{message}");

    s.juju(&[
        "config",
        "github-runner",
        "bake-image=true",
        "image-packages=zstd no-such-package",
    ]);
    let (status, message) = blocking(|| s.juju.unit_status());
    assert_eq!(status, "waiting", "the hook did not wait for the bake: {message}");
    assert!(message.starts_with("baking the runner image"), "{message}");

    // A package the archive lacks: the first bake fails, and the unit says which.
    let failed = bake_reaches(&s, "failed", None, 10).await;
    assert!(
        failed["error"].as_str().unwrap_or("").contains("no-such-package"),
        "{failed}"
    );
    s.juju(&["tick"]);
    let (status, message) = blocking(|| s.juju.unit_status());
    assert_eq!(
        status,
        "blocked",
        "{message}\n{failed}\n{}\n{}",
        progress(&s),
        services_log(&s)
    );
    assert!(
        message.contains("no-such-package") && message.contains("installing packages"),
        "{message}"
    );
    let build = s.juju.names().bridge.clone() + "-build";
    assert!(
        lxd.instance(&build).await.expect("asked").is_none(),
        "the failed bake's build instance is gone"
    );

    // Fixed: a new bake at once; killed half way, the next hook starts a clean one.
    s.juju(&["config", "github-runner", "image-packages=zstd"]);
    bake_reaches(&s, "running", Some("installing packages"), 5).await;
    // A hook meanwhile sees the bake running (systemd shows a running oneshot service as
    // `activating`, not `active`) and starts no second one.
    s.juju(&["tick"]);
    let (status, message) = blocking(|| s.juju.unit_status());
    assert_eq!(status, "waiting", "{message}");
    assert!(
        message.contains("baking the runner image: installing packages"),
        "{message}"
    );
    let killed = Command::new("pkill")
        .args(["-KILL", "-f", "dispatch\" bake-image"])
        .status()
        .expect("pkill");
    assert!(killed.success(), "a bake process was there to kill");
    assert!(
        lxd.instance(&build).await.expect("asked").is_some(),
        "the kill left the build instance"
    );
    s.juju(&["tick"]);
    let (status, message) = blocking(|| s.juju.unit_status());
    assert_eq!(status, "waiting", "{message}");
    let done = bake_reaches(&s, "done", None, 15).await;
    assert!(
        lxd.instance(&build).await.expect("asked").is_none(),
        "no build instance after the bake"
    );

    // Published under the application's alias, saying what it was baked from.
    let alias = s.juju.names().bridge.clone() + "-image";
    let fingerprint = lxd
        .image_alias(&alias)
        .await
        .expect("asked")
        .expect("the image's alias");
    let images = lxd.images().await.expect("images");
    let image = images.iter().find(|i| i.fingerprint == fingerprint).expect("the image");
    let property = |k: &str| {
        image
            .properties
            .get(&format!("user.github-runner.{k}"))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(property("packages"), "zstd");
    assert_eq!(property("base-image"), BARE);
    assert_eq!(
        property("base-fingerprint"),
        lxd.image_alias(BARE).await.expect("asked").expect("base")
    );
    assert!(
        !property("runner-sha256").is_empty() && !property("recipe").is_empty(),
        "{image:?}"
    );
    assert_eq!(
        images_of(&lxd, &alias).await.len(),
        1,
        "the killed bake left no half-published image"
    );
    assert!(done["failures"] == 0);

    // The bake asked for a reconcile: a runner comes from the image, with the tools.
    s.settle(1).await;
    let name = s.instances().await.into_iter().next().expect("a runner");
    let runner = lxd.instance(&name).await.expect("asked").expect("the runner");
    assert_eq!(
        runner.config.get("volatile.base_image"),
        Some(&fingerprint),
        "made from the baked image"
    );
    let log = blocking(|| s.juju.debug_log());
    assert!(
        log.contains(&format!("runner {name}: the runner is in the image")),
        "no tarball was pushed to {name}"
    );
    let script = "set -e; docker --version; jq --version; yq --version; npm --version; yarn --version; \
                  pip3 --version; shellcheck --version | head -n 2; gh --version | head -n 1; git --version; \
                  unzip -v | head -n 1; zstd --version; id -nG; stat -c %a /usr/local/bin; \
                  if docker info >/dev/null 2>&1; then echo docker-info-ok; else echo docker-info-unavailable; fi";
    let id = s.id_of(&name);
    let response = reqwest::Client::new()
        .post(format!("{}/_emulator/runners/{id}/job", s.emulator.base_url))
        .body(script)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status().as_u16(), 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let result: Value = loop {
        let answer = reqwest::get(format!("{}/_emulator/runners/{id}/job-result", s.emulator.base_url))
            .await
            .expect("answers");
        if answer.status().is_success() {
            break answer.json().await.expect("json");
        }
        assert!(tokio::time::Instant::now() < deadline, "the job never reported");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let output = result["output"].as_str().unwrap_or_default();
    eprintln!("the job said:\n{output}");
    assert_eq!(result["code"], 0, "{output}");
    assert!(output.contains("version v4."), "yq is mikefarah's v4: {output}");
    assert!(
        output.lines().any(|l| l.split(' ').any(|g| g == "docker")),
        "ubuntu is in docker: {output}"
    );
    assert!(
        output.lines().any(|l| l.trim() == "777"),
        "/usr/local/bin is writable by all: {output}"
    );
    s.remove();
}

/// The small stack the fault rows bake on: no runners, baking off until the row is set up.
async fn bake_row(lxd: &github_runner::lxd::LxdClient) -> Stack {
    let extra = [
        "base-image=runner-systemd",
        "bake-image=false",
        "vm-memory=1GiB",
        "vm-disk=1GiB",
    ];
    Stack::deploy_with(lxd.clone(), 0, &extra, |_| {}).await
}

/// The LXD daemon killed and started again while the image is published: the bake fails,
/// nothing half-published is left, and the next bake (here: an option changed) finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_lxd_restart_mid_publish_leaves_no_half_published_image_and_the_next_bake_finishes() {
    let Some(lxd) = lxd_with_image().await else { return };
    let _one = common::exclusive(&lxd).await;
    let _mirror = Mirror::start();
    let s = bake_row(&lxd).await;
    let (alias, build) = (
        s.juju.names().bridge.clone() + "-image",
        s.juju.names().bridge.clone() + "-build",
    );
    s.juju(&["config", "github-runner", "bake-image=true"]);
    bake_reaches(&s, "running", Some("publishing the image"), 10).await;
    let pid = std::fs::read_to_string("/run/lxd-test/lxd.pid").expect("the daemon's pid");
    assert!(Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status()
        .expect("kill")
        .success());
    let setup = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lxd-setup.sh");
    let started = blocking(|| Command::new(&setup).arg("start").output().expect("lxd-setup runs"));
    assert!(started.status.success(), "LXD started again");
    let failed = bake_reaches(&s, "failed", None, 5).await;
    assert!(
        failed["error"].as_str().unwrap_or("").contains("publishing the image"),
        "{failed}"
    );
    assert!(images_of(&lxd, &alias).await.is_empty(), "nothing half-published");
    assert_eq!(lxd.image_alias(&alias).await.expect("asked"), None);

    s.juju(&["config", "github-runner", "image-packages=zstd"]);
    bake_reaches(&s, "done", None, 10).await;
    assert_eq!(images_of(&lxd, &alias).await.len(), 1);
    assert!(
        lxd.instance(&build).await.expect("asked").is_none(),
        "no build instance left"
    );
    s.remove();
}

/// The build pool's disk full half way through the packages: the bake fails saying so, the
/// unit blocks, and no build instance or image is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_the_bake_with_the_reason_and_leaves_nothing() {
    let Some(lxd) = lxd_with_image().await else { return };
    let _one = common::exclusive(&lxd).await;
    let _mirror = Mirror::start();
    let s = bake_row(&lxd).await;
    let tag = s.juju.names().bridge.clone();
    let dir = s.juju.root().join("var/lib/github-runner/build").join(&tag);
    std::fs::create_dir_all(&dir).expect("mkdir");
    // Room for the base image (about 500 MB), not for the toolset on top of it.
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=700M", "tmpfs"])
        .arg(&dir)
        .status()
        .expect("mount");
    assert!(mounted.success());
    s.juju(&["config", "github-runner", "bake-image=true", "virtual-machines=1"]);
    let failed = bake_reaches(&s, "failed", None, 10).await;
    let error = failed["error"].as_str().unwrap_or("").to_string();
    assert!(
        error.contains("No space left on device") || error.contains("no space left"),
        "{error}"
    );
    s.juju(&["tick"]);
    let (status, message) = blocking(|| s.juju.unit_status());
    assert_eq!(status, "blocked", "{message}");
    assert!(message.to_lowercase().contains("no space left"), "{message}");
    assert!(lxd.instance(&(tag.clone() + "-build")).await.expect("asked").is_none());
    assert!(images_of(&lxd, &(tag.clone() + "-image")).await.is_empty());
    s.remove();
    let _ = Command::new("umount").arg(&dir).status();
}
