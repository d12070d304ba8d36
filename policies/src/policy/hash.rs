//! The policy's canonical content hash ([`super::PolicySet::policy_hash`]):
//! SHA-256 over a canonical encoding of the parsed policy and the
//! catalogue's hash, so that comments, whitespace and order in the file do
//! not change it.
//!
//! Owns: the encoding (domain `credex/policy-set/v1`). Changing it changes
//! every logged policy hash. Does not own parsing or validation.

use std::collections::{BTreeMap, BTreeSet};

use credex_protocol::RegionCode;

use super::{LegalBasis, Rule};
use crate::canonical::Canon;
use crate::catalogue::Catalogue;

/// The canonical hash of a validated policy.
pub(super) fn canonical_hash(
    owner: RegionCode,
    legal_bases: &BTreeMap<String, LegalBasis>,
    rules: &[Rule],
    catalogue: &Catalogue,
) -> [u8; 32] {
    let mut c = Canon::new("credex/policy-set/v1");
    c.bytes(&catalogue.content_hash());
    c.u32(owner.as_u32());
    c.len(legal_bases.len());
    for lb in legal_bases.values() {
        c.str(&lb.code).str(&lb.title);
    }
    let mut sorted: Vec<&Rule> = rules.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    c.len(sorted.len());
    for r in sorted {
        c.str(&r.id);
        match &r.peers.group {
            None => c.u8(0),
            Some(g) => c.u8(1).str(g),
        };
        c.len(r.peers.regions.len());
        for region in &r.peers.regions {
            c.u32(region.as_u32());
        }
        c.bool(r.peers.national);
        c.len(r.peers.members.len());
        for m in &r.peers.members {
            c.u32(m.as_u32());
        }
        let tags: BTreeSet<u8> = r.purposes.iter().map(|p| p.tag()).collect();
        c.len(tags.len());
        for t in tags {
            c.u8(t);
        }
        c.date(r.valid_from);
        match r.valid_until {
            None => c.u8(0),
            Some(d) => c.u8(1).date(d),
        };
        c.u8(r.authorization.tag());
        c.len(r.legal_bases.len());
        for lb in &r.legal_bases {
            c.str(lb);
        }
        c.len(r.consent_from.len());
        for source in &r.consent_from {
            source.hash_into(&mut c);
        }
        match r.quota {
            None => c.u8(0),
            Some(q) => c.u8(1).u64(q.per_day),
        };
        c.len(r.releases.len());
        for (cat, fields) in &r.releases {
            c.str(cat).len(fields.len());
            for f in fields {
                c.str(f);
            }
        }
    }
    c.finish()
}
