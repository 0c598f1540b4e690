//! User secrets under the fake against the Juju contract (research/juju-contract.md §1.3,
//! §2.2 "Secrets"): `add-secret`, `grant-secret`, `update-secret` and `secret-get` with its
//! tracked revision, as the probe charm's hooks see them.

mod common;

use common::{probe, Model};

/// Adds secret `name` with `pairs` and returns its URI.
fn add_secret(m: &Model, name: &str, pairs: &[&str]) -> String {
    let mut args = vec!["add-secret", name];
    args.extend_from_slice(pairs);
    m.ok(&args).trim().to_string()
}

#[test]
fn add_secret_prints_a_juju_style_uri() {
    let m = Model::deploy();
    let uri = add_secret(&m, "github", &["token=ghp_one"]);
    let id = uri.strip_prefix("secret:").expect("secret: prefix");
    assert_eq!(id.len(), 20, "{uri}");
    assert!(
        id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'v').contains(&b)),
        "{uri}"
    );
    let again = m.juju(&["add-secret", "github", "token=x"]);
    assert_eq!(
        String::from_utf8_lossy(&again.stderr),
        "ERROR secret with name \"github\" already exists\n"
    );
}

#[test]
fn secret_get_needs_a_grant_and_a_secret_that_exists() {
    let m = Model::deploy();
    let uri = add_secret(&m, "github", &["token=ghp_one"]);
    let (_, out) = m.hook(&(probe(&format!("secret-get {uri}")) + &probe("secret-get secret:0123456789abcdefghij")));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "rc=1 out= err=ERROR permission denied");
    assert_eq!(
        lines[1],
        "rc=1 out= err=ERROR secret \"secret:0123456789abcdefghij\" not found"
    );
}

#[test]
fn secret_get_prints_the_content_or_one_value() {
    let m = Model::deploy();
    let uri = add_secret(&m, "github", &["token=ghp_one", "user=bot"]);
    m.ok(&["grant-secret", "github", "probe"]);
    let (_, out) = m.hook(
        &(probe(&format!("secret-get --format=json {uri}"))
            + &probe(&format!("secret-get {uri} token"))
            + &probe(&format!("secret-get --format=json {uri} token"))
            + &probe(&format!("secret-get {uri} nope"))
            + &probe(&format!("secret-get {uri} --peek --refresh"))
            + &probe("secret-get not-a-uri")),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "rc=0 out={\"token\":\"ghp_one\",\"user\":\"bot\"} err=");
    assert_eq!(lines[1], "rc=0 out=ghp_one err=");
    assert_eq!(lines[2], "rc=0 out=\"ghp_one\" err=");
    assert_eq!(lines[3], "rc=1 out= err=ERROR secret key value \"nope\" not found");
    assert_eq!(
        lines[4],
        "rc=2 out= err=ERROR specify one of --peek or --refresh but not both"
    );
    assert_eq!(lines[5], "rc=2 out= err=ERROR secret URI \"not-a-uri\" not valid");
}

#[test]
fn a_unit_keeps_its_revision_until_refresh_and_peek_moves_nothing() {
    let m = Model::deploy();
    let uri = add_secret(&m, "github", &["token=one"]);
    m.ok(&["grant-secret", &uri, "probe"]);
    m.hook(&format!("secret-get {uri} token\n"));
    m.on_every_hook("exit 0\n");
    m.ok(&["update-secret", "github", "token=two"]);
    let (_, out) = m.hook(
        &(probe(&format!("secret-get {uri} token"))
            + &probe(&format!("secret-get {uri} token --peek"))
            + &probe(&format!("secret-get {uri} token"))
            + &probe(&format!("secret-get {uri} token --refresh"))
            + &probe(&format!("secret-get {uri} token"))),
    );
    let values: Vec<&str> = out.lines().collect();
    assert_eq!(
        values,
        [
            "rc=0 out=one err=",
            "rc=0 out=two err=",
            "rc=0 out=one err=",
            "rc=0 out=two err=",
            "rc=0 out=two err="
        ]
    );
}

#[test]
fn update_secret_runs_secret_changed_where_the_secret_was_read() {
    let m = Model::deploy();
    let uri = add_secret(&m, "github", &["token=one"]);
    m.ok(&["grant-secret", "github", "probe"]);
    m.on_every_hook("echo \"$JUJU_HOOK_NAME|${JUJU_SECRET_ID-unset}|${JUJU_SECRET_LABEL-unset}\" >> out\n");
    m.ok(&["update-secret", "github", "token=two"]);
    assert_eq!(m.out(), "", "nobody read it yet: nobody is told");
    m.hook(&format!("secret-get {uri} --label github-token\n"));
    m.on_every_hook("echo \"$JUJU_HOOK_NAME|${JUJU_SECRET_ID-unset}|${JUJU_SECRET_LABEL-unset}|$(secret-get --label github-token --format=json)\" >> out\n");
    m.ok(&["update-secret", &uri, "token=three"]);
    assert_eq!(
        m.out(),
        format!("secret-changed|{uri}|github-token|{{\"token\":\"two\"}}\n"),
        "the label finds it; the unit still tracks what it read"
    );
}

#[test]
fn grant_and_update_name_secrets_and_applications_that_exist() {
    let m = Model::deploy();
    add_secret(&m, "github", &["token=one"]);
    let err = |args: &[&str]| String::from_utf8_lossy(&m.juju(args).stderr).into_owned();
    assert_eq!(
        err(&["grant-secret", "github", "nope"]),
        "ERROR application \"nope\" not found\n"
    );
    assert_eq!(
        err(&["grant-secret", "other", "probe"]),
        "ERROR secret \"other\" not found\n"
    );
    assert_eq!(
        err(&["update-secret", "github", "Bad=1"]),
        "ERROR key \"Bad\" not valid\n"
    );
}
