//! Verifying a credit report offline (信用报告核验), in any region, with the
//! federation root and the CRLs it holds: a report file is a C2SP
//! `tlog-proof` whose `extra` carries the signed report and the issuing
//! node's `report_issued` log entry ([`ReportBundle`]).
//!
//! The checks, in order, each refusal naming what failed:
//! 1. the file is a tlog proof and its extra a report bundle ([`ReportRefused::Format`]);
//! 2. the report keeps its bounds ([`ReportRefused::Report`]);
//! 3. the issuer's chain verifies to the root as a node certificate now,
//!    not revoked ([`ReportRefused::IssuerRevoked`],
//!    [`ReportRefused::UntrustedIssuer`]), of the region and node the
//!    report names ([`ReportRefused::IssuerMismatch`]);
//! 4. the signature verifies over the report ([`ReportRefused::Signature`]);
//! 5. today is not past `valid_until` ([`ReportRefused::Expired`]);
//! 6. the checkpoint is signed by the issuer's log key
//!    ([`ReportRefused::Checkpoint`]);
//! 7. the log entry records this report, and is in the checkpoint's tree at
//!    the proof's index ([`ReportRefused::NotLogged`]).
//!
//! Whether the verifying region accepts reports of the issuer's region for
//! the purpose (信用报告互认) is the agreement's question, asked after this.

use credex_journal::{ReportIssued, kind};
use credex_pki::authorization::{ResponseError, verify_node_statement};
use credex_pki::identity::Subject;
use credex_pki::log_key::node_checkpoint_verifier;
use credex_pki::trust::{TrustStore, VerifyError};
use credex_protocol::report::{CreditReport, DOMAIN_REPORT, ReportBoundError, ReportBundle};
use credex_protocol::tlog::{TlogProof, leaf_hash, open_checkpoint};
use credex_protocol::{NodeName, RegionCode};
use rustls_pki_types::UnixTime;

/// A report that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReport {
    /// The report.
    pub report: CreditReport,
    /// The issuing region and node, as their certificate names them.
    pub issuer: (RegionCode, NodeName),
    /// The issuance entry's index in the issuer's log.
    pub log_index: u64,
    /// The size of the checkpoint that proves it.
    pub checkpoint_size: u64,
    /// Cosignature lines on the checkpoint (witnesses; not verified here).
    pub cosignature_lines: usize,
    /// SHA-256 of the report's canonical encoding (what the issuer signed
    /// and logged).
    pub report_digest: [u8; 32],
}

/// Why a report is refused. Each says what a person would need to know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportRefused {
    /// Not a report file.
    #[error("not a credit report file: {0}")]
    Format(String),
    /// The report breaks a bound.
    #[error("the report is malformed: {0}")]
    Report(ReportBoundError),
    /// The issuer's certificate is revoked (or its region CA's).
    #[error("the issuer's certificate is revoked: {0}")]
    IssuerRevoked(VerifyError),
    /// The issuer's certificate does not verify to the federation root as
    /// a node certificate (another root, expired, unreadable …).
    #[error("the issuer is not a trusted node of the federation: {0}")]
    UntrustedIssuer(String),
    /// The certificate names another region or node than the report.
    #[error("the report names {claimed}, but it is signed by {signer}")]
    IssuerMismatch {
        /// The issuer the report names.
        claimed: String,
        /// Who signed.
        signer: String,
    },
    /// The signature does not verify over the report: it was changed.
    #[error("the issuer's signature does not verify: the report was changed after it was signed")]
    Signature,
    /// Past its last valid day.
    #[error("the report expired: valid until {valid_until}, today is {today}")]
    Expired {
        /// Its last valid day.
        valid_until: String,
        /// Today (China time).
        today: String,
    },
    /// The checkpoint is not the issuer log's.
    #[error("the log checkpoint does not verify under the issuer's log key: {0}")]
    Checkpoint(String),
    /// The issuance is not proven to be in the issuer's log.
    #[error("the report's issuance is not proven in the issuer's log: {0}")]
    NotLogged(String),
}

/// Why a verified report is not accepted here (信用报告互认).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAccepted {
    /// No agreement between the two regions recognises this kind of report
    /// for this purpose.
    #[error("no agreement between {here} and {issuer} accepts a {kind} report for {purpose}")]
    NoAgreement {
        /// This region.
        here: RegionCode,
        /// The issuing region.
        issuer: RegionCode,
        /// The report's kind.
        kind: &'static str,
        /// The report's purpose.
        purpose: String,
    },
    /// Older than the agreement allows.
    #[error("issued {issued}, older than the {max_age_days} days {agreement} allows")]
    TooOld {
        /// The issue date (China time).
        issued: String,
        /// The agreement's maximum age.
        max_age_days: u32,
        /// The agreement's code.
        agreement: String,
    },
}

/// Whether `here` accepts the verified report at `now_ms`: a report of its
/// own region always; another region's under the first agreement (in
/// precedence order) that accepts its kind for its purpose, if it is not
/// older than that agreement allows. Returns the agreement's code (`None`
/// for its own report).
pub fn accept(
    verified: &VerifiedReport,
    agreements: &credex_policies::AgreementSet,
    here: RegionCode,
    now_ms: i64,
) -> Result<Option<String>, NotAccepted> {
    let r = &verified.report;
    if r.issuer == here {
        return Ok(None);
    }
    let no = || NotAccepted::NoAgreement {
        here,
        issuer: r.issuer,
        kind: r.kind.code(),
        purpose: r.purpose.clone(),
    };
    let purpose: credex_policies::Purpose = r.purpose.parse().map_err(|_| no())?;
    let agreement = agreements
        .accepting_reports(here, r.issuer, r.kind, purpose)
        .into_iter()
        .next()
        .ok_or_else(no)?;
    let max_age_days = agreement.reports.as_ref().map_or(0, |t| t.max_age_days);
    let age_ms = now_ms.saturating_sub(r.issued_at_ms);
    if age_ms > i64::from(max_age_days) * 86_400_000 {
        return Err(NotAccepted::TooOld {
            issued: credex_flows::calendar::china_date_text(r.issued_at_ms),
            max_age_days,
            agreement: agreement.code.clone(),
        });
    }
    Ok(Some(agreement.code.clone()))
}

/// Verify the report file `text` against `trust` as of `now` (see the
/// module doc).
pub fn verify(
    text: &str,
    trust: &TrustStore,
    now: UnixTime,
) -> Result<VerifiedReport, ReportRefused> {
    let proof = TlogProof::parse(text).map_err(|e| ReportRefused::Format(e.to_string()))?;
    let extra = proof.extra.as_deref().ok_or_else(|| {
        ReportRefused::Format("the proof carries no report (no extra line)".into())
    })?;
    let bundle: ReportBundle = credex_protocol::decode(extra)
        .map_err(|e| ReportRefused::Format(format!("the report does not decode: {e}")))?;
    let signed = &bundle.signed;
    let report = &signed.report;
    report.validate().map_err(ReportRefused::Report)?;
    let message = credex_protocol::encode(report)
        .map_err(|e| ReportRefused::Format(format!("the report does not encode: {e}")))?;
    let (_, region, node) =
        verify_node_statement(DOMAIN_REPORT, &message, &signed.signer, trust, now, None).map_err(
            |e| match e {
                ResponseError::UntrustedCertificate(
                    v @ (VerifyError::Revoked | VerifyError::IssuerRevoked),
                ) => ReportRefused::IssuerRevoked(v),
                ResponseError::BadSignature(_) => ReportRefused::Signature,
                ResponseError::WrongResponder { found, .. } => ReportRefused::IssuerMismatch {
                    claimed: format!("node {} of region {}", report.issuer_node, report.issuer),
                    signer: found,
                },
                other => ReportRefused::UntrustedIssuer(other.to_string()),
            },
        )?;
    if region != report.issuer || node != report.issuer_node {
        return Err(ReportRefused::IssuerMismatch {
            claimed: format!("node {} of region {}", report.issuer_node, report.issuer),
            signer: Subject::Node { region, name: node }.to_string(),
        });
    }
    let now_ms = i64::try_from(now.as_secs())
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    let today = credex_flows::calendar::china_date_text(now_ms);
    // Same fixed-width format: byte order is date order.
    if today.as_str() > report.valid_until.as_str() {
        return Err(ReportRefused::Expired {
            valid_until: report.valid_until.clone(),
            today,
        });
    }
    let leaf_cert = signed
        .signer
        .chain
        .first()
        .ok_or_else(|| ReportRefused::UntrustedIssuer("no certificate".into()))?;
    // The issuer's signing certificate: the SM2 line under `sm2-sm3`.
    let key = node_checkpoint_verifier(leaf_cert, region, &node)
        .map_err(|e| ReportRefused::Checkpoint(e.to_string()))?;
    let checkpoint = open_checkpoint(proof.checkpoint.as_bytes(), &key, &[])
        .map_err(|e| ReportRefused::Checkpoint(e.to_string()))?;
    let cp = checkpoint.checkpoint();
    logged_entry(&bundle, &message)?;
    proof
        .verify_inclusion(&leaf_hash(&bundle.entry), cp.size(), cp.root())
        .map_err(|e| ReportRefused::NotLogged(format!("entry {}: {e}", proof.index)))?;
    Ok(VerifiedReport {
        report: report.clone(),
        issuer: (region, node),
        log_index: proof.index,
        checkpoint_size: cp.size(),
        // Every line but the log's own (Ed25519, and SM2 under `sm2-sm3`).
        cosignature_lines: checkpoint
            .note()
            .signatures()
            .iter()
            .filter(|s| s.name().as_str() != cp.origin())
            .count(),
        report_digest: credex_journal::sha256(&message),
    })
}

/// The bundle's log entry is a `report_issued` entry for this report.
fn logged_entry(bundle: &ReportBundle, message: &[u8]) -> Result<(), ReportRefused> {
    let not = |why: String| ReportRefused::NotLogged(why);
    let (entry_kind, _, body) = credex_journal::split(&bundle.entry)
        .map_err(|e| not(format!("the log entry is unreadable: {e}")))?;
    if entry_kind != kind::REPORT_ISSUED {
        return Err(not(format!(
            "the log entry is of kind {entry_kind}, not report_issued"
        )));
    }
    let issued: ReportIssued = credex_journal::decode(entry_kind, body)
        .map_err(|e| not(format!("the log entry does not decode: {e}")))?;
    let report = &bundle.signed.report;
    if issued.report != report.id || issued.report_digest != credex_journal::sha256(message) {
        return Err(not("the log entry records another report".into()));
    }
    Ok(())
}
