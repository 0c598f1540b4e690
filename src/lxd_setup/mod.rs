//! The unit's LXD setup, idempotent, run by every hook that may create runners.
//!
//! 1. LXD answers (nothing is mounted for a daemon that is not there);
//! 2. the runners' network ([`network`]): the packet filter ahead of NAT ([`nft`]), the
//!    bridge, its firewall ACL, and the runner profile with the NIC on it;
//! 3. the RAM disk (`host::storage`), `virtual-machines × vm-disk`, and the storage pool
//!    (dir) on it;
//! 4. the resource profile `…-cpu-<c>-mem-<m>-disk-<d>`: limits.cpu, limits.memory, and the
//!    root disk on the pool with its size; each value is set on its own, so when LXD refuses
//!    one the error names the option.
//!
//! Every name is the application's own ([`names`]). Running it twice changes nothing. It never
//! deletes what runners may be using, and never touches `lxdbr0`, the `default` profile,
//! another application's objects or instances that are not this unit's runners.

pub mod firewall;
pub mod names;
mod network;
pub mod nft;
pub mod objects;

pub use network::runner_nic;

use std::collections::BTreeMap;

use crate::config::CharmConfig;
use crate::host::net::NetError;
use crate::host::storage::{self, RamDisk, StorageError};
use crate::host::Host;
use crate::lxd::{LxdClient, LxdError, Profile};
use crate::unit::UnitName;

pub use names::Names;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Lxd(#[from] LxdError),
    #[error(transparent)]
    HostNetwork(#[from] NetError),
    #[error(transparent)]
    PacketFilter(#[from] nft::NftError),
    /// LXD refused a runner resource: the operator must change that option.
    #[error("LXD refused config `{option}` = {value:?}: {message}")]
    Resource {
        option: &'static str,
        value: String,
        message: String,
    },
    #[error(
        "LXD storage pool `{pool}` uses {found:?}, not the RAM disk {expected:?}; remove it (`lxc storage delete {pool}`) \
         once no instance uses it"
    )]
    PoolElsewhere {
        pool: String,
        found: String,
        expected: String,
    },
    #[error(
        "LXD {version} cannot keep runners apart on their bridge (no `instance_nic_bridged_port_isolation` API \
         extension): upgrade LXD (e.g. `snap refresh lxd --channel=5.21/stable`); no runner is created until then"
    )]
    NoPortIsolation { version: String },
    #[error("config `runner-subnet` {subnet} cannot be used: {why}; choose a free private network")]
    SubnetClash { subnet: String, why: String },
    #[error(
        "LXD {kind} `{name}` exists and was not made by this charm: rename or delete it (`lxc {kind} delete {name}`), \
         the charm makes its own"
    )]
    NotOurs { kind: &'static str, name: String },
    #[error("LXD refused the runners' firewall (network ACL `{acl}`): {message}; no runner is created without it")]
    Firewall { acl: String, message: String },
    #[error("LXD refused the runners' bridge `{bridge}`: {message}")]
    Network { bridge: String, message: String },
    /// Runners could not reach GitHub (or the proxy) under this config.
    #[error("{0}")]
    Unreachable(String),
}

impl SetupError {
    /// Whether the operator must act (blocked) rather than wait for LXD (waiting).
    pub fn needs_operator(&self) -> bool {
        !matches!(
            self,
            SetupError::Storage(_) | SetupError::Lxd(_) | SetupError::HostNetwork(_)
        )
    }
}

/// The config key with which an application claims the machine-wide objects of earlier
/// releases, on their bridge: its tag ([`crate::unit::UnitName::object_tag`]).
pub const CLAIM_KEY: &str = "user.github-runner.claimed-by";

/// The names `unit`'s application uses on this machine: the machine-wide ones of earlier
/// releases where it claimed them ([`claim_names`]), else its own.
pub async fn names_for(lxd: &LxdClient, unit: &UnitName) -> Result<Names, LxdError> {
    let legacy_bridge = lxd.network(&Names::legacy().bridge).await?;
    Ok(names_given(legacy_bridge.as_ref(), unit))
}

/// [`names_for`], for the setup: an upgrade from a release with machine-wide objects first
/// gives them to the first application to set LXD up (its runners stay on them, nothing is
/// re-plugged), unless it has its own already. Any other application makes its own set (with
/// a `runner-subnet` of its own), and its runners on the old bridge are replaced as they come
/// free.
pub async fn claim_names(lxd: &LxdClient, unit: &UnitName) -> Result<Names, LxdError> {
    let legacy = Names::legacy();
    let mut legacy_bridge = lxd.network(&legacy.bridge).await?;
    if let Some(bridge) = legacy_bridge
        .as_mut()
        .filter(|b| firewall::owned(&b.config) && !b.config.contains_key(CLAIM_KEY))
    {
        if lxd.network(&Names::for_unit(unit).bridge).await?.is_none() {
            tracing::info!(
                "LXD setup: the machine-wide objects of an earlier release ({}) are now {}'s",
                legacy.bridge,
                unit.app()
            );
            let claim = BTreeMap::from([(CLAIM_KEY.to_string(), unit.object_tag())]);
            lxd.patch_network_config(&legacy.bridge, &claim).await?;
            bridge.config.extend(claim);
        }
    }
    Ok(names_given(legacy_bridge.as_ref(), unit))
}

/// The legacy names where `legacy_bridge` is the charm's and claimed by `unit`'s application.
fn names_given(legacy_bridge: Option<&crate::lxd::Network>, unit: &UnitName) -> Names {
    match legacy_bridge {
        Some(n) if firewall::owned(&n.config) && n.config.get(CLAIM_KEY) == Some(&unit.object_tag()) => Names::legacy(),
        _ => Names::for_unit(unit),
    }
}

/// What the setup found or did, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupReport {
    pub ram_disk: RamDisk,
    pub created: Vec<String>,
}

pub async fn ensure(
    lxd: &LxdClient,
    host: &Host,
    config: &CharmConfig,
    names: &Names,
) -> Result<SetupReport, SetupError> {
    let server = lxd.server().await?;
    let mut created = network::ensure(lxd, &server, config, names).await?;
    let kib = config.vm_disk.kib().saturating_mul(u64::from(config.most_runners()));
    let ram_disk = storage::ensure_ram_disk(host, &names.ram_disk, kib)?;
    if let RamDisk::ShrinkLater { kib, wanted, used, .. } = &ram_disk {
        tracing::info!(
            "LXD setup: the RAM disk stays at {kib} KiB for now: its runners use {used} KiB, over the {wanted} KiB asked for"
        );
    }
    let source = host.path(&names.ram_disk);
    std::fs::create_dir_all(&source).map_err(|e| StorageError::Mkdir {
        path: source.clone(),
        source: e,
    })?;
    let expected = source.to_string_lossy().into_owned();
    match lxd.storage_pool(&names.pool).await? {
        Some(pool) if pool.source() != Some(expected.as_str()) => {
            let found = pool.source().unwrap_or_default().to_string();
            return Err(SetupError::PoolElsewhere {
                pool: names.pool.clone(),
                found,
                expected,
            });
        }
        Some(_) => {}
        None => {
            let source = BTreeMap::from([("source".to_string(), expected)]);
            lxd.create_storage_pool(&names.pool, "dir", &source).await?;
            created.push(format!("storage pool {}", names.pool));
        }
    }
    let resource = names.resource_profile(config);
    if lxd.profile(&resource).await?.is_none() {
        create_resource_profile(lxd, config, names).await?;
        created.push(format!("profile {resource}"));
    }
    if !names.is_legacy() {
        retire_legacy(lxd, host, config).await;
    }
    Ok(SetupReport { ram_disk, created })
}

/// The machine-wide objects of earlier releases that no application claimed, once no runner
/// uses them, where this application made its own instead: each goes as `stop` would take it ([`tear_down`]),
/// LXD refusing what is still in use (the busy runners an upgrade left finish their jobs
/// first). Not one the charm did not make.
async fn retire_legacy(lxd: &LxdClient, host: &Host, config: &CharmConfig) {
    let legacy = Names::legacy();
    // Claimed, they are another application's now ([`claim_names`]).
    let unclaimed = |n: &crate::lxd::Network| firewall::owned(&n.config) && !n.config.contains_key(CLAIM_KEY);
    if !matches!(lxd.network(&legacy.bridge).await, Ok(Some(n)) if unclaimed(&n)) {
        return;
    }
    let in_use = lxd
        .instances()
        .await
        .is_ok_and(|all| all.iter().any(|i| i.profiles.contains(&legacy.runner_profile)));
    if in_use {
        tracing::info!("LXD setup: the objects of earlier releases stay while runners made with them remain");
        return;
    }
    let removed = tear_down(lxd, host, Some(&legacy.resource_profile(config)), &legacy).await;
    if !removed.is_empty() {
        tracing::info!(
            "LXD setup: retired the machine-wide objects of earlier releases: {}",
            removed.join(", ")
        );
    }
}

/// Removes what the setup made, for a unit going away: the resource profile, the `runner`
/// profile, the bridge, its ACL, the pool and the RAM disk, in that order. Each is tried on
/// its own; what another unit on this machine still uses is kept (LXD refuses to delete it),
/// and a network, ACL or pool the charm did not make is never touched. Returns what went.
pub async fn tear_down(lxd: &LxdClient, host: &Host, resource_profile: Option<&str>, names: &Names) -> Vec<String> {
    use firewall::owned;
    let ours_network = matches!(lxd.network(&names.bridge).await, Ok(Some(n)) if owned(&n.config));
    let ours_acl = matches!(lxd.network_acl(&names.acl).await, Ok(Some(a)) if owned(&a.config));
    let ram_disk = host.path(&names.ram_disk).to_string_lossy().into_owned();
    let ours_pool = matches!(lxd.storage_pool(&names.pool).await, Ok(Some(p)) if p.source() == Some(ram_disk.as_str()));
    let mut removed = Vec::new();
    let mut note = |what: String, result: Result<(), LxdError>| match result {
        Ok(()) => removed.push(what),
        Err(e) if e.is_not_found() => {}
        Err(e) => tracing::info!("keeping {what}: {e}"),
    };
    if let Some(profile) = resource_profile {
        note(format!("profile {profile}"), lxd.delete_profile(profile).await);
    }
    // The runner profile where it is surely the charm's: its own name, or the machine-wide
    // one while the charm's bridge it plugs into is there.
    if ours_network || !names.is_legacy() {
        note(
            format!("profile {}", names.runner_profile),
            lxd.delete_profile(&names.runner_profile).await,
        );
    }
    let network_gone = ours_network && {
        let network = lxd.delete_network(&names.bridge).await;
        let gone = network.is_ok() || network.as_ref().is_err_and(LxdError::is_not_found);
        note(format!("network {}", names.bridge), network);
        gone
    };
    // The packet filter goes with the bridge it guards (kept while another unit's runners
    // still use it).
    let filter_goes = network_gone || lxd.network(&names.bridge).await.is_ok_and(|n| n.is_none());
    if ours_acl {
        note(
            format!("network ACL {}", names.acl),
            lxd.delete_network_acl(&names.acl).await,
        );
    }
    let pool_gone = ours_pool && {
        let pool = lxd.delete_storage_pool(&names.pool).await;
        let gone = pool.is_ok();
        note(format!("storage pool {}", names.pool), pool);
        gone
    };
    if pool_gone {
        match storage::remove_ram_disk(host, &names.ram_disk) {
            Ok(true) => removed.push("the RAM disk".into()),
            Ok(false) => {}
            Err(e) => tracing::info!("keeping the RAM disk: {e}"),
        }
    }
    if filter_goes {
        match nft::remove(&names.table) {
            Ok(()) => removed.push(format!("nftables table inet {}", names.table)),
            Err(e) => tracing::warn!("keeping the runners' packet filter: {e}"),
        }
    }
    removed
}

/// Creates the resource profile value by value; a refused value removes the half-made profile.
async fn create_resource_profile(lxd: &LxdClient, config: &CharmConfig, names: &Names) -> Result<(), SetupError> {
    let mut profile = Profile {
        name: names.resource_profile(config),
        description: "Resources of each GitHub runner (vm-cpu, vm-memory, vm-disk)".into(),
        ..Profile::default()
    };
    lxd.create_profile(&profile).await?;
    let disk = BTreeMap::from([
        ("type".to_string(), "disk".to_string()),
        ("path".to_string(), "/".to_string()),
        ("pool".to_string(), names.pool.clone()),
        ("size".to_string(), config.vm_disk.to_string()),
    ]);
    // (option, LXD config key or None for the root disk, value)
    let steps: [(&'static str, Option<&str>, String); 3] = [
        ("vm-cpu", Some("limits.cpu"), config.vm_cpu.to_string()),
        ("vm-memory", Some("limits.memory"), config.vm_memory.to_string()),
        ("vm-disk", None, config.vm_disk.to_string()),
    ];
    for (option, key, value) in steps {
        if let Some(key) = key {
            profile.config.insert(key.into(), value.clone());
        } else {
            profile.devices.insert("root".into(), disk.clone());
        }
        if let Err(e) = lxd.update_profile(&profile).await {
            let _ = lxd.delete_profile(&profile.name).await;
            return Err(match e {
                LxdError::Api { message, .. } | LxdError::OperationFailed { err: message, .. } => {
                    SetupError::Resource { option, value, message }
                }
                other => other.into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_firewall_lxd_refuses_blocks_with_lxd_s_words() {
        let e = SetupError::Firewall {
            acl: "ghr-1a2b3c4d".into(),
            message: "Invalid destination \"x\"".into(),
        };
        assert!(e.needs_operator());
        assert_eq!(
            e.to_string(),
            "LXD refused the runners' firewall (network ACL `ghr-1a2b3c4d`): Invalid destination \"x\"; \
             no runner is created without it"
        );
        assert!(!SetupError::Lxd(LxdError::Timeout {
            description: "x".into(),
            seconds: 1
        })
        .needs_operator());
    }
}
