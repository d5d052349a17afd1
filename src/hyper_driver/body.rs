//! Rendering a [`ResponsePlan`] for hyper: RAM bytes handed out in frames of at most [`FRAME`]
//! (zero-copy slices), a file range read in [`FILE_CHUNK`] pieces on the blocking pool; the
//! plan's stream-usage guard is held until the last frame is taken. Must not change what the plan
//! says; a file that shrinks mid-body ends the body with an error (hyper aborts the connection).

use std::fs::File;
use std::future::Future;
use std::io;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::task::JoinHandle;

use crate::plan::{Body, ResponsePlan};
use crate::usage::ReadGuard;

/// hyper pulls the next frame only when its write queue has room, so the guard lives until the
/// socket has taken all but the last frame. Large enough that segments go out as one frame
/// (256 KiB frames measured 6.5 → 4.3 GB/s on 1.3 MB segments).
const FRAME: usize = 4 * 1024 * 1024;
/// Bytes read from a file per blocking read.
const FILE_CHUNK: u64 = 1024 * 1024;

/// The response body of a plan. Dropped before its end (hyper gave up on the connection), it
/// logs how far a file body got.
pub struct PlanBody {
    source: Source,
    guard: Option<ReadGuard>,
}

enum Source {
    Ram(Bytes),
    File { file: Arc<File>, at: u64, end: u64, reading: Option<JoinHandle<io::Result<Bytes>>> },
}

impl HttpBody for PlanBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let frame = match &mut this.source {
            Source::Ram(rest) if rest.is_empty() => None,
            Source::Ram(rest) => Some(Ok(rest.split_to(rest.len().min(FRAME)))),
            Source::File { at, end, .. } if *at >= *end => None,
            Source::File { file, at, end, reading } => {
                let task = reading.get_or_insert_with(|| {
                    let (file, offset, n) = (Arc::clone(file), *at, (*end - *at).min(FILE_CHUNK));
                    tokio::task::spawn_blocking(move || read_chunk(&file, offset, n))
                });
                let result = ready!(Pin::new(task).poll(cx)).map_err(io::Error::other).and_then(|r| r);
                *reading = None;
                match &result {
                    Ok(chunk) => *at += chunk.len() as u64,
                    Err(e) => {
                        tracing::warn!(target: "access", sent_up_to = *at, of = *end, error = %e, "response cut short")
                    }
                }
                Some(result)
            }
        };
        if frame.is_none() || HttpBody::is_end_stream(this) {
            this.guard = None;
        }
        Poll::Ready(frame.map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        match &self.source {
            Source::Ram(rest) => rest.is_empty(),
            Source::File { at, end, .. } => at >= end,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.source {
            Source::Ram(rest) => SizeHint::with_exact(rest.len() as u64),
            Source::File { at, end, .. } => SizeHint::with_exact(end - at),
        }
    }
}

/// Reads exactly `n` bytes at `offset`; fewer means the file shrank, which is an error.
fn read_chunk(file: &File, offset: u64, n: u64) -> io::Result<Bytes> {
    let mut buf = vec![0u8; usize::try_from(n).map_err(io::Error::other)?];
    file.read_exact_at(&mut buf, offset)?;
    Ok(Bytes::from(buf))
}

/// The hyper response for a plan.
pub fn render(plan: ResponsePlan) -> http::Response<PlanBody> {
    let headers = if plan.fixed.is_some() { plan.header_map() } else { plan.headers };
    let source = match plan.body {
        Body::Bytes(bytes) => Source::Ram(bytes),
        Body::File { file, offset, len } => Source::File { file, at: offset, end: offset + len, reading: None },
    };
    let mut response = http::Response::new(PlanBody { source, guard: plan.guard });
    *response.status_mut() = plan.status;
    *response.headers_mut() = headers;
    response
}

impl Drop for PlanBody {
    fn drop(&mut self) {
        if let Source::File { at, end, .. } = &self.source {
            if at < end {
                tracing::warn!(target: "access", sent_up_to = *at, of = *end, "response cut short: file body abandoned");
            }
        }
    }
}
