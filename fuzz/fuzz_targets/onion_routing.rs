//! Fuzz target `onion_routing`: see [`sotto_fuzz::deep::onion_routing`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sotto_fuzz::deep::onion_routing(data);
});
