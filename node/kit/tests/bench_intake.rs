//! `credex bench intake` end to end, small: the national node and three
//! provinces over real QUIC, real signatures and a real store (SQLite, and
//! PostgreSQL from `CREDEX_TEST_POSTGRES_URL`). Every record sent must be
//! acknowledged as applied, held by the national node, and covered by one
//! log entry per batch; the report's figures must agree with each other and
//! draw. Figures themselves are `credex bench intake`'s, never asserted.

#![allow(clippy::unwrap_used)]

use credex_kit::bench::intake::{IntakeBenchArgs, TIMELINE_STEP, plot_intake, render, run};

fn args(postgres: Option<String>) -> IntakeBenchArgs {
    IntakeBenchArgs {
        provinces: 3,
        batches: 4,
        batch_size: 50,
        json: None,
        svg: None,
        postgres,
    }
}

async fn small_run_takes_in_every_record(postgres: Option<String>) {
    let report = run(&args(postgres)).await.expect("the benchmark runs");
    let table = render(&report);
    assert!(report.errors.is_empty(), "{table}");
    assert_eq!(report.records, 3 * 4 * 50, "{table}");
    assert_eq!(report.batches, 3 * 4, "{table}");
    assert_eq!(report.national_records, report.records, "{table}");
    // One entry per batch received; the node may add its own (key, policy).
    assert!(report.national_entries >= report.batches, "{table}");
    assert!(
        report.records_per_s > 0.0 && report.batch_p99_ms >= report.batch_p50_ms,
        "{table}"
    );
    // The timeline holds every acknowledged record.
    let step = TIMELINE_STEP.as_secs_f64();
    let plotted: f64 = report.timeline.iter().map(|r| r * step).sum();
    assert!(
        (plotted - report.records as f64).abs() < 0.5,
        "{plotted} vs {table}"
    );

    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("intake.svg");
    plot_intake(&report, &svg).unwrap();
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(
        drawn.contains("<svg") && drawn.contains("records/s"),
        "{drawn}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_provinces_report_to_the_national_node_on_sqlite() {
    small_run_takes_in_every_record(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_provinces_report_to_the_national_node_on_postgres() {
    let url = match std::env::var("CREDEX_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ if std::env::var("CREDEX_SKIP_POSTGRES").as_deref() == Ok("1") => {
            eprintln!("PostgreSQL test skipped (CREDEX_SKIP_POSTGRES=1)");
            return;
        }
        _ => panic!(
            "CREDEX_TEST_POSTGRES_URL is not set (see scripts/postgres-setup.sh), \
             or set CREDEX_SKIP_POSTGRES=1"
        ),
    };
    small_run_takes_in_every_record(Some(url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_out_of_range_are_refused_with_what_was_expected() {
    let mut a = args(None);
    a.provinces = 32;
    let e = run(&a).await.unwrap_err().to_string();
    assert!(e.contains("--provinces: expected 1–31"), "{e}");
    let mut a = args(None);
    a.batch_size = 501;
    let e = run(&a).await.unwrap_err().to_string();
    assert!(e.contains("--batch-size"), "{e}");
}
