//! An LXD socket in front of the real daemon that refuses the requests a test names, as LXD
//! itself would (a 400 error answer), and passes every other one through. For what the real
//! daemon cannot be made to refuse on demand (an ACL it would accept). Requests and answers
//! are buffered: enough for the setup calls, not for exec's websockets.

use std::path::{Path, PathBuf};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;

/// Which requests are refused, and LXD's words for it: `(method, path) → Some(error)`.
pub type Refuse = fn(&Method, &str) -> Option<&'static str>;

pub struct LxdGate {
    dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl LxdGate {
    /// Serves `<dir>/unix.socket` in front of the daemon at `real`.
    pub fn start(real: &Path, refuse: Refuse) -> LxdGate {
        let dir = tempfile::tempdir().expect("tempdir");
        let listener = tokio::net::UnixListener::bind(dir.path().join("unix.socket")).expect("bind the gate");
        let client = reqwest::Client::builder().unix_socket(real).build().expect("client");
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let client = client.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| pass(client.clone(), refuse, request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        LxdGate { dir, task }
    }

    /// What `LXD_DIR` must be for the charm to talk through the gate.
    pub fn lxd_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for LxdGate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pass(
    client: reqwest::Client,
    refuse: Refuse,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, String> {
    let (parts, body) = request.into_parts();
    if let Some(error) = refuse(&parts.method, parts.uri.path()) {
        let answer = serde_json::json!({"type": "error", "error": error, "error_code": 400, "metadata": null});
        return Response::builder()
            .status(400)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(answer.to_string())))
            .map_err(|e| e.to_string());
    }
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut forward = client.request(parts.method, format!("http://lxd{path}")).body(body);
    for (name, value) in parts.headers.iter().filter(|(name, _)| !hop_by_hop(name)) {
        forward = forward.header(name, value);
    }
    let answer = forward.send().await.map_err(|e| e.to_string())?;
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers().iter().filter(|(name, _)| !hop_by_hop(name)) {
        response = response.header(name, value);
    }
    let body = answer.bytes().await.map_err(|e| e.to_string())?;
    response.body(Full::new(body)).map_err(|e| e.to_string())
}

/// Headers of one connection, not of the message: each side sets its own.
fn hop_by_hop(name: &hyper::header::HeaderName) -> bool {
    use hyper::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
    [HOST, CONNECTION, TRANSFER_ENCODING, CONTENT_LENGTH].contains(name)
}
