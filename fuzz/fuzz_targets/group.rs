//! Fuzz target `group`: see [`sotto_fuzz::group::group`].

#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use sotto_fuzz::group::{Fixture, group};

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let fixture = FIXTURE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/group");
        Fixture::load(&dir).expect("fuzz/fixtures/group (see fuzz/src/group.rs)")
    });
    let _ = group(data, fixture);
});
