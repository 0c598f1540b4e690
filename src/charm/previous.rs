//! Runners made with an earlier `path` or `token`, kept in the state as [`Previous`] until
//! they are gone: the idle ones are removed with those values (the original used the new
//! token, and flushed after creating), the busy ones once their job is done, and until then
//! they never count toward the target. A generation leaves the state only when its last
//! runner has, so a flush that fails is tried again by the next hook.

use std::collections::BTreeSet;

use super::{with_path_and_token, Ctx};
use crate::config::CharmConfig;
use crate::manager::{Converge, Flush, Runners};
use crate::state::{Previous, State};

/// At `config-changed`: when `path` or `token` changed, the runners there are now belong to
/// the previous values. `state` then holds the new ones.
pub(super) async fn note_change(ctx: &Ctx<'_>, config: &CharmConfig, state: &mut State) {
    let (Some(path), Some(token)) = (state.path.clone(), state.token.clone()) else {
        state.path = Some(config.path.to_string());
        state.token = Some(config.token.clone());
        return;
    };
    let path_changed = path != config.path.to_string();
    if !path_changed && token == config.token {
        return;
    }
    let what = if path_changed {
        format!("path {path}")
    } else {
        "token".into()
    };
    let known: BTreeSet<String> = state.previous.iter().flat_map(|p| p.runners.iter().cloned()).collect();
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
    state.previous.push(Previous { path, token, runners });
    state.path = Some(config.path.to_string());
    state.token = Some(config.token.clone());
}

/// The runners of the current values: all but the previous ones.
pub(super) fn current(state: &State) -> Runners {
    let previous: BTreeSet<String> = state.previous.iter().flat_map(|p| p.runners.iter().cloned()).collect();
    match previous.is_empty() {
        true => Runners::All,
        false => Runners::Except(previous),
    }
}

/// Removes the previous runners `which` says (idle ones, or all), each generation with its own
/// path and token, and forgets the generations whose runners are all gone.
pub(super) async fn retire(ctx: &Ctx<'_>, config: &CharmConfig, state: &mut State, which: Flush) {
    let generations = std::mem::take(&mut state.previous);
    for generation in &generations {
        let made = with_path_and_token(config, Some(&generation.path), Some(&generation.token));
        let names: BTreeSet<String> = generation.runners.iter().cloned().collect();
        let flushed = match ctx.manager(&made, state) {
            Ok(manager) => {
                let manager = manager.on(Runners::Only(names));
                let steps = Converge::flush_only(which);
                super::observe::converge(ctx, &manager, steps, config.virtual_machines, &|_| {})
                    .await
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        match flushed.map(|done| done.flushed.map_or(0, |r| r.removed.len())) {
            Ok(0) => {}
            Ok(removed) => tracing::info!(
                "removed {removed} runners made with path {}'s previous token or path",
                generation.path
            ),
            Err(e) => tracing::warn!("removing the runners made with the previous path or token: {e}"),
        }
    }
    // One look at what is left, once every generation had its flush.
    let now: Option<BTreeSet<String>> = ctx.deps.runner_instances().await.ok().map(|n| n.into_iter().collect());
    state.previous = generations
        .into_iter()
        .filter_map(|generation| {
            let left: Vec<String> = match &now {
                Some(now) => generation
                    .runners
                    .iter()
                    .filter(|n| now.contains(*n))
                    .cloned()
                    .collect(),
                None => generation.runners.clone(),
            };
            (!left.is_empty()).then_some(Previous {
                runners: left,
                ..generation
            })
        })
        .collect();
}
