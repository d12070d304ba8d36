//! The citizen identity number (公民身份号码, GB 11643-1999) of natural
//! persons: its check character, its province and birth date, and the
//! masking that keeps it out of logs and messages (`Debug` and `Display`
//! mask it; [`CitizenId::expose`] is the one way to the clear text).
//!
//! It does not hash the number (a keyed pseudonym, `credex_pki::pseudonym`,
//! names a natural person) nor decide between a citizen identity number and
//! a USCC ([`super::SubjectId::parse`]).

use std::fmt;
use std::str::FromStr;

use credex_protocol::RegionCode;
use time::Date;

use super::{EXPECT_DIGIT, SubjectIdError, check_length, is_province, mask};

/// Weights of the GB 11643 check character (2^(17-i) mod 11).
const CITIZEN_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// GB 11643 check characters indexed by (Σ mod 11).
const CITIZEN_CHECK: &[u8; 11] = b"10X98765432";

/// Earliest birth year accepted in a citizen identity number.
pub const EARLIEST_BIRTH_YEAR: i32 = 1850;

const EXPECT_CITIZEN_CHECK: &str = "a digit 0-9 or X";

/// The GB 11643 check character for the first 17 digits.
fn citizen_check_char(first17: &[u8]) -> char {
    let sum: u32 = first17
        .iter()
        .zip(CITIZEN_WEIGHTS)
        .map(|(c, w)| u32::from(c - b'0') * w)
        .sum();
    char::from(CITIZEN_CHECK[(sum % 11) as usize])
}

/// A validated citizen identity number (公民身份号码, GB 11643-1999) of a
/// natural person. Personal information: `Debug` and `Display` mask it; use
/// [`CitizenId::expose`] only where the clear text is permitted.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CitizenId([u8; 18]);

impl CitizenId {
    /// Validate `text` as a citizen identity number: 17 digits and a check
    /// character (digit or capital `X`) per GB 11643, positions 1–2 a
    /// province-level division (GB/T 2260, or 83 used by residence permits of
    /// Taiwan residents), positions 7–14 a real calendar date from
    /// [`EARLIEST_BIRTH_YEAR`]. The county-level part is not checked: numbers
    /// keep the code of a division even after it is abolished.
    pub fn parse(text: &str) -> Result<CitizenId, SubjectIdError> {
        check_length(text)?;
        for (i, c) in text.chars().enumerate() {
            let position = i + 1;
            let ok = if position < 18 {
                c.is_ascii_digit()
            } else {
                c.is_ascii_digit() || c == 'X'
            };
            if ok {
                continue;
            }
            if position == 18 && c == 'x' {
                return Err(SubjectIdError::LowercaseLetter { position, found: c });
            }
            return Err(SubjectIdError::BadCharacter {
                position,
                found: c,
                expected: if position < 18 {
                    EXPECT_DIGIT
                } else {
                    EXPECT_CITIZEN_CHECK
                },
            });
        }
        let b = text.as_bytes();
        let province = u32::from(b[0] - b'0') * 10 + u32::from(b[1] - b'0');
        if !(is_province(province) || province == 83) {
            return Err(SubjectIdError::UnknownProvince {
                found: text[..2].to_owned(),
            });
        }
        let birth = birth_date(b).ok_or(SubjectIdError::BadBirthDate)?;
        if birth.year() < EARLIEST_BIRTH_YEAR {
            return Err(SubjectIdError::BirthDateOutOfRange);
        }
        let expected = citizen_check_char(&b[..17]);
        if expected != char::from(b[17]) {
            return Err(SubjectIdError::CheckDigit {
                expected,
                found: char::from(b[17]),
            });
        }
        let mut out = [0u8; 18];
        out.copy_from_slice(b);
        Ok(CitizenId(out))
    }

    /// The number in clear. Only for the rare uses a field's class and the
    /// policy permit (e.g. reading the subject's own records); never log it.
    pub fn expose(&self) -> &str {
        // Invariant: built only from validated ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The masked form `5201**********123X` (first 4 and last 4 kept).
    pub fn masked(&self) -> String {
        mask(self.expose())
    }

    /// The division code of positions 1–6 as a [`RegionCode`]; `None` for
    /// Taiwan residents' residence permit numbers (`83xxxx`).
    pub fn region(&self) -> Option<RegionCode> {
        self.expose()[..6].parse().ok()
    }

    /// The birth date (positions 7–14).
    pub fn birth_date(&self) -> Date {
        // Invariant: validated in `parse`; the fallback is unreachable.
        birth_date(&self.0).unwrap_or(Date::MIN)
    }

    /// Refuse a birth date after `today` (optional extra check; `parse` has
    /// no clock).
    pub fn check_birth_not_after(&self, today: Date) -> Result<(), SubjectIdError> {
        if self.birth_date() > today {
            Err(SubjectIdError::BirthDateOutOfRange)
        } else {
            Ok(())
        }
    }
}

pub(super) fn birth_date(b: &[u8]) -> Option<Date> {
    let text = std::str::from_utf8(b.get(6..14)?).ok()?;
    let iso = format!("{}-{}-{}", &text[..4], &text[4..6], &text[6..8]);
    crate::source::parse_date(&iso)
}

impl FromStr for CitizenId {
    type Err = SubjectIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CitizenId::parse(s)
    }
}

impl fmt::Display for CitizenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for CitizenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CitizenId({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subject_id::SubjectId;

    // Synthetic, check digit computed independently (tests/data/vectors.py).
    const CITIZEN: &str = "520102190001010017";

    #[test]
    fn citizen_id_is_masked_everywhere() {
        let c = CitizenId::parse(CITIZEN).unwrap();
        assert_eq!(c.to_string(), "5201**********0017");
        assert_eq!(format!("{c:?}"), "CitizenId(5201**********0017)");
        let s = SubjectId::NaturalPerson(c);
        assert!(!format!("{s:?} {s}").contains(CITIZEN));
        assert_eq!(c.expose(), CITIZEN);
        assert_eq!(c.region(), Some("520102".parse().unwrap()));
        assert_eq!(c.birth_date().year(), 1900);
    }

    #[test]
    fn errors_never_echo_a_citizen_id() {
        let mut bad = CITIZEN.to_owned();
        bad.replace_range(17..18, "1");
        let e = CitizenId::parse(&bad).unwrap_err();
        assert_eq!(
            e,
            SubjectIdError::CheckDigit {
                expected: '7',
                found: '1'
            }
        );
        assert!(!e.to_string().contains(&bad[..17]));
    }

    #[test]
    fn birth_date_not_after_today() {
        let c = CitizenId::parse(CITIZEN).unwrap();
        let before = Date::from_calendar_date(1899, time::Month::December, 31).unwrap();
        assert_eq!(
            c.check_birth_not_after(before),
            Err(SubjectIdError::BirthDateOutOfRange)
        );
        assert!(c.check_birth_not_after(c.birth_date()).is_ok());
    }
}
