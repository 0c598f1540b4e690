//! GitHub's release downloads (`<base>/<owner>/<repo>/releases/download/<tag>/<asset>`) for
//! what the charm's bake fetches from there: mikefarah's yq, as a stand-in script
//! (`stub/yq.sh`). [`yq`] gives its bytes and SHA-256, which tests hand the charm.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

use crate::Shared;

const YQ: &str = include_str!("../stub/yq.sh");

/// The tag the stand-in answers for.
pub const YQ_TAG: &str = "v4.53.6";

/// The stand-in's bytes and SHA-256.
pub fn yq() -> (&'static [u8], String) {
    let sha = Sha256::digest(YQ.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (YQ.as_bytes(), sha)
}

/// The path of the yq asset for `arch` (`amd64`, `arm64`) under the emulator's base URL.
pub fn yq_path(arch: &str) -> String {
    format!("/mikefarah/yq/releases/download/{YQ_TAG}/yq_linux_{arch}")
}

pub fn routes() -> Router<Shared> {
    Router::new().route("/mikefarah/yq/releases/download/{tag}/{asset}", get(download))
}

async fn download(Path((tag, asset)): Path<(String, String)>) -> Response {
    if tag != YQ_TAG || !asset.starts_with("yq_linux_") {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    (StatusCode::OK, [("content-type", "application/octet-stream")], yq().0).into_response()
}
