//! The auditor's egress checks: for every federation message in a log, the
//! body keeps to the egress record it travelled with, and the record is
//! the decision the gate makes from the recorded inputs
//! ([`credex_policies::egress`], decision 0600).
//!
//! - Received (the signed envelope is the entry's attachment): every field
//!   the body carries is one its record released (`egress_beyond_release`),
//!   and re-running the gate under the auditor's copy of the rule gives the
//!   same record (`egress_decision`).
//! - Received and refused for good (decision 0650: the body is not kept):
//!   the fields the receiver found beyond the record, as its entry names
//!   them, are flagged (`egress_beyond_release`); the decision is re-run in
//!   the sender's log.
//! - Sent (the entry holds the record): re-running gives the same record.
//!
//! A record made under a rule document the auditor does not hold (another
//! agreement set or reporting catalogue than the shipped ones) cannot be
//! re-run; the body check still applies. The auditor counts those.

pub use credex_policies::egress::EgressRules;
use credex_policies::egress::{Route, beyond_record, redecide};
use credex_protocol::RegionCode;
use credex_protocol::egress::EgressRecord;
use credex_protocol::federation::{Envelope, Flow};

/// A finding: (rule, detail).
pub type Finding = (&'static str, String);

/// What checking one message's egress found.
#[derive(Debug, Default)]
pub struct EgressCheck {
    /// Violations.
    pub findings: Vec<Finding>,
    /// Whether the decision could not be re-run (rule unknown to the auditor).
    pub not_rerun: bool,
    /// Fields the record says were withheld.
    pub withheld: usize,
    /// The message's body was not kept (refused for good, decision 0650):
    /// there is nothing to re-run.
    pub body_not_kept: bool,
}

/// Check a received message's body and record.
pub fn check_received(rules: &EgressRules, env: &Envelope) -> EgressCheck {
    let mut out = EgressCheck::default();
    // A body that is not the kind it claims was refused by its flow, and
    // has none of the kind's fields to compare.
    if let Ok(beyond) = beyond_record(env.flow, env.kind, &env.payload, &env.egress)
        && !beyond.is_empty()
    {
        out.findings.push((
            "egress_beyond_release",
            format!(
                "{} sent {} that its egress record does not release",
                env.from_region,
                beyond.join(", ")
            ),
        ));
    }
    let route = Route {
        from: env.from_region,
        to: env.to_region,
        flow: env.flow,
        kind: env.kind,
    };
    rerun(rules, route, &env.egress, &mut out);
    out
}

/// Check a sent message's recorded decision (`from` is the log's region).
pub fn check_sent(
    rules: &EgressRules,
    from: RegionCode,
    to: RegionCode,
    flow: Flow,
    kind: u16,
    egress: &EgressRecord,
) -> EgressCheck {
    let mut out = EgressCheck::default();
    let route = Route {
        from,
        to,
        flow,
        kind,
    };
    rerun(rules, route, egress, &mut out);
    out
}

fn rerun(rules: &EgressRules, route: Route, recorded: &EgressRecord, out: &mut EgressCheck) {
    let Route { from, to, .. } = route;
    out.withheld = recorded.withheld_count();
    match redecide(rules, route, recorded) {
        None => out.not_rerun = true,
        Some(Ok(again)) if &again == recorded => {}
        Some(Ok(again)) => out.findings.push((
            "egress_decision",
            format!(
                "{from} → {to}: the recorded egress decision is not the gate's: recorded released {}, the gate releases {}",
                describe(&recorded.released),
                describe(&again.released)
            ),
        )),
        Some(Err(e)) => out.findings.push(("egress_decision", format!("{from} → {to}: {e}"))),
    }
}

fn describe(list: &[credex_protocol::query::CategoryFields]) -> String {
    if list.is_empty() {
        return "nothing".into();
    }
    list.iter()
        .map(|c| format!("{}.{{{}}}", c.category, c.fields.join(",")))
        .collect::<Vec<_>>()
        .join(" ")
}
