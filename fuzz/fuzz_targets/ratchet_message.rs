//! Fuzz target `ratchet_message`: see [`sotto_fuzz::messages_v2::ratchet_message`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sotto_fuzz::messages_v2::ratchet_message(data);
});
