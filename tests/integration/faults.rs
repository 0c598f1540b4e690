//! The fault suite: the real charm under fake-juju, real LXD, fake-github, and one fault per
//! row. After each fault, two clean reconciles, then the figures that must all be 0:
//! orphans (instances without a registration and registrations without an instance),
//! busy runners killed, runners of others touched (another model's registration, a bystander
//! instance), hooks that exited non-zero (the killed ones aside), and the token seen in the
//! debug log, the status or a file of the unit. `cargo test --test faults -- --nocapture`
//! prints the table (README, "Fault suite").

use crate::common;
use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::stack::{blocking, Stack};
use crate::common::Juju;
use fake_github::{Fault, NewRunner};
use github_runner::lxd::LxdClient;

const PAT: &str = "ghp_emulatortoken";
/// kill -9 rounds per kind (reconcile, flush).
const KILLS: usize = 10;

#[derive(Debug, Default)]
struct Figures {
    orphans: usize,
    busy_killed: usize,
    others_touched: usize,
    bad_exits: usize,
    token_seen: usize,
}

/// Another model's unit with the same application and unit names on the same organisation:
/// its runners (on its own machine) booting, idle and busy.
const OTHER_MODEL: [&str; 3] = [
    "github-runner-0-00000000-cafecafe",
    "github-runner-0-00000000-0dd1d1e0",
    "github-runner-0-00000000-b0b0b0b0",
];

/// One row's world: a deployed unit with a busy runner, another model's registrations and a
/// bystander instance that are not the unit's.
struct Scene {
    s: Stack,
    busy: Option<String>,
    other_model: Vec<u64>,
    bad_exits: usize,
}

impl Scene {
    async fn new(lxd: &LxdClient, runners: u32, with_busy: bool) -> Scene {
        Scene::with(lxd, runners, with_busy, |_| {}).await
    }

    /// [`Scene::new`] with the unit set up by `customize` before it is deployed.
    async fn with(lxd: &LxdClient, runners: u32, with_busy: bool, customize: impl FnOnce(&mut Juju)) -> Scene {
        let s = Stack::deploy_with(lxd.clone(), runners, &[], customize).await;
        s.settle(runners as usize).await;
        let busy = match with_busy {
            true => {
                let name = s.instances().await.into_iter().next().expect("a runner");
                let id = s.id_of(&name);
                assert_eq!(s.admin(&format!("/runners/{id}/job")).await, 200);
                Some(name)
            }
            false => None,
        };
        let other_model: Vec<u64> = {
            let mut world = s.emulator.world();
            let ids: Vec<u64> = OTHER_MODEL
                .iter()
                .map(|name| world.add_runner(NewRunner::named(*name)).expect("seeded"))
                .collect();
            for (i, id) in ids.iter().enumerate().skip(1) {
                let runner = world.runners.get_mut(id).expect("seeded");
                runner.pinned_online = true;
                runner.busy = i == 2;
            }
            ids
        };
        Scene {
            s,
            busy,
            other_model,
            bad_exits: 0,
        }
    }

    /// Runs `fake-juju args`; a non-zero exit (a hook that failed) is counted.
    fn juju(&mut self, args: &[&str]) {
        if !blocking(|| self.s.juju.run(args)).status.success() {
            self.bad_exits += 1;
        }
    }

    /// Two clean reconciles, then the figures.
    async fn figures(mut self, bystander: &str) -> Figures {
        self.s.emulator.world().faults.clear();
        self.juju(&["tick"]);
        self.juju(&["tick"]);
        let instances = self.s.instances().await;
        let registered: BTreeSet<String> = self
            .s
            .registered()
            .iter()
            .filter_map(|r| r["name"].as_str().map(String::from))
            .filter(|n| !OTHER_MODEL.contains(&n.as_str()))
            .collect();
        let orphans = instances.symmetric_difference(&registered).count();
        let busy_killed = self.busy.as_ref().is_some_and(|b| !instances.contains(b)) as usize;
        let mut others_touched = {
            let world = self.s.emulator.world();
            self.other_model
                .iter()
                .filter(|id| !world.runners.contains_key(id))
                .count()
        };
        if self.s.lxd.instance(bystander).await.expect("asked").is_none() {
            others_touched += 1;
        }
        let log = blocking(|| self.s.juju.debug_log());
        let status = format!("{:?}", blocking(|| self.s.juju.unit_status()));
        let files = files_under(&self.s.juju.root().join("etc"))
            .into_iter()
            .chain(files_under(&self.s.juju.root().join("var/log")));
        let token_seen =
            log.contains(PAT) as usize + status.contains(PAT) as usize + files.filter(|t| t.contains(PAT)).count();
        if let Some(busy) = &self.busy {
            self.s.finish_job_on(busy).await;
        }
        self.s.remove();
        Figures {
            orphans,
            busy_killed,
            others_touched,
            bad_exits: self.bad_exits,
            token_seen,
        }
    }
}

fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_leaves_no_orphan_no_killed_job_no_touched_neighbour_and_no_token() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let bystander = common::unique("gh-test-bystander");
    lxd.create_instance(&common::container(&bystander, common::TEST_IMAGE))
        .await
        .expect("bystander");
    let mut rows: Vec<(String, Figures)> = Vec::new();

    // kill -9 of the charm at points spread over a reconcile (scale up) and a flush of idle
    // runners (upgrade-charm), slowed by slow registrations so that the kill lands inside.
    for (kind, args) in [
        (
            "kill -9 during reconcile",
            &["config", "github-runner", "virtual-machines=4"][..],
        ),
        (
            "kill -9 during flush (upgrade-charm)",
            &["refresh", "github-runner"][..],
        ),
    ] {
        let (mut total, mut killed) = (Figures::default(), 0);
        for round in 0..KILLS {
            let mut scene = Scene::new(&lxd, 2, true).await;
            let slow = Fault::on("POST", "generate-jitconfig")
                .times(10)
                .delay(Duration::from_millis(300));
            scene.s.emulator.world().faults.push(slow);
            let (started, after) = (std::time::Instant::now(), Duration::from_millis(150 * round as u64));
            if blocking(|| scene.s.kill_hook_when(args, || started.elapsed() >= after)) {
                killed += 1;
                // The killed hook is in error, as Juju would have it; the operator resolves.
                scene.juju(&["resolved", "github-runner/0", "--no-retry"]);
            }
            let f = scene.figures(&bystander).await;
            total.orphans += f.orphans;
            total.busy_killed += f.busy_killed;
            total.others_touched += f.others_touched;
            total.bad_exits += f.bad_exits;
            total.token_seen += f.token_seen;
        }
        rows.push((format!("{kind} ({KILLS} rounds, {killed} killed mid-hook)"), total));
    }

    // GitHub failing every call type (list, JIT, registration token, delete, downloads,
    // groups) twice in a row, while the unit scales up and down.
    let calls = [
        ("GET", "/actions/runners"),
        ("POST", "generate-jitconfig"),
        ("POST", "registration-token"),
        ("DELETE", "/actions/runners/"),
        ("GET", "runner-groups"),
    ];
    for (label, status, kind) in [
        ("GitHub 500 on every call type", 500, None),
        ("GitHub 502 on every call type", 502, None),
        ("GitHub 429 (primary limit used up)", 429, Some("primary")),
        ("GitHub 403 secondary rate limit", 403, Some("secondary")),
    ] {
        let mut scene = Scene::new(&lxd, 2, true).await;
        for (method, path) in calls {
            let mut fault = Fault::on(method, path).times(2).status(status);
            if let Some(kind) = kind {
                fault = fault.kind(kind).retry_after(1);
            }
            scene.s.emulator.world().faults.push(fault);
        }
        scene.juju(&["config", "github-runner", "virtual-machines=3"]);
        scene.juju(&["config", "github-runner", "virtual-machines=1"]);
        scene.juju(&["config", "github-runner", "virtual-machines=2"]);
        rows.push((label.into(), scene.figures(&bystander).await));
    }

    // GitHub hanging on every call type for longer than the charm waits (2 s here; 30 s in
    // production, GITHUB_RUNNER_GITHUB_TIMEOUT is the tests' seam).
    let timeout = |j: &mut Juju| j.env.push(("GITHUB_RUNNER_GITHUB_TIMEOUT".into(), "2".into()));
    let mut scene = Scene::with(&lxd, 2, true, timeout).await;
    for (method, path) in calls {
        let hang = Fault::on(method, path).times(2).delay(Duration::from_secs(4));
        scene.s.emulator.world().faults.push(hang);
    }
    scene.juju(&["config", "github-runner", "virtual-machines=3"]);
    scene.juju(&["config", "github-runner", "virtual-machines=1"]);
    scene.juju(&["config", "github-runner", "virtual-machines=2"]);
    let log = blocking(|| scene.s.juju.debug_log());
    assert!(log.contains("no answer from GitHub"), "the hangs timed out: {log}");
    rows.push((
        "GitHub timing out on every call type".into(),
        scene.figures(&bystander).await,
    ));

    // Runners a job broke: no shell, a FIFO pid file, an exec that hangs.
    let mut scene = Scene::new(&lxd, 4, true).await;
    let names: Vec<String> = scene
        .s
        .instances()
        .await
        .into_iter()
        .filter(|n| Some(n) != scene.busy.as_ref())
        .collect();
    for (name, script) in names.iter().zip([
        "rm /bin/sh /bin/busybox",
        "rm -f /run/github-runner.pid && mkfifo /run/github-runner.pid",
        "rm -f /usr/bin/timeout && printf '#!/bin/busybox sh\\nexec /bin/busybox sleep 1000\\n' > /usr/bin/timeout && chmod +x /usr/bin/timeout",
    ]) {
        let out = lxd.exec(name, &["sh", "-c", script], &Default::default()).await.expect("exec");
        assert!(out.success(), "{script}: {}", out.stderr);
    }
    scene.juju(&["tick"]);
    rows.push((
        "runners without sh, with a FIFO pid, with a hanging exec".into(),
        scene.figures(&bystander).await,
    ));

    // A corrupt state file.
    let mut scene = Scene::new(&lxd, 2, true).await;
    let state = scene
        .s
        .juju
        .root()
        .join("var/lib/github-runner/github-runner-0/state.json");
    std::fs::write(&state, "{\"path\": \"test-org\", \"tok").expect("corrupted");
    scene.juju(&["config", "github-runner", "virtual-machines=3"]);
    rows.push(("a corrupt state.json".into(), scene.figures(&bystander).await));

    // Scale 5 → 1 while the runners fill the RAM disk past the new size: the runners go
    // first, then the disk shrinks (at the latest on the next reconcile).
    let mut scene = Scene::new(&lxd, 5, true).await;
    for name in scene.s.instances().await {
        let fill = ["dd", "if=/dev/zero", "of=/fill", "bs=1M", "count=20"];
        let out = lxd.exec(&name, &fill, &Default::default()).await.expect("exec");
        assert!(out.success(), "filling {name}: {}", out.stderr);
    }
    scene.juju(&["config", "github-runner", "virtual-machines=1"]);
    scene.juju(&["tick"]);
    let ram = scene.s.juju.root().join("storage/ram");
    let size = blocking(|| {
        std::process::Command::new("df")
            .args(["-k", "--output=size"])
            .arg(&ram)
            .output()
    });
    let kib: u64 = String::from_utf8_lossy(&size.expect("df").stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("a size");
    assert!(
        kib <= 2 * 64 * 1024,
        "the RAM disk shrank to the runners left: {kib} KiB"
    );
    rows.push((
        "scale 5 → 1 with the RAM disk in use".into(),
        scene.figures(&bystander).await,
    ));

    // `stop` while a reconcile waits for the machine lock: the reconcile that runs after it
    // creates nothing (no busy runner: `stop` removes busy ones too).
    let mut scene = Scene::new(&lxd, 2, false).await;
    scene.juju(&["run-hook", "github-runner/0", "stop"]);
    let waited = blocking(|| {
        std::process::Command::new(scene.s.juju.model().join("tools/juju-exec"))
            .args([
                "github-runner/0",
                "JUJU_DISPATCH_PATH=hooks/reconcile-runners timeout 300 ./dispatch",
            ])
            .env("FAKE_JUJU_MODEL", scene.s.juju.model())
            .env_remove("JUJU_CONTEXT_ID")
            .status()
    });
    if !waited.is_ok_and(|w| w.success()) {
        scene.bad_exits += 1;
    }
    assert!(scene.s.instances().await.is_empty(), "no runner after `stop`");
    rows.push(("`stop` while a reconcile waits".into(), scene.figures(&bystander).await));

    // A reboot: every runner stopped (a reboot ends their jobs: no busy one here), the RAM
    // disk gone.
    let mut scene = Scene::new(&lxd, 2, false).await;
    for name in scene.s.instances().await {
        let _ = lxd.stop_instance(&name, Duration::from_secs(5)).await;
    }
    let _ = std::process::Command::new("umount")
        .arg(scene.s.juju.root().join("storage/ram"))
        .status();
    scene.juju(&["tick"]);
    rows.push((
        "a reboot (runners stopped, RAM disk remounted empty)".into(),
        scene.figures(&bystander).await,
    ));

    // The LXD daemon killed and started again while the charm creates runners (as a crash, or
    // a snap refresh, restarts it): the hook's LXD calls fail half way; instances live on.
    let mut scene = Scene::new(&lxd, 1, true).await;
    let slow = Fault::on("POST", "generate-jitconfig")
        .times(10)
        .delay(Duration::from_millis(500));
    scene.s.emulator.world().faults.push(slow);
    let setup = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lxd-setup.sh");
    let restart = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        let pid = std::fs::read_to_string("/run/lxd-test/lxd.pid").unwrap_or_default();
        let killed = std::process::Command::new("kill").args(["-KILL", pid.trim()]).status();
        std::thread::sleep(Duration::from_millis(300));
        let started = std::process::Command::new(&setup).arg("start").output();
        (
            killed.is_ok_and(|k| k.success()),
            started.is_ok_and(|s| s.status.success()),
        )
    });
    scene.juju(&["config", "github-runner", "virtual-machines=4"]);
    let (killed, started) = blocking(|| restart.join().expect("the restart thread"));
    assert!(killed && started, "LXD was killed and started again");
    rows.push((
        "the LXD daemon killed and restarted mid-create".into(),
        scene.figures(&bystander).await,
    ));

    let _ = lxd.stop_instance(&bystander, Duration::from_secs(5)).await;
    let _ = lxd.delete_instance(&bystander).await;
    println!("| fault | orphans | busy killed | others touched | failed hooks | token seen |");
    println!("|---|---|---|---|---|---|");
    for (name, f) in &rows {
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            f.orphans, f.busy_killed, f.others_touched, f.bad_exits, f.token_seen
        );
    }
    for (name, f) in &rows {
        assert_eq!(
            (f.orphans, f.busy_killed, f.others_touched, f.bad_exits, f.token_seen),
            (0, 0, 0, 0, 0),
            "{name}: {f:?}"
        );
    }
}
