//! Reading one frame from a QUIC stream (docs/protocol.md §3).
//!
//! The 4-byte header is checked against the frame limit before anything is
//! allocated; then the payload buffer grows [`CHUNK`] bytes at a time as
//! the bytes arrive, never ahead of them by more than one chunk. On the
//! serving side each chunk is first reserved from the [`FrameMemory`]
//! budget, and a frame whose memory or next bytes do not come within the
//! stall timeout is abandoned ([`ReadFrameError::Stalled`],
//! [`ReadFrameError::NoMemory`]), so a peer that declares large frames and
//! sends them slowly, or not at all, holds at most its share of the budget
//! and only for that long.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use credex_protocol::codec::FRAME_HEADER_LEN;
use credex_protocol::{FrameError, FrameLimit, RegionCode, payload_len};

use super::ingress::{FrameBuffer, FrameMemory, NoMemory};

/// Bytes a frame buffer grows by at a time (and reserves from the budget).
pub const CHUNK: usize = 32 * 1024;

/// QUIC stream error codes (STOP_SENDING) a node sends when it stops
/// reading a request before its end. The response frame, when one is sent,
/// carries the matching [`credex_protocol::ErrorCode`].
pub mod stream_code {
    /// The declared frame exceeds the maximum (`FrameTooLarge`).
    pub const FRAME_TOO_LARGE: u32 = 1;
    /// The peer is over its request or byte quota (`RateLimited`).
    pub const RATE_LIMITED: u32 = 2;
    /// No bytes of the frame arrived within the stall timeout (`Timeout`).
    pub const FRAME_STALLED: u32 = 3;
    /// No frame memory came free within the stall timeout (`Overloaded`).
    pub const NO_FRAME_MEMORY: u32 = 4;
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadFrameError {
    /// The stream failed or finished early.
    #[error(transparent)]
    Read(#[from] quinn::ReadExactError),
    /// The header declares a frame that is empty or too large.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// No bytes arrived for this long.
    #[error("the frame stalled: no bytes for {after_ms} ms")]
    Stalled {
        /// The stall timeout.
        after_ms: u128,
    },
    /// The frame memory budget had no room in time.
    #[error(transparent)]
    NoMemory(#[from] NoMemory),
}

/// The frame memory budget a served frame is read under.
#[derive(Clone, Copy)]
pub struct Budget<'a> {
    /// The budget.
    pub memory: &'a Arc<FrameMemory>,
    /// The peer's region (whose share it takes).
    pub region: RegionCode,
    /// How long the next bytes, or the memory for them, may take.
    pub stall: Duration,
}

async fn within<T, E>(
    stall: Option<Duration>,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, ReadFrameError>
where
    ReadFrameError: From<E>,
{
    match stall {
        None => Ok(fut.await?),
        Some(d) => match tokio::time::timeout(d, fut).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(ReadFrameError::Stalled {
                after_ms: d.as_millis(),
            }),
        },
    }
}

/// Read a frame header and return the payload length it declares, checked
/// against `limit`. With a `stall` timeout, a header that does not arrive
/// in time is [`ReadFrameError::Stalled`].
///
/// Not cancel-safe: bytes read before cancellation are lost (the stream is
/// then of no further use).
pub async fn read_header(
    recv: &mut quinn::RecvStream,
    limit: FrameLimit,
    stall: Option<Duration>,
) -> Result<usize, ReadFrameError> {
    let mut header = [0u8; FRAME_HEADER_LEN];
    within(stall, recv.read_exact(&mut header)).await?;
    Ok(payload_len(header, limit)?)
}

/// Read a payload of `len` bytes (already checked against the limit),
/// growing the buffer as the bytes arrive; under `budget` when given.
///
/// Not cancel-safe: bytes read before cancellation are lost; the memory
/// they held is given back.
pub async fn read_payload(
    recv: &mut quinn::RecvStream,
    len: usize,
    budget: Option<Budget<'_>>,
) -> Result<FrameBuffer, ReadFrameError> {
    let stall = budget.map(|b| b.stall);
    let mut buf = FrameBuffer::new(budget.map(|b| Arc::clone(b.memory)));
    while buf.len() < len {
        let before = buf.len();
        let chunk = (len - before).min(CHUNK);
        let reservation = match budget {
            Some(b) => Some(
                b.memory
                    // CHUNK fits in a u32.
                    .reserve(b.region, chunk as u32, b.stall)
                    .await?,
            ),
            None => None,
        };
        let slot = buf.grow(chunk, reservation);
        let mut got = 0;
        while got < chunk {
            match within(stall, recv.read(&mut slot[got..])).await? {
                Some(n) => got += n,
                None => {
                    return Err(quinn::ReadExactError::FinishedEarly(before + got).into());
                }
            }
        }
    }
    Ok(buf)
}

impl From<quinn::ReadError> for ReadFrameError {
    fn from(e: quinn::ReadError) -> Self {
        ReadFrameError::Read(quinn::ReadExactError::ReadError(e))
    }
}

/// Read one whole frame without a budget (a response to this node's own
/// request; the request timeout bounds it).
pub async fn read_frame(
    recv: &mut quinn::RecvStream,
    limit: FrameLimit,
) -> Result<Vec<u8>, ReadFrameError> {
    let len = read_header(recv, limit, None).await?;
    Ok(read_payload(recv, len, None).await?.into_vec())
}
