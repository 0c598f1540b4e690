//! The charm's two small HTTP/1 servers (the metrics exporter, the watcher's webhook
//! endpoint) accept connections the same way: a bounded number at once, a deadline for a
//! client's headers, and an accept error never ends the server.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};

/// How long a client may take to send its request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// What becomes of a connection past `max_clients`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Closed at once (a scraper comes again in seconds).
    Close,
    /// Left in the kernel's backlog until a connection ends (a webhook delivery is not sent
    /// again by itself).
    Wait,
}

/// Serves `handle` on `listener`, `max_clients` connections at a time, until the process is
/// stopped.
pub async fn serve<H, F>(
    listener: tokio::net::TcpListener,
    max_clients: usize,
    overflow: Overflow,
    what: &'static str,
    handle: H,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let clients = Arc::new(tokio::sync::Semaphore::new(max_clients));
    loop {
        let waited = match overflow {
            Overflow::Wait => clients.clone().acquire_owned().await.ok(),
            Overflow::Close => None,
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors, a connection reset before it was taken: the next one
            // may be served; the server goes on.
            Err(e) => {
                tracing::warn!("{what}: accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(permit) = waited.or_else(|| clients.clone().try_acquire_owned().ok()) else {
            drop(stream);
            continue;
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |request| {
                let answer = handle(request);
                async move { Ok::<_, Infallible>(answer.await) }
            });
            // A client that never finishes its headers does not hold a connection for ever.
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                tracing::debug!("{what} connection: {e}");
            }
        });
    }
}

/// A response of `status` with a plain or typed body.
pub fn response(status: hyper::StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .expect("a response from valid parts")
}
