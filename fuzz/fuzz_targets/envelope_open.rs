//! Fuzz target `envelope_open`: see [`sotto_fuzz::protocol::envelope_open`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sotto_fuzz::protocol::envelope_open(data);
});
