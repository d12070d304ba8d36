//! Stable error codes carried in [`crate::messages::ErrorReply`].
//!
//! Each code is a `u16` on the wire; the numbers never change meaning. A code
//! this version does not know decodes as [`ErrorCode::Unknown`] instead of
//! failing, so an older node can still report what a newer one said.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a request was refused or failed. One code per rule a peer can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 1: the request frame could not be decoded.
    MalformedRequest,
    /// 2: the request frame was longer than the responder's maximum.
    FrameTooLarge,
    /// 3: the peer's protocol version is not supported.
    UnsupportedVersion,
    /// 4: the message is not one this node knows or serves.
    UnsupportedMessage,
    /// 5: the identity claimed in the message disagrees with the peer's certificate.
    IdentityMismatch,
    /// 6: a decoded message violates a field bound.
    InvalidField,
    /// 7: the responder is overloaded; retry later.
    Overloaded,
    /// 8: the responder is shutting down.
    ShuttingDown,
    /// 9: the responder failed internally; nothing was released.
    Internal,
    /// 10: the request timed out at the responder.
    Timeout,
    /// 11: the witness found the checkpoint inconsistent with one it saw
    /// before from the same log; both are kept as evidence.
    ForkDetected,
    /// 12: the witness has seen a newer checkpoint of this log, or the
    /// consistency proof starts from another size than it last saw.
    StaleCheckpoint,
    /// 13: the request needs a signature by an operator with another role
    /// (e.g. `auditor` for remote audit), or it does not verify.
    NotAuthorized,
    /// 14: nothing at this path.
    NotFound,
    /// 15: the peer sent more requests or bytes than its quota allows
    /// (`[limits]` of the responder); nothing was read past the frame
    /// header and nothing was logged. Retry later.
    RateLimited,
    /// A code this version does not know.
    Unknown(u16),
}

impl ErrorCode {
    /// The number carried on the wire.
    pub fn as_u16(self) -> u16 {
        match self {
            ErrorCode::MalformedRequest => 1,
            ErrorCode::FrameTooLarge => 2,
            ErrorCode::UnsupportedVersion => 3,
            ErrorCode::UnsupportedMessage => 4,
            ErrorCode::IdentityMismatch => 5,
            ErrorCode::InvalidField => 6,
            ErrorCode::Overloaded => 7,
            ErrorCode::ShuttingDown => 8,
            ErrorCode::Internal => 9,
            ErrorCode::Timeout => 10,
            ErrorCode::ForkDetected => 11,
            ErrorCode::StaleCheckpoint => 12,
            ErrorCode::NotAuthorized => 13,
            ErrorCode::NotFound => 14,
            ErrorCode::RateLimited => 15,
            ErrorCode::Unknown(n) => n,
        }
    }

    /// The code for a wire number; unknown numbers are kept as [`ErrorCode::Unknown`].
    pub fn from_u16(n: u16) -> Self {
        match n {
            1 => ErrorCode::MalformedRequest,
            2 => ErrorCode::FrameTooLarge,
            3 => ErrorCode::UnsupportedVersion,
            4 => ErrorCode::UnsupportedMessage,
            5 => ErrorCode::IdentityMismatch,
            6 => ErrorCode::InvalidField,
            7 => ErrorCode::Overloaded,
            8 => ErrorCode::ShuttingDown,
            9 => ErrorCode::Internal,
            10 => ErrorCode::Timeout,
            11 => ErrorCode::ForkDetected,
            12 => ErrorCode::StaleCheckpoint,
            13 => ErrorCode::NotAuthorized,
            14 => ErrorCode::NotFound,
            15 => ErrorCode::RateLimited,
            n => ErrorCode::Unknown(n),
        }
    }

    /// A short stable name, for logs and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::MalformedRequest => "malformed_request",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::UnsupportedMessage => "unsupported_message",
            ErrorCode::IdentityMismatch => "identity_mismatch",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Internal => "internal",
            ErrorCode::Timeout => "timeout",
            ErrorCode::ForkDetected => "fork_detected",
            ErrorCode::StaleCheckpoint => "stale_checkpoint",
            ErrorCode::NotAuthorized => "not_authorized",
            ErrorCode::NotFound => "not_found",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unknown(_) => "unknown",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.as_u16())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.as_u16())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ErrorCode::from_u16(u16::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_stable_and_round_trip() {
        // The wire numbers are a contract: this table is the reference.
        let table = [
            (ErrorCode::MalformedRequest, 1),
            (ErrorCode::FrameTooLarge, 2),
            (ErrorCode::UnsupportedVersion, 3),
            (ErrorCode::UnsupportedMessage, 4),
            (ErrorCode::IdentityMismatch, 5),
            (ErrorCode::InvalidField, 6),
            (ErrorCode::Overloaded, 7),
            (ErrorCode::ShuttingDown, 8),
            (ErrorCode::Internal, 9),
            (ErrorCode::Timeout, 10),
            (ErrorCode::ForkDetected, 11),
            (ErrorCode::StaleCheckpoint, 12),
            (ErrorCode::NotAuthorized, 13),
            (ErrorCode::NotFound, 14),
            (ErrorCode::RateLimited, 15),
        ];
        for (code, n) in table {
            assert_eq!(code.as_u16(), n);
            assert_eq!(ErrorCode::from_u16(n), code);
        }
        assert_eq!(ErrorCode::from_u16(999), ErrorCode::Unknown(999));
    }
}
