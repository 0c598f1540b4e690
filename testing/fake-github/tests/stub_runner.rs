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

/// A runner tarball unpacked in `<dir>/runner`.
fn unpack(bytes: &[u8], dir: &Path) -> PathBuf {
    let runner = dir.join("runner");
    std::fs::create_dir_all(&runner).expect("mkdir");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    archive.unpack(&runner).expect("unpack");
    runner
}

/// A live emulator and its stub runner unpacked under busybox.
struct Scene {
    emulator: Emulator,
    _dir: tempfile::TempDir,
    bin: PathBuf,
    runner_dir: PathBuf,
}

async fn scene() -> Scene {
    let emulator = Emulator::start(Config::default(), "127.0.0.1:0").await.expect("starts");
    let _dir = tempfile::tempdir().expect("tempdir");
    let bin = busybox_path(_dir.path());
    let bytes = emulator.world().tarball.bytes.clone();
    let runner_dir = unpack(&bytes, _dir.path());
    Scene {
        emulator,
        _dir,
        bin,
        runner_dir,
    }
}

/// The stub runner of `version` unpacked under busybox, with no emulator.
fn offline(version: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = busybox_path(dir.path());
    let runner_dir = unpack(&fake_github::stub::Tarball::build(version).bytes, dir.path());
    (dir, bin, runner_dir)
}

/// A directory holding what .NET's ICU loader looks for (an empty stand-in of libicuuc).
fn icu_dir(dir: &Path) -> PathBuf {
    let lib = dir.join("lib");
    std::fs::create_dir_all(&lib).expect("mkdir");
    std::fs::write(lib.join("libicuuc.so.72"), "").expect("write");
    lib
}

/// The stub's script under busybox alone, allowed to run as root (the tests do), with ICU
/// found in `<runner>/../lib`.
fn sh(bin: &Path, runner: &Path, script: &str, args: &[&str]) -> Command {
    let mut command = Command::new(bin.join("sh"));
    command
        .arg(runner.join(script))
        .args(args)
        .env_clear()
        .env("PATH", bin)
        .env("STUB_HEARTBEAT_SECS", "1")
        .env("RUNNER_ALLOW_RUNASROOT", "1")
        .env("STUB_LIBRARY_PATH", icu_dir(runner.parent().expect("parent")))
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

/// Starts `command` (stdout dropped) and waits until the emulator shows runner `name` with
/// `field` equal to `value`.
async fn start_until(mut command: Command, emulator: &Emulator, name: &str, field: &str, value: &str) -> Child {
    let child = command.stdout(Stdio::null()).spawn().expect("the runner starts");
    wait_for(&format!("{name}'s {field} to be {value}"), async || {
        runner(emulator, name).await.is_some_and(|r| r[field] == value)
    })
    .await;
    child
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
    let Scene {
        emulator,
        _dir,
        bin,
        runner_dir,
    } = scene().await;
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

    let run_sh = sh(&bin, &runner_dir, "run.sh", &[]);
    let mut run = start_until(run_sh, &emulator, "stub-1", "status", "online").await;
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
    let Scene {
        emulator,
        _dir,
        bin,
        runner_dir,
    } = scene().await;
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
    let Scene {
        emulator,
        _dir,
        bin,
        runner_dir,
    } = scene().await;
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
    let run_sh = sh(&bin, &runner_dir, "run.sh", &["--jitconfig", &blob]);
    let mut run = start_until(run_sh, &emulator, "jit-1", "status", "online").await;
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

/// A JIT config for `name` from the emulator's REST API.
async fn jit_config(emulator: &Emulator, name: &str) -> (u64, String) {
    let jit = reqwest::Client::new()
        .post(format!(
            "{}/api/v3/orgs/test-org/actions/runners/generate-jitconfig",
            emulator.base_url
        ))
        .header("user-agent", "stub-test")
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"name": name, "runner_group_id": 1, "labels": ["self-hosted"]}))
        .send()
        .await
        .expect("answers");
    assert_eq!(jit.status().as_u16(), 201);
    let jit: Value = jit.json().await.expect("json");
    let blob = jit["encoded_jit_config"].as_str().expect("blob").to_string();
    (jit["runner"]["id"].as_u64().expect("id"), blob)
}

async fn admin_json(emulator: &Emulator, path: &str, body: Value) -> u16 {
    let response = reqwest::Client::new()
        .post(format!("{}/_emulator{path}", emulator.base_url))
        .json(&body)
        .send()
        .await
        .expect("answers");
    response.status().as_u16()
}

/// Starts `bin/Runner.Listener run` with the JIT config in a mixed-case input variable, under
/// `umask`, and waits until the runner is online.
async fn start_jit_listener(
    emulator: &Emulator,
    bin: &Path,
    runner_dir: &Path,
    name: &str,
    umask: &str,
) -> (u64, Child) {
    let (id, blob) = jit_config(emulator, name).await;
    let script = format!("umask {umask}; exec ./bin/Runner.Listener run");
    let command = sh(bin, runner_dir, "bin/Runner.Listener", &[]);
    // The same environment, but `sh -c SCRIPT` for the umask.
    let mut listener = Command::new(bin.join("sh"));
    listener
        .args(["-c", &script])
        .env_clear()
        .envs(
            command
                .get_envs()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
        )
        .current_dir(runner_dir)
        .env("Actions_Runner_Input_JitConfig", &blob)
        .env("ACTIONS_RUNNER_INPUT_EXTRA", "leaked-if-seen");
    (id, start_until(listener, emulator, name, "status", "online").await)
}

#[test]
fn the_listener_needs_run_and_answers_its_version() {
    let (_dir, bin, runner_dir) = offline("2.999.0");

    let bare = sh(&bin, &runner_dir, "bin/Runner.Listener", &[])
        .output()
        .expect("runs");
    assert_eq!(bare.status.code(), Some(0), "without `run`, the usage and exit 0");
    assert!(String::from_utf8_lossy(&bare.stdout).contains("./run.sh"));
    assert!(!runner_dir.join("_diag").exists(), "the usage starts nothing");

    let version = sh(&bin, &runner_dir, "bin/Runner.Listener", &["--version"])
        .output()
        .expect("runs");
    assert_eq!(String::from_utf8_lossy(&version.stdout).trim(), "2.999.0");
}

#[test]
fn without_icu_the_listener_aborts_with_134_and_config_sh_refuses() {
    let (dir, bin, runner_dir) = offline("2.999.0");
    let empty = dir.path().join("no-icu");
    std::fs::create_dir_all(&empty).expect("mkdir");

    let out = sh(&bin, &runner_dir, "bin/Runner.Listener", &["--version"])
        .env("STUB_LIBRARY_PATH", &empty)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(134));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Couldn't find a valid ICU package"));

    let config = sh(&bin, &runner_dir, "config.sh", &["--url", "http://x/o", "--token", "T"])
        .env("STUB_LIBRARY_PATH", &empty)
        .output()
        .expect("runs");
    assert_eq!(config.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&config.stdout).contains("Libicu's dependencies is missing"));

    let invariant = sh(&bin, &runner_dir, "bin/Runner.Listener", &["--version"])
        .env("STUB_LIBRARY_PATH", &empty)
        .env("DOTNET_SYSTEM_GLOBALIZATION_INVARIANT", "1")
        .output()
        .expect("runs");
    assert_eq!(invariant.status.code(), Some(0), ".NET's invariant mode needs no ICU");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_sh_refuses_root_without_the_opt_in_and_a_runner_configured_already() {
    let Scene {
        emulator,
        _dir,
        bin,
        runner_dir,
    } = scene().await;
    let url = format!("{}/test-org", emulator.base_url);
    let (_, token) = api(&emulator, "POST", "/registration-token").await;
    let token = token["token"].as_str().expect("token").to_string();
    let args = ["--url", url.as_str(), "--token", token.as_str(), "--name", "twice"];

    let as_root = sh(&bin, &runner_dir, "config.sh", &args)
        .env_remove("RUNNER_ALLOW_RUNASROOT")
        .output()
        .expect("runs");
    assert_eq!(as_root.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&as_root.stdout).contains("Must not run with sudo"));
    assert!(runner(&emulator, "twice").await.is_none(), "nothing registered");

    let first = sh(&bin, &runner_dir, "config.sh", &args).output().expect("runs");
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let again = sh(&bin, &runner_dir, "config.sh", &args).output().expect("runs");
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already configured"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jit_runner_reads_env_drops_its_inputs_runs_its_job_and_forgets_its_credentials() {
    let Scene {
        emulator,
        _dir,
        bin,
        runner_dir,
    } = scene().await;
    std::fs::write(runner_dir.join(".env"), "GREETING=a=b\nnot a variable\n").expect("write .env");
    let (id, mut run) = start_jit_listener(&emulator, &bin, &runner_dir, "job-1", "022").await;

    let modes: Vec<u32> = [".runner", ".credentials", ".credentials_rsaparams"]
        .iter()
        .map(|f| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(runner_dir.join(f))
                .expect("written")
                .permissions()
                .mode()
                & 0o777
        })
        .collect();
    assert_eq!(
        modes, [0o644; 3],
        "the JIT path writes its files with the process umask"
    );
    assert!(runner_dir.join("_diag").is_dir() && runner_dir.join("_work").is_dir());

    let script = "echo \"greeting=$GREETING\"; env | grep -ic actions_runner_input; pwd; exit 7";
    let response = reqwest::Client::new()
        .post(format!("{}/_emulator/runners/{id}/job", emulator.base_url))
        .body(script)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status().as_u16(), 200);
    let code = tokio::task::spawn_blocking(move || wait_exit(&mut run))
        .await
        .expect("join");
    assert_eq!(code, 0, "an ephemeral runner exits after its job");
    let result: Value = reqwest::get(format!("{}/_emulator/runners/{id}/job-result", emulator.base_url))
        .await
        .expect("answers")
        .json()
        .await
        .expect("a result");
    let output = result["output"].as_str().expect("output");
    assert_eq!(result["code"], 7, "the job's exit code comes back: {output}");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines[0], "greeting=a=b", ".env split at its first `=`");
    assert_eq!(lines[1], "0", "no ACTIONS_RUNNER_INPUT_* in any case reaches the job");
    assert!(lines[2].contains("/_work/"), "the job runs in _work: {}", lines[2]);
    for file in [".runner", ".credentials", ".credentials_rsaparams"] {
        assert!(
            !runner_dir.join(file).exists(),
            "{file} is deleted after the ephemeral job"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_update_exits_4_and_update_sh_swaps_bin_then_touches_update_finished() {
    let Scene {
        emulator,
        _dir,
        bin,
        runner_dir,
    } = scene().await;
    let (id, mut run) = start_jit_listener(&emulator, &bin, &runner_dir, "upd-1", "077").await;
    let order = serde_json::json!({"version": "9.9.9", "delay_secs": 2});
    assert_eq!(
        admin_json(&emulator, &format!("/runners/{id}/update"), order).await,
        200
    );
    let code = tokio::task::spawn_blocking(move || wait_exit(&mut run))
        .await
        .expect("join");
    assert_eq!(code, 4, "an ephemeral runner's update exits 4 (3 otherwise)");
    assert!(runner_dir.join("_work/_update.sh").exists());
    assert!(
        !runner_dir.join("update.finished").exists(),
        "the swap is still waiting"
    );
    let finished = runner_dir.join("update.finished");
    wait_for("update.finished", async || finished.exists()).await;
    let version = std::fs::read_to_string(runner_dir.join("VERSION")).expect("VERSION");
    assert_eq!(version.trim(), "9.9.9");
    assert!(
        runner_dir.join(".credentials").exists(),
        "an update keeps the credentials"
    );

    let listener = sh(&bin, &runner_dir, "bin/Runner.Listener", &["run"]);
    let mut again = start_until(listener, &emulator, "upd-1", "version", "9.9.9").await;
    assert_eq!(
        admin_json(
            &emulator,
            &format!("/runners/{id}/exit"),
            serde_json::json!({"code": 5})
        )
        .await,
        200
    );
    let code = tokio::task::spawn_blocking(move || wait_exit(&mut again))
        .await
        .expect("join");
    assert_eq!(
        code, 5,
        "the listener exits with the code it was given (a session conflict)"
    );
}
