//! A real browser for the console's tests: headless Chromium driven over
//! WebDriver (`chromedriver`, Debian's `chromium` and `chromium-driver`
//! packages, installed by `.ci/run`) with `fantoccini`.
//!
//! Each [`Browser`] is its own Chromium with its own profile (cookies,
//! IndexedDB), so two officers sign in side by side as they would on two
//! desks. The console's certificate is trusted by its public key alone
//! (`--ignore-certificate-errors-spki-list`), as an intranet browser
//! trusts its web server — nothing else about TLS is relaxed.
//!
//! Environment: `CREDEX_CHROMEDRIVER` (default `chromedriver` on `PATH`),
//! `CREDEX_CHROMIUM` (default `/usr/bin/chromium`), `CREDEX_SKIP_BROWSER=1`
//! to skip browser tests on a machine without them (CI never sets it), and
//! `CREDEX_SCREENSHOTS=DIR` to save the pages' screenshots.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// How often a wait looks at the page again.
const POLL: Duration = Duration::from_millis(200);

/// Window size of every browser (the screenshots' size).
pub const WINDOW: (u32, u32) = (1366, 768);

/// A running `chromedriver`; killed on drop.
pub struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether browser tests are skipped on this machine (`CREDEX_SKIP_BROWSER=1`).
pub fn skipped() -> bool {
    if std::env::var("CREDEX_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("CREDEX_SKIP_BROWSER=1: browser test skipped");
        return true;
    }
    false
}

impl Driver {
    /// Start `chromedriver` on a free loopback port.
    pub async fn start() -> Driver {
        let program =
            std::env::var("CREDEX_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".to_owned());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {program:?} ({e}): install Debian's chromium and \
                     chromium-driver (.ci/run does), or set CREDEX_SKIP_BROWSER=1"
                )
            });
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{program} did not listen on port {port} within 10 s");
    }

    /// A fresh browser with its own profile, trusting the HTTPS server
    /// whose certificate (DER) is `server_cert`.
    pub async fn browser(&self, server_cert: &[u8]) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let chromium =
            std::env::var("CREDEX_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--lang=zh-CN",
                    format!("--window-size={},{}", WINDOW.0, WINDOW.1),
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--ignore-certificate-errors-spki-list={}", spki_hash(server_cert)),
                ],
            }
        });
        let caps = caps.as_object().unwrap().clone();
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session starts");
        client
            .set_window_size(WINDOW.0, WINDOW.1)
            .await
            .expect("window size");
        Browser {
            client,
            _profile: profile,
        }
    }
}

/// base64(SHA-256(SubjectPublicKeyInfo)) of a certificate, as Chromium
/// names a key it should trust.
pub fn spki_hash(cert_der: &[u8]) -> String {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).unwrap();
    let spki = cert.tbs_certificate.subject_pki.raw;
    let digest = ring::digest::digest(&ring::digest::SHA256, spki);
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// One Chromium, driven.
pub struct Browser {
    /// The WebDriver client (for what the helpers below do not cover).
    pub client: Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Open `url` and wait until the console's script has run.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap();
        self.wait_for("body[data-ready='true']").await;
    }

    /// Open the console at `home` and sign in with the certificate and key
    /// files `cert`, `key`; returns once the home page shows.
    pub async fn sign_in(&self, home: &str, cert: &std::path::Path, key: &std::path::Path) {
        self.open(home).await;
        self.wait_for("#view-sign-in").await;
        self.choose_file("#certificate", cert).await;
        self.choose_file("#key", key).await;
        self.click("#sign-in").await;
        self.wait_for("#view-home").await;
    }

    /// Wait (up to 15 s) for an element matching `css` to be displayed.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await
                && el.is_displayed().await.unwrap_or(false)
            {
                return el;
            }
            if tokio::time::Instant::now() > deadline {
                let body = self.text("body").await;
                panic!("{css} not shown within 15 s; the page says:\n{body}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The visible text of the first element matching `css` ("" if none).
    pub async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(el) => el.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Wait (up to 15 s) until the element `css` shows text containing `want`.
    pub async fn wait_for_text(&self, css: &str, want: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let text = self.text(css).await;
            if text.contains(want) {
                return text;
            }
            if tokio::time::Instant::now() > deadline {
                let error = self.text("#error").await;
                panic!(
                    "{css} does not say {want:?} within 15 s; it says {text:?} (page error: {error:?})"
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Choose `file` in the file input `css`.
    pub async fn choose_file(&self, css: &str, file: &std::path::Path) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .send_keys(&file.to_string_lossy())
            .await
            .unwrap();
    }

    /// Choose the option with `value` in the select `css`.
    pub async fn select(&self, css: &str, value: &str) {
        self.wait_for(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("{css}: no option {value:?}: {e}"));
    }

    /// Whether an element matching `css` exists and is displayed.
    pub async fn is_shown(&self, css: &str) -> bool {
        match self.client.find(Locator::Css(css)).await {
            Ok(el) => el.is_displayed().await.unwrap_or(false),
            Err(_) => false,
        }
    }

    /// Click the element `css`.
    pub async fn click(&self, css: &str) {
        self.wait_for(css).await.click().await.unwrap();
    }

    /// Type `text` into the field `css` (after clearing it).
    pub async fn fill(&self, css: &str, text: &str) {
        let el = self.wait_for(css).await;
        el.clear().await.unwrap();
        el.send_keys(text).await.unwrap();
    }

    /// Run `script` (its `return` value as JSON).
    pub async fn run(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Save a screenshot as `DIR/name.png` when `CREDEX_SCREENSHOTS=DIR`.
    pub async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("CREDEX_SCREENSHOTS") else {
            return;
        };
        let png = self.client.screenshot().await.unwrap();
        let path = PathBuf::from(dir).join(format!("{name}.png"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, png).unwrap();
    }

    /// Close the browser.
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
