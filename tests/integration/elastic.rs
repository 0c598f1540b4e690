//! The elastic pool on the local stack (real LXD, fake-github, fake-juju): every busy runner
//! plus an idle floor, never past `max-virtual-machines`; idle runners above the floor go after
//! `idle-wait`, busy ones never; `idle-schedule`'s window raises the floor and its end lowers it.

use std::time::Duration;

use crate::common::stack::{blocking, Stack};
use crate::common::{self, eventually};

/// Marks the runner `name` busy with a job that has not finished.
async fn take_job(s: &Stack, name: &str) {
    let id = s.id_of(name);
    assert_eq!(s.admin(&format!("/runners/{id}/job")).await, 200);
}

fn busy_count(s: &Stack) -> usize {
    s.registered().iter().filter(|r| r["busy"] == true).count()
}

fn status(s: &Stack) -> String {
    blocking(|| s.juju.unit_status()).1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_floor_stays_idle_beside_busy_runners_under_the_ceiling_and_busy_runners_never_go() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let s = Stack::deploy_with(lxd, 1, &["max-virtual-machines=2", "idle-wait=0"], |_| {}).await;
    s.settle(1).await;
    assert_eq!(status(&s), "1/1 runners (0 busy, floor 1)");

    // A job takes the only idle runner: the timer's reconcile makes a new idle one.
    let first = s.instances().await.into_iter().next().expect("a runner");
    take_job(&s, &first).await;
    s.juju(&["tick"]);
    s.settle(2).await;
    assert_eq!(status(&s), "2/2 runners (1 busy, floor 1)");

    // The second takes a job too: the ceiling holds at 2.
    let second = s
        .instances()
        .await
        .into_iter()
        .find(|n| *n != first)
        .expect("the new one");
    take_job(&s, &second).await;
    s.juju(&["tick"]);
    assert_eq!(s.instances().await.len(), 2, "never past max-virtual-machines");
    assert_eq!(status(&s), "2/2 runners (2 busy, floor 1)");
    let check = s.action("check-runners");
    let results = &check["results"];
    assert_eq!(
        (&results["target"], &results["busy"], &results["floor"], &results["max"]),
        (&"2".into(), &"2".into(), &"1".into(), &"2".into()),
        "{check}"
    );

    // The floor drops to 0 while both are busy: neither goes.
    s.juju(&["config", "github-runner", "virtual-machines=0"]);
    assert_eq!(s.instances().await.len(), 2, "busy runners never go to shrink the pool");
    assert_eq!(busy_count(&s), 2);

    // Their jobs end (ephemeral runners go with them): the pool falls to its floor, 0.
    for name in [&first, &second] {
        let id = s.id_of(name);
        assert_eq!(s.admin(&format!("/runners/{id}/finish")).await, 200);
    }
    eventually("the used runners are gone", Duration::from_secs(30), async || {
        s.instances().await.is_empty()
    })
    .await;
    s.juju(&["tick"]);
    assert!(s.instances().await.is_empty(), "floor 0: no idle runner kept");
    assert_eq!(status(&s), "0/0 runners (0 busy, floor 0)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_runners_above_the_floor_wait_and_a_schedule_window_moves_the_floor() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let s = Stack::deploy_with(lxd, 2, &["max-virtual-machines=3", "idle-wait=60"], |_| {}).await;
    s.settle(2).await;

    // The floor falls to 1: the idle runner above it waits for a job first.
    s.juju(&["config", "github-runner", "virtual-machines=1"]);
    assert_eq!(s.instances().await.len(), 2, "idle-wait=60: kept for the next job");
    assert_eq!(status(&s), "2/1 runners (0 busy, floor 1)");
    s.juju(&["config", "github-runner", "idle-wait=0"]);
    s.settle(1).await;

    // A window covering now raises the floor to 3.
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    let day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [usize::try_from(now.weekday().to_monday_zero_offset()).expect("0..7")];
    let minute = i32::from(now.hour()) * 60 + i32::from(now.minute());
    if minute >= 24 * 60 - 2 {
        // Too close to midnight for a window that ends in a minute or two: wait for the day.
        tokio::time::sleep(Duration::from_secs(150)).await;
        return;
    }
    let hm = |m: i32| format!("{:02}:{:02}", m / 60, m % 60);
    let window = format!("idle-schedule={day} 00:00-{}=3", hm(minute + 2));
    s.juju(&["config", "github-runner", &window]);
    s.settle(3).await;
    assert_eq!(status(&s), "3/3 runners (0 busy, floor 3)");

    // Its end lowers the floor back to virtual-machines at the next reconcile.
    let day_start = now.timestamp().as_second() - i64::from(minute * 60 + i32::from(now.second()));
    let ends = day_start + i64::from((minute + 2) * 60);
    let wait = u64::try_from(ends - jiff::Timestamp::now().as_second() + 1).unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(wait)).await;
    s.juju(&["tick"]);
    s.settle(1).await;
    assert_eq!(status(&s), "1/1 runners (0 busy, floor 1)");
}

/// Queues `count` jobs asking for `labels` in fake-github's repository.
async fn queue_jobs(s: &Stack, labels: &[&str], count: usize) {
    let response = reqwest::Client::new()
        .post(format!("{}/_emulator/jobs", s.emulator.base_url))
        .json(&serde_json::json!({"labels": labels, "count": count}))
        .send()
        .await
        .expect("admin API");
    assert_eq!(response.status().as_u16(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_jobs_grow_the_pool_to_the_queue_never_past_the_ceiling_and_it_shrinks_back() {
    let Some(lxd) = common::lxd().await else { return };
    let _one = common::exclusive(&lxd).await;
    let s = Stack::deploy_repo(lxd, 1, &["max-virtual-machines=4", "idle-wait=0"]).await;
    s.settle(1).await;

    // Three jobs our runners serve, one they do not (a GitHub-hosted label).
    queue_jobs(&s, &["self-hosted", "linux"], 3).await;
    queue_jobs(&s, &["ubuntu-latest"], 1).await;
    s.juju(&["tick"]);
    s.settle(3).await;
    assert_eq!(status(&s), "3/3 runners (0 busy, floor 1, 3 queued)");

    // The runners take the three jobs: busy 3 and the floor's idle one, 4: never 5.
    let names: Vec<String> = s.instances().await.into_iter().collect();
    for name in &names {
        take_job(&s, name).await;
    }
    s.juju(&["tick"]);
    s.settle(4).await;
    assert_eq!(status(&s), "4/4 runners (3 busy, floor 1)");
    queue_jobs(&s, &["self-hosted"], 2).await;
    s.juju(&["tick"]);
    assert_eq!(s.instances().await.len(), 4, "the ceiling holds with jobs still queued");

    // The jobs end; the queue's two are left, then none: back to the floor, no busy one removed.
    for name in &names {
        let id = s.id_of(name);
        assert_eq!(s.admin(&format!("/runners/{id}/finish")).await, 200);
    }
    eventually("the used runners are gone", Duration::from_secs(30), async || {
        let left = s.instances().await;
        names.iter().all(|n| !left.contains(n))
    })
    .await;
    s.juju(&["tick"]);
    assert_eq!(status(&s), "2/2 runners (0 busy, floor 1, 2 queued)");
}
