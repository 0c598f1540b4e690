//! The model's proxy, one type from Juju's environment down to the GitHub client and the
//! runners' files: no layer copies it into a struct of its own.

/// The model's proxy (`juju-http-proxy` & co.), which Juju hands the charm as
/// `JUJU_CHARM_*_PROXY` variables, upper or lower case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxy {
    pub http: Option<String>,
    pub https: Option<String>,
    pub no_proxy: Option<String>,
}

impl Proxy {
    /// Reads the proxy variables through `var` (the process environment in production).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| {
            var(name)
                .or_else(|| var(&name.to_lowercase()))
                .filter(|v| !v.trim().is_empty())
        };
        Proxy {
            http: get("JUJU_CHARM_HTTP_PROXY"),
            https: get("JUJU_CHARM_HTTPS_PROXY"),
            no_proxy: get("JUJU_CHARM_NO_PROXY"),
        }
    }
}
