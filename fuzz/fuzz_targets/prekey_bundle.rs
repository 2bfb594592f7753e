//! Fuzz target `prekey_bundle`: see [`sotto_fuzz::messages_v2::prekey_bundle`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sotto_fuzz::messages_v2::prekey_bundle(data);
});
