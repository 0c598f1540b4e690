//! Secret values: the GitHub token and the single-use tokens derived from it.
//!
//! A secret never prints: `Debug` shows `<redacted>` and there is no `Display` or `Serialize`.
//! Code that must hand the value on (an HTTP header, the 0600 state file) calls `expose`,
//! which is easy to grep for.

use secrecy::{ExposeSecret, SecretString};

/// A secret string, such as the GitHub personal access token from config.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(SecretString::from(value.into()))
    }

    /// The value itself; only for the places that must send or store it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Secret {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_value() {
        let token = Secret::new("ghp_very_secret");
        assert_eq!(format!("{token:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{:?}", Some(&token)), "Some(Secret(<redacted>))");
    }
}
