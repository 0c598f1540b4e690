//! This unit's identity: its name (`github-runner/0`), its application, its model, and what
//! its runners are called.
//!
//! A runner of this unit is named `<app>-<unit>-<model>-<8 hex>`, where `<model>` is 8 hex of
//! the SHA-256 of the model's UUID: two models that deploy `github-runner` against one
//! organisation have the same app and unit names, and without the model in the name each would
//! take the other's runners for its own orphans. A name is this unit's only when it matches
//! that pattern exactly ([`UnitName::owns`]); so are the names the original charm gave its
//! runners on this unit (`<app>-<unit>-<24 hex>`), so that an upgrade from it cleans them up.

use sha2::{Digest, Sha256};

/// LXD's limit on instance names (GitHub's on runner names is 64).
const MAX_NAME: usize = 63;
/// Hex digits of a runner's own part of its name.
pub const RUNNER_HEX: usize = 8;
/// The original charm's runner suffix: `secrets.token_hex(12)`.
const LEGACY_HEX: usize = 24;

/// A Juju unit name (an application name, a slash, a number) in one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitName {
    name: String,
    model_tag: String,
}

impl UnitName {
    /// `None` unless `name` is `<app>/<number>` with a Juju application name.
    pub fn parse(name: &str, model_uuid: &str) -> Option<Self> {
        let (app, number) = name.split_once('/')?;
        let app_ok = !app.is_empty()
            && app
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let number_ok = !number.is_empty() && number.chars().all(|c| c.is_ascii_digit());
        let digest = Sha256::digest(model_uuid.as_bytes());
        let model_tag: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        (app_ok && number_ok).then(|| UnitName {
            name: name.to_string(),
            model_tag,
        })
    }

    /// `github-runner/0`.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// `github-runner`: a label on every runner.
    pub fn app(&self) -> &str {
        self.name
            .split('/')
            .next()
            .expect("a unit name has an application part")
    }

    /// `github-runner-0-`: what every name this unit owns starts with (its own pattern's and
    /// the original charm's), to narrow a listing before [`UnitName::owns`] decides.
    pub fn unit_prefix(&self) -> String {
        format!("{}-", self.name.replace('/', "-"))
    }

    /// `github-runner-0-1a2b3c4d-`: every runner name of the unit starts with it. A long
    /// application name is cut so that names stay within LXD's limit.
    pub fn runner_prefix(&self) -> String {
        let full = format!("{}{}-", self.unit_prefix(), self.model_tag);
        let room = MAX_NAME - RUNNER_HEX;
        if full.len() <= room {
            return full;
        }
        let tail = format!("-{}-{}-", self.name.rsplit('/').next().unwrap_or(""), self.model_tag);
        format!("{}{tail}", &self.app()[..room - tail.len()])
    }

    /// Whether `name` is one of this unit's runners: the exact pattern the charm generates
    /// (or the original charm's), nothing merely starting like it.
    pub fn owns(&self, name: &str) -> bool {
        let hex = |rest: &str, len: usize| {
            rest.len() == len && rest.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        };
        if let Some(rest) = name.strip_prefix(&self.runner_prefix()) {
            return hex(rest, RUNNER_HEX);
        }
        name.strip_prefix(&self.unit_prefix())
            .is_some_and(|rest| hex(rest, LEGACY_HEX))
    }

    /// Whether `name` has the original charm's shape (`<app>-<unit>-<24 hex>`). Such a name is
    /// this unit's only where its instance is on this machine: the original charm in another
    /// model, with the same application and unit names, makes the same shape.
    pub fn is_legacy(&self, name: &str) -> bool {
        self.owns(name) && !name.starts_with(&self.runner_prefix())
    }

    /// `github-runner-0`: the unit as a file name.
    pub fn file_name(&self) -> String {
        self.name.replace('/', "-")
    }
}

impl std::fmt::Display for UnitName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::UnitName;

    const MODEL: &str = "5f8d2c4e-0b1a-4c3d-9e8f-7a6b5c4d3e2f";

    #[test]
    fn unit_names_are_app_slash_number() {
        assert!(UnitName::parse("github-runner/0", MODEL).is_some());
        assert!(UnitName::parse("gh2/15", MODEL).is_some());
        assert!(UnitName::parse("github-runner", MODEL).is_none());
        assert!(UnitName::parse("github-runner/x", MODEL).is_none());
        assert!(UnitName::parse("a b/0", MODEL).is_none());
    }

    #[test]
    fn runner_names_carry_the_model_so_two_models_never_share_a_prefix() {
        let here = UnitName::parse("github-runner/12", MODEL).expect("valid");
        let there = UnitName::parse("github-runner/12", "another-model-uuid").expect("valid");
        assert_eq!(here.app(), "github-runner");
        assert_eq!(here.file_name(), "github-runner-12");
        let prefix = here.runner_prefix();
        assert!(prefix.starts_with("github-runner-12-") && prefix.len() == "github-runner-12-".len() + 9);
        assert_ne!(prefix, there.runner_prefix());
        let mine = format!("{prefix}3f9a0c1e");
        assert!(here.owns(&mine));
        assert!(!there.owns(&mine), "the other model's unit leaves it alone");
    }

    #[test]
    fn only_the_exact_pattern_is_owned() {
        let unit = UnitName::parse("github-runner/0", MODEL).expect("valid");
        let prefix = unit.runner_prefix();
        for not_mine in [
            format!("{prefix}3f9a0c1"),
            format!("{prefix}3f9a0c1e0"),
            format!("{prefix}3F9A0C1E"),
            format!("{prefix}3f9a0c1e/../x"),
            format!("{prefix}../../1.0"),
            "github-runner-0-deadbeef".to_string(),
            "github-runner-01-3f9a0c1e".to_string(),
        ] {
            assert!(!unit.owns(&not_mine), "{not_mine}");
        }
        assert!(
            unit.owns("github-runner-0-0123456789abcdef01234567"),
            "the original charm's"
        );
        assert!(unit.is_legacy("github-runner-0-0123456789abcdef01234567"));
        assert!(!unit.is_legacy(&format!("{prefix}3f9a0c1e")), "this charm's own shape");
    }

    #[test]
    fn a_long_application_name_is_cut_to_fit_lxd() {
        let app = "a".repeat(70);
        let unit = UnitName::parse(&format!("{app}/3"), MODEL).expect("valid");
        let name = format!("{}{}", unit.runner_prefix(), "3f9a0c1e");
        assert_eq!(name.len(), 63, "{name}");
        assert!(unit.owns(&name));
    }
}
