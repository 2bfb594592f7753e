//! Fuzz target `onion_peel`: see [`sotto_fuzz::protocol::onion_peel`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sotto_fuzz::protocol::onion_peel(data);
});
