//! Fuzz target `node_request`: see [`sotto_fuzz::protocol::node_request`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sotto_fuzz::protocol::node_request(data);
});
