//! Fuzz target `client_content`: see [`sotto_fuzz::messenger::client_content`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sotto_fuzz::messenger::client_content(data);
});
