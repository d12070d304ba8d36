//! Importing a region's credit records (`credex records import`): JSON Lines
//! or CSV, one file per category, validated against the catalogue, imported
//! whole or not at all.
//!
//! Row shape (both formats): `record_id`, `subject` (a unified social credit
//! code or a citizen ID), then one column/key per catalogue field of the
//! category. A citizen ID is never stored in clear: its records are stored
//! under the node-local subject key, with the person's federation
//! pseudonyms and sealed ID beside them ([`crate::pseudonyms`]); importing
//! natural persons needs the federation's key ring.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use credex_policies::{Catalogue, Category, FieldValue, Record, SubjectId};
use ring::rand::{SecureRandom, SystemRandom};

use crate::pseudonyms::{NaturalPersons, PseudonymsError};
use crate::storage::{RecordRow, Storage, StorageError, SubjectRow};

/// Why an import was refused. Nothing of the file was imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The category is not in the catalogue.
    #[error("category {0:?} is not in the catalogue")]
    UnknownCategory(String),
    /// A row is invalid; `line` is 1-based in the file.
    #[error("{path}:{line}: {reason} (nothing of this file was imported)")]
    Row {
        /// The file.
        path: String,
        /// The line.
        line: u64,
        /// What was wrong.
        reason: String,
    },
    /// The file's format is not known by its extension.
    #[error("{0}: expected a .jsonl, .ndjson or .csv file")]
    UnknownFormat(String),
    /// Storage failed; nothing was imported.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// A natural person's row could not be pseudonymized or sealed.
    #[error("{path}:{line}: {source} (nothing of this file was imported)")]
    Pseudonym {
        /// The file.
        path: String,
        /// The line.
        line: u64,
        /// Why.
        source: PseudonymsError,
    },
}

/// The rows of a file, and the natural persons they are about.
#[derive(Debug, Default)]
pub struct ParsedFile {
    /// The records.
    pub rows: Vec<RecordRow>,
    /// One row per natural person named (empty for legal persons only).
    pub subjects: Vec<SubjectRow>,
}

/// Parse and validate a file of `category` records into storage rows. A
/// natural person's row is refused (it needs [`parse_file_of_persons`]).
pub fn parse_file(
    path: &Path,
    category: &str,
    catalogue: &Catalogue,
) -> Result<Vec<RecordRow>, ImportError> {
    Ok(parse_file_of_persons(path, category, catalogue, None)?.rows)
}

/// Parse and validate a file of `category` records into storage rows; the
/// rows about natural persons are pseudonymized with `persons` (refused
/// without it).
pub fn parse_file_of_persons(
    path: &Path,
    category: &str,
    catalogue: &Catalogue,
    persons: Option<&NaturalPersons>,
) -> Result<ParsedFile, ImportError> {
    let cat = catalogue
        .category(category)
        .ok_or_else(|| ImportError::UnknownCategory(category.to_owned()))?;
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Io {
        path: display.clone(),
        source,
    })?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let rows = match ext {
        "jsonl" | "ndjson" => jsonl_rows(&text),
        "csv" => csv_rows(&text),
        _ => return Err(ImportError::UnknownFormat(display)),
    }
    .map_err(|(line, reason)| ImportError::Row {
        path: display.clone(),
        line,
        reason,
    })?;
    let mut out = ParsedFile {
        rows: Vec::with_capacity(rows.len()),
        subjects: Vec::new(),
    };
    let mut seen = HashSet::new();
    let mut persons_seen = HashSet::new();
    let rng = SystemRandom::new();
    for (line, row) in rows {
        let fail = |reason: String| ImportError::Row {
            path: display.clone(),
            line,
            reason,
        };
        let (subject, mut record) = validate_row(cat, row).map_err(|p| fail(p.reason))?;
        if !seen.insert(record.record_id.clone()) {
            return Err(fail(format!(
                "record_id {:?} appears twice in the file",
                record.record_id
            )));
        }
        let (subject_key, person) = stored_subject(&subject, persons, &mut persons_seen, &rng)
            .map_err(|e| match e {
                StoredSubjectError::NoKeyRing => fail(e.to_string()),
                StoredSubjectError::Pseudonym(source) => ImportError::Pseudonym {
                    path: display.clone(),
                    line,
                    source,
                },
            })?;
        record.subject_key = subject_key;
        out.subjects.extend(person);
        out.rows.push(record);
    }
    Ok(out)
}

/// Why a subject's stored key could not be derived.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoredSubjectError {
    /// A natural person, and no key ring configured.
    #[error(
        "a natural person's record needs the federation's pseudonym key ring (`[pseudonyms] keys` in the node configuration)"
    )]
    NoKeyRing,
    /// Pseudonymizing or sealing failed.
    #[error("{0}")]
    Pseudonym(PseudonymsError),
}

/// The key `subject`'s records are stored under — the USCC, or a natural
/// person's node-local subject key — and, for a natural person not yet in
/// `seen`, the row that stores the person (sealed ID, pseudonyms). The
/// citizen ID itself is never returned or stored in clear.
pub(crate) fn stored_subject(
    subject: &SubjectId,
    persons: Option<&NaturalPersons>,
    seen: &mut HashSet<String>,
    rng: &dyn SecureRandom,
) -> Result<(String, Option<SubjectRow>), StoredSubjectError> {
    match subject {
        SubjectId::LegalPerson(u) => Ok((u.as_str().to_owned(), None)),
        SubjectId::NaturalPerson(c) => {
            let persons = persons.ok_or(StoredSubjectError::NoKeyRing)?;
            let id = c.expose();
            let subject_key = persons.vault.subject_key(id);
            if !seen.insert(subject_key.clone()) {
                return Ok((subject_key, None));
            }
            let row = persons
                .subject_row(id, rng)
                .map_err(StoredSubjectError::Pseudonym)?;
            Ok((subject_key, Some(row)))
        }
    }
}

/// Validate and import a file in one transaction. Returns how many records.
/// A natural person's row is refused (it needs [`import_file_of_persons`]).
pub async fn import_file(
    storage: &Storage,
    path: &Path,
    category: &str,
    catalogue: &Catalogue,
) -> Result<u64, ImportError> {
    import_file_of_persons(storage, path, category, catalogue, None).await
}

/// Validate and import a file in one transaction, with the natural persons
/// it names pseudonymized with `persons`. A record that replaces one some
/// region received is logged as changed first (`records_changed`), so its
/// recipients are sent corrections. Returns how many records.
pub async fn import_file_of_persons(
    storage: &Storage,
    path: &Path,
    category: &str,
    catalogue: &Catalogue,
    persons: Option<&NaturalPersons>,
) -> Result<u64, ImportError> {
    let parsed = parse_file_of_persons(path, category, catalogue, persons)?;
    // A record some region received is being replaced: log the change
    // first (a crash before the import at worst sends a needless
    // correction), so the correction sweep tells every recipient.
    let disclosed = crate::disclosures::disclosed_among(
        storage,
        parsed
            .rows
            .iter()
            .map(|r| credex_journal::record_key(&r.category, &r.record_id)),
    )
    .await?;
    let now = storage.clock().now_ms();
    for entry in credex_journal::RecordsChanged::entries(now, &disclosed, &[]) {
        storage.append_entry(&entry).await?;
    }
    Ok(storage
        .import_records_of_subjects(parsed.rows, parsed.subjects)
        .await?)
}

/// One row of an import file: column (or key) → text; empty values and
/// JSON nulls are left out.
pub(crate) type RawRow = BTreeMap<String, String>;

/// Why a line of an import file could not be read: its 1-based line and
/// what was wrong.
pub(crate) type RowError = (u64, String);

/// The rows of a JSON Lines text (one object per line; strings, numbers
/// and booleans become text), each with its 1-based line. Blank lines are
/// skipped.
pub(crate) fn jsonl_rows(text: &str) -> Result<Vec<(u64, RawRow)>, RowError> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fail = |reason: String| (line_no, reason);
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| fail(format!("not JSON: {e}")))?;
        let serde_json::Value::Object(map) = value else {
            return Err(fail("expected a JSON object".into()));
        };
        let row = raw_row(map).map_err(|p| fail(p.reason))?;
        rows.push((line_no, row));
    }
    Ok(rows)
}

/// One JSON object as a row: strings, numbers and booleans become text,
/// nulls are left out; another value is refused naming its key.
pub(crate) fn raw_row(
    map: serde_json::Map<String, serde_json::Value>,
) -> Result<RawRow, RowProblem> {
    let mut row = RawRow::new();
    for (k, v) in map {
        let text = match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Null => continue,
            _ => {
                return Err(RowProblem::at(
                    &k,
                    format!("key {k:?}: expected a string, number or boolean"),
                ));
            }
        };
        row.insert(k, text);
    }
    Ok(row)
}

/// What is wrong with a row: the key at fault, if one is, and why. The
/// reason never holds a value of the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowProblem {
    /// The row's key (column) at fault.
    pub(crate) key: Option<String>,
    /// What was wrong.
    pub(crate) reason: String,
}

impl RowProblem {
    fn at(key: &str, reason: impl Into<String>) -> Self {
        RowProblem {
            key: Some(key.to_owned()),
            reason: reason.into(),
        }
    }

    fn whole(reason: impl Into<String>) -> Self {
        RowProblem {
            key: None,
            reason: reason.into(),
        }
    }
}

/// The rows of a CSV text with a header line, each with its line.
pub(crate) fn csv_rows(text: &str) -> Result<Vec<(u64, RawRow)>, RowError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| (1, format!("header: {e}")))?
        .clone();
    let mut rows = Vec::new();
    for result in reader.records() {
        let record =
            result.map_err(|e| (e.position().map(|p| p.line()).unwrap_or(0), e.to_string()))?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let row: RawRow = headers
            .iter()
            .zip(record.iter())
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        rows.push((line, row));
    }
    Ok(rows)
}

/// The row's subject and its record, with an empty subject key (the
/// caller derives it).
pub(crate) fn validate_row(
    cat: &Category,
    mut row: RawRow,
) -> Result<(SubjectId, RecordRow), RowProblem> {
    let record_id = row
        .remove("record_id")
        .filter(|s| !s.trim().is_empty() && s.len() <= 128)
        .ok_or_else(|| RowProblem::at("record_id", "missing record_id (1 to 128 characters)"))?;
    let subject = validate_subject(&mut row)?;
    if !cat.applies_to(subject.kind()) {
        return Err(RowProblem::at(
            "subject",
            format!(
                "category {} does not apply to a {}",
                cat.code,
                subject.kind().as_str()
            ),
        ));
    }
    let mut fields: BTreeMap<String, FieldValue> = BTreeMap::new();
    for (key, text) in row {
        let field = cat.field(&key).ok_or_else(|| {
            RowProblem::at(
                &key,
                format!("{key:?} is not a field of category {}", cat.code),
            )
        })?;
        let value = field
            .parse_value(&text)
            .map_err(|e| RowProblem::at(&key, e.to_string()))?;
        fields.insert(key, value);
    }
    if fields.is_empty() {
        return Err(RowProblem::whole("the record has no field values"));
    }
    let record = Record {
        category: cat.code.clone(),
        fields,
    };
    let body = credex_protocol::encode(&record).map_err(|e| RowProblem::whole(e.to_string()))?;
    Ok((
        subject,
        RecordRow {
            category: cat.code.clone(),
            record_id,
            subject_key: String::new(),
            body,
            copy_of: None,
        },
    ))
}

/// Take the row's `subject` and parse it (a USCC or a citizen ID, check
/// character verified). The reason never repeats the identifier.
pub(crate) fn validate_subject(row: &mut RawRow) -> Result<SubjectId, RowProblem> {
    let text = row
        .remove("subject")
        .ok_or_else(|| RowProblem::at("subject", "missing subject"))?;
    SubjectId::parse(text.trim()).map_err(|e| RowProblem::at("subject", format!("subject: {e}")))
}
