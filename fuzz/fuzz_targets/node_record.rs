//! Fuzz target `node_record`: see [`sotto_fuzz::protocol::node_record`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sotto_fuzz::protocol::node_record(data);
});
