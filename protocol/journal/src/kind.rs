//! The one table of journal entry kinds. The numbers are stored in every
//! entry's header; never reuse or renumber one. Ranges: 1–19 the node and
//! its queries, 20–29 recognition (互认), 30–39 joint reward/punishment
//! lists (联合奖惩), 40–49 the upward channel (数据报送), 50–59 the
//! integration gateway and its web console, 60–69 subjects' rights
//! (the disclosures ledger, objections, repairs, corrections, reports).

/// A query this node received and decided ([`crate::AccessEntry`]).
pub const QUERY_RECEIVED: u16 = 1;
/// A query this node sent and the response it got ([`crate::AccessEntry`]).
pub const QUERY_SENT: u16 = 2;
/// A sharing policy was loaded ([`crate::node::PolicyLoaded`]).
pub const POLICY_LOADED: u16 = 3;
/// The node started with a certificate and key ([`crate::node::KeyInUse`]).
pub const KEY_IN_USE: u16 = 4;
/// The node's CRLs changed ([`crate::node::TrustChanged`]).
pub const TRUST_CHANGED: u16 = 5;
/// An auditor read part of the log ([`crate::node::AuditAccess`]).
pub const AUDIT_FETCH: u16 = 6;
/// A federation message this node received ([`crate::MessageReceived`]).
pub const MESSAGE_RECEIVED: u16 = 7;
/// A federation message this node sent, and its acknowledgement
/// ([`crate::MessageSent`]).
pub const MESSAGE_SENT: u16 = 8;
/// The node started with a pseudonym key ring
/// ([`crate::node::PseudonymKeysInUse`]).
pub const PSEUDONYM_KEYS_IN_USE: u16 = 9;
/// A query this node is about to send, logged before it leaves
/// ([`crate::QueryIntent`]).
pub const QUERY_INTENT: u16 = 10;
/// A query this node sent and got no verified answer to
/// ([`crate::QueryNoAnswer`]).
pub const QUERY_NO_ANSWER: u16 = 11;
/// A process of this node's region took the region's duties
/// ([`crate::node::DutiesTaken`], decision 1020).
pub const DUTIES_TAKEN: u16 = 12;
/// This node issued, re-issued or revoked an evaluation result
/// ([`crate::recognition::EvaluationIssued`]).
pub const EVALUATION_ISSUED: u16 = 20;
/// This node decided whether it recognises a result it found in a query
/// response ([`crate::recognition::RecognitionDecided`]). Pushed results
/// are logged as [`MESSAGE_RECEIVED`] with the decision as summary.
pub const RECOGNITION_DECIDED: u16 = 21;
/// This region listed a subject and sent the entry
/// ([`crate::lists::ListingInitiated`]).
pub const LISTING_INITIATED: u16 = 30;
/// This region reported the measures it applied ([`crate::lists::FeedbackSent`]).
pub const FEEDBACK_SENT: u16 = 31;
/// This region changed a list entry it made ([`crate::lists::ChangeInitiated`]).
pub const CHANGE_INITIATED: u16 = 32;
/// This region routed a subject's objection to the entry's origin
/// ([`crate::lists::ObjectionRouted`]).
pub const OBJECTION_ROUTED: u16 = 33;
/// The origin moved an objection or a repair application and told every
/// holder ([`crate::lists::ProcedureMarked`]).
pub const PROCEDURE_MARKED: u16 = 34;
/// A case's deadline passed unanswered
/// ([`crate::lists::ProcedureOverdue`]).
pub const PROCEDURE_OVERDUE: u16 = 35;
/// This region routed a subject's credit repair application to the
/// entry's origin ([`crate::lists::RepairRouted`]).
pub const REPAIR_ROUTED: u16 = 36;
/// An upward batch was made and queued for the national node
/// ([`crate::upward::BatchPrepared`]).
pub const BATCH_PREPARED: u16 = 40;
/// An unacknowledged upward batch holds records whose reporting deadline is
/// near or past ([`crate::upward::UpwardDeadlineAtRisk`]).
pub const UPWARD_DEADLINE_AT_RISK: u16 = 41;
/// The gateway refused an authenticated client an operation
/// ([`crate::gateway::GatewayRefused`]).
pub const GATEWAY_REFUSED: u16 = 50;
/// The gateway answered a credit check ([`crate::gateway::CreditChecked`]).
pub const CREDIT_CHECKED: u16 = 51;
/// The gateway applied a batch of fed records ([`crate::gateway::RecordsFed`]).
pub const RECORDS_FED: u16 = 52;
/// An officer signed in to the web console ([`crate::gateway::OfficerSignedIn`]).
pub const OFFICER_SIGNED_IN: u16 = 53;

/// Records of this node are about to leave: the disclosures ledger's
/// entry ([`crate::disclosures::RecordsDisclosed`]).
pub const RECORDS_DISCLOSED: u16 = 60;
/// Records of this node were replaced or deleted
/// ([`crate::rights::RecordsChanged`]).
pub const RECORDS_CHANGED: u16 = 61;
/// A changed record's correction was sent to every region that received it
/// ([`crate::rights::CorrectionsSent`]).
pub const CORRECTIONS_SENT: u16 = 62;
/// This node issued a signed credit report
/// ([`crate::reports::ReportIssued`]).
pub const REPORT_ISSUED: u16 = 63;
/// A subject's case about another region's record was sent to the record's
/// owner ([`crate::rights::CaseRouted`]).
pub const CASE_ROUTED: u16 = 64;
/// A case about one of this node's records was opened here or moved, and
/// marked on every region that received the record
/// ([`crate::rights::CaseMarked`]).
pub const CASE_MARKED: u16 = 65;
/// This node asked every region for its part of a subject's access report
/// ([`crate::rights::AccessReportAsked`]).
pub const ACCESS_REPORT_ASKED: u16 = 66;
/// This node sent a region its part of a subject's access report
/// ([`crate::rights::AccessReportAnswered`]).
pub const ACCESS_REPORT_ANSWERED: u16 = 67;

/// Every kind this version writes, with its name (for reports and tools).
pub const ALL: &[(u16, &str)] = &[
    (QUERY_RECEIVED, "query_received"),
    (QUERY_SENT, "query_sent"),
    (POLICY_LOADED, "policy_loaded"),
    (KEY_IN_USE, "key_in_use"),
    (TRUST_CHANGED, "trust_changed"),
    (AUDIT_FETCH, "audit_fetch"),
    (MESSAGE_RECEIVED, "message_received"),
    (MESSAGE_SENT, "message_sent"),
    (PSEUDONYM_KEYS_IN_USE, "pseudonym_keys_in_use"),
    (QUERY_INTENT, "query_intent"),
    (QUERY_NO_ANSWER, "query_no_answer"),
    (DUTIES_TAKEN, "duties_taken"),
    (EVALUATION_ISSUED, "evaluation_issued"),
    (RECOGNITION_DECIDED, "recognition_decided"),
    (LISTING_INITIATED, "listing_initiated"),
    (FEEDBACK_SENT, "feedback_sent"),
    (CHANGE_INITIATED, "change_initiated"),
    (OBJECTION_ROUTED, "objection_routed"),
    (PROCEDURE_MARKED, "procedure_marked"),
    (PROCEDURE_OVERDUE, "procedure_overdue"),
    (REPAIR_ROUTED, "repair_routed"),
    (BATCH_PREPARED, "batch_prepared"),
    (UPWARD_DEADLINE_AT_RISK, "upward_deadline_at_risk"),
    (GATEWAY_REFUSED, "gateway_refused"),
    (CREDIT_CHECKED, "credit_checked"),
    (RECORDS_FED, "records_fed"),
    (OFFICER_SIGNED_IN, "officer_signed_in"),
    (RECORDS_DISCLOSED, "records_disclosed"),
    (RECORDS_CHANGED, "records_changed"),
    (CORRECTIONS_SENT, "corrections_sent"),
    (REPORT_ISSUED, "report_issued"),
    (CASE_ROUTED, "case_routed"),
    (CASE_MARKED, "case_marked"),
    (ACCESS_REPORT_ASKED, "access_report_asked"),
    (ACCESS_REPORT_ANSWERED, "access_report_answered"),
];

/// The name of a kind, if this version knows it.
pub fn name(kind: u16) -> Option<&'static str> {
    ALL.iter().find(|(k, _)| *k == kind).map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_unique_and_named() {
        let mut seen = std::collections::BTreeSet::new();
        for (k, n) in ALL {
            assert!(seen.insert(*k), "kind {k} listed twice");
            assert_eq!(name(*k), Some(*n));
        }
        assert_eq!(name(0), None);
        assert_eq!(name(19), None);
    }
}
