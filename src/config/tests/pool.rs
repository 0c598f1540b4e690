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
    } = pool(&elastic(&[]))
    else {
        panic!("elastic");
    };
    assert_eq!((max, idle_wait_minutes), (6, 10));
    assert!(schedule.windows.is_empty());
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
