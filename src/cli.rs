//! The command line (clap): `serve`, `check-config`, `demo`. Only parsing; `main.rs` runs them.

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
    /// Serve a simulated live stream from a temporary directory, no config needed.
    Demo {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
}
