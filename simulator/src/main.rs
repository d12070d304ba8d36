//! credex-sim
fn main() {}
