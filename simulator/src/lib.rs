//! credex-sim: a federation of credex nodes on one machine — up to all 31
//! provincial-level regions and the national node, in this process on
//! loopback, each with its own SQLite file or PostgreSQL schema — driven by
//! a query workload, with faults on a schedule (kill and restart, network
//! partition through a UDP relay (`credex_kit::relay`), certificate revocation, a malicious
//! peer that also floods and whose operator rewrites its own log), and, at
//! the end, every log exported and verified by the auditor.
//!
//! What it does not do: it does not run nodes in separate processes (a
//! "kill" is an abrupt in-process stop: the endpoint closes and in-flight
//! exchanges are cut; the crash tests in `tests/` use SIGKILL), and it does
//! not model wide-area latency or loss beyond the relay's partitions.

#![forbid(unsafe_code)]

pub mod faults;
pub mod federation;
pub mod malicious;
pub mod report;
pub mod sim;
pub mod upward;

pub use faults::Fault;
pub use report::Report;
pub use sim::{QueryMix, SimOptions, run};
