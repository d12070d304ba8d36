//! The disclosures ledger (经手必有责): for each record of this node, every
//! region that received it and how — the index a correction, a repair or
//! an objection mark is sent from.
//!
//! The ledger is flow state in [`NS`], one row per (record, recipient,
//! channel) holding the time of the latest such disclosure. It is exactly
//! the fold of the log's [`RecordsDisclosed`] entries in log order: the
//! node writes each entry's [`ledger_writes`] in the entry's transaction,
//! and [`Ledger::from_entries`] recomputes the same rows from the log, so a
//! row added, dropped or changed behind the log's back is found by
//! [`Ledger::differences`].

use std::collections::BTreeMap;

use credex_journal::{Channel, RecordsDisclosed};
use credex_protocol::RegionCode;

use crate::flow::StateWrite;

/// Flow-state namespace of the ledger.
pub const NS: &str = "disclosures";

/// One row of the ledger: `record` reached `recipient` by `channel`, the
/// last time at `at_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disclosure {
    /// The record ([`credex_journal::record_key`]).
    pub record: [u8; 32],
    /// The region that received it (`000000`: the national platform).
    pub recipient: RegionCode,
    /// How.
    pub channel: Channel,
    /// When it last did, Unix ms.
    pub at_ms: i64,
}

/// A ledger row that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("disclosures ledger row {key:?}: {reason}")]
pub struct BadRow {
    /// The row's key.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The prefix of every row about `record` (page through it to list the
/// record's recipients).
pub fn record_prefix(record: &[u8; 32]) -> String {
    format!("{}/", hex::encode(record))
}

/// The key of (`record`, `recipient`, `channel`).
pub fn row_key(record: &[u8; 32], recipient: RegionCode, channel: Channel) -> String {
    format!("{}{recipient}/{}", record_prefix(record), channel.name())
}

/// The ledger rows one entry writes: one per record and recipient.
pub fn ledger_writes(entry: &RecordsDisclosed) -> Vec<StateWrite> {
    let channel = entry.by.channel();
    let at = entry.at_ms.to_be_bytes().to_vec();
    entry
        .records
        .iter()
        .flat_map(|record| {
            entry.recipients.iter().map(|recipient| {
                StateWrite::put(NS, row_key(record, *recipient, channel), at.clone())
            })
        })
        .collect()
}

/// Parse one stored row.
pub fn parse_row(key: &str, value: &[u8]) -> Result<Disclosure, BadRow> {
    let bad = |reason: &str| BadRow {
        key: key.to_owned(),
        reason: reason.to_owned(),
    };
    let mut parts = key.split('/');
    let (Some(record), Some(recipient), Some(channel), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("expected RECORD/RECIPIENT/CHANNEL"));
    };
    let mut record_key = [0u8; 32];
    hex::decode_to_slice(record, &mut record_key)
        .map_err(|_| bad("the record is not 64 hex digits"))?;
    let recipient: RegionCode = recipient
        .parse()
        .map_err(|_| bad("the recipient is not a region code"))?;
    let channel = Channel::from_name(channel).ok_or_else(|| bad("unknown channel"))?;
    let at: [u8; 8] = value
        .try_into()
        .map_err(|_| bad("the value is not an 8-byte time"))?;
    Ok(Disclosure {
        record: record_key,
        recipient,
        channel,
        at_ms: i64::from_be_bytes(at),
    })
}

/// The ledger as the log implies it: row key → time of the latest
/// disclosure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    rows: BTreeMap<String, i64>,
}

/// A row where the stored ledger and the log disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// The log implies the row; the store lacks it (a recipient hidden).
    Missing {
        /// The row's key.
        key: String,
    },
    /// The store holds a row no entry implies (a recipient invented).
    Extra {
        /// The row's key.
        key: String,
    },
    /// Both hold the row with another time (or the stored one is unreadable).
    Changed {
        /// The row's key.
        key: String,
        /// The time the log implies.
        logged_ms: i64,
    },
}

impl Difference {
    /// The row's key.
    pub fn key(&self) -> &str {
        match self {
            Difference::Missing { key }
            | Difference::Extra { key }
            | Difference::Changed { key, .. } => key,
        }
    }
}

impl Ledger {
    /// Fold `entries`, in log order.
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = &'a RecordsDisclosed>) -> Ledger {
        let mut ledger = Ledger::default();
        for entry in entries {
            ledger.apply(entry);
        }
        ledger
    }

    /// Apply one entry (the next in log order).
    pub fn apply(&mut self, entry: &RecordsDisclosed) {
        let channel = entry.by.channel();
        for record in &entry.records {
            for recipient in &entry.recipients {
                self.rows
                    .insert(row_key(record, *recipient, channel), entry.at_ms);
            }
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no record was ever disclosed.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Every row, parsed, in key order (grouped by record).
    pub fn disclosures(&self) -> impl Iterator<Item = Disclosure> + '_ {
        self.rows
            .iter()
            .filter_map(|(key, at)| parse_row(key, &at.to_be_bytes()).ok())
    }

    /// Where `stored` (every row of [`NS`], in any order) differs from
    /// the log, in key order.
    pub fn differences(&self, stored: &BTreeMap<String, Vec<u8>>) -> Vec<Difference> {
        let mut out = Vec::new();
        for (key, logged_ms) in &self.rows {
            match stored.get(key) {
                None => out.push(Difference::Missing { key: key.clone() }),
                Some(value) if value.as_slice() != logged_ms.to_be_bytes() => {
                    out.push(Difference::Changed {
                        key: key.clone(),
                        logged_ms: *logged_ms,
                    })
                }
                Some(_) => {}
            }
        }
        for key in stored.keys() {
            if !self.rows.contains_key(key) {
                out.push(Difference::Extra { key: key.clone() });
            }
        }
        out.sort_by(|a, b| a.key().cmp(b.key()));
        out
    }

    /// The writes that make `stored` equal to the log's ledger.
    pub fn repairs(&self, differences: &[Difference]) -> Vec<StateWrite> {
        differences
            .iter()
            .map(|d| match d {
                Difference::Extra { key } => StateWrite::delete(NS, key.clone()),
                Difference::Missing { key } | Difference::Changed { key, .. } => {
                    let at = self.rows.get(key).copied().unwrap_or_default();
                    StateWrite::put(NS, key.clone(), at.to_be_bytes().to_vec())
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use credex_journal::{DisclosedBy, ENTRY_VERSION, record_key};

    fn region(code: &str) -> RegionCode {
        code.parse().expect("region code")
    }

    fn entry(at_ms: i64, by: DisclosedBy, to: &[&str], records: &[&str]) -> RecordsDisclosed {
        RecordsDisclosed {
            version: ENTRY_VERSION,
            at_ms,
            by,
            recipients: to.iter().map(|r| region(r)).collect(),
            records: records.iter().map(|id| record_key("penalty", id)).collect(),
        }
    }

    fn stored(writes: &[StateWrite]) -> BTreeMap<String, Vec<u8>> {
        let mut map = BTreeMap::new();
        for w in writes {
            match &w.value {
                Some(v) => map.insert(w.key.clone(), v.clone()),
                None => map.remove(&w.key),
            };
        }
        map
    }

    #[test]
    fn the_written_rows_are_the_folded_rows() {
        let entries = [
            entry(
                1,
                DisclosedBy::Query {
                    query_digest: [1; 32],
                },
                &["500000"],
                &["R1", "R2"],
            ),
            entry(2, DisclosedBy::Upward { seq: 0 }, &["000000"], &["R1"]),
            entry(
                3,
                DisclosedBy::Query {
                    query_digest: [2; 32],
                },
                &["500000"],
                &["R1"],
            ),
        ];
        let writes: Vec<StateWrite> = entries.iter().flat_map(ledger_writes).collect();
        let table = stored(&writes);
        let ledger = Ledger::from_entries(&entries);
        assert_eq!(ledger.differences(&table), Vec::new());
        assert_eq!(
            ledger.len(),
            3,
            "R1→500000 by query once (latest), R1→national, R2→500000"
        );
        let r1: Vec<Disclosure> = ledger
            .disclosures()
            .filter(|d| d.record == record_key("penalty", "R1"))
            .collect();
        assert_eq!(r1.len(), 2);
        assert!(
            r1.iter()
                .any(|d| d.recipient.is_national() && d.channel == Channel::Upward)
        );
        assert!(
            r1.iter()
                .any(|d| d.recipient == region("500000") && d.at_ms == 3)
        );
    }

    #[test]
    fn a_doctored_table_is_found_and_repaired() {
        let entries = [entry(
            5,
            DisclosedBy::Query {
                query_digest: [1; 32],
            },
            &["500000", "440000"],
            &["R1"],
        )];
        let ledger = Ledger::from_entries(&entries);
        let mut table = stored(&ledger_writes(&entries[0]));
        let hidden = row_key(
            &record_key("penalty", "R1"),
            region("440000"),
            Channel::Query,
        );
        table.remove(&hidden);
        let invented = row_key(
            &record_key("penalty", "R9"),
            region("450000"),
            Channel::Query,
        );
        table.insert(invented.clone(), 5i64.to_be_bytes().to_vec());
        let changed = row_key(
            &record_key("penalty", "R1"),
            region("500000"),
            Channel::Query,
        );
        table.insert(changed.clone(), 4i64.to_be_bytes().to_vec());

        let found = ledger.differences(&table);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found.contains(&Difference::Missing { key: hidden }));
        assert!(found.contains(&Difference::Extra { key: invented }));
        assert!(found.contains(&Difference::Changed {
            key: changed,
            logged_ms: 5
        }));

        let repaired = {
            let mut t = table.clone();
            for w in ledger.repairs(&found) {
                match w.value {
                    Some(v) => t.insert(w.key, v),
                    None => t.remove(&w.key),
                };
            }
            t
        };
        assert_eq!(ledger.differences(&repaired), Vec::new());
    }

    #[test]
    fn rows_parse_back_and_bad_rows_say_why() {
        let key = row_key(
            &record_key("penalty", "R1"),
            region("520000"),
            Channel::ListPush,
        );
        let row = parse_row(&key, &7i64.to_be_bytes()).expect("parses");
        assert_eq!(row.channel, Channel::ListPush);
        assert_eq!(row.at_ms, 7);
        for (key, value, why) in [
            ("abc/520000/query", &7i64.to_be_bytes()[..], "64 hex"),
            (&key[..], &[1u8, 2][..], "8-byte"),
            ("x", &[0u8; 8][..], "RECORD/RECIPIENT/CHANNEL"),
        ] {
            let err = parse_row(key, value).expect_err("refused");
            assert!(err.to_string().contains(why), "{err}");
        }
        let wrong_channel = key.replace("list-push", "gossip");
        assert!(parse_row(&wrong_channel, &[0; 8]).is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const REGIONS: [&str; 4] = ["000000", "440000", "500000", "450000"];

        fn an_entry() -> impl Strategy<Value = RecordsDisclosed> {
            (
                0i64..1_000,
                0u8..3,
                proptest::collection::btree_set(0usize..4, 1..4),
                proptest::collection::vec(0u8..6, 1..5),
            )
                .prop_map(|(at_ms, how, to, records)| RecordsDisclosed {
                    version: ENTRY_VERSION,
                    at_ms,
                    by: match how {
                        0 => DisclosedBy::Query {
                            query_digest: [how; 32],
                        },
                        1 => DisclosedBy::Upward { seq: 0 },
                        _ => DisclosedBy::ListPush {
                            entry: "520000-000102030405060708090a0b0c0d0e0f"
                                .parse()
                                .expect("an entry id"),
                        },
                    },
                    recipients: to.into_iter().map(|i| region(REGIONS[i])).collect(),
                    records: records
                        .into_iter()
                        .map(|r| record_key("penalty", &format!("R{r}")))
                        .collect(),
                })
        }

        proptest! {
            /// Whatever the entries, the rows written with them are the
            /// rows the fold recomputes; and any doctoring of the table is
            /// found, and the repairs undo it.
            #[test]
            fn the_stored_ledger_is_the_fold_and_doctoring_is_undone(
                entries in proptest::collection::vec(an_entry(), 0..12),
                drop_first in any::<bool>(),
                invent in any::<bool>(),
            ) {
                let writes: Vec<StateWrite> = entries.iter().flat_map(ledger_writes).collect();
                let mut table = stored(&writes);
                let ledger = Ledger::from_entries(&entries);
                prop_assert_eq!(ledger.differences(&table), Vec::new());
                prop_assert_eq!(ledger.len(), table.len());
                let mut doctored = false;
                if drop_first && let Some(key) = table.keys().next().cloned() {
                    table.remove(&key);
                    doctored = true;
                }
                if invent {
                    let key = row_key(&record_key("penalty", "invented"), region("110000"), Channel::Query);
                    table.insert(key, 1i64.to_be_bytes().to_vec());
                    doctored = true;
                }
                let found = ledger.differences(&table);
                prop_assert_eq!(!found.is_empty(), doctored);
                for w in ledger.repairs(&found) {
                    match w.value {
                        Some(v) => table.insert(w.key, v),
                        None => table.remove(&w.key),
                    };
                }
                prop_assert_eq!(ledger.differences(&table), Vec::new());
            }
        }
    }
}
