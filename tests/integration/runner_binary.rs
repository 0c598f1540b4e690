//! The runner binary cache against fake-github's downloads: verified, swapped atomically,
//! and never replaced by a download that fails its checks.

use std::time::Duration;

use fake_github::{Config, Emulator};
use github_runner::github::{http_client, ClientConfig, GithubClient, Proxy, Scope};
use github_runner::host::Host;
use github_runner::runner_binary::{self, BinaryError, RunnerBinaryCache};
use github_runner::secret::Secret;

struct Setup {
    emulator: Emulator,
    client: GithubClient,
    http: reqwest::Client,
    cache: RunnerBinaryCache,
    _root: tempfile::TempDir,
}

async fn setup() -> Setup {
    let emulator = Emulator::start(Config::default(), "127.0.0.1:0").await.expect("starts");
    let github_url = url::Url::parse(&emulator.base_url).expect("url");
    let scope = Scope::Org {
        org: "test-org".into(),
        group: "default".into(),
    };
    let config = ClientConfig::new(&github_url, Secret::new("ghp_emulatortoken"), scope).expect("config");
    let client = GithubClient::new(config).expect("client");
    let http = http_client(reqwest::Client::builder(), &Proxy::default(), Duration::from_secs(2)).expect("http");
    let root = tempfile::tempdir().expect("tempdir");
    let cache = RunnerBinaryCache::new(&Host::new(root.path()));
    Setup {
        emulator,
        client,
        http,
        cache,
        _root: root,
    }
}

fn files(cache: &RunnerBinaryCache) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cache.dir())
        .expect("cache dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn tamper(s: &Setup, mode: Option<&str>) {
    s.emulator.world().tamper = mode.map(String::from);
}

#[tokio::test]
async fn a_good_download_is_cached_and_reported() {
    let s = setup().await;
    assert!(s.cache.current().is_none());
    let latest = runner_binary::latest(&s.client).await.expect("latest");
    let tarball = s.cache.update(&s.http, &latest).await.expect("downloaded");
    assert_eq!(tarball.version(), "2.330.0");
    assert_eq!(tarball.sha256(), s.emulator.world().tarball.sha256);
    assert_eq!(
        std::fs::read(tarball.path()).expect("cached"),
        s.emulator.world().tarball.bytes
    );
    assert_eq!(s.cache.current(), Some(tarball.clone()));
    assert_eq!(files(&s.cache), [tarball.filename().to_string(), "current.json".into()]);
    let downloads_before = s.emulator.requests().len();
    s.cache.update(&s.http, &latest).await.expect("already current");
    assert_eq!(s.emulator.requests().len(), downloads_before, "no second download");
}

#[tokio::test]
async fn a_checksum_mismatch_keeps_the_old_binary_and_leaves_no_temp_file() {
    let s = setup().await;
    let good = s
        .cache
        .update(&s.http, &runner_binary::latest(&s.client).await.expect("latest"))
        .await
        .expect("first");
    let before = std::fs::read(good.path()).expect("cached");
    s.emulator.world().publish("2.331.0");
    tamper(&s, Some("checksum"));
    let err = s
        .cache
        .update(&s.http, &runner_binary::latest(&s.client).await.expect("latest"))
        .await
        .expect_err("mismatch");
    assert!(matches!(err, BinaryError::Mismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("previous binary kept"), "{err}");
    assert_eq!(s.cache.current().expect("still cached"), good);
    assert_eq!(std::fs::read(good.path()).expect("intact"), before);
    assert_eq!(
        files(&s.cache),
        [good.filename().to_string(), "current.json".into()],
        "no temporary file left"
    );
}

#[tokio::test]
async fn a_download_without_a_checksum_is_refused() {
    let s = setup().await;
    tamper(&s, Some("no-checksum"));
    let err = s
        .cache
        .update(&s.http, &runner_binary::latest(&s.client).await.expect("latest"))
        .await
        .expect_err("refused");
    assert!(matches!(err, BinaryError::NoChecksum { .. }), "{err:?}");
    assert!(s.cache.current().is_none());
}

#[tokio::test]
async fn a_download_that_is_not_a_runner_tarball_is_refused() {
    let s = setup().await;
    tamper(&s, Some("not-tar"));
    let mut app = runner_binary::latest(&s.client).await.expect("latest");
    // The checksum matches the bytes served, so only the tar check can catch it.
    use sha2::Digest;
    let hash = sha2::Sha256::digest(b"this is not a tarball");
    app.sha256_checksum = Some(hash.iter().map(|b| format!("{b:02x}")).collect());
    let err = s.cache.update(&s.http, &app).await.expect_err("refused");
    assert!(matches!(err, BinaryError::NotARunner { .. }), "{err:?}");
    assert!(s.cache.current().is_none());
    assert!(files(&s.cache).is_empty(), "{:?}", files(&s.cache));
}

#[tokio::test]
async fn a_new_version_is_picked_up_and_the_old_one_removed() {
    let s = setup().await;
    let old = s
        .cache
        .update(&s.http, &runner_binary::latest(&s.client).await.expect("latest"))
        .await
        .expect("first");
    s.emulator.world().publish("2.331.0");
    let latest = runner_binary::latest(&s.client).await.expect("latest");
    assert!(!old.is(&latest), "a new build is not the cached one");
    let new = s.cache.update(&s.http, &latest).await.expect("updated");
    assert_eq!(new.version(), "2.331.0");
    assert!(!old.path().exists(), "the old version is removed");
    assert_eq!(files(&s.cache), [new.filename().to_string(), "current.json".into()]);
}

#[tokio::test]
async fn a_download_killed_half_way_leaves_a_partial_file_the_next_download_removes() {
    let s = setup().await;
    std::fs::create_dir_all(s.cache.dir()).expect("cache dir");
    // What a `kill -9` during a download leaves.
    std::fs::write(s.cache.dir().join(".download-AbC123"), b"half a tarball").expect("partial");
    s.cache
        .update(&s.http, &runner_binary::latest(&s.client).await.expect("latest"))
        .await
        .expect("downloaded");
    let names = files(&s.cache);
    assert!(names.iter().all(|n| !n.starts_with(".download-")), "{names:?}");
}
