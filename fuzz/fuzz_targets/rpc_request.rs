//! Fuzz target `rpc_request`: see [`sotto_fuzz::protocol::rpc_request`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sotto_fuzz::protocol::rpc_request(data);
});
