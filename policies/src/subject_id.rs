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
//! which regions report against a target below 1‰.

use std::fmt;
use std::str::FromStr;

use credex_protocol::RegionCode;
use ring::digest;
use time::Date;

use crate::catalogue::SubjectKind;

/// The 31 characters of the unified social credit code, in value order
/// (0–30): digits and capital letters without I, O, Z, S, V.
pub const USCC_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Weights of the USCC check character: 3^(i) mod 31 for positions 1–17.
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Weights of the GB 11714 organisation code check character.
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// Weights of the GB 11643 check character (2^(17-i) mod 11).
const CITIZEN_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// GB 11643 check characters indexed by (Σ mod 11).
const CITIZEN_CHECK: &[u8; 11] = b"10X98765432";

/// Province-level divisions of GB/T 2260 (first two digits): the 31
/// mainland provinces, autonomous regions and municipalities, Taiwan (71),
/// Hong Kong (81) and Macao (82).
const GB2260_PROVINCES: [u32; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];

/// The division code national-level registration authorities put in
/// positions 3–8 of a USCC (中华人民共和国, e.g. national social organisations
/// registered with the Ministry of Civil Affairs: `51100000…`).
const NATIONAL_DIVISION: &str = "100000";

/// Earliest birth year accepted in a citizen identity number.
pub const EARLIEST_BIRTH_YEAR: i32 = 1850;

/// A registration authority code of GB 32100 and the entity types it issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationAuthority {
    /// The code (position 1, 登记管理部门代码).
    pub code: char,
    /// The authority's name, e.g. `工商`.
    pub name: &'static str,
    /// (entity type code at position 2 (机构类别代码), its name).
    pub entity_types: &'static [(char, &'static str)],
}

/// Registration authority codes (登记管理部门代码, position 1) and the
/// entity type codes (机构类别代码, position 2) each allows, per GB 32100-2015
/// with amendment No. 1 and the codes assigned since (A, N).
///
/// | 1 | authority | 2 allowed |
/// |---|---|---|
/// | 1 | 机构编制 establishment | 1 机关, 2 事业单位, 3 编办直管群众团体, 9 其他 |
/// | 2 | 外交 foreign affairs | 1 外国常驻新闻机构, 9 其他 |
/// | 3 | 司法行政 justice | 1 律师执业机构, 2 公证处, 3 基层法律服务所, 4 司法鉴定机构, 5 仲裁委员会, 9 其他 |
/// | 4 | 文化 culture | 1 外国在华文化中心, 9 其他 |
/// | 5 | 民政 civil affairs | 1 社会团体, 2 民办非企业单位, 3 基金会, 9 其他 |
/// | 6 | 旅游 tourism | 1 外国旅游部门常驻代表机构, 2 港澳台地区旅游部门常驻内地代表机构, 9 其他 |
/// | 7 | 宗教 religious affairs | 1 宗教活动场所, 2 宗教院校, 9 其他 |
/// | 8 | 工会 trade unions | 1 基层工会, 9 其他 |
/// | 9 | 工商 market regulation | 1 企业, 2 个体工商户, 3 农民专业合作社 |
/// | A | 中央军委改革和编制办公室 military | 1 军队事业单位, 9 其他 |
/// | N | 农业 agriculture | 1 组级集体经济组织, 2 村级集体经济组织, 3 乡镇级集体经济组织, 9 其他 |
/// | Y | 其他 other | 1 |
pub const REGISTRATION_AUTHORITIES: [RegistrationAuthority; 12] = [
    RegistrationAuthority {
        code: '1',
        name: "机构编制",
        entity_types: &[
            ('1', "机关"),
            ('2', "事业单位"),
            ('3', "中央编办直接管理机构编制的群众团体"),
            ('9', "其他"),
        ],
    },
    RegistrationAuthority {
        code: '2',
        name: "外交",
        entity_types: &[('1', "外国常驻新闻机构"), ('9', "其他")],
    },
    RegistrationAuthority {
        code: '3',
        name: "司法行政",
        entity_types: &[
            ('1', "律师执业机构"),
            ('2', "公证处"),
            ('3', "基层法律服务所"),
            ('4', "司法鉴定机构"),
            ('5', "仲裁委员会"),
            ('9', "其他"),
        ],
    },
    RegistrationAuthority {
        code: '4',
        name: "文化",
        entity_types: &[('1', "外国在华文化中心"), ('9', "其他")],
    },
    RegistrationAuthority {
        code: '5',
        name: "民政",
        entity_types: &[
            ('1', "社会团体"),
            ('2', "民办非企业单位"),
            ('3', "基金会"),
            ('9', "其他"),
        ],
    },
    RegistrationAuthority {
        code: '6',
        name: "旅游",
        entity_types: &[
            ('1', "外国旅游部门常驻代表机构"),
            ('2', "港澳台地区旅游部门常驻内地（大陆）代表机构"),
            ('9', "其他"),
        ],
    },
    RegistrationAuthority {
        code: '7',
        name: "宗教",
        entity_types: &[('1', "宗教活动场所"), ('2', "宗教院校"), ('9', "其他")],
    },
    RegistrationAuthority {
        code: '8',
        name: "工会",
        entity_types: &[('1', "基层工会"), ('9', "其他")],
    },
    RegistrationAuthority {
        code: '9',
        name: "工商",
        entity_types: &[('1', "企业"), ('2', "个体工商户"), ('3', "农民专业合作社")],
    },
    RegistrationAuthority {
        code: 'A',
        name: "中央军委改革和编制办公室",
        entity_types: &[('1', "军队事业单位"), ('9', "其他")],
    },
    RegistrationAuthority {
        code: 'N',
        name: "农业",
        entity_types: &[
            ('1', "组级集体经济组织"),
            ('2', "村级集体经济组织"),
            ('3', "乡镇级集体经济组织"),
            ('9', "其他"),
        ],
    },
    RegistrationAuthority {
        code: 'Y',
        name: "其他",
        entity_types: &[('1', "其他")],
    },
];

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
    /// use [`SubjectId::parse_as`] with the kind known from context.
    #[error(
        "valid both as a unified social credit code and as a citizen identity number; the subject kind must be given"
    )]
    Ambiguous,
}

const EXPECT_USCC: &str = "0-9 or a capital letter other than I, O, S, V, Z";
const EXPECT_DIGIT: &str = "a digit 0-9";
const EXPECT_CITIZEN_CHECK: &str = "a digit 0-9 or X";

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

/// The GB 11643 check character for the first 17 digits.
fn citizen_check_char(first17: &[u8]) -> char {
    let sum: u32 = first17
        .iter()
        .zip(CITIZEN_WEIGHTS)
        .map(|(c, w)| u32::from(c - b'0') * w)
        .sum();
    char::from(CITIZEN_CHECK[(sum % 11) as usize])
}

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

fn birth_date(b: &[u8]) -> Option<Date> {
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
    fn subject_hash_is_salted_sha256_of_canonical_form() {
        let SubjectId::LegalPerson(s) = SubjectId::parse(TENCENT).unwrap() else {
            panic!("a USCC");
        };
        let expected = ring::digest::digest(&ring::digest::SHA256, b"salt9144030071526726XG");
        assert_eq!(s.subject_hash(b"salt").as_slice(), expected.as_ref());
        assert_ne!(s.subject_hash(b"salt"), s.subject_hash(b"pepper"));
    }

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
    fn birth_date_not_after_today() {
        let c = CitizenId::parse(CITIZEN).unwrap();
        let before = Date::from_calendar_date(1899, time::Month::December, 31).unwrap();
        assert_eq!(
            c.check_birth_not_after(before),
            Err(SubjectIdError::BirthDateOutOfRange)
        );
        assert!(c.check_birth_not_after(c.birth_date()).is_ok());
    }

    #[test]
    fn mask_short_and_long() {
        assert_eq!(mask("abc"), "***");
        assert_eq!(mask("123456789"), "1234*6789");
        assert_eq!(mask("身份证号码一二三四五"), "身份证号**二三四五");
    }

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
