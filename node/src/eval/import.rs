//! Importing this region's evaluation results: reading an import file
//! (JSON Lines or CSV) and validating every row ([`parse_results`],
//! [`ResultRow`]) before anything is issued.
//!
//! It owns the file format, the row checks (the subject's USCC, the scheme,
//! the grade on this region's scale in some agreement, the dates) and the
//! limits ([`MAX_IMPORT_ROWS`]). It writes nothing: signing, storing and
//! pushing the rows is [`issue`](super::issue())'s.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use credex_flows::calendar;
use credex_policies::{AgreementSet, Uscc};
use credex_protocol::RegionCode;
use credex_protocol::evaluation::{AttestationStatus, EvaluationAttestation, Scheme};

use super::EvalError;
use crate::records::{RawRow, csv_rows, jsonl_rows};

/// Longest import file, in rows.
pub const MAX_IMPORT_ROWS: usize = 100_000;

/// One validated row of an import file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultRow {
    /// 1-based line in the file.
    pub line: u64,
    /// The subject's USCC.
    pub subject: String,
    /// The scheme.
    pub scheme: Scheme,
    /// The scheme version.
    pub scheme_version: String,
    /// The grade on this region's scale.
    pub grade: String,
    /// First day of the period.
    pub period_start: String,
    /// Last day of the period.
    pub period_end: String,
    /// Issue time (Unix ms).
    pub issued_at_ms: i64,
    /// End of validity (Unix ms, inclusive).
    pub valid_until_ms: i64,
}

/// Parse and validate an import file of this region's results (JSON Lines
/// or CSV; keys/columns `subject`, `scheme`, `scheme_version`, `grade`,
/// `period_start`, `period_end`, `valid_until`, optional `issued_at`).
/// Dates are `YYYY-MM-DD` China Standard Time calendar days (`issued_at`:
/// the start of the day, `valid_until`: its end) or Unix milliseconds;
/// `issued_at` defaults to `now_ms`. The grade must be on `region`'s scale
/// for the scheme in at least one agreement. Every row is checked before
/// anything is returned; the first error names its line.
pub fn parse_results(
    path: &Path,
    region: RegionCode,
    agreements: &AgreementSet,
    now_ms: i64,
) -> Result<Vec<ResultRow>, EvalError> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
        path: display.clone(),
        source,
    })?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let rows = match ext {
        "jsonl" | "ndjson" => jsonl_rows(&text),
        "csv" => csv_rows(&text),
        _ => return Err(EvalError::UnknownFormat(display)),
    }
    .map_err(|(line, reason)| EvalError::Row {
        path: display.clone(),
        line,
        reason,
    })?;
    if rows.len() > MAX_IMPORT_ROWS {
        return Err(EvalError::TooManyRows(display));
    }
    if rows.is_empty() {
        return Err(EvalError::Empty(display));
    }
    let scales = own_scales(agreements, region);
    let mut seen = BTreeMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for (line, row) in rows {
        let fail = |reason: String| EvalError::Row {
            path: display.clone(),
            line,
            reason,
        };
        let r = validate_row(line, row, &scales, region, now_ms).map_err(fail)?;
        if let Some(first) = seen.insert((r.scheme, r.subject.clone()), line) {
            return Err(fail(format!(
                "the subject's {} result already appears on line {first}",
                r.scheme
            )));
        }
        out.push(r);
    }
    Ok(out)
}

/// `region`'s own grades per scheme, over every agreement.
fn own_scales(set: &AgreementSet, region: RegionCode) -> BTreeMap<Scheme, BTreeSet<String>> {
    let mut out: BTreeMap<Scheme, BTreeSet<String>> = BTreeMap::new();
    for a in set.iter() {
        for (scheme, terms) in &a.schemes {
            if let Some(m) = terms.members.get(&region) {
                out.entry(*scheme)
                    .or_default()
                    .extend(m.scale.iter().cloned());
            }
        }
    }
    out
}

fn validate_row(
    line: u64,
    mut row: RawRow,
    scales: &BTreeMap<Scheme, BTreeSet<String>>,
    region: RegionCode,
    now_ms: i64,
) -> Result<ResultRow, String> {
    let mut take = |key: &str| {
        row.remove(key)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("missing {key}"))
    };
    let subject = take("subject")?;
    let uscc = Uscc::parse(&subject).map_err(|e| format!("subject: {e}"))?;
    let scheme: Scheme = take("scheme")?
        .parse()
        .map_err(|e| format!("scheme: {e}"))?;
    let scheme_version = take("scheme_version")?;
    let grade = take("grade")?;
    let period_start = take("period_start")?;
    let period_end = take("period_end")?;
    let valid_until = take("valid_until")?;
    let issued_at = take("issued_at").ok();
    if let Some(extra) = row.keys().next() {
        return Err(format!("unknown key {extra:?}"));
    }
    let Some(scale) = scales.get(&scheme) else {
        return Err(format!(
            "no agreement gives region {region} a grade scale for scheme {scheme}"
        ));
    };
    if !scale.contains(&grade) {
        return Err(format!(
            "grade {grade:?} is not on region {region}'s {scheme} scale ({})",
            scale.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let issued_at_ms = match issued_at {
        Some(t) => parse_time(&t, false).map_err(|e| format!("issued_at: {e}"))?,
        None => now_ms,
    };
    if issued_at_ms > now_ms {
        return Err("issued_at is in the future".into());
    }
    let valid_until_ms = parse_time(&valid_until, true).map_err(|e| format!("valid_until: {e}"))?;
    let attestation = EvaluationAttestation {
        attestation_id: [0; 16],
        issuer_region: region,
        issuer_node: "check".parse().map_err(|e| format!("{e}"))?,
        scheme,
        scheme_version: scheme_version.clone(),
        subject: uscc.as_str().to_owned(),
        grade: grade.clone(),
        period_start: period_start.clone(),
        period_end: period_end.clone(),
        issued_at_ms,
        valid_until_ms,
        status: AttestationStatus::Active,
        supersedes: None,
    };
    attestation.validate().map_err(|e| e.to_string())?;
    Ok(ResultRow {
        line,
        subject: uscc.as_str().to_owned(),
        scheme,
        scheme_version,
        grade,
        period_start,
        period_end,
        issued_at_ms,
        valid_until_ms,
    })
}

/// `YYYY-MM-DD` (CST; start of day, or end of day if `end`) or Unix ms.
fn parse_time(text: &str, end: bool) -> Result<i64, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .map_err(|_| format!("{text:?} is out of range"));
    }
    let b = text.as_bytes();
    let date = (b.len() == 10 && b[4] == b'-' && b[7] == b'-')
        .then(|| calendar::parse_date(text))
        .flatten()
        .ok_or_else(|| format!("{text:?} is neither a date YYYY-MM-DD nor Unix milliseconds"))?;
    let start = calendar::china_midnight_ms(date);
    Ok(if end {
        start + calendar::DAY_MS - 1
    } else {
        start
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_cst_days() {
        // 2026-01-01 00:00 CST = 2025-12-31 16:00 UTC.
        assert_eq!(parse_time("2026-01-01", false), Ok(1_767_196_800_000));
        assert_eq!(
            parse_time("2026-01-01", true),
            Ok(1_767_196_800_000 + calendar::DAY_MS - 1)
        );
        assert_eq!(parse_time("1767196800000", false), Ok(1_767_196_800_000));
        assert!(parse_time("2026-02-30", false).is_err());
        assert!(parse_time("yesterday", false).is_err());
        assert_eq!(calendar::china_date_text(1_767_196_800_000), "2026-01-01");
    }
}
