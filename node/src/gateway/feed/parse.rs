//! Reading a feed batch: every line decoded and validated against the
//! catalogue with the rules of `credex records import`
//! ([`crate::records`]), each bad line a [`LineProblem`] naming its line and
//! member. Nothing here touches the store.

use std::collections::HashMap;

use credex_policies::{Catalogue, SubjectId};

use super::api::{ChangeOp, RecordChange};
use crate::gateway::body::decode_json;
use crate::gateway::problem::{LineProblem, Problem, ProblemType};
use crate::records::{RawRow, raw_row, validate_row, validate_subject};
use crate::storage::{MAX_FEED_SOURCE_LEN, RecordRow};

/// One valid change of a batch.
pub(super) struct Change {
    /// Its 1-based line in the batch.
    pub(super) line: u64,
    /// The source (提供方).
    pub(super) source: String,
    /// The source's sequence number.
    pub(super) seq: u64,
    /// The subject (a citizen ID is only held here, never logged).
    pub(super) subject: SubjectId,
    /// What to do.
    pub(super) action: Action,
}

/// A line's place in its source's sequence (every line whose `source` and
/// `seq` are valid, whatever else is wrong with it).
pub(super) struct Sequenced {
    /// Its 1-based line.
    pub(super) line: u64,
    /// The source.
    pub(super) source: String,
    /// The source's sequence number.
    pub(super) seq: u64,
}

/// A batch read: its valid changes, every line's sequence place, and the
/// bad lines.
pub(super) struct ParsedBatch {
    pub(super) changes: Vec<Change>,
    pub(super) sequenced: Vec<Sequenced>,
    pub(super) bad: Vec<BadLine>,
}

/// What a change does to the stored record.
pub(super) enum Action {
    /// Insert or replace this record (subject key still empty).
    Upsert(RecordRow),
    /// Delete the record `(category, record_id)` of the subject.
    Delete {
        /// Catalogue category.
        category: String,
        /// The record's id.
        record_id: String,
    },
}

impl Action {
    fn key(&self) -> (&str, &str) {
        match self {
            Action::Upsert(row) => (&row.category, &row.record_id),
            Action::Delete {
                category,
                record_id,
            } => (category, record_id),
        }
    }
}

/// A problem of one line, with its type kept for the batch's problem.
pub(super) struct BadLine {
    pub(super) kind: ProblemType,
    pub(super) problem: LineProblem,
}

impl BadLine {
    pub(super) fn new(line: u64, kind: ProblemType, field: Option<String>, detail: String) -> Self {
        BadLine {
            kind,
            problem: LineProblem {
                line,
                kind: kind.uri(),
                field,
                detail,
            },
        }
    }
}

/// The lines of `body` (one JSON object when `single`), each a change or a
/// bad line. Blank NDJSON lines are skipped but counted.
pub(super) fn parse_batch(body: &[u8], single: bool, catalogue: &Catalogue) -> ParsedBatch {
    let mut changes = Vec::new();
    let mut sequenced = Vec::new();
    let mut bad = Vec::new();
    let lines: Vec<&[u8]> = if single {
        vec![body]
    } else {
        body.split(|b| *b == b'\n').collect()
    };
    let mut seen: HashMap<(String, String), u64> = HashMap::new();
    for (i, raw) in lines.into_iter().enumerate() {
        let line = i as u64 + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if !single && raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let (place, parsed) = parse_line(line, raw, catalogue);
        sequenced.extend(place);
        match parsed {
            Ok(change) => {
                let (category, record_id) = change.action.key();
                let key = (category.to_owned(), record_id.to_owned());
                if let Some(first) = seen.get(&key) {
                    bad.push(BadLine::new(
                        line,
                        ProblemType::FieldInvalid,
                        Some("/record/record_id".into()),
                        format!(
                            "record {record_id:?} of {category} is already changed on line {first} \
                             of this batch; send the later change in the next batch"
                        ),
                    ));
                } else {
                    seen.insert(key, line);
                    changes.push(change);
                }
            }
            Err(problem) => bad.push(problem),
        }
    }
    if changes.is_empty() && bad.is_empty() {
        bad.push(BadLine::new(
            1,
            ProblemType::BodyMalformed,
            None,
            "the batch holds no change".into(),
        ));
    }
    ParsedBatch {
        changes,
        sequenced,
        bad,
    }
}

/// The line's sequence place (if its envelope is valid) and its change.
fn parse_line(
    line: u64,
    raw: &[u8],
    catalogue: &Catalogue,
) -> (Option<Sequenced>, Result<Change, BadLine>) {
    let change: RecordChange = match decode_json(raw) {
        Ok(change) => change,
        Err(p) => return (None, Err(from_decode(line, &p))),
    };
    let place = (check_source(&change.source).is_ok()
        && change.seq != 0
        && i64::try_from(change.seq).is_ok())
    .then(|| Sequenced {
        line,
        source: change.source.clone(),
        seq: change.seq,
    });
    (place, change_of(line, change, catalogue))
}

fn change_of(line: u64, change: RecordChange, catalogue: &Catalogue) -> Result<Change, BadLine> {
    let fail = |field: &str, detail: String| {
        BadLine::new(
            line,
            ProblemType::FieldInvalid,
            Some(field.to_owned()),
            detail,
        )
    };
    check_source(&change.source).map_err(|d| fail("/source", d))?;
    if change.seq == 0 || i64::try_from(change.seq).is_err() {
        return Err(fail(
            "/seq",
            "seq must be 1 or more (each source counts from 1)".into(),
        ));
    }
    let mut record = change.record;
    let category = match record.remove("category") {
        Some(serde_json::Value::String(c)) => c,
        Some(_) => return Err(fail("/record/category", "expected a string".into())),
        None => return Err(fail("/record/category", "missing category".into())),
    };
    let cat = catalogue.category(&category).ok_or_else(|| {
        fail(
            "/record/category",
            format!("category {category:?} is not in the catalogue"),
        )
    })?;
    let at = |key: Option<String>| match key {
        Some(k) => format!("/record/{}", k.replace('~', "~0").replace('/', "~1")),
        None => "/record".to_owned(),
    };
    let mut row = raw_row(record).map_err(|p| fail(&at(p.key), p.reason))?;
    let (subject, action) = match change.op {
        ChangeOp::Upsert => {
            let (subject, record) =
                validate_row(cat, row).map_err(|p| fail(&at(p.key), p.reason))?;
            (subject, Action::Upsert(record))
        }
        ChangeOp::Delete => {
            delete_of(&category, &mut row).map_err(|(k, d)| fail(&at(Some(k)), d))?
        }
    };
    if let Some(scheme) = issued_result_scheme(&category, action.key().1) {
        return Err(fail(
            "/record/record_id",
            format!(
                "{category} record {:?} holds this region's signed {scheme} result; \
                 issue or revoke it with `credex eval`, not the feed",
                action.key().1
            ),
        ));
    }
    Ok(Change {
        line,
        source: change.source,
        seq: change.seq,
        subject,
        action,
    })
}

/// A delete names its record and subject, and nothing else.
fn delete_of(category: &str, row: &mut RawRow) -> Result<(SubjectId, Action), (String, String)> {
    let record_id = row
        .remove("record_id")
        .filter(|s| !s.trim().is_empty() && s.len() <= 128)
        .ok_or_else(|| {
            (
                "record_id".to_owned(),
                "missing record_id (1 to 128 characters)".to_owned(),
            )
        })?;
    let subject = validate_subject(row).map_err(|p| ("subject".to_owned(), p.reason))?;
    if let Some(key) = row.keys().next() {
        return Err((
            key.clone(),
            "a delete names only category, record_id and subject".to_owned(),
        ));
    }
    Ok((
        subject,
        Action::Delete {
            category: category.to_owned(),
            record_id,
        },
    ))
}

/// The scheme whose issued result `(category, record_id)` is
/// (`eval-{scheme}-{subject}` in the scheme's category, written by
/// `credex eval`).
fn issued_result_scheme(
    category: &str,
    record_id: &str,
) -> Option<credex_protocol::evaluation::Scheme> {
    credex_policies::egress::evaluation_of_record(category, record_id).map(|(s, _)| s)
}

fn check_source(source: &str) -> Result<(), String> {
    if source.is_empty() || source.len() > MAX_FEED_SOURCE_LEN {
        return Err(format!(
            "source must be 1..={MAX_FEED_SOURCE_LEN} bytes, got {}",
            source.len()
        ));
    }
    if source.chars().any(char::is_control) {
        return Err("source must not hold control characters".into());
    }
    Ok(())
}

/// A decoding problem as a bad line; serde's message loses any quoted
/// value (it could be a clear citizen ID in the wrong member).
fn from_decode(line: u64, p: &Problem) -> BadLine {
    BadLine::new(
        line,
        p.kind(),
        p.field().map(str::to_owned),
        redact_quoted(p.detail()),
    )
}

/// `text` with the contents of every double-quoted string replaced by `…`.
pub(super) fn redact_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for c in text.chars() {
        if c == '"' {
            if inside {
                out.push('…');
            }
            inside = !inside;
            out.push(c);
        } else if !inside {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_redacted() {
        assert_eq!(
            redact_quoted("invalid type: string \"11010519491231002X\", expected u64"),
            "invalid type: string \"…\", expected u64"
        );
        assert_eq!(redact_quoted("unknown field `x`"), "unknown field `x`");
    }
}
