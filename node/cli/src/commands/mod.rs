//! The `credex` subcommands, one module per command group. Each parses
//! its arguments, calls the library and prints; none holds node logic.

pub mod backup;
pub mod corrections;
pub mod dev;
pub mod disclosures;
pub mod eval;
pub mod lists;
pub mod log;
pub mod node;
pub mod pki;
pub mod procedures;
pub mod pseudonym;
pub mod query;
pub mod record_cases;
pub mod repair;
pub mod report;
pub mod storage;
pub mod upward;
