//! Fuzz target `p2p_frame`: see [`sotto_fuzz::p2p::p2p_frame`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sotto_fuzz::p2p::p2p_frame(data);
});
