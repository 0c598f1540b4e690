//! Faults on the unit's machine: runners a job broke, a corrupt state file, a RAM disk in use
//! while the pool shrinks, `stop` while a reconcile waits, a reboot, and the LXD daemon
//! restarted while the charm creates runners.

use std::time::Duration;

use fake_github::Fault;

use super::Row;
use crate::common;
use crate::common::stack::blocking;

/// Three idle runners a job broke, and the busy one's job (with sudo) made every `timeout` and
/// `sh` print forever on both streams: the probes of every reconcile write nothing on the
/// host, and none of them is left running after its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runners_without_sh_with_a_fifo_pid_a_hanging_exec_or_a_flood_are_handled_and_the_busy_one_kept() {
    let Some(row) = Row::start().await else { return };
    let mut scene = row.scene(4, true).await;
    let busy = scene.busy.clone().expect("a busy runner");
    let names: Vec<String> = scene.s.instances().await.into_iter().filter(|n| *n != busy).collect();
    let flood = "mkdir -p /usr/local/bin && for tool in timeout sh; do \
        printf '#!/bin/busybox sh\\n/bin/busybox yes flood >&2 &\\nexec /bin/busybox yes flood\\n' > /usr/local/bin/$tool \
        && chmod +x /usr/local/bin/$tool; done";
    for (name, script) in names.iter().chain([&busy]).zip([
        "rm /bin/sh /bin/busybox",
        "rm -f /run/github-runner.pid && mkfifo /run/github-runner.pid",
        "rm -f /usr/bin/timeout && printf '#!/bin/busybox sh\\nexec /bin/busybox sleep 1000\\n' > /usr/bin/timeout && chmod +x /usr/bin/timeout",
        flood,
    ]) {
        let out = row.lxd.exec(name, &["/bin/sh", "-c", script], &Default::default()).await.expect("exec");
        assert!(out.success(), "{script}: {}", out.stderr);
    }
    scene.juju(&["tick"]);
    let figures = scene.measure(&row.bystander).await;
    let log = blocking(|| scene.s.juju.debug_log());
    assert!(
        log.contains(&format!("runner {busy}: the health probe failed")) && log.contains("printed more than"),
        "the busy runner's probes met the flood and gave up: {log}"
    );
    let logs = common::lxd_log_dir(&busy);
    let bytes = common::bytes_under(&logs);
    assert!(
        bytes < 1 << 20,
        "3 reconciles' probes of a flooding runner left {bytes} bytes in {}",
        logs.display()
    );
    let running = row.lxd.running_operations_on(&busy).await.expect("operations");
    assert!(
        running.is_empty(),
        "the probes given up on still run in LXD: {running:?}"
    );
    scene.end().await;
    row.end(
        "runners without sh, with a FIFO pid, with a hanging exec; a busy one flooding its probes",
        figures,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_state_file_leaves_no_orphan_and_no_killed_job() {
    let Some(row) = Row::start().await else { return };
    let mut scene = row.scene(2, true).await;
    let state = scene
        .s
        .juju
        .root()
        .join("var/lib/github-runner/github-runner-0/state.json");
    std::fs::write(&state, "{\"path\": \"test-org\", \"tok").expect("corrupted");
    scene.juju(&["config", "github-runner", "virtual-machines=3"]);
    let figures = row.figures(scene).await;
    row.end("a corrupt state.json", figures).await;
}

/// Scale 5 → 1 while the runners fill the RAM disk past the new size: the runners go first,
/// then the disk shrinks (at the latest on the next reconcile).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_down_with_the_ram_disk_in_use_removes_runners_first_then_shrinks_it() {
    let Some(row) = Row::start().await else { return };
    let mut scene = row.scene(5, true).await;
    for name in scene.s.instances().await {
        let fill = ["dd", "if=/dev/zero", "of=/fill", "bs=1M", "count=20"];
        let out = row.lxd.exec(&name, &fill, &Default::default()).await.expect("exec");
        assert!(out.success(), "filling {name}: {}", out.stderr);
    }
    scene.juju(&["config", "github-runner", "virtual-machines=1"]);
    scene.juju(&["tick"]);
    let ram = scene
        .s
        .juju
        .root()
        .join(scene.s.juju.names().ram_disk.trim_start_matches('/'));
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
    let figures = row.figures(scene).await;
    row.end("scale 5 → 1 with the RAM disk in use", figures).await;
}

/// `stop` while a reconcile waits for the machine lock: the reconcile that runs after it
/// creates nothing (no busy runner: `stop` removes busy ones too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconcile_that_waited_for_stop_s_lock_creates_nothing() {
    let Some(row) = Row::start().await else { return };
    let mut scene = row.scene(2, false).await;
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
    let figures = row.figures(scene).await;
    row.end("`stop` while a reconcile waits", figures).await;
}

/// A reboot: every runner stopped (a reboot ends their jobs: no busy one here), the RAM disk
/// gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_reboot_the_ram_disk_and_the_runners_come_back() {
    let Some(row) = Row::start().await else { return };
    let mut scene = row.scene(2, false).await;
    for name in scene.s.instances().await {
        let _ = row.lxd.stop_instance(&name, Duration::from_secs(5)).await;
    }
    let _ = std::process::Command::new("umount")
        .arg(
            scene
                .s
                .juju
                .root()
                .join(scene.s.juju.names().ram_disk.trim_start_matches('/')),
        )
        .status();
    scene.juju(&["tick"]);
    let figures = row.figures(scene).await;
    row.end("a reboot (runners stopped, RAM disk remounted empty)", figures)
        .await;
}

/// The LXD daemon killed and started again while the charm creates runners (as a crash, or a
/// snap refresh, restarts it): the hook's LXD calls fail half way; instances live on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lxd_daemon_restarted_mid_create_leaves_no_orphan_and_no_killed_job() {
    let Some(row) = Row::start().await else { return };
    let mut scene = row.scene(1, true).await;
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
    let figures = row.figures(scene).await;
    row.end("the LXD daemon killed and restarted mid-create", figures).await;
}
