//! The webhook endpoint's HTTP side: only `POST /webhook` (or `/`), the body read up to
//! [`MAX_BODY`] within [`BODY_TIMEOUT`] (413 past the bound, declared or not; 408 when it comes
//! too slowly), then [`Endpoint::take`] under the book's lock.

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};

use super::book::JobBook;
use super::webhook::{Delivery, Endpoint, Verdict, MAX_BODY};

/// How long a client may take to send its whole body, once its headers came.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Deliveries refused for their signature, since the watcher started.
static UNSIGNED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Answers one request; `counted` hears of each counted delivery.
pub async fn answer(
    request: Request<Incoming>,
    endpoint: &Endpoint,
    book: &std::sync::Mutex<JobBook>,
    counted: &(dyn Fn(bool) + Sync),
) -> Response<Full<Bytes>> {
    use crate::http_serve::response;
    if !matches!(request.uri().path(), "/webhook" | "/") {
        return response(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: deliveries go to /webhook\n",
        );
    }
    if request.method() != hyper::Method::POST {
        return response(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only POST\n");
    }
    let too_large = || {
        response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "text/plain",
            format!("a body of more than {MAX_BODY} bytes is no workflow_job delivery\n"),
        )
    };
    let declared = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return too_large();
    }
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (event, id, signature) = (
        header("x-github-event"),
        header("x-github-delivery"),
        header("x-hub-signature-256"),
    );
    let read = tokio::time::timeout(BODY_TIMEOUT, Limited::new(request.into_body(), MAX_BODY).collect());
    let Ok(read) = read.await else {
        return response(StatusCode::REQUEST_TIMEOUT, "text/plain", "the body came too slowly\n");
    };
    let body = match read {
        Ok(body) => body.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
        Err(e) => {
            return response(
                StatusCode::BAD_REQUEST,
                "text/plain",
                format!("reading the body: {e}\n"),
            )
        }
    };
    let delivery = Delivery {
        event: event.as_deref(),
        id: id.as_deref(),
        signature: signature.as_deref(),
        body: &body,
    };
    let verdict = {
        let mut book = book.lock().expect("book lock poisoned");
        endpoint.take(&mut book, &delivery, crate::bake::now())
    };
    let id = id.as_deref().unwrap_or("(no id)");
    match &verdict {
        Verdict::Counted { taken } => {
            tracing::debug!("webhook: delivery {id} counted");
            counted(*taken);
        }
        // Logged at the 1st, 2nd, 4th, 8th… refusal: a flood of them does not fill the journal.
        Verdict::Unsigned => {
            let n = UNSIGNED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!("webhook: delivery {id} refused: no valid signature ({n} refused so far)");
            }
        }
        Verdict::Malformed(why) => tracing::warn!("webhook: delivery {id} refused: {why}"),
        other => tracing::debug!("webhook: delivery {id}: {}", other.text().trim_end()),
    }
    response(verdict.status(), "text/plain", verdict.text())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn endpoint() -> Endpoint {
        Endpoint {
            secret: Secret::new("a-long-random-webhook-secret"),
            path: "acme".into(),
            labels: vec!["self-hosted".into()],
            runner_prefix: "github-runner-0-".into(),
        }
    }

    /// The endpoint on a free local port, as the watcher serves it.
    async fn serving() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/webhook", listener.local_addr().expect("addr"));
        let endpoint = std::sync::Arc::new(endpoint());
        let book = std::sync::Arc::new(std::sync::Mutex::new(JobBook::new("acme")));
        let handle = move |request| {
            let (endpoint, book) = (endpoint.clone(), book.clone());
            async move { answer(request, &endpoint, &book, &|_| {}).await }
        };
        let overflow = crate::http_serve::Overflow::Wait;
        tokio::spawn(crate::http_serve::serve(
            listener,
            super::super::webhook::MAX_CLIENTS,
            overflow,
            "webhook",
            handle,
        ));
        url
    }

    #[tokio::test]
    async fn a_body_past_the_bound_is_refused_whether_or_not_its_length_is_declared() {
        let url = serving().await;
        let client = reqwest::Client::new();
        let declared = client
            .post(&url)
            .body(vec![b' '; MAX_BODY + 1])
            .send()
            .await
            .expect("answered");
        assert_eq!(declared.status(), 413);
        // Chunked: no Content-Length, the bound is met while reading.
        let chunks = (0..(MAX_BODY / 4096 + 2)).map(|_| Ok::<_, std::io::Error>(vec![b' '; 4096]));
        let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
        let chunked = client.post(&url).body(body).send().await.expect("answered");
        assert_eq!(chunked.status(), 413);
        let small = client.post(&url).body("{}").send().await.expect("answered");
        assert_eq!(small.status(), 401, "within the bound, then the signature");
    }
}
