//! Why a text is not a valid subject identifier: [`SubjectIdError`], shared
//! by both identifier schemes and the batch check.
//!
//! It owns the messages, which name positions and single characters but
//! never the identifier; the checks that raise them are in the scheme
//! modules.

use super::EARLIEST_BIRTH_YEAR;

/// Why a text is not a valid subject identifier. Messages name positions
/// (1-based) and single characters, never the identifier itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectIdError {
    /// The text is empty.
    #[error("empty identifier")]
    Empty,
    /// Both identifiers are 18 characters long.
    #[error("{actual} characters; a unified social credit code or citizen identity number has 18")]
    WrongLength {
        /// The number of characters given.
        actual: usize,
    },
    /// A 15-digit first-generation identity number (一代身份证号码); it must
    /// be converted to the 18-character form first.
    #[error("15-digit first-generation identity number; use the 18-character GB 11643-1999 form")]
    FirstGenerationCitizenId,
    /// A character not allowed at its position.
    #[error("character {found:?} at position {position} is not allowed; expected {expected}")]
    BadCharacter {
        /// 1-based position.
        position: usize,
        /// The character found.
        found: char,
        /// What is allowed there.
        expected: &'static str,
    },
    /// A lowercase letter: both standards use capital letters only.
    #[error("lowercase {found:?} at position {position}; the standard uses capital letters only")]
    LowercaseLetter {
        /// 1-based position.
        position: usize,
        /// The character found.
        found: char,
    },
    /// Position 1 is not a registration authority code of GB 32100.
    #[error(
        "position 1: {found:?} is not a registration authority code (登记管理部门代码: 1-9, A, N, Y)"
    )]
    UnknownRegistrationAuthority {
        /// The character found.
        found: char,
    },
    /// Position 2 is not an entity type the registration authority issues.
    #[error(
        "position 2: entity type {found:?} is not allowed for registration authority {authority:?} (allowed: {allowed})"
    )]
    EntityTypeNotAllowed {
        /// The registration authority code (position 1).
        authority: char,
        /// The entity type code found (position 2).
        found: char,
        /// The allowed entity type codes.
        allowed: String,
    },
    /// Positions 3–8 of a USCC are not a GB/T 2260 division code.
    #[error(
        "positions 3-8: {found:?} is not a GB/T 2260 administrative division code (province part must be a province-level code, or 100000 for national-level registration)"
    )]
    BadDivision {
        /// The six digits found (a USCC is public information).
        found: String,
    },
    /// The GB 11714 organisation code check character (position 17) is wrong.
    #[error(
        "position 17: organisation code check character (GB 11714) is {found:?}, expected {expected:?}"
    )]
    OrganisationCheckDigit {
        /// The check character the code requires.
        expected: char,
        /// The character found.
        found: char,
    },
    /// The final check character (position 18) is wrong.
    #[error("position 18: check character is {found:?}, expected {expected:?}")]
    CheckDigit {
        /// The check character the code requires.
        expected: char,
        /// The character found.
        found: char,
    },
    /// Positions 1–2 of a citizen identity number name no province-level
    /// division.
    #[error(
        "positions 1-2: {found:?} is not a province-level division code (GB/T 2260, or 83 for Taiwan residents' residence permits)"
    )]
    UnknownProvince {
        /// The two digits found.
        found: String,
    },
    /// Positions 7–14 are not a valid calendar date.
    #[error("positions 7-14: not a valid birth date (YYYYMMDD)")]
    BadBirthDate,
    /// The birth date is before [`EARLIEST_BIRTH_YEAR`] or after the date the
    /// check was made on.
    #[error(
        "positions 7-14: birth date out of range (before {EARLIEST_BIRTH_YEAR} or in the future)"
    )]
    BirthDateOutOfRange,
    /// The text is valid both as a USCC and as a citizen identity number;
    /// use [`SubjectId::parse_as`](super::SubjectId::parse_as) with the kind known from context.
    #[error(
        "valid both as a unified social credit code and as a citizen identity number; the subject kind must be given"
    )]
    Ambiguous,
}
