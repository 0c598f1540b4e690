//! The fault suite: the real charm under fake-juju, real LXD, fake-github, and one fault per
//! row. After each fault, two clean reconciles, then the figures that must all be 0:
//! orphans (instances without a registration and registrations without an instance),
//! busy runners killed, runners of others touched (another model's registration, a bystander
//! instance), hooks that exited non-zero (the killed ones aside), and the token seen in the
//! debug log, the status or a file of the unit. One test a row; each prints its row of the
//! table (README, "Fault suite") with `cargo test --test integration faults:: -- --nocapture`:
//! - [`kills`]: kill -9 of the charm mid-reconcile and mid-flush, rounds on one deployed scene;
//! - [`github`]: GitHub failing or hanging on every call type;
//! - [`host`]: broken runners (one flooding its probes), a corrupt state, a RAM disk in use,
//!   `stop` under a waiting reconcile, a reboot, the LXD daemon restarted mid-create;
//! - [`lifetimes`]: a listener killed under a fake pid, runners past their maximum age;
//! - [`watcher`]: the elastic pool's watcher with GitHub down, killed mid-reconcile, flooded.

mod github;
mod host;
mod kills;
mod lifetimes;
mod watcher;

use std::collections::BTreeSet;
use std::time::Duration;

use fake_github::NewRunner;
use github_runner::lxd::LxdClient;
use tokio::sync::MutexGuard;

use crate::common;
use crate::common::stack::{blocking, Stack};
use crate::common::Juju;

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

impl std::ops::AddAssign for Figures {
    fn add_assign(&mut self, f: Figures) {
        self.orphans += f.orphans;
        self.busy_killed += f.busy_killed;
        self.others_touched += f.others_touched;
        self.bad_exits += f.bad_exits;
        self.token_seen += f.token_seen;
    }
}

/// One row of the suite: the LXD daemon to itself, and a bystander instance that is none of
/// the unit's.
struct Row {
    lxd: LxdClient,
    bystander: String,
    _one: MutexGuard<'static, ()>,
}

impl Row {
    /// `None` (the test skips) without LXD.
    async fn start() -> Option<Row> {
        let lxd = common::lxd().await?;
        let one = common::exclusive(&lxd).await;
        let bystander = common::unique("gh-test-bystander");
        lxd.create_instance(&common::container(&bystander, common::TEST_IMAGE))
            .await
            .expect("bystander");
        Some(Row {
            lxd,
            bystander,
            _one: one,
        })
    }

    async fn scene(&self, runners: u32, with_busy: bool) -> Scene {
        Scene::with(&self.lxd, runners, with_busy, |_| {}).await
    }

    /// Two clean reconciles, the figures, and the scene taken down.
    async fn figures(&self, mut scene: Scene) -> Figures {
        let figures = scene.measure(&self.bystander).await;
        scene.end().await;
        figures
    }

    /// Prints the row's line of the table and asserts every figure is 0.
    async fn end(self, name: &str, f: Figures) {
        let _ = self.lxd.stop_instance(&self.bystander, Duration::from_secs(5)).await;
        let _ = self.lxd.delete_instance(&self.bystander).await;
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            f.orphans, f.busy_killed, f.others_touched, f.bad_exits, f.token_seen
        );
        assert_eq!(
            (f.orphans, f.busy_killed, f.others_touched, f.bad_exits, f.token_seen),
            (0, 0, 0, 0, 0),
            "{name}: {f:?}"
        );
    }
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
    /// A scene of `runners`, one of them busy when `with_busy`, with the unit set up by
    /// `customize` before it is deployed.
    async fn with(lxd: &LxdClient, runners: u32, with_busy: bool, customize: impl FnOnce(&mut Juju)) -> Scene {
        Scene::configured(lxd, runners, &[], with_busy, customize).await
    }

    /// [`Scene::with`] with more options (`key=value`).
    async fn configured(
        lxd: &LxdClient,
        runners: u32,
        extra: &[&str],
        with_busy: bool,
        customize: impl FnOnce(&mut Juju),
    ) -> Scene {
        let s = Stack::deploy_with(lxd.clone(), runners, extra, customize).await;
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

    /// Two clean reconciles, then the figures since the last measure; the scene stays up.
    async fn measure(&mut self, bystander: &str) -> Figures {
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
        Figures {
            orphans,
            busy_killed,
            others_touched,
            bad_exits: std::mem::take(&mut self.bad_exits),
            token_seen,
        }
    }

    /// The busy runner's job finished, and the unit removed.
    async fn end(self) {
        if let Some(busy) = &self.busy {
            self.s.finish_job_on(busy).await;
        }
        self.s.remove();
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
