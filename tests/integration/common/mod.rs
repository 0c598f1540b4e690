//! Runs the real charm binary as Juju would, under `fake-juju`, in a throwaway model.
//!
//! The charm is packed by `scripts/pack --binary` (the same layout the demo and a user get);
//! `fake-juju` is the workspace's binary, built beside the charm's (`cargo build --workspace`,
//! which `scripts/test` runs first).

#![allow(dead_code)]

pub mod lxd_gate;
pub mod stack;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use github_runner::lxd::LxdClient;
use github_runner::lxd_setup::{nft, objects, Names};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, MutexGuard};

const CHARM_BIN: &str = env!("CARGO_BIN_EXE_github-runner");

pub fn fake_juju_path() -> PathBuf {
    let bin = Path::new(CHARM_BIN).with_file_name("fake-juju");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace` first (scripts/test does)",
        bin.display()
    );
    bin
}

/// The packed charm directory, built once per test binary.
pub fn charm_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        remove_stale_packs(tmp);
        // One directory per process: nextest runs tests of one binary in parallel processes.
        let out = tmp.join(format!("charm-{}", std::process::id()));
        let status = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pack"))
            .args(["--binary", CHARM_BIN, "--out"])
            .arg(&out)
            .status()
            .expect("scripts/pack runs");
        assert!(status.success(), "scripts/pack failed");
        out.join("charm")
    })
}

/// Deletes the packed charms of test processes that have ended.
fn remove_stale_packs(tmp: &Path) {
    for entry in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("charm-") {
            if !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// A model directory and a host root, both removed at the end of the test.
pub struct Juju {
    dir: tempfile::TempDir,
    /// `LXD_DIR` for the model; `None` points at a directory with no LXD.
    pub lxd_dir: Option<PathBuf>,
    /// A host root shared with other tests (LXD's `runner` pool lives on it); `None` for a
    /// fresh one.
    pub root: Option<PathBuf>,
    /// Put before `PATH` for the hooks: fake host commands (`snap`).
    pub path_prefix: Option<PathBuf>,
    /// More host seams for fake-juju to hand every hook (read at deploy).
    pub env: Vec<(String, String)>,
}

impl Juju {
    pub fn new() -> Juju {
        Juju {
            dir: tempfile::tempdir().expect("tempdir"),
            lxd_dir: None,
            root: None,
            path_prefix: None,
            env: Vec::new(),
        }
    }

    /// The fake-juju binary.
    pub fn fake_juju() -> PathBuf {
        fake_juju_path()
    }

    pub fn model(&self) -> PathBuf {
        self.dir.path().join("model")
    }

    /// The names of the deployed application's LXD objects (its model's UUID is fake-juju's).
    pub fn names(&self) -> Names {
        let text = std::fs::read_to_string(self.model().join("model.json")).expect("a deployed model");
        let model: Value = serde_json::from_str(&text).expect("JSON");
        names_in(model["uuid"].as_str().expect("the model's uuid"))
    }

    /// `GITHUB_RUNNER_ROOT` of the fake machine.
    pub fn root(&self) -> PathBuf {
        self.root.clone().unwrap_or_else(|| self.dir.path().join("root"))
    }

    /// Runs `fake-juju <args>`.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::new(fake_juju_path());
        if let Some(prefix) = &self.path_prefix {
            let path = std::env::var("PATH").unwrap_or_default();
            command.env("PATH", format!("{}:{path}", prefix.display()));
        }
        command
            .args(args)
            .envs(self.env.iter().cloned())
            .env("FAKE_JUJU_MODEL", self.model())
            .env("GITHUB_RUNNER_ROOT", self.root())
            // No LXD for these scenarios unless a test says otherwise: units stay waiting for it.
            .env(
                "LXD_DIR",
                self.lxd_dir.clone().unwrap_or_else(|| self.dir.path().join("no-lxd")),
            )
            .env_remove("JUJU_CONTEXT_ID")
            .output()
            .expect("fake-juju runs")
    }

    /// Runs `fake-juju <args>` and insists it succeeds.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "fake-juju {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn deploy(&self, config: &[&str]) {
        let charm = charm_dir().to_str().expect("utf-8 path").to_string();
        let mut args = vec!["deploy".to_string(), charm];
        for pair in config {
            args.push("--config".into());
            args.push(pair.to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ok(&args);
    }

    /// `(workload status, message)` of `github-runner/0`.
    pub fn unit_status(&self) -> (String, String) {
        let status: Value = serde_json::from_str(&self.ok(&["status", "--format=json"])).expect("status JSON");
        let unit = &status["applications"]["github-runner"]["units"]["github-runner/0"]["workload-status"];
        (
            unit["current"].as_str().unwrap_or("").into(),
            unit["message"].as_str().unwrap_or("").into(),
        )
    }

    pub fn debug_log(&self) -> String {
        self.ok(&["debug-log"])
    }

    /// Every hook-tool call the charm made, as `(tool, args)`.
    pub fn calls(&self) -> Vec<(String, Vec<String>)> {
        let text = std::fs::read_to_string(self.model().join("calls.log")).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
            .map(|v| {
                let args = v["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(String::from);
                (v["tool"].as_str().unwrap_or("").to_string(), args.collect())
            })
            .collect()
    }

    pub fn unit_file(&self, name: &str) -> PathBuf {
        self.root().join("etc/systemd/system").join(name)
    }
}

/// A service of the fake machine run as systemd would run it, from its unit file's
/// `ExecStart`: as root, with systemd's `PATH` (the fake machine's tools first: its
/// `systemctl`, `juju-exec`), no Juju variables, the machine's root; killed when dropped. Its
/// output goes to `<model>/services/<unit>.test.log`.
pub struct Service {
    pub child: std::process::Child,
    pub log: PathBuf,
}

impl Service {
    pub fn start(juju: &Juju, unit: &str) -> Service {
        let text = std::fs::read_to_string(juju.unit_file(unit)).unwrap_or_else(|e| panic!("{unit}: {e}"));
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap_or_else(|| panic!("{unit} has no ExecStart"));
        let logs = juju.model().join("services");
        std::fs::create_dir_all(&logs).expect("logs dir");
        let log = logs.join(format!("{unit}.test.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let path = format!(
            "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            juju.model().join("tools").display()
        );
        let child = Command::new("/bin/sh")
            .args(["-c", &format!("exec {exec}")])
            .env_clear()
            .env("PATH", path)
            .env("LANG", "C.UTF-8")
            .env("FAKE_JUJU_MODEL", juju.model())
            .env("GITHUB_RUNNER_ROOT", juju.root())
            .current_dir("/")
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("{unit} starts: {e}"));
        Service { child, log }
    }

    /// What it printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `count` `workflow_job` deliveries to `endpoint` at once, the `i`-th with the body
/// `body(i)`, signed with `secret`, and the delivery id `<tag>-<i>`; each answer's status
/// (`None`: no answer).
pub async fn flood(
    endpoint: &str,
    secret: &str,
    tag: &str,
    count: u64,
    body: impl Fn(u64) -> Value,
) -> Vec<Option<u16>> {
    let client = reqwest::Client::new();
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..count {
        let body = serde_json::to_vec(&body(i)).expect("JSON");
        let signature = fake_github::webhooks::signature(secret, &body);
        let request = client
            .post(endpoint)
            .header("x-github-event", "workflow_job")
            .header("x-github-delivery", format!("{tag}-{i}"))
            .header("x-hub-signature-256", signature)
            .body(body);
        sends.spawn(async move { request.send().await.ok().map(|r| r.status().as_u16()) });
    }
    let mut answers = Vec::new();
    while let Some(answer) = sends.join_next().await {
        answers.push(answer.expect("joined"));
    }
    answers
}

/// The config of a unit that should come up.
/// GitHub is a closed local port: these scenarios never reach one.
pub const VALID: &[&str] = &[
    "path=my-org",
    "token=ghp_SECRETtoken0123456789",
    "test-mode=insecure",
    "github-url=http://127.0.0.1:9",
    "bake-image=false",
];
pub const TOKEN: &str = "ghp_SECRETtoken0123456789";

/// The real LXD daemon, or `None` (the test then skips) when it is not running. With
/// `REQUIRE_LXD=1` (CI) a missing daemon fails the test instead.
pub async fn lxd() -> Option<github_runner::lxd::LxdClient> {
    let client = github_runner::lxd::LxdClient::from_env().expect("an LXD client");
    match client.server().await {
        Ok(_) => Some(client),
        Err(e) if std::env::var("REQUIRE_LXD").as_deref() == Ok("1") => {
            panic!("REQUIRE_LXD=1 but LXD is not reachable: {e}; run `sudo scripts/lxd-setup.sh start`")
        }
        Err(e) => {
            eprintln!("skipping: LXD is not reachable ({e}); run `sudo scripts/lxd-setup.sh start`");
            None
        }
    }
}

/// A name no other test process uses.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// The busybox image `scripts/lxd-setup.sh` imports.
pub const TEST_IMAGE: &str = "runner-test";

/// A plain container of `image` on the `default` profile: a bystander, or a test's own.
pub fn container(name: &str, image: &str) -> github_runner::lxd::InstanceSpec {
    github_runner::lxd::InstanceSpec {
        name: name.to_string(),
        kind: github_runner::lxd::InstanceType::Container,
        source: github_runner::lxd::InstanceSource::Alias(image.into()),
        profiles: vec!["default".into()],
        devices: Default::default(),
        config: Default::default(),
        ephemeral: false,
    }
}

/// One test at a time; the first one cleans what earlier runs left in LXD.
pub async fn exclusive(lxd: &LxdClient) -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::const_new(());
    static RESET: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let guard = LOCK.lock().await;
    RESET.get_or_init(|| reset(lxd)).await;
    guard
}

/// The host root of the LXD tests. Outside the checkout on purpose: its RAM disk stays
/// mounted after the tests, and a mount inside the checkout would make it undeletable.
pub fn root() -> PathBuf {
    PathBuf::from("/run/github-runner-tests/root")
}

/// Removes the runner instances and every LXD object of the charm's
/// ([`objects::OBJECTS`]) that earlier runs (or another checkout) left, so the pool can point
/// at this checkout's RAM disk.
pub async fn reset(lxd: &LxdClient) {
    reset_instances(lxd, |i| i.name.starts_with("gh-test-")).await;
    reset_objects(lxd, true).await;
}

/// Deletes the instances the charm made and those `also` names.
async fn reset_instances(lxd: &LxdClient, also: impl Fn(&github_runner::lxd::Instance) -> bool) {
    for instance in lxd.instances().await.expect("instances") {
        let charms = ["user.github-runner", "user.github-runner.bake"];
        if charms.iter().any(|k| instance.config.contains_key(*k)) || also(&instance) {
            let _ = lxd.stop_instance(&instance.name, Duration::from_secs(5)).await;
            let _ = lxd.delete_instance(&instance.name).await;
        }
    }
}

/// What a unit of the charm leaves on the machine (its runners, objects, packet filters and
/// RAM disks), of every model: each deploy starts without it, since every model's
/// application has objects of its own, and a bridge an earlier test left would hold the
/// runner subnet. Instances and networks that are not the charm's (a test's bystander, a
/// foreign bridge a test put in the charm's way) stay.
pub async fn reset_charm(lxd: &LxdClient) {
    reset_instances(lxd, |_| false).await;
    reset_objects(lxd, false).await;
}

/// The charm's objects, packet filters and RAM disks; with `foreign`, also the networks and
/// ACLs of its names that it did not make.
async fn reset_objects(lxd: &LxdClient, foreign: bool) {
    // The charm's packet filters and network go too: every test starts from a host without.
    for table in nft::tables_starting("ghr-")
        .into_iter()
        .chain(["github-runner".to_string()])
    {
        nft::remove(&table).expect("removing the charm's nftables table");
    }
    // The runner images the charm baked (their aliases go with them).
    for image in lxd.images().await.expect("images") {
        if image.properties.contains_key("user.github-runner.owner") {
            lxd.delete_image(&image.fingerprint)
                .await
                .expect("deleting a baked image");
        }
    }
    for object in objects::OBJECTS {
        for name in objects::present(lxd, &object)
            .await
            .expect("listing the charm's objects")
        {
            let owned = match object.kind {
                objects::Kind::Network => lxd.network(&name).await.ok().flatten().map(|n| n.config),
                objects::Kind::NetworkAcl => lxd.network_acl(&name).await.ok().flatten().map(|a| a.config),
                _ => None,
            }
            .is_none_or(|config| github_runner::lxd_setup::firewall::owned(&config));
            if !owned && !foreign {
                continue;
            }
            objects::delete(lxd, object.kind, &name)
                .await
                .unwrap_or_else(|e| panic!("deleting {} {name}: {e}", object.kind.lxc_noun()));
        }
    }
    // Their RAM disks, one an application under the tests' root, unused now.
    for entry in std::fs::read_dir(root().join("storage"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let _ = Command::new("umount")
            .arg(entry.path())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The test hosts of `scripts/test-hosts.sh`: network namespaces on this machine.
pub const GITHUB_HOST: (&str, &str) = ("ghr-github", "10.152.0.2");
pub const DENIED_HOST: (&str, &str) = ("ghr-denied", "10.153.0.2");

/// Makes sure the test hosts exist (once per test process; the script is idempotent).
pub fn test_hosts() {
    static UP: OnceLock<()> = OnceLock::new();
    UP.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-hosts.sh");
        let status = Command::new(script)
            .arg("up")
            .status()
            .expect("scripts/test-hosts.sh runs");
        assert!(status.success(), "scripts/test-hosts.sh up failed (it needs root)");
    });
}

/// A TCP listener made inside test host `netns` on `addr` (port 0: any free one): a thread
/// enters the namespace, binds, and hands the socket back; it stays in the namespace.
pub fn listen_in(netns: &str, addr: &str) -> std::net::TcpListener {
    test_hosts();
    let path = format!("/run/netns/{netns}");
    let (addr, netns) = (addr.to_string(), netns.to_string());
    std::thread::spawn(move || {
        let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns into the test host");
        std::net::TcpListener::bind(&addr).unwrap_or_else(|e| panic!("binding {addr} in {netns}: {e}"))
    })
    .join()
    .expect("the namespace thread")
}

pub async fn eventually(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// fake-github on its test host (not on this host, which runners may never reach); a
/// runner is offline 5 s after its last heartbeat.
pub async fn emulator_in_test_host() -> fake_github::Emulator {
    emulator_in_test_host_for(fake_github::Config::default().scope).await
}

/// [`emulator_in_test_host`] serving `scope`.
pub async fn emulator_in_test_host_for(scope: fake_github::ScopeConfig) -> fake_github::Emulator {
    let config = fake_github::Config {
        heartbeat_timeout: Duration::from_secs(5),
        scope,
        ..fake_github::Config::default()
    };
    let (netns, ip) = GITHUB_HOST;
    fake_github::Emulator::start_on(config, listen_in(netns, &format!("{ip}:0"))).expect("emulator on its test host")
}

/// POSTs to fake-github's `/_emulator{path}` and returns the status.
pub async fn emulator_admin(emulator: &fake_github::Emulator, path: impl AsRef<str>) -> u16 {
    let url = format!("{}/_emulator{}", emulator.base_url, path.as_ref());
    reqwest::Client::new()
        .post(url)
        .send()
        .await
        .expect("admin API")
        .status()
        .as_u16()
}

/// LXD's answer to `GET path` as JSON, exactly as the daemon gives it (its `metadata`).
pub async fn lxd_raw(lxd: &LxdClient, path: &str) -> Value {
    let http = reqwest::Client::builder()
        .unix_socket(lxd.socket())
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let response = http.get(format!("http://lxd{path}")).send().await.expect("LXD answers");
    // A missing object would compare equal to another missing one: it must be there.
    assert_eq!(response.status(), 200, "GET {path}");
    let body: Value = response.json().await.expect("JSON");
    body["metadata"].clone()
}

/// Where the LXD daemon keeps an instance's logs (its `exec-output/` among them): Debian's
/// package's or the snap's.
pub fn lxd_log_dir(instance: &str) -> PathBuf {
    let snap = Path::new("/var/snap/lxd/common/lxd/logs");
    let base = if snap.is_dir() { snap } else { Path::new("/var/log/lxd") };
    base.join(instance)
}

/// The bytes of every file under `dir` (0 when it does not exist).
pub fn bytes_under(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => stack.push(entry.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// `PATCH path` with `body` on the daemon (e.g. to age an instance's creation stamp).
pub async fn lxd_patch(lxd: &LxdClient, path: &str, body: Value) {
    let http = reqwest::Client::builder()
        .unix_socket(lxd.socket())
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let response = http
        .patch(format!("http://lxd{path}"))
        .json(&body)
        .send()
        .await
        .expect("LXD answers");
    assert_eq!(response.status(), 200, "PATCH {path}: {:?}", response.text().await);
}

/// The names of the LXD objects of `github-runner` in the model `model_uuid`.
pub fn names_in(model_uuid: &str) -> Names {
    Names::for_unit(&github_runner::unit::UnitName::parse("github-runner/0", model_uuid).expect("a unit name"))
}

/// The names the tests that set LXD up themselves (no fake-juju model) use.
pub fn direct_names() -> Names {
    names_in("direct-test-model")
}

/// Every IPv4 address of this host but loopback.
pub fn host_addresses() -> Vec<std::net::Ipv4Addr> {
    github_runner::host::net::addresses()
        .expect("addresses")
        .into_iter()
        .map(|a| a.address)
        .filter(|a| !a.is_loopback())
        .collect()
}

/// The host's address on the LXD network `name` and its prefix (`ipv4.address`).
pub async fn network_address(lxd: &LxdClient, name: &str) -> (std::net::Ipv4Addr, u8) {
    let network = lxd.network(name).await.expect("asked").expect("the network");
    let (address, prefix) = network.config["ipv4.address"].split_once('/').expect("address/prefix");
    (address.parse().expect("an address"), prefix.parse().expect("a prefix"))
}
