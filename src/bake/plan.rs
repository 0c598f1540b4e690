//! Whether to bake, and what the runners start from meanwhile: a pure decision over the
//! image LXD holds, what it should be baked from, the last bake's progress and the clock.
//!
//! - Runners start from the finished image under the application's alias, never from a
//!   half-made one; before the first image exists, no runner is made.
//! - A bake is due when there is no image, when what it was baked from changed, or when it
//!   is older than `image-refresh-interval`; never while one runs.
//! - A failed bake is retried with a backoff (5 minutes, doubling, at most 6 hours) unless
//!   its inputs change; a bake that was killed (it says it runs, its service does not) starts
//!   again at once.

use std::collections::BTreeMap;

use super::{BakeState, Progress};

/// What the plan looks at.
#[derive(Debug, Clone)]
pub struct Seen<'a> {
    /// The properties the image should have ([`super::recipe::inputs`]).
    pub wanted: &'a BTreeMap<String, String>,
    /// The image under the alias: its fingerprint and properties.
    pub current: Option<(&'a str, &'a BTreeMap<String, String>)>,
    /// The last bake's progress file.
    pub progress: Option<&'a Progress>,
    /// Whether the bake service runs now.
    pub running: bool,
    /// Seconds since the epoch.
    pub now: u64,
    /// `image-refresh-interval`, hours (0: never by age).
    pub refresh_hours: u32,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The image runners start from (its fingerprint), if there is one.
    pub image: Option<String>,
    /// Why a bake starts now, if one does.
    pub bake: Option<String>,
    pub status: ImageStatus,
}

/// What the unit's status says of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageStatus {
    Ready,
    /// A bake runs (or starts now); `first` when no image exists yet.
    Baking {
        step: String,
        first: bool,
    },
    /// The last bake failed; it is retried at `retry_at`, or when its inputs change.
    Failed {
        error: String,
        first: bool,
        retry_at: u64,
    },
}

/// The property that says when an image was baked (seconds since the epoch).
pub const BAKED_AT: &str = "user.github-runner.baked-at";

/// The first retry waits this long; each failure doubles it, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: u64 = 300;
pub const MAX_BACKOFF: u64 = 6 * 3600;

pub fn decide(seen: &Seen<'_>) -> Decision {
    let image = seen.current.map(|(fingerprint, _)| fingerprint.to_string());
    let first = seen.current.is_none();
    if seen.running {
        let step = seen
            .progress
            .filter(|p| p.state == BakeState::Running)
            .map_or_else(|| "starting".to_string(), |p| p.step.clone());
        return Decision {
            image,
            bake: None,
            status: ImageStatus::Baking { step, first },
        };
    }
    let Some(why) = stale(seen) else {
        return Decision {
            image,
            bake: None,
            status: ImageStatus::Ready,
        };
    };
    let wanted = digest(seen.wanted);
    if let Some(p) = seen
        .progress
        .filter(|p| p.state == BakeState::Failed && p.inputs == wanted)
    {
        let retry_at = p.finished.unwrap_or(p.started) + backoff(p.failures);
        if seen.now < retry_at {
            return Decision {
                image,
                bake: None,
                status: ImageStatus::Failed {
                    error: p.error.clone().unwrap_or_default(),
                    first,
                    retry_at,
                },
            };
        }
    }
    Decision {
        image,
        bake: Some(why),
        status: ImageStatus::Baking {
            step: "starting".into(),
            first,
        },
    }
}

/// Why the image is stale, if it is.
fn stale(seen: &Seen<'_>) -> Option<String> {
    let Some((_, properties)) = seen.current else {
        return Some("there is no runner image yet".into());
    };
    let changed: Vec<&str> = seen
        .wanted
        .iter()
        .filter(|(k, v)| properties.get(*k) != Some(v))
        .map(|(k, _)| k.rsplit('.').next().unwrap_or(k))
        .collect();
    if !changed.is_empty() {
        return Some(format!("what it is baked from changed ({})", changed.join(", ")));
    }
    let baked_at: u64 = properties.get(BAKED_AT).and_then(|v| v.parse().ok()).unwrap_or(0);
    let max_age = u64::from(seen.refresh_hours) * 3600;
    (seen.refresh_hours > 0 && seen.now.saturating_sub(baked_at) >= max_age)
        .then(|| format!("it is older than image-refresh-interval ({} h)", seen.refresh_hours))
}

/// The wait after `failures` failed bakes in a row.
pub fn backoff(failures: u32) -> u64 {
    let doublings = failures.saturating_sub(1).min(16);
    (FIRST_BACKOFF << doublings).min(MAX_BACKOFF)
}

/// A short digest of the wanted inputs, to tell whether a failure was of these inputs.
pub fn digest(wanted: &BTreeMap<String, String>) -> String {
    use sha2::{Digest, Sha256};
    let text: String = wanted.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    Sha256::digest(text.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted() -> BTreeMap<String, String> {
        BTreeMap::from([("user.github-runner.runner-sha256".to_string(), "aa".to_string())])
    }

    fn image(sha: &str, baked_at: u64) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("user.github-runner.runner-sha256".to_string(), sha.to_string()),
            (BAKED_AT.to_string(), baked_at.to_string()),
        ])
    }

    fn seen<'a>(
        wanted: &'a BTreeMap<String, String>,
        current: Option<&'a BTreeMap<String, String>>,
        progress: Option<&'a Progress>,
    ) -> Seen<'a> {
        Seen {
            wanted,
            current: current.map(|p| ("f1", p)),
            progress,
            running: false,
            now: 100_000,
            refresh_hours: 24,
        }
    }

    fn failed(inputs: String, failures: u32, finished: u64) -> Progress {
        Progress {
            state: BakeState::Failed,
            step: "installing packages".into(),
            inputs,
            started: finished - 60,
            finished: Some(finished),
            error: Some("E: Unable to locate package nope".into()),
            failures,
            previous: None,
        }
    }

    #[test]
    fn no_image_means_no_runners_and_a_bake() {
        let w = wanted();
        let d = decide(&seen(&w, None, None));
        assert_eq!(d.image, None);
        assert!(d.bake.is_some());
        assert_eq!(
            d.status,
            ImageStatus::Baking {
                step: "starting".into(),
                first: true
            }
        );
    }

    #[test]
    fn a_fresh_image_is_used_and_nothing_is_baked() {
        let (w, i) = (wanted(), image("aa", 99_000));
        assert_eq!(
            decide(&seen(&w, Some(&i), None)),
            Decision {
                image: Some("f1".into()),
                bake: None,
                status: ImageStatus::Ready
            }
        );
    }

    #[test]
    fn a_changed_input_or_an_old_image_bakes_while_the_old_image_serves() {
        let (w, changed) = (wanted(), image("bb", 99_000));
        let d = decide(&seen(&w, Some(&changed), None));
        assert_eq!(d.image.as_deref(), Some("f1"));
        assert!(d.bake.expect("a bake").contains("runner-sha256"));
        let old = image("aa", 100_000 - 24 * 3600);
        assert!(decide(&seen(&w, Some(&old), None))
            .bake
            .expect("a bake")
            .contains("older"));
        let mut never = seen(&w, Some(&old), None);
        never.refresh_hours = 0;
        assert_eq!(decide(&never).bake, None, "0 never rebakes by age");
    }

    #[test]
    fn a_running_bake_is_never_doubled_and_shows_its_step() {
        let w = wanted();
        let p = Progress {
            state: BakeState::Running,
            step: "installing yq".into(),
            ..failed(digest(&w), 0, 99_000)
        };
        let mut s = seen(&w, None, Some(&p));
        s.running = true;
        let d = decide(&s);
        assert_eq!(d.bake, None);
        assert_eq!(
            d.status,
            ImageStatus::Baking {
                step: "installing yq".into(),
                first: true
            }
        );
        s.running = false;
        assert!(decide(&s).bake.is_some(), "a bake killed half way starts again");
    }

    #[test]
    fn a_failure_waits_its_backoff_unless_the_inputs_change() {
        let w = wanted();
        let p = failed(digest(&w), 2, 99_500);
        let d = decide(&seen(&w, None, Some(&p)));
        assert_eq!(d.bake, None);
        assert!(
            matches!(
                d.status,
                ImageStatus::Failed {
                    first: true,
                    retry_at: 100_100,
                    ..
                }
            ),
            "{d:?}"
        );
        let mut later = seen(&w, None, Some(&p));
        later.now = 100_100;
        assert!(decide(&later).bake.is_some(), "retried after 10 minutes");
        let other = BTreeMap::from([("user.github-runner.runner-sha256".to_string(), "cc".to_string())]);
        assert!(
            decide(&seen(&other, None, Some(&p))).bake.is_some(),
            "new inputs bake at once"
        );
        assert_eq!(backoff(1), 300);
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}
