//! A small federation under faults: five nodes for a few seconds, one node
//! killed and restarted, two nodes partitioned through the relay, one
//! certificate revoked and one malicious peer — which also sends consents
//! of the wrong authority or attached late, floods a peer past its quota,
//! and whose operator rewrites and replays entries of its own log; the
//! final audit must pass with exactly that tampering caught, and every
//! fault must have been observed.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use credex_protocol::Suite;
use credex_simulator::faults::FaultKind;
use credex_simulator::malicious::ATTACKS;
use credex_simulator::report::PeerQuota;
use credex_simulator::report::Report;
use credex_simulator::{QueryMix, SimOptions};

const QUOTA: PeerQuota = PeerQuota {
    requests_per_second: 50,
    burst: 100,
};

/// Run the scenario under `suite`; the report, its table and the output
/// directory.
async fn simulate(suite: Suite) -> (Report, String, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let faults = [
        "kill:gz-1@1s+1.5s",
        "partition:gy-1,cq-1@2s+1.5s",
        "malicious:bj-1@0.5s+3s",
        "revoke:bj-1@5s",
    ]
    .iter()
    .map(|f| f.parse().unwrap())
    .collect();
    let opts = SimOptions {
        suite,
        regions: 5,
        subjects: 2_000,
        seconds: 7.0,
        concurrency: 16,
        mix: QueryMix::default(),
        faults,
        postgres: None,
        out: out.path().to_owned(),
        keep: None,
        seed: 7,
        request_timeout: Duration::from_secs(2),
        progress: false,
        // Tight enough that the flood, sent as fast as this debug build
        // answers, empties the bucket within a second; five times what one
        // region sends another here.
        peer_quota: QUOTA,
        upward: None,
    };
    let report = credex_simulator::run(&opts).await.expect("simulation runs");
    let table = credex_simulator::report::render(&report);
    println!("{table}");
    (report, table, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_with_faults_pass_the_final_audit() {
    let (report, table, out) = simulate(Suite::Ed25519Sha256).await;

    assert_eq!(report.audit.logs, 5, "{table}");
    assert!(report.audit.entries > 0, "{table}");
    assert!(report.audit.passed, "{table}");
    assert_eq!(report.audit.unexplained, 0, "{table}");
    // The honest nodes export as of a checkpoint their peers have just
    // cosigned: each is seen at its latest size by independent witnesses
    // (how many depends on which pairs the faults left reachable).
    let witnessed_in_full = report
        .audit
        .witnessed
        .iter()
        .filter(|(origin, _, n)| !origin.ends_with("/bj-1") && *n >= 1)
        .count();
    assert_eq!(witnessed_in_full, 4, "{table}");
    assert!(report.answered > 100, "{table}");
    assert_eq!(report.internal_fields_leaked, 0, "{table}");
    assert_eq!(report.setup.records_imported, 2_000 + 2_000 / 4, "{table}");

    assert_eq!(report.faults.len(), 4);
    for f in &report.faults {
        assert!(
            f.observed,
            "{} not observed: {}\n{table}",
            f.label, f.verdict
        );
    }
    let kill = &report.faults[0];
    assert!(matches!(kill.fault.kind, FaultKind::Kill { .. }));
    assert!(kill.failed_during > 0 && kill.answered_after > 0, "{table}");
    let partition = &report.faults[1];
    assert!(
        partition
            .notes
            .iter()
            .any(|n| n.starts_with("relay dropped")),
        "{table}"
    );
    let revoke = &report.faults[3];
    assert_eq!(revoke.answered_during, 0, "{table}");
    assert!(revoke.failed_during > 0, "{table}");

    let m = &report.malicious;
    for kind in ATTACKS {
        let sent = m.attempts.get(kind).copied().unwrap_or(0);
        assert!(sent > 0, "no {kind} query was sent\n{table}");
        assert_eq!(m.refused.get(kind).copied().unwrap_or(0), sent, "{table}");
    }
    // Consents refused by the rules of decision 0640, not by chance.
    for (kind, reason) in [
        ("foreign-consent", "denied/consentauthoritynotaccepted"),
        ("late-consent", "denied/authorizationnotbound"),
    ] {
        let reasons: Vec<&String> = m.reasons[kind].keys().collect();
        assert_eq!(reasons, [reason], "{table}");
    }

    // The flood met the quota: throttled, nothing throttled logged, and
    // the target kept serving the other regions.
    assert_eq!(m.floods.len(), 1, "{table}");
    let flood = &m.floods[0];
    assert!(flood.ok, "{table}");
    assert!(
        flood.throttled >= u64::from(PeerQuota::default().burst),
        "{table}"
    );
    assert!(flood.logged >= flood.answered, "{table}");
    assert!(flood.logged <= flood.sent - flood.throttled, "{table}");
    assert!(flood.others_logged > 0, "{table}");

    // The operator's tampering, each caught by the rule meant for it; and
    // those were the audit's only findings.
    assert_eq!(m.tamper.len(), 1, "{table}");
    let t = &m.tamper[0];
    assert!(
        t.deleted_index.is_some() && t.replayed_index.is_some(),
        "{table}"
    );
    assert!(t.replay_caught && t.rewrite_caught, "{table}");
    assert!(
        t.caught["replayed entry"].contains_key("repeated_release"),
        "{table}"
    );
    assert!(t.caught["log rewrite"].contains_key("fork"), "{table}");
    assert!(report.audit.caught > 0, "{table}");
    assert_eq!(report.audit.caught, report.audit.violations, "{table}");
    assert!(report.passed, "{table}");

    let files = credex_simulator::report::write_files(&report, out.path()).unwrap();
    for f in &files {
        let len = std::fs::metadata(f).unwrap().len();
        assert!(len > 200, "{} is nearly empty", f.display());
    }
    let svg = std::fs::read_to_string(out.path().join("throughput.svg")).unwrap();
    assert!(svg.contains("kill gz-1") && svg.contains("partition gy-1|cq-1"));
}

/// The same scenario in a federation under `sm2-sm3`: every signature
/// SM2, checkpoints with their SM2 line, pseudonyms in HMAC-SM3. The
/// audit passes with the operator's tampering its only findings, the
/// malicious peer's attacks are all refused, nothing internal leaks and
/// every fault is observed. (The flood's throttling is asserted above:
/// under SM2 this debug build may answer too slowly to reach the quota.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_federation_under_sm2_sm3_passes_the_final_audit() {
    let (report, table, _out) = simulate(Suite::Sm2Sm3).await;
    assert_eq!(report.audit.logs, 5, "{table}");
    assert!(report.audit.passed, "{table}");
    assert_eq!(report.audit.unexplained, 0, "{table}");
    assert_eq!(report.audit.caught, report.audit.violations, "{table}");
    assert!(report.answered > 0, "{table}");
    assert_eq!(report.internal_fields_leaked, 0, "{table}");
    let m = &report.malicious;
    for kind in ATTACKS {
        let sent = m.attempts.get(kind).copied().unwrap_or(0);
        assert!(sent > 0, "no {kind} query was sent\n{table}");
        assert_eq!(m.refused.get(kind).copied().unwrap_or(0), sent, "{table}");
    }
    let t = &m.tamper[0];
    assert!(t.replay_caught && t.rewrite_caught, "{table}");
    for f in &report.faults {
        assert!(
            f.observed,
            "{} not observed: {}\n{table}",
            f.label, f.verdict
        );
    }
    assert!(report.passed, "{table}");
}
