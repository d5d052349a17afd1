//! hls-origin and a real nginx (`secure_link` + `secure_link_md5`) on the same tree give the same
//! 200/403/410 for generated cases: valid, expired, tampered, padded, over-long, missing
//! arguments, and equivalent path spellings.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{TestServer, STEP};

const SECRET: &str = "change-me";
const EXPRESSION: &str = "$secure_link_expires$uri $secret";

struct Nginx {
    child: Child,
    port: u16,
    _prefix: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_nginx(root: &std::path::Path) -> Nginx {
    let prefix = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {p}/nginx.pid;\nerror_log {p}/error.log warn;\nevents {{}}\n\
         http {{\n access_log off;\n server {{\n  listen 127.0.0.1:{port};\n  root {root};\n\
         location /secure/ {{\n   secure_link $arg_md5,$arg_expires;\n   secure_link_md5 \"$secure_link_expires$uri {SECRET}\";\n\
         if ($secure_link = \"\") {{ return 403; }}\n   if ($secure_link = \"0\") {{ return 410; }}\n  }}\n }}\n}}\n",
        p = prefix.path().display(),
        root = root.display(),
    );
    std::fs::write(prefix.path().join("nginx.conf"), conf).unwrap();
    let child = Command::new("nginx")
        .arg("-p")
        .arg(prefix.path())
        .arg("-c")
        .arg(prefix.path().join("nginx.conf"))
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx is installed (.ci/run installs it)");
    let deadline = Instant::now() + STEP;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start: {}",
            std::fs::read_to_string(prefix.path().join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Nginx { child, port, _prefix: prefix }
}

async fn status_of(addr: std::net::SocketAddr, target: &str) -> u16 {
    let mut c = crate::support::Conn::open(addr).await;
    c.write(format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes()).await;
    c.response(false).await.map_or(0, |r| r.status)
}

fn token(expires: &str, uri: &str, secret: &str) -> String {
    use md5::{Digest, Md5};
    hls_origin::secure_link::base64url::encode(&Md5::digest(format!("{expires}{uri} {secret}")))
}

fn cases(now: i64) -> Vec<String> {
    let future = (now + 3600).to_string();
    let past = (now - 3600).to_string();
    let spellings = [
        ("/secure/a.ts", "/secure/a.ts"),
        ("//secure//a.ts", "/secure/a.ts"),
        ("/secure/./a.ts", "/secure/a.ts"),
        ("/secure/dir/../a.ts", "/secure/a.ts"),
        ("/secure%2Fa.ts", "/secure/a.ts"),
        ("/%73ecure/a.ts", "/secure/a.ts"),
        ("/secure/%61.ts", "/secure/a.ts"),
        ("/secure/dir/b.m3u8", "/secure/dir/b.m3u8"),
        ("/secure/dir//b.m3u8", "/secure/dir/b.m3u8"),
        ("/secure/missing.ts", "/secure/missing.ts"),
    ];
    let mut out = Vec::new();
    for (spelling, uri) in spellings {
        let good = token(&future, uri, SECRET);
        let old = token(&past, uri, SECRET);
        let mut tampered = good.clone().into_bytes();
        tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        for query in [
            format!("md5={good}&expires={future}"),
            format!("md5={old}&expires={past}"),
            format!("md5={tampered}&expires={future}"),
            format!("md5={tampered}&expires={past}"),
            format!("md5={good}==&expires={future}"),
            format!("md5={good}=&expires={future}"),
            format!("md5={good}AA&expires={future}"),
            format!("md5={good}===&expires={future}"),
            format!("md5={good}"),
            format!("expires={future}"),
            String::new(),
            format!("md5={good}&expires={past}"),
            format!("md5={good}&expires=abc"),
            format!("md5={good}&expires=-{future}"),
            format!("md5={good}&expires=0"),
            format!("md5={}&expires={future}", token(&future, uri, "wrong")),
            format!("md5={}&expires={future}", token(&future, "/secure/other.ts", SECRET)),
            format!("MD5={good}&Expires={future}"),
            format!("expires={future}&md5={good}&md5=x"),
            format!("md5=x&md5={good}&expires={future}"),
            format!("md5={}%2D&expires={future}", &good[..21]),
            format!("md5={good}&expires={future}&x=1"),
            format!("md5=&expires={future}"),
        ] {
            out.push(format!("{spelling}?{query}"));
        }
    }
    out.push("/vod_ts/seg0.ts".into());
    out.push("/secure/a.ts".into());
    out
}

#[tokio::test]
async fn same_verdicts_as_nginx() {
    let extra =
        format!("[secure_link]\nsecret = \"{SECRET}\"\nprotect = [\"/secure/\"]\nmd5_expression = \"{EXPRESSION}\"\n");
    let s = TestServer::start_with(&extra).await;
    std::fs::create_dir_all(s.path("secure/dir")).unwrap();
    std::fs::copy(s.path("vod_ts/seg0.ts"), s.path("secure/a.ts")).unwrap();
    std::fs::copy(s.path("vod_ts/index.m3u8"), s.path("secure/dir/b.m3u8")).unwrap();
    let nginx = start_nginx(s.root.path());
    let nginx_addr: std::net::SocketAddr = ([127, 0, 0, 1], nginx.port).into();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let cases = cases(now);
    assert!(cases.len() >= 200, "{} cases", cases.len());
    let mut seen = std::collections::BTreeMap::new();
    for target in &cases {
        let ours = status_of(s.addr, target).await;
        let theirs = status_of(nginx_addr, target).await;
        assert_eq!(ours, theirs, "{target}: hls-origin {ours}, nginx {theirs}");
        *seen.entry(ours).or_insert(0) += 1;
    }
    for status in [200, 403, 410] {
        assert!(seen.get(&status).copied().unwrap_or(0) >= 10, "too few {status}: {seen:?}");
    }
}
