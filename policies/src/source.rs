//! Where a loading error happened: the origin (file name), line and column.
//!
//! Every file this crate loads (catalogue, supplement, groups, policy) reports
//! errors as a [`LoadError`] that names the origin, the 1-based line and
//! column when the error points into the text, and the reason.

use std::fmt;
use std::ops::Range;
use std::path::Path;

/// The place in a loaded file that an error points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The origin name the text was loaded under, usually the file name.
    pub origin: String,
    /// 1-based line, when the error points into the text.
    pub line: Option<u32>,
    /// 1-based column (in characters), when the error points into the text.
    pub column: Option<u32>,
}

impl Location {
    /// A location covering the whole origin (no line), e.g. an unreadable file.
    pub(crate) fn whole(origin: &str) -> Self {
        Location {
            origin: origin.to_owned(),
            line: None,
            column: None,
        }
    }

    /// The location of byte offset `offset` in `text`.
    pub(crate) fn at(origin: &str, text: &str, offset: usize) -> Self {
        let offset = offset.min(text.len());
        // Back off to a character boundary so slicing cannot panic.
        let mut end = offset;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let before = &text[..end];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        // A file with more than 4 billion lines cannot be loaded anyway.
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Location {
            origin: origin.to_owned(),
            line: Some(clamp(line)),
            column: Some(clamp(column)),
        }
    }

    /// The location of the start of `span` in `text`.
    pub(crate) fn span(origin: &str, text: &str, span: &Range<usize>) -> Self {
        Location::at(origin, text, span.start)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "{}:{line}:{column}", self.origin),
            (Some(line), None) => write!(f, "{}:{line}", self.origin),
            _ => f.write_str(&self.origin),
        }
    }
}

/// A file that failed to load: where, and why. `K` is the per-file-kind
/// reason enum (e.g. [`crate::PolicyErrorKind`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {kind}")]
pub struct LoadError<K> {
    /// Origin, line and column.
    pub location: Location,
    /// The reason.
    pub kind: K,
}

impl<K> LoadError<K> {
    /// An error at byte span `span` of `text`.
    pub(crate) fn at(origin: &str, text: &str, span: &Range<usize>, kind: K) -> Self {
        LoadError {
            location: Location::span(origin, text, span),
            kind,
        }
    }

    /// An error about the origin as a whole.
    pub(crate) fn whole(origin: &str, kind: K) -> Self {
        LoadError {
            location: Location::whole(origin),
            kind,
        }
    }

    /// Convert a TOML syntax or shape error (unknown key, wrong type, bad
    /// value) into a located error with `make` building the kind.
    pub(crate) fn from_toml(
        origin: &str,
        text: &str,
        err: &toml::de::Error,
        make: impl FnOnce(String) -> K,
    ) -> Self {
        let location = match err.span() {
            Some(span) => Location::span(origin, text, &span),
            None => Location::whole(origin),
        };
        LoadError {
            location,
            kind: make(err.message().trim_end().to_owned()),
        }
    }
}

/// Read a file as UTF-8 text for a `load_*_file` convenience function; the
/// origin is the path as given.
pub(crate) fn read_text<K>(
    path: &Path,
    make: impl FnOnce(String) -> K,
) -> Result<(String, String), LoadError<K>> {
    let origin = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((text, origin)),
        Err(e) => Err(LoadError::whole(&origin, make(e.to_string()))),
    }
}

/// Whether `s` is a catalogue code: `[a-z][a-z0-9_]*`, at most 64 bytes
/// (e.g. `admin_penalty`, `decision_number`).
pub(crate) fn is_code(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

/// Whether `s` is an identifier slug for rules, groups and legal bases:
/// `a-z`, `0-9`, `-` and `_`, starting and ending with a letter or digit, at
/// most 64 bytes (e.g. `pan-pearl-river`, `ppr-procurement`).
pub(crate) fn is_slug(s: &str) -> bool {
    let b = s.as_bytes();
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && b.len() <= 64
        && b.first().is_some_and(edge)
        && b.last().is_some_and(edge)
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
}

/// Parse a strict ISO 8601 calendar date `YYYY-MM-DD`.
pub(crate) fn parse_date(s: &str) -> Option<time::Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let year = i32::try_from(digits(0..4)?).ok()?;
    let month = time::Month::try_from(u8::try_from(digits(5..7)?).ok()?).ok()?;
    let day = u8::try_from(digits(8..10)?).ok()?;
    time::Date::from_calendar_date(year, month, day).ok()
}

/// Format a date as `YYYY-MM-DD`.
pub(crate) fn format_date(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_are_one_based() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(Location::at("f", text, 0).to_string(), "f:1:1");
        assert_eq!(Location::at("f", text, 6).to_string(), "f:2:1");
        // After a two-byte character the column counts characters.
        assert_eq!(Location::at("f", text, 9).to_string(), "f:2:3");
        // An offset inside a character does not panic.
        assert_eq!(Location::at("f", text, 8).to_string(), "f:2:2");
        assert_eq!(Location::whole("f").to_string(), "f");
    }

    #[test]
    fn codes_slugs_and_dates() {
        assert!(is_code("admin_penalty") && is_code("a1"));
        for bad in ["", "Admin", "1a", "a-b", "a b", &"a".repeat(65)] {
            assert!(!is_code(bad), "{bad:?}");
        }
        assert!(is_slug("pan-pearl-river") && is_slug("r1") && is_slug("a_b"));
        for bad in ["", "-a", "a-", "A", "a.b", &"a".repeat(65)] {
            assert!(!is_slug(bad), "{bad:?}");
        }
        let d = parse_date("2024-02-29").unwrap();
        assert_eq!(format_date(d), "2024-02-29");
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "2024/01/01",
            "+024-01-01",
            "2024-01-001",
        ] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
    }
}
