//! The command line (clap): `serve`, `check-config`, `sign`, `demo`. Only parsing; `main.rs` runs them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// An HTTP origin for HLS: serves the directory an HLS packager writes into, to a CDN.
#[derive(Debug, Parser)]
#[command(name = "hls-origin", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a config file: exit 0, or print the offending key and exit 78.
    CheckConfig {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print PATH with a signature for the configured `[secure_link]` (nginx-compatible).
    Sign {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        /// The request path to sign, e.g. /secure/live/index.m3u8.
        path: String,
        /// Seconds the link stays valid.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        /// The client address, when the signature includes $remote_addr.
        #[arg(long)]
        remote_addr: Option<std::net::IpAddr>,
    },
    /// Serve a simulated live stream from a temporary directory, no config needed.
    Demo {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
}
