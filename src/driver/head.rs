//! Request heads in, response heads out, for the native HTTP/1.x driver: httparse turns bytes
//! into a [`Parsed`] request (or a reason to refuse it), and [`render`] writes a plan's status
//! line and headers. Pure; no I/O, no decisions about files.

use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};

/// Most header fields accepted in one head (more: 431, as hyper answers).
pub const MAX_HEADERS: usize = 100;

/// A complete, acceptable request head.
#[derive(Debug)]
pub struct Parsed {
    /// Bytes of the head, including the blank line.
    pub len: usize,
    /// Method.
    pub method: Method,
    /// Request target.
    pub uri: Uri,
    /// Header fields.
    pub headers: HeaderMap,
    /// The connection may carry another request after this one.
    pub keep_alive: bool,
    /// HTTP/1.0 (answers need an explicit `connection: keep-alive`).
    pub http10: bool,
}

/// What the bytes at the start of a buffer are.
#[derive(Debug)]
pub enum Head {
    /// A whole head.
    Request(Box<Parsed>),
    /// More bytes are needed.
    Partial,
    /// Refused: answer this status and close the connection.
    Refuse(StatusCode),
}

/// Parses one request head from the start of `buf`.
///
/// Requests with a body (`Content-Length` > 0 or any `Transfer-Encoding`), `Expect` or `Upgrade`
/// are refused with 400: an origin that serves GET/HEAD has no use for them, and refusing keeps
/// message framing unambiguous (no request smuggling between two parsers).
pub fn parse(buf: &[u8]) -> Head {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut slots);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(httparse::Error::TooManyHeaders) => return Head::Refuse(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        Err(_) => return Head::Refuse(StatusCode::BAD_REQUEST),
    };
    let (Some(method), Some(path), Some(version)) = (req.method, req.path, req.version) else {
        return Head::Refuse(StatusCode::BAD_REQUEST);
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else { return Head::Refuse(StatusCode::BAD_REQUEST) };
    let Ok(uri) = path.parse::<Uri>() else { return Head::Refuse(StatusCode::BAD_REQUEST) };
    let mut headers = HeaderMap::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let (Ok(name), Ok(value)) = (HeaderName::from_bytes(h.name.as_bytes()), HeaderValue::from_bytes(h.value))
        else {
            return Head::Refuse(StatusCode::BAD_REQUEST);
        };
        headers.append(name, value);
    }
    let has_body = headers.get_all(CONTENT_LENGTH).iter().any(|v| v.as_bytes().iter().any(|&b| b != b'0'))
        || headers.contains_key(TRANSFER_ENCODING);
    if has_body || headers.contains_key(EXPECT) || headers.contains_key(UPGRADE) {
        return Head::Refuse(StatusCode::BAD_REQUEST);
    }
    let http10 = version == 0;
    let token = |t: &str| {
        headers
            .get_all(CONNECTION)
            .iter()
            .any(|v| v.to_str().is_ok_and(|s| s.split(',').any(|p| p.trim().eq_ignore_ascii_case(t))))
    };
    let keep_alive = if http10 { token("keep-alive") } else { !token("close") };
    Head::Request(Box::new(Parsed { len, method, uri, headers, keep_alive, http10 }))
}

/// Writes the status line and headers of a response, plus `date` and the connection headers.
pub fn render(status: StatusCode, headers: &HeaderMap, date: &[u8], conn: Connection, out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"date: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\n");
    match conn {
        Connection::Close => out.extend_from_slice(b"connection: close\r\n"),
        Connection::KeepAlive10 => out.extend_from_slice(b"connection: keep-alive\r\n"),
        Connection::KeepAlive => {}
    }
    out.extend_from_slice(b"\r\n");
}

/// What the response says about the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    /// HTTP/1.1 persistent (the default, nothing to say).
    KeepAlive,
    /// HTTP/1.0 persistent: must be said.
    KeepAlive10,
    /// Closed after this response.
    Close,
}

/// True while `buf` could still become the HTTP/2 connection preface (RFC 9113 §3.4).
pub fn maybe_h2_preface(buf: &[u8]) -> bool {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let n = buf.len().min(PREFACE.len());
    buf[..n] == PREFACE[..n]
}

/// Bytes of the full HTTP/2 preface.
pub const H2_PREFACE_LEN: usize = 24;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn request(raw: &str) -> Parsed {
        match parse(raw.as_bytes()) {
            Head::Request(p) => *p,
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    #[test]
    fn parses_heads_and_connection_semantics() {
        let p = request("GET /a.ts?x=1 HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1\r\n\r\nGET /next");
        assert_eq!(p.method, Method::GET);
        assert_eq!(p.uri.path(), "/a.ts");
        assert_eq!(p.headers["range"], "bytes=0-1");
        assert!(p.keep_alive && !p.http10);
        assert_eq!(p.len, "GET /a.ts?x=1 HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1\r\n\r\n".len());
        assert!(!request("GET / HTTP/1.1\r\nConnection: Keep-Alive, Close\r\n\r\n").keep_alive);
        assert!(!request("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(request("HEAD / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").keep_alive);
    }

    #[test]
    fn refuses_bodies_upgrades_and_garbage() {
        for raw in [
            "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            "GET / HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
            "GET / HTTP/9.9\r\n\r\n",
            "G\0T / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
        ] {
            assert!(matches!(parse(raw.as_bytes()), Head::Refuse(StatusCode::BAD_REQUEST)), "{raw:?}");
        }
        let many: String = (0..200).map(|i| format!("X-{i}: v\r\n")).collect();
        let raw = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(parse(raw.as_bytes()), Head::Refuse(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)));
        assert!(matches!(parse(b"GET / HTTP/1.1\r\nHost: t\r\n"), Head::Partial));
    }

    #[test]
    fn renders_a_head() {
        let mut headers = HeaderMap::new();
        headers.insert("content-length", HeaderValue::from_static("3"));
        let mut out = Vec::new();
        render(StatusCode::NOT_FOUND, &headers, b"Sat, 21 Nov 2026 08:00:00 GMT", Connection::Close, &mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\ndate: Sat, 21 Nov 2026 08:00:00 GMT\r\nconnection: close\r\n\r\n"
        );
        assert!(maybe_h2_preface(b"PRI * HT") && !maybe_h2_preface(b"GET /"));
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Head::Request(p) = parse(&bytes) {
                prop_assert!(p.len <= bytes.len());
            }
        }
    }
}
