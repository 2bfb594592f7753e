//! Fuzz target `node_response`: see [`sotto_fuzz::protocol::node_response`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sotto_fuzz::protocol::node_response(data);
});
