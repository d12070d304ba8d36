//! Subject identifiers: the unified social credit code (统一社会信用代码,
//! GB 32100-2015) of legal persons and other organisations, and the citizen
//! identity number (公民身份号码, GB 11643-1999) of natural persons.
//!
//! Holding a [`Uscc`] or [`CitizenId`] means every rule of its standard was
//! checked. A citizen identity number is personal information: its `Debug`
//! and `Display` mask it (`5201**********123X`), no error message echoes it,
//! and it does not implement `Serialize`; [`CitizenId::expose`] is the one
//! explicit way to get the clear text. Logs and messages name a natural
//! person by a keyed pseudonym (`credex_pki::pseudonym`), never by a hash
//! of the ID anyone could recompute, so no unkeyed hash of a citizen ID is
//! offered here.
//!
//! [`check_batch`] is the data-quality check behind `credex id check`: it
//! reports each invalid line and the wrong-code rate (错码率) in per mille,
//! which regions report against a target below 1‰.//!
//! One file per identifier scheme: `uscc` (GB 32100, with the registration
//! authority table in `authorities`) and `citizen` (GB 11643); `error` holds
//! the error both share and `batch` the wrong-code rate check. This module
//! owns [`SubjectId`], which decides between the two schemes, and the
//! length check, province table and masking both use.

use std::fmt;
use std::str::FromStr;

use crate::catalogue::SubjectKind;

mod authorities;
mod batch;
mod citizen;
mod error;
mod uscc;

pub use authorities::{REGISTRATION_AUTHORITIES, RegistrationAuthority};
pub use batch::{BatchReport, InvalidIdentifier, WRONG_CODE_TARGET_PER_MILLE, check_batch};
use citizen::birth_date;
pub use citizen::{CitizenId, EARLIEST_BIRTH_YEAR};
pub use error::SubjectIdError;
pub use uscc::{USCC_ALPHABET, Uscc, UsccDivision};

/// Province-level divisions of GB/T 2260 (first two digits): the 31
/// mainland provinces, autonomous regions and municipalities, Taiwan (71),
/// Hong Kong (81) and Macao (82).
const GB2260_PROVINCES: [u32; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];

const EXPECT_DIGIT: &str = "a digit 0-9";

fn is_province(two_digits: u32) -> bool {
    GB2260_PROVINCES.contains(&two_digits)
}

/// Count characters and refuse anything that is not 18 long.
fn check_length(text: &str) -> Result<(), SubjectIdError> {
    let n = text.chars().count();
    if n == 0 {
        Err(SubjectIdError::Empty)
    } else if n == 15 && text.bytes().all(|b| b.is_ascii_digit()) {
        Err(SubjectIdError::FirstGenerationCitizenId)
    } else if n != 18 {
        Err(SubjectIdError::WrongLength { actual: n })
    } else {
        Ok(())
    }
}

/// Mask an identifier for display: the first 4 and last 4 characters stay,
/// the rest become `*`; inputs of 8 characters or fewer are masked entirely.
pub fn mask(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    if n <= 8 {
        return "*".repeat(n);
    }
    let mut out: String = chars[..4].iter().collect();
    out.push_str(&"*".repeat(n - 8));
    out.extend(&chars[n - 4..]);
    out
}

/// A data subject's identifier (主体标识).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SubjectId {
    /// A legal person or other organisation by its unified social credit code.
    LegalPerson(Uscc),
    /// A natural person by citizen identity number.
    NaturalPerson(CitizenId),
}

impl SubjectId {
    /// Parse either identifier, deciding by shape: text that is 17 digits
    /// and a digit or `X` is tried as both; anything else is a USCC. When
    /// both fail, the error reported is the citizen identity number's if
    /// positions 7–14 read as a plausible birth date, else the USCC's. When
    /// both succeed the result is [`SubjectIdError::Ambiguous`].
    pub fn parse(text: &str) -> Result<SubjectId, SubjectIdError> {
        check_length(text)?;
        let b = text.as_bytes();
        let citizen_shape = b.len() == 18
            && b[..17].iter().all(u8::is_ascii_digit)
            && matches!(b[17], b'0'..=b'9' | b'X' | b'x');
        if !citizen_shape {
            return Uscc::parse(text).map(SubjectId::LegalPerson);
        }
        match (CitizenId::parse(text), Uscc::parse(text)) {
            (Ok(c), Err(_)) => Ok(SubjectId::NaturalPerson(c)),
            (Err(_), Ok(u)) => Ok(SubjectId::LegalPerson(u)),
            (Ok(_), Ok(_)) => Err(SubjectIdError::Ambiguous),
            (Err(ce), Err(ue)) => {
                let plausible_birth =
                    birth_date(b).is_some_and(|d| (EARLIEST_BIRTH_YEAR..=2100).contains(&d.year()));
                Err(if plausible_birth { ce } else { ue })
            }
        }
    }

    /// Parse as the given kind of subject.
    pub fn parse_as(kind: SubjectKind, text: &str) -> Result<SubjectId, SubjectIdError> {
        match kind {
            SubjectKind::LegalPerson => Uscc::parse(text).map(SubjectId::LegalPerson),
            SubjectKind::NaturalPerson => CitizenId::parse(text).map(SubjectId::NaturalPerson),
        }
    }

    /// The kind of subject.
    pub fn kind(&self) -> SubjectKind {
        match self {
            SubjectId::LegalPerson(_) => SubjectKind::LegalPerson,
            SubjectId::NaturalPerson(_) => SubjectKind::NaturalPerson,
        }
    }
}

impl FromStr for SubjectId {
    type Err = SubjectIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SubjectId::parse(s)
    }
}

impl fmt::Display for SubjectId {
    /// The USCC in clear, the citizen identity number masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectId::LegalPerson(u) => u.fmt(f),
            SubjectId::NaturalPerson(c) => c.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENCENT: &str = "9144030071526726XG";

    #[test]
    fn parse_as_forces_the_kind() {
        assert!(SubjectId::parse_as(SubjectKind::NaturalPerson, TENCENT).is_err());
        assert_eq!(
            SubjectId::parse_as(SubjectKind::LegalPerson, TENCENT)
                .unwrap()
                .kind(),
            SubjectKind::LegalPerson
        );
    }

    #[test]
    fn mask_short_and_long() {
        assert_eq!(mask("abc"), "***");
        assert_eq!(mask("123456789"), "1234*6789");
        assert_eq!(mask("身份证号码一二三四五"), "身份证号**二三四五");
    }
}
