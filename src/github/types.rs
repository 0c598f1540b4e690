//! GitHub's wire types for runners, read leniently: unknown fields are ignored and optional
//! fields stay optional, since GitHub adds fields without a version bump.

use serde::{Deserialize, Deserializer, Serialize};

use crate::secret::Secret;

/// A runner's connection state. GitHub's `status` is a free string; anything but
/// online/offline (any case) is `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunnerStatus {
    Online,
    Offline,
    Unknown,
}

impl<'de> Deserialize<'de> for RunnerStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(match text.to_ascii_lowercase().as_str() {
            "online" => RunnerStatus::Online,
            "offline" => RunnerStatus::Offline,
            _ => RunnerStatus::Unknown,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RunnerLabel {
    #[serde(default)]
    pub id: Option<u64>,
    pub name: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// A registered runner.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Runner {
    pub id: u64,
    pub name: String,
    pub os: String,
    pub status: RunnerStatus,
    pub busy: bool,
    #[serde(default)]
    pub labels: Vec<RunnerLabel>,
    #[serde(default)]
    pub runner_group_id: Option<u64>,
    #[serde(default)]
    pub ephemeral: Option<bool>,
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RunnerList {
    #[allow(dead_code)]
    pub total_count: u64,
    pub runners: Vec<Runner>,
}

/// One downloadable runner build.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RunnerApplication {
    pub os: String,
    pub architecture: String,
    pub download_url: String,
    pub filename: String,
    #[serde(default)]
    pub temp_download_token: Option<String>,
    #[serde(default)]
    pub sha256_checksum: Option<String>,
}

/// A registration or remove token: single-purpose, valid for an hour.
#[derive(Debug, Clone)]
pub struct AuthToken {
    pub token: Secret,
    pub expires_at: String,
}

#[derive(Deserialize)]
pub(crate) struct AuthTokenWire {
    pub token: String,
    pub expires_at: String,
}

/// A just-in-time runner: registered already, configured by the opaque blob.
#[derive(Debug, Clone)]
pub struct JitConfig {
    pub runner: Runner,
    pub encoded_jit_config: Secret,
}

/// `POST …/generate-jitconfig`'s body.
#[derive(Serialize)]
pub(crate) struct JitConfigRequest<'a> {
    pub name: &'a str,
    pub runner_group_id: u64,
    pub labels: &'a [String],
    pub work_folder: &'a str,
}

#[derive(Deserialize)]
pub(crate) struct JitConfigWire {
    pub runner: Runner,
    pub encoded_jit_config: String,
}

/// An organisation runner group. GitHub types `id` as `number`, so floats are accepted.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RunnerGroup {
    #[serde(deserialize_with = "number_as_u64")]
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub default: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RunnerGroupList {
    pub runner_groups: Vec<RunnerGroup>,
}

fn number_as_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = f64::deserialize(d)?;
    if n >= 0.0 && n.fract() == 0.0 && n <= u64::MAX as f64 {
        Ok(n as u64)
    } else {
        Err(serde::de::Error::custom(format!("{n} is not a runner group id")))
    }
}

/// GitHub's error body: `message`, `documentation_url`, and `status` (a string since 2024).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_status_is_case_insensitive_and_never_fails() {
        let runner: Runner = serde_json::from_str(
            r#"{"id":1,"name":"a","os":"Linux","status":"ONLINE","busy":false,"labels":[],"extra":1}"#,
        )
        .expect("parses");
        assert_eq!(runner.status, RunnerStatus::Online);
        let odd: Runner =
            serde_json::from_str(r#"{"id":1,"name":"a","os":"linux","status":"sleeping","busy":true,"labels":[]}"#)
                .expect("parses");
        assert_eq!(odd.status, RunnerStatus::Unknown);
    }

    #[test]
    fn runner_group_ids_may_be_spelled_as_floats() {
        let group: RunnerGroup = serde_json::from_str(r#"{"id":2.0,"name":"g","default":false}"#).expect("parses");
        assert_eq!(group.id, 2);
    }
}
