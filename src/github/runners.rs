//! The runner operations, one method each, over [`GithubClient::send`].

use reqwest::Method;

use super::client::{GithubClient, Request};
use super::error::GithubError;
use super::scope::Scope;
use super::types::{
    AuthToken, AuthTokenWire, JitConfig, JitConfigRequest, JitConfigWire, Runner, RunnerApplication, RunnerGroup,
    RunnerGroupList, RunnerList,
};
use crate::secret::Secret;

/// What a delete found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Removed,
    /// GitHub had no such runner (it removed an ephemeral runner itself, or a previous
    /// attempt did): the goal is reached all the same.
    AlreadyGone,
}

impl GithubClient {
    /// Every runner of the scope, all pages followed (100 a page).
    ///
    /// # Errors
    /// [`GithubError::NoAccess`] when GitHub answers 404 for the scope, as it does for a
    /// token that cannot see it.
    pub async fn list_runners(&self) -> Result<Vec<Runner>, GithubError> {
        let mut url = self.url(&self.scope().runners_path())?;
        url.query_pairs_mut().append_pair("per_page", "100");
        let pages: Vec<RunnerList> = self.get_all(url).await.map_err(|e| self.scope_error(e))?;
        Ok(pages.into_iter().flat_map(|p| p.runners).collect())
    }

    /// The runners whose names start with `prefix` (this unit's: `<app>-<unit>-`).
    pub async fn list_runners_with_prefix(&self, prefix: &str) -> Result<Vec<Runner>, GithubError> {
        let mut runners = self.list_runners().await?;
        runners.retain(|r| r.name.starts_with(prefix));
        Ok(runners)
    }

    /// One runner; `None` when GitHub does not know it.
    pub async fn get_runner(&self, id: u64) -> Result<Option<Runner>, GithubError> {
        let url = self.url(&format!("{}/{id}", self.scope().runners_path()))?;
        match self.get::<Runner>(url, false).await {
            Ok((runner, _)) => Ok(Some(runner)),
            Err(GithubError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes a registration. A busy runner is refused with [`GithubError::RunnerBusy`].
    pub async fn delete_runner(&self, id: u64) -> Result<Deleted, GithubError> {
        let url = self.url(&format!("{}/{id}", self.scope().runners_path()))?;
        let request = Request {
            method: Method::DELETE,
            url,
            body: None,
            idempotent: true,
            conditional: false,
        };
        match self.send(request).await {
            Ok(_) => Ok(Deleted::Removed),
            Err(GithubError::NotFound { .. }) => Ok(Deleted::AlreadyGone),
            Err(GithubError::Refused {
                status: 422, message, ..
            }) => Err(GithubError::RunnerBusy { id, message }),
            Err(e) => Err(e),
        }
    }

    /// A registration token for `config.sh` (valid an hour, reusable within it).
    pub async fn registration_token(&self) -> Result<AuthToken, GithubError> {
        self.token("registration-token").await
    }

    /// A remove token for `config.sh remove`.
    pub async fn remove_token(&self) -> Result<AuthToken, GithubError> {
        self.token("remove-token").await
    }

    async fn token(&self, kind: &str) -> Result<AuthToken, GithubError> {
        let url = self.url(&format!("{}/{kind}", self.scope().runners_path()))?;
        // Minting a token twice is harmless, so the POST may be retried.
        let request = Request {
            method: Method::POST,
            url: url.clone(),
            body: None,
            idempotent: true,
            conditional: false,
        };
        let answer = self.send(request).await.map_err(|e| self.scope_error(e))?;
        let wire: AuthTokenWire = parse(&url, &answer.body)?;
        Ok(AuthToken {
            token: Secret::new(wire.token),
            expires_at: wire.expires_at,
        })
    }

    /// Registers a just-in-time runner; the blob configures it (single use).
    ///
    /// Not retried: a POST that timed out may have created the runner, and a second one would
    /// get 409. The caller finds such a half-made runner by name on its next look.
    pub async fn generate_jit_config(
        &self,
        name: &str,
        labels: &[String],
        runner_group_id: u64,
    ) -> Result<JitConfig, GithubError> {
        let url = self.url(&format!("{}/generate-jitconfig", self.scope().runners_path()))?;
        let body = JitConfigRequest {
            name,
            runner_group_id,
            labels,
            work_folder: "_work",
        };
        let request = Request {
            method: Method::POST,
            url: url.clone(),
            body: Some(serde_json::to_string(&body).expect("a struct of strings and numbers always serialises")),
            idempotent: false,
            conditional: false,
        };
        let answer = self.send(request).await.map_err(|e| match e {
            GithubError::NotFound { url, .. } => GithubError::JitUnsupported { url },
            e => self.scope_error(e),
        })?;
        let wire: JitConfigWire = parse(&url, &answer.body)?;
        Ok(JitConfig {
            runner: wire.runner,
            encoded_jit_config: Secret::new(wire.encoded_jit_config),
        })
    }

    /// The runner builds GitHub offers this scope (conditional: usually a free 304).
    pub async fn runner_downloads(&self) -> Result<Vec<RunnerApplication>, GithubError> {
        let url = self.url(&format!("{}/downloads", self.scope().runners_path()))?;
        let (apps, _) = self.get(url, true).await.map_err(|e| self.scope_error(e))?;
        Ok(apps)
    }

    /// The organisation's runner groups (none for a repository).
    pub async fn runner_groups(&self) -> Result<Vec<RunnerGroup>, GithubError> {
        let Scope::Org { org, .. } = self.scope() else {
            return Ok(Vec::new());
        };
        let mut url = self.url(&format!("orgs/{org}/actions/runner-groups"))?;
        url.query_pairs_mut().append_pair("per_page", "100");
        let pages: Vec<RunnerGroupList> = self.get_all(url).await.map_err(|e| self.scope_error(e))?;
        Ok(pages.into_iter().flat_map(|p| p.runner_groups).collect())
    }

    /// The runner group id for JIT configs: the configured group's for an organisation
    /// (by name, any case: GitHub's default group is "Default"), 1 for a repository.
    pub async fn runner_group_id(&self) -> Result<u64, GithubError> {
        let Scope::Org { group, .. } = self.scope() else {
            return Ok(1);
        };
        let groups = self.runner_groups().await?;
        groups
            .iter()
            .find(|g| g.name.eq_ignore_ascii_case(group))
            .map(|g| g.id)
            .ok_or_else(|| GithubError::NoAccess {
                path: self.scope().path(),
                status: 404,
                message: format!(
                    "no runner group {group:?} (groups: {}); check config `group`",
                    groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            })
    }

    /// GitHub answers 404 for a scope the token cannot see: say so.
    fn scope_error(&self, e: GithubError) -> GithubError {
        match e {
            GithubError::NotFound { message, .. } => GithubError::NoAccess {
                path: self.scope().path(),
                status: 404,
                message,
            },
            other => other,
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(url: &url::Url, body: &str) -> Result<T, GithubError> {
    serde_json::from_str(body).map_err(|e| GithubError::Decode {
        url: url.to_string(),
        detail: e.to_string(),
    })
}
