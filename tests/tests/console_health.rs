//! Federation health in the console, in a real browser (issue 16): this
//! node's peers (Guangdong connected, with its certificate's end; the others
//! never heard from), its CRLs, the upward channel as
//! charts with axes and units, and a reporting-deadline alert raised from
//! the journal's `UpwardDeadlineAtRisk` entry; the alert of 双公示 records
//! waiting for the national node past their 7 working days; and, on the
//! national node, the regions late on objections and repairs.

#![allow(clippy::unwrap_used)]

use credex_journal::{BatchPrepared, ENTRY_VERSION, UpwardDeadlineAtRisk};
use credex_node::service::RunningNode;
use credex_tests::Federation;
use credex_tests::browser::{Browser, Driver, skipped};
use credex_tests::console::{
    console_config_of, guizhou_with_console_and_guangdong, guizhou_with_console_and_guangdong_as,
    origin,
};

/// A browser signed in to `node`'s console as `region`'s `adm-1`, on the
/// health page (the driver must outlive the browser).
async fn health_page(fed: &Federation, node: &RunningNode, region: &str) -> (Driver, Browser) {
    let driver = Driver::start().await;
    let b = driver.browser(node.console().unwrap().certificate()).await;
    let ops = fed.path().join(format!("operators/{region}"));
    b.sign_in(
        &format!("{}/", origin(node)),
        &ops.join("adm-1.pem"),
        &ops.join("adm-1.key"),
    )
    .await;
    b.click("#nav-health").await;
    (driver, b)
}

#[tokio::test]
async fn health_shows_peers_crls_upward_charts_and_a_deadline_alert() {
    if skipped() {
        return;
    }
    let fed = Federation::new();
    let (gy, gz) = guizhou_with_console_and_guangdong(&fed).await;
    // Guizhou is connected to Guangdong (and has never heard from the others).
    gy.federation()
        .context()
        .peers
        .connection("440000".parse().unwrap())
        .await
        .unwrap();
    // What the upward reporter journals: a batch today, then a deadline
    // already missed for some of its records.
    let now = credex_node::service::now_ms();
    gy.storage()
        .append_entry(&BatchPrepared {
            version: ENTRY_VERSION,
            at_ms: now,
            seq: 1,
            record_count: 120,
            records_digest: [1; 32],
            message_id: [2; 16],
            categories: [("admin_penalty".to_owned(), 120)].into(),
            catalogue_hash: [3; 32],
            withheld: vec![],
        })
        .await
        .unwrap();
    gy.storage()
        .append_entry(&UpwardDeadlineAtRisk {
            version: ENTRY_VERSION,
            at_ms: now,
            seq: 1,
            records_at_risk: 17,
            earliest_deadline: "2026-12-01".to_owned(),
            missed: true,
        })
        .await
        .unwrap();

    let (_driver, b) = health_page(&fed, &gy, "520000").await;
    let alerts = b.wait_for_text("#h-alerts", "报送时限告警").await;
    assert!(alerts.contains("17 条记录"), "{alerts}");
    let peers = b.text("#h-peers").await;
    assert!(
        peers.contains("440000") && peers.contains("从未"),
        "{peers}"
    );
    assert!(!b.text("#h-crls").await.is_empty(), "no CRL shown");
    // The charts: axes, ticks, the unit, one bar per day, today's bars.
    let chart = b
        .run(
            r##"const svg = document.querySelector("#h-chart-records svg");
               return {
                 bars: svg.querySelectorAll("rect.bar").length,
                 axes: svg.querySelectorAll("line.axis").length,
                 unit: svg.querySelector("text.unit").textContent,
                 ticks: [...svg.querySelectorAll("text.tick")].map(t => t.textContent),
                 last: svg.querySelectorAll("rect.bar")[29].textContent,
                 missed: document.querySelectorAll("#h-chart-risk rect.bar.alert").length,
               };"##,
        )
        .await;
    assert_eq!(chart["bars"], 30, "{chart}");
    assert_eq!(chart["axes"], 2, "{chart}");
    assert_eq!(chart["unit"], "记录（条）", "{chart}");
    // Round ticks from 0 past the highest bar.
    let ticks: Vec<&str> = chart["ticks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(&ticks[..4], ["0", "50", "100", "150"], "{chart}");
    assert!(
        chart["last"]
            .as_str()
            .unwrap()
            .ends_with(": 120 记录（条）"),
        "{chart}"
    );
    assert_eq!(chart["missed"], 1, "{chart}");
    b.screenshot("health").await;
    b.close().await;
    gy.shutdown().await;
    gz.shutdown().await;
}

/// Guizhou reports upward, but the national node is never reached: its
/// sample penalties, decided months ago, wait in the outbox past their 7
/// working days. The health page says how many count as late already, the
/// number `credex upward status` gives (decision 1260).
#[tokio::test]
async fn health_alerts_upward_records_waiting_past_their_deadline() {
    if skipped() {
        return;
    }
    let fed = Federation::new();
    let (gy, gz) = guizhou_with_console_and_guangdong_as(&fed, |c| {
        c.upward.enabled = true;
        c.upward.interval = std::time::Duration::from_millis(100);
    })
    .await;
    credex_tests::import_samples(&fed, &gy, "520000").await;
    let rules =
        credex_node::upward::load_rules(gy.config(), gy.queries().policy().catalogue()).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let overdue = loop {
        let s = credex_node::upward::status(gy.storage(), &rules)
            .await
            .unwrap();
        if s.overdue > 0 && s.due > 0 && s.batches_pending > 0 {
            break s.overdue;
        }
        assert!(std::time::Instant::now() < deadline, "nothing waits: {s:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };

    let (_driver, b) = health_page(&fed, &gy, "520000").await;
    let alerts = b.wait_for_text("#h-alerts", "报送逾期").await;
    assert!(
        alerts.contains(&format!("{overdue} 条双公示记录")),
        "{alerts} (expected {overdue})"
    );
    b.close().await;
    gy.shutdown().await;
    gz.shutdown().await;
}

/// The national platform's health page names the regions late on an
/// objection or a repair, from the notices it holds (the notices' real
/// path, a province's overdue watch to the national node, is
/// `tests/tests/objections.rs`).
#[tokio::test]
async fn national_health_names_the_regions_late_on_objections_and_repairs() {
    use credex_protocol::lists::{CaseAbout, Procedure, ProcedureDeadline};
    use credex_protocol::upward::ProcedureOverdueNotice;
    if skipped() {
        return;
    }
    let fed = Federation::new();
    let mut config = fed.config("national-1");
    config.console = Some(console_config_of(&fed, "000000", "national-1-console"));
    let national = fed.start_with(config).await;
    // What the national flow keeps of two notices: Guizhou late on two
    // cases filed in Chongqing.
    let now = credex_node::service::now_ms();
    let mut writes = Vec::new();
    for (case, missed) in [
        (1u8, ProcedureDeadline::Acceptance),
        (2, ProcedureDeadline::Decision),
    ] {
        let notice = ProcedureOverdueNotice {
            procedure: Procedure::Objection,
            about: CaseAbout::Record {
                owner: "520000".parse().unwrap(),
                record: [case; 32],
            },
            case: [case; 16],
            filed_in: "500000".parse().unwrap(),
            missed,
            deadline: "2026-12-01".to_owned(),
        };
        let key = credex_flows::upward::overdue_key(&notice);
        let held = credex_node::upward::OverdueReported { notice, at_ms: now };
        writes.push(
            credex_flows::flow::StateWrite::encoded(credex_node::upward::OVERDUE_NS, key, &held)
                .unwrap(),
        );
    }
    national.storage().write_state(writes).await.unwrap();

    let (_driver, b) = health_page(&fed, &national, "000000").await;
    let alerts = b.wait_for_text("#h-alerts", "地方处理逾期").await;
    assert!(
        alerts.contains("2 项") && alerts.contains("520000"),
        "{alerts}"
    );
    b.close().await;
    national.shutdown().await;
}
