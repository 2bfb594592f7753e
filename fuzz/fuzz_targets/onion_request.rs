//! Fuzz target `onion_request`: see [`sotto_fuzz::deep::onion_request`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sotto_fuzz::deep::onion_request(data);
});
