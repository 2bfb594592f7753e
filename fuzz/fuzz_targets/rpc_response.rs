//! Fuzz target `rpc_response`: see [`sotto_fuzz::protocol::rpc_response`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sotto_fuzz::protocol::rpc_response(data);
});
