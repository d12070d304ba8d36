//! Subject identifiers against the committed reference vectors (computed by
//! tests/data/vectors.py, independently of this crate), and one failing case
//! per rule of each standard with its exact error.

#![allow(clippy::unwrap_used)]

use credex_policies::subject_id::UsccDivision;
use credex_policies::{CitizenId, SubjectId, SubjectIdError, SubjectKind, Uscc, check_batch};

const USCC_VALID: &str = include_str!("data/uscc_valid.txt");
const USCC_INVALID: &str = include_str!("data/uscc_invalid.txt");
const CITIZEN_VALID: &str = include_str!("data/citizen_id_valid.txt");
const CITIZEN_INVALID: &str = include_str!("data/citizen_id_invalid.txt");

/// (identifier, tag) for each data line; the tag is the comment up to ':'.
fn vectors(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (id, comment) = l.split_once('#').expect("every vector has a comment");
            let tag = comment.trim().split(':').next().unwrap_or_default();
            (id.trim(), tag)
        })
        .collect()
}

#[test]
fn valid_usccs_are_accepted() {
    let v = vectors(USCC_VALID);
    assert!(v.len() >= 15);
    for (id, _) in v {
        let u = Uscc::parse(id).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(u.as_str(), id);
        assert_eq!(
            SubjectId::parse(id).unwrap_or_else(|e| panic!("{id}: {e}")),
            SubjectId::LegalPerson(u)
        );
    }
}

#[test]
fn valid_citizen_ids_are_accepted() {
    let v = vectors(CITIZEN_VALID);
    assert!(v.len() >= 10);
    assert!(v.iter().any(|(id, _)| id.ends_with('X')));
    for (id, _) in v {
        let c = CitizenId::parse(id).unwrap_or_else(|e| panic!("{}: {e}", &id[..4]));
        assert_eq!(c.expose(), id);
        assert_eq!(SubjectId::parse(id).unwrap(), SubjectId::NaturalPerson(c));
    }
}

#[test]
fn invalid_usccs_fail_with_the_tagged_rule() {
    let v = vectors(USCC_INVALID);
    assert!(v.len() >= 15);
    for (id, tag) in v {
        let e = Uscc::parse(id).expect_err(id);
        let ok = match tag {
            "check_digit" => matches!(e, SubjectIdError::CheckDigit { .. }),
            "org_check" => matches!(e, SubjectIdError::OrganisationCheckDigit { .. }),
            "lowercase" => matches!(e, SubjectIdError::LowercaseLetter { .. }),
            "character" => matches!(e, SubjectIdError::BadCharacter { .. }),
            "length" => matches!(e, SubjectIdError::WrongLength { .. }),
            "authority" => matches!(e, SubjectIdError::UnknownRegistrationAuthority { .. }),
            "entity_type" => matches!(e, SubjectIdError::EntityTypeNotAllowed { .. }),
            "division" => matches!(
                e,
                SubjectIdError::BadDivision { .. }
                    | SubjectIdError::BadCharacter {
                        position: 3..=8,
                        ..
                    }
            ),
            other => panic!("unknown tag {other}"),
        };
        assert!(ok, "{id} ({tag}): got {e:?}");
        assert!(SubjectId::parse(id).is_err(), "{id}");
    }
}

#[test]
fn invalid_citizen_ids_fail_with_the_tagged_rule() {
    let v = vectors(CITIZEN_INVALID);
    assert!(v.len() >= 12);
    for (id, tag) in v {
        let e = CitizenId::parse(id).expect_err(tag);
        let ok = match tag {
            "check_digit" => matches!(e, SubjectIdError::CheckDigit { .. }),
            "lowercase" => matches!(e, SubjectIdError::LowercaseLetter { position: 18, .. }),
            "province" => matches!(e, SubjectIdError::UnknownProvince { .. }),
            "birth_date" => e == SubjectIdError::BadBirthDate,
            "birth_range" => e == SubjectIdError::BirthDateOutOfRange,
            "length" => matches!(e, SubjectIdError::WrongLength { .. }),
            "first_generation" => e == SubjectIdError::FirstGenerationCitizenId,
            "character" => matches!(e, SubjectIdError::BadCharacter { .. }),
            other => panic!("unknown tag {other}"),
        };
        assert!(ok, "{tag}: got {e:?}");
        assert!(SubjectId::parse(id).is_err(), "{tag}");
        // No error message carries the number.
        let msg = e.to_string();
        assert!(id.len() < 10 || !msg.contains(&id[..10]), "{msg}");
    }
}

#[test]
fn batch_check_counts_every_vector_file() {
    let valid: String = [USCC_VALID, CITIZEN_VALID].concat();
    let r = check_batch(valid.lines());
    assert!(r.invalid.is_empty(), "{:?}", r.invalid);
    assert_eq!(r.wrong_code_rate_per_mille, 0.0);
    assert!(r.meets_target());
    assert_eq!(r.legal_persons, vectors(USCC_VALID).len());
    assert_eq!(r.natural_persons, vectors(CITIZEN_VALID).len());

    let invalid: String = [USCC_INVALID, CITIZEN_INVALID].concat();
    let r = check_batch(invalid.lines());
    assert_eq!(r.invalid.len(), r.total);
    assert_eq!(r.wrong_code_rate_per_mille, 1000.0);
    // Reported lines are masked: first 4 and last 4 characters only.
    for bad in &r.invalid {
        let line = invalid.lines().nth(bad.line - 1).unwrap();
        let id = line.split('#').next().unwrap().trim();
        if id.chars().count() > 8 {
            assert_ne!(bad.masked, id);
            assert!(bad.masked.contains('*'));
        }
    }
}

#[test]
fn wrong_code_rate_against_the_one_per_mille_target() {
    let good = "9144030071526726XG\n".repeat(1999);
    let r = check_batch(format!("{good}9144030071526726XH\n").lines());
    assert_eq!(r.total, 2000);
    assert!((r.wrong_code_rate_per_mille - 0.5).abs() < 1e-9);
    assert!(r.meets_target());
    // 2 in 2001 is just under 1‰; 3 in 2002 is over.
    let r = check_batch(format!("{good}bad\nbad\n").lines());
    assert!(r.wrong_code_rate_per_mille < 1.0 && r.meets_target());
    let r = check_batch(format!("{good}bad\nbad\nbad\n").lines());
    assert!(r.wrong_code_rate_per_mille > 1.0 && !r.meets_target());
}

// One failing case per USCC rule, with the exact error.

#[test]
fn uscc_rule_length() {
    assert_eq!(
        Uscc::parse("9144030071526726X"),
        Err(SubjectIdError::WrongLength { actual: 17 })
    );
    assert_eq!(Uscc::parse(""), Err(SubjectIdError::Empty));
}

#[test]
fn uscc_rule_alphabet() {
    assert_eq!(
        Uscc::parse("9144030071526726IG"),
        Err(SubjectIdError::BadCharacter {
            position: 17,
            found: 'I',
            expected: "0-9 or a capital letter other than I, O, S, V, Z",
        })
    );
    assert_eq!(
        Uscc::parse("914403007152672 XG"),
        Err(SubjectIdError::BadCharacter {
            position: 16,
            found: ' ',
            expected: "0-9 or a capital letter other than I, O, S, V, Z",
        })
    );
    assert_eq!(
        Uscc::parse("9144030071526726Xg"),
        Err(SubjectIdError::LowercaseLetter {
            position: 18,
            found: 'g'
        })
    );
}

#[test]
fn uscc_rule_registration_authority() {
    assert_eq!(
        Uscc::parse("B144030071526726XE"),
        Err(SubjectIdError::UnknownRegistrationAuthority { found: 'B' })
    );
}

#[test]
fn uscc_rule_entity_type() {
    assert_eq!(
        Uscc::parse("9444030071526726X7"),
        Err(SubjectIdError::EntityTypeNotAllowed {
            authority: '9',
            found: '4',
            allowed: "123".into(),
        })
    );
}

#[test]
fn uscc_rule_division() {
    assert_eq!(
        Uscc::parse("9199030071526726XN"),
        Err(SubjectIdError::BadDivision {
            found: "990300".into()
        })
    );
    assert_eq!(
        Uscc::parse("9144A30071526726XC"),
        Err(SubjectIdError::BadCharacter {
            position: 5,
            found: 'A',
            expected: "a digit 0-9",
        })
    );
    // National-level registration uses 100000.
    let u = Uscc::parse("51100000500002862F").unwrap();
    assert_eq!(u.division(), UsccDivision::National);
}

#[test]
fn uscc_rule_organisation_check() {
    assert_eq!(
        Uscc::parse("914403007152672630"),
        Err(SubjectIdError::OrganisationCheckDigit {
            expected: 'X',
            found: '3'
        })
    );
}

#[test]
fn uscc_rule_check_character() {
    let e = Uscc::parse("9144030071526726XH").unwrap_err();
    assert_eq!(
        e,
        SubjectIdError::CheckDigit {
            expected: 'G',
            found: 'H'
        }
    );
    assert_eq!(
        e.to_string(),
        "position 18: check character is 'H', expected 'G'"
    );
}

// One failing case per citizen identity number rule.

#[test]
fn citizen_rule_length_and_first_generation() {
    assert_eq!(
        CitizenId::parse("52010219000101001"),
        Err(SubjectIdError::WrongLength { actual: 17 })
    );
    assert_eq!(
        CitizenId::parse("520102000101001"),
        Err(SubjectIdError::FirstGenerationCitizenId)
    );
}

#[test]
fn citizen_rule_digits() {
    assert_eq!(
        CitizenId::parse("52010219000101A019"),
        Err(SubjectIdError::BadCharacter {
            position: 15,
            found: 'A',
            expected: "a digit 0-9",
        })
    );
    assert_eq!(
        CitizenId::parse("52010319030303001x"),
        Err(SubjectIdError::LowercaseLetter {
            position: 18,
            found: 'x'
        })
    );
}

#[test]
fn citizen_rule_province() {
    assert_eq!(
        CitizenId::parse("990102190001010014"),
        Err(SubjectIdError::UnknownProvince { found: "99".into() })
    );
}

#[test]
fn citizen_rule_birth_date() {
    assert_eq!(
        CitizenId::parse("520102190102290011"),
        Err(SubjectIdError::BadBirthDate)
    );
    assert_eq!(
        CitizenId::parse("520102179901010015"),
        Err(SubjectIdError::BirthDateOutOfRange)
    );
}

#[test]
fn citizen_rule_check_character() {
    assert_eq!(
        CitizenId::parse("520102190001010010"),
        Err(SubjectIdError::CheckDigit {
            expected: '7',
            found: '0'
        })
    );
}

#[test]
fn shape_decides_the_kind_and_ambiguity_is_reported() {
    // Synthetic: valid as a USCC (机关, division 110119) and as a citizen
    // number (province 11, born 1957-12-17) at once; region 111101 does not
    // exist, so it is nobody's identity number. Found by search in Python.
    let both = "11110119571217860X";
    assert!(Uscc::parse(both).is_ok());
    assert!(CitizenId::parse(both).is_ok());
    assert_eq!(SubjectId::parse(both), Err(SubjectIdError::Ambiguous));
    assert_eq!(
        SubjectId::parse_as(SubjectKind::NaturalPerson, both)
            .unwrap()
            .kind(),
        SubjectKind::NaturalPerson
    );
    let r = check_batch([both].into_iter());
    assert_eq!((r.ambiguous, r.invalid.len()), (1, 0));

    // A citizen-shaped number with a bad check digit reports the citizen
    // error, a code-shaped one the USCC error.
    assert!(matches!(
        SubjectId::parse("520102190001010010"),
        Err(SubjectIdError::CheckDigit { expected: '7', .. })
    ));
    assert!(matches!(
        SubjectId::parse("914403001922038217"),
        Err(SubjectIdError::CheckDigit { expected: '6', .. })
    ));
}
