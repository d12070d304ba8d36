//! credex-node: the credex node as a library — everything a deployed node
//! runs, for the `credex` binary (`credex-cli`) to start and drive.
//!
//! This crate is where I/O happens; protocol rules, PKI and policy
//! evaluation live in the pure crates it wires together. Its modules:
//!
//! - the running node: [`boot`] (its identity, read once), [`service`]
//!   (start, serve, reload CRLs, shut down),
//!   [`config`] (the validated node configuration), [`metrics`], [`flows`]
//!   (which federation flows a node takes part in);
//! - the network: [`transport`] (QUIC, one request per stream) with the TLS
//!   verifiers of [`tls`], and the integration [`gateway`] (HTTPS/JSON for
//!   the region's own systems), and the web [`console`] for officers and
//!   auditors;
//! - durable state: [`storage`] (SQLite or PostgreSQL through sqlx), the
//!   access log over it ([`log`]; its entries are `credex-journal`'s), its
//!   export ([`export`]) and
//!   files only the node's user may read ([`file_modes`]);
//! - the flows: queries answered ([`query`]) and asked ([`requester`]),
//!   federation messaging ([`federation`]), mutual recognition ([`eval`]),
//!   joint lists ([`lists`]), the upward channel ([`upward`]), records
//!   imported ([`records`]), natural persons' pseudonyms ([`pseudonyms`]),
//!   the disclosures ledger ([`disclosures`]) and corrections to every
//!   recipient ([`corrections`]);
//! - auditing: [`remote_audit`] (auditors fetching this node's log); the
//!   offline verifier is `credex-audit`;
//! - the PKI on disk ([`pki_files`]) and shared identifiers ([`ids`]).
//!
//! What it does not hold: the command line (`credex-cli`), and the demo,
//! the development federation, the benchmarks and the test relay
//! (`credex-kit`). The doctored-log edits an operator with database access
//! could make (`storage::danger`, `export::danger`) exist only with the
//! cargo feature `danger`, which the tests and the simulator enable and the
//! `credex` binary never does.

#![forbid(unsafe_code)]

pub mod backup;
pub mod boot;
pub mod clock;
pub mod config;
pub mod console;
pub mod corrections;
pub mod disclosures;
pub mod duties;
pub mod eval;
pub mod export;
pub mod federation;
pub mod file_modes;
pub mod flows;
pub mod gateway;
pub mod holdings;
pub mod ids;
pub mod lists;
pub mod log;
pub mod metrics;
pub mod offline;
pub mod pki_files;
pub mod pseudonyms;
pub mod query;
pub mod records;
pub mod remote_audit;
pub mod reports;
pub mod requester;
pub mod rights;
pub mod service;
pub mod storage;
pub mod subject_access;
pub mod tls;
mod token_bucket;
pub mod transport;
pub mod upward;
