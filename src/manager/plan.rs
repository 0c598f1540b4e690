//! Decides what reconcile and flush must do, from a snapshot of what exists.
//!
//! Owns every rule: who is healthy, who is idle, what to remove, how many to create, what
//! never to touch. No I/O here: no clock, no network, no LXD. `act` carries a [`Plan`] out.
//!
//! The original's rules, kept: unhealthy runners are replaced; the target counts healthy
//! runners (a local instance whose runner process lives, whatever GitHub says yet); scale-down
//! removes only runners GitHub shows online and idle; the delta returned is `target − healthy`.
//! Fixed: a busy runner is never removed by reconcile, not even an unhealthy one (GitHub may
//! still be finishing its job); this unit's registrations that have no instance, are offline
//! and not busy (orphans: a creation that died half way, a runner GitHub never saw leave) are
//! deleted, by reconcile and by flush.

/// What GitHub says about one runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GithubSide {
    pub id: u64,
    pub online: bool,
    pub busy: bool,
}

/// What the unit's LXD says about one runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalSide {
    /// The instance runs and its runner process lives.
    pub healthy: bool,
}

/// One runner name of this unit, seen from both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub name: String,
    pub local: Option<LocalSide>,
    pub github: Option<GithubSide>,
}

impl Observed {
    pub fn busy(&self) -> bool {
        self.github.is_some_and(|g| g.busy)
    }

    pub fn healthy(&self) -> bool {
        self.local.is_some_and(|l| l.healthy)
    }
}

/// Why a runner goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Its instance is stopped or its runner process died.
    Unhealthy,
    /// More runners than the target.
    ScaleDown,
    /// A registration with no instance, offline and idle.
    Orphan,
    Flush,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub name: String,
    /// Whether there is an instance to delete.
    pub local: bool,
    pub github_id: Option<u64>,
    pub reason: Reason,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub remove: Vec<Removal>,
    pub create: usize,
    /// `target − healthy`, the original's meaning.
    pub delta: i64,
}

fn removal(runner: &Observed, reason: Reason) -> Removal {
    Removal {
        name: runner.name.clone(),
        local: runner.local.is_some(),
        github_id: runner.github.map(|g| g.id),
        reason,
    }
}

/// Orphans: registrations of this unit with no instance, offline and not busy.
fn orphans(snapshot: &[Observed]) -> impl Iterator<Item = Removal> + '_ {
    snapshot
        .iter()
        .filter(|r| r.local.is_none() && r.github.is_some_and(|g| !g.online && !g.busy))
        .map(|r| removal(r, Reason::Orphan))
}

/// What reconcile does to reach `target` healthy runners.
pub fn reconcile(snapshot: &[Observed], target: usize) -> Plan {
    let mut remove: Vec<Removal> = snapshot
        .iter()
        .filter(|r| r.local.is_some() && !r.healthy() && !r.busy())
        .map(|r| removal(r, Reason::Unhealthy))
        .collect();
    remove.extend(orphans(snapshot));
    let healthy: Vec<&Observed> = snapshot.iter().filter(|r| r.healthy()).collect();
    let delta = target as i64 - healthy.len() as i64;
    let mut create = 0;
    if delta > 0 {
        create = delta as usize;
    } else if delta < 0 {
        let mut idle: Vec<&&Observed> = healthy
            .iter()
            .filter(|r| r.github.is_some_and(|g| g.online && !g.busy))
            .collect();
        // Deterministic: the same snapshot always removes the same runners.
        idle.sort_by(|a, b| a.name.cmp(&b.name));
        remove.extend(
            idle.into_iter()
                .take(delta.unsigned_abs() as usize)
                .map(|r| removal(r, Reason::ScaleDown)),
        );
    }
    Plan { remove, create, delta }
}

/// What flush removes: every runner with an instance (busy ones only with `flush_busy`), and
/// the orphans. It creates nothing; the caller reconciles after.
pub fn flush(snapshot: &[Observed], flush_busy: bool) -> Plan {
    let mut remove: Vec<Removal> = snapshot
        .iter()
        .filter(|r| r.local.is_some() && (flush_busy || !r.busy()))
        .map(|r| removal(r, Reason::Flush))
        .collect();
    remove.extend(orphans(snapshot));
    Plan {
        remove,
        create: 0,
        delta: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn runner(name: &str, local: Option<bool>, github: Option<(bool, bool)>) -> Observed {
        Observed {
            name: name.into(),
            local: local.map(|healthy| LocalSide { healthy }),
            github: github.map(|(online, busy)| GithubSide {
                id: name.len() as u64,
                online,
                busy,
            }),
        }
    }

    #[test]
    fn missing_runners_are_created_and_the_delta_is_target_minus_healthy() {
        let snapshot = [runner("a", Some(true), Some((true, false)))];
        let plan = reconcile(&snapshot, 3);
        assert_eq!((plan.create, plan.delta), (2, 2));
        assert!(plan.remove.is_empty());
    }

    #[test]
    fn unhealthy_runners_are_replaced_but_never_a_busy_one() {
        let snapshot = [
            runner("dead", Some(false), Some((false, false))),
            runner("busy-dead", Some(false), Some((true, true))),
        ];
        let plan = reconcile(&snapshot, 1);
        assert_eq!(
            plan.remove.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["dead"]
        );
        assert_eq!(plan.remove[0].reason, Reason::Unhealthy);
        assert_eq!(plan.create, 1);
    }

    #[test]
    fn scale_down_takes_only_online_idle_runners() {
        let snapshot = [
            runner("b1", Some(true), Some((true, true))),
            runner("b2", Some(true), Some((true, true))),
            runner("i1", Some(true), Some((true, false))),
            runner("starting", Some(true), None),
        ];
        let plan = reconcile(&snapshot, 1);
        assert_eq!(plan.delta, -3);
        assert_eq!(plan.remove.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["i1"]);
    }

    #[test]
    fn offline_idle_registrations_without_an_instance_are_orphans() {
        let snapshot = [
            runner("orphan", None, Some((false, false))),
            runner("elsewhere", None, Some((true, false))),
        ];
        let plan = reconcile(&snapshot, 0);
        assert_eq!(
            plan.remove,
            [Removal {
                name: "orphan".into(),
                local: false,
                github_id: Some(6),
                reason: Reason::Orphan
            }]
        );
    }

    #[test]
    fn flush_spares_busy_runners_unless_told_otherwise() {
        let snapshot = [
            runner("busy", Some(true), Some((true, true))),
            runner("idle", Some(true), Some((true, false))),
        ];
        assert_eq!(flush(&snapshot, false).remove.len(), 1);
        assert_eq!(flush(&snapshot, true).remove.len(), 2);
    }

    fn arb_runner() -> impl Strategy<Value = Observed> {
        (
            0u32..1000,
            proptest::option::of(any::<bool>()),
            proptest::option::of((any::<bool>(), any::<bool>())),
        )
            .prop_filter("a runner is seen on at least one side", |(_, local, github)| {
                local.is_some() || github.is_some()
            })
            .prop_map(|(n, local, github)| runner(&format!("r{n}"), local, github))
    }

    fn arb_snapshot() -> impl Strategy<Value = Vec<Observed>> {
        proptest::collection::vec(arb_runner(), 0..30).prop_map(|mut v| {
            v.sort_by(|a, b| a.name.cmp(&b.name));
            v.dedup_by(|a, b| a.name == b.name);
            v
        })
    }

    /// What the world looks like after a plan is carried out and an interval passes: removed
    /// runners are gone, new ones are healthy; a healthy runner has registered and is online;
    /// busy runners may have finished (they then vanish, as ephemeral runners do).
    fn apply(snapshot: &[Observed], plan: &Plan, next: &mut u32, finished: &[bool]) -> Vec<Observed> {
        let mut world: Vec<Observed> = snapshot
            .iter()
            .enumerate()
            .filter(|(_, r)| !plan.remove.iter().any(|x| x.name == r.name))
            .filter(|(i, r)| !(r.busy() && finished.get(*i).copied().unwrap_or(false)))
            .map(|(_, r)| {
                let mut r = r.clone();
                if r.healthy() {
                    let id = r.github.map_or(r.name.len() as u64, |g| g.id);
                    r.github = Some(GithubSide {
                        id,
                        online: true,
                        busy: r.busy(),
                    });
                }
                r
            })
            .collect();
        for _ in 0..plan.create {
            *next += 1;
            world.push(runner(&format!("new{next}"), Some(true), Some((true, false))));
        }
        world
    }

    proptest! {
        #[test]
        fn reconcile_never_removes_a_busy_runner(snapshot in arb_snapshot(), target in 0usize..20) {
            let plan = reconcile(&snapshot, target);
            for removal in &plan.remove {
                let runner = snapshot.iter().find(|r| r.name == removal.name).expect("planned from the snapshot");
                prop_assert!(!runner.busy(), "{} is busy", runner.name);
            }
        }

        #[test]
        fn reconcile_never_plans_more_than_the_target(snapshot in arb_snapshot(), target in 0usize..20) {
            let plan = reconcile(&snapshot, target);
            let healthy_left = snapshot.iter().filter(|r| r.healthy() && !plan.remove.iter().any(|x| x.name == r.name)).count();
            prop_assert!(plan.create <= target);
            prop_assert!(healthy_left + plan.create <= target.max(healthy_left));
            if plan.create > 0 {
                prop_assert_eq!(healthy_left + plan.create, target);
            }
        }

        #[test]
        fn repeated_reconciles_converge_on_the_target(
            snapshot in arb_snapshot(),
            target in 0usize..20,
            finished in proptest::collection::vec(any::<bool>(), 30),
        ) {
            let mut world = snapshot;
            let mut next = 0;
            // Jobs finish during the first rounds; then the world settles and reconcile catches up.
            for round in 0..5 {
                let plan = reconcile(&world, target);
                let finishing: &[bool] = if round < 3 { &finished } else { &[] };
                world = apply(&world, &plan, &mut next, finishing);
            }
            let healthy = world.iter().filter(|r| r.healthy()).count();
            let busy_healthy = world.iter().filter(|r| r.healthy() && r.busy()).count();
            // Exactly the target, unless busy runners alone hold it above: they are never killed.
            prop_assert!(healthy == target || (healthy > target && healthy - target <= busy_healthy), "healthy {healthy}, target {target}");
            prop_assert!(world.iter().all(|r| r.local.is_some() || r.github.is_some_and(|g| g.online || g.busy)), "no orphan left");
            let last = reconcile(&world, target);
            prop_assert_eq!(last.create, 0);
        }

        #[test]
        fn flush_removes_every_idle_instance_and_never_a_busy_one_unless_asked(snapshot in arb_snapshot()) {
            let plan = flush(&snapshot, false);
            for runner in &snapshot {
                let removed = plan.remove.iter().any(|x| x.name == runner.name);
                if runner.local.is_some() {
                    prop_assert_eq!(removed, !runner.busy());
                }
            }
        }
    }
}
