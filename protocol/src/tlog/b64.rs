//! Standard base64 (RFC 4648 §4), as every C2SP format uses it.
//!
//! Decoding is canonical only: padding is required and non-zero trailing
//! bits are refused, so each byte string has exactly one accepted encoding
//! and a signed text cannot be re-encoded into a second valid form.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Encode with padding.
pub(crate) fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decode canonical, padded base64; `None` on anything else.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_canonical_forms() {
        assert_eq!(decode("AQ==").as_deref(), Some(&[1u8][..]));
        // Missing padding, non-zero trailing bits, URL alphabet, whitespace.
        for bad in ["AQ", "AR==", "-_8=", "AQ== ", " AQ==", "A Q=="] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
