//! The start/stop hooks: an HTTP POST with an empty body through hyper-util's pooled
//! keep-alive client, bounded by a timeout. Knows nothing of streams.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A pooled client for the hook service.
pub(super) struct Hook {
    client: Client<HttpConnector, Empty<Bytes>>,
    timeout: Duration,
}

impl Hook {
    /// A client whose calls give up after `timeout`.
    pub(super) fn new(timeout: Duration) -> Hook {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        Hook { client: Client::builder(TokioExecutor::new()).build(connector), timeout }
    }

    /// POSTs to `url`; `Err` says why it failed (connect error, timeout, or the status).
    pub(super) async fn post(&self, url: &str) -> Result<(), String> {
        let request = http::Request::post(url)
            .header(http::header::USER_AGENT, concat!("hls-origin/", env!("CARGO_PKG_VERSION")))
            .body(Empty::new())
            .map_err(|e| format!("bad URL: {e}"))?;
        let call = async {
            let response = self.client.request(request).await.map_err(|e| format!("request failed: {}", chain(&e)))?;
            let status = response.status();
            // Read the body so the connection goes back to the pool.
            let _ = response.into_body().collect().await;
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("status {status}"))
            }
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }
}

/// An error with its causes (hyper-util's own message is only "client error (Connect)"; the
/// cause says "Connection refused").
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
