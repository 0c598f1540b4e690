//! The stub runner's `config.sh` and `run.sh` on the host under busybox `sh` and `wget`
//! (nothing else on PATH), against a live emulator: registered, online, given a job, busy,
//! finished, gone. The LXD scenario runs the same scripts inside containers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fake_github::{Config, Emulator};
use serde_json::Value;

const TOKEN: &str = "ghp_emulatortoken";

/// A directory with busybox applets only, so the scripts cannot lean on GNU tools.
fn busybox_path(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let status = Command::new("busybox")
        .arg("--install")
        .arg("-s")
        .arg(&bin)
        .status()
        .expect("busybox is installed (apt-get install busybox)");
    assert!(status.success());
    bin
}

fn unpack(emulator: &Emulator, dir: &Path) -> PathBuf {
    let runner = dir.join("runner");
    std::fs::create_dir_all(&runner).expect("mkdir");
    let bytes = emulator.world().tarball.bytes.clone();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    archive.unpack(&runner).expect("unpack");
    runner
}

fn sh(bin: &Path, runner: &Path, script: &str, args: &[&str]) -> Command {
    let mut command = Command::new(bin.join("sh"));
    command
        .arg(runner.join(script))
        .args(args)
        .env_clear()
        .env("PATH", bin)
        .env("STUB_HEARTBEAT_SECS", "1")
        .current_dir(runner);
    command
}

async fn api(emulator: &Emulator, method: &str, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .request(
            method.parse().expect("method"),
            format!("{}/api/v3/orgs/test-org/actions/runners{path}", emulator.base_url),
        )
        .header("user-agent", "stub-test")
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn admin(emulator: &Emulator, path: &str) -> u16 {
    let response = reqwest::Client::new()
        .post(format!("{}/_emulator{path}", emulator.base_url))
        .send()
        .await
        .expect("answers");
    response.status().as_u16()
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn runner(emulator: &Emulator, name: &str) -> Option<Value> {
    let (_, list) = api(emulator, "GET", "").await;
    list["runners"].as_array()?.iter().find(|r| r["name"] == name).cloned()
}

fn wait_exit(child: &mut Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code().unwrap_or(-1);
        }
        assert!(Instant::now() < deadline, "run.sh did not exit");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_stub_runner_goes_online_takes_one_job_and_is_gone() {
    let emulator = Emulator::start(Config::default(), "127.0.0.1:0").await.expect("starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = busybox_path(dir.path());
    let runner_dir = unpack(&emulator, dir.path());
    let (status, token) = api(&emulator, "POST", "/registration-token").await;
    assert_eq!(status, 201);
    let token = token["token"].as_str().expect("token").to_string();
    let url = format!("{}/test-org", emulator.base_url);
    let out = sh(
        &bin,
        &runner_dir,
        "config.sh",
        &[
            "--url",
            &url,
            "--token",
            &token,
            "--name",
            "stub-1",
            "--labels",
            "gpu,jammy",
            "--runnergroup",
            "default",
            "--ephemeral",
            "--unattended",
            "--disableupdate",
        ],
    )
    .output()
    .expect("config.sh runs");
    assert!(
        out.status.success(),
        "config.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let registered = runner(&emulator, "stub-1").await.expect("registered");
    assert_eq!(registered["status"], "offline", "registered but not yet running");
    let labels: Vec<&str> = registered["labels"]
        .as_array()
        .expect("labels")
        .iter()
        .filter_map(|l| l["name"].as_str())
        .collect();
    assert_eq!(labels, ["self-hosted", "Linux", "X64", "gpu", "jammy"]);

    let mut run = sh(&bin, &runner_dir, "run.sh", &[])
        .stdout(Stdio::null())
        .spawn()
        .expect("run.sh starts");
    wait_for("online", async || {
        runner(&emulator, "stub-1")
            .await
            .is_some_and(|r| r["status"] == "online")
    })
    .await;
    let id = registered["id"].as_u64().expect("id");
    assert_eq!(admin(&emulator, &format!("/runners/{id}/job")).await, 200);
    assert_eq!(runner(&emulator, "stub-1").await.expect("runner")["busy"], true);
    assert_eq!(
        api(&emulator, "DELETE", &format!("/{id}")).await.0,
        422,
        "a busy runner cannot be deleted"
    );
    assert_eq!(admin(&emulator, &format!("/runners/{id}/finish")).await, 200);
    let code = tokio::task::spawn_blocking(move || wait_exit(&mut run))
        .await
        .expect("join");
    assert_eq!(code, 0, "run.sh exits after its one job");
    assert!(
        runner(&emulator, "stub-1").await.is_none(),
        "an ephemeral runner is unregistered after its job"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_registration_token_fails_config_sh_with_the_real_wording() {
    let emulator = Emulator::start(Config::default(), "127.0.0.1:0").await.expect("starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = busybox_path(dir.path());
    let runner_dir = unpack(&emulator, dir.path());
    let url = format!("{}/test-org", emulator.base_url);
    let out = sh(
        &bin,
        &runner_dir,
        "config.sh",
        &["--url", &url, "--token", "NOPE", "--name", "x"],
    )
    .output()
    .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Http response code: NotFound from 'POST"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jit_config_starts_a_runner_once_and_remove_unregisters_it() {
    let emulator = Emulator::start(Config::default(), "127.0.0.1:0").await.expect("starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = busybox_path(dir.path());
    let runner_dir = unpack(&emulator, dir.path());
    let jit = reqwest::Client::new()
        .post(format!(
            "{}/api/v3/orgs/test-org/actions/runners/generate-jitconfig",
            emulator.base_url
        ))
        .header("user-agent", "stub-test")
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"name": "jit-1", "runner_group_id": 1, "labels": ["self-hosted", "jammy"]}))
        .send()
        .await
        .expect("answers");
    assert_eq!(jit.status().as_u16(), 201);
    let jit: Value = jit.json().await.expect("json");
    let blob = jit["encoded_jit_config"].as_str().expect("blob").to_string();
    let mut run = sh(&bin, &runner_dir, "run.sh", &["--jitconfig", &blob])
        .stdout(Stdio::null())
        .spawn()
        .expect("starts");
    wait_for("online", async || {
        runner(&emulator, "jit-1")
            .await
            .is_some_and(|r| r["status"] == "online")
    })
    .await;
    assert_eq!(runner(&emulator, "jit-1").await.expect("runner")["os"], "Linux");

    let again = sh(&bin, &runner_dir, "run.sh", &["--jitconfig", &blob])
        .output()
        .expect("runs");
    assert!(!again.status.success(), "a JIT config is single use");

    let (_, remove) = api(&emulator, "POST", "/remove-token").await;
    let out = sh(
        &bin,
        &runner_dir,
        "config.sh",
        &["remove", "--token", remove["token"].as_str().expect("token")],
    )
    .output()
    .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let code = tokio::task::spawn_blocking(move || wait_exit(&mut run))
        .await
        .expect("join");
    assert_eq!(code, 0, "run.sh exits once the runner is removed");
    assert!(runner(&emulator, "jit-1").await.is_none());
}
