//! Runners made with an earlier `path` or `token`, kept in the state as [`Previous`]
//! generations until they are gone: the pipeline removes the idle ones with those values (the
//! original used the new token, and flushed after creating), the busy ones once their job is
//! done, and until then they never count toward the target. A generation leaves the state
//! only when its last runner has, so a removal that fails is tried again by the next hook.

use std::collections::BTreeSet;

use super::Ctx;
use crate::config::CharmConfig;
use crate::manager::RunnerFilter;
use crate::state::{Previous, State};

/// Where a hook takes a new path or token: when either changed, the runners there are now
/// belong to the previous values. `state` then holds the new ones.
pub(super) async fn note_change(ctx: &Ctx<'_>, config: &CharmConfig, state: &mut State) {
    let now = config.generation();
    let Some(made_with) = state.current.replace(now.clone()) else {
        return;
    };
    if made_with == now {
        return;
    }
    let what = if made_with.path != now.path {
        format!("path {}", made_with.path)
    } else {
        "token".into()
    };
    let known = names(&state.previous);
    let runners: Vec<String> = match ctx.deps.runner_instances().await {
        Ok(names) => names.into_iter().filter(|n| !known.contains(n)).collect(),
        Err(e) => {
            tracing::warn!("{what} changed: listing the runners made with it: {e}");
            Vec::new()
        }
    };
    tracing::info!(
        "{what} changed: {} runners made with the previous one go once idle",
        runners.len()
    );
    state.previous.push(Previous { made_with, runners });
}

/// The runners of the current generation: all but the previous ones.
pub(super) fn current(state: &State) -> RunnerFilter {
    let previous = names(&state.previous);
    match previous.is_empty() {
        true => RunnerFilter::All,
        false => RunnerFilter::Except(previous),
    }
}

/// The runners of `previous`, by name.
fn names(previous: &[Previous]) -> BTreeSet<String> {
    previous.iter().flat_map(|p| p.runners.iter().cloned()).collect()
}

/// What is left of `generations` once only the runners in `live` remain (`None`: the live
/// runners are not known, and every generation stays as it was); generations with none left go.
pub(super) fn left(generations: Vec<Previous>, live: Option<&BTreeSet<String>>) -> Vec<Previous> {
    generations
        .into_iter()
        .filter_map(|generation| {
            let runners: Vec<String> = match live {
                Some(live) => generation.runners.into_iter().filter(|n| live.contains(n)).collect(),
                None => generation.runners,
            };
            (!runners.is_empty()).then_some(Previous { runners, ..generation })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Generation, GithubPath};
    use crate::secret::Secret;

    fn previous(path: &str, runners: &[&str]) -> Previous {
        Previous {
            made_with: Generation {
                path: GithubPath::Org(path.into()),
                token: Secret::new("ghp_old"),
            },
            runners: runners.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn a_generation_stays_while_one_of_its_runners_lives_and_unknown_keeps_all() {
        let generations = vec![previous("a", &["r1", "r2"]), previous("b", &["r3"])];
        let live: BTreeSet<String> = ["r2".to_string()].into();
        let left_over = left(generations.clone(), Some(&live));
        assert_eq!(left_over, vec![previous("a", &["r2"])]);
        assert_eq!(left(generations.clone(), None), generations);
    }

    #[test]
    fn previous_runners_are_not_the_current_generation_s() {
        let state = State {
            previous: vec![previous("a", &["r1"])],
            ..State::default()
        };
        assert_eq!(current(&state), RunnerFilter::Except(["r1".to_string()].into()));
        assert_eq!(current(&State::default()), RunnerFilter::All);
    }
}
