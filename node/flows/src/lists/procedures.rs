//! The subject's procedures against an entry (异议, 信用修复), the receiving
//! sides: at the origin, an objection or a repair application routed by a
//! holder opens a case, marked `filed` on every region holding the entry
//! in the same transaction; at a holder, the origin's mark of a case is
//! recorded unless it goes back.
//!
//! A repair application is checked before a case opens: every evidence
//! file against its digest, and the entry's listing period against the
//! rights rules (`RightsRules::eligibility`) — an application made before
//! the minimum period is refused with the first day it may be made.
//!
//! Moving a case (accept, refuse, decide) is the operator's, in the node
//! (`credex_node::lists::procedures`).

use credex_journal::sha256;
use credex_policies::egress::{list_type, release_procedure_mark};
use credex_policies::repair::Eligibility;
use credex_protocol::RegionCode;
use credex_protocol::lists::{
    EntryId, Objection, Procedure, ProcedureMark, ProcedureStage, RepairApplication,
};

use super::state::{
    CASES_NS, EVIDENCE_NS, EvidenceHeld, HeldEntry, MARKS_NS, MarkHeld, OBJECTIONS_NS,
    ObjectionTrack, OwnEntry, ProcedureCase, REPAIRS_NS, RepairTrack, TRACK_NS, case_key,
    evidence_key, holders, mark_key,
};
use super::{Lists, held_key, transient};
use crate::calendar::{china_date, date_text, parse_date};
use crate::flow::{Context, Effect, Peer, Refusal, Refused, StateWrite, View};

/// The order of a case's stages: filed, accepted, then an end.
fn stage_rank(stage: ProcedureStage) -> u8 {
    match stage {
        ProcedureStage::Filed => 0,
        ProcedureStage::Accepted => 1,
        ProcedureStage::Refused | ProcedureStage::Decided(_) => 2,
    }
}

/// Refused unless a mark of case `key` moving it from `before` to `now`
/// (procedure, stage) keeps the procedure and does not go back — whatever
/// the case is about.
pub(crate) fn forward_only(
    key: &str,
    before: (Procedure, ProcedureStage),
    now: (Procedure, ProcedureStage),
) -> Result<(), Refused> {
    if before.0 != now.0 {
        return Err(Refused::Invalid(format!(
            "case {key} is a {}, not a {}",
            before.0.code(),
            now.0.code()
        )));
    }
    if stage_rank(now.1) < stage_rank(before.1) {
        return Err(Refused::Stale(format!(
            "{} {key} is already {}, not back to {}",
            now.0.code(),
            before.1.code(),
            now.1.code()
        )));
    }
    Ok(())
}

/// A case filed at the origin itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalFiling {
    /// An objection (异议).
    Objection(Objection),
    /// A credit repair application (信用修复申请).
    Repair(RepairApplication),
}

/// Where and under which id a case was filed: the region the subject
/// filed it in (the sender, or this region for a case filed at the origin
/// itself) and the case's id (the filing message's id, or a fresh one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filed {
    /// The region the subject filed it in.
    pub region: RegionCode,
    /// The case's id.
    pub case: [u8; 16],
}

impl Lists {
    /// An objection to an entry this region sent to the sender: recorded,
    /// and a case opened and marked on every holder while the entry is in
    /// force.
    pub(super) fn objection(
        &self,
        now_ms: i64,
        view: &View,
        filed: Filed,
        objection: Objection,
    ) -> Result<Effect, Refusal> {
        objection
            .validate()
            .map_err(|e| Refused::Invalid(e.to_string()))?;
        let own = self.own_sent_to(view, &objection.entry, filed.region)?;
        let id = objection.entry;
        let key = case_key(&id, filed.region, &filed.case);
        let track = ObjectionTrack {
            at_ms: now_ms,
            reason: objection.reason,
        };
        let state =
            vec![StateWrite::encoded(OBJECTIONS_NS, key.clone(), &track).map_err(transient)?];
        if own.ended.is_some() {
            // Nothing is published any more: recorded, nobody to mark.
            return Ok(Effect {
                state,
                summary: format!("objection to entry {id} recorded (the entry has ended)"),
                ..Effect::default()
            });
        }
        self.open_case(now_ms, view, filed, Procedure::Objection, id, state)
    }

    /// A repair application for an entry this region sent to the sender:
    /// refused unless its evidence matches its digests and the entry's
    /// minimum period has passed; otherwise recorded with its evidence, and
    /// a case opened and marked on every holder.
    pub(super) fn repair_application(
        &self,
        now_ms: i64,
        view: &View,
        filed: Filed,
        application: RepairApplication,
    ) -> Result<Effect, Refusal> {
        application
            .validate(sha256)
            .map_err(|e| Refused::Invalid(e.to_string()))?;
        let own = self.own_sent_to(view, &application.entry, filed.region)?;
        let id = application.entry;
        if let Some(ended) = own.ended {
            return Err(Refused::Invalid(format!(
                "entry {id} has ended ({}): there is nothing to repair",
                ended.change
            ))
            .into());
        }
        self.repairable(&own, now_ms)?;
        let key = case_key(&id, filed.region, &filed.case);
        let mut state = Vec::new();
        let mut evidence = Vec::new();
        for (index, file) in application.evidence.into_iter().enumerate() {
            evidence.push(EvidenceHeld {
                kind: file.kind,
                title: file.title,
                digest: file.digest,
                len: file.content.len() as u64,
            });
            state.push(StateWrite::put(
                EVIDENCE_NS,
                evidence_key(&filed.case, index),
                file.content,
            ));
        }
        let track = RepairTrack {
            at_ms: now_ms,
            statement: application.statement,
            evidence,
        };
        state.push(StateWrite::encoded(REPAIRS_NS, key, &track).map_err(transient)?);
        self.open_case(now_ms, view, filed, Procedure::Repair, id, state)
    }

    /// A case the subject files at the origin itself, about one of its own
    /// entries: opened by the same decision as one routed by a holder, with
    /// `case` as its id. `reads` names what to read first.
    pub fn file_here(
        &self,
        now_ms: i64,
        view: &View,
        case: [u8; 16],
        filing: LocalFiling,
    ) -> Result<Effect, Refusal> {
        let filed = Filed {
            region: self.region,
            case,
        };
        match filing {
            LocalFiling::Objection(o) => self.objection(now_ms, view, filed, o),
            LocalFiling::Repair(a) => self.repair_application(now_ms, view, filed, a),
        }
    }

    /// Refused unless a repair of `own` may be applied for on the China day
    /// of `now_ms` under this region's rights rules.
    fn repairable(&self, own: &OwnEntry, now_ms: i64) -> Result<(), Refusal> {
        let entry = &own.entry;
        let category = list_type(entry.list_type).catalogue_category();
        let (Some(listed), Some(today)) = (parse_date(&entry.entry_date), china_date(now_ms))
        else {
            return Err(Refusal::Transient(format!(
                "entry {}'s date {:?} or today cannot be read",
                entry.id, entry.entry_date
            )));
        };
        match self.rights.eligibility(category, None, listed, today) {
            Eligibility::Repairable { .. } => Ok(()),
            Eligibility::TooEarly { from } => Err(Refused::Invalid(format!(
                "entry {} ({category}, listed {}) may be repaired from {} (信用修复 before the minimum period)",
                entry.id,
                entry.entry_date,
                date_text(from)
            ))
            .into()),
            Eligibility::Ended { on } => Err(Refused::Invalid(format!(
                "entry {}'s publication ended on {}: there is nothing to repair",
                entry.id,
                date_text(on)
            ))
            .into()),
            Eligibility::NotPublished => Err(Refused::Invalid(format!(
                "entry {} is on a list ({category}) with no repair procedure",
                entry.id
            ))
            .into()),
        }
    }

    /// Open the case of `procedure` about entry `id` that `from` filed in
    /// `envelope`: `filed` with its acceptance deadline, and marked on every
    /// region holding the entry, with `state` in the same transaction.
    #[allow(clippy::too_many_arguments)]
    fn open_case(
        &self,
        now_ms: i64,
        view: &View,
        filed: Filed,
        procedure: Procedure,
        id: EntryId,
        mut state: Vec<StateWrite>,
    ) -> Result<Effect, Refusal> {
        let key = case_key(&id, filed.region, &filed.case);
        let deadlines = self.deadlines(procedure);
        let mark = ProcedureMark {
            procedure,
            entry: id,
            case: filed.case,
            filed_in: filed.region,
            stage: ProcedureStage::Filed,
            accept_by: self.deadline_date(now_ms, deadlines.accept_working_days),
            decide_by: None,
            note: String::new(),
        };
        let case = ProcedureCase {
            mark: mark.clone(),
            filed_at_ms: now_ms,
            updated_at_ms: now_ms,
        };
        state.push(StateWrite::encoded(CASES_NS, key, &case).map_err(transient)?);
        let holders = holders(&id, view.prefixed(TRACK_NS, &format!("{id}/")))
            .map_err(|e| Refusal::Transient(format!("entry {id}'s tracks: {e}")))?;
        let send = holders
            .iter()
            .map(|region| release_procedure_mark(*region, &mark).map_err(transient))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Effect {
            state,
            summary: format!(
                "{} about entry {id} recorded; accept or refuse by {}; marked on {} holder(s)",
                procedure.code(),
                mark.accept_by,
                send.len()
            ),
            send,
            ..Effect::default()
        })
    }

    /// The origin's mark of a case about an entry held here: recorded
    /// unless it goes back (a stage never returns to an earlier one).
    pub(super) fn procedure_mark(
        &self,
        cx: &Context<'_>,
        view: &View,
        from: &Peer,
        mark: ProcedureMark,
    ) -> Result<Effect, Refusal> {
        mark.validate()
            .map_err(|e| Refused::Invalid(e.to_string()))?;
        let id = mark.entry;
        if id.origin != from.region {
            return Err(Refused::NotEntitled(format!(
                "entry {id} was made by region {}; region {} cannot mark cases about it",
                id.origin, from.region
            ))
            .into());
        }
        let held = held_key(&id);
        if view.decoded::<HeldEntry>(&held.ns, &held.key)?.is_none() {
            return Err(Refused::NotHeld(format!("this region holds no entry {id}")).into());
        }
        let key = mark_key(&id, &mark.case);
        if let Some(before) = view.decoded::<MarkHeld>(MARKS_NS, &key)? {
            forward_only(
                &key,
                (before.mark.procedure, before.mark.stage),
                (mark.procedure, mark.stage),
            )?;
        }
        let summary = format!(
            "{} {key} about entry {id}: {}",
            mark.procedure.code(),
            mark.stage.code()
        );
        let held = MarkHeld {
            mark,
            at_ms: cx.now_ms,
        };
        Ok(Effect {
            state: vec![StateWrite::encoded(MARKS_NS, key, &held).map_err(transient)?],
            summary,
            ..Effect::default()
        })
    }
}
