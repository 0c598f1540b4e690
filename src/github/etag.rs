//! Conditional requests: the ETag and body of each listed page, so a repeated list costs a
//! `304 Not Modified`, which GitHub does not count against the rate limit.
//!
//! Each hook is a new process, so the cache is serialisable and the charm keeps it in its
//! state between hooks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What GitHub last answered for one URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedPage {
    pub etag: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The most the cache holds, in body bytes: it lives in the state file, read by every hook. A
/// fleet of 1,000 runners lists in 10 pages of about 100 KB.
pub const MAX_CACHED_BYTES: usize = 16 << 20;

/// URL → last answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtagCache {
    pages: BTreeMap<String, CachedPage>,
}

impl EtagCache {
    pub fn get(&self, url: &str) -> Option<&CachedPage> {
        self.pages.get(url)
    }

    /// Keeps `page` for `url`; other pages are dropped (their next list is a full one) while
    /// the cache is over [`MAX_CACHED_BYTES`].
    pub fn put(&mut self, url: String, page: CachedPage) {
        self.pages.insert(url.clone(), page);
        let mut total: usize = self.pages.values().map(|p| p.body.len()).sum();
        while total > MAX_CACHED_BYTES {
            let Some(other) = self.pages.keys().find(|k| **k != url).cloned() else {
                break;
            };
            total -= self.pages.remove(&other).map_or(0, |p| p.body.len());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    /// The URLs of the cached pages.
    pub fn urls(&self) -> impl Iterator<Item = &str> {
        self.pages.keys().map(String::as_str)
    }

    /// Drops the pages whose URL `keep` refuses (answers no longer asked for, e.g. the jobs of
    /// a run that ended).
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.pages.retain(|url, _| keep(url));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_no_longer_asked_for_can_be_dropped() {
        let mut cache = EtagCache::default();
        cache.put("a/runs/1/jobs".into(), page(1));
        cache.put("a/runs/2/jobs".into(), page(1));
        cache.put("a/runners".into(), page(1));
        cache.retain(|url| !url.contains("/runs/1/"));
        assert!(cache.get("a/runs/1/jobs").is_none());
        assert!(cache.get("a/runs/2/jobs").is_some() && cache.get("a/runners").is_some());
    }

    fn page(bytes: usize) -> CachedPage {
        CachedPage {
            etag: "W/\"1\"".into(),
            body: "x".repeat(bytes),
            next: None,
        }
    }

    #[test]
    fn the_cache_stays_under_its_bound_and_keeps_the_page_just_put() {
        let mut cache = EtagCache::default();
        let half = MAX_CACHED_BYTES / 2;
        cache.put("a".into(), page(half));
        cache.put("b".into(), page(half));
        assert!(
            cache.get("a").is_some() && cache.get("b").is_some(),
            "exactly full is fine"
        );
        cache.put("c".into(), page(half));
        assert!(cache.get("c").is_some(), "the newest page is kept");
        let total: usize = cache.pages.values().map(|p| p.body.len()).sum();
        assert!(total <= MAX_CACHED_BYTES, "{total}");
        cache.put("huge".into(), page(MAX_CACHED_BYTES + 1));
        assert_eq!(cache.pages.len(), 1, "one page over the bound alone is all there is");
    }
}
