//! The data-quality check behind `credex id check`: identifiers one per
//! line, each invalid line reported masked, and the wrong-code rate
//! (错码率) in per mille that regions report against a target below 1‰.
//!
//! It does not parse identifiers itself ([`super::SubjectId::parse`]).

use super::{SubjectId, SubjectIdError, mask};

/// The target wrong-code rate regions report against: below 1‰.
pub const WRONG_CODE_TARGET_PER_MILLE: f64 = 1.0;

/// One invalid line found by [`check_batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidIdentifier {
    /// 1-based line number in the input.
    pub line: usize,
    /// The input, masked (first 4 and last 4 characters kept): the line may
    /// be a mistyped citizen identity number.
    pub masked: String,
    /// Why it is invalid.
    pub reason: SubjectIdError,
}

/// The result of [`check_batch`].
#[derive(Debug, Clone, PartialEq)]
pub struct BatchReport {
    /// Identifiers checked (blank lines and comments not counted).
    pub total: usize,
    /// Valid unified social credit codes.
    pub legal_persons: usize,
    /// Valid citizen identity numbers.
    pub natural_persons: usize,
    /// Identifiers valid under both standards (counted as valid).
    pub ambiguous: usize,
    /// Each invalid identifier, in input order.
    pub invalid: Vec<InvalidIdentifier>,
    /// Invalid per thousand checked (错码率, ‰); 0 when nothing was checked.
    pub wrong_code_rate_per_mille: f64,
}

impl BatchReport {
    /// Whether the wrong-code rate is below the 1‰ target.
    pub fn meets_target(&self) -> bool {
        self.wrong_code_rate_per_mille < WRONG_CODE_TARGET_PER_MILLE
    }
}

/// Check identifiers one per line, as `credex id check` does. Text from a
/// `#` to the end of the line is a comment; surrounding whitespace is
/// ignored; blank lines are skipped. Line numbers count every line.
pub fn check_batch<'a>(lines: impl Iterator<Item = &'a str>) -> BatchReport {
    let mut report = BatchReport {
        total: 0,
        legal_persons: 0,
        natural_persons: 0,
        ambiguous: 0,
        invalid: Vec::new(),
        wrong_code_rate_per_mille: 0.0,
    };
    for (i, line) in lines.enumerate() {
        let text = line.split('#').next().unwrap_or_default().trim();
        if text.is_empty() {
            continue;
        }
        report.total += 1;
        match SubjectId::parse(text) {
            Ok(SubjectId::LegalPerson(_)) => report.legal_persons += 1,
            Ok(SubjectId::NaturalPerson(_)) => report.natural_persons += 1,
            Err(SubjectIdError::Ambiguous) => report.ambiguous += 1,
            Err(reason) => report.invalid.push(InvalidIdentifier {
                line: i + 1,
                masked: mask(text),
                reason,
            }),
        }
    }
    if report.total > 0 {
        report.wrong_code_rate_per_mille =
            report.invalid.len() as f64 * 1000.0 / report.total as f64;
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENCENT: &str = "9144030071526726XG";
    // Synthetic, check digit computed independently (tests/data/vectors.py).
    const CITIZEN: &str = "520102190001010017";

    #[test]
    fn batch_rate() {
        let input = format!("# header\n{TENCENT}\n\n{CITIZEN}  # synthetic\nnot-an-id\n");
        let r = check_batch(input.lines());
        assert_eq!(r.total, 3);
        assert_eq!((r.legal_persons, r.natural_persons), (1, 1));
        assert_eq!(r.invalid.len(), 1);
        assert_eq!(r.invalid[0].line, 5);
        assert_eq!(r.invalid[0].masked, "not-*n-id");
        assert!((r.wrong_code_rate_per_mille - 1000.0 / 3.0).abs() < 1e-9);
        assert!(!r.meets_target());
        let empty = check_batch("".lines());
        assert_eq!(empty.wrong_code_rate_per_mille, 0.0);
        assert!(empty.meets_target());
    }
}
