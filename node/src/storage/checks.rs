//! Reads for many subjects at once, for the gateway's credit checks: the
//! credit records of a set of subject keys, and the flow state under a set
//! of key prefixes — each one statement per [`SUBJECTS_PER_READ`] subjects
//! rather than one per subject. Read only, cancel-safe.

use super::engine::Engine;
use super::records::StoredRecord;
use super::{MAX_RECORDS_PER_QUERY, Storage, StorageError};

/// Most subjects (or prefixes) one statement names; a larger set is read in
/// several statements (SQLite binds at most 32,766 parameters).
pub const SUBJECTS_PER_READ: usize = 500;

/// A stored record and the subject key it is stored under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectRecord {
    /// The subject key (a USCC, or a node-local `n:` key of a person).
    pub subject_key: String,
    /// The record.
    pub record: StoredRecord,
}

impl Storage {
    /// Every record of each of `subject_keys`, in any category, ordered by
    /// subject key, category and record id. A subject with more than
    /// [`MAX_RECORDS_PER_QUERY`] records is refused with
    /// [`StorageError::TooManyRecords`], as [`Storage::records_for`] does.
    /// Cancel-safe (read only).
    pub async fn records_of_subjects(
        &self,
        subject_keys: &[String],
    ) -> Result<Vec<SubjectRecord>, StorageError> {
        let mut out = Vec::new();
        for chunk in subject_keys.chunks(SUBJECTS_PER_READ) {
            let limit = chunk.len() * MAX_RECORDS_PER_QUERY + 1;
            let rows = match &self.inner.engine {
                Engine::Sqlite(e) => e.records_of_subjects(chunk, limit).await?,
                Engine::Postgres(e) => e.records_of_subjects(chunk, limit).await?,
            };
            too_many_per_subject(&rows)?;
            for mut r in rows {
                let row = super::at_rest::Row::Record {
                    category: &r.record.category,
                    record_id: &r.record.record_id,
                };
                r.record.body = self
                    .open_value(row, std::mem::take(&mut r.record.body))
                    .await?;
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The flow state of `ns` whose keys start with one of `prefixes`, as
    /// (key, value), at most `limit` rows per [`SUBJECTS_PER_READ`]
    /// prefixes. Cancel-safe (read only).
    pub async fn state_with_prefixes(
        &self,
        ns: &str,
        prefixes: &[String],
        limit: u32,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let mut out = Vec::new();
        for chunk in prefixes.chunks(SUBJECTS_PER_READ) {
            let ranges: Vec<(String, String)> = chunk.iter().map(|p| prefix_range(p)).collect();
            let rows = match &self.inner.engine {
                Engine::Sqlite(e) => e.state_in_ranges(ns, &ranges, limit).await?,
                Engine::Postgres(e) => e.state_in_ranges(ns, &ranges, limit).await?,
            };
            out.extend(self.open_state(ns, rows).await?);
        }
        Ok(out)
    }
}

fn too_many_per_subject(rows: &[SubjectRecord]) -> Result<(), StorageError> {
    let mut run = 0usize;
    let mut last: Option<&str> = None;
    for r in rows {
        if last == Some(r.subject_key.as_str()) {
            run += 1;
        } else {
            run = 1;
            last = Some(&r.subject_key);
        }
        if run > MAX_RECORDS_PER_QUERY {
            return Err(StorageError::TooManyRecords {
                max: MAX_RECORDS_PER_QUERY,
            });
        }
    }
    Ok(())
}

/// The key range `[prefix, end)` of the keys starting with `prefix`: `end`
/// is `prefix` with its last character incremented (keys here are ASCII;
/// a prefix ending in the last character falls back to an open end).
fn prefix_range(prefix: &str) -> (String, String) {
    let mut end = prefix.to_owned();
    match end.pop().and_then(|c| char::from_u32(c as u32 + 1)) {
        Some(next) => end.push(next),
        None => end = String::from("\u{10FFFF}"),
    }
    (prefix.to_owned(), end)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_range_covers_exactly_the_keys_under_it() {
        let (lo, hi) = prefix_range("91520100MA6DKXXXXX/");
        assert_eq!(hi, "91520100MA6DKXXXXX0");
        for key in [
            "91520100MA6DKXXXXX/",
            "91520100MA6DKXXXXX/public_credit/440000",
        ] {
            assert!(lo.as_str() <= key && key < hi.as_str());
        }
        assert!("91520100MA6DKXXXXX0/x" >= hi.as_str());
        assert!("91520100MA6DKXXXXW/x" < lo.as_str());
    }
}
