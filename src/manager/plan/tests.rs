//! The plan's rules, case by case and as properties over arbitrary snapshots.
use super::*;
use proptest::prelude::*;

fn runner(name: &str, local: Option<bool>, github: Option<(bool, bool)>) -> Observed {
    Observed {
        name: name.into(),
        local: local.map(|healthy| LocalSide {
            healthy,
            age: Age::New,
            age_secs: None,
        }),
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
    let plan = reconcile(&snapshot, Sizing::Fixed(3));
    assert_eq!((plan.create, plan.delta), (2, 2));
    assert!(plan.remove.is_empty());
}

#[test]
fn unhealthy_runners_are_replaced_but_never_a_busy_one() {
    let snapshot = [
        runner("dead", Some(false), Some((false, false))),
        runner("busy-dead", Some(false), Some((true, true))),
    ];
    let plan = reconcile(&snapshot, Sizing::Fixed(1));
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
        runner("registering", Some(true), Some((false, false))),
    ];
    let plan = reconcile(&snapshot, Sizing::Fixed(1));
    assert_eq!(plan.delta, -3);
    assert_eq!(plan.remove.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["i1"]);
}

#[test]
fn idle_registrations_without_an_instance_are_orphans_online_or_not_but_busy_ones_wait() {
    let snapshot = [
        runner("orphan", None, Some((false, false))),
        runner("rebooted", None, Some((true, false))),
        runner("finishing", None, Some((true, true))),
    ];
    let plan = reconcile(&snapshot, Sizing::Fixed(0));
    let orphan = |name: &str| Removal {
        name: name.into(),
        github_id: Some(name.len() as u64),
        reason: Reason::Orphan,
        kill_busy: false,
    };
    assert_eq!(plan.remove, [orphan("orphan"), orphan("rebooted")]);
}

#[test]
fn flush_spares_busy_runners_unless_told_otherwise() {
    let snapshot = [
        runner("busy", Some(true), Some((true, true))),
        runner("idle", Some(true), Some((true, false))),
    ];
    assert_eq!(flush(&snapshot, Flush::Idle).remove.len(), 1);
    assert_eq!(flush(&snapshot, Flush::All).remove.len(), 2);
}

#[test]
fn every_pairing_of_the_two_sides_has_a_named_verdict() {
    let cases = [
        (Some(true), None, Verdict::Replace(Reason::Unregistered)),
        (Some(true), Some((true, true)), Verdict::Keep),
        (Some(false), Some((true, true)), Verdict::Wait(Hold::Busy)),
        (Some(false), Some((false, false)), Verdict::Replace(Reason::Unhealthy)),
        (Some(false), None, Verdict::Replace(Reason::Unhealthy)),
        (None, Some((true, true)), Verdict::Wait(Hold::Busy)),
        (None, Some((true, false)), Verdict::Remove(Reason::Orphan)),
        (None, Some((false, false)), Verdict::Remove(Reason::Orphan)),
        (None, None, Verdict::Wait(Hold::Unseen)),
    ];
    for (local, github, expected) in cases {
        assert_eq!(verdict(&runner("r", local, github)), expected, "{local:?} {github:?}");
    }
}

#[test]
fn healthy_after_acting_counts_failed_scale_downs_and_successful_creations() {
    let snapshot = [
        runner("a", Some(true), Some((true, false))),
        runner("b", Some(true), Some((true, false))),
        runner("dead", Some(false), None),
    ];
    let down = reconcile(&snapshot, Sizing::Fixed(1));
    assert_eq!((down.healthy_kept, down.remove.len()), (1, 2));
    let unhealthy_only: Vec<Removal> = down
        .remove
        .iter()
        .filter(|r| r.reason == Reason::Unhealthy)
        .cloned()
        .collect();
    assert_eq!(down.healthy_after(&down.remove, 0), 1, "all removals done");
    assert_eq!(
        down.healthy_after(&unhealthy_only, 0),
        2,
        "the scale-down failed: b still runs"
    );
    let up = reconcile(&snapshot, Sizing::Fixed(4));
    assert!(up.needs_binary());
    assert_eq!(
        up.healthy_after(&up.remove, 1),
        3,
        "two kept, one of two creations made"
    );
    assert!(!reconcile(&snapshot[..2], Sizing::Fixed(2)).needs_binary());
}

fn arb_runner() -> impl Strategy<Value = Observed> {
    let age = prop_oneof![Just(Age::New), Just(Age::Grown), Just(Age::Expired)];
    (
        0u32..1000,
        proptest::option::of(any::<bool>()),
        proptest::option::of((any::<bool>(), any::<bool>())),
        age,
    )
        .prop_filter("a runner is seen on at least one side", |(_, local, github, _)| {
            local.is_some() || github.is_some()
        })
        .prop_map(|(n, local, github, age)| {
            let mut r = runner(&format!("r{n}"), local, github);
            if let Some(local) = &mut r.local {
                local.age = age;
            }
            r
        })
}

#[test]
fn a_grown_runner_github_shows_offline_is_replaced_and_a_new_one_waits_to_come_online() {
    let with_age = |name: &str, age, github| {
        let mut r = runner(name, Some(true), Some(github));
        r.local = Some(LocalSide {
            healthy: true,
            age,
            age_secs: None,
        });
        r
    };
    let snapshot = [
        with_age("booting", Age::New, (false, false)),
        with_age("listener-killed", Age::Grown, (false, false)),
        with_age("busy-offline", Age::Grown, (false, true)),
    ];
    let plan = reconcile(&snapshot, Sizing::Fixed(3));
    let removed: Vec<(&str, Reason)> = plan.remove.iter().map(|r| (r.name.as_str(), r.reason)).collect();
    assert_eq!(removed, [("listener-killed", Reason::Offline)]);
    assert_eq!(plan.create, 1, "a new one in its place");
}

#[test]
fn an_expired_runner_is_replaced_when_idle_and_kept_while_busy() {
    let expired = |name: &str, busy| {
        let mut r = runner(name, Some(true), Some((true, busy)));
        r.local = Some(LocalSide {
            healthy: true,
            age: Age::Expired,
            age_secs: None,
        });
        r
    };
    let plan = reconcile(&[expired("idle", false), expired("busy", true)], Sizing::Fixed(2));
    let removed: Vec<(&str, Reason)> = plan.remove.iter().map(|r| (r.name.as_str(), r.reason)).collect();
    assert_eq!(removed, [("idle", Reason::Expired)]);
    assert_eq!(plan.create, 1);
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
        let plan = reconcile(&snapshot, Sizing::Fixed(target));
        for removal in &plan.remove {
            let runner = snapshot.iter().find(|r| r.name == removal.name).expect("planned from the snapshot");
            prop_assert!(!runner.busy(), "{} is busy", runner.name);
            prop_assert!(!removal.kill_busy, "reconcile lets GitHub refuse a runner that became busy");
        }
    }

    #[test]
    fn reconcile_plans_exactly_the_target_unless_only_non_idle_runners_are_over_it(
        snapshot in arb_snapshot(),
        target in 0usize..20,
    ) {
        let plan = reconcile(&snapshot, Sizing::Fixed(target));
        let left: Vec<&Observed> = snapshot
            .iter()
            .filter(|r| r.healthy() && !plan.remove.iter().any(|x| x.name == r.name))
            .collect();
        prop_assert_eq!(left.len(), plan.healthy_kept);
        prop_assert!(left.len() + plan.create >= target, "planned under the target");
        if plan.create > 0 {
            prop_assert_eq!(left.len() + plan.create, target);
        }
        if left.len() > target {
            // Over the target only because what is left may not be scaled down.
            prop_assert_eq!(plan.create, 0);
            prop_assert!(left.iter().all(|r| !r.github.is_some_and(|g| g.online && !g.busy)));
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
            let plan = reconcile(&world, Sizing::Fixed(target));
            let finishing: &[bool] = if round < 3 { &finished } else { &[] };
            world = apply(&world, &plan, &mut next, finishing);
        }
        let healthy = world.iter().filter(|r| r.healthy()).count();
        let busy_healthy = world.iter().filter(|r| r.healthy() && r.busy()).count();
        // Exactly the target, unless busy runners alone hold it above: they are never killed.
        prop_assert!(healthy == target || (healthy > target && healthy - target <= busy_healthy), "healthy {healthy}, target {target}");
        prop_assert!(world.iter().all(|r| r.local.is_some() || r.github.is_some_and(|g| g.busy)), "no orphan left");
        let last = reconcile(&world, Sizing::Fixed(target));
        prop_assert_eq!(last.create, 0);
    }

    #[test]
    fn flush_removes_every_idle_instance_and_a_busy_one_only_when_asked(
        snapshot in arb_snapshot(),
        all in any::<bool>(),
    ) {
        let which = if all { Flush::All } else { Flush::Idle };
        let plan = flush(&snapshot, which);
        prop_assert_eq!(plan.create, 0);
        for runner in &snapshot {
            let removal = plan.remove.iter().find(|x| x.name == runner.name);
            let removed = removal.is_some();
            prop_assert_eq!(removal.is_some_and(|r| r.kill_busy), all && runner.local.is_some());
            if runner.local.is_some() {
                prop_assert_eq!(removed, all || !runner.busy(), "{:?}", runner);
            } else {
                // Without an instance only orphans go, whichever flush.
                prop_assert_eq!(removed, runner.github.is_some_and(|g| !g.busy), "{:?}", runner);
            }
        }
    }
}

#[test]
fn an_age_is_new_within_the_grace_grown_after_it_and_expired_past_the_maximum() {
    let lifetimes = Lifetimes {
        online_grace_secs: 600,
        max_age_secs: 3600,
    };
    assert_eq!(Age::of(Some(1000), 1600, &lifetimes), Age::New);
    assert_eq!(Age::of(Some(1000), 1601, &lifetimes), Age::Grown);
    assert_eq!(Age::of(Some(1000), 4601, &lifetimes), Age::Expired);
    assert_eq!(
        Age::of(None, 1_000_000, &lifetimes),
        Age::New,
        "an earlier release's instance"
    );
    assert_eq!(Age::of(Some(5000), 1000, &lifetimes), Age::New, "a clock set back");
}
