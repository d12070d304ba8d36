//! The procedure every case follows, whatever it is about — a list entry
//! or a record (decisions 0940, 0960, 0980): what the deciding region may
//! answer and where that moves the case, when a deadline has passed, the
//! evidence a subject hands in and its stored copy, and the notice of a
//! missed deadline to the national platform. `crate::lists` and this
//! module's record cases both build on it.

use credex_flows::calendar::deadline_date;
use credex_journal::sha256;
use credex_policies::egress::release_procedure_overdue;
use credex_protocol::RegionCode;
use credex_protocol::lists::{
    Evidence, EvidenceKind, Procedure, ProcedureDeadline, ProcedureOutcome, ProcedureStage,
};
use credex_protocol::upward::ProcedureOverdueNotice;

use crate::federation::PrepareError;
use crate::storage::StateWrite;

/// What the origin does with a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseAnswer {
    /// Accept it for review (受理); the decision is due within the
    /// decision deadline.
    Accept,
    /// Refuse it without review (不予受理).
    Refuse,
    /// Decide it (办结). An objection `Upheld` revokes the entry
    /// everywhere; a repair `Granted` ends it everywhere.
    Decide(ProcedureOutcome),
}

/// One evidence file as the subject hands it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceFile {
    /// What it is.
    pub kind: EvidenceKind,
    /// Its title (e.g. the file name).
    pub title: String,
    /// The file.
    pub content: Vec<u8>,
}

impl EvidenceFile {
    /// The file as a message carries it, with its SHA-256.
    pub fn into_evidence(self) -> Evidence {
        Evidence {
            kind: self.kind,
            title: self.title,
            digest: sha256(&self.content),
            content: self.content,
        }
    }
}

/// The deadline a case at `stage` with these last days has missed on
/// `today` (`YYYY-MM-DD`), whatever the case is about.
pub fn overdue_stage(
    stage: ProcedureStage,
    accept_by: &str,
    decide_by: Option<&str>,
    today: &str,
) -> Option<ProcedureDeadline> {
    match stage {
        ProcedureStage::Filed if today > accept_by => Some(ProcedureDeadline::Acceptance),
        ProcedureStage::Accepted if decide_by.is_some_and(|by| today > by) => {
            Some(ProcedureDeadline::Decision)
        }
        _ => None,
    }
}

/// The message telling the national platform of `notice` (its id and
/// outbox row), or none when this node has no national peer (said in the
/// log): a missed deadline is journaled either way.
pub fn tell_national<E: From<PrepareError> + From<credex_policies::egress::EgressError>>(
    federation: &crate::federation::Federation,
    notice: &ProcedureOverdueNotice,
    now_ms: i64,
) -> Result<Option<([u8; 16], StateWrite)>, E> {
    let body = release_procedure_overdue(RegionCode::NATIONAL, notice)?;
    match federation.prepare(body, now_ms) {
        Ok((signed, outbox)) => Ok(Some((signed.envelope.message_id, outbox))),
        Err(PrepareError::UnknownPeer(_)) => {
            tracing::warn!(about = %notice.about, procedure = notice.procedure.code(), "case overdue: no national peer to tell");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Where a case of `procedure` at `stage` stands after `answer` at
/// `now_ms`, with its decision deadline when `answer` accepts it (counted
/// in `calendar`'s working days under `rules`); `Err` says why it cannot
/// move ("is filed; it cannot be decided granted"). Cases about list
/// entries and about records move alike.
pub fn move_case(
    procedure: Procedure,
    stage: ProcedureStage,
    answer: CaseAnswer,
    now_ms: i64,
    calendar: &credex_policies::HolidayCalendar,
    rules: &credex_policies::repair::RightsRules,
) -> Result<(ProcedureStage, Option<String>), String> {
    let next = next_stage(stage, answer)
        .filter(|s| match s {
            ProcedureStage::Decided(o) => o.decides(procedure),
            _ => true,
        })
        .ok_or_else(|| format!("is {}; it cannot be {}", stage.code(), answer_name(answer)))?;
    let decide_by = (answer == CaseAnswer::Accept).then(|| {
        deadline_date(
            calendar,
            now_ms,
            rules.deadlines(procedure).decide_working_days,
        )
    });
    Ok((next, decide_by))
}

/// The stage `answer` moves `stage` to, if it may.
fn next_stage(stage: ProcedureStage, answer: CaseAnswer) -> Option<ProcedureStage> {
    match (stage, answer) {
        (ProcedureStage::Filed, CaseAnswer::Accept) => Some(ProcedureStage::Accepted),
        (ProcedureStage::Filed, CaseAnswer::Refuse) => Some(ProcedureStage::Refused),
        // A subject may withdraw before acceptance; anything else is
        // decided only after review.
        (ProcedureStage::Filed, CaseAnswer::Decide(ProcedureOutcome::Withdrawn))
        | (ProcedureStage::Accepted, CaseAnswer::Decide(ProcedureOutcome::Withdrawn)) => {
            Some(ProcedureStage::Decided(ProcedureOutcome::Withdrawn))
        }
        (ProcedureStage::Accepted, CaseAnswer::Decide(outcome)) => {
            Some(ProcedureStage::Decided(outcome))
        }
        _ => None,
    }
}

fn answer_name(answer: CaseAnswer) -> String {
    match answer {
        CaseAnswer::Accept => "accepted".into(),
        CaseAnswer::Refuse => "refused".into(),
        CaseAnswer::Decide(o) => format!("decided {}", o.code()),
    }
}

/// The evidence file stored under (`ns`, `key`), checked against the
/// `digest` it arrived with: a file missing or changed in the database is
/// reported through `corrupt`, never handed out. Shared by the cases about
/// entries and about records.
pub async fn evidence_file<E: From<crate::storage::StorageError>>(
    storage: &crate::storage::Storage,
    (ns, key): (&str, &str),
    digest: &[u8; 32],
    title: &str,
    corrupt: impl Fn(String) -> E,
) -> Result<Vec<u8>, E> {
    let content = storage
        .state(ns, key)
        .await?
        .ok_or_else(|| corrupt(format!("{ns}/{key} is missing")))?;
    if credex_journal::sha256(&content) != *digest {
        return Err(corrupt(format!(
            "{ns}/{key} ({title}) no longer matches the digest it arrived with"
        )));
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_objection_moves_forward_only() {
        use CaseAnswer::*;
        use ProcedureOutcome::*;
        use ProcedureStage::*;
        assert_eq!(next_stage(Filed, Accept), Some(Accepted));
        assert_eq!(next_stage(Filed, Refuse), Some(Refused));
        assert_eq!(next_stage(Filed, Decide(Upheld)), None, "review first");
        assert_eq!(
            next_stage(Filed, Decide(Withdrawn)),
            Some(Decided(Withdrawn))
        );
        assert_eq!(
            next_stage(Accepted, Decide(Dismissed)),
            Some(Decided(Dismissed))
        );
        assert_eq!(next_stage(Accepted, Accept), None);
        assert_eq!(next_stage(Refused, Accept), None);
        assert_eq!(next_stage(Decided(Upheld), Decide(Dismissed)), None);
    }
}
