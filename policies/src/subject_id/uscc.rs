//! The unified social credit code (统一社会信用代码, GB 32100-2015) of legal
//! persons and other organisations: its alphabet, its two check characters
//! (GB 11714 organisation code, GB 32100 code), its parts (registration
//! authority, entity type, division, organisation code) and the salted hash
//! logs name it by.
//!
//! It does not hold the registration authority table
//! ([`super::REGISTRATION_AUTHORITIES`]) nor decide between a USCC and a
//! citizen identity number ([`super::SubjectId::parse`]).

use std::fmt;
use std::str::FromStr;

use credex_protocol::RegionCode;
use ring::digest;

use super::{EXPECT_DIGIT, REGISTRATION_AUTHORITIES, SubjectIdError, check_length, is_province};

/// The 31 characters of the unified social credit code, in value order
/// (0–30): digits and capital letters without I, O, Z, S, V.
pub const USCC_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Weights of the USCC check character: 3^(i) mod 31 for positions 1–17.
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Weights of the GB 11714 organisation code check character.
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// The division code national-level registration authorities put in
/// positions 3–8 of a USCC (中华人民共和国, e.g. national social organisations
/// registered with the Ministry of Civil Affairs: `51100000…`).
const NATIONAL_DIVISION: &str = "100000";

const EXPECT_USCC: &str = "0-9 or a capital letter other than I, O, S, V, Z";

fn uscc_value(c: u8) -> Option<u32> {
    USCC_ALPHABET
        .bytes()
        .position(|a| a == c)
        .and_then(|p| u32::try_from(p).ok())
}

/// The USCC check character for the first 17 characters (all in the
/// alphabet), per GB 32100-2015: C18 = 31 − (Σ Ci·Wi mod 31), 31 → 0.
fn uscc_check_char(first17: &[u8]) -> Option<char> {
    let mut sum = 0u32;
    for (c, w) in first17.iter().zip(USCC_WEIGHTS) {
        sum += uscc_value(*c)? * w;
    }
    let v = (31 - sum % 31) % 31;
    USCC_ALPHABET.chars().nth(usize::try_from(v).ok()?)
}

/// The GB 11714 check character for an 8-character organisation code body:
/// digits keep their value, letters A–Z count 10–35; C9 = 11 − (Σ mod 11),
/// 10 → X, 11 → 0.
fn org_check_char(body: &[u8]) -> Option<char> {
    let mut sum = 0u32;
    for (c, w) in body.iter().zip(ORG_WEIGHTS) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return None,
        };
        sum += v * w;
    }
    Some(match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        d => char::from_digit(d, 10)?,
    })
}

fn salted_hash(salt: &[u8], canonical: &[u8]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(salt);
    ctx.update(canonical);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Where a USCC's registration authority sits (positions 3–8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UsccDivision {
    /// A national-level registration authority (`100000`).
    National,
    /// A registration authority of this GB/T 2260 division.
    Region(RegionCode),
}

/// A validated unified social credit code (统一社会信用代码, GB 32100-2015)
/// of a legal person or other organisation. Public information: shown in
/// clear.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uscc([u8; 18]);

impl Uscc {
    /// Validate `text` as a USCC: 18 characters of [`USCC_ALPHABET`],
    /// position 1 a registration authority code, position 2 an entity type
    /// that authority issues (see [`REGISTRATION_AUTHORITIES`]), positions
    /// 3–8 a GB/T 2260 division code, positions 9–17 an organisation code with
    /// a valid GB 11714 check character, and position 18 the GB 32100 check
    /// character.
    pub fn parse(text: &str) -> Result<Uscc, SubjectIdError> {
        check_length(text)?;
        for (i, c) in text.chars().enumerate() {
            let position = i + 1;
            if c.is_ascii_lowercase() {
                return Err(SubjectIdError::LowercaseLetter { position, found: c });
            }
            if !c.is_ascii() || uscc_value(c as u8).is_none() {
                return Err(SubjectIdError::BadCharacter {
                    position,
                    found: c,
                    expected: EXPECT_USCC,
                });
            }
        }
        // All 18 characters are ASCII now.
        let b = text.as_bytes();
        let authority = char::from(b[0]);
        let Some(types) = REGISTRATION_AUTHORITIES
            .iter()
            .find(|a| a.code == authority)
            .map(|a| a.entity_types)
        else {
            return Err(SubjectIdError::UnknownRegistrationAuthority { found: authority });
        };
        let entity = char::from(b[1]);
        if !types.iter().any(|(t, _)| *t == entity) {
            return Err(SubjectIdError::EntityTypeNotAllowed {
                authority,
                found: entity,
                allowed: types.iter().map(|(t, _)| *t).collect(),
            });
        }
        for (i, c) in b[2..8].iter().enumerate() {
            if !c.is_ascii_digit() {
                return Err(SubjectIdError::BadCharacter {
                    position: i + 3,
                    found: char::from(*c),
                    expected: EXPECT_DIGIT,
                });
            }
        }
        let division = &text[2..8];
        if division != NATIONAL_DIVISION {
            let ok = division
                .parse::<RegionCode>()
                .is_ok_and(|r| is_province(r.as_u32() / 10_000));
            if !ok {
                return Err(SubjectIdError::BadDivision {
                    found: division.to_owned(),
                });
            }
        }
        if let Some(expected) = org_check_char(&b[8..16])
            && expected != char::from(b[16])
        {
            return Err(SubjectIdError::OrganisationCheckDigit {
                expected,
                found: char::from(b[16]),
            });
        }
        if let Some(expected) = uscc_check_char(&b[..17])
            && expected != char::from(b[17])
        {
            return Err(SubjectIdError::CheckDigit {
                expected,
                found: char::from(b[17]),
            });
        }
        let mut out = [0u8; 18];
        out.copy_from_slice(b);
        Ok(Uscc(out))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Invariant: built only from validated ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Registration authority code (position 1, 登记管理部门代码).
    pub fn registration_authority(&self) -> char {
        char::from(self.0[0])
    }

    /// The registration authority's name, e.g. `工商` for `9`.
    pub fn registration_authority_name(&self) -> &'static str {
        self.lookup().map_or("", |(a, _)| a)
    }

    /// Entity type code (position 2, 机构类别代码).
    pub fn entity_type(&self) -> char {
        char::from(self.0[1])
    }

    /// The entity type's name, e.g. `企业` for `91`.
    pub fn entity_type_name(&self) -> &'static str {
        self.lookup().map_or("", |(_, t)| t)
    }

    fn lookup(&self) -> Option<(&'static str, &'static str)> {
        let authority = REGISTRATION_AUTHORITIES
            .iter()
            .find(|a| a.code == self.registration_authority())?;
        let (_, t) = authority
            .entity_types
            .iter()
            .find(|(t, _)| *t == self.entity_type())?;
        Some((authority.name, t))
    }

    /// The registration authority's division (positions 3–8).
    pub fn division(&self) -> UsccDivision {
        let digits = &self.as_str()[2..8];
        match digits.parse::<RegionCode>() {
            Ok(r) if digits != NATIONAL_DIVISION => UsccDivision::Region(r),
            _ => UsccDivision::National,
        }
    }

    /// The organisation code (positions 9–17, 主体标识码, GB 11714).
    pub fn organisation_code(&self) -> &str {
        &self.as_str()[8..17]
    }

    /// SHA-256 of `salt` ‖ the 18 characters, for logs.
    pub fn subject_hash(&self, salt: &[u8]) -> [u8; 32] {
        salted_hash(salt, &self.0)
    }
}

impl FromStr for Uscc {
    type Err = SubjectIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uscc::parse(s)
    }
}

impl fmt::Display for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uscc({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subject_id::SubjectId;

    const TENCENT: &str = "9144030071526726XG";

    #[test]
    fn uscc_parts() {
        let u = Uscc::parse(TENCENT).unwrap();
        assert_eq!(u.registration_authority(), '9');
        assert_eq!(u.registration_authority_name(), "工商");
        assert_eq!(u.entity_type_name(), "企业");
        assert_eq!(
            u.division(),
            UsccDivision::Region("440300".parse().unwrap())
        );
        assert_eq!(u.organisation_code(), "71526726X");
        assert_eq!(format!("{u:?}"), "Uscc(9144030071526726XG)");
        let national = Uscc::parse("51100000500002862F").unwrap();
        assert_eq!(national.division(), UsccDivision::National);
    }

    #[test]
    fn subject_hash_is_salted_sha256_of_canonical_form() {
        let SubjectId::LegalPerson(s) = SubjectId::parse(TENCENT).unwrap() else {
            panic!("a USCC");
        };
        let expected = ring::digest::digest(&ring::digest::SHA256, b"salt9144030071526726XG");
        assert_eq!(s.subject_hash(b"salt").as_slice(), expected.as_ref());
        assert_ne!(s.subject_hash(b"salt"), s.subject_hash(b"pepper"));
    }
}
