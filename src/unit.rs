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
        let model_tag = hex8(model_uuid);
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

    /// `github-runner-0-`: the original charm's runner names start with it.
    pub fn unit_prefix(&self) -> String {
        format!("{}-", self.name.replace('/', "-"))
    }

    /// What every name this unit may own starts with (its own pattern's, the original
    /// charm's and earlier releases'), to narrow a listing before [`UnitName::owns`] decides:
    /// `github-runner-0-`, shorter for an application name too long for LXD.
    pub fn listing_prefix(&self) -> String {
        let shapes = [
            Some(self.unit_prefix()),
            Some(self.runner_prefix()),
            self.cut_prefix_without_hash(),
        ];
        let mut common = self.unit_prefix();
        for shape in shapes.into_iter().flatten() {
            let same = common.bytes().zip(shape.bytes()).take_while(|(a, b)| a == b).count();
            common.truncate(same);
        }
        common
    }

    /// `github-runner-0-1a2b3c4d-`: every runner name of the unit starts with it. An
    /// application name too long for LXD's limit is cut and followed by 8 hex of its SHA-256
    /// (`<cut app>-<app hash>-<unit>-<model>-`): two applications that share a long prefix
    /// still have names of their own.
    pub fn runner_prefix(&self) -> String {
        let full = format!("{}{}-", self.unit_prefix(), self.model_tag);
        if full.len() <= MAX_NAME - RUNNER_HEX {
            return full;
        }
        let tail = format!("-{}-{}-{}-", hex8(self.app()), self.number(), self.model_tag);
        self.cut_app_then(&tail)
    }

    /// What earlier releases made of a long application name: cut, with no hash.
    fn cut_prefix_without_hash(&self) -> Option<String> {
        let full = format!("{}{}-", self.unit_prefix(), self.model_tag);
        (full.len() > MAX_NAME - RUNNER_HEX)
            .then(|| self.cut_app_then(&format!("-{}-{}-", self.number(), self.model_tag)))
    }

    fn cut_app_then(&self, tail: &str) -> String {
        let room = (MAX_NAME - RUNNER_HEX).saturating_sub(tail.len());
        format!("{}{tail}", &self.app()[..room.min(self.app().len())])
    }

    fn number(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or("")
    }

    /// Whether `name` is one of this unit's runners: the exact pattern the charm generates
    /// (or a legacy one, [`UnitName::is_legacy`]), nothing merely starting like it.
    pub fn owns(&self, name: &str) -> bool {
        match name.strip_prefix(&self.runner_prefix()) {
            Some(rest) => lower_hex(rest, RUNNER_HEX),
            None => self.is_legacy(name),
        }
    }

    /// Whether `name` has a legacy shape: the original charm's (`<app>-<unit>-<24 hex>`), or
    /// what earlier releases of this one made of an application name too long for LXD (cut,
    /// with no hash). Such a name is this unit's only where its instance is on this machine:
    /// the original charm in another model, with the same application and unit names, makes
    /// the same shape, and so does an application whose long name starts like this one's.
    pub fn is_legacy(&self, name: &str) -> bool {
        let original = name
            .strip_prefix(&self.unit_prefix())
            .is_some_and(|rest| lower_hex(rest, LEGACY_HEX));
        let cut = self
            .cut_prefix_without_hash()
            .and_then(|prefix| name.strip_prefix(&prefix).map(|rest| lower_hex(rest, RUNNER_HEX)));
        original || cut == Some(true)
    }

    /// 8 hex naming this application in this model: the machine-wide names of its LXD
    /// objects carry it (`crate::lxd_setup::Names`).
    pub fn object_tag(&self) -> String {
        hex8(&format!("{}/{}", self.model_tag, self.app()))
    }

    /// `github-runner-0`: the unit as a file name.
    pub fn file_name(&self) -> String {
        self.name.replace('/', "-")
    }
}

/// `rest` is exactly `len` lowercase hex digits.
fn lower_hex(rest: &str, len: usize) -> bool {
    rest.len() == len && rest.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// 8 hex of the SHA-256 of `text`.
fn hex8(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
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
    fn long_application_names_that_share_a_prefix_keep_names_of_their_own() {
        let shared = "a".repeat(50);
        let one = UnitName::parse(&format!("{shared}-one/3"), MODEL).expect("valid");
        let two = UnitName::parse(&format!("{shared}-two/3"), MODEL).expect("valid");
        let name = format!("{}{}", one.runner_prefix(), "3f9a0c1e");
        assert_eq!(name.len(), 63, "{name}");
        assert!(one.owns(&name) && !one.is_legacy(&name));
        assert!(!two.owns(&name), "the other application's runner is not ours: {name}");
        assert_ne!(one.runner_prefix(), two.runner_prefix());

        // What an earlier release named it (cut, no hash): legacy, ours only on this machine.
        let prefix = one.runner_prefix();
        let model = &prefix[prefix.len() - 9..prefix.len() - 1];
        let earlier = format!("{}-3-{model}-3f9a0c1e", &shared[..43]);
        assert_eq!(earlier.len(), 63, "{earlier}");
        assert!(one.is_legacy(&earlier) && two.is_legacy(&earlier), "{earlier}");
        for owned in [&name, &earlier] {
            assert!(owned.starts_with(&one.listing_prefix()), "a listing finds {owned}");
        }
        let short = UnitName::parse("github-runner/0", MODEL).expect("valid");
        assert_eq!(short.listing_prefix(), "github-runner-0-");
    }
}
