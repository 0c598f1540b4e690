//! The names of one application's LXD objects on a machine (and of its nftables table and
//! RAM disk): its own, so that two applications of the charm on one machine, or one in each of
//! two models, never rewrite each other's bridge, firewall, profiles or pool. Each name carries
//! the application's tag (8 hex of the SHA-256 of its model and name,
//! [`crate::unit::UnitName::object_tag`]), not its name, which may be longer than a Linux
//! interface name (15 characters): the bridge of `github-runner` in a model is e.g.
//! `ghr-1a2b3c4d`.
//!
//! Releases before this one used machine-wide names ([`Names::legacy`]): the first application
//! to set LXD up after the upgrade keeps them (`super::claim_names`); where an application has
//! its own, the old ones are retired once no runner uses them.

use crate::config::CharmConfig;
use crate::unit::UnitName;

/// One application's object names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The runners' bridge (an interface name: at most 15 characters).
    pub bridge: String,
    /// The network ACL on it.
    pub acl: String,
    /// The profile holding the runners' NIC.
    pub runner_profile: String,
    /// The storage pool on the RAM disk.
    pub pool: String,
    /// The RAM disk (a host path, under the root).
    pub ram_disk: String,
    /// The nftables table (family `inet`).
    pub table: String,
    /// What the resource profiles' names start with.
    resource_prefix: String,
}

impl Names {
    /// The names of `unit`'s application.
    pub fn for_unit(unit: &UnitName) -> Names {
        let base = format!("ghr-{}", unit.object_tag());
        Names {
            bridge: base.clone(),
            acl: base.clone(),
            runner_profile: format!("{base}-runner"),
            pool: base.clone(),
            ram_disk: format!("/storage/{base}"),
            table: base.clone(),
            resource_prefix: format!("{base}-"),
        }
    }

    /// The machine-wide names of earlier releases.
    pub fn legacy() -> Names {
        Names {
            bridge: "github-runners".into(),
            acl: "github-runners".into(),
            runner_profile: "runner".into(),
            pool: "runner".into(),
            ram_disk: "/storage/ram".into(),
            table: "github-runner".into(),
            resource_prefix: String::new(),
        }
    }

    /// Whether these are the machine-wide names of earlier releases.
    pub fn is_legacy(&self) -> bool {
        self.resource_prefix.is_empty()
    }

    /// The profiles of a runner: its NIC's and its resources'. Not `default`: runners (and the
    /// bake's build instance) get only what the charm owns.
    pub fn runner_profiles(&self, config: &CharmConfig) -> Vec<String> {
        vec![self.runner_profile.clone(), self.resource_profile(config)]
    }

    /// The profile holding each runner's resources, e.g. `ghr-1a2b3c4d-cpu-2-mem-7GiB-disk-10GiB`.
    pub fn resource_profile(&self, config: &CharmConfig) -> String {
        format!(
            "{}cpu-{}-mem-{}-disk-{}",
            self.resource_prefix, config.vm_cpu, config.vm_memory, config.vm_disk
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_application_in_each_model_has_names_of_its_own_within_interface_limits() {
        let unit = |name: &str, model: &str| UnitName::parse(name, model).expect("valid");
        let here = Names::for_unit(&unit("github-runner/0", "model-a"));
        let other_unit = Names::for_unit(&unit("github-runner/1", "model-a"));
        let other_app = Names::for_unit(&unit("github-runner-b/0", "model-a"));
        let other_model = Names::for_unit(&unit("github-runner/0", "model-b"));
        assert_eq!(here, other_unit, "one application's units share its names");
        assert_ne!(here.bridge, other_app.bridge);
        assert_ne!(here.bridge, other_model.bridge);
        let long = Names::for_unit(&unit(&format!("{}/0", "a".repeat(60)), "model-a"));
        for names in [&here, &long] {
            assert!(
                names.bridge.len() <= 15 && names.bridge.starts_with("ghr-"),
                "{names:?}"
            );
            assert!(names.ram_disk.starts_with("/storage/ghr-"));
            assert_eq!(names.runner_profile, format!("{}-runner", names.bridge));
        }
        assert_ne!(Names::legacy().bridge, here.bridge);
        assert!(Names::legacy().is_legacy() && !here.is_legacy() && !long.is_legacy());
    }
}
