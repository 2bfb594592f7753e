//! Fuzz target `envelope_v2`: see [`sotto_fuzz::messages_v2::envelope_v2`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sotto_fuzz::messages_v2::envelope_v2(data);
});
