//! A real `hls-origin` process whose every stderr line is kept for the test to look through
//! (shared by `tests/cli.rs` and `tests/ops.rs`). Every wait has a timeout.
// Each test crate that includes this uses a different subset of it.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const WAIT: Duration = Duration::from_secs(20);

/// The process, its `listening on` addresses in order (public ones first, then admin), and
/// its log lines.
pub struct Logged {
    pub child: Child,
    /// The first listener.
    pub addr: String,
    /// Every listener, in the order they were logged.
    pub addrs: Vec<String>,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    pub seen: Vec<String>,
}

impl Logged {
    /// Starts `cmd` and waits for `listeners` `listening on` lines.
    pub async fn start(mut cmd: Command, listeners: usize) -> Logged {
        let mut child = cmd.stderr(Stdio::piped()).stdout(Stdio::null()).kill_on_drop(true).spawn().unwrap();
        let mut reader = BufReader::new(child.stderr.take().unwrap()).lines();
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = reader.next_line().await {
                let _ = tx.send(line);
            }
        });
        let mut logged = Logged { child, addr: String::new(), addrs: Vec::new(), lines, seen: Vec::new() };
        while logged.addrs.len() < listeners {
            let line = logged.wait_for_new("listening on").await;
            logged.addrs.push(line.split("listening on ").nth(1).unwrap().trim().to_string());
        }
        logged.addr = logged.addrs[0].clone();
        logged
    }

    /// The first line (seen before or arriving within the wait) that contains `needle`.
    pub async fn wait_for(&mut self, needle: &str) -> String {
        if let Some(line) = self.seen.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        self.wait_for_new(needle).await
    }

    /// The first line arriving from now on (within the wait) that contains `needle`.
    pub async fn wait_for_new(&mut self, needle: &str) -> String {
        let before = self.seen.len();
        loop {
            if let Some(line) = self.seen[before..].iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            let line = tokio::time::timeout(WAIT, self.lines.recv())
                .await
                .unwrap_or_else(|_| panic!("no new log line with {needle:?}; seen: {:#?}", self.seen))
                .expect("server still running");
            self.seen.push(line);
        }
    }

    /// Lines seen so far that contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.seen.iter().filter(|l| l.contains(needle)).count()
    }
}
