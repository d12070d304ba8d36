//! Two-person queries in the console, in two real browsers (issue 16):
//! a requester drafts and signs in one Chromium, an approver reviews and
//! approves in another, and both see the answer — what was released, what
//! was withheld and why, and Guangdong's log receipt. The same officer
//! under an approver certificate finds no approve button, and the node
//! refuses the approval anyway.

#![allow(clippy::unwrap_used)]

use credex_protocol::Role;
use credex_tests::Federation;
use credex_tests::browser::{Browser, Driver, skipped};
use credex_tests::console::{guizhou_with_console_and_guangdong, origin};

async fn check(b: &Browser, field: &str) {
    b.click(&format!("#q-field-{field}")).await;
}

/// POST a signature from the page's own script, as a forged button would.
async fn approve_from_script(b: &Browser, id: &str) -> serde_json::Value {
    b.client
        .execute_async(
            r#"const [id, done] = arguments;
               import("/console/js/session.js").then(async (session) => {
                 const me = await session.current();
                 const q = await (await fetch(`/console/api/queries/${id}`)).json();
                 const sig = await session.signature(q.to_sign);
                 const r = await fetch(`/console/api/queries/${id}/signatures`, {
                   method: "POST",
                   headers: {"Content-Type": "application/json", "X-CSRF-Token": me.csrf},
                   body: JSON.stringify(sig),
                 });
                 done({status: r.status, body: await r.json()});
               });"#,
            vec![serde_json::json!(id)],
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_requester_and_an_approver_run_a_query_in_two_browsers() {
    if skipped() {
        return;
    }
    let fed = Federation::new();
    let (gy, gz) = guizhou_with_console_and_guangdong(&fed).await;
    let driver = Driver::start().await;
    let cert = gy.console().unwrap().certificate().to_vec();
    let home = format!("{}/", origin(&gy));
    let ops = fed.path().join("operators/520000");
    let subject = credex_tests::subjects("440000")[1].clone();

    // The requester drafts and signs.
    let requester = driver.browser(&cert).await;
    requester
        .sign_in(&home, &ops.join("req-1.pem"), &ops.join("req-1.key"))
        .await;
    requester.click("#nav-queries").await;
    requester.wait_for("#query-form").await;
    requester.select("#q-region", "440000").await;
    requester.fill("#q-subject", &subject).await;
    requester.select("#q-purpose", "public_procurement").await;
    requester.select("#q-category", "admin_penalty").await;
    for field in ["decision_number", "amount", "case_notes"] {
        check(&requester, field).await;
    }
    requester
        .fill("#q-basis", "joint-punishment-memorandum")
        .await;
    requester.fill("#q-case", "黔采〔2026〕0457号").await;
    requester.screenshot("query-draft").await;
    requester.click("#q-submit").await;
    requester.wait_for("#view-query").await;
    requester.wait_for_text("#query-state", "待审核").await;
    requester.wait_for("#query-self").await;
    assert!(
        !requester.is_shown("#approve").await,
        "the requester sees an approve button on their own draft"
    );
    let url = requester.client.current_url().await.unwrap();
    let id = url
        .fragment()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 32);

    // The same officer under an approver certificate: no button, and the
    // node refuses the approval (pki rule 4).
    let same = fed.path().join("operators-same");
    let twin = fed
        .ca("520000")
        .issue_operator(
            &"req-1".parse().unwrap(),
            Role::Approver,
            credex_tests::signing_algorithm(),
            30,
            &same,
        )
        .unwrap();
    let self_approver = driver.browser(&cert).await;
    self_approver.sign_in(&home, &twin.cert, &twin.key).await;
    self_approver.open(&format!("{home}#/queries/{id}")).await;
    self_approver.wait_for("#query-self").await;
    assert!(
        !self_approver.is_shown("#approve").await,
        "the approve button is shown on one's own draft"
    );
    let forged = approve_from_script(&self_approver, &id).await;
    assert_eq!(forged["status"], 422, "{forged}");
    assert!(
        forged["body"]["detail"]
            .as_str()
            .unwrap()
            .contains("same officer"),
        "{forged}"
    );
    self_approver.close().await;

    // The approver finds it in the queue, approves and sees the answer.
    let approver = driver.browser(&cert).await;
    approver
        .sign_in(&home, &ops.join("apv-1.pem"), &ops.join("apv-1.key"))
        .await;
    approver.click("#nav-queries").await;
    approver
        .wait_for(&format!("#queue-rows tr[data-query='{id}'] a"))
        .await
        .click()
        .await
        .unwrap();
    approver.wait_for("#view-query").await;
    approver.wait_for("#approve").await;
    approver.screenshot("query-review").await;
    approver.click("#approve").await;
    approver.wait_for_text("#query-state", "已答复").await;
    let answer = approver.wait_for_text("#answer-facts", "部分提供").await;
    assert!(
        answer.contains("case_notes"),
        "withheld not shown: {answer}"
    );
    assert!(
        answer.contains("gz-1") || answer.contains("440000"),
        "no receipt: {answer}"
    );
    let records = approver.text("#records-rows").await;
    assert!(!records.is_empty(), "no records shown");
    approver.screenshot("query-answer").await;

    // The requester, still on the page, sees the answer arrive.
    requester.wait_for_text("#query-state", "已答复").await;
    requester.wait_for_text("#answer-facts", "case_notes").await;

    // Both accesses are in Guizhou's log, signed by both officers.
    let sent = credex_tests::entries_of_kind(&gy, credex_journal::kind::QUERY_SENT).await;
    assert_eq!(sent.len(), 1);
    let entry: credex_journal::AccessEntry = credex_protocol::decode(&sent[0]).unwrap();
    assert!(format!("{entry:?}").contains("req-1"));

    requester.close().await;
    approver.close().await;
    gy.shutdown().await;
    gz.shutdown().await;
}
