//! 1,000 malformed requests: each gets a 4xx or a closed connection, and the server still
//! serves afterwards.

use crate::support::{Conn, TestServer};

/// xorshift64*: deterministic, so a failure names a reproducible case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn malformed(rng: &mut Rng, i: usize) -> Vec<u8> {
    let junk = String::from_utf8_lossy(&rng.bytes(8)).replace(['\r', '\n'], "");
    let n = rng.below(1_000_000_000);
    match i % 10 {
        0 => {
            let n = 1 + rng.below(300);
            let mut b = rng.bytes(n);
            b.extend_from_slice(b"\r\n\r\n");
            b
        }
        1 => format!("GET /vod_ts/seg0.ts HTTP/9.{n}\r\nHost: t\r\n\r\n").into_bytes(),
        2 => format!("GET {junk} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes(),
        3 => format!("GET /vod_ts/seg0.ts HTTP/1.1\r\nHost: t\r\nBad Header{n}: x\r\n\r\n").into_bytes(),
        4 => format!("GET /vod_ts/seg{n}.ts HTTP/1.1\r\nHost: t\r\n: empty-name\r\n\r\n").into_bytes(),
        5 => format!("GET /vod_ts/seg0.ts HTTP/1.1\r\nHost: t\r\nRange: bytes={n}-{}\r\n\r\n", n / 2).into_bytes(),
        6 => format!("GET /vod_ts/seg0.ts HTTP/1.1\r\nHost: t\r\nRange: bytes=-{}x,{junk}\r\n\r\n", n).into_bytes(),
        7 => format!("GET /vod_ts/{}%{:x}%zz HTTP/1.1\r\nHost: t\r\n\r\n", "..%2f".repeat(1 + i % 5), n % 16)
            .into_bytes(),
        8 => format!("GET /vod_ts/seg0.ts HTTP/1.1\r\nHost: t\r\nContent-Length: -{n}\r\n\r\n").into_bytes(),
        _ => format!("G\0T /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity{n}\r\n\r\n").into_bytes(),
    }
}

#[tokio::test]
async fn a_thousand_malformed_requests() {
    let s = TestServer::start_with("header_read_timeout = \"1s\"\n").await;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let cases: Vec<Vec<u8>> = (0..1000).map(|i| malformed(&mut rng, i)).collect();
    for (batch_no, batch) in cases.chunks(50).enumerate() {
        let mut tasks = tokio::task::JoinSet::new();
        for (j, case) in batch.iter().enumerate() {
            let case = case.clone();
            let addr = s.addr;
            tasks.spawn(async move {
                let mut conn = Conn::open(addr).await;
                conn.write(&case).await;
                conn.shutdown_write().await;
                let outcome = conn.response(false).await.map(|r| r.status);
                (batch_no * 50 + j, case, outcome)
            });
        }
        while let Some(done) = tasks.join_next().await {
            let (i, case, status) = done.unwrap();
            if let Some(status) = status {
                assert!((400..500).contains(&status), "case {i} got {status}: {:?}", String::from_utf8_lossy(&case));
            }
        }
    }
    let r = s.get("/vod_ts/index.m3u8").await;
    assert_eq!(r.status, 200);
}
