//! The web console in a real browser (issue 16): headless Chromium over
//! WebDriver, signing in with an officer's certificate and key files — the
//! key imported into WebCrypto as non-extractable, the challenge signed in
//! the page, Ed25519 and P-256 alike; under `sm2-sm3` an SM2 key, sealed
//! under a non-extractable WebCrypto key and signed by the vendored SM2
//! signer (decision 1120).

#![allow(clippy::unwrap_used)]

use credex_pki::KeyAlgorithm;
use credex_protocol::Role;
use credex_tests::Federation;
use credex_tests::browser::{Browser, Driver, skipped};
use credex_tests::console::{origin, start_with_console};

async fn sign_in(b: &Browser, cert: &std::path::Path, key: &std::path::Path) {
    b.wait_for("#view-sign-in").await;
    b.choose_file("#certificate", cert).await;
    b.choose_file("#key", key).await;
    b.click("#sign-in").await;
}

#[tokio::test]
async fn officers_sign_in_and_out_in_a_real_browser() {
    if skipped() {
        return;
    }
    let fed = Federation::new();
    let node = start_with_console(&fed).await;
    let driver = Driver::start().await;
    let b = driver.browser(node.console().unwrap().certificate()).await;
    let home = format!("{}/", origin(&node));
    b.open(&home).await;
    b.screenshot("sign-in").await;

    // A key that is not the certificate's: the node refuses, the page says why.
    let ops = fed.path().join("operators/520000");
    sign_in(&b, &ops.join("apv-1.pem"), &ops.join("req-1.key")).await;
    b.wait_for_text("#error", "does not verify").await;
    assert!(
        !b.wait_for("#view-sign-in")
            .await
            .text()
            .await
            .unwrap()
            .is_empty()
    );

    // The approver with a key of the federation's suite (Ed25519, or SM2).
    sign_in(&b, &ops.join("apv-1.pem"), &ops.join("apv-1.key")).await;
    b.wait_for("#view-home").await;
    assert_eq!(b.text("#home-role").await, "审核人");
    assert!(b.text("#officer").await.contains("apv-1"));
    assert!(b.text("#error").await.is_empty(), "the old error stays");
    b.screenshot("home").await;

    // The Content-Security-Policy is enforced: an inline script injected
    // into the page does not run.
    let ran = b
        .run(
            r#"const s = document.createElement("script");
               s.textContent = "window.injected = true";
               document.body.append(s);
               return window.injected === true"#,
        )
        .await;
    assert_eq!(ran, false, "an inline script ran despite the CSP");

    // The session cookie is HttpOnly: the page's script cannot read it.
    let cookies = b.run("return document.cookie").await;
    assert_eq!(cookies, "", "document.cookie shows {cookies}");

    // A reload keeps the session (and the key, in IndexedDB).
    b.open(&home).await;
    b.wait_for("#view-home").await;
    let key_kept = b
        .client
        .execute_async(
            r#"const done = arguments[0];
               const req = indexedDB.open("credex-console", 1);
               req.onsuccess = () => {
                 const get = req.result.transaction("officer").objectStore("officer").get("current");
                 // An SM2 key is kept sealed ({wrap, iv, sealed}): its
                 // wrapping key is what must not be extractable, and the
                 // sealed scalar is 32 bytes and a 16-byte tag.
                 get.onsuccess = () => {
                   const kept = get.result;
                   if (!kept) return done("none");
                   if (kept.algorithm === "sm2-sm3") {
                     return done(kept.key.sealed.length === 48 ? kept.key.wrap.extractable : "clear");
                   }
                   done(kept.key.extractable);
                 };
               };"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(key_kept, false, "the key is kept, and not extractable");

    // English, then signing out forgets the key.
    b.select("#language", "en").await;
    b.wait_for_text("#home-role", "Approver").await;
    b.click("#sign-out").await;
    b.wait_for("#view-sign-in").await;
    let me = b
        .client
        .execute_async(
            r#"const done = arguments[0];
               fetch("/console/api/session").then(r => done(r.status));"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(me, 401);

    // A requester with a P-256 key; in an `sm2-sm3` federation the node
    // refuses it, naming the suite.
    let p256 = fed.path().join("operators-p256");
    let issued = fed
        .ca("520000")
        .issue_operator(
            &"req-p256".parse().unwrap(),
            Role::Requester,
            KeyAlgorithm::EcdsaP256,
            30,
            &p256,
        )
        .unwrap();
    sign_in(&b, &issued.cert, &issued.key).await;
    match credex_tests::test_suite() {
        credex_protocol::Suite::Ed25519Sha256 => {
            b.wait_for_text("#home-role", "Requester").await;
            assert!(b.text("#officer").await.contains("req-p256"));
        }
        credex_protocol::Suite::Sm2Sm3 => {
            b.wait_for_text("#error", "sm2-sm3").await;
            b.wait_for("#view-sign-in").await;
        }
    }

    node.shutdown().await;
    b.close().await;
}
