//! `credex bench query` end to end, small: two nodes over real QUIC, real
//! signatures and real stores, one short level. The report's timeline must
//! account for every query measured and draw. Figures themselves are
//! `credex bench query`'s, never asserted.

#![allow(clippy::unwrap_used)]

use credex_kit::bench::timeline::{STEP, plot_timelines};
use credex_kit::bench::{QueryBenchArgs, query_bench, render};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_level_has_a_timeline_of_every_query_and_draws_it() {
    let args = QueryBenchArgs {
        concurrency: vec![4],
        seconds: 0.5,
        warmup: 0.0,
        connections: 1,
        crypto_seconds: 0.05,
        json: None,
        svg: None,
        postgres: None,
        suite: credex_protocol::Suite::Ed25519Sha256,
    };
    let report = query_bench(&args).await.expect("the benchmark runs");
    let table = render(&report);
    let level = &report.levels[0];
    assert!(
        level.completed > 0 && level.first_error.is_none(),
        "{table}"
    );

    // Every query in exactly one step; the steps cover the phase in order.
    let steps = &level.timeline;
    let counted: u64 = steps.iter().map(|s| s.queries).sum();
    assert_eq!(counted, level.completed, "{table}");
    for (i, s) in steps.iter().enumerate() {
        assert!(
            (s.from_s - i as f64 * STEP.as_secs_f64()).abs() < 1e-9,
            "{s:?}"
        );
        assert!(s.p50_ms <= s.p99_ms && s.p99_ms <= s.max_ms, "{s:?}");
        assert!(s.max_ms <= level.max_ms, "{s:?} vs {table}");
    }
    assert!(
        (steps.len() as f64 * STEP.as_secs_f64()) <= level.seconds + STEP.as_secs_f64(),
        "{} steps in {} s",
        steps.len(),
        level.seconds
    );
    let slowest = steps.iter().map(|s| s.max_ms).fold(0.0, f64::max);
    assert_eq!(slowest, level.max_ms, "{table}");

    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("query.svg");
    plot_timelines(&report.levels, &svg).unwrap();
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(
        drawn.contains("<svg") && drawn.contains("4 in flight: median"),
        "{drawn}"
    );
}
