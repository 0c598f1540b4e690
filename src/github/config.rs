//! How a [`GithubClient`](super::GithubClient) is set up: the API root, the token, the scope,
//! the model proxy, timeouts and the retry policy.

use std::time::Duration;

use url::Url;

use super::error::GithubError;
use super::scope::Scope;
pub use crate::proxy::Proxy;
use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Wait after a secondary limit that gave no `retry-after` (GitHub asks for a minute).
    pub secondary_wait: Duration,
    /// A longer wait than this is not waited for: the error is returned instead.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            secondary_wait: Duration::from_secs(60),
            max_wait: Duration::from_secs(120),
        }
    }
}

/// How long one GitHub request may take, unless the caller says otherwise.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://api.github.com/` or `<ghes>/api/v3/`; see [`api_base`].
    pub api_base: Url,
    pub token: Secret,
    pub scope: Scope,
    pub proxy: Proxy,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

impl ClientConfig {
    pub fn new(github_url: &Url, token: Secret, scope: Scope) -> Result<Self, GithubError> {
        Ok(ClientConfig {
            api_base: api_base(github_url)?,
            token,
            scope,
            proxy: Proxy::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: REQUEST_TIMEOUT,
            retry: RetryPolicy::default(),
        })
    }
}

/// The API root for a `github-url`: github.com's API host, or GitHub Enterprise Server's `/api/v3`.
pub fn api_base(github_url: &Url) -> Result<Url, GithubError> {
    if matches!(github_url.host_str(), Some("github.com" | "www.github.com")) {
        return Url::parse("https://api.github.com/").map_err(|e| GithubError::Url(e.to_string()));
    }
    let base = format!("{}/api/v3/", github_url.as_str().trim_end_matches('/'));
    Url::parse(&base).map_err(|e| GithubError::Url(format!("{base}: {e}")))
}

/// Finishes an HTTP client: connect timeout, and the model proxy instead of the process
/// environment's. Shared with the runner download, which must not carry the API headers.
pub fn http_client(
    builder: reqwest::ClientBuilder,
    proxy: &Proxy,
    connect_timeout: Duration,
) -> Result<reqwest::Client, GithubError> {
    let mut builder = builder.connect_timeout(connect_timeout).no_proxy();
    let no_proxy = proxy.no_proxy.as_deref().and_then(reqwest::NoProxy::from_string);
    for (url, https) in [(&proxy.http, false), (&proxy.https, true)] {
        if let Some(url) = url.as_deref() {
            let proxy = if https {
                reqwest::Proxy::https(url)
            } else {
                reqwest::Proxy::http(url)
            };
            let proxy = proxy.map_err(|e| GithubError::Url(format!("proxy {url}: {e}")))?;
            builder = builder.proxy(proxy.no_proxy(no_proxy.clone()));
        }
    }
    builder
        .build()
        .map_err(|e| GithubError::Url(format!("building the HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_com_uses_the_api_host_and_enterprise_server_api_v3() {
        let com = Url::parse("https://github.com").expect("url");
        assert_eq!(api_base(&com).expect("base").as_str(), "https://api.github.com/");
        let ghes = Url::parse("https://ghe.example.com/").expect("url");
        assert_eq!(
            api_base(&ghes).expect("base").as_str(),
            "https://ghe.example.com/api/v3/"
        );
    }
}
