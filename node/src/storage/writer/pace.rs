//! Group commits paced while the node's runtime saturates the cores
//! (decisions 1310 and 1320).
//!
//! A group commit costs the machine about 120 µs of CPU whatever its size
//! (SQLite's commit, the WAL's pages, the `fdatasync` and its interrupts,
//! the callers woken). How many appends one commit carries was left to
//! chance: to the disk's speed and to how soon the scheduler ran the
//! writer (decision 1170). On the development VM the same build
//! alternated between 0.33 and 1.0 commits a query at 64 in flight from
//! one minute to the next, and the query cost up to 15% more CPU in the
//! slow minutes.
//!
//! So while the runtime's workers keep the machine's cores busy (from
//! [`SATURATED_LOAD`] until below [`RELEASED_BELOW`]), the writer starts at
//! most one batch every [`COMMIT_PACE`]: a batch collected sooner waits for
//! the rest of the pace and takes what was queued meanwhile. While the
//! cores are that busy, every query waits for a core anyway, so the wait
//! adds nothing to the mean latency (Little's law) and gives the CPU it
//! saves to the queries. When they are not, a commit starts as soon as its
//! batch is collected, as before: a lone caller, or a few, never wait for
//! the pace.
//!
//! The load is the workers' busy time (tokio's own measure,
//! `worker_total_busy_duration`: time not parked, so a worker the kernel
//! keeps off a core counts as busy) over the time the cores had, in
//! windows of [`WINDOW`]. It is judged against the cores, not the workers:
//! a node runs one worker more than its cores (decision 1240), and the
//! group commits' CPU competes for the cores.

use std::time::{Duration, Instant};

/// The shortest time between the starts of two batches while saturated.
pub(super) const COMMIT_PACE: Duration = Duration::from_millis(1);

/// The load (the workers' busy time over the cores' time) from which the
/// runtime counts as saturated. Measured with `credex bench query` on two
/// cores and three workers over 100 ms windows (10th to 90th percentile):
/// 0.60–0.68 at 4 queries in flight, 0.87–0.98 at 16, 1.07–1.16 at 32,
/// 1.23–1.38 at 64. Paced from here, p99 was lower at 8, 16 and 32 in
/// flight in most rounds, and 4 in flight was not paced (decision 1320).
pub(super) const SATURATED_LOAD: f64 = 0.82;

/// Once paced, the load below which pacing stops. Pacing saves CPU, and so
/// lowers the load it is judged by: without this margin it stopped and
/// started again at 64 in flight.
pub(super) const RELEASED_BELOW: f64 = 0.72;

/// How long the workers' busy time is summed before it is judged.
pub(super) const WINDOW: Duration = Duration::from_millis(100);

/// The runtime's workers' summed busy time so far.
pub(super) type BusySource = Box<dyn FnMut() -> Duration + Send>;

/// The writer's pace: whether the runtime is saturated, and when the last
/// batch started.
pub(super) struct Pace {
    busy: Option<BusySource>,
    /// The cores the workers share, which their busy time is judged against.
    cores: usize,
    window_start: Instant,
    busy_at_window_start: Duration,
    saturated: bool,
    last_start: Option<Instant>,
}

impl Pace {
    /// A pace judged from the workers of `runtime` (the node's, where the
    /// callers run) on the cores this process may use; without a runtime,
    /// batches are never paced.
    pub(super) fn of_runtime(runtime: Option<tokio::runtime::Handle>) -> Pace {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let busy = runtime.map(|handle| {
            Box::new(move || {
                let metrics = handle.metrics();
                (0..metrics.num_workers())
                    .map(|w| metrics.worker_total_busy_duration(w))
                    .sum()
            }) as BusySource
        });
        Pace::new(busy, cores, Instant::now())
    }

    fn new(mut busy: Option<BusySource>, cores: usize, now: Instant) -> Pace {
        let busy_at_window_start = busy.as_mut().map_or(Duration::ZERO, |source| source());
        Pace {
            busy,
            cores,
            window_start: now,
            busy_at_window_start,
            saturated: false,
            last_start: None,
        }
    }

    /// How long a batch collected at `now` waits before it starts, when
    /// the batch before it held `previous_batch_len` appends: the rest of
    /// [`COMMIT_PACE`] while the runtime is saturated and the appends come
    /// concurrently, else nothing.
    pub(super) fn wait(&mut self, now: Instant, previous_batch_len: usize) -> Option<Duration> {
        self.observe(now);
        if !self.saturated || previous_batch_len < 2 {
            return None;
        }
        let due = self.last_start? + COMMIT_PACE;
        due.checked_duration_since(now)
    }

    /// A batch starts at `now`.
    pub(super) fn started(&mut self, now: Instant) {
        self.last_start = Some(now);
    }

    /// Judges the window that ended, once it is [`WINDOW`] long.
    fn observe(&mut self, now: Instant) {
        let Some(source) = self.busy.as_mut() else {
            return;
        };
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed < WINDOW {
            return;
        }
        let busy = source();
        let load = core_load(
            busy.saturating_sub(self.busy_at_window_start),
            elapsed,
            self.cores,
        );
        self.saturated = if self.saturated {
            load >= RELEASED_BELOW
        } else {
            load >= SATURATED_LOAD
        };
        self.window_start = now;
        self.busy_at_window_start = busy;
    }
}

/// The load on `cores` of workers busy for `busy` in all during `elapsed`:
/// above 1 when more workers are runnable than there are cores.
fn core_load(busy: Duration, elapsed: Duration, cores: usize) -> f64 {
    let available = elapsed.as_secs_f64() * cores as f64;
    if available > 0.0 {
        busy.as_secs_f64() / available
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A busy source whose figure the test sets.
    fn scripted() -> (Arc<Mutex<Duration>>, BusySource) {
        let busy = Arc::new(Mutex::new(Duration::ZERO));
        let read = Arc::clone(&busy);
        let source = Box::new(move || *read.lock().unwrap_or_else(|e| e.into_inner()));
        (busy, source as BusySource)
    }

    /// The cores the scripted workers share.
    const CORES: usize = 2;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_load_is_the_workers_busy_time_over_the_cores_time() {
        assert!((core_load(ms(180), ms(100), 2) - 0.9).abs() < 1e-9);
        assert!((core_load(ms(50), ms(100), 1) - 0.5).abs() < 1e-9);
        assert!(
            (core_load(ms(300), ms(100), 2) - 1.5).abs() < 1e-9,
            "three workers busy on two cores"
        );
        assert_eq!(core_load(ms(0), ms(0), 2), 0.0);
        assert_eq!(core_load(ms(10), ms(100), 0), 0.0);
    }

    /// Pacing starts from [`SATURATED_LOAD`] and stops only below
    /// [`RELEASED_BELOW`].
    #[test]
    fn pacing_starts_above_one_load_and_stops_below_a_lower_one() {
        let (busy, source) = scripted();
        let t0 = Instant::now();
        let mut pace = Pace::new(Some(source), CORES, t0);
        let mut total = Duration::ZERO;
        let mut now = t0;
        let mut window = |pace: &mut Pace, busy_ms: u64| {
            total += ms(busy_ms);
            *busy.lock().unwrap() = total;
            now += WINDOW;
            pace.started(now);
            pace.wait(now + Duration::from_micros(1), 8).is_some()
        };
        assert!(!window(&mut pace, 160), "a load of 0.80: not yet");
        assert!(window(&mut pace, 170), "0.85: paced");
        assert!(window(&mut pace, 150), "0.75: still paced");
        assert!(!window(&mut pace, 140), "0.70: released");
        assert!(!window(&mut pace, 160), "0.80: not again yet");
    }

    /// Saturated, a batch waits for the rest of the pace after the last
    /// start; a lone caller's batch and the first batch never wait.
    #[test]
    fn batches_are_paced_only_while_saturated_and_under_concurrent_appends() {
        let (busy, source) = scripted();
        let t0 = Instant::now();
        let mut pace = Pace::new(Some(source), CORES, t0);
        // The first window: a load of 0.95.
        *busy.lock().unwrap() = ms(190);
        let t1 = t0 + WINDOW;
        assert_eq!(pace.wait(t1, 8), None, "no batch started yet");
        pace.started(t1);
        let t2 = t1 + Duration::from_micros(300);
        assert_eq!(pace.wait(t2, 8), Some(Duration::from_micros(700)));
        assert_eq!(pace.wait(t2, 1), None, "a lone caller is never delayed");
        pace.started(t2 + Duration::from_micros(700));
        assert_eq!(pace.wait(t2 + ms(2), 8), None, "the pace has passed");
        pace.started(t2 + ms(2));
        // The next window: a load of 0.40. No wait any more.
        *busy.lock().unwrap() = ms(190 + 80);
        let t3 = t1 + WINDOW;
        assert_eq!(pace.wait(t3, 8), None);
        pace.started(t3);
        assert_eq!(pace.wait(t3 + Duration::from_micros(100), 8), None);
    }

    /// Within a window the judgement of the last one holds; without a
    /// runtime to judge from, nothing is paced.
    #[test]
    fn the_judgement_changes_only_at_the_end_of_a_window() {
        let (busy, source) = scripted();
        let t0 = Instant::now();
        let mut pace = Pace::new(Some(source), CORES, t0);
        *busy.lock().unwrap() = ms(200);
        let t1 = t0 + ms(50);
        pace.started(t1);
        assert_eq!(pace.wait(t1, 8), None, "half a window is not judged");
        let t2 = t0 + WINDOW;
        pace.started(t2);
        assert_eq!(pace.wait(t2, 8), Some(COMMIT_PACE));

        let mut unpaced = Pace::new(None, CORES, t0);
        unpaced.started(t2);
        assert_eq!(unpaced.wait(t2 + WINDOW, 8), None);
    }
}
