//! The checks on one `[[scheme]]` of an agreement: versions, maximum age,
//! the common scale, one treatment per common grade, and every member's own
//! scale with its two mappings (total, on the right scales, order-preserving).
//!
//! Owns: building [`SchemeTerms`] and [`MemberScale`] from their raw tables. Does not own the
//! agreement-level rules ([`super::parse`]) nor recognition
//! ([`super::recognise`]).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use credex_protocol::RegionCode;
use credex_protocol::evaluation::{MAX_GRADE_LEN, MAX_SCHEME_VERSION_LEN, Scheme};
use toml::Spanned;

use super::parse::Parser;
use super::raw::{RawMapping, RawMember, RawScheme, RawTreatment};
use super::{AgreementError, AgreementErrorKind, MemberScale, NotMonotone, SchemeTerms, Treatment};

/// Longest accepted `max_age_days` (ten years).
pub(super) const MAX_AGE_DAYS: u32 = 3660;

/// Whether `g` can be a grade: 1 to `MAX_GRADE_LEN` bytes, no surrounding blanks.
fn is_grade(g: &str) -> bool {
    (1..=MAX_GRADE_LEN).contains(&g.len()) && g.trim() == g
}

impl Parser<'_> {
    /// One `[[scheme]]` of agreement `code`, whose members are `members`.
    pub(super) fn scheme(
        &self,
        code: &str,
        members: &BTreeSet<RegionCode>,
        s: RawScheme,
    ) -> Result<SchemeTerms, AgreementError> {
        let scheme = *s.scheme.get_ref();
        let scheme_span = s.scheme.span();
        let versions = self.versions(code, scheme, &s.versions)?;
        let days = *s.max_age_days.get_ref();
        if !(1..=MAX_AGE_DAYS).contains(&days) {
            return Err(self.err(
                &s.max_age_days.span(),
                AgreementErrorKind::BadMaxAge {
                    agreement: code.to_owned(),
                    scheme,
                    days,
                },
            ));
        }
        let common_scale = self.common_scale(code, scheme, &s.common_scale)?;
        let treatments = self.treatments(code, scheme, &scheme_span, &common_scale, s.treatment)?;
        let scales =
            self.member_scales(code, scheme, &scheme_span, members, &common_scale, s.member)?;
        Ok(SchemeTerms {
            scheme,
            versions,
            max_age_days: days,
            common_scale,
            treatments,
            members: scales,
        })
    }

    /// `versions`: at least one, each of bounded length, none twice.
    fn versions(
        &self,
        code: &str,
        scheme: Scheme,
        raw: &Spanned<Vec<String>>,
    ) -> Result<BTreeSet<String>, AgreementError> {
        let mut versions = BTreeSet::new();
        let versions_ok = !raw.get_ref().is_empty()
            && raw.get_ref().iter().all(|v| {
                (1..=MAX_SCHEME_VERSION_LEN).contains(&v.len()) && versions.insert(v.clone())
            });
        if !versions_ok {
            return Err(self.err(
                &raw.span(),
                AgreementErrorKind::BadVersions {
                    agreement: code.to_owned(),
                    scheme,
                },
            ));
        }
        Ok(versions)
    }

    /// `common_scale`: not empty, valid grades, none twice, best → worst.
    fn common_scale(
        &self,
        code: &str,
        scheme: Scheme,
        raw: &Spanned<Vec<Spanned<String>>>,
    ) -> Result<Vec<String>, AgreementError> {
        let agreement = || code.to_owned();
        if raw.get_ref().is_empty() {
            return Err(self.err(
                &raw.span(),
                AgreementErrorKind::EmptyCommonScale {
                    agreement: agreement(),
                    scheme,
                },
            ));
        }
        let mut common_scale: Vec<String> = Vec::new();
        for g in raw.get_ref() {
            let grade = g.get_ref().clone();
            if !is_grade(&grade) {
                let kind = AgreementErrorKind::BadGrade {
                    agreement: agreement(),
                    scheme,
                    grade,
                };
                return Err(self.err(&g.span(), kind));
            }
            if common_scale.contains(&grade) {
                let kind = AgreementErrorKind::DuplicateCommonGrade {
                    agreement: agreement(),
                    scheme,
                    grade,
                };
                return Err(self.err(&g.span(), kind));
            }
            common_scale.push(grade);
        }
        Ok(common_scale)
    }

    /// `[[scheme.treatment]]`: exactly one per common grade.
    fn treatments(
        &self,
        code: &str,
        scheme: Scheme,
        scheme_span: &Range<usize>,
        common_scale: &[String],
        raw: Vec<RawTreatment>,
    ) -> Result<BTreeMap<String, Treatment>, AgreementError> {
        let agreement = || code.to_owned();
        let mut treatments = BTreeMap::new();
        for t in raw {
            let grade = t.grade.get_ref().clone();
            if !common_scale.contains(&grade) || treatments.contains_key(&grade) {
                let kind = AgreementErrorKind::BadTreatment {
                    agreement: agreement(),
                    scheme,
                    grade,
                };
                return Err(self.err(&t.grade.span(), kind));
            }
            treatments.insert(
                grade,
                Treatment {
                    supervision_tier: t.supervision_tier,
                    green_channel: t.green_channel,
                    notes: t.notes,
                },
            );
        }
        if let Some(grade) = common_scale.iter().find(|g| !treatments.contains_key(*g)) {
            let kind = AgreementErrorKind::TreatmentMissing {
                agreement: agreement(),
                scheme,
                grade: grade.clone(),
            };
            return Err(self.err(scheme_span, kind));
        }
        Ok(treatments)
    }

    /// `[[scheme.member]]`: one per member of the agreement, none for a
    /// non-member.
    fn member_scales(
        &self,
        code: &str,
        scheme: Scheme,
        scheme_span: &Range<usize>,
        members: &BTreeSet<RegionCode>,
        common_scale: &[String],
        raw: Vec<RawMember>,
    ) -> Result<BTreeMap<RegionCode, MemberScale>, AgreementError> {
        let agreement = || code.to_owned();
        if raw.is_empty() {
            let kind = AgreementErrorKind::NoMapping {
                agreement: agreement(),
                scheme,
            };
            return Err(self.err(scheme_span, kind));
        }
        let mut scales = BTreeMap::new();
        for m in raw {
            let region = *m.region.get_ref();
            if !members.contains(&region) {
                let kind = AgreementErrorKind::NotAMember {
                    agreement: agreement(),
                    scheme,
                    region,
                };
                return Err(self.err(&m.region.span(), kind));
            }
            if scales.contains_key(&region) {
                let kind = AgreementErrorKind::DuplicateMemberScale {
                    agreement: agreement(),
                    scheme,
                    member: region,
                };
                return Err(self.err(&m.region.span(), kind));
            }
            let ctx = MemberCtx {
                agreement: code,
                scheme,
                member: region,
                common_scale,
            };
            scales.insert(region, self.member(&ctx, m)?);
        }
        if let Some(&member) = members.iter().find(|r| !scales.contains_key(*r)) {
            let kind = AgreementErrorKind::MemberWithoutScale {
                agreement: agreement(),
                scheme,
                member,
            };
            return Err(self.err(scheme_span, kind));
        }
        Ok(scales)
    }

    /// One member's own scale and its two mappings.
    fn member(&self, ctx: &MemberCtx<'_>, m: RawMember) -> Result<MemberScale, AgreementError> {
        let mut scale: Vec<String> = Vec::new();
        for g in m.scale.get_ref() {
            let grade = g.get_ref().clone();
            if !is_grade(&grade) || scale.contains(&grade) {
                return Err(self.err(&g.span(), ctx.bad_scale(grade)));
            }
            scale.push(grade);
        }
        if scale.is_empty() {
            return Err(self.err(&m.scale.span(), ctx.bad_scale(String::new())));
        }
        let to_common = self.mapping(ctx, &m.to_common, &scale, ctx.common_scale, "to_common")?;
        let to_local = self.mapping(ctx, &m.to_local, ctx.common_scale, &scale, "to_local")?;
        Ok(MemberScale {
            scale,
            to_common,
            to_local,
        })
    }

    /// Check a mapping from the `from` scale to the `to` scale: keys on
    /// `from`, values on `to`, total, and order-preserving.
    fn mapping(
        &self,
        ctx: &MemberCtx<'_>,
        raw: &RawMapping,
        from: &[String],
        to: &[String],
        name: &'static str,
    ) -> Result<BTreeMap<String, String>, AgreementError> {
        let to_common = name == "to_common";
        // Which scale a grade that is on neither side should be blamed on.
        let unknown_from = |g: &str| {
            if to_common {
                ctx.unknown_member(g)
            } else {
                ctx.unknown_common(g)
            }
        };
        let unknown_to = |g: &str| {
            if to_common {
                ctx.unknown_common(g)
            } else {
                ctx.unknown_member(g)
            }
        };
        let mut out = BTreeMap::new();
        for (key, value) in raw.get_ref() {
            if !from.contains(key) {
                return Err(self.err(&raw.span(), unknown_from(key)));
            }
            if !to.contains(value.get_ref()) {
                return Err(self.err(&value.span(), unknown_to(value.get_ref())));
            }
            out.insert(key.clone(), value.get_ref().clone());
        }
        if let Some(missing) = from.iter().find(|g| !out.contains_key(*g)) {
            let kind = if to_common {
                ctx.unmapped_member(missing)
            } else {
                ctx.unmapped_common(missing)
            };
            return Err(self.err(&raw.span(), kind));
        }
        // Order-preserving: walking `from` best → worst never goes up on `to`.
        // Indexing `out` cannot panic: the totality check above returned
        // unless every grade of `from` is a key.
        let rank = |g: &String| to.iter().position(|t| t == g);
        for pair in from.windows(2) {
            let (better, worse) = (&pair[0], &pair[1]);
            if rank(&out[better]) > rank(&out[worse]) {
                let kind = AgreementErrorKind::NotMonotone(Box::new(NotMonotone {
                    agreement: ctx.agreement.to_owned(),
                    scheme: ctx.scheme,
                    member: ctx.member,
                    mapping: name,
                    better: better.clone(),
                    worse: worse.clone(),
                }));
                return Err(self.err(&raw.span(), kind));
            }
        }
        Ok(out)
    }
}

/// The agreement, scheme and member a member table belongs to, for errors.
struct MemberCtx<'a> {
    agreement: &'a str,
    scheme: Scheme,
    member: RegionCode,
    common_scale: &'a [String],
}

impl MemberCtx<'_> {
    fn bad_scale(&self, grade: String) -> AgreementErrorKind {
        AgreementErrorKind::BadMemberScale {
            agreement: self.agreement.to_owned(),
            scheme: self.scheme,
            member: self.member,
            grade,
        }
    }
    fn unknown_member(&self, grade: &str) -> AgreementErrorKind {
        AgreementErrorKind::UnknownMemberGrade {
            agreement: self.agreement.to_owned(),
            scheme: self.scheme,
            member: self.member,
            grade: grade.to_owned(),
        }
    }
    fn unknown_common(&self, grade: &str) -> AgreementErrorKind {
        AgreementErrorKind::UnknownCommonGrade {
            agreement: self.agreement.to_owned(),
            scheme: self.scheme,
            member: self.member,
            grade: grade.to_owned(),
        }
    }
    fn unmapped_member(&self, grade: &str) -> AgreementErrorKind {
        AgreementErrorKind::UnmappedMemberGrade {
            agreement: self.agreement.to_owned(),
            scheme: self.scheme,
            member: self.member,
            grade: grade.to_owned(),
        }
    }
    fn unmapped_common(&self, grade: &str) -> AgreementErrorKind {
        AgreementErrorKind::UnmappedCommonGrade {
            agreement: self.agreement.to_owned(),
            scheme: self.scheme,
            member: self.member,
            grade: grade.to_owned(),
        }
    }
}
