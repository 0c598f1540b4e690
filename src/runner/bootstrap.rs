//! The one script that configures and starts a runner inside its instance
//! (`templates/bootstrap.sh.j2`, rendered with minijinja; `|sh` quotes a value for the shell).

use minijinja::{context, Environment};

use std::net::Ipv4Addr;

use super::{Registration, RunnerError, RunnerSettings, PID_FILE, RUNNER_DIR, TARBALL, TOKEN_FILE};

const BOOTSTRAP_TEMPLATE: &str = include_str!("../../templates/bootstrap.sh.j2");

/// Where aproxy listens in the runner (the original's port).
pub const APROXY_PORT: u16 = 54969;

/// The nftables rules that send a runner's outbound HTTP(S) to aproxy on its own address
/// `ip` (the original's rules, with `127.0.0.0/8` written as a network).
pub fn aproxy_rules(ip: Ipv4Addr) -> String {
    format!(
        "define default-ip = {ip}\n\
         define private-ips = {{ 10.0.0.0/8, 127.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 }}\n\
         table ip aproxy\n\
         flush table ip aproxy\n\
         table ip aproxy {{\n\
         \tchain prerouting {{\n\
         \t\ttype nat hook prerouting priority dstnat; policy accept;\n\
         \t\tip daddr != $private-ips tcp dport {{ 80, 443 }} dnat to $default-ip:{APROXY_PORT}\n\
         \t}}\n\
         \tchain output {{\n\
         \t\ttype nat hook output priority -100; policy accept;\n\
         \t\tip daddr != $private-ips tcp dport {{ 80, 443 }} dnat to $default-ip:{APROXY_PORT}\n\
         \t}}\n\
         }}"
    )
}

/// The bootstrap script for one runner whose address is `ip`.
pub fn render_bootstrap(
    settings: &RunnerSettings,
    name: &str,
    registration: Registration,
    ip: Ipv4Addr,
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
        aproxy => settings.aproxy.as_ref().map(|proxy| context! {
            proxy => proxy,
            port => APROXY_PORT,
            rules => aproxy_rules(ip),
        }),
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

    const IP: Ipv4Addr = Ipv4Addr::new(10, 73, 0, 5);

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
            aproxy: None,
            ready_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn the_token_path_registers_through_the_runner_s_environment_with_quoted_values() {
        let script = render_bootstrap(
            &settings(Registration::Token),
            "github-runner-0-ab",
            Registration::Token,
            IP,
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
            let script = render_bootstrap(&settings(registration), "n", registration, IP).expect("renders");
            sh_n(&script);
        }
    }

    #[test]
    fn the_jit_path_hands_the_config_through_the_environment() {
        let script = render_bootstrap(&settings(Registration::Jit), "n", Registration::Jit, IP).expect("renders");
        assert!(
            script.contains("export ACTIONS_RUNNER_INPUT_JITCONFIG=\"$token\"\n"),
            "{script}"
        );
        assert!(!script.contains("config.sh"));
        assert!(script.contains("$run_as './run.sh' >> /var/log/github-runner.log 2>&1; poweroff"));
    }

    #[test]
    fn no_mirror_means_no_mirror_line_rather_than_none() {
        let script = render_bootstrap(&settings(Registration::Jit), "n", Registration::Jit, IP).expect("renders");
        assert!(
            !script.contains("DOCKERHUB_MIRROR") && !script.contains("None"),
            "{script}"
        );
        let mut with_mirror = settings(Registration::Jit);
        with_mirror.dockerhub_mirror = Some("https://mirror.local".into());
        let script = render_bootstrap(&with_mirror, "n", Registration::Jit, IP).expect("renders");
        assert!(
            script.contains("'https://mirror.local' > /etc/docker/daemon.json"),
            "{script}"
        );
    }

    #[test]
    fn aproxy_installs_the_snap_points_it_at_the_proxy_and_redirects_80_and_443() {
        let mut with_aproxy = settings(Registration::Jit);
        with_aproxy.aproxy = Some("squid.internal:3128".into());
        let script = render_bootstrap(&with_aproxy, "n", Registration::Jit, IP).expect("renders");
        for line in [
            "snap install aproxy --channel=edge\n",
            "snap set aproxy proxy='squid.internal:3128' listen=:54969\n",
            "nft -f - <<'NFT'\n",
            "define default-ip = 10.73.0.5\n",
            "define private-ips = { 10.0.0.0/8, 127.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 }\n",
            "\t\ttype nat hook prerouting priority dstnat; policy accept;\n",
            "\t\ttype nat hook output priority -100; policy accept;\n",
        ] {
            assert!(script.contains(line), "{line:?} missing from:\n{script}");
        }
        let redirect = "\t\tip daddr != $private-ips tcp dport { 80, 443 } dnat to $default-ip:54969\n";
        assert_eq!(script.matches(redirect).count(), 2, "{script}");
        sh_n(&script);
        let plain = render_bootstrap(&settings(Registration::Jit), "n", Registration::Jit, IP).expect("renders");
        assert!(!plain.contains("aproxy"));
    }

    /// `sh -n`: the script parses as POSIX sh.
    fn sh_n(script: &str) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bootstrap.sh");
        std::fs::write(&path, script).expect("write");
        let out = std::process::Command::new("sh")
            .arg("-n")
            .arg(&path)
            .output()
            .expect("sh runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}
