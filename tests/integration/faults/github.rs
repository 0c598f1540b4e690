//! GitHub failing every call type (list, JIT, registration token, delete, groups) twice in a
//! row, or hanging on it, while the unit scales up and down.

use std::time::Duration;

use fake_github::Fault;

use super::{Row, Scene};
use crate::common::stack::blocking;
use crate::common::Juju;

const CALLS: [(&str, &str); 5] = [
    ("GET", "/actions/runners"),
    ("POST", "generate-jitconfig"),
    ("POST", "registration-token"),
    ("DELETE", "/actions/runners/"),
    ("GET", "runner-groups"),
];

/// Scales 2 → 3 → 1 → 2 with `faults` on.
fn scale_through(scene: &mut Scene, faults: impl Fn(&str, &str) -> Fault) {
    for (method, path) in CALLS {
        scene.s.emulator.world().faults.push(faults(method, path));
    }
    for n in [3, 1, 2] {
        scene.juju(&["config", "github-runner", &format!("virtual-machines={n}")]);
    }
}

/// A row with GitHub answering `status` (of `kind`, a rate limit) twice on every call type.
/// The charm's backoff starts at 50 ms here (500 ms in production,
/// GITHUB_RUNNER_GITHUB_RETRY_DELAY is the tests' seam); a `Retry-After` is waited in full.
async fn failing(label: &str, status: u16, kind: Option<&str>) {
    let Some(row) = Row::start().await else { return };
    let quick = |j: &mut Juju| j.env.push(("GITHUB_RUNNER_GITHUB_RETRY_DELAY".into(), "0.05".into()));
    let mut scene = Scene::with(&row.lxd, 2, true, quick).await;
    scale_through(&mut scene, |method, path| {
        let fault = Fault::on(method, path).times(2).status(status);
        match kind {
            Some(kind) => fault.kind(kind).retry_after(1),
            None => fault,
        }
    });
    let figures = row.figures(scene).await;
    row.end(label, figures).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_500_on_every_call_type_leaves_no_orphan_and_no_killed_job() {
    failing("GitHub 500 on every call type", 500, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_502_on_every_call_type_leaves_no_orphan_and_no_killed_job() {
    failing("GitHub 502 on every call type", 502, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_s_primary_rate_limit_used_up_leaves_no_orphan_and_no_killed_job() {
    failing("GitHub 429 (primary limit used up)", 429, Some("primary")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_s_secondary_rate_limit_leaves_no_orphan_and_no_killed_job() {
    failing("GitHub 403 secondary rate limit", 403, Some("secondary")).await;
}

/// GitHub hanging on every call type for longer than the charm waits (1 s here; 30 s in
/// production, GITHUB_RUNNER_GITHUB_TIMEOUT is the tests' seam).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_timing_out_on_every_call_type_leaves_no_orphan_and_no_killed_job() {
    let Some(row) = Row::start().await else { return };
    let timeout = |j: &mut Juju| {
        j.env.push(("GITHUB_RUNNER_GITHUB_TIMEOUT".into(), "1".into()));
        j.env.push(("GITHUB_RUNNER_GITHUB_RETRY_DELAY".into(), "0.05".into()));
    };
    let mut scene = Scene::with(&row.lxd, 2, true, timeout).await;
    scale_through(&mut scene, |method, path| {
        Fault::on(method, path).times(2).delay(Duration::from_secs(2))
    });
    let log = blocking(|| scene.s.juju.debug_log());
    assert!(log.contains("no answer from GitHub"), "the hangs timed out: {log}");
    let figures = row.figures(scene).await;
    row.end("GitHub timing out on every call type", figures).await;
}
