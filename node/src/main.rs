//! credex
fn main() {}
