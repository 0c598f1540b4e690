//! Runners made with an earlier `path` or `token`, kept in the state as [`Previous`] until
//! they are gone: the idle ones are removed with those values (the original used the new
//! token, and flushed after creating), the busy ones once their job is done, and until then
//! they never count toward the target. A generation leaves the state only when its last
//! runner has, so a flush that fails is tried again by the next hook.

use std::collections::BTreeSet;

use super::Ctx;
use crate::config::{CharmConfig, GithubPath};
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
    let mut kept = Vec::new();
    for generation in std::mem::take(&mut state.previous) {
        let mut made = config.clone();
        if let Ok(path) = GithubPath::parse(&generation.path) {
            made.path = path;
        }
        made.token = generation.token.clone();
        let names: BTreeSet<String> = generation.runners.iter().cloned().collect();
        match ctx.manager(&made, state) {
            Ok(manager) => match manager
                .on(Runners::Only(names.clone()))
                .converge(Converge::flush_only(which), &|_| {})
                .await
            {
                Ok(done) => {
                    let removed = done.flushed.map_or(0, |r| r.removed.len());
                    if removed > 0 {
                        tracing::info!(
                            "removed {removed} runners made with path {}'s previous token or path",
                            generation.path
                        );
                    }
                }
                Err(e) => tracing::warn!("removing the runners made with the previous path or token: {e}"),
            },
            Err(e) => tracing::warn!("removing the runners made with the previous path or token: {e}"),
        }
        let left: Vec<String> = match ctx.deps.runner_instances().await {
            Ok(now) => now.into_iter().filter(|n| names.contains(n)).collect(),
            Err(_) => generation.runners.clone(),
        };
        if !left.is_empty() {
            kept.push(Previous {
                runners: left,
                ..generation
            });
        }
    }
    state.previous = kept;
}
