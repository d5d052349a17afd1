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

/// Serves the demo stream on `listen` until SIGTERM/SIGINT, then removes its directory.
pub async fn run(listen: SocketAddr) -> anyhow::Result<()> {
    let root = std::env::temp_dir().join(format!("hls-origin-demo-{}", std::process::id()));
    let stream = root.join(STREAM_DIR);
    std::fs::create_dir_all(&stream).with_context(|| format!("creating {}", stream.display()))?;
    let writer = writer::Writer::start(stream)?;
    let config = Config::with_defaults(root.clone(), listen);
    let result = match App::start(config).await {
        Ok(app) => {
            for addr in app.local_addrs().unwrap_or_default() {
                tracing::info!("demo stream: http://{addr}/{STREAM_DIR}/index.m3u8");
            }
            app.run(process::shutdown_signal()).await
        }
        Err(e) => Err(e),
    };
    writer.stop();
    // Whether the demo ran or could not bind, it leaves nothing behind.
    if let Err(e) = std::fs::remove_dir_all(&root) {
        tracing::warn!("could not remove {}: {e}", root.display());
    }
    result
}
