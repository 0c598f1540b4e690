//! This unit's identity: its name (`github-runner/0`), its application, and what its runners
//! are called. Every name a runner of this unit gets starts with [`UnitName::runner_prefix`].

/// A Juju unit name: an application name, a slash, a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitName {
    name: String,
}

impl UnitName {
    /// `None` unless `name` is `<app>/<number>` with a Juju application name.
    pub fn parse(name: &str) -> Option<Self> {
        let (app, number) = name.split_once('/')?;
        let app_ok = !app.is_empty()
            && app
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let number_ok = !number.is_empty() && number.chars().all(|c| c.is_ascii_digit());
        (app_ok && number_ok).then(|| UnitName { name: name.to_string() })
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

    /// `github-runner-0-`: every runner name of the unit starts with it.
    pub fn runner_prefix(&self) -> String {
        format!("{}-", self.name.replace('/', "-"))
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

    #[test]
    fn unit_names_are_app_slash_number() {
        assert!(UnitName::parse("github-runner/0").is_some());
        assert!(UnitName::parse("gh2/15").is_some());
        assert!(UnitName::parse("github-runner").is_none());
        assert!(UnitName::parse("github-runner/x").is_none());
        assert!(UnitName::parse("a b/0").is_none());
    }

    #[test]
    fn runner_names_and_files_derive_from_the_unit() {
        let unit = UnitName::parse("github-runner/12").expect("valid");
        assert_eq!(unit.app(), "github-runner");
        assert_eq!(unit.runner_prefix(), "github-runner-12-");
        assert_eq!(unit.file_name(), "github-runner-12");
    }
}
