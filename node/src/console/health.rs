//! Federation health (联邦运行状态) for the credit centre: this node's
//! certificate, each configured peer (last contact, its certificate's end
//! while connected, messages waiting in
//! the outbox and why the last delivery failed), the CRLs (issued, next
//! update), the upward channel over the last 30 China-time days (records
//! reported per day, records at risk of missing their deadline), and the
//! alerts an operator acts on:
//!
//! - `certificate_expiring`: this node's certificate, or a connected
//!   peer's, ends within 30 days;
//! - `crl_stale`: a CRL is past its next update (revocations may be missing);
//! - `peer_unreachable`: a peer not heard from for an hour, or never, while
//!   messages wait for it;
//! - `upward_deadline_at_risk`: an upward batch's records near or past their
//!   7-working-day deadline (journal kind 41) in the last 7 days;
//! - `upward_overdue`: 双公示 records the national node has not acknowledged
//!   that are past their 7 working days already, so counted late
//!   ([`crate::upward::overdue`], decision 1260);
//! - `procedures_overdue`, on the national node: objections and repairs
//!   regions reported past their deadline (the notices of
//!   [`crate::upward::objections_overdue`]), with the regions late.
//!
//! Read only; nothing personal (counts, regions and times).

use std::collections::BTreeMap;

use axum::Extension;
use axum::Json;
use credex_journal::kind;
use credex_journal::upward::{BatchPrepared, UpwardDeadlineAtRisk};
use rustls_pki_types::CertificateRevocationListDer;
use rustls_pki_types::pem::PemObject;
use serde::Serialize;

use super::guard::SignedIn;
use super::state::ConsoleState;
use crate::gateway::problem::Problem;
use credex_protocol::RegionCode;

/// A certificate ending sooner than this is an alert.
pub const EXPIRY_WARNING_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// A peer silent longer than this (with messages waiting) is an alert.
pub const SILENCE_WARNING_MS: i64 = 60 * 60 * 1000;

/// Days of upward history shown.
pub const UPWARD_DAYS: i64 = 30;

/// Most recent journal entries read for the upward history.
pub const UPWARD_SCAN: u64 = 200_000;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The health page.
#[derive(Debug, Serialize)]
pub struct Health {
    /// When it was read, Unix ms.
    pub at_ms: i64,
    /// This node.
    pub node: NodeHealth,
    /// Each configured peer.
    pub peers: Vec<PeerHealth>,
    /// Each configured CRL.
    pub crls: Vec<CrlHealth>,
    /// The upward channel per China-time day, oldest first.
    pub upward: Vec<UpwardDay>,
    /// What needs attention.
    pub alerts: Vec<Alert>,
}

/// This node.
#[derive(Debug, Serialize)]
pub struct NodeHealth {
    /// Region code.
    pub region: String,
    /// Node name.
    pub name: String,
    /// When its certificate ends, Unix ms.
    pub certificate_not_after_ms: Option<i64>,
    /// Entries in its log.
    pub log_size: u64,
}

/// A configured peer.
#[derive(Debug, Serialize)]
pub struct PeerHealth {
    /// Region code.
    pub region: String,
    /// Node name.
    pub name: String,
    /// Where it is dialled.
    pub addr: String,
    /// When it was last heard from, Unix ms.
    pub last_seen_ms: Option<i64>,
    /// When the certificate it presents ends, Unix ms (known while a
    /// connection to it is open).
    pub certificate_not_after_ms: Option<i64>,
    /// Messages waiting in the outbox for its region.
    pub outbox: usize,
    /// When the oldest of them was made, Unix ms.
    pub oldest_waiting_ms: Option<i64>,
    /// Why the last delivery to it failed.
    pub last_error: Option<String>,
}

/// A CRL the node applies.
#[derive(Debug, Serialize)]
pub struct CrlHealth {
    /// The file.
    pub file: String,
    /// Its issuer.
    pub issuer: String,
    /// thisUpdate, Unix ms.
    pub this_update_ms: Option<i64>,
    /// nextUpdate, Unix ms.
    pub next_update_ms: Option<i64>,
}

/// The upward channel on one day.
#[derive(Debug, Serialize)]
pub struct UpwardDay {
    /// `YYYY-MM-DD`, China time.
    pub day: String,
    /// Records in the batches prepared that day.
    pub records: u64,
    /// Batches prepared.
    pub batches: u64,
    /// Records reported at risk of their deadline that day (most in one
    /// report).
    pub at_risk: u64,
    /// Whether a deadline was already missed.
    pub missed: bool,
}

/// Something to act on.
#[derive(Debug, Serialize)]
pub struct Alert {
    /// `certificate_expiring`, `crl_stale`, `peer_unreachable`,
    /// `upward_deadline_at_risk`, `upward_overdue`, `procedures_overdue`.
    pub kind: &'static str,
    /// What it is about (this node, a CRL issuer, a peer, the earliest
    /// upward deadline at risk, the national node the records wait for, or
    /// the regions late on objections and repairs).
    pub about: String,
    /// The time that matters (expiry, next update, last contact), Unix ms.
    pub at_ms: Option<i64>,
    /// How many records, for `upward_deadline_at_risk` and `upward_overdue`;
    /// how many cases, for `procedures_overdue`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

fn ms(t: time::OffsetDateTime) -> i64 {
    credex_flows::calendar::unix_ms(t)
}

/// `GET /console/api/health`.
pub async fn show(
    Extension(state): Extension<ConsoleState>,
    SignedIn(_session): SignedIn,
) -> Result<Json<Health>, Problem> {
    let parts = state.node().parts();
    let storage = state.node().storage();
    let now_ms = state.now_ms();
    let mut alerts = Vec::new();

    let not_after = credex_pki::certs_from_pem(&parts.chain_pem)
        .ok()
        .and_then(|c| {
            c.first()
                .and_then(|l| credex_pki::identity_from_der(l).ok())
        })
        .map(|id| ms(id.not_after));
    if let Some(end) = not_after.filter(|end| end - now_ms < EXPIRY_WARNING_MS) {
        alerts.push(Alert {
            kind: "certificate_expiring",
            about: format!("{}/{}", parts.config.region, parts.config.name),
            at_ms: Some(end),
            count: None,
        });
    }
    let node = NodeHealth {
        region: parts.config.region.to_string(),
        name: parts.config.name.to_string(),
        certificate_not_after_ms: not_after,
        log_size: storage.tree_head().size,
    };
    let peers = peers(&state, now_ms, &mut alerts).await?;
    let crls = crls(&state, now_ms, &mut alerts);
    let upward = upward(&state, now_ms, &mut alerts).await?;
    upward_overdue(&state, &mut alerts).await?;
    procedures_overdue(&state, &mut alerts).await?;
    Ok(Json(Health {
        at_ms: now_ms,
        node,
        peers,
        crls,
        upward,
        alerts,
    }))
}

async fn peers(
    state: &ConsoleState,
    now_ms: i64,
    alerts: &mut Vec<Alert>,
) -> Result<Vec<PeerHealth>, Problem> {
    let parts = state.node().parts();
    let seen = state
        .node()
        .storage()
        .peers()
        .await
        .map_err(Problem::store_failed)?;
    let outbox = parts
        .federation
        .outbox()
        .await
        .map_err(Problem::store_failed)?;
    let mut out = Vec::new();
    for peer in &parts.config.peers {
        let (region, name) = (peer.region.to_string(), peer.name.to_string());
        let last_seen_ms = seen
            .iter()
            .filter(|s| s.region == region && s.node == name)
            .map(|s| s.last_seen_unix_ms)
            .max();
        let waiting: Vec<_> = outbox
            .iter()
            .filter(|m| m.to_region == peer.region)
            .collect();
        let open = parts
            .federation
            .context()
            .peers
            .open_connection(peer.region);
        // An open connection is contact now.
        let last_seen_ms = if open.is_some() {
            Some(now_ms)
        } else {
            last_seen_ms
        };
        let certificate_not_after_ms = open
            .and_then(|c| {
                c.certificate_chain()
                    .first()
                    .and_then(|leaf| credex_pki::identity_from_der(leaf).ok())
            })
            .map(|id| ms(id.not_after));
        if let Some(end) = certificate_not_after_ms.filter(|end| end - now_ms < EXPIRY_WARNING_MS) {
            alerts.push(Alert {
                kind: "certificate_expiring",
                about: format!("{region}/{name}"),
                at_ms: Some(end),
                count: None,
            });
        }
        let silent = last_seen_ms.is_none_or(|t| now_ms - t > SILENCE_WARNING_MS);
        if silent && !waiting.is_empty() {
            alerts.push(Alert {
                kind: "peer_unreachable",
                about: format!("{region}/{name}"),
                at_ms: last_seen_ms,
                count: None,
            });
        }
        out.push(PeerHealth {
            addr: peer.addr.to_string(),
            last_seen_ms,
            certificate_not_after_ms,
            outbox: waiting.len(),
            oldest_waiting_ms: waiting.iter().map(|m| m.created_at_ms).min(),
            last_error: waiting
                .iter()
                .map(|m| m.last_error.clone())
                .find(|e| !e.is_empty()),
            region,
            name,
        });
    }
    Ok(out)
}

fn crls(state: &ConsoleState, now_ms: i64, alerts: &mut Vec<Alert>) -> Vec<CrlHealth> {
    let tls = &state.node().parts().config.tls;
    let mut out = Vec::new();
    for file in &tls.crls {
        let text = std::fs::read(file).unwrap_or_default();
        for der in CertificateRevocationListDer::pem_slice_iter(&text).flatten() {
            let Ok(v) = credex_pki::crl_validity::crl_validity(der.as_ref()) else {
                continue;
            };
            let next = v.next_update.map(ms);
            if next.is_some_and(|n| n < now_ms) {
                alerts.push(Alert {
                    kind: "crl_stale",
                    about: v.issuer.clone(),
                    at_ms: next,
                    count: None,
                });
            }
            out.push(CrlHealth {
                file: file.display().to_string(),
                issuer: v.issuer,
                this_update_ms: Some(ms(v.this_update)),
                next_update_ms: next,
            });
        }
    }
    out
}

async fn upward(
    state: &ConsoleState,
    now_ms: i64,
    alerts: &mut Vec<Alert>,
) -> Result<Vec<UpwardDay>, Problem> {
    let storage = state.node().storage();
    let size = storage.tree_head().size;
    let first_day = now_ms - (UPWARD_DAYS - 1) * DAY_MS;
    let mut days: BTreeMap<String, UpwardDay> = BTreeMap::new();
    for i in 0..UPWARD_DAYS {
        let day = china_day(first_day + i * DAY_MS);
        days.insert(
            day.clone(),
            UpwardDay {
                day,
                records: 0,
                batches: 0,
                at_risk: 0,
                missed: false,
            },
        );
    }
    let mut next = size.saturating_sub(UPWARD_SCAN);
    while next < size {
        let page = storage
            .journal_range(next, 1000)
            .await
            .map_err(Problem::store_failed)?;
        let Some(last) = page.last() else { break };
        next = last.seq + 1;
        for e in page {
            if e.kind == kind::BATCH_PREPARED
                && let Ok(b) = credex_protocol::decode::<BatchPrepared>(&e.body)
                && let Some(d) = days.get_mut(&china_day(b.at_ms))
            {
                d.records += u64::from(b.record_count);
                d.batches += 1;
            } else if e.kind == kind::UPWARD_DEADLINE_AT_RISK
                && let Ok(r) = credex_protocol::decode::<UpwardDeadlineAtRisk>(&e.body)
            {
                if now_ms - r.at_ms < 7 * DAY_MS {
                    alerts.push(Alert {
                        kind: "upward_deadline_at_risk",
                        about: r.earliest_deadline.clone(),
                        at_ms: Some(r.at_ms),
                        count: Some(u64::from(r.records_at_risk)),
                    });
                }
                if let Some(d) = days.get_mut(&china_day(r.at_ms)) {
                    d.at_risk = d.at_risk.max(u64::from(r.records_at_risk));
                    d.missed |= r.missed;
                }
            }
        }
    }
    Ok(days.into_values().collect())
}

/// The `upward_overdue` alert of a province that reports upward: its
/// 双公示 records waiting past their 7 working days.
async fn upward_overdue(state: &ConsoleState, alerts: &mut Vec<Alert>) -> Result<(), Problem> {
    let parts = state.node().parts();
    if parts.config.region.is_national() || !parts.config.upward.enabled {
        return Ok(());
    }
    let status = crate::upward::status(&parts.storage, state.upward_rules())
        .await
        .map_err(Problem::store_failed)?;
    if status.overdue > 0 {
        alerts.push(Alert {
            kind: "upward_overdue",
            about: RegionCode::NATIONAL.to_string(),
            at_ms: None,
            count: Some(status.overdue),
        });
    }
    Ok(())
}

/// The `procedures_overdue` alert of the national node: the objection and
/// repair deadlines regions missed, as they reported them, with the regions
/// late (the deciders) and when the last notice came.
async fn procedures_overdue(state: &ConsoleState, alerts: &mut Vec<Alert>) -> Result<(), Problem> {
    let parts = state.node().parts();
    if !parts.config.region.is_national() {
        return Ok(());
    }
    let notices = crate::upward::objections_overdue(&parts.storage)
        .await
        .map_err(Problem::store_failed)?;
    let Some(last) = notices.iter().map(|n| n.at_ms).max() else {
        return Ok(());
    };
    let late: std::collections::BTreeSet<String> = notices
        .iter()
        .map(|n| n.notice.about.decider().to_string())
        .collect();
    alerts.push(Alert {
        kind: "procedures_overdue",
        about: late.into_iter().collect::<Vec<_>>().join(", "),
        at_ms: Some(last),
        count: Some(notices.len() as u64),
    });
    Ok(())
}

fn china_day(at_ms: i64) -> String {
    credex_flows::calendar::china_date_text(at_ms)
}
