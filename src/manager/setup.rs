//! The unit's LXD setup, idempotent, run by install, upgrade-charm and config-changed.
//!
//! 1. the RAM disk (`host::storage`), `virtual-machines × vm-disk`;
//! 2. the storage pool `runner` (dir) on it;
//! 3. the profile `runner` (nothing in it today: the place for what every runner shares);
//! 4. the resource profile `cpu-<c>-mem-<m>-disk-<d>`: limits.cpu, limits.memory, and the root
//!    disk on the `runner` pool with its size; each value is set on its own, so when LXD
//!    refuses one the error names the option;
//! 5. the default profile's NIC hardened as the original did (MAC, IPv4 and IPv6 filtering,
//!    port isolation), where the bridge supports it.
//!
//! Running it twice changes nothing. It never deletes what runners may be using.

use std::collections::BTreeMap;

use crate::config::CharmConfig;
use crate::host::storage::{self, RamDisk, StorageError};
use crate::host::Host;
use crate::lxd::{LxdClient, LxdError, Profile, Server};

pub const POOL: &str = "runner";
pub const RUNNER_PROFILE: &str = "runner";

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Lxd(#[from] LxdError),
    /// LXD refused a runner resource: the operator must change that option.
    #[error("LXD refused config `{option}` = {value:?}: {message}")]
    Resource {
        option: &'static str,
        value: String,
        message: String,
    },
    #[error(
        "LXD storage pool `{POOL}` uses {found:?}, not the RAM disk {expected:?}; remove it (`lxc storage delete {POOL}`) \
         once no instance uses it"
    )]
    PoolElsewhere { found: String, expected: String },
}

impl SetupError {
    /// Whether the operator must act (blocked) rather than wait for LXD (waiting).
    pub fn needs_operator(&self) -> bool {
        matches!(self, SetupError::Resource { .. } | SetupError::PoolElsewhere { .. })
    }
}

/// What the setup found or did, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupReport {
    pub ram_disk: RamDisk,
    pub created: Vec<String>,
}

pub async fn ensure(lxd: &LxdClient, host: &Host, config: &CharmConfig) -> Result<SetupReport, SetupError> {
    // LXD first: nothing is mounted for a daemon that is not there.
    let server = lxd.server().await?;
    let kib = config.vm_disk.kib().saturating_mul(u64::from(config.virtual_machines));
    let ram_disk = storage::ensure_ram_disk(host, kib)?;
    let mut created = Vec::new();
    let source = host.path(storage::RAM_DISK);
    std::fs::create_dir_all(&source).map_err(|e| StorageError::Mkdir {
        path: source.clone(),
        source: e,
    })?;
    let expected = source.to_string_lossy().into_owned();
    match lxd.storage_pool(POOL).await? {
        Some(pool) if pool.source() != Some(expected.as_str()) => {
            let found = pool.source().unwrap_or_default().to_string();
            return Err(SetupError::PoolElsewhere { found, expected });
        }
        Some(_) => {}
        None => {
            lxd.create_storage_pool(POOL, "dir", &BTreeMap::from([("source".to_string(), expected)]))
                .await?;
            created.push(format!("storage pool {POOL}"));
        }
    }
    if lxd.profile(RUNNER_PROFILE).await?.is_none() {
        let profile = Profile {
            name: RUNNER_PROFILE.into(),
            description: "Every GitHub runner of this unit".into(),
            ..Profile::default()
        };
        lxd.create_profile(&profile).await?;
        created.push(format!("profile {RUNNER_PROFILE}"));
    }
    let resource = config.resource_profile();
    if lxd.profile(&resource).await?.is_none() {
        create_resource_profile(lxd, config).await?;
        created.push(format!("profile {resource}"));
    }
    if harden_default_nic(lxd, &server).await? {
        tracing::debug!("LXD setup: the default profile's NIC is filtered");
    }
    Ok(SetupReport { ram_disk, created })
}

/// Creates the resource profile value by value; a refused value removes the half-made profile.
async fn create_resource_profile(lxd: &LxdClient, config: &CharmConfig) -> Result<(), SetupError> {
    let mut profile = Profile {
        name: config.resource_profile(),
        description: "Resources of each GitHub runner (vm-cpu, vm-memory, vm-disk)".into(),
        ..Profile::default()
    };
    lxd.create_profile(&profile).await?;
    let disk = BTreeMap::from([
        ("type".to_string(), "disk".to_string()),
        ("path".to_string(), "/".to_string()),
        ("pool".to_string(), POOL.to_string()),
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

/// The NIC filtering of the original charm, on the default profile's bridged NIC. Skipped
/// (false) when the default profile has no bridged NIC or LXD lacks port isolation.
async fn harden_default_nic(lxd: &LxdClient, server: &Server) -> Result<bool, SetupError> {
    let Some(mut profile) = lxd.profile("default").await? else {
        return Ok(false);
    };
    let Some((name, nic)) = profile
        .devices
        .iter()
        .find(|(_, d)| d.get("type").map(String::as_str) == Some("nic"))
    else {
        return Ok(false);
    };
    let (name, mut nic) = (name.clone(), nic.clone());
    let mut wanted = vec![
        "security.mac_filtering",
        "security.ipv4_filtering",
        "security.ipv6_filtering",
    ];
    if server.has_extension("network_bridge_port_isolation") {
        wanted.push("security.port_isolation");
    }
    if wanted.iter().all(|k| nic.get(*k).map(String::as_str) == Some("true")) {
        return Ok(true);
    }
    for key in wanted {
        nic.insert(key.into(), "true".into());
    }
    profile.devices.insert(name, nic);
    lxd.update_profile(&profile).await?;
    Ok(true)
}
