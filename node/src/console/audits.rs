//! Offline verification in the console (审计核验): an auditor uploads an
//! exported log — the folder `credex audit export` or another node's
//! gateway gave them — or picks this node's own, and the node runs the full offline verification
//! (`credex_audit`, the same as `credex audit verify`) in the background,
//! with progress, then the anomaly rules (decision 0910) over its accesses.
//!
//! The upload is written to a private folder under the node's data
//! directory, verified, and removed; the result stays in memory for the
//! auditor's session (at most [`MAX_AUDITS`] are kept). The node's own
//! certificate is given as a witness key, so a log this node cosigned is
//! anchored by it; for this node's own log, the certificates its reachable
//! peers present are too (they cosign it).

use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Extension;
use axum::Json;
use axum::extract::{Path as UrlPath, Request};
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use credex_audit::{AuditOptions, Context, Thresholds};
use credex_protocol::Role;
use serde::Deserialize;

use super::audit_jobs::{AuditView, Findings, Job, view};
use super::guard::SignedIn;
use super::session::Officer;
use super::state::ConsoleState;
use crate::gateway::body::read_body;
use crate::gateway::problem::{Problem, ProblemType};

/// Largest upload, bytes (the JSON, base64 included).
pub const MAX_UPLOAD: usize = 64 * 1024 * 1024;

/// Most files in one upload.
pub const MAX_FILES: usize = 20_000;

/// An uploaded export: its files, paths relative to the export's folder.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    /// The files.
    pub files: Vec<UploadedFile>,
}

/// One file of an export.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadedFile {
    /// `checkpoint`, `tile/0/000`, … (a leading folder name common to all
    /// files, as a browser's folder upload gives it, is dropped).
    pub path: String,
    /// The bytes, base64.
    pub data: String,
}

fn require_auditor(officer: &Officer) -> Result<(), Problem> {
    if officer.role() == Role::Auditor {
        return Ok(());
    }
    Err(Problem::new(
        ProblemType::RoleMissing,
        format!(
            "verifying a log needs the role auditor; you are signed in as {}",
            officer.role().as_str()
        ),
    ))
}

/// The relative path `path` names inside the export, or why it is refused.
fn safe_path(path: &str, strip: Option<&str>) -> Result<PathBuf, String> {
    let path = match strip {
        Some(prefix) => path.strip_prefix(prefix).unwrap_or(path),
        None => path,
    };
    let relative = Path::new(path);
    if path.is_empty()
        || path.len() > 512
        || !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(format!("{path:?} is not a relative path inside the export"));
    }
    Ok(relative.to_owned())
}

/// The folder name all paths start with, if they share one.
fn common_folder(files: &[UploadedFile]) -> Option<String> {
    let first = files.first()?.path.split_once('/')?.0;
    let prefix = format!("{first}/");
    files
        .iter()
        .all(|f| f.path.starts_with(&prefix))
        .then_some(prefix)
}

fn write_upload(dir: &Path, upload: &Upload) -> Result<(), Problem> {
    let field = |i: usize, d: String| {
        Problem::new(ProblemType::FieldInvalid, d).at_field(format!("/files/{i}"))
    };
    if upload.files.is_empty() || upload.files.len() > MAX_FILES {
        return Err(Problem::new(
            ProblemType::FieldInvalid,
            format!("expected 1 to {MAX_FILES} files of an exported log"),
        )
        .at_field("/files"));
    }
    let strip = common_folder(&upload.files);
    crate::file_modes::create_private_dir(dir).map_err(Problem::store_failed)?;
    for (i, file) in upload.files.iter().enumerate() {
        let relative = safe_path(&file.path, strip.as_deref()).map_err(|d| field(i, d))?;
        let bytes = STANDARD
            .decode(file.data.trim())
            .map_err(|e| field(i, format!("data is not base64: {e}")))?;
        let target = dir.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(Problem::store_failed)?;
        }
        std::fs::write(&target, bytes).map_err(Problem::store_failed)?;
    }
    Ok(())
}

/// `POST /console/api/audits`: upload an exported log and start verifying it.
pub async fn start(
    Extension(state): Extension<ConsoleState>,
    SignedIn(session): SignedIn,
    request: Request,
) -> Result<(StatusCode, Json<AuditView>), Problem> {
    require_auditor(&session.officer)?;
    crate::gateway::body::require_media_type(&request, "application/json")?;
    let bytes = read_body(request, MAX_UPLOAD).await?;
    let upload: Upload = serde_json::from_slice(&bytes).map_err(|e| {
        Problem::new(
            ProblemType::BodyMalformed,
            format!("not an upload of an exported log: {e}"),
        )
    })?;
    let id = hex::encode(crate::ids::random_id());
    let dir = audit_dir(&state, &id);
    let target = dir.clone();
    let written = tokio::task::spawn_blocking(move || write_upload(&target, &upload))
        .await
        .map_err(Problem::store_failed)
        .and_then(|r| r);
    if let Err(p) = written {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(p);
    }
    let view = spawn_verification(&state, &session.officer, id, dir, Vec::new());
    Ok((StatusCode::ACCEPTED, Json(view)))
}

/// `POST /console/api/audits/own`: verify this node's own log, copied
/// file by file as the audit fetch serves it (the read is logged).
pub async fn own(
    Extension(state): Extension<ConsoleState>,
    SignedIn(session): SignedIn,
) -> Result<(StatusCode, Json<AuditView>), Problem> {
    require_auditor(&session.officer)?;
    let parts = state.node().parts();
    let storage = state.node().storage();
    let entry = credex_journal::AuditAccess {
        version: credex_journal::ENTRY_VERSION,
        at_ms: state.now_ms(),
        auditor: session.officer.uri(),
        path: "*".to_owned(),
    };
    storage
        .append_entry(&entry)
        .await
        .map_err(Problem::store_failed)?;
    let id = hex::encode(crate::ids::random_id());
    let dir = audit_dir(&state, &id);
    crate::file_modes::create_private_dir(&dir).map_err(Problem::store_failed)?;
    let get = |path: String| async move {
        crate::remote_audit::serve(storage, &parts.checkpoints, parts.chains(), &path)
            .await
            .map_err(|(_, reason)| crate::remote_audit::FetchLogError::NotServed { path, reason })
    };
    if let Err(e) = crate::remote_audit::fetch_log_with(get, &dir).await {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(Problem::store_failed(format!(
            "copying this node's log: {e}"
        )));
    }
    let witnesses = peer_witnesses(&state).await;
    let view = spawn_verification(&state, &session.officer, id, dir, witnesses);
    Ok((StatusCode::ACCEPTED, Json(view)))
}

/// Longest wait for a peer's certificate when gathering witnesses.
const WITNESS_DIAL: std::time::Duration = std::time::Duration::from_secs(2);

/// The node certificates (PEM) of the configured peers reachable now:
/// they witness this node's log, and the auditor needs their keys to
/// count their cosignatures. A peer that cannot be reached is skipped
/// (its cosignatures then do not count).
async fn peer_witnesses(state: &ConsoleState) -> Vec<String> {
    let parts = state.node().parts();
    let peers = &parts.federation.context().peers;
    let mut out = Vec::new();
    // One at a time: the pool dials a region under its lock, so parallel
    // dials would only queue (a live connection answers at once).
    for peer in &parts.config.peers {
        if let Ok(Ok(conn)) =
            tokio::time::timeout(WITNESS_DIAL, peers.connection(peer.region)).await
        {
            let pem = pem_chain(&conn.certificate_chain());
            if !pem.is_empty() {
                out.push(pem);
            }
        }
    }
    out
}

/// A certificate chain as PEM text.
fn pem_chain(chain: &[rustls_pki_types::CertificateDer<'_>]) -> String {
    use base64::engine::general_purpose::STANDARD;
    chain
        .iter()
        .map(|c| {
            let b64 = STANDARD.encode(c.as_ref());
            let lines: Vec<&str> = b64
                .as_bytes()
                .chunks(64)
                .filter_map(|l| std::str::from_utf8(l).ok())
                .collect();
            format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                lines.join("\n")
            )
        })
        .collect()
}

fn audit_dir(state: &ConsoleState, id: &str) -> PathBuf {
    state
        .node()
        .parts()
        .config
        .data_dir
        .join("console-audits")
        .join(id)
}

/// Verify the export in `dir` in the background as audit `id`, with this
/// node and the node certificates `witnesses` (PEM) as witness keys, then
/// remove it; the view of the job as started.
fn spawn_verification(
    state: &ConsoleState,
    officer: &Officer,
    id: String,
    dir: PathBuf,
    witnesses: Vec<String>,
) -> AuditView {
    let parts = state.node().parts();
    let job = Arc::new(Job {
        officer: officer.uri(),
        checked: AtomicU64::new(0),
        total: credex_audit::total_entries(std::slice::from_ref(&dir)),
        result: Mutex::new(None),
    });
    state.audits().add(id.clone(), Arc::clone(&job));
    let trust = state.trust().current();
    let witness_keys: Vec<_> = std::iter::once(&parts.chain_pem)
        .chain(witnesses.iter())
        .filter_map(|pem| {
            credex_audit::anchor::witness_key(&trust, pem, Path::new("a node certificate")).ok()
        })
        .collect();
    let calendar = credex_policies::HolidayCalendar::builtin_2026();
    // The node's own agreements and catalogues, so that the decisions of a
    // federation with rule documents of its own are re-run too.
    let egress_rules = crate::boot::egress_rules(&parts.config).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "console audit: the node's rule documents did not load; the shipped ones are used");
        credex_audit::egress::EgressRules::builtin()
    });
    let now_ms = state.now_ms();
    let running = Arc::clone(&job);
    tracing::info!(audit = %id, officer = %job.officer, "console audit started");
    parts.tracker.spawn_blocking(move || {
        let options = AuditOptions {
            witnesses: witness_keys,
            egress_rules,
            ..AuditOptions::default()
        };
        let progress = |n: u64| {
            running.checked.fetch_add(n, Ordering::Relaxed);
        };
        let (accesses, report) =
            credex_audit::verify_accesses(std::slice::from_ref(&dir), &trust, &options, &progress);
        let codes = Default::default();
        let context = Context {
            now_ms,
            calendar: &calendar,
            subject_codes: &codes,
        };
        let findings = Findings {
            anomalies: credex_audit::find_anomalies(&accesses, &context, &Thresholds::default()),
            overview: credex_audit::overview(&accesses),
            report,
        };
        let _ = std::fs::remove_dir_all(&dir);
        *running.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(findings);
    });
    view(&id, &job)
}

/// `GET /console/api/audits/{id}`: progress, then the findings.
pub async fn show(
    Extension(state): Extension<ConsoleState>,
    SignedIn(session): SignedIn,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<AuditView>, Problem> {
    require_auditor(&session.officer)?;
    let job = state
        .audits()
        .find(&id)
        .ok_or_else(|| Problem::new(ProblemType::NotFound, format!("no audit {id}")))?;
    Ok(Json(view(&id, &job)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploaded_paths_stay_inside_the_export() {
        assert_eq!(
            safe_path("gz/tile/0/000", Some("gz/")).unwrap(),
            PathBuf::from("tile/0/000")
        );
        for bad in ["../etc/passwd", "/etc/passwd", "a/../../b", "", "./x"] {
            assert!(safe_path(bad, None).is_err(), "{bad}");
        }
    }
}
