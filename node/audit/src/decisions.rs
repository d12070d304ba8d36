//! Decided cases as the auditor sees them (decision 0960): a decision the
//! origin marked on every holder must take effect in its own log. An
//! objection upheld (异议成立) must be followed by the entry's revocation; a
//! repair granted (准予信用修复) by the entry's `repair` change, and — for
//! every record the entry rested on, which the log entered as pushed with
//! the listing — by a `records_changed` entry that ends the record's
//! publication, so the correction sweep tells its recipients.
//!
//! An entry that had already ended before the decision owes no change.
//!
//! Cases about records (decision 0980) likewise: an objection upheld must
//! be followed by a `records_changed` entry deleting the record, a repair
//! granted by one naming it repaired (or deleted).

use std::collections::BTreeMap;

use credex_journal::{
    CaseMarked, ChangeInitiated, DisclosedBy, ProcedureMarked, RecordsChanged, RecordsDisclosed,
};
use credex_protocol::lists::{ChangeKind, EntryId, Procedure, ProcedureOutcome, ProcedureStage};

use crate::disclosures::Finding;

/// One log's decided cases and what followed them.
pub struct Decisions<'a> {
    /// (leaf index, entry) of every case moved by this log's node.
    pub marked: &'a [(u64, ProcedureMarked)],
    /// (leaf index, entry) of every case about a record of this log's
    /// node opened or moved.
    pub record_cases: &'a [(u64, CaseMarked)],
    /// (leaf index, entry) of every change of an entry made here.
    pub changes: &'a [(u64, ChangeInitiated)],
    /// (leaf index, entry) of every disclosure entered in the ledger.
    pub disclosures: &'a [(u64, RecordsDisclosed)],
    /// (leaf index, entry) of every record change.
    pub record_changes: &'a [(u64, RecordsChanged)],
}

impl Decisions<'_> {
    /// The findings, by the leaf index of the decision.
    pub fn check(&self) -> Vec<(u64, Finding)> {
        let mut out = Vec::new();
        // Each entry's changes, in log order.
        let mut changes: BTreeMap<EntryId, Vec<(u64, ChangeKind)>> = BTreeMap::new();
        for (index, c) in self.changes {
            changes.entry(c.entry).or_default().push((*index, c.change));
        }
        for (index, m) in self.marked {
            let owed = match (m.procedure, m.stage) {
                (Procedure::Objection, ProcedureStage::Decided(ProcedureOutcome::Upheld)) => {
                    ChangeKind::Revoke
                }
                (Procedure::Repair, ProcedureStage::Decided(ProcedureOutcome::Granted)) => {
                    ChangeKind::Repair
                }
                _ => continue,
            };
            let of_entry = changes.get(&m.entry).map(Vec::as_slice).unwrap_or_default();
            let ended_before = of_entry.iter().any(|(at, c)| at < index && c.ends_entry());
            let followed = of_entry.iter().any(|(at, c)| at > index && *c == owed);
            if !ended_before && !followed {
                out.push((
                    *index,
                    (
                        "decision_not_carried_out",
                        format!(
                            "{} {} about entry {} was decided {}, but no {owed} change of the entry follows",
                            m.procedure.code(),
                            &hex::encode(m.case)[..16],
                            m.entry,
                            m.stage.code()
                        ),
                    ),
                ));
            }
            if owed == ChangeKind::Repair {
                out.extend(self.still_published(*index, m));
            }
        }
        out.extend(self.records_not_withdrawn());
        out
    }

    /// Decisions about records that no later `records_changed` entry
    /// carries out.
    fn records_not_withdrawn(&self) -> Vec<(u64, Finding)> {
        let mut out = Vec::new();
        for (index, m) in self.record_cases {
            let repaired = match (m.procedure, m.stage) {
                (Procedure::Objection, ProcedureStage::Decided(ProcedureOutcome::Upheld)) => false,
                (Procedure::Repair, ProcedureStage::Decided(ProcedureOutcome::Granted)) => true,
                _ => continue,
            };
            let withdrawn = self.record_changes.iter().any(|(at, c)| {
                *at > *index
                    && (c.deleted.contains(&m.record)
                        || (repaired && c.repaired.contains(&m.record)))
            });
            if !withdrawn {
                out.push((
                    *index,
                    (
                        "decision_not_carried_out",
                        format!(
                            "{} {} about record {} was decided {}, but the record was never withdrawn",
                            m.procedure.code(),
                            &hex::encode(m.case)[..16],
                            &hex::encode(m.record)[..16],
                            m.stage.code()
                        ),
                    ),
                ));
            }
        }
        out
    }

    /// The records entry `m.entry` rested on that no `records_changed`
    /// entry after the grant at `index` ends the publication of.
    fn still_published(&self, index: u64, m: &ProcedureMarked) -> Vec<(u64, Finding)> {
        let rested_on = self.disclosures.iter().filter_map(|(_, d)| match d.by {
            DisclosedBy::ListPush { entry } if entry == m.entry => Some(&d.records),
            _ => None,
        });
        let mut out = Vec::new();
        for record in rested_on.flatten() {
            let ended = self.record_changes.iter().any(|(at, c)| {
                *at > index && (c.repaired.contains(record) || c.deleted.contains(record))
            });
            if !ended {
                out.push((
                    index,
                    (
                        "repaired_record_still_published",
                        format!(
                            "repair {} of entry {} was granted, but record {} it rests on was never withdrawn",
                            &hex::encode(m.case)[..16],
                            m.entry,
                            &hex::encode(record)[..16]
                        ),
                    ),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use credex_journal::ENTRY_VERSION;

    fn entry() -> EntryId {
        "520000-000102030405060708090a0b0c0d0e0f".parse().unwrap()
    }

    fn marked(procedure: Procedure, outcome: ProcedureOutcome) -> ProcedureMarked {
        ProcedureMarked {
            version: ENTRY_VERSION,
            at_ms: 1,
            procedure,
            entry: entry(),
            case: [3; 16],
            stage: ProcedureStage::Decided(outcome),
            note_digest: [0; 32],
            sent_to: Vec::new(),
        }
    }

    fn change(change: ChangeKind) -> ChangeInitiated {
        ChangeInitiated {
            version: ENTRY_VERSION,
            at_ms: 2,
            entry: entry(),
            revision: 1,
            change,
            change_digest: [0; 32],
            sent_to: Vec::new(),
        }
    }

    fn pushed(record: [u8; 32]) -> RecordsDisclosed {
        RecordsDisclosed {
            version: ENTRY_VERSION,
            at_ms: 0,
            by: DisclosedBy::ListPush { entry: entry() },
            recipients: Vec::new(),
            records: vec![record],
        }
    }

    fn rules(d: &Decisions<'_>) -> Vec<&'static str> {
        d.check().into_iter().map(|(_, (rule, _))| rule).collect()
    }

    #[test]
    fn a_grant_must_end_the_entry_and_withdraw_its_record() {
        let marked = [(5, marked(Procedure::Repair, ProcedureOutcome::Granted))];
        let disclosures = [(1, pushed([7; 32]))];
        let nothing = Decisions {
            marked: &marked,
            record_cases: &[],
            changes: &[],
            disclosures: &disclosures,
            record_changes: &[],
        };
        assert_eq!(
            rules(&nothing),
            [
                "decision_not_carried_out",
                "repaired_record_still_published"
            ]
        );
        let changes = [(6, change(ChangeKind::Repair))];
        let withdrawn = [(7, RecordsChanged::repaired(3, vec![[7; 32]]))];
        let done = Decisions {
            marked: &marked,
            record_cases: &[],
            changes: &changes,
            disclosures: &disclosures,
            record_changes: &withdrawn,
        };
        assert!(rules(&done).is_empty());
        // A withdrawal before the grant is not the grant's.
        let early = [(4, RecordsChanged::repaired(3, vec![[7; 32]]))];
        let before = Decisions {
            record_changes: &early,
            ..done
        };
        assert_eq!(rules(&before), ["repaired_record_still_published"]);
    }

    #[test]
    fn an_upheld_objection_must_revoke_unless_the_entry_had_ended() {
        let marked = [(5, marked(Procedure::Objection, ProcedureOutcome::Upheld))];
        let wrong = [(6, change(ChangeKind::Repair))];
        let d = Decisions {
            marked: &marked,
            record_cases: &[],
            changes: &wrong,
            disclosures: &[],
            record_changes: &[],
        };
        assert_eq!(rules(&d), ["decision_not_carried_out"]);
        let ended = [(2, change(ChangeKind::Exit))];
        let d = Decisions {
            changes: &ended,
            ..d
        };
        assert!(rules(&d).is_empty());
        let dismissed = [(
            5,
            super::tests::marked(Procedure::Objection, ProcedureOutcome::Dismissed),
        )];
        let d = Decisions {
            marked: &dismissed,
            changes: &[],
            ..d
        };
        assert!(rules(&d).is_empty());
    }

    #[test]
    fn a_decision_about_a_record_must_withdraw_it() {
        let case = |procedure, outcome| CaseMarked {
            version: ENTRY_VERSION,
            at_ms: 1,
            procedure,
            record: [9; 32],
            case: [4; 16],
            stage: ProcedureStage::Decided(outcome),
            text_digest: [0; 32],
            sent_to: Vec::new(),
        };
        let upheld = [(5, case(Procedure::Objection, ProcedureOutcome::Upheld))];
        let none = Decisions {
            marked: &[],
            record_cases: &upheld,
            changes: &[],
            disclosures: &[],
            record_changes: &[],
        };
        assert_eq!(rules(&none), ["decision_not_carried_out"]);
        // A repair's withdrawal is not an upheld objection's deletion.
        let repaired = [(6, RecordsChanged::repaired(2, vec![[9; 32]]))];
        let wrong = Decisions {
            record_changes: &repaired,
            ..none
        };
        assert_eq!(rules(&wrong), ["decision_not_carried_out"]);
        let deleted = RecordsChanged::entries(2, &[], &[[9; 32]]);
        let deleted = [(6, deleted[0].clone())];
        let done = Decisions {
            record_changes: &deleted,
            ..none
        };
        assert!(rules(&done).is_empty());
        let granted = [(5, case(Procedure::Repair, ProcedureOutcome::Granted))];
        let repair_done = Decisions {
            record_cases: &granted,
            record_changes: &repaired,
            ..none
        };
        assert!(rules(&repair_done).is_empty());
        let dismissed = [(5, case(Procedure::Objection, ProcedureOutcome::Dismissed))];
        let nothing_owed = Decisions {
            record_cases: &dismissed,
            ..none
        };
        assert!(rules(&nothing_owed).is_empty());
    }
}
