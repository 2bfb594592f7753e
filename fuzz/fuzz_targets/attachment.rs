//! Fuzz target `attachment`: see [`sotto_fuzz::attachment::attachment`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sotto_fuzz::attachment::attachment(data);
});
