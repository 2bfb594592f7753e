//! The `sotto` binary.
fn main() {}
