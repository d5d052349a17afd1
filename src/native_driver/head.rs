//! Request heads in, response heads out, for the native HTTP/1.x driver: httparse turns bytes
//! into a [`Parsed`] request (or a reason to refuse it), and [`render`] writes a plan's status
//! line and headers. Pure; no I/O, no decisions about files.

use std::mem::MaybeUninit;

use http::{HeaderMap, Method, StatusCode, Uri};

use crate::plan::FixedHeaders;
use crate::request::{Fields, RawFields, Target, MAX_HEADERS};
use crate::respond::Refusal;

/// Room for the header fields of one head; uninitialised, so a request costs no clearing.
pub type Slots<'b> = [MaybeUninit<httparse::Header<'b>>; MAX_HEADERS];

/// Fresh slots for [`parse`].
pub fn slots<'b>() -> Slots<'b> {
    [MaybeUninit::uninit(); MAX_HEADERS]
}

/// A complete, acceptable request head, borrowed from the read buffer.
#[derive(Debug)]
pub struct Parsed<'b> {
    /// Bytes of the head, including the blank line.
    pub len: usize,
    /// Method.
    pub method: Method,
    /// Request target, as sent.
    pub target: &'b str,
    /// Header fields, as sent.
    pub headers: RawFields<'b>,
    /// The connection may carry another request after this one.
    pub keep_alive: bool,
    /// HTTP/1.0 (answers need an explicit `connection: keep-alive`).
    pub http10: bool,
}

impl<'b> Parsed<'b> {
    /// The header fields, as the handler reads them.
    pub fn fields(&self) -> Fields<'b> {
        Fields::Raw(self.headers)
    }
}

/// What the bytes at the start of a buffer are.
#[derive(Debug)]
pub enum Head<'b> {
    /// A whole head.
    Request(Parsed<'b>),
    /// More bytes are needed.
    Partial,
    /// Refused: answer the responder's refusal and close the connection.
    Refuse(Refusal),
}

/// Parses one request head from the start of `buf`.
///
/// Requests with a body (`Content-Length` > 0 or any `Transfer-Encoding`) or `Expect` are
/// refused with 400: an origin that serves GET/HEAD has no use for them, and refusing keeps
/// message framing unambiguous (no request smuggling between two parsers). `Upgrade` (what
/// `curl --http2` sends as `h2c`, or a websocket client) is ignored, as RFC 9110 §7.8 allows and
/// nginx does: the request is answered over HTTP/1.1. httparse accepts
/// only token characters in names and visible characters, spaces and tabs in values: what
/// `http::HeaderName`/`HeaderValue` accept, so both drivers refuse the same heads.
pub fn parse<'b>(buf: &'b [u8], slots: &'b mut Slots<'b>) -> Head<'b> {
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(httparse::Error::TooManyHeaders) => return Head::Refuse(Refusal::HeadTooLarge),
        Err(_) => return Head::Refuse(Refusal::Malformed),
    };
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Head::Refuse(Refusal::Malformed);
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else { return Head::Refuse(Refusal::Malformed) };
    let headers = RawFields::new(req.headers);
    let fields = Fields::Raw(headers);
    let has_body =
        fields.get_all("content-length").any(|v| v.iter().any(|&b| b != b'0')) || fields.contains("transfer-encoding");
    if has_body || fields.contains("expect") {
        return Head::Refuse(Refusal::Malformed);
    }
    let http10 = version == 0;
    let token = |t: &str| {
        fields
            .get_all("connection")
            .any(|v| v.split(|&b| b == b',').any(|p| p.trim_ascii().eq_ignore_ascii_case(t.as_bytes())))
    };
    let keep_alive = if http10 { token("keep-alive") } else { !token("close") };
    Head::Request(Parsed { len, method, target, headers, keep_alive, http10 })
}

/// The target of `parsed` split for the handler: origin-form without copying; anything else
/// through `Uri` (kept in `slot`). `None`: not a valid target (400).
pub fn target<'a>(raw: &'a str, slot: &'a mut Option<Uri>) -> Option<Target<'a>> {
    if let Some(t) = Target::origin_form(raw) {
        return Some(t);
    }
    let uri = slot.insert(raw.parse::<Uri>().ok()?);
    Some(Target { len: raw.len(), ..Target::of_uri(uri) })
}

/// Writes the status line and headers of a response, plus `date` and the connection headers.
pub fn render(plan: Rendered<'_>, date: &[u8], conn: Connection, out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(plan.status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(plan.status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(fixed) = plan.fixed {
        out.extend_from_slice(fixed.wire());
    }
    for (name, value) in plan.headers {
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

/// The parts of a plan that make its head.
#[derive(Clone, Copy, Debug)]
pub struct Rendered<'a> {
    /// Status.
    pub status: StatusCode,
    /// Fixed fields, sent first.
    pub fixed: Option<&'a FixedHeaders>,
    /// Other fields.
    pub headers: &'a HeaderMap,
}

impl<'a> From<&'a crate::plan::ResponsePlan> for Rendered<'a> {
    fn from(plan: &'a crate::plan::ResponsePlan) -> Self {
        Rendered { status: plan.status, fixed: plan.fixed.as_deref(), headers: &plan.headers }
    }
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

    fn parse_str(raw: &str) -> Head<'_> {
        // Leaked: tests only, so the parse can borrow its slots for the string's lifetime.
        parse(raw.as_bytes(), Box::leak(Box::new(slots())))
    }

    fn request(raw: &str) -> Parsed<'_> {
        match parse_str(raw) {
            Head::Request(p) => p,
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    #[test]
    fn parses_heads_and_connection_semantics() {
        let p = request("GET /a.ts?x=1 HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1\r\n\r\nGET /next");
        assert_eq!(p.method, Method::GET);
        assert_eq!(p.target, "/a.ts?x=1");
        assert_eq!(p.fields().get("range"), Some(&b"bytes=0-1"[..]));
        assert!(p.keep_alive && !p.http10);
        assert_eq!(p.len, "GET /a.ts?x=1 HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1\r\n\r\n".len());
        assert!(!request("GET / HTTP/1.1\r\nConnection: Keep-Alive, Close\r\n\r\n").keep_alive);
        assert!(!request("GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!request("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(request("HEAD / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").keep_alive);
    }

    #[test]
    fn splits_targets_like_uri() {
        let mut slot = None;
        let t = target("/a/b.m3u8?x=1", &mut slot).unwrap();
        assert_eq!((t.path, t.query), ("/a/b.m3u8", Some("x=1")));
        let t = target("http://h.example/a.ts?y", &mut slot).unwrap();
        assert_eq!((t.path, t.query, t.len), ("/a.ts", Some("y"), 23));
        assert_eq!(target("/a#frag", &mut None).unwrap().path, "/a");
        assert!(target("/a<b", &mut None).is_none());
        assert!(target("/caf\u{e9}", &mut None).is_some());
    }

    #[test]
    fn refuses_bodies_and_garbage_but_ignores_upgrades() {
        for raw in [
            "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            "GET / HTTP/9.9\r\n\r\n",
            "G\0T / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
        ] {
            assert!(matches!(parse_str(raw), Head::Refuse(Refusal::Malformed)), "{raw:?}");
        }
        let many: String = (0..200).map(|i| format!("X-{i}: v\r\n")).collect();
        let raw = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(parse_str(&raw), Head::Refuse(Refusal::HeadTooLarge)));
        assert!(matches!(parse_str("GET / HTTP/1.1\r\nHost: t\r\n"), Head::Partial));
        let h2c = "GET / HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n";
        assert!(matches!(parse_str(h2c), Head::Request(Parsed { keep_alive: true, .. })));
        let ws = "GET /a HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
        assert!(matches!(parse_str(ws), Head::Request(_)));
    }

    #[test]
    fn renders_a_head() {
        let mut headers = HeaderMap::new();
        headers.insert("content-length", http::HeaderValue::from_static("3"));
        let fixed = FixedHeaders::new(vec![(http::header::ETAG, http::HeaderValue::from_static("\"e\""))]);
        let mut out = Vec::new();
        let plan = Rendered { status: StatusCode::NOT_FOUND, fixed: Some(&fixed), headers: &headers };
        render(plan, b"Sat, 21 Nov 2026 08:00:00 GMT", Connection::Close, &mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 404 Not Found\r\netag: \"e\"\r\ncontent-length: 3\r\ndate: Sat, 21 Nov 2026 08:00:00 GMT\r\nconnection: close\r\n\r\n"
        );
        assert!(maybe_h2_preface(b"PRI * HT") && !maybe_h2_preface(b"GET /"));
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut slots = slots();
            if let Head::Request(p) = parse(&bytes, &mut slots) {
                prop_assert!(p.len <= bytes.len());
                let _ = target(p.target, &mut None);
            }
        }
    }
}
