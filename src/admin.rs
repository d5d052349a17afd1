//! The admin responder: `GET /metrics` (Prometheus text format, through `prometheus-client`),
//! `GET /healthz` (the process answers and its watcher runs) and `GET /readyz` (listeners
//! serving, root open and indexed; 503 otherwise). Served on `[admin] listen` only — never on a
//! public listener — through the same accept loop and the hyper driver. Must not touch media.

mod exposition;
mod hls;

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::plan::{Body, ResponsePlan};
use crate::request::RequestHead;
use crate::respond::{Refusal, Respond};
use crate::state::AppState;

/// Answers the admin endpoints from the shared state.
pub struct AdminHandler {
    state: Arc<AppState>,
}

impl AdminHandler {
    /// The admin endpoints of `state`.
    pub fn new(state: Arc<AppState>) -> AdminHandler {
        AdminHandler { state }
    }

    /// The `/metrics` text, as a scrape gets it.
    pub async fn metrics_text(&self) -> String {
        let state = Arc::clone(&self.state);
        // Reading /proc (descriptor count) is file I/O: not on a worker thread.
        tokio::task::spawn_blocking(move || exposition::render(&state)).await.unwrap_or_else(|e| {
            tracing::error!("metrics rendering failed: {e}");
            String::new()
        })
    }
}

impl Respond for AdminHandler {
    async fn respond<'a>(&'a self, req: RequestHead<'a>) -> ResponsePlan {
        let head_only = match *req.method {
            Method::GET => false,
            Method::HEAD => true,
            _ => return text(StatusCode::METHOD_NOT_ALLOWED, "405 only GET and HEAD\n", false),
        };
        match req.target.path {
            "/metrics" => {
                let mut plan = text(StatusCode::OK, &self.metrics_text().await, head_only);
                plan.headers.insert(CONTENT_TYPE, HeaderValue::from_static(exposition::CONTENT_TYPE));
                plan
            }
            "/healthz" if self.state.is_healthy() => text(StatusCode::OK, "ok\n", head_only),
            "/healthz" => text(StatusCode::SERVICE_UNAVAILABLE, "unhealthy: the file watcher stopped\n", head_only),
            "/readyz" if self.state.is_ready() => text(StatusCode::OK, "ready\n", head_only),
            "/readyz" => text(StatusCode::SERVICE_UNAVAILABLE, &not_ready_reason(&self.state), head_only),
            _ => text(StatusCode::NOT_FOUND, "404 try /metrics, /healthz or /readyz\n", head_only),
        }
    }

    fn refuse(&self, why: Refusal) -> ResponsePlan {
        let status = match why {
            Refusal::HeadTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Refusal::Malformed => StatusCode::BAD_REQUEST,
        };
        text(status, "refused\n", false)
    }

    /// Scrapes every few seconds would drown the access log.
    fn logs_access(&self) -> bool {
        false
    }
}

fn not_ready_reason(state: &AppState) -> String {
    if state.store.root_is_missing() {
        format!("not ready: the media root {} is gone\n", state.config.startup.root.display())
    } else {
        "not ready: listeners not serving yet\n".to_string()
    }
}

fn text(status: StatusCode, body: &str, head_only: bool) -> ResponsePlan {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    let body = if head_only { Body::empty() } else { Body::Bytes(Bytes::copy_from_slice(body.as_bytes())) };
    ResponsePlan { status, fixed: None, headers, body, guard: None, class: crate::metrics::Class::Other }
}
