//! The one list of the LXD objects the charm makes on a machine, in the order they can be
//! removed (profiles before the pool and the bridge their devices use, the bridge before its
//! ACL). The setup makes them, `stop` removes them, and the tests and scripts that start from
//! a clean daemon read this list: the tests through [`OBJECTS`], the scripts through
//! `dispatch lxd-objects`, which prints it one `<lxc noun> <name>` a line. Runner instances
//! are not in it: they are the manager's, and known by their names.

use super::{ACL, NETWORK, POOL, RUNNER_PROFILE};
use crate::lxd::{LxdClient, LxdError};

/// The subcommand of the charm's binary that prints the list ([`listing`]).
pub const COMMAND: &str = "lxd-objects";

/// Which kind of LXD object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Profile,
    Network,
    NetworkAcl,
    StoragePool,
}

impl Kind {
    /// How `lxc` names the kind (`lxc <noun> delete <name>`).
    pub fn lxc_noun(self) -> &'static str {
        match self {
            Kind::Profile => "profile",
            Kind::Network => "network",
            Kind::NetworkAcl => "network acl",
            Kind::StoragePool => "storage",
        }
    }
}

/// One object, or a family of them (a name ending in `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Object {
    pub kind: Kind,
    pub name: &'static str,
}

impl Object {
    /// Whether an object of this kind called `name` is this one.
    pub fn matches(&self, name: &str) -> bool {
        match self.name.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == self.name,
        }
    }
}

/// The resource profiles, `cpu-<c>-mem-<m>-disk-<d>`: one per `vm-*` setting.
pub const RESOURCE_PROFILES: Object = Object {
    kind: Kind::Profile,
    name: "cpu-*",
};

/// Every object the charm makes, in removal order.
pub const OBJECTS: [Object; 5] = [
    RESOURCE_PROFILES,
    Object {
        kind: Kind::Profile,
        name: RUNNER_PROFILE,
    },
    Object {
        kind: Kind::Network,
        name: NETWORK,
    },
    Object {
        kind: Kind::NetworkAcl,
        name: ACL,
    },
    Object {
        kind: Kind::StoragePool,
        name: POOL,
    },
];

/// The names of `object` LXD has now (a family's members; a single object's name, if it exists).
pub async fn present(lxd: &LxdClient, object: &Object) -> Result<Vec<String>, LxdError> {
    let names = match object.kind {
        Kind::Profile => lxd.profile_names().await?,
        Kind::Network => lxd.network(object.name).await?.map(|n| n.name).into_iter().collect(),
        Kind::NetworkAcl => lxd
            .network_acl(object.name)
            .await?
            .map(|a| a.name)
            .into_iter()
            .collect(),
        Kind::StoragePool => lxd
            .storage_pool(object.name)
            .await?
            .map(|p| p.name)
            .into_iter()
            .collect(),
    };
    Ok(names.into_iter().filter(|n| object.matches(n)).collect())
}

/// Deletes the LXD object of `kind` called `name`, whoever made it: for a clean daemon in tests
/// and scripts (`stop` removes only what is the charm's, [`super::tear_down`]).
pub async fn delete(lxd: &LxdClient, kind: Kind, name: &str) -> Result<(), LxdError> {
    match kind {
        Kind::Profile => lxd.delete_profile(name).await,
        Kind::Network => lxd.delete_network(name).await,
        Kind::NetworkAcl => lxd.delete_network_acl(name).await,
        Kind::StoragePool => lxd.delete_storage_pool(name).await,
    }
}

/// The list as `dispatch lxd-objects` prints it: `<lxc noun> <name>` a line.
pub fn listing() -> String {
    OBJECTS
        .iter()
        .map(|o| format!("{} {}\n", o.kind.lxc_noun(), o.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listing_names_each_object_as_lxc_does_in_removal_order() {
        assert_eq!(
            listing(),
            "profile cpu-*\nprofile runner\nnetwork github-runners\nnetwork acl github-runners\nstorage runner\n"
        );
    }

    #[test]
    fn a_family_matches_its_prefix_and_a_name_only_itself() {
        assert!(RESOURCE_PROFILES.matches("cpu-2-mem-7GiB-disk-10GiB"));
        assert!(!RESOURCE_PROFILES.matches("default"));
        assert!(OBJECTS[1].matches("runner"));
        assert!(!OBJECTS[1].matches("runner-2"));
    }
}
