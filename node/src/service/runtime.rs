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
//! `TOKIO_WORKER_THREADS`, when set, sets the count instead, as it does for
//! tokio's default; a value that is not a whole number of 1 or more is an
//! error naming the variable (tokio itself would panic).

use std::ffi::OsStr;
use std::num::NonZeroUsize;

/// Environment variable that sets the worker count instead (tokio's name).
pub const WORKER_THREADS_VAR: &str = "TOKIO_WORKER_THREADS";

/// Worker threads for a machine of `cores`: one more than the cores.
pub fn worker_threads(cores: NonZeroUsize) -> usize {
    cores.get().saturating_add(1)
}

/// The worker count: [`WORKER_THREADS_VAR`]'s `value` when set, else
/// [`worker_threads`] of `cores`.
pub fn workers(value: Option<&OsStr>, cores: NonZeroUsize) -> std::io::Result<usize> {
    let Some(value) = value else {
        return Ok(worker_threads(cores));
    };
    value
        .to_str()
        .and_then(|v| v.trim().parse::<NonZeroUsize>().ok())
        .map(NonZeroUsize::get)
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "{WORKER_THREADS_VAR}={value:?}: expected a whole number of worker threads, \
                     1 or more (unset it for one more than the cores)"
                ),
            )
        })
}

/// Build the runtime a node process runs on: every I/O and time driver
/// enabled, [`workers`] worker threads.
pub fn build() -> std::io::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
    let count = workers(std::env::var_os(WORKER_THREADS_VAR).as_deref(), cores)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(count)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cores(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
    }

    #[test]
    fn one_worker_more_than_the_cores() {
        assert_eq!(worker_threads(cores(1)), 2);
        assert_eq!(worker_threads(cores(2)), 3);
        assert_eq!(worker_threads(cores(64)), 65);
        assert_eq!(workers(None, cores(2)).ok(), Some(3));
    }

    #[test]
    fn the_environment_sets_another_count_or_is_refused_by_name() {
        assert_eq!(workers(Some(OsStr::new("2")), cores(8)).ok(), Some(2));
        assert_eq!(workers(Some(OsStr::new(" 5 ")), cores(8)).ok(), Some(5));
        for bad in ["0", "-1", "three", ""] {
            let refused = workers(Some(OsStr::new(bad)), cores(8));
            assert!(
                refused.as_ref().is_err_and(|e| {
                    e.kind() == std::io::ErrorKind::InvalidInput
                        && e.to_string().contains(WORKER_THREADS_VAR)
                        && e.to_string().contains(&format!("{bad:?}"))
                }),
                "{bad:?}: {refused:?}"
            );
        }
    }

    /// The built runtime has the workers [`workers`] names for this
    /// machine and environment.
    #[test]
    fn the_runtime_has_the_workers_it_was_given() -> std::io::Result<()> {
        let runtime = build()?;
        let cores = std::thread::available_parallelism()?;
        let expected = workers(std::env::var_os(WORKER_THREADS_VAR).as_deref(), cores)?;
        assert_eq!(runtime.metrics().num_workers(), expected);
        Ok(())
    }
}
