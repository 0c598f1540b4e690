//! The one script that configures and starts a runner inside its instance
//! (`templates/bootstrap.sh.j2`, rendered with minijinja; `|sh` quotes a value for the shell).
//! The files it writes come rendered from [`super::files`]; it writes them from quoted
//! here-documents whose delimiter appears in none of them.

use std::hash::{BuildHasher, Hasher};
use std::net::Ipv4Addr;

use minijinja::{context, Environment};

use super::files::{self, env_lines, FileInputs, SYSTEM_PATH};
use super::{Registration, RunnerError, RunnerSettings, PID_FILE, SETUP_DIR};

const BOOTSTRAP_TEMPLATE: &str = include_str!("../../templates/bootstrap.sh.j2");
/// Who the runner runs as, included by the bootstrap and by `prepare.sh`.
pub const RUNNER_USER_TEMPLATE: &str = include_str!("../../templates/runner-user.sh.j2");

/// The shell templates' environment: trailing newlines kept, `|sh` quoting, the shared
/// partial (the bake's script renders with it too).
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("the default syntax is valid"),
    );
    env.add_filter("sh", |value: String| format!("'{}'", value.replace('\'', r"'\''")));
    env.add_template("runner-user.sh.j2", RUNNER_USER_TEMPLATE)
        .expect("the partial parses");
    env
}

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

/// A here-document delimiter found in none of `texts`.
fn delimiter(texts: &[&str]) -> String {
    loop {
        let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
        let eof = format!("GITHUB_RUNNER_EOF_{random:016x}");
        if texts.iter().all(|t| !t.contains(&eof)) {
            return eof;
        }
    }
}

/// The bootstrap script for one runner whose address is `ip`.
pub fn render_bootstrap(
    settings: &RunnerSettings,
    name: &str,
    registration: Registration,
    ip: Ipv4Addr,
) -> Result<String, RunnerError> {
    let bad_value = |source| RunnerError::BadValue {
        name: name.to_string(),
        source,
    };
    let proxy = &settings.proxy;
    let files = files::render(&FileInputs {
        http_proxy: proxy.http.as_deref(),
        https_proxy: proxy.https.as_deref(),
        no_proxy: proxy.no_proxy.as_deref(),
        dockerhub_mirror: settings.dockerhub_mirror.as_deref(),
    })
    .map_err(bad_value)?;
    let labels = settings.labels.join(",");
    let mut inputs = vec![
        ("ACTIONS_RUNNER_INPUT_URL", settings.url.as_str()),
        ("ACTIONS_RUNNER_INPUT_NAME", name),
        ("ACTIONS_RUNNER_INPUT_LABELS", labels.as_str()),
    ];
    if let Some(group) = &settings.group {
        inputs.push(("ACTIONS_RUNNER_INPUT_RUNNERGROUP", group));
    }
    let runner_inputs = env_lines(inputs).map_err(bad_value)?;
    let aproxy = settings.aproxy.as_ref().map(|proxy| (proxy, aproxy_rules(ip)));
    let texts: Vec<&str> = [
        Some(files.env.as_str()),
        Some(files.etc_environment.as_str()),
        files.docker_proxy_dropin.as_deref(),
        files.docker_client_config.as_deref(),
        files.docker_daemon_json.as_deref(),
        Some(runner_inputs.as_str()),
        aproxy.as_ref().map(|(_, rules)| rules.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let eof = delimiter(&texts);
    let env = environment();
    let ctx = context! {
        name => name,
        setup_dir => SETUP_DIR,
        pid_file => PID_FILE,
        system_path => SYSTEM_PATH,
        jit => registration == Registration::Jit,
        eof => eof,
        files => context! {
            env => files.env,
            etc_environment => files.etc_environment,
            docker_proxy_dropin => files.docker_proxy_dropin,
            docker_client_config => files.docker_client_config,
            docker_daemon_json => files.docker_daemon_json,
        },
        runner_inputs => runner_inputs,
        aproxy => aproxy.map(|(proxy, rules)| context! {
            proxy => proxy,
            port => APROXY_PORT,
            rules => rules,
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
    use crate::proxy::Proxy;
    use std::time::Duration;

    const IP: Ipv4Addr = Ipv4Addr::new(10, 73, 0, 5);

    fn settings() -> RunnerSettings {
        RunnerSettings {
            kind: InstanceType::Container,
            source: InstanceSource::Alias("runner-test".into()),
            runner_in_image: false,
            profiles: vec!["runner".into()],
            devices: Default::default(),
            url: "https://github.com/acme".into(),
            labels: vec!["github-runner".into(), "jammy".into()],
            group: Some("it's".into()),
            group_id: 1,
            registration: Registration::Jit,
            proxy: Proxy {
                http: Some("http://us$er:p%40ss;&`id`@squid:3128".into()),
                https: None,
                no_proxy: Some("localhost, .internal".into()),
            },
            dockerhub_mirror: None,
            aproxy: None,
            ready_timeout: Duration::from_secs(90),
        }
    }

    fn render(settings: &RunnerSettings, registration: Registration) -> String {
        render_bootstrap(settings, "github-runner-0-ab", registration, IP).expect("renders")
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
        assert!(
            out.status.success(),
            "{}\n{script}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn eof(script: &str) -> &str {
        let start = script.find("GITHUB_RUNNER_EOF_").expect("a here-document");
        &script[start..start + "GITHUB_RUNNER_EOF_".len() + 16]
    }

    #[test]
    fn the_token_path_hands_config_sh_its_options_through_a_file_of_inputs() {
        let script = render(&settings(), Registration::Token);
        let eof = eof(&script);
        for text in [
            format!("cat > \"$dir/.runner-inputs\" <<'{eof}'\n"),
            "ACTIONS_RUNNER_INPUT_URL=https://github.com/acme\n".to_string(),
            "ACTIONS_RUNNER_INPUT_NAME=github-runner-0-ab\n".to_string(),
            "ACTIONS_RUNNER_INPUT_LABELS=github-runner,jammy\n".to_string(),
            "ACTIONS_RUNNER_INPUT_RUNNERGROUP=it's\n".to_string(),
            "  exec ./config.sh --ephemeral --unattended --disableupdate\n".to_string(),
        ] {
            assert!(script.contains(&text), "{text:?} missing from:\n{script}");
        }
        assert!(!script.contains("ACTIONS_RUNNER_INPUT_JITCONFIG"));
        sh_n(&script);
    }

    #[test]
    fn the_jit_path_hands_the_config_to_the_listener_alone() {
        let script = render(&settings(), Registration::Jit);
        assert!(
            script.contains(
                "(\n  ACTIONS_RUNNER_INPUT_JITCONFIG=$(cat .runner-token) || exit 1\n  rm -f .runner-token\n  \
                 export ACTIONS_RUNNER_INPUT_JITCONFIG\n  exec ./bin/Runner.Listener run\n)"
            ),
            "{script}"
        );
        assert!(
            !script.contains("./run.sh"),
            "run.sh would keep the secret in its environment"
        );
        assert!(!script.contains("config.sh"));
        assert!(script.contains("setsid sh -c \"$launch >> $log 2>&1; poweroff\""));
        sh_n(&script);
    }

    #[test]
    fn proxies_are_written_from_quoted_here_documents_never_evaluated() {
        let script = render(&settings(), Registration::Jit);
        let eof = eof(&script);
        assert!(script.contains(&format!(
            "cat >> \"$dir/.env\" <<'{eof}'\nLANG=C.UTF-8\nHTTP_PROXY=http://us$er:p%40ss;&`id`@squid:3128\n"
        )));
        assert!(script.contains("no_proxy=localhost, .internal\n"));
        assert!(script.contains(&format!("cat > /etc/environment <<'{eof}'\n")));
        assert!(!script.contains(". ./.env"), "the .env is never sourced");
        sh_n(&script);
    }

    #[test]
    fn docker_gets_its_proxy_drop_in_and_the_mirror_only_when_set() {
        let script = render(&settings(), Registration::Jit);
        assert!(script.contains("docker.service.d/http-proxy.conf"));
        assert!(!script.contains("daemon.json"));
        let mut plain = settings();
        plain.proxy = Proxy::default();
        let script = render(&plain, Registration::Jit);
        assert!(
            !script.contains("docker.service.d") && !script.contains("daemon.json"),
            "{script}"
        );
        assert!(!script.contains("DOCKERHUB_MIRROR") && !script.contains("None"));
        plain.dockerhub_mirror = Some("https://mirror.local".into());
        let script = render(&plain, Registration::Jit);
        assert!(
            script.contains("\"registry-mirrors\": [\n    \"https://mirror.local\"\n  ]"),
            "{script}"
        );
        assert!(script.contains("DOCKERHUB_MIRROR=https://mirror.local\n"));
        assert_eq!(script.matches("systemctl restart docker").count(), 1);
        sh_n(&script);
    }

    #[test]
    fn aproxy_installs_the_snap_points_it_at_the_proxy_and_redirects_80_and_443() {
        let mut with_aproxy = settings();
        with_aproxy.aproxy = Some("squid.internal:3128".into());
        let script = render(&with_aproxy, Registration::Jit);
        for line in [
            "snap install aproxy --channel=edge\n",
            "snap set aproxy proxy='squid.internal:3128' listen=:54969\n",
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
        assert!(!render(&settings(), Registration::Jit).contains("aproxy"));
    }

    /// A listener that logs what it was given, writes its credentials as the real one does
    /// (with the process umask), and exits with the next code of `codes` (then 0).
    const LISTENER: &str = r#"#!/bin/sh
n=$(( $(cat runs 2>/dev/null || echo 0) + 1 )); echo $n > runs
parent=$(tr '\0' '\n' < /proc/$PPID/environ | grep -c SECRET)
file=$(test -e .runner-token && echo left || echo gone)
echo "run $n: ${ACTIONS_RUNNER_INPUT_JITCONFIG:-none} parent=$parent file=$file $*" >> listener.log
: > .credentials
exit $(awk -v n=$n '{ print $n }' codes | grep . || echo 0)
"#;

    /// Runs the launch script of a JIT bootstrap with [`LISTENER`] exiting with `codes`, a fake
    /// `sleep` that records its waits (and, on the `touch_at`-th, touches `update.finished` as
    /// `_update.sh` would); the runner's directory, and stdout. The script must end with the
    /// listener's last code, `last`.
    fn launch_with(codes: &str, touch_at: Option<usize>, last: i32) -> (tempfile::TempDir, String) {
        let script = render(&settings(), Registration::Jit);
        let start = script.find("cat > \"$dir/.launch.sh\" <<'").expect("the launch script");
        let delimiter = eof(&script[start..]).to_string();
        let body = &script[start..].split_once('\n').expect("body").1;
        let launch = &body[..body.find(&format!("\n{delimiter}\n")).expect("its end") + 1];

        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, text: &str, mode: u32| {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
            std::fs::write(&path, text).expect("write");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        };
        write(".launch.sh", launch, 0o700);
        write(".env", "LANG=C.UTF-8\n", 0o600);
        write(".runner-token", "SECRET-jit-config", 0o600);
        write("bin/Runner.Listener", LISTENER, 0o755);
        write("codes", codes, 0o644);
        // The waits are recorded, not waited for.
        let touch = touch_at.map_or(String::new(), |n| {
            format!("[ $(wc -l < \"${{0%/*}}/slept\") -eq {n} ] && touch update.finished\n")
        });
        write(
            "fake-bin/sleep",
            &format!("#!/bin/sh\necho \"$@\" >> \"${{0%/*}}/slept\"\n{touch}exit 0\n"),
            0o755,
        );
        let path = format!("PATH={}:/usr/bin:/bin", dir.path().join("fake-bin").display());
        let out = std::process::Command::new("env")
            .args(["-i", &path, "/bin/sh"])
            .arg(dir.path().join(".launch.sh"))
            .output()
            .expect("sh runs");
        assert_eq!(out.status.code(), Some(last), "{out:?}");
        (dir, String::from_utf8_lossy(&out.stdout).into_owned())
    }

    #[test]
    fn the_listener_alone_gets_the_secret_and_exit_code_2_restarts_it_without() {
        let (dir, stdout) = launch_with("2", None, 0);
        let log = std::fs::read_to_string(dir.path().join("listener.log")).expect("the listener ran");
        assert_eq!(
            log,
            "run 1: SECRET-jit-config parent=0 file=gone run\nrun 2: none parent=0 file=gone run\n"
        );
        assert!(stdout.contains("exited with code 2"));
        let slept = std::fs::read_to_string(dir.path().join("fake-bin/slept")).expect("it waited");
        assert_eq!(slept, "5\n", "5 s before the restart, as run.sh waits");
    }

    #[test]
    fn a_self_update_is_waited_for_until_update_finished_and_what_the_runner_writes_is_its_own() {
        use std::os::unix::fs::PermissionsExt;
        // Exit 3: updating; _update.sh touches update.finished 3 s later.
        let (dir, stdout) = launch_with("3", Some(3), 0);
        let slept = std::fs::read_to_string(dir.path().join("fake-bin/slept")).expect("it waited");
        assert_eq!(slept, "1\n1\n1\n", "polled each second until update.finished: {stdout}");
        assert!(
            !dir.path().join("update.finished").exists(),
            "removed before the restart"
        );
        let log = std::fs::read_to_string(dir.path().join("listener.log")).expect("ran");
        assert_eq!(log.lines().count(), 2, "started again once the update finished: {log}");
        let mode = std::fs::metadata(dir.path().join(".credentials"))
            .expect("written")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the runner's files are its user's alone (umask 077)"
        );

        // Exit 4, and no update.finished ever: 31 polls at most, then the runner anyway.
        let (dir, stdout) = launch_with("4", None, 0);
        let slept = std::fs::read_to_string(dir.path().join("fake-bin/slept")).expect("it waited");
        assert_eq!(slept.lines().count(), 31, "{stdout}");
        assert!(stdout.contains("no update.finished after 30 s"), "{stdout}");

        // Exit 5 (a session conflict) ends the runner: no restart, and its code is the script's.
        let (dir, _) = launch_with("5", None, 5);
        let log = std::fs::read_to_string(dir.path().join("listener.log")).expect("ran");
        assert_eq!(log.lines().count(), 1);
    }
}
