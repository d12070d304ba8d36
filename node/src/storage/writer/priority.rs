//! The writer thread's scheduling priority (decision 1170).
//!
//! A group commit costs the writer about a hundred microseconds of CPU
//! whatever its size (the WAL's tail pages written again, the
//! `fdatasync`, the checkpoint's signature), so the fewer commits carry
//! the same appends, the less CPU each query costs. The writer runs five
//! nice levels below the node's other threads: when a core is idle
//! it runs at once, as before, and a query's latency is unchanged; when
//! the runtime's workers keep both cores busy verifying signatures, the
//! scheduler gives them more of the CPU first, the appends they produce
//! wait a little longer in the queue, and each commit carries more of
//! them. Measured with `credex bench query` at 64 in flight: 0.70 → 0.45
//! group commits per query.
//!
//! Linux applies a nice value to one thread when it is given the thread's
//! id, and CFS compares nice values within a scheduling group: with a
//! cgroup per service (systemd) or the kernel's autogroups, this ranks the
//! writer below the node's own workers, not below other programs. Raising
//! one's own nice value needs no privilege; a failure is logged and the
//! writer runs at the normal priority.

/// Nice levels the writer runs below the thread that started it. Each
/// level is about a 1.25× smaller share of a contended core; five give
/// the writer about a third of a worker's share.
pub(super) const WRITER_NICENESS: i32 = 5;

/// The highest nice value Linux allows.
const MAX_NICE: i32 = 19;

/// Lower the calling thread's priority by [`WRITER_NICENESS`] levels.
pub(super) fn lower_this_thread(location: &str) {
    let thread = rustix::thread::gettid();
    let lowered = rustix::process::getpriority_process(Some(thread)).and_then(|nice| {
        rustix::process::setpriority_process(
            Some(thread),
            nice.saturating_add(WRITER_NICENESS).min(MAX_NICE),
        )
    });
    if let Err(error) = lowered {
        tracing::warn!(%location, %error, "the writer thread keeps its normal priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The thread is lowered, and only the thread: the one that spawned it
    /// keeps its priority.
    #[test]
    fn only_the_calling_thread_is_lowered() -> rustix::io::Result<()> {
        let own = || rustix::process::getpriority_process(Some(rustix::thread::gettid()));
        let before = own()?;
        let lowered = std::thread::spawn(move || {
            lower_this_thread("test");
            own()
        })
        .join();
        assert!(
            matches!(lowered, Ok(Ok(nice)) if nice == (before + WRITER_NICENESS).min(MAX_NICE)),
            "{lowered:?}"
        );
        assert_eq!(own()?, before);
        Ok(())
    }
}
