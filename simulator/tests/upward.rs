//! Upward reporting in a simulation (`--upward`): three provinces report
//! every synthetic record of the reporting list to the national node while
//! queries run; the national node must end up holding exactly what was due,
//! the audit must pass over every log (the batches' entries included), and
//! the report must draw the intake.

use std::time::Duration;

use credex_simulator::report::PeerQuota;
use credex_simulator::{QueryMix, SimOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provinces_report_everything_to_the_national_node() {
    let out = tempfile::tempdir().expect("temporary directory");
    let opts = SimOptions {
        suite: credex_protocol::Suite::Ed25519Sha256,
        regions: 4,
        subjects: 3_000,
        seconds: 3.0,
        concurrency: 8,
        mix: QueryMix::default(),
        faults: Vec::new(),
        postgres: None,
        out: out.path().to_owned(),
        keep: None,
        seed: 3,
        request_timeout: Duration::from_secs(2),
        progress: false,
        peer_quota: PeerQuota::default(),
        upward: Some(Duration::from_secs(60)),
    };
    let report = credex_simulator::run(&opts).await.expect("simulation runs");
    let table = credex_simulator::report::render(&report);
    let u = report.upward.as_ref().expect("an upward section");
    // 1,000 companies per province: a penalty each and a tax rating for
    // every fourth, both on the reporting list.
    assert_eq!(u.due, 3 * (1_000 + 250), "{table}");
    assert_eq!(u.received, u.due, "{table}");
    assert!(u.batches >= 3 * 3, "{table}");
    assert!(u.drained_after_s.is_some(), "{table}");
    assert!(
        u.held_over_time
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
        "holdings only grow: {table}"
    );
    assert!(u.peak_per_s > 0.0 && u.mean_per_s > 0.0, "{table}");
    assert!(table.contains("upward reporting"), "{table}");
    assert!(report.audit.passed && report.passed, "{table}");

    let files = credex_simulator::report::write_files(&report, out.path()).expect("files");
    let svg = out.path().join("upward.svg");
    assert!(files.contains(&svg));
    let drawn = std::fs::read_to_string(&svg).expect("upward.svg");
    assert!(drawn.contains("upward intake"), "{drawn}");
}
