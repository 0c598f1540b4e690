//! `max-virtual-machines`, `idle-schedule` and `idle-wait`: a fixed pool unless the ceiling is
//! set, and every inconsistency blocks naming the option.

use serde_json::json;

use super::*;

fn pool(raw: &Map<String, Value>) -> Pool {
    CharmConfig::from_raw(raw, Proxy::default()).expect("valid").pool
}

fn elastic(pairs: &[(&str, Value)]) -> Map<String, Value> {
    let mut raw = with("virtual-machines", json!(2));
    raw.insert("max-virtual-machines".into(), json!(6));
    for (key, value) in pairs {
        raw.insert((*key).into(), value.clone());
    }
    raw
}

#[test]
fn the_pool_is_fixed_unless_a_ceiling_is_set() {
    assert_eq!(pool(&valid()), Pool::Fixed);
    let Pool::Elastic {
        max,
        schedule,
        idle_wait_minutes,
        watch,
    } = pool(&elastic(&[]))
    else {
        panic!("elastic");
    };
    assert_eq!((max, idle_wait_minutes), (6, 10));
    assert!(schedule.windows.is_empty());
    assert_eq!(
        watch,
        Watch {
            interval_secs: 30,
            webhook: None
        },
        "polled every 30 s, no endpoint"
    );
    let config = CharmConfig::from_raw(&elastic(&[]), Proxy::default()).expect("valid");
    assert_eq!(config.most_runners(), 6, "the RAM disk is sized for the ceiling");
}

#[test]
fn a_schedule_within_the_ceiling_is_taken() {
    let raw = elastic(&[
        ("idle-schedule", json!("TZ=UTC; mon-fri 07:00-19:00=6")),
        ("idle-wait", json!(3)),
    ]);
    let Pool::Elastic {
        schedule,
        idle_wait_minutes,
        ..
    } = pool(&raw)
    else {
        panic!("elastic");
    };
    assert_eq!((schedule.highest(), idle_wait_minutes), (Some(6), 3));
}

#[test]
fn inconsistent_pool_options_block_naming_the_option() {
    for (raw, says) in [
        (
            elastic(&[("max-virtual-machines", json!(1))]),
            "max-virtual-machines \"1\" must be 0 (a fixed pool) or at least `virtual-machines` (2)",
        ),
        (
            elastic(&[("idle-schedule", json!("sat 00:00-24:00=7"))]),
            "has a floor of 7, above `max-virtual-machines` (6)",
        ),
        (
            with("idle-schedule", json!("sat 00:00-24:00=1")),
            "needs an elastic pool: set `max-virtual-machines`",
        ),
        (elastic(&[("idle-schedule", json!("sat 00:00=1"))]), "idle-schedule"),
        (elastic(&[("idle-wait", json!(-1))]), "idle-wait"),
    ] {
        let message = problems(&raw).to_string();
        assert!(message.contains(says), "{says} in {message}");
    }
}

fn with_secret(raw: &Map<String, Value>, value: &str) -> Result<CharmConfig, String> {
    let lookup = |uri: &str, key: &str| {
        assert_eq!((uri, key), ("secret:cs0b3hqj2qpc7gcbq5c0", "secret"));
        Ok(Secret::new(value.to_string()))
    };
    CharmConfig::from_raw_with(raw, Proxy::default(), &lookup).map_err(|e| e.to_string())
}

#[test]
fn the_webhook_endpoint_takes_its_secret_from_a_juju_secret() {
    let raw = elastic(&[
        ("webhook-port", json!(8765)),
        ("webhook-secret-id", json!("secret:cs0b3hqj2qpc7gcbq5c0")),
        ("watch-interval", json!(5)),
    ]);
    let config = with_secret(&raw, "0123456789abcdef0123").expect("valid");
    let Pool::Elastic { watch, .. } = config.pool else {
        panic!("elastic");
    };
    assert_eq!(watch.interval_secs, 5);
    let webhook = watch.webhook.expect("an endpoint");
    assert_eq!((webhook.port, webhook.secret.expose()), (8765, "0123456789abcdef0123"));
}

#[test]
fn a_webhook_without_a_good_secret_or_an_elastic_pool_blocks_naming_the_option() {
    let port = ("webhook-port", json!(8765));
    let id = ("webhook-secret-id", json!("secret:cs0b3hqj2qpc7gcbq5c0"));
    let short = with_secret(&elastic(&[port.clone(), id.clone()]), "short").expect_err("too short");
    assert!(
        short.contains("webhook-secret-id") && short.contains("shorter than 16"),
        "{short}"
    );
    assert!(!short.contains("\"short\""), "the secret is never shown: {short}");
    let missing = with_secret(&elastic(std::slice::from_ref(&port)), "unused").expect_err("no secret");
    assert!(
        missing.contains("webhook-secret-id") && missing.contains("is needed"),
        "{missing}"
    );
    let pasted = with_secret(
        &elastic(&[port.clone(), ("webhook-secret-id", json!("hunter2hunter2hunter2"))]),
        "x",
    )
    .expect_err("not a URI");
    assert!(
        pasted.contains("must be a Juju secret URI") && !pasted.contains("hunter2"),
        "{pasted}"
    );
    let mut fixed = valid();
    fixed.insert("webhook-port".into(), json!(8765));
    fixed.insert("webhook-secret-id".into(), id.1.clone());
    let fixed = with_secret(&fixed, "0123456789abcdef0123").expect_err("fixed pool");
    assert!(
        fixed.contains("webhook-port") && fixed.contains("needs an elastic pool"),
        "{fixed}"
    );
    let clash = with_secret(
        &elastic(&[("webhook-port", json!(9468)), id.clone()]),
        "0123456789abcdef0123",
    )
    .expect_err("the exporter's port");
    assert!(
        clash.contains("webhook-port") && clash.contains("`metrics-port` too"),
        "{clash}"
    );
    let fast = with_secret(&elastic(&[("watch-interval", json!(1))]), "x").expect_err("too often");
    assert!(fast.contains("watch-interval") && fast.contains("at least 5"), "{fast}");
}
