//! credex-kit: what runs credex on one machine without being the node —
//! the narrated demo, the development federation, the benchmarks and a
//! fault-injecting UDP relay.
//!
//! - [`demo`]: `credex demo`, a throw-away four-node federation, narrated.
//! - [`dev`]: `credex dev init` — a root, region CAs, nodes, operators and
//!   sample records written to a directory — and the synthetic subjects the
//!   demo, the simulator and the tests build on.
//! - [`bench`](mod@bench) (with `bench::all` and `bench::log`): `credex bench …`, and the
//!   fixtures the criterion benchmark `benches/decision.rs` drives.
//! - [`gateway_client`]: an HTTPS client with a client certificate, as a
//!   region's own system calls its node's gateway.
//! - [`relay`]: the UDP relay that partitions nodes, or loses one
//!   direction, in the simulator and the integration tests.
//!
//! What it does not own: nothing here runs in a deployed node. The node
//! itself — transport, storage, flows, the running service — is
//! `credex-node`, which this crate only drives through its public API; the
//! command line that calls these is `credex-cli`. The kit does not enable
//! `credex-node`'s `danger` feature, so neither does the binary: the demo's
//! doctored copy of a log is an exported copy with one byte changed, never
//! an edited database (decision 0700).

#![forbid(unsafe_code)]

pub mod bench;
pub mod demo;
pub mod dev;
pub mod gateway_client;
pub mod relay;
