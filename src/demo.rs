//! `hls-origin demo`: a simulated live stream for first-time users, served by the real server
//! from a temporary directory. Owns the demo writer; must not touch anything outside its dir.

mod retime;
mod writer;

use std::net::SocketAddr;

use anyhow::Context;

use crate::config::Config;
use crate::state::AppState;
use crate::{process, server};

/// The stream's path below the root.
pub const STREAM_DIR: &str = "live/demo";

/// Serves the demo stream on `listen` until SIGTERM/SIGINT, then removes its directory.
pub async fn run(listen: SocketAddr) -> anyhow::Result<()> {
    let root = std::env::temp_dir().join(format!("hls-origin-demo-{}", std::process::id()));
    let stream = root.join(STREAM_DIR);
    std::fs::create_dir_all(&stream).with_context(|| format!("creating {}", stream.display()))?;
    let writer = writer::Writer::start(stream)?;
    let config = Config::with_defaults(root.clone(), listen);
    let listeners = server::bind(&config.server.listen).await?;
    for l in &listeners {
        tracing::info!("demo stream: http://{}/{STREAM_DIR}/index.m3u8", l.local_addr()?);
    }
    let state = AppState::new(config)?;
    let result = server::serve(listeners, state, process::shutdown_signal()).await;
    writer.stop();
    if let Err(e) = std::fs::remove_dir_all(&root) {
        tracing::warn!("could not remove {}: {e}", root.display());
    }
    result
}
