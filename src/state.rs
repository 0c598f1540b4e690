//! What must survive from one hook to the next, in one 0600 JSON file per unit.
//!
//! Why a file and not Juju's `state-set`: the token is kept to flush runners with the
//! *previous* token when it changes, and a PAT does not belong in the controller's database;
//! later the GitHub ETag cache (a whole runner list can be far over `state-set`'s 64 KiB) lives
//! here too; and the file is written the moment a step succeeds, so a hook that fails later,
//! or a `kill -9`, does not roll back what really happened to the runners. The file lives under
//! `GITHUB_RUNNER_ROOT` at `/var/lib/github-runner/<unit>/state.json`, in a 0700 directory.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::config::Generation;
use crate::config::GithubPath;
use crate::github::EtagCache;
use crate::host::{fs, Host};
use crate::secret::Secret;

/// The stored state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// What the current runners were registered with (`None` before the first config).
    pub current: Option<Generation>,
    /// GitHub's last answers with their ETags, so a repeated list is a free 304.
    pub etags: EtagCache,
    /// Runners made with an earlier `path` or `token`, kept until they are gone.
    pub previous: Vec<Previous>,
    /// The custom `labels` the current runners were made with.
    pub labels: Option<Vec<String>>,
}

/// The runners made with an earlier `path` and `token`: removed (the idle ones at once, the
/// busy ones once their job is done) with those values, and never counted toward the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previous {
    pub made_with: Generation,
    /// Their instance names, as the change found them.
    pub runners: Vec<String>,
}

/// The file's shape on disk (the same since the first release); only this module sees the
/// token in the clear.
#[derive(Debug, Default, Serialize, Deserialize)]
struct OnDisk {
    #[serde(default, skip_serializing_if = "Option::is_none", with = "optional_path")]
    path: Option<GithubPath>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(default, skip_serializing_if = "EtagCache::is_empty")]
    etags: EtagCache,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    previous: Vec<PreviousOnDisk>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    labels: Option<Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PreviousOnDisk {
    #[serde(with = "path")]
    path: GithubPath,
    token: String,
    runners: Vec<String>,
}

/// A path is kept as the operator wrote it and parsed on load: a file whose path does not parse
/// is corrupt, like one that is not JSON.
mod path {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::config::GithubPath;

    pub fn serialize<S: Serializer>(path: &GithubPath, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(path)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<GithubPath, D::Error> {
        let text = String::deserialize(d)?;
        GithubPath::parse(&text).map_err(|why| serde::de::Error::custom(format!("path {text:?} {why}")))
    }
}

mod optional_path {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::config::GithubPath;

    pub fn serialize<S: Serializer>(path: &Option<GithubPath>, s: S) -> Result<S::Ok, S::Error> {
        match path {
            Some(path) => super::path::serialize(path, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<GithubPath>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super::path")] GithubPath);
        Ok(Option::<Wrapped>::deserialize(d)?.map(|Wrapped(path)| path))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("reading the charm state {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the charm state {path} is not valid JSON ({source}); move it away to start afresh")]
    Corrupt { path: PathBuf, source: serde_json::Error },
    #[error("writing the charm state {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// The directory of `unit`'s files (its state, its metrics): `/var/lib/github-runner/<unit>`.
pub fn unit_dir(host: &Host, unit: &str) -> PathBuf {
    host.path("/var/lib/github-runner").join(unit.replace('/', "-"))
}

/// The state file of one unit.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The file of `unit` (e.g. `github-runner/0`).
    pub fn new(host: &Host, unit: &str) -> Self {
        StateFile {
            path: unit_dir(host, unit).join("state.json"),
        }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The stored state; a missing file is the empty state.
    pub fn load(&self) -> Result<State, StateError> {
        let text = match std::fs::read(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(source) => {
                return Err(StateError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let disk: OnDisk = serde_json::from_slice(&text).map_err(|source| StateError::Corrupt {
            path: self.path.clone(),
            source,
        })?;
        let current = match (disk.path, disk.token) {
            (Some(path), Some(token)) => Some(Generation {
                path,
                token: Secret::new(token),
            }),
            _ => None,
        };
        Ok(State {
            current,
            etags: disk.etags,
            previous: disk
                .previous
                .into_iter()
                .map(|p| Previous {
                    made_with: Generation {
                        path: p.path,
                        token: Secret::new(p.token),
                    },
                    runners: p.runners,
                })
                .collect(),
            labels: disk.labels,
        })
    }

    /// Replaces the stored state, atomically, readable by root only.
    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let disk = OnDisk {
            path: state.current.as_ref().map(|c| c.path.clone()),
            token: state.current.as_ref().map(|c| c.token.expose().to_string()),
            etags: state.etags.clone(),
            previous: state
                .previous
                .iter()
                .map(|p| PreviousOnDisk {
                    path: p.made_with.path.clone(),
                    token: p.made_with.token.expose().to_string(),
                    runners: p.runners.clone(),
                })
                .collect(),
            labels: state.labels.clone(),
        };
        let text = serde_json::to_vec_pretty(&disk).expect("a struct of strings always serialises");
        let write_err = |source| StateError::Write {
            path: self.path.clone(),
            source,
        };
        let dir = self
            .path
            .parent()
            .expect("the state file is always inside its unit directory");
        std::fs::create_dir_all(dir).map_err(write_err)?;
        // 0710: the metrics exporter's group may reach its one file here, and list nothing.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o710)).map_err(write_err)?;
        fs::write_atomic(&self.path, &text, 0o600).map_err(write_err)?;
        Ok(())
    }
}

impl StateFile {
    /// [`StateFile::load`], but a corrupt file (a disk that filled up, a hand edit) does not
    /// stop every hook, `stop` included: it is moved aside to `state.json.corrupt` for a human
    /// to look at, and the unit goes on from the empty state. What is lost is the previous
    /// path and token (their idle runners are then not flushed) and the ETags (a full list
    /// once).
    pub fn load_or_recover(&self) -> Result<State, StateError> {
        match self.load() {
            Err(StateError::Corrupt { path, source }) => {
                let aside = path.with_extension("json.corrupt");
                std::fs::rename(&path, &aside).map_err(|source| StateError::Write {
                    path: path.clone(),
                    source,
                })?;
                tracing::warn!(
                    "the charm state {} was not valid JSON ({source}); moved to {}, going on from an empty state",
                    path.display(),
                    aside.display()
                );
                Ok(State::default())
            }
            other => other,
        }
    }

    /// Deletes the state file and its directory; a state already gone is fine.
    pub fn delete(&self) -> Result<(), StateError> {
        let write_err = |source| StateError::Write {
            path: self.path.clone(),
            source,
        };
        fs::remove_if_exists(&self.path).map_err(write_err)?;
        // A state moved aside as corrupt may hold the token too.
        fs::remove_if_exists(&self.path.with_extension("json.corrupt")).map_err(write_err)?;
        if let Some(dir) = self.path.parent() {
            match std::fs::remove_dir(dir) {
                // What else is there holds no secret (another file of the unit's): it stays.
                Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => {
                    tracing::info!("{} still holds other files; left in place", dir.display());
                }
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(write_err(e)),
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_a_0600_file() {
        let root = tempfile::tempdir().expect("tempdir");
        let file = StateFile::new(&Host::new(root.path()), "github-runner/0");
        assert_eq!(file.load().expect("empty"), State::default());
        let mut etags = EtagCache::default();
        let page = crate::github::CachedPage {
            etag: "W/\"1\"".into(),
            body: "{}".into(),
            next: None,
        };
        etags.put(
            "https://api.github.com/orgs/o/actions/runners?per_page=100".into(),
            page,
        );
        let state = State {
            current: Some(Generation {
                path: GithubPath::Org("org".into()),
                token: Secret::new("ghp_x"),
            }),
            etags,
            previous: vec![Previous {
                made_with: Generation {
                    path: GithubPath::parse("old-org/repo").expect("a repository"),
                    token: Secret::new("ghp_old"),
                },
                runners: vec!["github-runner-0-1a2b3c4d-3f9a0c1e".into()],
            }],
            labels: Some(vec!["large".into()]),
        };
        file.save(&state).expect("save");
        assert_eq!(file.load().expect("load"), state);
        let mode = std::fs::metadata(file.path()).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(file
            .path()
            .ends_with("var/lib/github-runner/github-runner-0/state.json"));
    }

    #[test]
    fn a_state_file_written_by_the_previous_release_still_loads() {
        let root = tempfile::tempdir().expect("tempdir");
        let file = StateFile::new(&Host::new(root.path()), "github-runner/0");
        std::fs::create_dir_all(file.path().parent().expect("dir")).expect("mkdir");
        let text = r#"{"path": "org", "token": "ghp_x",
            "previous": [{"path": "old/repo", "token": "ghp_old", "runners": ["r1"]}]}"#;
        std::fs::write(file.path(), text).expect("write");
        let state = file.load().expect("loads");
        assert_eq!(state.current.expect("current").path, GithubPath::Org("org".into()));
        assert_eq!(state.previous[0].made_with.path.to_string(), "old/repo");
        assert_eq!(state.previous[0].made_with.token, Secret::new("ghp_old"));
        file.save(&file.load().expect("loads")).expect("saved");
        let saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(file.path()).expect("read")).expect("json");
        assert_eq!(saved["path"], "org");
        assert_eq!(saved["previous"][0]["path"], "old/repo");
    }

    #[test]
    fn a_stored_path_that_does_not_parse_is_a_corrupt_state() {
        let root = tempfile::tempdir().expect("tempdir");
        let file = StateFile::new(&Host::new(root.path()), "github-runner/0");
        std::fs::create_dir_all(file.path().parent().expect("dir")).expect("mkdir");
        std::fs::write(file.path(), r#"{"path": "a/b/c", "token": "ghp_x"}"#).expect("write");
        let err = file.load().expect_err("a path with two slashes");
        assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
        assert!(!err.to_string().contains("ghp_x"), "{err}");
    }

    #[test]
    fn corrupt_state_is_an_error_that_says_what_to_do() {
        let root = tempfile::tempdir().expect("tempdir");
        let file = StateFile::new(&Host::new(root.path()), "github-runner/0");
        std::fs::create_dir_all(file.path().parent().expect("dir")).expect("mkdir");
        std::fs::write(file.path(), "{not json").expect("write");
        let err = file.load().expect_err("corrupt").to_string();
        assert!(err.contains("move it away"), "{err}");
        assert_eq!(file.load_or_recover().expect("recovered"), State::default());
        let aside = file.path().with_extension("json.corrupt");
        assert_eq!(std::fs::read_to_string(aside).expect("kept aside"), "{not json");
        assert_eq!(file.load().expect("a fresh start"), State::default());
        file.delete().expect("deleted, the corrupt copy too");
        assert!(!file.path().parent().expect("dir").exists());
    }
}
