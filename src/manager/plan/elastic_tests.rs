//! The elastic pool's sizing: every busy runner plus an idle floor (or the queue, whichever is
//! more), under a ceiling; idle runners above it go only after their wait, busy ones never.
use super::*;
use proptest::prelude::*;

fn elastic(floor: usize, max: usize, queued: usize, idle_wait_secs: u64) -> Sizing {
    Sizing::Elastic(Elastic {
        floor,
        max,
        queued,
        idle_wait_secs,
        share: Share::WHOLE,
        held: 0,
    })
}

#[test]
fn units_share_the_queue_without_a_coordinator() {
    let units: Vec<String> = ["app/3", "app/0", "app/7"].map(String::from).to_vec();
    let shares: Vec<usize> = ["app/0", "app/3", "app/7"]
        .iter()
        .map(|u| Share::among(&units, u).of(5))
        .collect();
    assert_eq!(shares, [2, 2, 1], "five jobs, three units: all taken, none twice");
    let two: Vec<String> = ["app/0", "app/1"].map(String::from).to_vec();
    let four: usize = ["app/0", "app/1"].iter().map(|u| Share::among(&two, u).of(4)).sum();
    assert_eq!(four, 4, "four jobs across two units make four runners, not eight");
    assert_eq!(Share::among(&units, "app/9").of(5), 0, "a unit going away takes none");
    assert_eq!(Share::WHOLE.of(3), 3);
}

fn runner(name: &str, healthy: bool, busy: bool, age_secs: Option<u64>) -> Observed {
    Observed {
        name: name.into(),
        local: Some(LocalSide {
            healthy,
            age: Age::New,
            age_secs,
        }),
        github: Some(GithubSide {
            id: name.len() as u64,
            online: true,
            busy,
        }),
    }
}

fn idle(name: &str, age_secs: u64) -> Observed {
    runner(name, true, false, Some(age_secs))
}

fn busy(name: &str) -> Observed {
    runner(name, true, true, Some(60))
}

fn removed(plan: &Plan) -> Vec<&str> {
    plan.remove.iter().map(|r| r.name.as_str()).collect()
}

#[test]
fn a_runner_taking_a_job_is_replaced_so_the_floor_stays_idle() {
    let plan = reconcile(&[busy("a")], elastic(1, 4, 0, 600));
    assert_eq!((plan.target, plan.create), (2, 1));
    assert_eq!(
        plan.demand,
        Some(Demand {
            busy: 1,
            floor: 1,
            queued: 0,
            max: 4
        })
    );
}

#[test]
fn the_pool_never_grows_past_its_ceiling_broken_busy_runners_included() {
    let plan = reconcile(&[busy("a"), busy("b"), busy("c")], elastic(2, 4, 0, 600));
    assert_eq!((plan.target, plan.create), (4, 1));
    // A broken runner GitHub shows busy keeps its instance: it counts toward the ceiling.
    let broken = runner("b", false, true, Some(60));
    let plan = reconcile(&[busy("a"), broken, busy("c")], elastic(2, 4, 0, 600));
    assert_eq!((plan.target, plan.create), (3, 1));
    assert_eq!(plan.demand.map(|d| d.busy), Some(3));
}

#[test]
fn an_earlier_generation_s_busy_runners_count_toward_the_ceiling() {
    let Sizing::Elastic(e) = elastic(1, 4, 0, 600) else {
        unreachable!()
    };
    let plan = reconcile(&[busy("a")], Sizing::Elastic(Elastic { held: 2, ..e }));
    assert_eq!((plan.target, plan.create), (2, 1), "4 = 2 held + 1 busy + 1 idle");
    let plan = reconcile(&[busy("a")], Sizing::Elastic(Elastic { held: 3, ..e }));
    assert_eq!((plan.target, plan.create), (1, 0), "the ceiling is reached");
}

#[test]
fn queued_jobs_raise_the_idle_runners_to_the_queue_not_on_top_of_the_floor() {
    let plan = reconcile(&[idle("x", 60)], elastic(1, 10, 3, 600));
    assert_eq!((plan.target, plan.create), (3, 2));
}

#[test]
fn idle_runners_above_the_target_go_only_once_they_have_waited() {
    let snapshot = [idle("a", 100), idle("b", 700), idle("c", 650), busy("d")];
    let plan = reconcile(&snapshot, elastic(1, 10, 0, 600));
    assert_eq!(plan.target, 2);
    assert_eq!(removed(&plan), ["b", "c"], "a has waited 100 s of 600");
    assert_eq!(
        plan.remove.iter().map(|r| r.reason).collect::<Vec<_>>(),
        [Reason::ScaleDown; 2]
    );
    let young = reconcile(&[idle("a", 100), idle("e", 200)], elastic(0, 10, 0, 600));
    assert!(young.remove.is_empty(), "both wait for the next job");
    let fixed = reconcile(&[idle("a", 100), idle("e", 200)], Sizing::Fixed(0));
    assert_eq!(removed(&fixed), ["a", "e"], "a fixed pool does not wait");
}

fn arb_runner() -> impl Strategy<Value = Observed> {
    (
        "[a-h]",
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(0u64..2000),
    )
        .prop_map(|(name, healthy, online, busy, age_secs)| {
            let mut r = runner(&name, healthy, busy, age_secs);
            r.github = r.github.map(|g| GithubSide {
                online: online || busy,
                ..g
            });
            r
        })
}

proptest! {
    #[test]
    fn an_elastic_reconcile_never_removes_a_busy_runner_nor_creates_past_the_ceiling(
        snapshot in proptest::collection::vec(arb_runner(), 0..8).prop_map(|mut v| {
            v.sort_by(|a, b| a.name.cmp(&b.name));
            v.dedup_by(|a, b| a.name == b.name);
            v
        }),
        floor in 0usize..5,
        extra in 0usize..5,
        queued in 0usize..8,
    ) {
        let max = floor + extra;
        let plan = reconcile(&snapshot, elastic(floor, max, queued, 600));
        for removal in &plan.remove {
            let runner = snapshot.iter().find(|r| r.name == removal.name).expect("from the snapshot");
            prop_assert!(!runner.busy(), "{} is busy", runner.name);
        }
        let busy_broken = snapshot.iter().filter(|r| !r.healthy() && r.busy()).count();
        if plan.create > 0 {
            prop_assert!(plan.healthy_kept + plan.create + busy_broken <= max, "{plan:?}");
        }
        prop_assert!(plan.target <= max);
    }
}
