//! User secrets (Juju 3): made by the operator with `add-secret`, readable by the units of the
//! applications it was granted to, each unit tracking the revision it last read.
//!
//! A URI is `secret:` and 20 characters of base32hex in lower case (an xid, as Juju makes).
//! Content keys follow Juju's rule: a lowercase letter, then at least two more lowercase
//! letters or digits, single hyphens between them.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use serde::{Deserialize, Serialize};

/// One revision's content: key → value.
pub type Content = BTreeMap<String, String>;

/// A secret of the model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Secret {
    /// `secret:<id>`.
    pub uri: String,
    /// The operator's name for it (`add-secret <name>`).
    pub name: String,
    /// Revision `n` is `revisions[n - 1]`.
    pub revisions: Vec<Content>,
    /// The applications it was granted to.
    pub granted: BTreeSet<String>,
    /// Unit → what it read.
    pub consumers: BTreeMap<String, Consumer>,
}

/// What one unit reads of a secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Consumer {
    /// The revision `secret-get` returns until `--refresh`.
    pub tracked: u32,
    /// The label the unit gave it (`secret-get --label`), sent back as `JUJU_SECRET_LABEL`.
    pub label: Option<String>,
}

impl Secret {
    pub fn latest(&self) -> u32 {
        u32::try_from(self.revisions.len()).unwrap_or(u32::MAX)
    }

    pub fn content(&self, revision: u32) -> &Content {
        &self.revisions[revision as usize - 1]
    }
}

/// The secret hook (`secret-changed`) a unit is told about.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HookSecret {
    pub uri: String,
    pub label: Option<String>,
}

impl HookSecret {
    /// `JUJU_SECRET_ID` and `JUJU_SECRET_LABEL` (exported even when empty).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("JUJU_SECRET_ID".to_string(), self.uri.clone()),
            ("JUJU_SECRET_LABEL".to_string(), self.label.clone().unwrap_or_default()),
        ]
    }
}

const BASE32HEX: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

/// A fresh `secret:<20 base32hex chars>`.
pub fn new_uri() -> String {
    let mut bytes = [0u8; 20];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        // Unique enough for a fake: the clock and the pid.
        for (i, b) in crate::clock::random_hex().bytes().take(20).enumerate() {
            bytes[i] = b;
        }
    }
    let id: String = bytes.iter().map(|b| BASE32HEX[usize::from(b % 32)] as char).collect();
    format!("secret:{id}")
}

/// The URI `text` names (`secret:<id>` or the bare id), or `None` when it is not one.
pub fn parse_uri(text: &str) -> Option<String> {
    let id = text.strip_prefix("secret:").unwrap_or(text);
    let valid = id.len() == 20 && id.bytes().all(|b| BASE32HEX.contains(&b));
    valid.then(|| format!("secret:{id}"))
}

/// `^([a-z](?:-?[a-z0-9]){2,})$`
pub fn valid_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    let Some((first, rest)) = bytes.split_first() else {
        return false;
    };
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut units = 0;
    let mut after_hyphen = false;
    for b in rest {
        match b {
            b'-' if !after_hyphen => after_hyphen = true,
            b if alnum(b) => {
                units += 1;
                after_hyphen = false;
            }
            _ => return false,
        }
    }
    first.is_ascii_lowercase() && units >= 2 && !after_hyphen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_twenty_base32hex_characters_and_parse_back() {
        let uri = new_uri();
        assert_eq!(uri.len(), "secret:".len() + 20);
        assert_eq!(parse_uri(&uri), Some(uri.clone()));
        assert_eq!(parse_uri(uri.trim_start_matches("secret:")), Some(uri));
        assert_eq!(parse_uri("secret:short"), None);
        assert_eq!(parse_uri("secret:wwwwwwwwwwwwwwwwwwww"), None, "w is not base32hex");
    }

    #[test]
    fn keys_follow_juju_s_rule() {
        for good in ["token", "api-key", "a1b", "abc-d-e"] {
            assert!(valid_key(good), "{good}");
        }
        for bad in ["ab", "Token", "1ab", "a--b", "abc-", "api_key", ""] {
            assert!(!valid_key(bad), "{bad}");
        }
    }
}
