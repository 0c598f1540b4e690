//! Actions, and the events this charm does not know: results, failures and statuses.

use super::*;

#[tokio::test]
async fn check_runners_counts_this_unit_s_registrations_and_keeps_the_etags() {
    let github = emulator().await;
    {
        let mut w = github.world();
        let prefix = UnitName::parse("github-runner/0", MODEL).expect("unit").runner_prefix();
        let mine = [format!("{prefix}aaaa0001"), format!("{prefix}aaaa0002")];
        // Another unit's, another model's same unit's, and a name that only looks like ours.
        let others = [
            "github-runner-1-bbbb0001".to_string(),
            format!(
                "{}aaaa0003",
                UnitName::parse("github-runner/0", "another")
                    .expect("unit")
                    .runner_prefix()
            ),
            format!("{prefix}aaaa0001x"),
        ];
        for name in mine.iter().chain(&others) {
            w.add_runner(fake_github::NewRunner::named(name.clone()))
                .expect("seeded");
        }
    }
    let unit = Unit::configured(&github.base_url);
    let done = unit.action(Action::CheckRunners).await;
    assert_eq!(done.failed, None);
    assert_eq!(done.results["offline"], "2", "{:?}", done.results);
    assert_eq!(done.results["online"], "0");
    assert_eq!(done.results["runners"], "");
    assert!(done.statuses.is_empty(), "looking changes no status");
    assert!(!unit.state().etags.is_empty(), "the list's ETag is kept for a free 304");
}

#[tokio::test]
async fn an_action_with_a_rejected_token_fails_and_blocks_naming_the_token() {
    let github = emulator().await;
    let unit = Unit::new(json!({
        "path": "test-org", "token": "ghp_revoked", "test-mode": "insecure", "github-url": github.base_url,
    }));
    let done = unit.action(Action::CheckRunners).await;
    let failed = done.failed.expect("failed");
    assert!(failed.contains("GitHub rejected the token"), "{failed}");
    assert!(matches!(done.statuses.last(), Some(Status::Blocked(m)) if m.contains("check config `token`")));
}

#[tokio::test]
async fn actions_that_change_runners_fail_while_lxd_is_down_and_say_so() {
    let unit = Unit::configured("http://127.0.0.1:9");
    for action in [
        Action::ReconcileRunners,
        Action::FlushRunners,
        Action::UpdateDependencies,
    ] {
        let done = unit.action(action).await;
        let failed = done.failed.unwrap_or_else(|| panic!("{action:?} did not fail"));
        assert!(failed.contains("LXD is not reachable"), "{action:?}: {failed}");
        assert!(done.results.is_empty());
        assert!(waiting_for_lxd(done.statuses.last()));
    }
}

#[tokio::test]
async fn an_action_with_a_bad_config_fails_and_blocks_with_every_problem() {
    let unit = Unit::new(json!({"path": "test-org", "token": TOKEN, "vm-disk": "10G"}));
    let done = unit.action(Action::FlushRunners).await;
    let failed = done.failed.expect("failed");
    assert!(failed.contains("vm-disk \"10G\""), "{failed}");
    assert!(matches!(done.statuses.last(), Some(Status::Blocked(m)) if m == &failed));
    assert!(!failed.contains(TOKEN));
}

#[tokio::test]
async fn an_unknown_action_fails_naming_the_actions_this_charm_has() {
    let tools = Recorder::default();
    crate::charm::run(&crate::event::Event::UnknownAction("backup".into()), &tools)
        .await
        .expect("action-fail works");
    let failed = tools.recorded().failed.expect("failed");
    assert!(failed.starts_with("unknown action `backup`"), "{failed}");
    assert!(failed.contains("check-runners, reconcile-runners, flush-runners and update-dependencies"));
}

#[tokio::test]
async fn a_hook_this_charm_does_not_handle_changes_nothing() {
    let tools = Recorder::default();
    crate::charm::run(&crate::event::Event::Unhandled("leader-elected".into()), &tools)
        .await
        .expect("nothing to fail");
    let done = tools.recorded();
    assert!(done.statuses.is_empty() && done.failed.is_none() && done.results.is_empty());
}
