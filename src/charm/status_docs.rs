//! Keeps `docs/reference/statuses.md` true to the code: every status [`super::status`] can
//! build, rendered from samples of every error variant, must fit a row of the page.
//!
//! A row's first cell is a code span; in it `<…>` and `…` stand for any text. The samples of
//! each error enum are listed through [`every_variant!`], whose `match` stops compiling when
//! the enum gains a variant without a sample; a status built outside `status.rs`, or a
//! function there that no sample calls, fails a test here too.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::status;
use crate::bake::plan::ImageStatus;
use crate::config::{CharmConfig, ConfigProblems, Problem};
use crate::github::GithubError;
use crate::host::lxd_install::InstallError;
use crate::host::net::NetError;
use crate::host::storage::StorageError;
use crate::host::systemd_unit::UnitError;
use crate::juju::{Status, ToolError};
use crate::lxd::LxdError;
use crate::lxd_setup::nft::NftError;
use crate::lxd_setup::SetupError;
use crate::manager::plan::{Demand, Flush, Sizing};
use crate::manager::{ManagerError, Reconciled, Report, Stage};
use crate::process::ProcessError;
use crate::proxy::Proxy;
use crate::runner::files::BadValue;
use crate::runner::RunnerError;
use crate::runner_binary::BinaryError;

const PAGE: &str = "docs/reference/statuses.md";

/// `vec![…]` of one sample per variant, each `Variant { fields }`, `Variant(fields)` or
/// `Variant {}`; a variant of `$enum` missing from the list is a compile error.
macro_rules! every_variant {
    ($enum:ident { $($variant:ident $fields:tt),+ $(,)? }) => {{
        #[allow(dead_code)]
        fn exhaustive(e: &$enum) {
            match e {
                $($enum::$variant { .. } => {}),+
            }
        }
        vec![$($enum::$variant $fields),+]
    }};
}

fn s(text: &str) -> String {
    text.to_string()
}

fn io() -> std::io::Error {
    std::io::Error::other("Permission denied (os error 13)")
}

fn process() -> Vec<ProcessError> {
    every_variant!(ProcessError {
        Spawn { program: s("snap"), source: io() },
        Failed { command: s("snap install lxd"), code: Some(1), status: s("exit status: 1"), stderr: s("error: cannot communicate with server") },
    })
}

fn github() -> Vec<GithubError> {
    let url = || s("https://api.github.com/orgs/my-org/actions/runners");
    every_variant!(GithubError {
        TokenRejected { message: s("Bad credentials") },
        NoAccess { path: s("my-org"), status: 404, message: s("Not Found") },
        RateLimited { reset: 1_700_000_000, message: s("API rate limit exceeded") },
        SecondaryRateLimited { attempts: 3, retry_after: Duration::from_secs(60), message: s("You have exceeded a secondary rate limit") },
        RunnerBusy { id: 42, message: s("Bad request - Runner is still running a job") },
        JitUnsupported { url: url() },
        NotFound { url: url(), message: s("Not Found") },
        Conflict { message: s("Already exists") },
        Refused { url: url(), status: 400, message: s("Bad request") },
        Server { url: url(), status: 502, attempts: 3, message: s("Bad Gateway") },
        Timeout { url: url(), timeout: Duration::from_secs(30), attempts: 3 },
        Transport { url: url(), detail: s("error sending request: Connection refused") },
        ForeignLink { url: url(), link: s("http://ghe.example.com/api/v3/x?page=2"), api: s("https://ghe.example.com") },
        TooLarge { url: url(), limit: 8 << 20 },
        Decode { url: url(), detail: s("missing field `runners`") },
        Url(s("relative URL without a base")),
    })
}

fn lxd() -> Vec<LxdError> {
    every_variant!(LxdError {
        Unreachable { socket: PathBuf::from("/var/snap/lxd/common/lxd/unix.socket"), detail: s("Connection refused") },
        Api { method: s("POST"), path: s("/1.0/instances"), status: 400, message: s("Invalid devices") },
        OperationFailed { description: s("Creating instance"), err: s("Failed creating instance record") },
        Timeout { description: s("Executing command"), seconds: 60 },
        OutputTooLarge { command: s("cat /x"), instance: s("github-runner-0-1a2b3c4d-3f9a0c1e"), limit: 1 << 20 },
        Decode { path: s("/1.0"), detail: s("missing field `api_extensions`") },
    })
}

fn binary() -> Vec<BinaryError> {
    let mut all = every_variant!(BinaryError {
        UnsupportedArch(s("riscv64")),
        NoBuild { arch: s("arm64"), offered: s("linux/x64, win/x64") },
        NoChecksum { filename: s("actions-runner-linux-x64-2.330.0.tar.gz") },
        BadFilename { filename: s("../x.tar.gz") },
        Download { url: s("https://github.com/actions/runner/releases/download/v2.330.0/x.tar.gz"), detail: s("timed out") },
        Mismatch { filename: s("x.tar.gz"), expected: s("ab12"), actual: s("cd34") },
        NotARunner { filename: s("x.tar.gz"), detail: s("no bin/Runner.Listener") },
        Io { path: PathBuf::from("/var/cache/github-runner/runner-binary"), source: io() },
        Github(GithubError::Url(s("x"))),
    });
    all.extend(github().into_iter().map(BinaryError::Github));
    all
}

fn runner() -> Vec<RunnerError> {
    let name = || s("github-runner-0-1a2b3c4d-3f9a0c1e");
    let mut all = every_variant!(RunnerError {
        Lxd { name: name(), step: "creating the instance", source: lxd().remove(1) },
        Github { name: name(), step: "registering", source: github().remove(0) },
        NotReady { name: name(), waited: Duration::from_secs(300), what: "no global IPv4 address" },
        Preflight { name: name(), reason: s("the image lacks libicu") },
        Bootstrap { name: name(), code: 1, stderr: s("sudo: not found") },
        BadValue { name: name(), source: BadValue { key: s("HTTP_PROXY"), problem: "holds a line break or NUL, which no environment file can carry" } },
        Template { name: name(), source: minijinja::Error::new(minijinja::ErrorKind::TemplateNotFound, "start.sh.j2") },
    });
    all.extend(lxd().into_iter().map(|source| RunnerError::Lxd {
        name: name(),
        step: "starting",
        source,
    }));
    all.extend(github().into_iter().map(|source| RunnerError::Github {
        name: name(),
        step: "registering",
        source,
    }));
    all
}

fn manager() -> Vec<ManagerError> {
    let mut all = every_variant!(ManagerError {
        Github(GithubError::Url(s("x"))),
        Lxd(lxd().remove(0)),
        Binary(BinaryError::UnsupportedArch(s("riscv64"))),
        Runner(runner().remove(3)),
        MissingBinary {},
        NoRunnerImage {},
    });
    all.extend(github().into_iter().map(ManagerError::Github));
    all.extend(lxd().into_iter().map(ManagerError::Lxd));
    all.extend(binary().into_iter().map(ManagerError::Binary));
    all.extend(runner().into_iter().map(ManagerError::Runner));
    all
}

fn setup() -> Vec<SetupError> {
    let storage = || {
        let mut all = every_variant!(StorageError {
            Mkdir { path: PathBuf::from("/storage/ghr-1a2b3c4d"), source: io() },
            Mode { path: PathBuf::from("/storage/ghr-1a2b3c4d"), source: io() },
            Mount(process().remove(1)),
        });
        all.extend(process().into_iter().map(StorageError::Mount));
        all
    };
    let net = every_variant!(NetError {
        Addresses(nix::Error::EACCES),
        Routes { path: s("/proc/net/route"), source: io() },
    });
    let nft = every_variant!(NftError {
        Install(s("`apt-get install nftables` exited with exit status: 100: E: Unable to locate package nftables")),
        Load { table: s("ghr-1a2b3c4d"), message: s("Error: Could not process rule: No such file or directory") },
    });
    let mut all = every_variant!(SetupError {
        Storage(storage().remove(0)),
        Lxd(lxd().remove(0)),
        HostNetwork(NetError::Addresses(nix::Error::EACCES)),
        PacketFilter(NftError::Install(s("x"))),
        Resource { option: "vm-memory", value: s("8EiB"), message: s("Invalid value for limits.memory") },
        PoolElsewhere { pool: s("ghr-1a2b3c4d"), found: s("/var/lib/x"), expected: s("/storage/ghr-1a2b3c4d") },
        NoPortIsolation { version: s("4.0.9") },
        SubnetClash { subnet: s("10.73.0.0/24"), why: s("the host already routes 10.73.0.0/16 through eth1") },
        NotOurs { kind: "network", name: s("ghr-1a2b3c4d") },
        Firewall { acl: s("ghr-1a2b3c4d"), message: s("Invalid rule") },
        Network { bridge: s("ghr-1a2b3c4d"), message: s("Network is already in use") },
        Unreachable(s("config `denylist` entry 140.82.112.0/20 covers GitHub (api.github.com) (140.82.112.6): runners could not register; remove it")),
    });
    all.push(SetupError::Unreachable(s(
        "GitHub (https://ghe.example.com/) is at 10.0.0.5, an address of this host, which runners may never reach: serve it elsewhere",
    )));
    all.extend(storage().into_iter().map(SetupError::Storage));
    all.extend(lxd().into_iter().map(SetupError::Lxd));
    all.extend(net.into_iter().map(SetupError::HostNetwork));
    all.extend(nft.into_iter().map(SetupError::PacketFilter));
    all
}

fn tool_errors() -> Vec<ToolError> {
    every_variant!(ToolError {
        Missing { tool: "secret-get" },
        Refused { tool: "secret-get", code: 1, message: s("ERROR secret \"cs0b\" not found") },
        Killed { tool: "secret-get", message: s("signal: 9") },
        BadOutput { tool: "secret-get", bytes: 3, source: serde_json::from_str::<String>("{").unwrap_err() },
    })
}

fn images() -> Vec<ImageStatus> {
    every_variant!(ImageStatus {
        Ready {},
        Baking { step: s("installing packages"), first: true },
        Failed { error: s("installing packages failed (exit 100): E: Unable to locate package nope"), first: true, retry_at: 600 },
    })
}

fn stages() -> Vec<Stage> {
    every_variant!(Stage {
        Flushing(Flush::Idle),
        Flushed(Flush::All, 2),
        CheckingBinary {},
        ReplacingIdleForNewBinary {},
        Reconciling(Sizing::Fixed(3)),
    })
}

/// The config problems the charm words itself: required options, the secret, the proxy.
fn config_problems() -> Vec<ConfigProblems> {
    let raw = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect::<serde_json::Map<_, _>>()
    };
    let uri = "secret:cs0b3hqj2qpc7gcbq5c0";
    let mut all = vec![ConfigProblems {
        missing: vec!["token", "path"],
        invalid: vec![Problem {
            option: "vm-disk",
            value: Some(s("10G")),
            problem: s("needs a unit KiB/MiB/GiB/TiB/PiB/EiB, e.g. \"10GiB\""),
        }],
    }];
    let webhook = |pairs: &[(&str, &str)], port: i64| {
        let mut config = raw(pairs);
        config.insert(s("max-virtual-machines"), serde_json::json!(4));
        config.insert(s("webhook-port"), serde_json::json!(port));
        config
    };
    for e in tool_errors() {
        let secret = |_: &str, key: &str| Err(status::secret_problem(&e, key));
        let config = webhook(
            &[("path", "my-org"), ("token-secret-id", uri), ("webhook-secret-id", uri)],
            8080,
        );
        all.extend(CharmConfig::from_raw_with(&config, Proxy::default(), &secret).err());
    }
    let short = |_: &str, _: &str| Ok(crate::secret::Secret::new("short"));
    for config in [
        webhook(&[("path", "my-org"), ("token", "t"), ("webhook-secret-id", uri)], 8080),
        webhook(&[("path", "my-org"), ("token", "t")], 8080),
        webhook(
            &[("path", "my-org"), ("token", "t"), ("webhook-secret-id", "hunter2")],
            8080,
        ),
        webhook(&[("path", "my-org"), ("token", "t"), ("webhook-secret-id", uri)], 70000),
    ] {
        all.extend(CharmConfig::from_raw_with(&config, Proxy::default(), &short).err());
    }
    let mut fixed = webhook(&[("path", "my-org"), ("token", "t"), ("webhook-secret-id", uri)], 8080);
    fixed.insert(s("max-virtual-machines"), serde_json::json!(0));
    fixed.insert(s("watch-interval"), serde_json::json!(1));
    let long = |_: &str, _: &str| Ok(crate::secret::Secret::new("0123456789abcdef0123"));
    all.extend(CharmConfig::from_raw_with(&fixed, Proxy::default(), &long).err());
    let no_secret = |_: &str, _: &str| Err(s("unused"));
    for (config, proxy) in [
        (
            raw(&[("path", "my-org"), ("token-secret-id", "ghp_x")]),
            Proxy::default(),
        ),
        (
            raw(&[("path", "my-org"), ("token", "t"), ("token-secret-id", uri)]),
            Proxy::default(),
        ),
        (
            raw(&[("path", "my-org"), ("token", "t")]),
            Proxy {
                http: Some(s("http://user:pw@proxy:3128/#x")),
                https: Some(s("proxy:3128")),
                no_proxy: Some(s("a\nb")),
            },
        ),
    ] {
        all.extend(CharmConfig::from_raw_with(&config, proxy, &no_secret).err());
    }
    let mut aproxy = raw(&[("path", "my-org"), ("token", "t")]);
    aproxy.insert(s("experimental-use-aproxy"), serde_json::Value::Bool(true));
    all.extend(CharmConfig::from_raw_with(&aproxy, Proxy::default(), &no_secret).err());
    all
}

fn reconciles() -> Vec<Reconciled> {
    let fixed = Reconciled {
        target: 3,
        healthy: 3,
        ..Reconciled::default()
    };
    let elastic = Reconciled {
        target: 6,
        healthy: 4,
        demand: Some(Demand {
            busy: 2,
            floor: 2,
            queued: 4,
            max: 8,
        }),
        ..Reconciled::default()
    };
    let mut all = vec![fixed, elastic];
    for failure in runner() {
        let mut report = Report::default();
        report.failures.push(failure);
        all.push(Reconciled {
            target: 3,
            healthy: 2,
            report,
            ..Reconciled::default()
        });
    }
    all
}

/// Every status the charm can set, from the samples above.
fn every_status() -> Vec<Status> {
    let mut all: Vec<Status> = Vec::new();
    all.extend(manager().iter().map(status::from_error));
    for done in reconciles() {
        let after = status::reconciled(&done);
        for image in images() {
            all.push(status::with_image(after.clone(), Some(&image), 0));
        }
        all.push(after);
    }
    all.extend(images().iter().map(|image| status::no_image(image, 0)));
    all.extend(stages().into_iter().filter_map(status::during));
    all.extend(config_problems().iter().map(status::invalid_config));
    all.extend(setup().iter().map(status::lxd_setup_failed));
    all.push(status::installing_lxd(&["install", "lxd"]));
    all.push(status::installing_lxd(&["refresh", "lxd"]));
    let socket = "/var/snap/lxd/common/lxd/unix.socket";
    all.push(status::no_lxd(socket, &InstallError::NotUbuntu { os: s("debian") }));
    for cause in process() {
        let command = s("snap install lxd");
        all.push(status::no_lxd(socket, &InstallError::Snap { command, cause }));
    }
    all.push(status::lxd_silent("snap install lxd", Duration::from_secs(180)));
    let timer = "ghro.reconcile-runners.timer";
    let units: Vec<UnitError> = every_variant!(UnitError {
        Write { unit: s("ghro.reconcile-runners.timer"), source: io() },
        Systemctl(process().remove(1)),
        Account(crate::host::account::AccountError::Sysusers(s("exit status: 1"))),
        Template { template: "timer.j2", source: minijinja::Error::new(minijinja::ErrorKind::TemplateNotFound, "timer.j2") },
    });
    all.extend(units.iter().map(|e| status::timer_failed(e, timer)));
    all
}

/// The errors a status can carry whole: each must have its own row too.
fn every_error() -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    all.extend(github().iter().map(ToString::to_string));
    all.extend(lxd().iter().map(ToString::to_string));
    all.extend(binary().iter().map(ToString::to_string));
    // A runner's GitHub or LXD error is checked above; the row `runner <name>: <step>: …`
    // that wraps it vouches for nothing else (see `missing_from_page`).
    all.extend(
        runner()
            .iter()
            .filter(|e| !matches!(e, RunnerError::Lxd { .. } | RunnerError::Github { .. }))
            .map(ToString::to_string),
    );
    // Only the setup errors the generic `LXD setup failed: <error>` shows: the others have
    // a blocked row each.
    all.extend(setup().iter().filter(|e| !e.needs_operator()).map(ToString::to_string));
    all
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The first code span of every table row of `page`: the message patterns.
fn patterns(page: &str) -> Vec<String> {
    page.lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .filter_map(|l| {
            let cell = l.trim_start_matches('|').split(" | ").next()?.trim();
            // A double-backtick span (the message holds backticks) drops one space each side.
            let inner = match cell.strip_prefix("``") {
                Some(rest) => {
                    let rest = rest.strip_suffix("``")?;
                    let rest = rest.strip_prefix(' ').unwrap_or(rest);
                    rest.strip_suffix(' ').unwrap_or(rest)
                }
                None => cell.strip_prefix('`')?.strip_suffix('`')?,
            };
            Some(inner.replace("\\|", "|"))
        })
        .collect()
}

/// Whether `text` is `pattern` with each `<…>` and `…` standing for any text (none too).
fn fits(pattern: &str, text: &str) -> bool {
    let mut literals: Vec<String> = vec![String::new()];
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '<' if pattern.contains('>') => {
                for c in chars.by_ref() {
                    if c == '>' {
                        break;
                    }
                }
                literals.push(String::new());
            }
            '…' => literals.push(String::new()),
            c => literals.last_mut().expect("one literal at least").push(c),
        }
    }
    let (first, rest) = literals.split_first().expect("one literal at least");
    let Some(mut left) = text.strip_prefix(first.as_str()) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return left.is_empty();
    };
    for literal in middle {
        match left.find(literal.as_str()) {
            Some(at) => left = &left[at + literal.len()..],
            None => return false,
        }
    }
    left.ends_with(last.as_str())
}

/// The texts that fit no row of the page; `wrappers` says whether the rows that only wrap
/// another error (`<step>`: a runner's GitHub or LXD error) count.
fn missing_from_page(texts: impl IntoIterator<Item = String>, wrappers: bool) -> Vec<String> {
    let page = std::fs::read_to_string(root().join(PAGE)).expect("the statuses reference exists");
    let mut patterns = patterns(&page);
    if !wrappers {
        patterns.retain(|p| !p.contains("<step>"));
    }
    assert!(
        patterns.len() > 20,
        "{PAGE}: its rows were not found ({} patterns)",
        patterns.len()
    );
    let mut missing: Vec<String> = texts
        .into_iter()
        .filter(|text| !patterns.iter().any(|p| fits(p, text)))
        .collect();
    missing.dedup();
    missing
}

#[test]
fn every_status_the_charm_sets_has_a_row_in_the_statuses_reference() {
    let missing = missing_from_page(every_status().iter().map(ToString::to_string), true);
    assert!(
        missing.is_empty(),
        "{PAGE} has no row for these statuses (add one; `<…>` or `…` stands for any text):\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_error_a_status_carries_has_a_row_in_the_statuses_reference() {
    let missing = missing_from_page(every_error(), false);
    assert!(
        missing.is_empty(),
        "{PAGE} has no row for these errors (add one; `<…>` or `…` stands for any text):\n{}",
        missing.join("\n")
    );
}

#[test]
fn statuses_are_built_only_in_status_rs() {
    let mut found = Vec::new();
    let mut dirs = vec![root().join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let path = entry.expect("a directory entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            if path.is_dir() {
                if name != "tests" && !path.ends_with("src/juju") {
                    dirs.push(path);
                }
                continue;
            }
            if !name.ends_with(".rs") || path.ends_with("charm/status.rs") || name.ends_with("_tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for kind in ["Active", "Blocked", "Waiting", "Maintenance"] {
                if code.contains(&format!("Status::{kind}(")) {
                    found.push(format!("{}: Status::{kind}(", path.display()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "build statuses in src/charm/status.rs, where the statuses reference test renders them:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_status_function_has_samples_here() {
    let status_rs = std::fs::read_to_string(root().join("src/charm/status.rs")).expect("status.rs");
    let here = std::fs::read_to_string(root().join("src/charm/status_docs.rs")).expect("this file");
    let unsampled: Vec<&str> = status_rs
        .lines()
        .filter_map(|l| l.strip_prefix("pub fn "))
        .filter_map(|l| l.split('(').next())
        .filter(|name| !here.contains(&format!("status::{name}")))
        .collect();
    assert!(
        unsampled.is_empty(),
        "status functions with no sample in status_docs.rs: {unsampled:?}"
    );
}

#[test]
fn a_placeholder_stands_for_any_text_and_the_rest_must_match() {
    assert!(fits(
        "waiting: <n>/<m> runners; the next reconcile retries",
        "waiting: 2/3 runners; the next reconcile retries"
    ));
    assert!(fits("blocked: missing config: …", "blocked: missing config: token"));
    assert!(!fits("blocked: missing config: …", "waiting: missing config: token"));
    assert!(!fits(
        "active: <n>/<m> runners",
        "active: 3/3 runners; baking a new runner image: x"
    ));
}
