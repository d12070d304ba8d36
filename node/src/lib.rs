//! credex-node: the credex daemon and the library behind the `credex`
//! command line.
//!
//! This crate is where I/O happens: the QUIC transport ([`transport`], with
//! the TLS verifiers of [`tls`]), storage ([`storage`], SQLite or
//! PostgreSQL through sqlx), configuration files ([`config`]) and the
//! running service ([`service`]). Protocol rules, PKI and policy
//! evaluation live in the pure crates it wires together.

#![forbid(unsafe_code)]

pub mod bench;
pub mod bench_all;
pub mod bench_log;
pub mod config;
pub mod dev;
pub mod eval;
pub mod export;
pub mod federation;
pub mod file_modes;
pub mod flows;
pub mod ids;
pub mod lists;
pub mod log;
pub mod metrics;
pub mod pki_files;
pub mod pseudonyms;
pub mod query;
pub mod records;
pub mod remote_audit;
pub mod requester;
pub mod service;
pub mod storage;
pub mod tls;
pub mod transport;
pub mod upward;
