//! The gateway's subject and auditor endpoints over real HTTPS: the
//! subject access report names another region's query to the subject and
//! the region that received its records, and
//! an auditor copies the node's log through the gateway and verifies it
//! offline — and a doctored copy fails.

#![allow(clippy::unwrap_used)]

use credex_audit::anchor::AuditOptions;
use credex_kit::gateway_client::{ClientFiles, fetch_log};
use credex_node::config::GatewayConfig;
use credex_node::service::RunningNode;
use credex_tests::gateway::{client, connect_as, gateway_addr, root};
use credex_tests::{Federation, ask, authorized_query, gz_penalty_query, import_samples};
use serde_json::json;

/// Guangdong with a gateway and its records, asked once by Guizhou.
async fn asked_once(fed: &Federation) -> (RunningNode, RunningNode, String) {
    let mut config = fed.config("gz-1");
    config.gateway = Some(GatewayConfig::on("127.0.0.1:0".parse().unwrap()));
    let gz = fed.start_with(config).await;
    import_samples(fed, &gz, "440000").await;
    let gy = fed.start("gy-1").await;
    let subject = credex_tests::subjects("440000")[0].clone();
    let q = authorized_query(fed, &gy, gz_penalty_query(&subject, &["amount"]));
    ask(&gy, &gz, &q).await;
    (gy, gz, subject)
}

#[tokio::test]
async fn the_subject_access_report_names_who_looked() {
    let fed = Federation::new();
    let (gy, gz, subject) = asked_once(&fed).await;
    let desk = client(&fed, "440000", "credit-repair-desk", "sar");
    let mut conn = connect_as(&fed, &gz, &desk).await;

    let r = conn
        .post_json("/v1/subject-access", &json!({"subject": subject}))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.json());
    let report = r.json();
    let accesses = report["accesses"].as_array().unwrap();
    assert_eq!(accesses.len(), 1, "{report}");
    assert_eq!(accesses[0]["kind"], "query");
    assert_eq!(accesses[0]["by"], "520000/gy-1");
    assert_eq!(accesses[0]["purpose"], "public_procurement");
    assert_eq!(accesses[0]["released"], json!(["admin_penalty.amount"]));
    assert_eq!(accesses[0]["officers"].as_array().unwrap().len(), 2);
    // And who received the company's records: Guizhou, by that query.
    let disclosures = report["disclosures"].as_array().unwrap();
    assert!(!disclosures.is_empty(), "{report}");
    for d in disclosures {
        assert_eq!(
            (
                d["recipient"].as_str(),
                d["channel"].as_str(),
                d["category"].as_str()
            ),
            (Some("520000"), Some("query"), Some("admin_penalty")),
            "{d}"
        );
    }

    // Another company: nobody looked.
    let other = credex_tests::subjects("440000")[1].clone();
    let r = conn
        .post_json("/v1/subject-access", &json!({"subject": other}))
        .await
        .unwrap();
    assert!(r.json()["accesses"].as_array().unwrap().is_empty());
    assert!(r.json()["disclosures"].as_array().unwrap().is_empty());
    // A malformed code names the field; the audit role cannot read reports.
    let r = conn
        .post_json("/v1/subject-access", &json!({"subject": "91440000X"}))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (422, Some("/subject"))
    );
    let auditor = client(&fed, "440000", "audit-office", "audit");
    let mut other = connect_as(&fed, &gz, &auditor).await;
    let r = other
        .post_json("/v1/subject-access", &json!({"subject": subject}))
        .await
        .unwrap();
    assert_eq!(r.status, 403);
    gy.shutdown().await;
    gz.shutdown().await;
}

#[tokio::test]
async fn an_auditor_copies_the_log_through_the_gateway_and_verifies_it_offline() {
    let fed = Federation::new();
    let (gy, gz, _) = asked_once(&fed).await;
    let auditor = client(&fed, "440000", "audit-office", "audit");
    let root_path = root(&fed);
    let files = ClientFiles {
        cert: &auditor.cert,
        key: &auditor.key,
        root: &root_path,
    };
    let out = fed.path().join("audit-copy");
    let size = fetch_log(gateway_addr(&gz), &files, "440000".parse().unwrap(), &out)
        .await
        .unwrap();
    assert!(size > 3, "{size}");

    let trust = gz.transport().trust().current();
    let pinned = std::fs::read(out.join("checkpoint")).unwrap();
    let options = AuditOptions {
        pinned: vec![("fetched".into(), pinned)],
        ..AuditOptions::default()
    };
    let report = credex_audit::verify_with(std::slice::from_ref(&out), &trust, &options, &|_| {});
    assert!(report.passed(), "{:#?}", report.violations);
    // The bundle of the access came by the entry that names it (`&entry=`).
    let bundles: Vec<_> = std::fs::read_dir(out.join("attachments"))
        .unwrap()
        .map(|f| f.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(bundles.len(), 1, "{bundles:?}");

    // Every read is in the log, naming the auditor's system.
    let journal = gz.storage().journal_range(0, 4096).await.unwrap();
    let reads = journal
        .iter()
        .filter(|r| r.kind == credex_journal::kind::AUDIT_FETCH)
        .map(|r| credex_journal::decode::<credex_journal::AuditAccess>(r.kind, &r.body).unwrap())
        .filter(|a| a.auditor == "urn:credex:client:440000:audit:audit-office")
        .count();
    assert!(reads >= 3, "{reads} reads logged");

    // A copy with one entry changed fails the audit.
    let bundle = first_file(&out.join("tile/entries"));
    let mut bytes = std::fs::read(&bundle).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&bundle, bytes).unwrap();
    let report = credex_audit::verify_with(&[out], &trust, &options, &|_| {});
    assert!(!report.passed(), "a doctored copy passed");

    // Unknown files are problems; other roles are refused.
    let mut conn = connect_as(&fed, &gz, &auditor).await;
    let r = conn.get("/v1/log/files?path=tile/9/999").await.unwrap();
    assert_eq!(
        (r.status, r.json()["type"].as_str()),
        (404, Some("urn:credex:problem:log-file-unknown"))
    );
    let r = conn
        .get("/v1/log/files?path=../../etc/passwd")
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    // An attachment without its entry is not found, and the problem says to
    // name the entry; an entry for a file that is not an attachment is a
    // bad query.
    let r = conn
        .get(&format!("/v1/log/files?path=attachments/{}", bundles[0]))
        .await
        .unwrap();
    assert_eq!(r.status, 404);
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap()
            .contains("?entry=<index>"),
        "{}",
        r.json()
    );
    let r = conn
        .get("/v1/log/files?path=checkpoint&entry=3")
        .await
        .unwrap();
    assert_eq!(
        (
            r.status,
            r.json()["detail"].as_str().map(|d| d.starts_with("entry:"))
        ),
        (400, Some(true)),
        "{}",
        r.json()
    );
    let desk = client(&fed, "440000", "credit-repair-desk", "sar");
    let mut other = connect_as(&fed, &gz, &desk).await;
    assert_eq!(
        other
            .get("/v1/log/files?path=checkpoint")
            .await
            .unwrap()
            .status,
        403
    );
    gy.shutdown().await;
    gz.shutdown().await;
}

/// The first file under `dir`, depth first.
fn first_file(dir: &std::path::Path) -> std::path::PathBuf {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    let first = entries
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no file under {}", dir.display()));
    if first.is_file() {
        first
    } else {
        first_file(&first)
    }
}
