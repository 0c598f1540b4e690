//! Looks at what exists: this unit's LXD instances and GitHub registrations (names of the
//! exact pattern [`UnitName::owns`] says), each instance's health, joined by name. Reads only.

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt};

use super::plan::{Age, GithubSide, Lifetimes, LocalSide, Observed};
use super::ManagerError;
use crate::github::{GithubClient, Runner, RunnerStatus};
use crate::lxd::LxdClient;
use crate::runner::{self, Health};
use crate::unit::UnitName;

/// Health checks at once: each is one exec round trip on LXD.
const PARALLEL_HEALTH_CHECKS: usize = 8;

/// This unit's registrations: only names of the exact pattern it makes, never a neighbour's.
pub async fn registrations(github: &GithubClient, unit: &UnitName) -> Result<Vec<Runner>, ManagerError> {
    let listed = github.list_runners_with_prefix(&unit.listing_prefix()).await?;
    Ok(listed.into_iter().filter(|r| unit.owns(&r.name)).collect())
}

/// This unit's runners, from both sides.
pub async fn observe(
    lxd: &LxdClient,
    github: &GithubClient,
    unit: &UnitName,
    lifetimes: &Lifetimes,
) -> Result<Vec<Observed>, ManagerError> {
    let (instances, registrations) = tokio::join!(lxd.instances(), registrations(github, unit));
    let now = runner::unix_now();
    // Only names of the exact pattern this unit makes: never a neighbour's, never a name
    // that could say more than a name in an LXD URL.
    let instances: Vec<(String, Option<u64>)> = instances?
        .into_iter()
        .filter(|i| unit.owns(&i.name))
        .map(|i| {
            let created = i.config.get(runner::CREATED_KEY).and_then(|c| c.parse().ok());
            (i.name, created)
        })
        .collect();
    let registrations = registrations?;
    let healths: Vec<(String, Option<u64>, Result<Health, crate::lxd::LxdError>)> = stream::iter(instances)
        .map(|(name, created)| async move {
            let health = runner::health(lxd, &name).await;
            (name, created, health)
        })
        .buffer_unordered(PARALLEL_HEALTH_CHECKS)
        .collect()
        .await;
    let mut by_name: BTreeMap<String, Observed> = BTreeMap::new();
    for (name, created, health) in healths {
        // One instance LXD cannot describe does not stop the pass: it counts as unhealthy.
        let health = health.unwrap_or_else(|e| {
            tracing::warn!("runner {name}: {e}; counted as unhealthy");
            Health::ProbeFailed
        });
        if health == Health::Missing {
            continue; // an ephemeral instance that powered off between the list and the check
        }
        let local = Some(LocalSide {
            healthy: health == Health::Healthy,
            age: Age::of(created, now, lifetimes),
            age_secs: created.map(|c| now.saturating_sub(c)),
        });
        by_name.insert(
            name.clone(),
            Observed {
                name,
                local,
                github: None,
            },
        );
    }
    for runner in registrations {
        // An original-charm name without an instance here is another deployment's runner.
        if unit.is_legacy(&runner.name) && !by_name.contains_key(&runner.name) {
            continue;
        }
        let side = GithubSide {
            id: runner.id,
            online: runner.status == RunnerStatus::Online,
            busy: runner.busy,
        };
        by_name
            .entry(runner.name.clone())
            .or_insert_with(|| Observed {
                name: runner.name.clone(),
                local: None,
                github: None,
            })
            .github = Some(side);
    }
    Ok(by_name.into_values().collect())
}
