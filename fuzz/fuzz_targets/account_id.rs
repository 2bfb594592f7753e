//! Fuzz target `account_id`: see [`sotto_fuzz::protocol::account_id`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sotto_fuzz::protocol::account_id(data);
});
