//! A missing playlist below `[on_demand] pattern`: its stream is started and the viewer held
//! until the first playlist lands (see [`crate::on_demand`]); anything else missing is 404.

use std::sync::Arc;

use super::{from_io, MediaHandler, RequestError};
use crate::media::MediaKind;
use crate::path::NormPath;
use crate::request::RequestHead;
use crate::store::FileEntry;

impl MediaHandler {
    /// The answer to a lookup that found nothing at `path`.
    pub(super) async fn missing(&self, req: RequestHead<'_>, path: &NormPath) -> Result<Arc<FileEntry>, RequestError> {
        let Some(on_demand) = &self.on_demand else { return Err(RequestError::NotFound) };
        if !MediaKind::from_extension(path.extension()).is_playlist() {
            return Err(RequestError::NotFound);
        }
        let Some(stream) = on_demand.stream_of(req.target.path, path) else { return Err(RequestError::NotFound) };
        match on_demand.hold(&self.store, path, &stream, req.stop).await.map_err(from_io)? {
            Ok(entry) => Ok(entry),
            Err(why) => Err(RequestError::NotStarted(why)),
        }
    }
}
