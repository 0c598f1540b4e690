//! Config validation, option by option: each bad value blocks with a message naming it.

use serde_json::{json, Map, Value};

use super::*;

mod pool;

fn valid() -> Map<String, Value> {
    json!({
        "path": "my-org",
        "token": "ghp_0123456789abcdef",
        "group": "default",
        "virtual-machines": 1,
        "vm-cpu": 2,
        "vm-memory": "7GiB",
        "vm-disk": "10GiB",
        "reconcile-interval": 10,
        "denylist": "",
        "dockerhub-mirror": "",
        "experimental-use-aproxy": false,
        "github-url": "https://github.com",
        "base-image": "jammy",
    })
    .as_object()
    .cloned()
    .expect("a JSON object literal")
}

fn with(key: &str, value: Value) -> Map<String, Value> {
    let mut raw = valid();
    raw.insert(key.to_string(), value);
    raw
}

fn problems(raw: &Map<String, Value>) -> ConfigProblems {
    CharmConfig::from_raw(raw, Proxy::default()).expect_err("config should be refused")
}

#[test]
fn valid_config_parses_into_typed_values() {
    let config = CharmConfig::from_raw(&valid(), Proxy::default()).expect("valid");
    assert_eq!(config.path, GithubPath::Org("my-org".into()));
    assert_eq!(config.group.as_deref(), Some("default"));
    assert_eq!(config.vm_disk.kib(), 10 * 1024 * 1024);
    assert_eq!(
        crate::lxd_setup::Names::legacy().resource_profile(&config),
        "cpu-2-mem-7GiB-disk-10GiB"
    );
    assert!(!config.insecure);
}

#[test]
fn repository_path_has_no_runner_group() {
    let config =
        CharmConfig::from_raw(&with("path", json!("canonical/github-runner")), Proxy::default()).expect("valid");
    assert_eq!(
        config.path,
        GithubPath::Repo {
            owner: "canonical".into(),
            repo: "github-runner".into()
        }
    );
    assert_eq!(config.group, None);
}

#[test]
fn every_bad_value_blocks_with_a_message_naming_the_option() {
    let cases: &[(&str, Value, &str)] = &[
        ("path", json!("a/b/c"), "path \"a/b/c\" must be an organisation name"),
        ("path", json!("owner/"), "path \"owner/\" must be an organisation name (`my-org`) or a repository (`owner/repo`): repository name is empty"),
        ("path", json!("-org"), "path \"-org\""),
        ("path", json!("my org"), "path \"my org\""),
        ("path", json!("https://github.com/org"), "path \"https://github.com/org\""),
        ("group", json!(""), "group \"\" must name the organisation's runner group"),
        ("virtual-machines", json!(-1), "virtual-machines \"-1\" must be at least 0"),
        ("virtual-machines", json!("3"), "virtual-machines \"\\\"3\\\"\" must be a whole number"),
        ("vm-cpu", json!(0), "vm-cpu \"0\" must be at least 1"),
        ("vm-memory", json!("7G"), "vm-memory \"7G\" needs a unit KiB/MiB/GiB/TiB/PiB/EiB, e.g. \"7GiB\""),
        ("vm-memory", json!("0GiB"), "vm-memory \"0GiB\" must be more than zero"),
        ("vm-disk", json!("10G"), "vm-disk \"10G\" needs a unit KiB/MiB/GiB/TiB/PiB/EiB, e.g. \"10GiB\""),
        ("vm-disk", json!("1.5GiB"), "vm-disk \"1.5GiB\" must be a positive whole number"),
        ("vm-disk", json!("-5GiB"), "vm-disk \"-5GiB\" must be a positive whole number"),
        ("vm-disk", json!("99999999999999999999GiB"), "vm-disk \"99999999999999999999GiB\" is too large"),
        ("reconcile-interval", json!(0), "reconcile-interval \"0\" must be at least 1"),
        ("test-mode", json!("yes"), "test-mode \"yes\" must be empty or `insecure`"),
        ("denylist", json!("10.0.0.1/8"), "denylist \"10.0.0.1/8\" entry \"10.0.0.1/8\" has host bits set (did you mean 10.0.0.0/8?)"),
        ("denylist", json!("10.0.0.0/33"), "needs a prefix length from 0 to 32"),
        ("denylist", json!("10.0.0.0/8,,192.168.0.0/16"), "has an empty entry"),
        ("denylist", json!("fe80::/10"), "entry \"fe80::/10\" is not an IPv4 address"),
        ("dockerhub-mirror", json!("http://mirror.local"), "dockerhub-mirror \"http://mirror.local\" must start with https://"),
        ("dockerhub-mirror", json!("mirror.local"), "dockerhub-mirror \"mirror.local\" is not a URL"),
        ("github-url", json!("http://ghe.local"), "github-url \"http://ghe.local\" must start with https:// (http:// only with test-mode=insecure)"),
        ("github-url", json!("ftp://ghe.local"), "github-url \"ftp://ghe.local\" must start with https://"),
        ("base-image", json!(""), "base-image \"\" must name an LXD image"),
        ("experimental-use-aproxy", json!("true"), "experimental-use-aproxy \"\\\"true\\\"\" must be true or false"),
        ("experimental-use-aproxy", json!(true), "experimental-use-aproxy \"true\" needs the model's proxy"),
    ];
    for (option, value, expected) in cases {
        let message = problems(&with(option, value.clone())).to_string();
        assert!(message.starts_with("invalid config: "), "{option}={value}: {message}");
        assert!(
            message.contains(expected),
            "{option}={value}: got {message:?}, want {expected:?}"
        );
    }
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let mut raw = with("vm-disk", json!("10G"));
    raw.insert("denylist".into(), json!("10.0.0.1/8"));
    raw.insert("vm-cpu".into(), json!(0));
    let message = problems(&raw).to_string();
    assert_eq!(
        message,
        "invalid config: vm-cpu \"0\" must be at least 1; \
         vm-disk \"10G\" needs a unit KiB/MiB/GiB/TiB/PiB/EiB, e.g. \"10GiB\"; \
         denylist \"10.0.0.1/8\" entry \"10.0.0.1/8\" has host bits set (did you mean 10.0.0.0/8?)"
    );
}

#[test]
fn missing_path_and_token_are_named() {
    let mut raw = valid();
    raw.insert("path".into(), json!(""));
    raw.remove("token");
    let found = problems(&raw);
    assert_eq!(found.missing, vec!["token", "path"]);
    assert_eq!(
        found.to_string(),
        "missing config: token, path (set with `juju config`)"
    );
}

#[test]
fn missing_and_invalid_are_reported_together() {
    let mut raw = with("vm-cpu", json!(0));
    raw.insert("token".into(), json!(""));
    assert_eq!(
        problems(&raw).to_string(),
        "missing config: token (set with `juju config`); invalid config: vm-cpu \"0\" must be at least 1"
    );
}

#[test]
fn a_bad_token_is_refused_without_showing_it() {
    let message = problems(&with("token", json!("ghp_secret value"))).to_string();
    assert!(message.contains("token contains whitespace"), "{message}");
    assert!(!message.contains("ghp_secret"), "{message}");
}

#[test]
fn insecure_test_mode_allows_plain_http_github() {
    let mut raw = with("github-url", json!("http://127.0.0.1:8080"));
    raw.insert("test-mode".into(), json!("insecure"));
    let config = CharmConfig::from_raw(&raw, Proxy::default()).expect("valid in test mode");
    assert!(config.insecure);
    assert_eq!(config.github_url.as_str(), "http://127.0.0.1:8080/");
}

#[test]
fn denylist_accepts_networks_and_single_addresses() {
    let config =
        CharmConfig::from_raw(&with("denylist", json!(" 10.0.0.0/8, 192.168.1.7 ")), Proxy::default()).expect("valid");
    let shown: Vec<String> = config.denylist.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["10.0.0.0/8", "192.168.1.7/32"]);
}

#[test]
fn the_runner_subnet_is_a_private_network_of_16_to_29_bits() {
    let config = CharmConfig::from_raw(&valid(), Proxy::default()).expect("valid");
    assert_eq!(config.runner_subnet.to_string(), "10.73.0.0/24");
    assert_eq!(config.runner_subnet.first_host().to_string(), "10.73.0.1");
    for (value, problem) in [
        ("10.73.0.0/30", "needs a prefix length from 16 to 29"),
        ("10.0.0.0/8", "needs a prefix length from 16 to 29"),
        ("8.8.8.0/24", "must be a private network"),
        ("10.73.0.1/24", "has host bits set (did you mean 10.73.0.0/24?)"),
    ] {
        let message = problems(&with("runner-subnet", json!(value))).to_string();
        assert!(
            message.contains(&format!("runner-subnet {value:?} {problem}")),
            "{message}"
        );
    }
}

#[test]
fn a_denylist_entry_inside_the_runners_own_network_is_refused_but_a_wider_one_is_kept() {
    let mut raw = with("denylist", json!("10.73.0.128/25"));
    let message = problems(&raw).to_string();
    assert!(
        message.contains("entry 10.73.0.128/25 lies inside `runner-subnet` 10.73.0.0/24"),
        "{message}"
    );
    raw.insert("denylist".into(), json!("10.0.0.0/8"));
    let config = CharmConfig::from_raw(&raw, Proxy::default()).expect("a wider network is enforced");
    assert_eq!(config.denylist.len(), 1);
}

#[test]
fn aproxy_is_accepted_with_a_model_proxy_from_lowercase_variables() {
    let proxy = Proxy::from_env(|name| (name == "juju_charm_https_proxy").then(|| "http://squid.internal:3128".into()));
    let config = CharmConfig::from_raw(&with("experimental-use-aproxy", json!(true)), proxy).expect("valid");
    assert_eq!(config.proxy.https.as_deref(), Some("http://squid.internal:3128"));
}

#[test]
fn a_model_proxy_that_is_not_a_url_is_named() {
    let proxy = Proxy {
        http: Some("squid:3128".into()),
        ..Proxy::default()
    };
    let message = CharmConfig::from_raw(&valid(), proxy)
        .expect_err("bad proxy")
        .to_string();
    assert!(message.contains("juju-http-proxy \"squid:3128\""), "{message}");
}

#[test]
fn a_refused_proxy_url_is_shown_without_its_credentials() {
    let proxy = Proxy {
        http: Some("http://admin:s3cret@squid internal:3128".into()),
        ..Proxy::default()
    };
    let message = CharmConfig::from_raw(&valid(), proxy)
        .expect_err("bad proxy")
        .to_string();
    assert!(
        message.contains("juju-http-proxy \"http://***@squid internal:3128\""),
        "{message}"
    );
    assert!(!message.contains("s3cret") && !message.contains("admin"), "{message}");

    let proxy = Proxy {
        http: Some("admin:s3cret@squid:3128".into()),
        ..Proxy::default()
    };
    let message = CharmConfig::from_raw(&valid(), proxy)
        .expect_err("no scheme")
        .to_string();
    assert!(message.contains("\"***@squid:3128\""), "{message}");
    assert!(!message.contains("s3cret") && !message.contains("admin"), "{message}");
}

#[test]
fn a_proxy_value_a_runner_file_cannot_carry_blocks_naming_it_and_hides_the_password() {
    let proxy = Proxy {
        http: Some("http://admin:s3cret@squid.internal:3128/#x".into()),
        https: Some("http://admin:p#ss@squid.internal:3128".into()),
        no_proxy: Some("localhost, \"a\", 'b'".into()),
    };
    let message = CharmConfig::from_raw(&valid(), proxy)
        .expect_err("values /etc/environment cannot carry")
        .to_string();
    assert!(
        message.contains("juju-http-proxy \"http://***@squid.internal:3128/#x\"")
            && message.contains("holds `#`, where /etc/environment would cut the value"),
        "{message}"
    );
    assert_eq!(
        message.matches("juju-https-proxy").count(),
        1,
        "one problem per option: {message}"
    );
    assert!(
        message.contains("juju-no-proxy") && message.contains("both kinds of quote"),
        "{message}"
    );
    assert!(
        !message.contains("p#ss") && !message.contains("s3cret") && !message.contains("admin"),
        "{message}"
    );
}

#[test]
fn unset_options_take_the_config_yaml_defaults() {
    let raw = json!({"path": "org", "token": "t"})
        .as_object()
        .cloned()
        .expect("object");
    let config = CharmConfig::from_raw(&raw, Proxy::default()).expect("valid");
    assert_eq!(config.virtual_machines, 1);
    assert_eq!(config.reconcile_interval, 10);
    assert_eq!(config.github_url.as_str(), "https://github.com/");
}

#[test]
fn code_defaults_match_config_yaml() {
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(include_str!("../../../config.yaml")).expect("config.yaml parses");
    let default = |key: &str| yaml["options"][key]["default"].clone();
    assert_eq!(default("group"), serde_yaml::Value::from(defaults::GROUP));
    assert_eq!(
        default("virtual-machines"),
        serde_yaml::Value::from(defaults::VIRTUAL_MACHINES)
    );
    assert_eq!(default("vm-cpu"), serde_yaml::Value::from(defaults::VM_CPU));
    assert_eq!(
        default("runner-max-age"),
        serde_yaml::Value::from(defaults::RUNNER_MAX_AGE)
    );
    assert_eq!(default("vm-memory"), serde_yaml::Value::from(defaults::VM_MEMORY));
    assert_eq!(default("vm-disk"), serde_yaml::Value::from(defaults::VM_DISK));
    assert_eq!(
        default("reconcile-interval"),
        serde_yaml::Value::from(defaults::RECONCILE_INTERVAL)
    );
    assert_eq!(default("github-url"), serde_yaml::Value::from(defaults::GITHUB_URL));
    assert_eq!(default("base-image"), serde_yaml::Value::from(defaults::BASE_IMAGE));
    assert_eq!(
        default("runner-subnet"),
        serde_yaml::Value::from(defaults::RUNNER_SUBNET)
    );
    assert_eq!(default("metrics-port"), serde_yaml::Value::from(defaults::METRICS_PORT));
    assert!(
        yaml["options"]["test-mode"].get("default").is_none(),
        "test-mode has no default, as in the original"
    );
}

#[test]
fn custom_labels_are_kept_in_order_and_bad_ones_are_named() {
    let config =
        CharmConfig::from_raw(&with("labels", json!(" large, gpu-free ,v1.2_x")), Proxy::default()).expect("valid");
    assert_eq!(config.labels, vec!["large", "gpu-free", "v1.2_x"]);
    for (labels, expected) in [
        ("large,has space", "label \"has space\" holds ' '"),
        ("large,,small", "empty label"),
        ("Large,large", "label \"large\" is there twice"),
        ("self-hosted", "a default label every runner has already (self-hosted)"),
        ("JAMMY", "a default label every runner has already (jammy)"),
    ] {
        let message = problems(&with("labels", json!(labels))).to_string();
        assert!(message.contains("labels"), "{message}");
        assert!(message.contains(expected), "{labels}: {message}");
    }
    let many: Vec<String> = (0..96).map(|i| format!("l{i}")).collect();
    let message = problems(&with("labels", json!(many.join(",")))).to_string();
    assert!(message.contains("has 96 labels; GitHub takes 95"), "{message}");
}

#[test]
fn the_metrics_port_is_a_tcp_port_and_zero_turns_the_exporter_off() {
    let on = CharmConfig::from_raw(&valid(), Proxy::default()).expect("valid");
    assert_eq!(on.metrics_port, Some(defaults::METRICS_PORT as u16));
    let off = CharmConfig::from_raw(&with("metrics-port", json!(0)), Proxy::default()).expect("valid");
    assert_eq!(off.metrics_port, None);
    let message = problems(&with("metrics-port", json!(70000))).to_string();
    assert!(
        message.contains("metrics-port \"70000\" must be a TCP port"),
        "{message}"
    );
}

#[test]
fn the_token_may_come_from_a_juju_secret_but_not_from_both() {
    let mut raw = valid();
    raw.insert("token".into(), json!(""));
    raw.insert("token-secret-id".into(), json!("secret:cs0b3hqj2qpc7gcbq5c0"));
    let lookup = |uri: &str, _key: &str| {
        assert_eq!(uri, "secret:cs0b3hqj2qpc7gcbq5c0");
        Ok(Secret::new("ghp_fromsecret".to_string()))
    };
    let config = CharmConfig::from_raw_with(&raw, Proxy::default(), &lookup).expect("valid");
    assert_eq!(config.token.expose(), "ghp_fromsecret");

    let unreadable = |_: &str, _: &str| Err("cannot be read: permission denied".to_string());
    let message = CharmConfig::from_raw_with(&raw, Proxy::default(), &unreadable)
        .expect_err("refused")
        .to_string();
    assert!(
        message.contains("token-secret-id") && message.contains("permission denied"),
        "{message}"
    );

    raw.insert("token".into(), json!("ghp_0123456789abcdef"));
    let message = CharmConfig::from_raw_with(&raw, Proxy::default(), &lookup)
        .expect_err("both set")
        .to_string();
    assert!(message.contains("set only one of them"), "{message}");

    raw.insert("token".into(), json!(""));
    raw.insert("token-secret-id".into(), json!("ghp_pastedhere0123456789"));
    let never = |_: &str, _: &str| -> Result<Secret, String> { panic!("not a URI: secret-get is never run") };
    let message = CharmConfig::from_raw_with(&raw, Proxy::default(), &never)
        .expect_err("not a URI")
        .to_string();
    assert!(message.contains("must be a Juju secret URI"), "{message}");
    assert!(!message.contains("ghp_pasted"), "{message}");
}
