//! Fuzz target `recovery_phrase`: see [`sotto_fuzz::client::recovery_phrase`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sotto_fuzz::client::recovery_phrase(data);
});
