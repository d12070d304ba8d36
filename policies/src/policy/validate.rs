//! The load-time checks on a policy's legal bases and on each rule, in the
//! order the module doc of [`super`] lists them: one function per part of a
//! rule (id, peers, purposes, validity, subject-side condition, quota,
//! releases), each refusing with a [`PolicyErrorKind`] at the span of the
//! offending value.
//!
//! Owns: turning the raw shapes ([`super::raw`]) into a checked
//! [`LegalBasis`] table and [`Rule`]s. Does not own TOML parsing
//! ([`super::raw`]), the comparison of two rules
//! ([`super::contradiction`]), or the hash ([`super::hash`]).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use credex_protocol::RegionCode;
use time::Date;
use toml::Spanned;

use super::contradiction::contradiction;
use super::raw::{DateValue, RawFields, RawLegalBasis, RawPeers, RawQuota, RawRelease, RawRule};
use super::{
    AuthorizationRequirement, LegalBasis, Peers, PolicyError, PolicyErrorKind, Purpose, Quota, Rule,
};
use crate::catalogue::{Catalogue, Category, SensitivityClass};
use crate::consent::ConsentSource;
use crate::groups::AgreementGroups;
use crate::source::{self, LoadError};

/// The policy text being loaded, for errors that name its file and line.
pub(super) struct PolicyText<'a> {
    /// The origin name (usually the file name).
    pub(super) origin: &'a str,
    /// The whole TOML text.
    pub(super) text: &'a str,
}

impl PolicyText<'_> {
    /// A load error of `kind` at `span`.
    fn error(&self, span: &Range<usize>, kind: PolicyErrorKind) -> PolicyError {
        LoadError::at(self.origin, self.text, span, kind)
    }

    /// The line `span` starts on.
    fn line(&self, span: &Range<usize>) -> u32 {
        source::Location::span(self.origin, self.text, span)
            .line
            .unwrap_or_default()
    }
}

/// What a rule is checked against besides its own text.
pub(super) struct RuleContext<'a> {
    /// The policy owner's region.
    pub(super) owner: RegionCode,
    /// The catalogue its releases must name.
    pub(super) catalogue: &'a Catalogue,
    /// The agreement groups its peers may name.
    pub(super) groups: &'a AgreementGroups,
    /// The legal bases the policy defines.
    pub(super) legal_bases: &'a BTreeMap<String, LegalBasis>,
}

/// The `[[legal_basis]]` tables: slug codes, non-empty titles, no repeats.
pub(super) fn legal_bases(
    file: &PolicyText<'_>,
    raw: Vec<RawLegalBasis>,
) -> Result<BTreeMap<String, LegalBasis>, PolicyError> {
    let mut legal_bases = BTreeMap::new();
    for lb in raw {
        let code = lb.code.get_ref().clone();
        if !source::is_slug(&code) || lb.title.trim().is_empty() {
            return Err(file.error(&lb.code.span(), PolicyErrorKind::BadLegalBasis(code)));
        }
        if legal_bases.contains_key(&code) {
            return Err(file.error(&lb.code.span(), PolicyErrorKind::DuplicateLegalBasis(code)));
        }
        legal_bases.insert(
            code.clone(),
            LegalBasis {
                code,
                title: lb.title,
            },
        );
    }
    Ok(legal_bases)
}

/// One `[[rule]]`, checked on its own and then against the `earlier` rules
/// of the file (duplicate id, contradiction).
pub(super) fn rule(
    file: &PolicyText<'_>,
    context: &RuleContext<'_>,
    raw: RawRule,
    earlier: &[Rule],
) -> Result<Rule, PolicyError> {
    let id = raw.id.get_ref().clone();
    let id_span = raw.id.span();
    if !source::is_slug(&id) {
        return Err(file.error(&id_span, PolicyErrorKind::BadRuleId(id)));
    }
    if let Some(first) = earlier.iter().find(|r| r.id == id) {
        return Err(file.error(
            &id_span,
            PolicyErrorKind::DuplicateRuleId {
                id,
                first_line: first.line,
            },
        ));
    }

    let peers = peers(file, context, &id, raw.peers)?;
    let purposes = purposes(file, &id, &raw.purposes, &peers)?;
    let valid_from = date(file, &id, &raw.valid_from, "valid_from")?;
    let valid_until = valid_until(file, &id, valid_from, raw.valid_until.as_ref())?;
    let authorization = *raw.subject_authorization.get_ref();
    let legal_bases =
        rule_legal_bases(file, context, &id, authorization, raw.legal_bases.as_ref())?;
    let consent_from = consent_from(file, &id, authorization, raw.consent_from.as_ref(), &peers)?;
    let quota = quota(file, &id, raw.quota.as_ref())?;
    if raw.release.is_empty() {
        return Err(file.error(&id_span, PolicyErrorKind::NoRelease(id)));
    }
    let releases = releases(file, context.catalogue, &id, authorization, raw.release)?;

    let rule = Rule {
        id,
        line: file.line(&id_span),
        peers,
        purposes,
        valid_from,
        valid_until,
        authorization,
        legal_bases,
        consent_from,
        quota,
        releases,
    };
    if let Some(kind) = earlier
        .iter()
        .find_map(|earlier| contradiction(earlier, &rule))
    {
        return Err(file.error(&id_span, kind));
    }
    Ok(rule)
}

/// `peers`: a known group, regions other than the owner without repeats,
/// and/or the national platform; resolved to at least one member.
fn peers(
    file: &PolicyText<'_>,
    context: &RuleContext<'_>,
    id: &str,
    raw: Spanned<RawPeers>,
) -> Result<Peers, PolicyError> {
    let owner = context.owner;
    let peers_span = raw.span();
    let raw = raw.into_inner();
    let mut members = BTreeSet::new();
    let group = match raw.group {
        None => None,
        Some(g) => {
            let Some(found) = context.groups.group(g.get_ref()) else {
                return Err(file.error(
                    &g.span(),
                    PolicyErrorKind::UnknownGroup {
                        rule: id.to_owned(),
                        group: g.into_inner(),
                    },
                ));
            };
            members.extend(found.members.iter().copied().filter(|m| *m != owner));
            Some(g.into_inner())
        }
    };
    let mut regions = BTreeSet::new();
    for r in raw.regions.unwrap_or_default() {
        let region = *r.get_ref();
        let rule = id.to_owned();
        if region == owner {
            return Err(file.error(&r.span(), PolicyErrorKind::OwnerAsPeer { rule, region }));
        }
        if !regions.insert(region) {
            return Err(file.error(
                &r.span(),
                PolicyErrorKind::DuplicatePeerRegion { rule, region },
            ));
        }
    }
    members.extend(regions.iter().copied());
    let national = raw.national.unwrap_or(false);
    if national && owner != RegionCode::NATIONAL {
        members.insert(RegionCode::NATIONAL);
    }
    if members.is_empty() {
        return Err(file.error(&peers_span, PolicyErrorKind::NoPeers(id.to_owned())));
    }
    Ok(Peers {
        group,
        regions,
        national,
        members,
    })
}

/// `purposes`: not empty, no repeats, `upward_reporting` only towards the
/// national platform.
fn purposes(
    file: &PolicyText<'_>,
    id: &str,
    raw: &Spanned<Vec<Spanned<Purpose>>>,
    peers: &Peers,
) -> Result<BTreeSet<Purpose>, PolicyError> {
    let mut purposes = BTreeSet::new();
    for p in raw.get_ref() {
        if !purposes.insert(*p.get_ref()) {
            return Err(file.error(
                &p.span(),
                PolicyErrorKind::DuplicatePurpose {
                    rule: id.to_owned(),
                    purpose: *p.get_ref(),
                },
            ));
        }
    }
    if purposes.is_empty() {
        return Err(file.error(&raw.span(), PolicyErrorKind::NoPurposes(id.to_owned())));
    }
    if purposes.contains(&Purpose::UpwardReporting)
        && peers.members.iter().any(|m| !m.is_national())
    {
        return Err(file.error(
            &raw.span(),
            PolicyErrorKind::UpwardReportingToRegion(id.to_owned()),
        ));
    }
    Ok(purposes)
}

/// A validity date (`key` is `valid_from` or `valid_until`) that must be a
/// calendar date.
fn date(
    file: &PolicyText<'_>,
    id: &str,
    value: &Spanned<DateValue>,
    key: &'static str,
) -> Result<Date, PolicyError> {
    match value.get_ref() {
        DateValue::Valid(d) => Ok(*d),
        DateValue::Invalid(s) => Err(file.error(
            &value.span(),
            PolicyErrorKind::InvalidDate {
                rule: id.to_owned(),
                key,
                value: s.clone(),
            },
        )),
    }
}

/// The optional `valid_until`, not before `valid_from`.
fn valid_until(
    file: &PolicyText<'_>,
    id: &str,
    valid_from: Date,
    raw: Option<&Spanned<DateValue>>,
) -> Result<Option<Date>, PolicyError> {
    let Some(value) = raw else {
        return Ok(None);
    };
    let until = date(file, id, value, "valid_until")?;
    if until < valid_from {
        return Err(file.error(
            &value.span(),
            PolicyErrorKind::ValidityReversed {
                rule: id.to_owned(),
                from: source::format_date(valid_from),
                until: source::format_date(until),
            },
        ));
    }
    Ok(Some(until))
}

/// The rule's `legal_bases`: only with a required authorization, each
/// defined by the policy, no repeats.
fn rule_legal_bases(
    file: &PolicyText<'_>,
    context: &RuleContext<'_>,
    id: &str,
    authorization: AuthorizationRequirement,
    raw: Option<&Spanned<Vec<Spanned<String>>>>,
) -> Result<BTreeSet<String>, PolicyError> {
    let mut rule_bases = BTreeSet::new();
    let Some(list) = raw else {
        return Ok(rule_bases);
    };
    if authorization == AuthorizationRequirement::NotRequired && !list.get_ref().is_empty() {
        return Err(file.error(
            &list.span(),
            PolicyErrorKind::LegalBasesWithoutAuthorization(id.to_owned()),
        ));
    }
    for code in list.get_ref() {
        if !context.legal_bases.contains_key(code.get_ref()) {
            return Err(file.error(
                &code.span(),
                PolicyErrorKind::UnknownLegalBasis {
                    rule: id.to_owned(),
                    code: code.get_ref().clone(),
                },
            ));
        }
        if !rule_bases.insert(code.get_ref().clone()) {
            return Err(file.error(
                &code.span(),
                PolicyErrorKind::DuplicateRuleLegalBasis {
                    rule: id.to_owned(),
                    code: code.get_ref().clone(),
                },
            ));
        }
    }
    Ok(rule_bases)
}

/// The rule's `consent_from`: the default sources when absent; otherwise
/// only with a required authorization, not empty, no repeats, and no
/// authority of one of the rule's peers.
fn consent_from(
    file: &PolicyText<'_>,
    id: &str,
    authorization: AuthorizationRequirement,
    raw: Option<&Spanned<Vec<Spanned<String>>>>,
    peers: &Peers,
) -> Result<BTreeSet<ConsentSource>, PolicyError> {
    let Some(list) = raw else {
        return Ok(ConsentSource::DEFAULT.into_iter().collect());
    };
    if authorization == AuthorizationRequirement::NotRequired {
        return Err(file.error(
            &list.span(),
            PolicyErrorKind::ConsentFromWithoutAuthorization(id.to_owned()),
        ));
    }
    let mut sources = BTreeSet::new();
    for entry in list.get_ref() {
        let rule = id.to_owned();
        let source: ConsentSource = entry.get_ref().parse().map_err(|error| {
            file.error(
                &entry.span(),
                PolicyErrorKind::BadConsentSource {
                    rule: rule.clone(),
                    error,
                },
            )
        })?;
        if let ConsentSource::Named(authority) = &source
            && peers.contains(authority.region)
        {
            let authority = authority.clone();
            return Err(file.error(
                &entry.span(),
                PolicyErrorKind::ConsentFromPeer { rule, authority },
            ));
        }
        if sources.contains(&source) {
            return Err(file.error(
                &entry.span(),
                PolicyErrorKind::DuplicateConsentSource {
                    rule,
                    entry: source,
                },
            ));
        }
        sources.insert(source);
    }
    if sources.is_empty() {
        return Err(file.error(
            &list.span(),
            PolicyErrorKind::EmptyConsentFrom(id.to_owned()),
        ));
    }
    Ok(sources)
}

/// The optional `quota`, at least one request a day.
fn quota(
    file: &PolicyText<'_>,
    id: &str,
    raw: Option<&Spanned<RawQuota>>,
) -> Result<Option<Quota>, PolicyError> {
    match raw {
        None => Ok(None),
        Some(q) if q.get_ref().per_day == 0 => {
            Err(file.error(&q.span(), PolicyErrorKind::ZeroQuota(id.to_owned())))
        }
        Some(q) => Ok(Some(Quota {
            per_day: q.get_ref().per_day,
        })),
    }
}

/// The `[[rule.release]]` tables: known categories, each once, each with at
/// least one releasable field.
fn releases(
    file: &PolicyText<'_>,
    catalogue: &Catalogue,
    id: &str,
    authorization: AuthorizationRequirement,
    raw: Vec<RawRelease>,
) -> Result<BTreeMap<String, BTreeSet<String>>, PolicyError> {
    let mut releases: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rel in raw {
        let cat_code = rel.category.get_ref().clone();
        let Some(category) = catalogue.category(&cat_code) else {
            return Err(file.error(
                &rel.category.span(),
                PolicyErrorKind::UnknownCategory {
                    rule: id.to_owned(),
                    category: cat_code,
                },
            ));
        };
        if releases.contains_key(&cat_code) {
            return Err(file.error(
                &rel.category.span(),
                PolicyErrorKind::DuplicateRelease {
                    rule: id.to_owned(),
                    category: cat_code,
                },
            ));
        }
        let fields = match rel.fields.get_ref() {
            RawFields::AllShareable => all_shareable(category, authorization),
            RawFields::List(list) => {
                listed_fields(file, id, category, &cat_code, authorization, list)?
            }
        };
        if fields.is_empty() {
            return Err(file.error(
                &rel.fields.span(),
                PolicyErrorKind::EmptyRelease {
                    rule: id.to_owned(),
                    category: cat_code,
                },
            ));
        }
        releases.insert(cat_code, fields);
    }
    Ok(releases)
}

/// `fields = "all_shareable"`: every public and shared field, and the
/// restricted ones when the rule requires authorization; never internal.
fn all_shareable(category: &Category, authorization: AuthorizationRequirement) -> BTreeSet<String> {
    category
        .fields
        .iter()
        .filter(|f| match f.class {
            SensitivityClass::Public | SensitivityClass::Shared => true,
            SensitivityClass::Restricted => authorization == AuthorizationRequirement::Required,
            SensitivityClass::Internal => false,
        })
        .map(|f| f.code.clone())
        .collect()
}

/// `fields = [...]`: each a field of the category, never internal,
/// restricted only when the rule requires authorization, no repeats.
fn listed_fields(
    file: &PolicyText<'_>,
    id: &str,
    category: &Category,
    cat_code: &str,
    authorization: AuthorizationRequirement,
    list: &[Spanned<String>],
) -> Result<BTreeSet<String>, PolicyError> {
    let mut fields = BTreeSet::new();
    for f in list {
        let code = f.get_ref().clone();
        let rule = id.to_owned();
        let category_code = cat_code.to_owned();
        let Some(field) = category.field(&code) else {
            return Err(file.error(
                &f.span(),
                PolicyErrorKind::UnknownField {
                    rule,
                    category: category_code,
                    field: code,
                },
            ));
        };
        match field.class {
            SensitivityClass::Internal => {
                return Err(file.error(
                    &f.span(),
                    PolicyErrorKind::InternalField {
                        rule,
                        category: category_code,
                        field: code,
                    },
                ));
            }
            SensitivityClass::Restricted
                if authorization == AuthorizationRequirement::NotRequired =>
            {
                return Err(file.error(
                    &f.span(),
                    PolicyErrorKind::RestrictedWithoutAuthorization {
                        rule,
                        category: category_code,
                        field: code,
                    },
                ));
            }
            _ => {}
        }
        if !fields.insert(code.clone()) {
            return Err(file.error(
                &f.span(),
                PolicyErrorKind::DuplicateReleaseField {
                    rule,
                    category: category_code,
                    field: code,
                },
            ));
        }
    }
    Ok(fields)
}
