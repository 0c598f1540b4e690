//! The one script that configures and starts a runner inside its instance
//! (`templates/bootstrap.sh.j2`, rendered with minijinja; `|sh` quotes a value for the shell).

use minijinja::{context, Environment};

use super::{Registration, RunnerError, RunnerSettings, PID_FILE, RUNNER_DIR, TARBALL, TOKEN_FILE};

const BOOTSTRAP_TEMPLATE: &str = include_str!("../../templates/bootstrap.sh.j2");

/// The bootstrap script for one runner.
pub fn render_bootstrap(
    settings: &RunnerSettings,
    name: &str,
    registration: Registration,
) -> Result<String, RunnerError> {
    let mut env = Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("the default syntax is valid"),
    );
    env.add_filter("sh", |value: String| format!("'{}'", value.replace('\'', r"'\''")));
    let ctx = context! {
        name => name,
        runner_dir => RUNNER_DIR,
        tarball => TARBALL,
        token_file => TOKEN_FILE,
        pid_file => PID_FILE,
        jit => registration == Registration::Jit,
        url => &settings.url,
        labels => settings.labels.join(","),
        group => &settings.group,
        environment => &settings.environment,
        dockerhub_mirror => &settings.dockerhub_mirror,
    };
    env.render_str(BOOTSTRAP_TEMPLATE, ctx)
        .map_err(|source| RunnerError::Template {
            name: name.to_string(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lxd::{InstanceSource, InstanceType};
    use std::time::Duration;

    fn settings(registration: Registration) -> RunnerSettings {
        RunnerSettings {
            kind: InstanceType::Container,
            source: InstanceSource::Alias("runner-test".into()),
            profiles: vec!["runner".into()],
            devices: Default::default(),
            url: "https://github.com/acme".into(),
            labels: vec!["github-runner".into(), "jammy".into()],
            group: Some("it's".into()),
            group_id: 1,
            registration,
            environment: vec![("HTTP_PROXY".into(), "http://squid:3128".into())],
            dockerhub_mirror: None,
            ready_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn the_token_path_registers_through_the_runner_s_environment_with_quoted_values() {
        let script = render_bootstrap(
            &settings(Registration::Token),
            "github-runner-0-ab",
            Registration::Token,
        )
        .expect("renders");
        for line in [
            "export ACTIONS_RUNNER_INPUT_TOKEN=\"$token\"\n",
            "export ACTIONS_RUNNER_INPUT_URL='https://github.com/acme'\n",
            "export ACTIONS_RUNNER_INPUT_NAME='github-runner-0-ab'\n",
            "export ACTIONS_RUNNER_INPUT_LABELS='github-runner,jammy'\n",
            "export ACTIONS_RUNNER_INPUT_RUNNERGROUP='it'\\''s'\n",
            "$run_as './config.sh --ephemeral --unattended --disableupdate'\n",
        ] {
            assert!(script.contains(line), "{line:?} missing from:\n{script}");
        }
        assert!(!script.contains("ACTIONS_RUNNER_INPUT_JITCONFIG"));
        assert!(script.contains("HTTP_PROXY=http://squid:3128\n"));
    }

    #[test]
    fn both_scripts_are_valid_posix_sh() {
        for registration in [Registration::Jit, Registration::Token] {
            let script = render_bootstrap(&settings(registration), "n", registration).expect("renders");
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("bootstrap.sh");
            std::fs::write(&path, script).expect("write");
            let out = std::process::Command::new("sh")
                .arg("-n")
                .arg(&path)
                .output()
                .expect("sh runs");
            assert!(
                out.status.success(),
                "{registration:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn the_jit_path_hands_the_config_through_the_environment() {
        let script = render_bootstrap(&settings(Registration::Jit), "n", Registration::Jit).expect("renders");
        assert!(
            script.contains("export ACTIONS_RUNNER_INPUT_JITCONFIG=\"$token\"\n"),
            "{script}"
        );
        assert!(!script.contains("config.sh"));
        assert!(script.contains("$run_as './run.sh' >> /var/log/github-runner.log 2>&1; poweroff"));
    }

    #[test]
    fn no_mirror_means_no_mirror_line_rather_than_none() {
        let script = render_bootstrap(&settings(Registration::Jit), "n", Registration::Jit).expect("renders");
        assert!(
            !script.contains("DOCKERHUB_MIRROR") && !script.contains("None"),
            "{script}"
        );
        let mut with_mirror = settings(Registration::Jit);
        with_mirror.dockerhub_mirror = Some("https://mirror.local".into());
        let script = render_bootstrap(&with_mirror, "n", Registration::Jit).expect("renders");
        assert!(
            script.contains("'https://mirror.local' > /etc/docker/daemon.json"),
            "{script}"
        );
    }
}
