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

/// URL → last answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtagCache {
    pages: BTreeMap<String, CachedPage>,
}

impl EtagCache {
    pub fn get(&self, url: &str) -> Option<&CachedPage> {
        self.pages.get(url)
    }

    pub fn put(&mut self, url: String, page: CachedPage) {
        self.pages.insert(url, page);
    }

    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }
}
