//! The web console's shell over real HTTPS (issue 16, step a): served by
//! the node from files in its binary to a browser without a client
//! certificate, every response with a strict Content-Security-Policy and
//! no inline script or style in any page, zh-CN and English text for the
//! same keys.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use credex_node::console::headers::CONTENT_SECURITY_POLICY;
use credex_tests::Federation;
use credex_tests::console::{browser, start_with_console};
use serde_json::Value;

fn keys(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let Some(map) = v.as_object() {
        for (k, v) in map {
            keys(v, &format!("{prefix}{k}."), out);
        }
    } else {
        out.insert(prefix.trim_end_matches('.').to_owned());
    }
}

#[tokio::test]
async fn the_console_shell_is_served_without_a_client_certificate_under_a_strict_policy() {
    let fed = Federation::new();
    let node = start_with_console(&fed).await;
    let mut b = browser(&fed, &node).await;

    let page = b.get("/").await.unwrap();
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = String::from_utf8(page.body.clone()).unwrap();
    assert!(html.contains("lang=\"zh-CN\"") && html.contains("credex 控制台"));
    // No inline script or style: every <script> has a src, no style attributes.
    for tag in html.split("<script").skip(1) {
        let open = &tag[..tag.find('>').unwrap()];
        assert!(
            open.contains("src=\"/console/"),
            "inline script: <script{open}>"
        );
    }
    assert!(
        !html.contains(" style=") && !html.contains("<style"),
        "inline style"
    );
    // Every form control has a label.
    for id in ["language", "certificate", "key"] {
        assert!(
            html.contains(&format!("for=\"{id}\"")),
            "no label for #{id}"
        );
    }

    for path in [
        "/",
        "/console/app.js",
        "/console/style.css",
        "/console/i18n/en.json",
        "/nothing",
    ] {
        let r = b.get(path).await.unwrap();
        assert_eq!(
            r.header("content-security-policy"),
            Some(CONTENT_SECURITY_POLICY),
            "{path}"
        );
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{path}");
    }
    assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self';"));
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
    assert_eq!(b.get("/nothing").await.unwrap().status, 404);
    let js = b.get("/console/app.js").await.unwrap();
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );

    // Conditional requests: the ETag answers 304.
    let etag = js.header("etag").unwrap().to_owned();
    let again = b
        .call_with_headers(
            "GET",
            "/console/app.js",
            None,
            &[("If-None-Match", &etag)],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(again.status, 304);

    // Both languages have the same keys.
    let (mut zh, mut en) = (BTreeSet::new(), BTreeSet::new());
    keys(
        &b.get("/console/i18n/zh-CN.json").await.unwrap().json(),
        "",
        &mut zh,
    );
    keys(
        &b.get("/console/i18n/en.json").await.unwrap().json(),
        "",
        &mut en,
    );
    assert!(!zh.is_empty());
    assert_eq!(zh, en);
    // Every data-i18n key of the page is translated.
    for part in html.split("data-i18n=\"").skip(1) {
        let key = &part[..part.find('"').unwrap()];
        assert!(zh.contains(key), "untranslated key {key}");
    }
    node.shutdown().await;
}
