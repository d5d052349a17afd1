//! `hls-origin demo`: a simulated live stream for first-time users, served by the real server
//! from a temporary directory. Owns the demo writer; must not touch anything outside its dir.

mod retime;
mod writer;

use std::net::SocketAddr;

use anyhow::Context;

use crate::app::App;
use crate::config::Config;
use crate::process;

/// The stream's path below the root.
pub const STREAM_DIR: &str = "live/demo";

/// Serves the demo stream on `listen` until SIGTERM/SIGINT, then removes its directory —
/// also when it could not start (an address in use).
pub async fn run(listen: SocketAddr) -> anyhow::Result<()> {
    let root = std::env::temp_dir().join(format!("hls-origin-demo-{}", std::process::id()));
    let result = serve(&root, listen).await;
    if let Err(e) = std::fs::remove_dir_all(&root) {
        tracing::warn!("could not remove {}: {e}", root.display());
    }
    result
}

async fn serve(root: &std::path::Path, listen: SocketAddr) -> anyhow::Result<()> {
    let stream = root.join(STREAM_DIR);
    std::fs::create_dir_all(&stream).with_context(|| format!("creating {}", stream.display()))?;
    // The demo shows what players get from this origin: blocking reload and delta updates on.
    let config = Config::for_root_with(root, &[listen], "[hls]\nblocking_reload = true\ndelta_updates = true\n")
        .context("the demo's built-in config")?;
    let app = App::start(config).await?;
    let writer = writer::Writer::start(stream)?;
    for addr in app.local_addrs().unwrap_or_default() {
        tracing::info!("demo stream: http://{addr}/{STREAM_DIR}/index.m3u8");
    }
    let result = app.run(process::shutdown_signal()).await;
    writer.stop();
    result
}
