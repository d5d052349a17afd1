//! The command line (clap): `serve`, `check-config`, `sign`, `demo`. Only parsing; `main.rs` runs them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// An HTTP origin for HLS: serves the directory an HLS packager writes into, to a CDN.
#[derive(Debug, Parser)]
#[command(name = "hls-origin", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

const AFTER_HELP: &str = "\
Signals (serve, demo):
  SIGTERM, SIGINT  stop accepting, let responses in flight finish (server.shutdown_grace), exit 0
  SIGHUP           forget cached playlists and misses and re-walk the media root

Exit codes:
  0   stopped cleanly (or: the config is valid, the link was printed)
  1   a runtime failure (e.g. the listen address is in use)
  2   a usage error (bad arguments; sign: a template that needs a live request)
  78  a configuration problem (EX_CONFIG): the message names the file and the key.
      systemd's unit does not restart on it.";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: from a config file, or for a first run with `--root` and `--listen`.
    Serve {
        /// The TOML config file.
        #[arg(long, short, required_unless_present = "root", conflicts_with_all = ["root", "listen"])]
        config: Option<PathBuf>,
        /// Serve this directory with every default (instead of a config file).
        #[arg(long)]
        root: Option<PathBuf>,
        /// Address to listen on with `--root` (repeatable).
        #[arg(long, requires = "root", default_value = "127.0.0.1:8080")]
        listen: Vec<SocketAddr>,
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
        /// How long the link stays valid: seconds, or a duration like `90s`, `10m`, `1h`, `7d`.
        #[arg(long, default_value = "1h", value_parser = parse_ttl)]
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

/// `--ttl`: plain seconds, or a duration in the config file's syntax.
fn parse_ttl(text: &str) -> Result<u64, String> {
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(secs);
    }
    crate::config::units::parse_duration(text).map(|d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_takes_seconds_or_durations() {
        assert_eq!(parse_ttl("3600"), Ok(3600));
        assert_eq!(parse_ttl("1h"), Ok(3600));
        assert_eq!(parse_ttl("90s"), Ok(90));
        assert!(parse_ttl("soon").is_err());
    }

    #[test]
    fn serve_takes_a_config_or_a_root() {
        let cli = Cli::try_parse_from(["hls-origin", "serve", "--root", "/var/hls", "--listen", "0.0.0.0:80"]).unwrap();
        assert!(matches!(cli.command, Command::Serve { config: None, root: Some(_), .. }));
        assert!(Cli::try_parse_from(["hls-origin", "serve"]).is_err());
        assert!(Cli::try_parse_from(["hls-origin", "serve", "-c", "a.toml", "--root", "/x"]).is_err());
    }
}
