//! Where runners live: one repository, or an organisation and one of its runner groups.

/// The scope every route is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Org { org: String, group: String },
    Repo { owner: String, repo: String },
}

impl Scope {
    /// The path prefix of the scope's runner endpoints, without a leading slash.
    pub fn runners_path(&self) -> String {
        match self {
            Scope::Org { org, .. } => format!("orgs/{org}/actions/runners"),
            Scope::Repo { owner, repo } => format!("repos/{owner}/{repo}/actions/runners"),
        }
    }

    /// `owner/repo` or `org`, for messages.
    pub fn path(&self) -> String {
        match self {
            Scope::Org { org, .. } => org.clone(),
            Scope::Repo { owner, repo } => format!("{owner}/{repo}"),
        }
    }

    /// The runner URL `config.sh --url` takes: `<github-url>/<org>` or `<github-url>/<owner>/<repo>`.
    pub fn registration_url(&self, github_url: &url::Url) -> String {
        format!("{}/{}", github_url.as_str().trim_end_matches('/'), self.path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_the_scope() {
        let org = Scope::Org {
            org: "acme".into(),
            group: "default".into(),
        };
        let repo = Scope::Repo {
            owner: "acme".into(),
            repo: "app".into(),
        };
        assert_eq!(org.runners_path(), "orgs/acme/actions/runners");
        assert_eq!(repo.runners_path(), "repos/acme/app/actions/runners");
        let github = url::Url::parse("https://github.com").expect("url");
        assert_eq!(repo.registration_url(&github), "https://github.com/acme/app");
    }
}
