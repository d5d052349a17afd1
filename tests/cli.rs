//! The real binary: `check-config` exit codes, `serve` start-up and SIGTERM, and `demo` played by
//! ffmpeg.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

#[path = "shared/logged.rs"]
mod logged;
use logged::Logged;

const BIN: &str = env!("CARGO_BIN_EXE_hls-origin");
const STEP: Duration = Duration::from_secs(20);

fn write_config(dir: &Path, name: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let text = format!("[server]\nlisten = [\"127.0.0.1:0\"]\nroot = {:?}\n{extra}", dir.to_str().unwrap());
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn check_config_exits_78_naming_an_unknown_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "hls-origin.toml", "[cache]\nmemory_budgett = \"1GiB\"\n");
    let out = tokio::time::timeout(STEP, Command::new(BIN).args(["check-config", "--config"]).arg(&cfg).output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cache.memory_budgett"), "{stderr}");
    assert!(stderr.contains("hls-origin.toml"), "{stderr}");
    let good = write_config(dir.path(), "good.toml", "");
    let out = tokio::time::timeout(STEP, Command::new(BIN).args(["check-config", "--config"]).arg(&good).output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = tokio::time::timeout(STEP, Command::new(BIN).args(["serve", "--config"]).arg(&cfg).output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "serve with a bad config exits 78 too");
    let out =
        tokio::time::timeout(STEP, Command::new(BIN).args(["check-config", "--config", "/nonexistent.toml"]).output())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(out.status.code(), Some(78));
}

/// Starts the binary and waits for its `listening on ADDR` line.
async fn spawn_listening(args: &[&str]) -> (Child, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    spawn_command(cmd).await
}

async fn spawn_command(mut cmd: Command) -> (Child, String) {
    let mut child = cmd.stderr(Stdio::piped()).stdout(Stdio::null()).kill_on_drop(true).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = tokio::time::timeout(STEP, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.split("listening on ").nth(1) {
                return rest.trim().to_string();
            }
        }
        panic!("exited before listening");
    })
    .await
    .expect("listening in time");
    // Keep draining stderr so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

async fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = tokio::time::timeout(STEP, tokio::net::TcpStream::connect(addr)).await.unwrap().unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(STEP, s.read_to_end(&mut out)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    (status, text)
}

fn sigterm(child: &Child) {
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
}

#[tokio::test]
async fn serve_logs_its_address_raises_the_fd_limit_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.m3u8"), "#EXTM3U\n#EXT-X-TARGETDURATION:4\n").unwrap();
    let cfg = write_config(dir.path(), "hls-origin.toml", "");
    let (mut child, addr) = spawn_listening(&["serve", "--config", cfg.to_str().unwrap()]).await;
    let (status, text) = http_get(&addr, "/a.m3u8").await;
    assert_eq!(status, 200, "{text}");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id().unwrap())).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[3], fields[4], "soft limit raised to the hard limit: {line}");
    sigterm(&child);
    let status = tokio::time::timeout(STEP, child.wait()).await.expect("exits after SIGTERM").unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn serves_and_stops_when_confined_to_one_cpu() {
    // One CPU selects the single-threaded scheduler (src/main.rs): the same server, the same
    // blocking pool for file reads, the same graceful stop.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.m3u8"), "#EXTM3U\n#EXT-X-TARGETDURATION:4\n").unwrap();
    let cfg = write_config(dir.path(), "hls-origin.toml", "");
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "0", BIN, "serve", "--config", cfg.to_str().unwrap()]);
    let (mut child, addr) = spawn_command(cmd).await;
    for _ in 0..3 {
        let (status, text) = http_get(&addr, "/a.m3u8").await;
        assert_eq!(status, 200, "{text}");
    }
    assert_eq!(http_get(&addr, "/missing.m3u8").await.0, 404);
    sigterm(&child);
    let status = tokio::time::timeout(STEP, child.wait()).await.expect("exits after SIGTERM").unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn sigterm_with_an_idle_h2c_connection_open_exits_well_within_the_grace() {
    use http_body_util::{BodyExt, Empty};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.m3u8"), "#EXTM3U\n#EXT-X-TARGETDURATION:4\n").unwrap();
    let cfg = write_config(dir.path(), "hls-origin.toml", "shutdown_grace = \"30s\"\n");
    let (mut child, addr) = spawn_listening(&["serve", "--config", cfg.to_str().unwrap()]).await;
    // HTTP/2 prior knowledge: the native driver hands the connection to hyper.
    let stream = tokio::time::timeout(STEP, tokio::net::TcpStream::connect(&addr)).await.unwrap().unwrap();
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) =
        tokio::time::timeout(STEP, hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io))
            .await
            .unwrap()
            .unwrap();
    let conn = tokio::spawn(async move { drop(conn.await) });
    let req = http::Request::get(format!("http://{addr}/a.m3u8")).body(Empty::<bytes::Bytes>::new()).unwrap();
    let resp = tokio::time::timeout(STEP, sender.send_request(req)).await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    tokio::time::timeout(STEP, resp.into_body().collect()).await.unwrap().unwrap();
    // The connection is open and idle; SIGTERM must not wait 30 s for it.
    let started = Instant::now();
    sigterm(&child);
    let status = tokio::time::timeout(STEP, child.wait()).await.expect("exits after SIGTERM").unwrap();
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?} (grace 30 s)", started.elapsed());
    assert!(tokio::time::timeout(STEP, conn).await.is_ok(), "the client saw the connection close");
}

/// The first `EXT-X-MEDIA-SEQUENCE` of the demo playlist.
async fn media_sequence(addr: &str) -> u64 {
    let (status, text) = http_get(addr, "/live/demo/index.m3u8").await;
    assert_eq!(status, 200);
    text.lines().find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:")).unwrap().trim().parse().unwrap()
}

#[tokio::test]
async fn demo_is_a_live_stream_that_ffmpeg_plays() {
    let (mut child, addr) = spawn_listening(&["demo", "--listen", "127.0.0.1:0"]).await;
    let first = media_sequence(&addr).await;
    let started = Instant::now();
    let mut advanced = false;
    while started.elapsed() < Duration::from_secs(8) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if media_sequence(&addr).await > first {
            advanced = true;
            break;
        }
    }
    assert!(advanced, "media sequence did not advance from {first}");
    let url = format!("http://{addr}/live/demo/index.m3u8");
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "warning", "-i", &url, "-t", "8", "-f", "null", "-"])
            .output(),
    )
    .await
    .expect("ffmpeg finishes")
    .expect("ffmpeg is installed (.ci/run installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ffmpeg failed: {stderr}");
    assert!(!stderr.contains("non monotonic"), "timeline must be continuous: {stderr}");
    sigterm(&child);
    assert!(tokio::time::timeout(STEP, child.wait()).await.unwrap().unwrap().success());
}

#[tokio::test]
async fn sign_prints_a_link_that_openssl_agrees_with() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "[secure_link]\nsecret = \"change-me\"\nprotect = [\"/secure/\"]\nmd5_expression = \"$secure_link_expires$uri $secret\"\n";
    let cfg = write_config(dir.path(), "s.toml", extra);
    let out = tokio::time::timeout(
        STEP,
        Command::new(BIN)
            .args(["sign", "--config", cfg.to_str().unwrap(), "/secure/live/index.m3u8", "--ttl", "60"])
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8(out.stdout).unwrap();
    let (path, query) = line.trim().split_once('?').unwrap();
    assert_eq!(path, "/secure/live/index.m3u8");
    let token = query.split('&').find_map(|a| a.strip_prefix("md5=")).unwrap();
    let expires = query.split('&').find_map(|a| a.strip_prefix("expires=")).unwrap();
    let openssl = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("printf '%s' '{expires}/secure/live/index.m3u8 change-me' | openssl md5 -binary | openssl base64 | tr +/ -_ | tr -d ="))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(openssl.stdout).unwrap().trim(), token);
    // A template that needs a live request cannot be signed offline; no section is a config error.
    let per_client = write_config(dir.path(), "p.toml", &extra.replace("$uri $secret", "$uri$remote_addr $secret"));
    let out = Command::new(BIN)
        .args(["sign", "--config", per_client.to_str().unwrap(), "/secure/a.ts"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--remote-addr"));
    let out = Command::new(BIN)
        .args(["sign", "--config", per_client.to_str().unwrap(), "/secure/a.ts", "--remote-addr", "10.0.0.1"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let none = write_config(dir.path(), "n.toml", "");
    let out =
        Command::new(BIN).args(["sign", "--config", none.to_str().unwrap(), "/secure/a.ts"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(78));
}

/// Runs the binary to completion (with a timeout).
async fn run(args: &[&str]) -> std::process::Output {
    tokio::time::timeout(STEP, Command::new(BIN).args(args).output()).await.expect("exits in time").unwrap()
}

#[tokio::test]
async fn check_config_checks_what_serve_checks() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let cases = [
        (
            "section.toml",
            format!("[server]\nlisten = \"127.0.0.1:0\"\nroot = {root:?}\n[cahce]\nmemory_budget = \"1GiB\"\n"),
            "`cahce`",
        ),
        ("relative.toml", "[server]\nlisten = \"127.0.0.1:0\"\nroot = \"hls\"\n".to_string(), "server.root"),
        (
            "dup.toml",
            format!("[server]\nlisten = [\"127.0.0.1:8080\", \"127.0.0.1:8080\"]\nroot = {root:?}\n"),
            "server.listen",
        ),
        (
            "type.toml",
            format!("[server]\nlisten = \"127.0.0.1:0\"\nroot = {root:?}\n[cache]\nmemory_budget = 5\n"),
            "cache.memory_budget",
        ),
    ];
    for (name, text, key) in cases {
        let cfg = dir.path().join(name);
        std::fs::write(&cfg, text).unwrap();
        for command in ["check-config", "serve"] {
            let out = run(&[command, "--config", cfg.to_str().unwrap()]).await;
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(78), "{command} {name}: {stderr}");
            assert!(stderr.contains(key), "{command} {name}: {stderr}");
        }
    }
}

#[tokio::test]
async fn serve_exits_78_for_an_address_that_is_not_this_hosts_and_1_for_one_in_use() {
    let dir = tempfile::tempdir().unwrap();
    // TEST-NET-1 (RFC 5737): never a local address, so bind fails with EADDRNOTAVAIL; no packet
    // is sent.
    let foreign = write_config(dir.path(), "foreign.toml", "").to_str().unwrap().to_string();
    std::fs::write(&foreign, format!("[server]\nlisten = \"192.0.2.1:8080\"\nroot = {:?}\n", dir.path())).unwrap();
    let out = run(&["serve", "--config", &foreign]).await;
    assert_eq!(out.status.code(), Some(78), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.listen"));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = dir.path().join("busy.toml");
    std::fs::write(&busy, format!("[server]\nlisten = \"{}\"\nroot = {:?}\n", taken.local_addr().unwrap(), dir.path()))
        .unwrap();
    let out = run(&["serve", "--config", busy.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1), "in use: a restart may cure it: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn serve_runs_without_a_config_file_and_version_and_durations_work() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.m3u8"), "#EXTM3U\n#EXT-X-TARGETDURATION:4\n").unwrap();
    let root = dir.path().to_str().unwrap();
    let (mut child, addr) = spawn_listening(&["serve", "--root", root, "--listen", "127.0.0.1:0"]).await;
    assert_eq!(http_get(&addr, "/a.m3u8").await.0, 200);
    sigterm(&child);
    assert!(tokio::time::timeout(STEP, child.wait()).await.unwrap().unwrap().success());
    let out = run(&["--version"]).await;
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("hls-origin "), "{out:?}");
    let help = run(&["--help"]).await;
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("SIGHUP") && help.contains("78"), "{help}");
    // sign: a duration for --ttl, and the path printed percent-encoded.
    let extra = "[secure_link]\nsecret = \"change-me\"\nprotect = [\"/secure/\"]\n";
    let cfg = write_config(dir.path(), "s.toml", extra);
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let out = run(&["sign", "--config", cfg.to_str().unwrap(), "/secure/my stream/index.m3u8", "--ttl", "1h"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(line.starts_with("/secure/my%20stream/index.m3u8?md5="), "{line}");
    let expires: u64 = line.trim().rsplit("expires=").next().unwrap().parse().unwrap();
    assert!((before + 3600..=before + 3610).contains(&expires), "{line}");
}

#[tokio::test]
async fn a_demo_that_cannot_bind_leaves_no_directory_behind() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut child = Command::new(BIN)
        .args(["demo", "--listen", &addr])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let status = tokio::time::timeout(STEP, child.wait()).await.expect("exits").unwrap();
    assert_eq!(status.code(), Some(1));
    let dir = std::env::temp_dir().join(format!("hls-origin-demo-{pid}"));
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[tokio::test]
async fn every_refusal_and_cut_says_why_and_no_token_is_logged() {
    logs_say_why("native").await;
}

#[tokio::test]
async fn every_refusal_and_cut_says_why_on_the_hyper_driver_too() {
    logs_say_why("hyper").await;
}

async fn logs_say_why(driver: &str) {
    use tokio::io::AsyncWriteExt as _;
    let dir = tempfile::tempdir().unwrap();
    // The server runs as `nobody`, so a file it may not read is one (root reads everything).
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(dir.path().join("a.m3u8"), "#EXTM3U\n#EXT-X-TARGETDURATION:4\n").unwrap();
    std::fs::write(dir.path().join("secret.ts"), "x").unwrap();
    std::fs::set_permissions(dir.path().join("secret.ts"), std::os::unix::fs::PermissionsExt::from_mode(0o000))
        .unwrap();
    std::fs::write(dir.path().join("big.ts"), vec![0x47u8; 64 << 20]).unwrap();
    std::fs::create_dir(dir.path().join("secure")).unwrap();
    std::fs::write(dir.path().join("secure/s.m3u8"), "#EXTM3U\n#EXT-X-TARGETDURATION:4\n").unwrap();
    let extra = format!(
        "idle_timeout = \"1s\"\nhttp1_driver = \"{driver}\"\n[secure_link]\nsecret = \"change-me\"\nprotect = [\"/secure/\"]\n"
    );
    let cfg = write_config(dir.path(), "log.toml", &extra);
    std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", BIN, "serve", "--config", cfg.to_str().unwrap()]);
    cmd.env("RUST_LOG", "info");
    let mut s = Logged::start(cmd, 1).await;
    // A signed link: 200, and the access line carries neither the token nor the expiry.
    let out = run(&["sign", "--config", cfg.to_str().unwrap(), "/secure/s.m3u8"]).await;
    let link = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let token = link.split("md5=").nth(1).unwrap().split('&').next().unwrap().to_string();
    assert_eq!(http_get(&s.addr, &link).await.0, 200);
    let line = s.wait_for("/secure/s.m3u8").await;
    assert!(line.contains("md5=REDACTED") && line.contains("expires=REDACTED") && !line.contains(&token), "{line}");
    // A file the server may not read: 403, and one line saying why however often it is asked.
    for _ in 0..3 {
        assert_eq!(http_get(&s.addr, "/secret.ts").await.0, 403);
    }
    s.wait_for("cannot read a requested file").await;
    // A head that is not HTTP: 400 and a line.
    let mut c = tokio::net::TcpStream::connect(&s.addr).await.unwrap();
    c.write_all(b"BLAH\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(STEP, c.read_to_end(&mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 400"));
    s.wait_for("request head refused").await;
    // A client that leaves mid-body: a line with how much of how much was sent.
    let mut c = tokio::net::TcpStream::connect(&s.addr).await.unwrap();
    c.write_all(b"GET /big.ts HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    let mut first = [0u8; 1024];
    tokio::time::timeout(STEP, c.read(&mut first)).await.unwrap().unwrap();
    drop(c);
    let cut = s.wait_for("response cut short").await;
    if driver == "native" {
        assert!(cut.contains("of=67109") && cut.contains("/big.ts"), "{cut}");
    }
    // A client that stops reading mid-body: closed after idle_timeout, with a line.
    let mut stalled = tokio::net::TcpStream::connect(&s.addr).await.unwrap();
    stalled.write_all(b"GET /big.ts HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    let cut = s.wait_for_new("response cut short").await;
    if driver == "native" {
        assert!(cut.contains("no byte moved for idle_timeout"), "{cut}");
    }
    drop(stalled);
    // HTTP/2 requests carry an absolute URI; their access lines show the path as HTTP/1 ones do.
    {
        use http_body_util::{BodyExt, Empty};
        let stream = tokio::net::TcpStream::connect(&s.addr).await.unwrap();
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io).await.unwrap();
        tokio::spawn(conn);
        let req =
            http::Request::get(format!("http://{}/a.m3u8?h2=1", s.addr)).body(Empty::<bytes::Bytes>::new()).unwrap();
        let resp = tokio::time::timeout(STEP, sender.send_request(req)).await.unwrap().unwrap();
        tokio::time::timeout(STEP, resp.into_body().collect()).await.unwrap().unwrap();
    }
    let h2 = s.wait_for("a.m3u8?h2=1").await;
    assert!(h2.contains("uri=/a.m3u8?h2=1") && !h2.contains("http://"), "{h2}");
    // SIGHUP asks for a rescan: logged as asked, not as lost events.
    let pid = s.child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    s.wait_for("rescan requested").await;
    assert_eq!(s.count("cannot read a requested file"), 1);
    assert_eq!(s.count("events were lost"), 0);
    sigterm(&s.child);
    assert!(tokio::time::timeout(STEP, s.child.wait()).await.unwrap().unwrap().success());
}

#[tokio::test]
async fn check_config_refuses_a_root_the_service_user_cannot_read() {
    // root reads everything, so the check runs as `nobody` against a directory only root may
    // enter — what an operator meets when ffmpeg writes as another user.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let media = dir.path().join("media");
    std::fs::create_dir(&media).unwrap();
    std::fs::set_permissions(&media, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, format!("[server]\nlisten = \"127.0.0.1:0\"\nroot = {media:?}\n")).unwrap();
    std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let as_nobody = |command: &'static str| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", BIN, command, "--config"]).arg(&cfg);
        cmd
    };
    for command in ["check-config", "serve"] {
        let out = tokio::time::timeout(STEP, as_nobody(command).output()).await.unwrap().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{command}: {stderr}");
        assert!(stderr.contains("server.root") && stderr.contains("not readable"), "{command}: {stderr}");
    }
    // Root itself passes the same check.
    assert_eq!(run(&["check-config", "--config", cfg.to_str().unwrap()]).await.status.code(), Some(0));
}
