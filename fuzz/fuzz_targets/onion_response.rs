//! Fuzz target `onion_response`: see [`sotto_fuzz::deep::onion_response`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sotto_fuzz::deep::onion_response(data);
});
