//! Accessibility basics of the console, in a real browser (issue 16):
//! every control of every page has a label (or an accessible name), every
//! table and chart names what it shows, and an officer reaches a page and
//! uses it with the keyboard alone.

#![allow(clippy::unwrap_used)]

use credex_tests::browser::{Browser, Driver, skipped};
use credex_tests::console::{origin, start_with_console};
use credex_tests::{Federation, import_samples};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;

/// Press `key` on the keyboard (whatever has the focus gets it); the id of
/// the element focused after.
async fn press(b: &Browser, key: Key) -> String {
    let value = char::from(key);
    let keys = KeyActions::new("keyboard".to_owned())
        .then(KeyAction::Down { value })
        .then(KeyAction::Up { value });
    b.client.perform_actions(keys).await.unwrap();
    b.run("return document.activeElement.id")
        .await
        .as_str()
        .unwrap_or("")
        .to_owned()
}

/// Type `text` on the keyboard.
async fn type_text(b: &Browser, text: &str) {
    let mut keys = KeyActions::new("keyboard".to_owned());
    for value in text.chars() {
        keys = keys
            .then(KeyAction::Down { value })
            .then(KeyAction::Up { value });
    }
    b.client.perform_actions(keys).await.unwrap();
}

#[tokio::test]
async fn every_control_is_labelled_and_a_page_works_with_the_keyboard_alone() {
    if skipped() {
        return;
    }
    let fed = Federation::new();
    let gy = start_with_console(&fed).await;
    import_samples(&fed, &gy, "520000").await;
    let driver = Driver::start().await;
    let b = driver.browser(gy.console().unwrap().certificate()).await;
    let ops = fed.path().join("operators/520000");
    b.sign_in(
        &format!("{}/", origin(&gy)),
        &ops.join("aud-1.pem"),
        &ops.join("aud-1.key"),
    )
    .await;

    // Every page's controls, shown at once.
    let unlabelled = b
        .run(
            r#"for (const s of document.querySelectorAll("main > section, [hidden]")) s.hidden = false;
               const bad = [];
               for (const el of document.querySelectorAll("input, select, textarea")) {
                 if (el.labels.length === 0 && !el.getAttribute("aria-label")) bad.push(el.id || el.outerHTML);
               }
               for (const el of document.querySelectorAll("button")) {
                 if (!el.textContent.trim() && !el.getAttribute("aria-label")) bad.push(el.id || el.outerHTML);
               }
               for (const el of document.querySelectorAll("table")) {
                 if (!el.getAttribute("aria-labelledby") && !el.querySelector("caption")) bad.push(el.outerHTML.slice(0, 80));
               }
               for (const el of document.querySelectorAll("nav")) {
                 if (!el.getAttribute("aria-label")) bad.push("nav");
               }
               return bad;"#,
        )
        .await;
    assert_eq!(
        unlabelled,
        serde_json::json!([]),
        "unlabelled: {unlabelled}"
    );

    // The keyboard alone: from the top of the page to the subject page,
    // through its form, to the answer.
    b.open(&format!("{}/", origin(&gy))).await;
    b.wait_for("#view-home").await;
    b.run("document.activeElement.blur(); window.focus(); return null")
        .await;
    let mut reached = String::new();
    for _ in 0..12 {
        reached = press(&b, Key::Tab).await;
        if reached == "nav-subject" {
            break;
        }
    }
    assert_eq!(reached, "nav-subject", "Tab never reached the subject link");
    press(&b, Key::Enter).await;
    b.wait_for("#view-subject").await;
    let mut field = String::new();
    for _ in 0..6 {
        field = press(&b, Key::Tab).await;
        if field == "s-subject" {
            break;
        }
    }
    assert_eq!(field, "s-subject");
    let subject = credex_tests::subjects("520000")[0].clone();
    type_text(&b, &subject).await;
    assert_eq!(press(&b, Key::Tab).await, "s-purpose");
    assert_eq!(press(&b, Key::Tab).await, "s-submit");
    press(&b, Key::Enter).await;
    b.wait_for_text("#s-heading", &subject).await;
    assert!(b.text("#s-records").await.contains("admin_penalty"));
    b.close().await;
    gy.shutdown().await;
}
