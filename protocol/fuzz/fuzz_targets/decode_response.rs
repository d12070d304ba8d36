//! Arbitrary bytes as one response payload: the requester's decoder must
//! return an error or a message, never panic.
#![no_main]

use credex_protocol::{Response, decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(resp) = decode::<Response>(data) {
        let _ = resp.validate();
    }
});
