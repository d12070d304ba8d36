//! The `credex` subcommands, one module per command group. Each parses
//! its arguments, calls the library and prints; none holds node logic.

pub mod dev;
pub mod eval;
pub mod lists;
pub mod log;
pub mod node;
pub mod pki;
pub mod pseudonym;
pub mod query;
pub mod upward;
