//! The node's async runtime: tokio's multi-threaded scheduler with one
//! worker thread more than the machine has cores (decision 1240).
//!
//! A query's work comes in long CPU-bound steps (two or three Ed25519
//! verifications, a signature) between waits on the storage writer, whose
//! own thread wakes the waiting tasks through the runtime's shared queue.
//! tokio's workers are cooperative: with as many workers as cores, a woken
//! task waits until a worker finishes its current step and looks at that
//! queue. With one worker more, the kernel time-slices the workers when
//! all of them are busy, so woken tasks start sooner and each group commit
//! carries more appends. Measured with `credex bench query` at 64 in flight
//! (decision 1240): more queries per second and less CPU per query; equal
//! at 1 and 16 in flight.
//!
//! `TOKIO_WORKER_THREADS`, when set, wins, as it does for tokio's default.

use std::num::NonZeroUsize;

/// Environment variable that sets the worker count instead (tokio's name).
pub const WORKER_THREADS_VAR: &str = "TOKIO_WORKER_THREADS";

/// Worker threads for a machine of `cores`: one more than the cores.
pub fn worker_threads(cores: NonZeroUsize) -> usize {
    cores.get().saturating_add(1)
}

/// Build the runtime a node process runs on: every I/O and time driver
/// enabled, [`worker_threads`] workers unless [`WORKER_THREADS_VAR`] is
/// set (tokio then reads it, and refuses a value that is not a positive
/// whole number).
pub fn build() -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if std::env::var_os(WORKER_THREADS_VAR).is_none() {
        let cores = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
        builder.worker_threads(worker_threads(cores));
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_worker_more_than_the_cores() {
        let cores = |n| NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN);
        assert_eq!(worker_threads(cores(1)), 2);
        assert_eq!(worker_threads(cores(2)), 3);
        assert_eq!(worker_threads(cores(64)), 65);
    }

    /// The built runtime has the workers the machine's cores call for
    /// (when the environment does not name a count).
    #[test]
    fn the_runtime_has_one_worker_more_than_the_cores() -> std::io::Result<()> {
        if std::env::var_os(WORKER_THREADS_VAR).is_some() {
            return Ok(());
        }
        let runtime = build()?;
        let cores = std::thread::available_parallelism()?;
        assert_eq!(runtime.metrics().num_workers(), cores.get() + 1);
        Ok(())
    }
}
