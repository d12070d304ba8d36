//! Loading one agreement file: the agreement's own rules (code, example
//! note, members, at least one scheme or a joint section) and its joint
//! reward/punishment section (list types, deadlines, released fields).
//!
//! Owns: [`Parser`], which keeps the text and origin so every refusal points
//! at a span. Does not own the checks on a scheme's scales and mappings
//! ([`super::scheme`]) nor the set of agreements ([`super::AgreementSet`]).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use toml::Spanned;

use credex_protocol::report::ReportKind;

use super::raw::{RawAgreement, RawJoint, RawReports};
use super::{Agreement, AgreementError, AgreementErrorKind, JointTerms, ReportTerms};
use crate::Purpose;
use crate::measures::ListType;
use crate::source::{self, LoadError};

/// Longest deadline in the joint section, in days.
pub(super) const MAX_JOINT_DAYS: u32 = 365;

/// Parses one file; keeps the text and origin so every rule can point at a span.
pub(super) struct Parser<'a> {
    pub(super) text: &'a str,
    pub(super) origin: &'a str,
}

impl Parser<'_> {
    /// A load error of `kind` at `span`.
    pub(super) fn err(&self, span: &Range<usize>, kind: AgreementErrorKind) -> AgreementError {
        LoadError::at(self.origin, self.text, span, kind)
    }

    /// The agreement in the text, with the span of its code.
    pub(super) fn agreement(&self) -> Result<(Agreement, Range<usize>), AgreementError> {
        let raw: RawAgreement = toml::from_str(self.text).map_err(|e| {
            LoadError::from_toml(self.origin, self.text, &e, AgreementErrorKind::Toml)
        })?;
        let code = raw.code.get_ref().clone();
        let code_span = raw.code.span();
        if !source::is_slug(&code) {
            return Err(self.err(&code_span, AgreementErrorKind::BadCode(code)));
        }
        if raw.example && raw.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
            return Err(self.err(&code_span, AgreementErrorKind::ExampleWithoutNote(code)));
        }
        let mut members = BTreeSet::new();
        for m in raw.members.get_ref() {
            let region = *m.get_ref();
            if region.is_national() {
                return Err(self.err(&m.span(), AgreementErrorKind::NationalMember(code)));
            }
            if !members.insert(region) {
                return Err(self.err(
                    &m.span(),
                    AgreementErrorKind::DuplicateMember {
                        agreement: code,
                        region,
                    },
                ));
            }
        }
        if members.len() < 2 {
            return Err(self.err(&raw.members.span(), AgreementErrorKind::TooFewMembers(code)));
        }
        let joint = match raw.joint {
            Some(j) => Some(self.joint(&code, j)?),
            None => None,
        };
        let reports = match raw.reports {
            Some(r) => Some(self.reports(&code, r)?),
            None => None,
        };
        let mut schemes = BTreeMap::new();
        for s in raw.scheme {
            let scheme = *s.scheme.get_ref();
            if schemes.contains_key(&scheme) {
                return Err(self.err(
                    &s.scheme.span(),
                    AgreementErrorKind::DuplicateScheme {
                        agreement: code,
                        scheme,
                    },
                ));
            }
            schemes.insert(scheme, self.scheme(&code, &members, s)?);
        }
        if schemes.is_empty() && joint.is_none() && reports.is_none() {
            return Err(self.err(&code_span, AgreementErrorKind::Empty(code)));
        }
        let agreement = Agreement {
            code,
            name_zh: raw.name_zh,
            name_en: raw.name_en,
            example: raw.example,
            note: raw.note,
            members,
            schemes,
            joint,
            reports,
        };
        Ok((agreement, code_span))
    }

    /// The `[joint]` section: list types once, deadlines of 1 to
    /// [`MAX_JOINT_DAYS`] days, released fields of the lists' categories.
    fn joint(&self, code: &str, j: Spanned<RawJoint>) -> Result<JointTerms, AgreementError> {
        let j = j.into_inner();
        let mut list_types = BTreeSet::new();
        let all_once = j.list_types.get_ref().iter().all(|l| list_types.insert(*l));
        if !all_once || list_types.is_empty() {
            return Err(self.err(
                &j.list_types.span(),
                AgreementErrorKind::BadJointListTypes(code.to_owned()),
            ));
        }
        for (key, days) in [
            ("respond_within_days", &j.respond_within_days),
            ("feedback_within_days", &j.feedback_within_days),
            ("change_confirm_within_days", &j.change_confirm_within_days),
        ] {
            if !(1..=MAX_JOINT_DAYS).contains(days.get_ref()) {
                return Err(self.err(
                    &days.span(),
                    AgreementErrorKind::BadJointDeadline {
                        agreement: code.to_owned(),
                        key,
                    },
                ));
            }
        }
        let mut release = BTreeMap::new();
        let catalogue = crate::Catalogue::base();
        for (list, fields) in &j.release {
            let at = fields.span();
            let bad = |reason: String| {
                self.err(
                    &at,
                    AgreementErrorKind::BadJointRelease {
                        agreement: code.to_owned(),
                        reason,
                    },
                )
            };
            let list_type: ListType = list
                .parse()
                .map_err(|_| bad(format!("{list:?} is not a list type")))?;
            if !list_types.contains(&list_type) {
                return Err(bad(format!("{list:?} is not in list_types")));
            }
            let category = list_type.catalogue_category();
            let mut named = BTreeSet::new();
            for f in fields.get_ref() {
                match catalogue.field(category, f) {
                    None => return Err(bad(format!("{f:?} is not a field of {category}"))),
                    Some(field) if field.class == crate::SensitivityClass::Internal => {
                        return Err(bad(format!(
                            "{category}.{f} is internal (内部) and never leaves a node"
                        )));
                    }
                    Some(_) => {
                        named.insert(f.clone());
                    }
                }
            }
            release.insert(list_type, named);
        }
        Ok(JointTerms {
            list_types,
            release,
            respond_within_days: *j.respond_within_days.get_ref(),
            feedback_within_days: *j.feedback_within_days.get_ref(),
            change_confirm_within_days: *j.change_confirm_within_days.get_ref(),
        })
    }

    /// The `[reports]` section: known kinds and check purposes, each named
    /// once and at least one of each; a maximum age of 1 to 366 days.
    fn reports(&self, code: &str, r: Spanned<RawReports>) -> Result<ReportTerms, AgreementError> {
        let r = r.into_inner();
        let bad = |span: &Range<usize>, reason: String| {
            self.err(
                span,
                AgreementErrorKind::BadReports {
                    agreement: code.to_owned(),
                    reason,
                },
            )
        };
        let mut kinds = BTreeSet::new();
        for k in r.kinds.get_ref() {
            let kind = ReportKind::from_code(k).ok_or_else(|| {
                bad(
                    &r.kinds.span(),
                    format!("kind {k:?} is not general or no_violation"),
                )
            })?;
            if !kinds.insert(kind) {
                return Err(bad(&r.kinds.span(), format!("kind {k:?} is named twice")));
            }
        }
        let mut purposes = BTreeSet::new();
        for p in r.purposes.get_ref() {
            let purpose: Purpose = p
                .parse()
                .ok()
                .filter(|p| crate::check_release::is_check_purpose(*p))
                .ok_or_else(|| {
                    bad(
                        &r.purposes.span(),
                        format!("purpose {p:?} is not a check purpose"),
                    )
                })?;
            if !purposes.insert(purpose) {
                return Err(bad(
                    &r.purposes.span(),
                    format!("purpose {p:?} is named twice"),
                ));
            }
        }
        if kinds.is_empty() || purposes.is_empty() {
            return Err(bad(
                &r.kinds.span(),
                "kinds and purposes must each name at least one".into(),
            ));
        }
        let max_age_days = *r.max_age_days.get_ref();
        if !(1..=366).contains(&max_age_days) {
            return Err(bad(
                &r.max_age_days.span(),
                format!("max_age_days {max_age_days} is not 1 to 366"),
            ));
        }
        Ok(ReportTerms {
            kinds,
            purposes,
            max_age_days,
        })
    }
}
