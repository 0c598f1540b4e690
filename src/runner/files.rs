//! The files a runner instance gets besides the runner itself, each written in its own file's
//! syntax so that no config or proxy value is ever evaluated by a shell:
//!
//! | file | syntax | how a value is written |
//! |---|---|---|
//! | the runner's `.env` | one `KEY=VALUE` a line, split at the first `=` (the runner's own loader; the launch script reads it line by line, never sourcing it) | raw |
//! | `/etc/environment` | pam_env: `KEY=VALUE`, one pair of surrounding quotes removed, nothing expanded | in `"…"`, or `'…'` when it holds `"` |
//! | docker's `http-proxy.conf` drop-in | systemd: `Environment="KEY=VALUE"` | `\` and `"` escaped, `%` doubled (specifiers) |
//! | `/etc/docker/daemon.json`, `~/.docker/config.json` | JSON | serde_json |
//! | the runner's `.runner-inputs` (`config.sh` options) | as `.env` | raw |
//!
//! A value no syntax can carry (a newline, a NUL; for pam_env `#` or both kinds of quote) is refused
//! with the variable's name, never written half.

use serde_json::json;

/// The system's search path, and the runner user's `~/.local/bin` before it (in `.env`).
pub const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin";

/// A value that cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct BadValue {
    pub key: String,
    pub problem: &'static str,
}

/// What one runner's instance gets written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerFiles {
    /// The runner's `.env`, without its `PATH` line (the bootstrap adds it: the home of the
    /// runner's user is known only in the instance).
    pub env: String,
    /// `/etc/environment`, whole.
    pub etc_environment: String,
    /// `/etc/systemd/system/docker.service.d/http-proxy.conf`, when there are proxies.
    pub docker_proxy_dropin: Option<String>,
    /// `~/.docker/config.json` of root and the runner's user, when there are proxies.
    pub docker_client_config: Option<String>,
    /// `/etc/docker/daemon.json`, when there is a Docker Hub mirror.
    pub docker_daemon_json: Option<String>,
}

/// What the files are made from.
#[derive(Debug, Clone, Default)]
pub struct FileInputs<'a> {
    pub http_proxy: Option<&'a str>,
    pub https_proxy: Option<&'a str>,
    pub no_proxy: Option<&'a str>,
    pub dockerhub_mirror: Option<&'a str>,
}

impl FileInputs<'_> {
    /// `(NAME, value)` of each proxy variable, both spellings, as runners expect them.
    fn proxies(&self) -> Vec<(String, &str)> {
        crate::proxy::variables(self.http_proxy, self.https_proxy, self.no_proxy)
    }
}

fn check(key: &str, value: &str) -> Result<(), BadValue> {
    if value.contains(['\n', '\r', '\0']) {
        return Err(BadValue {
            key: key.into(),
            problem: "holds a line break or NUL, which no environment file can carry",
        });
    }
    Ok(())
}

/// `KEY=VALUE` lines, raw: the `.env` syntax.
pub fn env_lines<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<String, BadValue> {
    let mut out = String::new();
    for (key, value) in pairs {
        check(key, value)?;
        out.push_str(key);
        out.push('=');
        out.push_str(value);
        out.push('\n');
    }
    Ok(out)
}

/// A value for `/etc/environment` (pam_env strips one pair of quotes, expands nothing, and
/// ends a value at `#`, its comment sign, quotes or not).
fn pam_quote(key: &str, value: &str) -> Result<String, BadValue> {
    check(key, value)?;
    let bad = |problem| BadValue {
        key: key.into(),
        problem,
    };
    if value.contains('#') {
        return Err(bad("holds `#`, where /etc/environment would cut the value"));
    }
    match (value.contains('"'), value.contains('\'')) {
        (false, _) => Ok(format!("\"{value}\"")),
        (true, false) => Ok(format!("'{value}'")),
        (true, true) => Err(bad("holds both kinds of quote, which /etc/environment cannot carry")),
    }
}

/// Why a proxy value could not reach a runner intact, for the config check to block with
/// before any runner is tried: pam_env's rules are the strictest of the files it goes to
/// (the others refuse only what [`check`] does).
pub fn unwritable(value: &str) -> Option<&'static str> {
    pam_quote("", value).err().map(|e| e.problem)
}

/// `Environment="KEY=VALUE"` for a systemd unit.
fn systemd_environment(key: &str, value: &str) -> Result<String, BadValue> {
    check(key, value)?;
    let escaped = format!("{key}={value}")
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('%', "%%");
    Ok(format!("Environment=\"{escaped}\"\n"))
}

/// Every file, rendered.
///
/// # Errors
/// A value no file syntax can carry.
pub fn render(inputs: &FileInputs<'_>) -> Result<RunnerFiles, BadValue> {
    let proxies = inputs.proxies();
    let mut env: Vec<(&str, &str)> = vec![("LANG", "C.UTF-8")];
    env.extend(proxies.iter().map(|(k, v)| (k.as_str(), *v)));
    if let Some(mirror) = inputs.dockerhub_mirror {
        env.push(("DOCKERHUB_MIRROR", mirror));
    }
    let mut etc_environment = format!("PATH=\"{SYSTEM_PATH}\"\n");
    for (key, value) in env.iter().filter(|(k, _)| *k != "LANG") {
        etc_environment.push_str(&format!("{key}={}\n", pam_quote(key, value)?));
    }
    let upper: Vec<&(String, &str)> = proxies
        .iter()
        .filter(|(k, _)| k.chars().all(|c| !c.is_lowercase()))
        .collect();
    let docker_proxy_dropin = match upper.is_empty() {
        true => None,
        false => {
            let mut text = String::from("[Service]\n");
            for (key, value) in &upper {
                text.push_str(&systemd_environment(key, value)?);
            }
            Some(text)
        }
    };
    let docker_client_config = (!upper.is_empty()).then(|| {
        let mut default = serde_json::Map::new();
        for (field, value) in [
            ("httpProxy", inputs.http_proxy),
            ("httpsProxy", inputs.https_proxy),
            ("noProxy", inputs.no_proxy),
        ] {
            if let Some(value) = value {
                default.insert(field.into(), json!(value));
            }
        }
        format!("{:#}\n", json!({"proxies": {"default": default}}))
    });
    let docker_daemon_json = inputs
        .dockerhub_mirror
        .map(|mirror| format!("{:#}\n", json!({"registry-mirrors": [mirror]})));
    Ok(RunnerFiles {
        env: env_lines(env)?,
        etc_environment,
        docker_proxy_dropin,
        docker_client_config,
        docker_daemon_json,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Values a careless renderer turns into commands or broken files.
    const AWKWARD_HTTP: &str = "http://us$er:p%40ss;&`id`'x@proxy.internal:3128";
    const AWKWARD_NO_PROXY: &str = "localhost, 10.0.0.0/8, \"quoted\", .internal";

    fn awkward() -> FileInputs<'static> {
        FileInputs {
            http_proxy: Some(AWKWARD_HTTP),
            https_proxy: Some(AWKWARD_HTTP),
            no_proxy: Some(AWKWARD_NO_PROXY),
            dockerhub_mirror: Some("https://mirror.internal:5000"),
        }
    }

    #[test]
    fn env_holds_each_value_raw_on_its_own_line() {
        let files = render(&awkward()).expect("renders");
        assert!(files.env.starts_with("LANG=C.UTF-8\n"));
        assert!(files.env.contains(&format!("\nHTTP_PROXY={AWKWARD_HTTP}\n")));
        assert!(files.env.contains(&format!("\nhttps_proxy={AWKWARD_HTTP}\n")));
        assert!(files.env.contains(&format!("\nno_proxy={AWKWARD_NO_PROXY}\n")));
        assert!(files.env.ends_with("DOCKERHUB_MIRROR=https://mirror.internal:5000\n"));
    }

    #[test]
    fn etc_environment_quotes_for_pam_env() {
        let files = render(&awkward()).expect("renders");
        assert!(files.etc_environment.starts_with(&format!("PATH=\"{SYSTEM_PATH}\"\n")));
        // The proxy holds a single quote: double quotes; no_proxy holds double quotes: single.
        assert!(files
            .etc_environment
            .contains(&format!("HTTP_PROXY=\"{AWKWARD_HTTP}\"\n")));
        assert!(files
            .etc_environment
            .contains(&format!("NO_PROXY='{AWKWARD_NO_PROXY}'\n")));
        assert!(!files.etc_environment.contains("LANG"));
    }

    #[test]
    fn the_docker_drop_in_escapes_quotes_backslashes_and_percent_specifiers() {
        let files = render(&awkward()).expect("renders");
        let dropin = files.docker_proxy_dropin.expect("proxies");
        assert!(dropin.starts_with("[Service]\n"));
        assert!(dropin.contains("Environment=\"HTTP_PROXY=http://us$er:p%%40ss;&`id`'x@proxy.internal:3128\"\n"));
        assert!(dropin.contains("Environment=\"NO_PROXY=localhost, 10.0.0.0/8, \\\"quoted\\\", .internal\"\n"));
        assert!(!dropin.contains("http_proxy"), "systemd wants one spelling");
    }

    #[test]
    fn docker_json_files_are_json_with_the_values_intact() {
        let files = render(&awkward()).expect("renders");
        type Proxies = BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>;
        let client: Proxies = serde_json::from_str(&files.docker_client_config.expect("proxies")).expect("JSON");
        assert_eq!(client["proxies"]["default"]["httpProxy"], AWKWARD_HTTP);
        assert_eq!(client["proxies"]["default"]["noProxy"], AWKWARD_NO_PROXY);
        let daemon: BTreeMap<String, Vec<String>> =
            serde_json::from_str(&files.docker_daemon_json.expect("mirror")).expect("JSON");
        assert_eq!(daemon["registry-mirrors"], ["https://mirror.internal:5000"]);
    }

    #[test]
    fn without_proxies_or_mirror_there_is_nothing_for_docker() {
        let files = render(&FileInputs::default()).expect("renders");
        assert_eq!(files.env, "LANG=C.UTF-8\n");
        assert_eq!(files.etc_environment, format!("PATH=\"{SYSTEM_PATH}\"\n"));
        assert_eq!(files.docker_proxy_dropin, None);
        assert_eq!(files.docker_client_config, None);
        assert_eq!(files.docker_daemon_json, None);
    }

    #[test]
    fn a_value_no_file_can_carry_is_refused_by_name() {
        let inputs = FileInputs {
            no_proxy: Some("a\nb"),
            ..FileInputs::default()
        };
        assert_eq!(render(&inputs).expect_err("refused").key, "NO_PROXY");
        let inputs = FileInputs {
            http_proxy: Some("http://a'b\"c"),
            ..FileInputs::default()
        };
        assert!(render(&inputs)
            .expect_err("refused")
            .to_string()
            .contains("both kinds of quote"));
    }
}
