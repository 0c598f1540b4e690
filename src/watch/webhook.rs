//! The webhook endpoint: GitHub's `workflow_job` deliveries, taken only when signed with the
//! shared secret (`X-Hub-Signature-256`, HMAC-SHA256 of the body, compared in constant time),
//! each counted once by its `X-GitHub-Delivery`, with bodies bounded. What a delivery does is
//! decided by [`Endpoint::take`], without I/O; [`super::http`] is its HTTP side.

use hmac::{Hmac, Mac};
use hyper::StatusCode;
use serde::Deserialize;
use sha2::Sha256;

use super::book::{Heard, JobBook, JobEvent};
use crate::github::WorkflowJob;
use crate::secret::Secret;

/// The largest body taken: a `workflow_job` delivery is a few kilobytes (GitHub caps any
/// payload at 25 MB, which no job event comes near).
pub const MAX_BODY: usize = 256 * 1024;
/// Connections served at once (more wait in the kernel's backlog).
pub const MAX_CLIENTS: usize = 64;

/// What the endpoint serves: its secret, and whose jobs, for which runners.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub secret: Secret,
    /// The config's `path`: an organisation, or `owner/repo`.
    pub path: String,
    /// The labels every runner of the unit carries.
    pub labels: Vec<String>,
    /// The names of the unit's runners start so.
    pub runner_prefix: String,
}

/// A delivery as it came: its headers of note and its body.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub event: Option<&'a str>,
    pub id: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub body: &'a [u8],
}

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A job of ours changed the queue; `taken` when a runner took it (one may need replacing).
    Counted { taken: bool },
    /// Ours, and nothing changed (a job already known, or one taken already).
    Known,
    /// Counted before (the same `X-GitHub-Delivery`).
    Replay,
    /// GitHub's `ping` when the webhook is made.
    Pong,
    /// Not for us: another event, another repository, labels our runners do not carry.
    Ignored(String),
    /// No signature, or not made with our secret.
    Unsigned,
    /// Signed, but not a `workflow_job` payload.
    Malformed(String),
}

impl Verdict {
    pub fn status(&self) -> StatusCode {
        match self {
            Verdict::Counted { .. } | Verdict::Known | Verdict::Replay | Verdict::Pong => StatusCode::OK,
            Verdict::Ignored(_) => StatusCode::ACCEPTED,
            Verdict::Unsigned => StatusCode::UNAUTHORIZED,
            Verdict::Malformed(_) => StatusCode::BAD_REQUEST,
        }
    }

    pub(super) fn text(&self) -> String {
        match self {
            Verdict::Counted { .. } => "counted\n".into(),
            Verdict::Known => "known already\n".into(),
            Verdict::Replay => "this delivery was counted before\n".into(),
            Verdict::Pong => "pong\n".into(),
            Verdict::Ignored(why) => format!("ignored: {why}\n"),
            Verdict::Unsigned => "no valid X-Hub-Signature-256 for this body\n".into(),
            Verdict::Malformed(why) => format!("not a workflow_job payload: {why}\n"),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Payload {
    action: String,
    workflow_job: WorkflowJob,
    repository: Repository,
}

#[derive(Debug, Deserialize)]
struct Repository {
    full_name: String,
}

impl Endpoint {
    /// Takes `delivery` into `book`: the signature first (nothing of an unsigned body is
    /// read), then the event, the scope and the labels, then the delivery id.
    pub fn take(&self, book: &mut JobBook, delivery: &Delivery<'_>, now: u64) -> Verdict {
        if !signed(&self.secret, delivery.body, delivery.signature) {
            return Verdict::Unsigned;
        }
        match delivery.event {
            Some("ping") => return Verdict::Pong,
            Some("workflow_job") => {}
            other => return Verdict::Ignored(format!("event {}", other.unwrap_or("(none)"))),
        }
        let payload: Payload = match serde_json::from_slice(delivery.body) {
            Ok(payload) => payload,
            Err(e) => return Verdict::Malformed(e.to_string()),
        };
        let repo = payload.repository.full_name;
        if !self.holds(&repo) {
            return Verdict::Ignored(format!("{repo} is not in {}", self.path));
        }
        let job = payload.workflow_job;
        if !crate::github::serves(&self.labels, &job.labels) {
            return Verdict::Ignored(format!("labels {:?} are not all this unit's runners'", job.labels));
        }
        let taken = payload.action == "in_progress";
        let mine = job.taken_by(&self.runner_prefix);
        // The action is what happened; the job's own status may say it otherwise.
        let job = WorkflowJob {
            status: payload.action,
            ..job
        };
        let event = JobEvent { job, repo, mine };
        match book.deliver(delivery.id.unwrap_or_default(), &event, now) {
            Heard::Changed => Verdict::Counted { taken },
            Heard::Unchanged => Verdict::Known,
            Heard::Replay => Verdict::Replay,
        }
    }

    /// Whether a job of `repo` (`owner/name`) may run on the unit's runners: the repository
    /// itself, or any of the organisation's.
    fn holds(&self, repo: &str) -> bool {
        match self.path.split_once('/') {
            Some(_) => repo.eq_ignore_ascii_case(&self.path),
            None => repo
                .split_once('/')
                .is_some_and(|(owner, _)| owner.eq_ignore_ascii_case(&self.path)),
        }
    }
}

/// Whether `signature` is `sha256=<hex HMAC-SHA256 of body with secret>`.
pub fn signed(secret: &Secret, body: &[u8], signature: Option<&str>) -> bool {
    let Some(hex) = signature.and_then(|s| s.strip_prefix("sha256=")) else {
        return false;
    };
    let Some(expected) = decode_hex(hex) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    // Signed as fake-github signs its deliveries: another implementation than the check's.
    use fake_github::webhooks::signature;

    const SECRET: &str = "a-long-random-webhook-secret";

    fn endpoint(path: &str) -> Endpoint {
        Endpoint {
            secret: Secret::new(SECRET),
            path: path.into(),
            labels: ["self-hosted", "linux", "x64", "github-runner"]
                .map(String::from)
                .to_vec(),
            runner_prefix: "github-runner-0-".into(),
        }
    }

    fn payload(action: &str, id: u64, repo: &str, labels: &[&str]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "action": action,
            "workflow_job": {"id": id, "labels": labels, "created_at": "2026-12-06T10:00:00Z",
                             "started_at": "2026-12-06T10:00:05Z"},
            "repository": {"full_name": repo},
        }))
        .expect("json")
    }

    fn take(endpoint: &Endpoint, book: &mut JobBook, id: &str, body: &[u8], signature: Option<&str>) -> Verdict {
        let delivery = Delivery {
            event: Some("workflow_job"),
            id: Some(id),
            signature,
            body,
        };
        endpoint.take(book, &delivery, 100)
    }

    #[test]
    fn a_signed_queued_job_of_the_organisation_is_counted_once() {
        let (endpoint, mut book) = (endpoint("acme"), JobBook::new("acme"));
        let body = payload("queued", 1, "acme/app", &["self-hosted", "Linux"]);
        let sig = signature(SECRET, &body);
        assert_eq!(
            take(&endpoint, &mut book, "d1", &body, Some(&sig)),
            Verdict::Counted { taken: false }
        );
        assert_eq!(take(&endpoint, &mut book, "d1", &body, Some(&sig)), Verdict::Replay);
        assert_eq!(book.queued_for(&endpoint.labels), 1);
        let started = payload("in_progress", 1, "acme/app", &["self-hosted"]);
        let sig = signature(SECRET, &started);
        assert_eq!(
            take(&endpoint, &mut book, "d2", &started, Some(&sig)),
            Verdict::Counted { taken: true }
        );
        assert_eq!(Verdict::Counted { taken: true }.status(), StatusCode::OK);
    }

    #[test]
    fn an_unsigned_or_wrongly_signed_delivery_is_refused_and_changes_nothing() {
        let (endpoint, mut book) = (endpoint("acme"), JobBook::new("acme"));
        let body = payload("queued", 1, "acme/app", &["self-hosted"]);
        let wrong = signature("another-secret-entirely", &body);
        let tampered = signature(SECRET, &payload("queued", 2, "acme/app", &["self-hosted"]));
        for sig in [
            None,
            Some(wrong.as_str()),
            Some(tampered.as_str()),
            Some("sha256=zz"),
            Some("sha1=00"),
        ] {
            let verdict = take(&endpoint, &mut book, "d1", &body, sig);
            assert_eq!(
                (verdict.status(), &verdict),
                (StatusCode::UNAUTHORIZED, &Verdict::Unsigned)
            );
        }
        assert_eq!(book.queued_for(&endpoint.labels), 0);
        let sig = signature(SECRET, &body);
        assert_eq!(
            take(&endpoint, &mut book, "d1", &body, Some(&sig)),
            Verdict::Counted { taken: false },
            "not taken as a replay"
        );
    }

    #[test]
    fn jobs_we_cannot_serve_or_of_other_repositories_are_accepted_and_ignored() {
        let mut book = JobBook::new("acme/app");
        let repo = endpoint("acme/app");
        for body in [
            payload("queued", 1, "acme/app", &["self-hosted", "gpu"]),
            payload("queued", 2, "acme/other", &["self-hosted"]),
            payload("queued", 3, "evil/app", &["self-hosted"]),
        ] {
            let verdict = take(&repo, &mut book, "", &body, Some(&signature(SECRET, &body)));
            assert_eq!(verdict.status(), StatusCode::ACCEPTED, "{verdict:?}");
        }
        assert_eq!(book.queued_for(&repo.labels), 0);
    }

    #[test]
    fn a_ping_is_answered_and_other_events_are_ignored() {
        let (endpoint, mut book) = (endpoint("acme"), JobBook::new("acme"));
        let body = br#"{"zen": "Keep it logically awesome."}"#;
        let sig = signature(SECRET, body);
        let mut delivery = Delivery {
            event: Some("ping"),
            id: Some("p"),
            signature: Some(&sig),
            body,
        };
        assert_eq!(endpoint.take(&mut book, &delivery, 0), Verdict::Pong);
        delivery.event = Some("push");
        assert_eq!(endpoint.take(&mut book, &delivery, 0).status(), StatusCode::ACCEPTED);
        delivery.event = Some("workflow_job");
        assert_eq!(endpoint.take(&mut book, &delivery, 0).status(), StatusCode::BAD_REQUEST);
    }
}
