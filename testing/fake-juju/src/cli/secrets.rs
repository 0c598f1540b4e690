//! The operator's user secrets (Juju 3): `add-secret <name> key=value…` prints the new URI,
//! `grant-secret <name|uri> <app>[,<app>…]` lets an application read it, and
//! `update-secret <name|uri> key=value…` makes a new revision and runs `secret-changed`
//! (`JUJU_SECRET_ID`, `JUJU_SECRET_LABEL`) on each unit of a granted application that has read
//! the secret and does not track the new revision yet.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context as _};

use super::hooks::run_hook;
use crate::flags::{self, Spec};
use crate::model::{Hook, Model, Store};
use crate::secret::{new_uri, parse_uri, valid_key, Content, HookSecret, Secret};

/// `key=value` pairs, each key by Juju's rule, each value non-empty.
fn content_of(pairs: &[String]) -> anyhow::Result<Content> {
    if pairs.is_empty() {
        bail!("missing secret value or filename");
    }
    let mut content = Content::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=').filter(|(k, v)| !k.is_empty() && !v.is_empty()) else {
            bail!("key value {pair:?} not valid");
        };
        if !valid_key(key) {
            bail!("key {key:?} not valid");
        }
        content.insert(key.to_string(), value.to_string());
    }
    Ok(content)
}

/// The secret named `name_or_uri` (its name, or its URI).
fn secret_mut<'m>(model: &'m mut Model, name_or_uri: &str) -> anyhow::Result<&'m mut Secret> {
    let uri = parse_uri(name_or_uri);
    model
        .secrets
        .iter_mut()
        .find(|s| s.name == name_or_uri || Some(&s.uri) == uri.as_ref())
        .with_context(|| format!("secret {name_or_uri:?} not found"))
}

pub fn add_secret(store: &Store, args: &[String]) -> anyhow::Result<i32> {
    let parsed = flags::parse(
        args,
        &Spec {
            bools: &[],
            values: &["info"],
        },
    )
    .map_err(anyhow::Error::msg)?;
    let Some((name, pairs)) = parsed.args.split_first() else {
        bail!("usage: fake-juju add-secret <name> key=value… [--info TEXT]");
    };
    let content = content_of(pairs)?;
    let uri = store.update(|model| {
        if model.secrets.iter().any(|s| s.name == *name) {
            bail!("secret with name {name:?} already exists");
        }
        let uri = new_uri();
        model.secrets.push(Secret {
            uri: uri.clone(),
            name: name.clone(),
            revisions: vec![content],
            granted: BTreeSet::new(),
            consumers: BTreeMap::new(),
        });
        Ok(uri)
    })?;
    println!("{uri}");
    Ok(0)
}

pub fn grant_secret(store: &Store, args: &[String]) -> anyhow::Result<i32> {
    let [secret, apps] = args else {
        bail!("usage: fake-juju grant-secret <name|uri> <app>[,<app>…]");
    };
    store.update(|model| {
        let deployed = model.app()?.name.clone();
        let secret = secret_mut(model, secret)?;
        for app in apps.split(',') {
            if app != deployed {
                bail!("application {app:?} not found");
            }
            secret.granted.insert(app.to_string());
        }
        Ok(())
    })?;
    Ok(0)
}

pub fn update_secret(store: &Store, args: &[String]) -> anyhow::Result<i32> {
    let Some((secret, pairs)) = args.split_first() else {
        bail!("usage: fake-juju update-secret <name|uri> key=value…");
    };
    let content = content_of(pairs)?;
    let changed = store.update(|model| {
        let app = model.app()?;
        let (app, units): (String, BTreeSet<String>) =
            (app.name.clone(), app.units.iter().map(|u| u.name.clone()).collect());
        let secret = secret_mut(model, secret)?;
        secret.revisions.push(content);
        let latest = secret.latest();
        if !secret.granted.contains(&app) {
            return Ok(Vec::new());
        }
        let behind = (secret.consumers.iter()).filter(|(unit, c)| c.tracked < latest && units.contains(*unit));
        let hooks = behind.map(|(unit, consumer)| {
            let hook = Hook {
                name: "secret-changed".into(),
                relation: None,
                secret: Some(HookSecret {
                    uri: secret.uri.clone(),
                    label: consumer.label.clone(),
                }),
            };
            (unit.clone(), hook)
        });
        Ok(hooks.collect::<Vec<_>>())
    })?;
    for (unit, hook) in changed {
        run_hook(store, &unit, &hook)?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn content_needs_valid_keys_and_values() {
        let content = content_of(&args(&["token=a=b", "api-key=x"])).expect("valid");
        assert_eq!(content["token"], "a=b");
        let err = |a: &[&str]| content_of(&args(a)).expect_err("invalid").to_string();
        assert_eq!(err(&[]), "missing secret value or filename");
        assert_eq!(err(&["token="]), "key value \"token=\" not valid");
        assert_eq!(err(&["Token=x"]), "key \"Token\" not valid");
    }
}
