//! The one list of the LXD objects the charm makes on a machine, in the order they can be
//! removed (profiles before the pool and the bridge their devices use, the bridge before its
//! ACL). The setup makes them, `stop` removes them, and the tests and scripts that start from
//! a clean daemon read this list: the tests through [`OBJECTS`], the scripts through
//! `dispatch lxd-objects`, which prints it one `<lxc noun> <name>` a line. Runner instances
//! are not in it: they are the manager's, and known by their names.

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

/// One object, or a family of them: in `name`, `#` stands for a lowercase hex digit and a
/// final `*` for any rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Object {
    pub kind: Kind,
    pub name: &'static str,
}

impl Object {
    /// Whether an object of this kind called `name` is this one.
    pub fn matches(&self, name: &str) -> bool {
        let (pattern, family) = match self.name.strip_suffix('*') {
            Some(prefix) => (prefix, true),
            None => (self.name, false),
        };
        let mut chars = name.chars();
        for p in pattern.chars() {
            match (p, chars.next()) {
                ('#', Some(c)) if c.is_ascii_hexdigit() && !c.is_ascii_uppercase() => {}
                (p, Some(c)) if p == c => {}
                _ => return false,
            }
        }
        family || chars.next().is_none()
    }
}

/// The objects of every application (`ghr-<tag>`, `ghr-<tag>-runner`, `ghr-<tag>-cpu-…`).
const OWN: &str = "ghr-########*";

/// Every object the charm makes, in removal order: each application's own
/// ([`super::Names::for_unit`]), then the machine-wide ones of earlier releases
/// ([`super::Names::legacy`]).
pub const OBJECTS: [Object; 9] = [
    Object {
        kind: Kind::Profile,
        name: OWN,
    },
    Object {
        kind: Kind::Profile,
        name: "cpu-*",
    },
    Object {
        kind: Kind::Profile,
        name: "runner",
    },
    Object {
        kind: Kind::Network,
        name: OWN,
    },
    Object {
        kind: Kind::Network,
        name: "github-runners",
    },
    Object {
        kind: Kind::NetworkAcl,
        name: OWN,
    },
    Object {
        kind: Kind::NetworkAcl,
        name: "github-runners",
    },
    Object {
        kind: Kind::StoragePool,
        name: OWN,
    },
    Object {
        kind: Kind::StoragePool,
        name: "runner",
    },
];

/// The names of `object` LXD has now (a family's members; a single object's name, if it exists).
pub async fn present(lxd: &LxdClient, object: &Object) -> Result<Vec<String>, LxdError> {
    let collection = match object.kind {
        Kind::Profile => "/1.0/profiles",
        Kind::Network => "/1.0/networks",
        Kind::NetworkAcl => "/1.0/network-acls",
        Kind::StoragePool => "/1.0/storage-pools",
    };
    let names = lxd.names(collection).await?;
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
            "profile ghr-########*\nprofile cpu-*\nprofile runner\nnetwork ghr-########*\nnetwork github-runners\n\
             network acl ghr-########*\nnetwork acl github-runners\nstorage ghr-########*\nstorage runner\n"
        );
    }

    #[test]
    fn a_family_matches_its_prefix_and_a_name_only_itself() {
        assert!(OBJECTS[0].matches("ghr-1a2b3c4d-cpu-2-mem-7GiB-disk-10GiB"));
        assert!(OBJECTS[3].matches("ghr-1a2b3c4d"));
        assert!(
            !OBJECTS[3].matches("ghr-github0"),
            "a test host's interface is not the charm's"
        );
        assert!(OBJECTS[1].matches("cpu-2-mem-7GiB-disk-10GiB"));
        assert!(!OBJECTS[0].matches("default"));
        assert!(OBJECTS[2].matches("runner"));
        assert!(!OBJECTS[2].matches("runner-2"));
    }
}
