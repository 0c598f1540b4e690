//! The model's proxy, one type from Juju's environment down to the GitHub client and the
//! runners' files: no layer copies it into a struct of its own.

/// The model's proxy (`juju-http-proxy` & co.), which Juju hands the charm as
/// `JUJU_CHARM_*_PROXY` variables, upper or lower case.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

    /// `(NAME, value)` of each variable set, both spellings ([`variables`]).
    pub fn variables(&self) -> Vec<(String, &str)> {
        variables(self.http.as_deref(), self.https.as_deref(), self.no_proxy.as_deref())
    }
}

/// `(NAME, value)` of each proxy variable given, upper and lower case, as tools read them.
pub fn variables<'a>(
    http: Option<&'a str>,
    https: Option<&'a str>,
    no_proxy: Option<&'a str>,
) -> Vec<(String, &'a str)> {
    let mut out = Vec::new();
    for (key, value) in [("HTTP_PROXY", http), ("HTTPS_PROXY", https), ("NO_PROXY", no_proxy)] {
        if let Some(value) = value {
            out.push((key.to_string(), value));
            out.push((key.to_lowercase(), value));
        }
    }
    out
}
