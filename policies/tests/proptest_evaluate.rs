//! Property tests of evaluation over random catalogues, random valid
//! policies over them and random requests:
//! - permitted = requested ∩ released by an applicable rule whose conditions
//!   hold (so permitted ⊆ requested, and nothing is over-denied either);
//! - no `internal` field is ever permitted;
//! - a `restricted` field is permitted only with a subject authorization that
//!   is in its window and covers requester, purpose and category;
//! - the outcome agrees with permitted vs requested;
//! - `project` yields exactly the record's permitted fields, and `project_owned`
//!   the same record.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use credex_policies::policy::CHINA_STANDARD_TIME;
use credex_policies::{
    AccessRequest, AgreementGroups, AuthorizationRequirement, AuthorizationScope, Catalogue,
    FieldValue, Outcome, PolicySet, Purpose, QuotaUsage, ReasonCode, Record, SensitivityClass,
    SubjectKind, evaluate,
};
use credex_protocol::RegionCode;
use proptest::prelude::*;
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time};

const CLASSES: [&str; 4] = ["public", "shared", "restricted", "internal"];
const PURPOSES: [Purpose; 3] = [
    Purpose::AdministrativeApproval,
    Purpose::PublicProcurement,
    Purpose::Financing,
];
const PEERS: [u32; 3] = [440000, 500000, 350000];
/// 520000 is the owner: never a peer.
const REQUESTERS: [u32; 4] = [440000, 500000, 350000, 520000];
const BASES: [&str; 2] = ["basis-a", "basis-b"];
const CITED: [&str; 3] = ["basis-a", "basis-b", "basis-x"];

#[derive(Debug, Clone)]
struct CategorySpec {
    /// 1 = legal, 2 = natural, 3 = both.
    subjects: u8,
    /// Class index per field.
    fields: Vec<usize>,
}

#[derive(Debug, Clone)]
struct ProfileSpec {
    required: bool,
    bases: Vec<bool>,
}

#[derive(Debug, Clone)]
struct RuleSpec {
    seed_purpose: usize,
    extra_purposes: Vec<bool>,
    peers: Vec<bool>,
    from: usize,
    until: Option<i64>,
    quota: Option<u64>,
    /// Per category: None = not released, Some(None) = all_shareable,
    /// Some(Some(mask)) = those fields.
    releases: Vec<Option<Option<Vec<bool>>>>,
}

/// (grantee pick, purposes, categories mask, window start, window length).
/// (grantee, purposes, categories, start, length, signer: 0 the national
/// platform's portal, 1 the owner's, 2 a third region's).
type AuthorizationSpec = (usize, Option<Vec<bool>>, Vec<bool>, i64, i64, usize);

/// The authorities an [`AuthorizationSpec`] picks from: the rules' default
/// `consent_from` accepts the first two.
const AUTHORITIES: [u32; 3] = [0, 520000, 350000];

#[derive(Debug, Clone)]
struct RequestSpec {
    /// Aim at a rule: (rule pick, peer pick, purpose pick, days after its
    /// `valid_from`). Unaimed requests pick requester, purpose and day at
    /// random.
    aim: Option<(usize, usize, usize, i64)>,
    requester: usize,
    purpose: usize,
    now_day: usize,
    now_hour: u8,
    natural: bool,
    /// (category pick, field picks). Picks index the aimed rule's releases
    /// when `true`, the catalogue otherwise; out-of-range picks name unknown
    /// categories or fields.
    items: Vec<(bool, usize, Vec<usize>)>,
    /// (grantee: 0 = the requester, else REQUESTERS[i - 1]; purposes: None =
    /// exactly the request's, else a mask; categories mask; start and length
    /// of the window in days relative to now).
    authorization: Option<AuthorizationSpec>,
    cited: Option<usize>,
    usage: u64,
    record_category: usize,
}

const FROM_DATES: [(i32, u8, u8); 3] = [(2025, 1, 1), (2026, 1, 1), (2026, 6, 1)];
const NOW_DATES: [(i32, u8, u8); 5] = [
    (2024, 12, 31),
    (2025, 6, 1),
    (2026, 3, 1),
    (2026, 7, 1),
    (2028, 1, 1),
];

fn date((y, m, d): (i32, u8, u8)) -> Date {
    Date::from_calendar_date(y, Month::try_from(m).unwrap(), d).unwrap()
}

fn category_spec() -> impl Strategy<Value = CategorySpec> {
    (1u8..=3, prop::collection::vec(0usize..4, 1..=5))
        .prop_map(|(subjects, fields)| CategorySpec { subjects, fields })
}

fn rule_spec(n_categories: usize) -> impl Strategy<Value = RuleSpec> {
    let release = prop_oneof![
        2 => Just(None),
        1 => Just(Some(None)),
        3 => prop::collection::vec(any::<bool>(), 5).prop_map(|m| Some(Some(m))),
    ];
    (
        0usize..3,
        prop::collection::vec(any::<bool>(), 3),
        prop::collection::vec(any::<bool>(), 3),
        0usize..3,
        prop::option::of(prop_oneof![1 => Just(0i64), 4 => Just(200), 4 => Just(800)]),
        prop::option::weighted(0.3, 1u64..5),
        prop::collection::vec(release, n_categories),
    )
        .prop_map(
            |(seed_purpose, extra_purposes, peers, from, until, quota, releases)| RuleSpec {
                seed_purpose,
                extra_purposes,
                peers,
                from,
                until,
                quota,
                releases,
            },
        )
}

fn request_spec(n_categories: usize) -> impl Strategy<Value = RequestSpec> {
    let item = (
        prop::bool::weighted(0.8),
        prop_oneof![19 => 0usize..8, 1 => Just(99usize)],
        prop::collection::vec(prop_oneof![19 => 0usize..8, 1 => Just(99usize)], 0..4),
    );
    (
        prop::option::weighted(
            0.85,
            (
                0usize..8,
                0usize..8,
                0usize..3,
                prop_oneof![1 => -30i64..0, 8 => 0i64..200, 1 => 200i64..900],
            ),
        ),
        (
            0usize..4,
            0usize..3,
            0usize..5,
            0u8..24,
            prop::bool::weighted(0.2),
        ),
        prop_oneof![1 => Just(Vec::new()), 9 => prop::collection::vec(item, 1..4)],
        prop::option::weighted(
            0.6,
            (
                prop_oneof![3 => Just(0usize), 1 => 1usize..5],
                prop::option::weighted(0.3, prop::collection::vec(any::<bool>(), 3)),
                prop::collection::vec(prop::bool::weighted(0.7), n_categories),
                prop_oneof![3 => -3i64..=0, 1 => 1i64..3],
                prop_oneof![1 => -1i64..0, 3 => 0i64..5],
                prop_oneof![4 => Just(0usize), 2 => Just(1usize), 1 => Just(2usize)],
            ),
        ),
        prop::option::weighted(0.5, 0usize..3),
        (0u64..5, 0..n_categories),
    )
        .prop_map(
            |(
                aim,
                (requester, purpose, now_day, now_hour, natural),
                items,
                authorization,
                cited,
                (usage, record_category),
            )| RequestSpec {
                aim,
                requester,
                purpose,
                now_day,
                now_hour,
                natural,
                items,
                authorization,
                cited,
                usage,
                record_category,
            },
        )
}

type World = (
    Vec<CategorySpec>,
    Vec<ProfileSpec>,
    Vec<RuleSpec>,
    Vec<RequestSpec>,
);

fn world() -> impl Strategy<Value = World> {
    prop::collection::vec(category_spec(), 1..=4).prop_flat_map(|cats| {
        let n = cats.len();
        let profile = (any::<bool>(), prop::collection::vec(any::<bool>(), 2))
            .prop_map(|(required, bases)| ProfileSpec { required, bases });
        (
            Just(cats),
            prop::collection::vec(profile, 3),
            prop::collection::vec(rule_spec(n), 1..=4),
            prop::collection::vec(request_spec(n), 1..=24),
        )
    })
}

fn catalogue_toml(cats: &[CategorySpec]) -> String {
    let mut t = String::new();
    for (ci, c) in cats.iter().enumerate() {
        let subjects = match c.subjects {
            1 => "[\"legal_person\"]",
            2 => "[\"natural_person\"]",
            _ => "[\"legal_person\", \"natural_person\"]",
        };
        let _ = writeln!(
            t,
            "[[category]]\ncode = \"c{ci}\"\nname_zh = \"类{ci}\"\nname_en = \"C{ci}\"\nsubjects = {subjects}"
        );
        for (fi, class) in c.fields.iter().enumerate() {
            let _ = writeln!(
                t,
                "[[category.field]]\ncode = \"f{fi}\"\nname_zh = \"项\"\nname_en = \"F\"\ntype = \"text\"\nclass = \"{}\"",
                CLASSES[*class]
            );
        }
    }
    t
}

/// Render a valid policy: a rule's purposes all share one profile (so
/// overlapping rules never contradict), restricted fields appear only in
/// rules that require authorization, internal fields never.
fn policy_toml(cats: &[CategorySpec], profiles: &[ProfileSpec], rules: &[RuleSpec]) -> String {
    let mut t = String::from("owner = \"520000\"\n");
    for b in BASES {
        let _ = writeln!(t, "[[legal_basis]]\ncode = \"{b}\"\ntitle = \"{b}\"");
    }
    for (ri, r) in rules.iter().enumerate() {
        let profile = &profiles[r.seed_purpose];
        let purposes: Vec<&str> = (0..3)
            .filter(|&p| {
                p == r.seed_purpose
                    || (r.extra_purposes[p]
                        && profiles[p].required == profile.required
                        && profiles[p].bases == profile.bases)
            })
            .map(|p| PURPOSES[p].as_str())
            .collect();
        let mut regions: Vec<String> = (0..3)
            .filter(|&i| r.peers[i])
            .map(|i| format!("\"{}\"", PEERS[i]))
            .collect();
        if regions.is_empty() {
            regions.push(format!("\"{}\"", PEERS[ri % 3]));
        }
        let mut releases = String::new();
        for (ci, rel) in r.releases.iter().enumerate() {
            let Some(rel) = rel else { continue };
            let allowed = |class: usize| class < 2 || (class == 2 && profile.required);
            let fields = match rel {
                None if cats[ci].fields.iter().any(|c| allowed(*c)) => {
                    "\"all_shareable\"".to_owned()
                }
                None => continue,
                Some(mask) => {
                    let list: Vec<String> = cats[ci]
                        .fields
                        .iter()
                        .enumerate()
                        .filter(|(fi, class)| mask[*fi] && allowed(**class))
                        .map(|(fi, _)| format!("\"f{fi}\""))
                        .collect();
                    if list.is_empty() {
                        continue;
                    }
                    format!("[{}]", list.join(", "))
                }
            };
            let _ = writeln!(
                releases,
                "[[rule.release]]\ncategory = \"c{ci}\"\nfields = {fields}"
            );
        }
        if releases.is_empty() {
            continue;
        }
        let from = date(FROM_DATES[r.from]);
        let _ = writeln!(
            t,
            "[[rule]]\nid = \"r{ri}\"\npeers = {{ regions = [{}] }}\npurposes = [{}]\nvalid_from = \"{from}\"",
            regions.join(", "),
            purposes
                .iter()
                .map(|p| format!("\"{p}\""))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(days) = r.until {
            let _ = writeln!(t, "valid_until = \"{}\"", from + Duration::days(days));
        }
        let auth = if profile.required {
            "required"
        } else {
            "not_required"
        };
        let _ = writeln!(t, "subject_authorization = \"{auth}\"");
        if profile.required {
            let bases: Vec<String> = (0..2)
                .filter(|&i| profile.bases[i])
                .map(|i| format!("\"{}\"", BASES[i]))
                .collect();
            let _ = writeln!(t, "legal_bases = [{}]", bases.join(", "));
        }
        if let Some(q) = r.quota {
            let _ = writeln!(t, "quota = {{ per_day = {q} }}");
        }
        t.push_str(&releases);
    }
    t
}

fn pick<T: Clone>(items: impl IntoIterator<Item = T>, i: usize) -> Option<T> {
    let v: Vec<T> = items.into_iter().collect();
    (!v.is_empty()).then(|| v[i % v.len()].clone())
}

/// Build the request and the instant it is evaluated at.
fn build_request(spec: &RequestSpec, policy: &PolicySet) -> (AccessRequest, OffsetDateTime) {
    let catalogue = policy.catalogue();
    let rule = spec.aim.and_then(|(r, ..)| pick(policy.rules(), r));
    let mut requester = RegionCode::from_u32(REQUESTERS[spec.requester]).unwrap();
    let mut purpose = PURPOSES[spec.purpose];
    let mut now = PrimitiveDateTime::new(
        date(NOW_DATES[spec.now_day]),
        Time::from_hms(spec.now_hour, 0, 0).unwrap(),
    )
    .assume_offset(CHINA_STANDARD_TIME);
    if let (Some(rule), Some((_, peer, p, days))) = (&rule, spec.aim) {
        requester = pick(rule.peers().members().iter().copied(), peer).unwrap_or(requester);
        purpose = pick(rule.purposes().iter().copied(), p).unwrap_or(purpose);
        now = PrimitiveDateTime::new(
            rule.valid_from() + Duration::days(days),
            Time::from_hms(spec.now_hour, 0, 0).unwrap(),
        )
        .assume_offset(CHINA_STANDARD_TIME);
    }
    let categories: Vec<String> = catalogue.categories().map(|c| c.code.clone()).collect();
    let requested = spec
        .items
        .iter()
        .map(|(from_rule, c, fields)| {
            let released = rule.as_ref().filter(|_| *from_rule).map(|r| r.releases());
            let category = match released {
                _ if *c == 99 => "unknown_cat".to_owned(),
                Some(rel) => pick(rel.keys().cloned(), *c).unwrap_or_else(|| "c0".into()),
                None => categories[*c % categories.len()].clone(),
            };
            let known: Vec<String> = match released.and_then(|rel| rel.get(&category)) {
                Some(fs) => fs.iter().cloned().collect(),
                None => catalogue
                    .category(&category)
                    .map(|cat| cat.fields.iter().map(|f| f.code.clone()).collect())
                    .unwrap_or_default(),
            };
            let fields = fields
                .iter()
                .map(|f| match pick(known.iter().cloned(), *f) {
                    Some(name) if *f != 99 => name,
                    _ => "unknown_field".to_owned(),
                })
                .collect();
            (category, fields)
        })
        .collect();
    let subject_authorization =
        spec.authorization
            .as_ref()
            .map(
                |(grantee, purposes, cats, start, len, signer)| AuthorizationScope {
                    grantee_region: if *grantee == 0 {
                        requester
                    } else {
                        RegionCode::from_u32(REQUESTERS[grantee - 1]).unwrap()
                    },
                    purposes: match purposes {
                        None => vec![purpose],
                        Some(mask) => (0..3).filter(|&p| mask[p]).map(|p| PURPOSES[p]).collect(),
                    },
                    categories: categories
                        .iter()
                        .zip(cats)
                        .filter(|(_, keep)| **keep)
                        .map(|(c, _)| c.clone())
                        .collect(),
                    not_before: now + Duration::days(*start),
                    not_after: now + Duration::days(*start + *len),
                    authority: credex_policies::ConsentAuthority {
                        region: RegionCode::from_u32(AUTHORITIES[*signer]).unwrap(),
                        name: "portal".parse().unwrap(),
                    },
                },
            );
    let request = AccessRequest {
        requester_region: requester,
        purpose,
        subject_kind: if spec.natural {
            SubjectKind::NaturalPerson
        } else {
            SubjectKind::LegalPerson
        },
        requested,
        subject_authorization,
        legal_basis: spec.cited.map(|i| CITED[i].to_owned()),
    };
    (request, now)
}

/// The independent model: may `field` of `category` be released?
fn releasable(
    policy: &PolicySet,
    request: &AccessRequest,
    now: OffsetDateTime,
    usage: u64,
    category: &str,
    field: &str,
) -> bool {
    let Some(cat) = policy.catalogue().category(category) else {
        return false;
    };
    let Some(f) = cat.field(field) else {
        return false;
    };
    if f.class == SensitivityClass::Internal || !cat.subjects.contains(&request.subject_kind) {
        return false;
    }
    let day = now.to_offset(CHINA_STANDARD_TIME).date();
    let authorized = request.subject_authorization.as_ref().is_some_and(|a| {
        a.not_before <= now
            && now <= a.not_after
            && [0, 520000].contains(&a.authority.region.as_u32())
            && a.grantee_region == request.requester_region
            && a.purposes.contains(&request.purpose)
            && a.categories.iter().any(|c| c == category)
    });
    policy.rules().iter().any(|r| {
        r.peers().members().contains(&request.requester_region)
            && r.purposes().contains(&request.purpose)
            && r.releases()
                .get(category)
                .is_some_and(|fs| fs.contains(field))
            && r.valid_from() <= day
            && r.valid_until().is_none_or(|u| day <= u)
            && r.quota().is_none_or(|q| usage < q.per_day)
            && match r.authorization() {
                AuthorizationRequirement::NotRequired => f.class != SensitivityClass::Restricted,
                AuthorizationRequirement::Required => {
                    authorized
                        || (f.class != SensitivityClass::Restricted
                            && request
                                .legal_basis
                                .as_ref()
                                .is_some_and(|lb| r.legal_bases().contains(lb)))
                }
            }
    })
}

fn as_set(pairs: &[(String, Vec<String>)]) -> BTreeSet<(String, String)> {
    pairs
        .iter()
        .flat_map(|(c, fs)| fs.iter().map(move |f| (c.clone(), f.clone())))
        .collect()
}

/// What the generated cases exercised, to check the generator keeps
/// reaching the interesting paths.
#[derive(Debug, Default)]
struct Coverage {
    outcomes: BTreeMap<&'static str, usize>,
    reasons: BTreeSet<u16>,
    restricted_permitted: usize,
    permitted_by_legal_basis: usize,
}

fn check_world(
    (cats, profiles, rules, requests): &World,
    coverage: &mut Coverage,
) -> Result<(), TestCaseError> {
    let catalogue = Catalogue::parse(&catalogue_toml(cats), "random-catalogue.toml")
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let text = policy_toml(cats, profiles, rules);
    let policy = PolicySet::parse(
        &text,
        "random-policy.toml",
        &catalogue,
        &AgreementGroups::builtin(),
    )
    .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;

    for spec in requests {
        let (request, now) = build_request(spec, &policy);
        let usage = QuotaUsage {
            requests_in_window: spec.usage,
        };
        let d = evaluate(&request, &policy, now, &usage);

        let requested: BTreeSet<(String, String)> = as_set(&request.requested);
        let permitted = as_set(d.permitted());
        let withheld = as_set(d.withheld());

        // Exactly the releasable part of the request is permitted.
        let expected: BTreeSet<(String, String)> = requested
            .iter()
            .filter(|(c, f)| releasable(&policy, &request, now, spec.usage, c, f))
            .cloned()
            .collect();
        prop_assert_eq!(&permitted, &expected);
        prop_assert!(permitted.is_subset(&requested));
        prop_assert!(permitted.is_disjoint(&withheld));
        prop_assert_eq!(
            permitted.union(&withheld).cloned().collect::<BTreeSet<_>>(),
            requested.clone()
        );
        let detail: BTreeSet<(String, String)> = d
            .withheld_detail()
            .iter()
            .map(|w| (w.category.clone(), w.field.clone()))
            .collect();
        prop_assert_eq!(&detail, &withheld);

        for (c, f) in &permitted {
            let class = catalogue.field(c, f).map(|x| x.class);
            prop_assert!(class.is_some());
            prop_assert_ne!(class, Some(SensitivityClass::Internal));
            let authorized = request.subject_authorization.as_ref().is_some_and(|a| {
                a.in_window(now)
                    && a.covers(request.requester_region, request.purpose, c)
                    && a.authority.region != RegionCode::from_u32(350000).unwrap()
            });
            if class == Some(SensitivityClass::Restricted) {
                prop_assert!(authorized);
                coverage.restricted_permitted += 1;
            }
            if !authorized && request.legal_basis.is_some() {
                coverage.permitted_by_legal_basis += 1;
            }
        }

        match d.outcome() {
            Outcome::Granted => {
                prop_assert!(!requested.is_empty() && withheld.is_empty());
                prop_assert_eq!(d.reason(), ReasonCode::Granted);
            }
            Outcome::Trimmed => {
                prop_assert!(!permitted.is_empty() && !withheld.is_empty());
                prop_assert_eq!(d.reason(), ReasonCode::Trimmed);
            }
            Outcome::Denied => {
                prop_assert!(permitted.is_empty());
                prop_assert!(!matches!(
                    d.reason(),
                    ReasonCode::Granted | ReasonCode::Trimmed
                ));
                prop_assert_eq!(requested.is_empty(), d.reason() == ReasonCode::EmptyRequest);
            }
        }
        *coverage
            .outcomes
            .entry(match d.outcome() {
                Outcome::Granted => "granted",
                Outcome::Trimmed => "trimmed",
                Outcome::Denied => "denied",
            })
            .or_default() += 1;
        coverage.reasons.insert(d.reason().as_u16());
        coverage
            .reasons
            .extend(d.withheld_detail().iter().map(|w| w.reason.as_u16()));

        prop_assert_eq!(d.policy_hash(), policy.policy_hash());
        prop_assert_eq!(d.rule_ids().is_empty(), permitted.is_empty());
        for id in d.rule_ids() {
            prop_assert!(policy.rule(id).is_some());
        }

        // Projection: a full record (plus a stray key) keeps only permitted fields.
        let category = format!("c{}", spec.record_category);
        let mut fields: BTreeMap<String, FieldValue> = catalogue
            .category(&category)
            .map(|c| {
                c.fields
                    .iter()
                    .map(|f| (f.code.clone(), FieldValue::Text("v".into())))
                    .collect()
            })
            .unwrap_or_default();
        fields.insert("stray".into(), FieldValue::Integer(1));
        let record = Record {
            category: category.clone(),
            fields,
        };
        let projected = d.project(&record);
        prop_assert_eq!(&projected.category, &category);
        for key in projected.fields.keys() {
            prop_assert!(permitted.contains(&(category.clone(), key.clone())));
        }
        // Every permitted field the record has is kept.
        for key in record.fields.keys() {
            prop_assert_eq!(
                projected.fields.contains_key(key),
                permitted.contains(&(category.clone(), key.clone()))
            );
        }
        // The owned projection (the query path's) is the same record.
        prop_assert_eq!(&d.project_owned(record), &projected);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn evaluation_respects_the_policy(w in world()) {
        check_world(&w, &mut Coverage::default())?;
    }
}

/// The generator must keep reaching every outcome, every reason, restricted
/// fields released under authorization and fields released on a legal basis;
/// otherwise the property above would pass without testing them.
#[test]
fn generator_reaches_the_interesting_paths() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut coverage = Coverage::default();
    for _ in 0..300 {
        let w = world().new_tree(&mut runner).unwrap().current();
        check_world(&w, &mut coverage).unwrap();
    }
    for outcome in ["granted", "trimmed", "denied"] {
        assert!(
            coverage.outcomes.get(outcome).copied().unwrap_or(0) > 20,
            "{coverage:?}"
        );
    }
    let all: BTreeSet<u16> = ReasonCode::ALL.iter().map(|r| r.as_u16()).collect();
    assert_eq!(coverage.reasons, all, "{coverage:?}");
    assert!(coverage.restricted_permitted > 20, "{coverage:?}");
    assert!(coverage.permitted_by_legal_basis > 20, "{coverage:?}");
}
