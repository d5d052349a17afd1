//! The `hls-origin` binary: parse the command line, set up logging, load the config, call the
//! one assembly (`app::run`), and map errors to exit codes (78 = bad config, as sysexits'
//! EX_CONFIG).

use std::process::ExitCode;

use clap::Parser;
use hls_origin::cli::{Cli, Command};
use hls_origin::config::Config;
use hls_origin::{app, demo, process};

const EX_CONFIG: u8 = 78;

fn main() -> ExitCode {
    hls_origin::allocator::limit_arenas();
    let cli = Cli::parse();
    init_tracing();
    match cli.command {
        Command::CheckConfig { config } => match Config::load(&config) {
            Ok(_) => {
                println!("{}: ok", config.display());
                ExitCode::SUCCESS
            }
            Err(e) => config_error(&e),
        },
        Command::Serve { config, root, listen } => {
            let loaded = match (config, root) {
                (Some(file), _) => Config::load(&file),
                (None, Some(root)) => Config::for_root(&root, &listen),
                // clap requires one of them.
                (None, None) => return ExitCode::from(2),
            };
            match loaded {
                Ok(config) => exit(runtime().and_then(|rt| rt.block_on(app::run(config, process::shutdown_signal())))),
                Err(e) => config_error(&e),
            }
        }
        Command::Sign { config, path, ttl, remote_addr } => match Config::load(&config) {
            Ok(config) => sign(&config, &path, ttl, remote_addr),
            Err(e) => config_error(&e),
        },
        Command::Demo { listen } => exit(runtime().and_then(|rt| rt.block_on(demo::run(listen)))),
    }
}

fn sign(config: &Config, path: &str, ttl: u64, remote: Option<std::net::IpAddr>) -> ExitCode {
    let Some(link) = &config.policy.secure_link else {
        eprintln!(
            "error: config {}: key `secure_link`: the section is missing; nothing to sign with",
            config.source.display()
        );
        return ExitCode::from(EX_CONFIG);
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    match link.sign_path(path, ttl, now, remote) {
        Ok(signed) => {
            println!("{signed}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// One worker per CPU the process may run on; with a single CPU (a 1-vCPU VM, a cpuset, a
/// `taskset`), the single-threaded scheduler: work stealing between workers buys nothing there
/// and costs atomics on every task poll. Blocking file I/O goes to the blocking pool either way.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let mut builder = if cpus == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    Ok(builder.enable_all().build()?)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // notify reports its own housekeeping (watches of deleted directories) at info.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,notify=warn"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

fn config_error(e: &hls_origin::config::ConfigError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(EX_CONFIG)
}

/// 78 for configuration problems found at start (systemd's unit then stops restarting), 1 for
/// runtime failures.
fn exit(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<hls_origin::config::ConfigError>() {
            Some(config) => config_error(config),
            None => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}
