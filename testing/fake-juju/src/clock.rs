//! Wall-clock time for log lines, without a date crate: UTC `HH:MM:SS`.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_hms() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}

/// A model UUID as Juju makes them (version 4, so libraries that check it accept it),
/// starting `fa4e0000-` so that a fake-juju model is told apart at a glance.
pub fn model_uuid() -> String {
    let h = random_hex();
    // The clock's top two digits hardly move: the other 22 carry the time and the pid.
    format!("fa4e0000-{}-4{}-8{}-{}", &h[2..6], &h[6..9], &h[9..12], &h[12..24])
}

/// A random-enough hex string for context ids and model uuids.
pub fn random_hex() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:016x}{:08x}", nanos as u64, std::process::id())
}
