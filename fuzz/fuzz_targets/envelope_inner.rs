//! Fuzz target `envelope_inner`: see [`sotto_fuzz::deep::envelope_inner`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sotto_fuzz::deep::envelope_inner(data);
});
