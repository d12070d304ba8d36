//! Arbitrary bytes as a stream of request frames: the responder's decoder
//! must return an error or a message, never panic or allocate past the limit.
#![no_main]

use credex_protocol::FrameLimit;
use credex_protocol::codec::decode_untrusted_requests;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limit = FrameLimit::new(64 * 1024).expect("64 KiB is within the allowed range");
    let _ = decode_untrusted_requests(data, limit);
});
