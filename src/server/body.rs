//! Rendering a [`ResponsePlan`] for hyper: a body that hands out the plan's bytes in frames of at
//! most [`FRAME`] (zero-copy slices) and holds the plan's retention guard until the last one is
//! taken. Must not change what the plan says.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use crate::plan::ResponsePlan;
use crate::retention::ReadGuard;

/// hyper pulls the next frame only when its write queue has room, so the guard lives until the
/// socket has taken all but the last frame. Large enough that segments go out as one frame
/// (256 KiB frames measured 6.5 → 4.3 GB/s on 1.3 MB segments).
const FRAME: usize = 4 * 1024 * 1024;

/// The response body of a plan.
pub struct PlanBody {
    rest: Bytes,
    guard: Option<ReadGuard>,
}

impl Body for PlanBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.rest.is_empty() {
            this.guard = None;
            return Poll::Ready(None);
        }
        let chunk = this.rest.split_to(this.rest.len().min(FRAME));
        if this.rest.is_empty() {
            this.guard = None;
        }
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}

/// The hyper response for a plan.
pub fn render(plan: ResponsePlan) -> http::Response<PlanBody> {
    let mut response = http::Response::new(PlanBody { rest: plan.body, guard: plan.guard });
    *response.status_mut() = plan.status;
    *response.headers_mut() = plan.headers;
    response
}
