//! The token stays home: the GitHub client follows a `Link: next` only on the API's own
//! scheme, host and port, and reads no answer past its size bound. GitHub here is a canned
//! HTTP server on loopback; a second one, on another loopback address, records whether the
//! token ever reached it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use github_runner::github::{api_base, ClientConfig, GithubClient, GithubError, Scope, MAX_BODY};
use github_runner::secret::Secret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const TOKEN: &str = "ghp_staysathome0123456789";

/// Answers every request with `head` (status line and headers) and `body`, and keeps what it
/// was sent.
async fn canned(addr: &str, head: String, body: Vec<u8>) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind((addr, 0)).await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = vec![0; 16 * 1024];
            let n = stream.read(&mut request).await.unwrap_or(0);
            kept.lock()
                .expect("lock")
                .push(String::from_utf8_lossy(&request[..n]).into_owned());
            let head = format!("{head}Content-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
        }
    });
    (port, seen)
}

fn client(port: u16) -> GithubClient {
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}")).expect("url");
    let mut config = ClientConfig::new(
        &url,
        Secret::new(TOKEN),
        Scope::Org {
            org: "test-org".into(),
            group: "default".into(),
        },
    )
    .expect("config");
    config.api_base = api_base(&url).expect("GHES-style base");
    config.retry.attempts = 1;
    config.request_timeout = Duration::from_secs(5);
    GithubClient::new(config).expect("client")
}

/// A first page whose next page is `next`.
fn first_page(next: &str) -> String {
    format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLink: <{next}>; rel=\"next\"\r\n")
}

const PAGE: &str = r#"{"total_count": 1, "runners": []}"#;

#[tokio::test]
async fn a_next_link_to_another_host_is_refused_and_the_token_never_goes_there() {
    let (elsewhere, seen_elsewhere) = canned("127.0.0.2", first_page("http://x/"), PAGE.into()).await;
    let next = format!("http://127.0.0.2:{elsewhere}/api/v3/orgs/test-org/actions/runners?page=2");
    let (port, seen) = canned("127.0.0.1", first_page(&next), PAGE.into()).await;
    let err = client(port).list_runners().await.expect_err("a foreign link");
    assert!(matches!(err, GithubError::ForeignLink { .. }), "{err:?}");
    assert!(err.to_string().contains("127.0.0.2"), "names the link: {err}");
    assert!(
        seen.lock().expect("lock")[0].contains(TOKEN),
        "GitHub itself got the token"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        seen_elsewhere.lock().expect("lock").is_empty(),
        "the other host heard nothing"
    );
}

#[tokio::test]
async fn a_next_link_to_another_port_or_scheme_of_the_same_host_is_refused() {
    let (port, _) = canned("127.0.0.1", first_page("http://x/"), PAGE.into()).await;
    for next in [
        format!("https://127.0.0.1:{port}/api/v3/orgs/test-org/actions/runners?page=2"),
        format!(
            "http://127.0.0.1:{}/api/v3/orgs/test-org/actions/runners?page=2",
            port + 1
        ),
    ] {
        let (port, _) = canned("127.0.0.1", first_page(&next), PAGE.into()).await;
        let err = client(port).list_runners().await.expect_err("a foreign link");
        assert!(matches!(err, GithubError::ForeignLink { .. }), "{next}: {err:?}");
    }
}

#[tokio::test]
async fn an_answer_over_the_size_bound_fails_cleanly_naming_the_bound() {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n".to_string();
    let (port, _) = canned("127.0.0.1", head, vec![b' '; MAX_BODY + 1]).await;
    let err = client(port).list_runners().await.expect_err("too large");
    assert!(matches!(err, GithubError::TooLarge { .. }), "{err:?}");
    assert!(err.to_string().contains(&MAX_BODY.to_string()), "{err}");
}
