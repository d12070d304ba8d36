//! The agreement set's canonical content hash
//! ([`super::AgreementSet::content_hash`], domain `credex/agreement-set/v1`,
//! decision 0400): layout and comments do not change it, any change in
//! meaning does.
//!
//! Owns: the encoding. Changing it changes every logged recognition
//! decision's agreement hash. Does not own parsing or validation.

use std::collections::BTreeMap;

use credex_protocol::evaluation::Scheme;

use super::Agreement;
use crate::canonical::Canon;

fn scheme_tag(s: Scheme) -> u8 {
    match s {
        Scheme::PublicCredit => 1,
        Scheme::TaxCredit => 2,
        Scheme::EnvironmentalCredit => 3,
    }
}

/// The canonical hash of the agreements, by code.
pub(super) fn canonical_hash(agreements: &BTreeMap<String, Agreement>) -> [u8; 32] {
    let mut c = Canon::new("credex/agreement-set/v1");
    let map = |c: &mut Canon, m: &BTreeMap<String, String>| {
        c.len(m.len());
        for (k, v) in m {
            c.str(k).str(v);
        }
    };
    c.len(agreements.len());
    for a in agreements.values() {
        c.str(&a.code)
            .str(&a.name_zh)
            .str(&a.name_en)
            .bool(a.example);
        match &a.note {
            Some(n) => c.u8(1).str(n),
            None => c.u8(0),
        };
        c.len(a.members.len());
        for m in &a.members {
            c.u32(m.as_u32());
        }
        c.len(a.schemes.len());
        for t in a.schemes.values() {
            c.u8(scheme_tag(t.scheme));
            c.len(t.versions.len());
            for v in &t.versions {
                c.str(v);
            }
            c.u32(t.max_age_days);
            c.len(t.common_scale.len());
            for g in &t.common_scale {
                c.str(g);
            }
            c.len(t.treatments.len());
            for (g, tr) in &t.treatments {
                c.str(g)
                    .str(&tr.supervision_tier)
                    .bool(tr.green_channel)
                    .str(&tr.notes);
            }
            c.len(t.members.len());
            for (r, m) in &t.members {
                c.u32(r.as_u32());
                c.len(m.scale.len());
                for g in &m.scale {
                    c.str(g);
                }
                map(&mut c, &m.to_common);
                map(&mut c, &m.to_local);
            }
        }
        match &a.joint {
            Some(j) => {
                c.u8(1).len(j.list_types.len());
                for l in &j.list_types {
                    c.u8(l.tag());
                }
                c.u32(j.respond_within_days)
                    .u32(j.feedback_within_days)
                    .u32(j.change_confirm_within_days);
                c.len(j.release.len());
                for (l, fields) in &j.release {
                    c.u8(l.tag()).len(fields.len());
                    for f in fields {
                        c.str(f);
                    }
                }
            }
            None => {
                c.u8(0);
            }
        }
        match &a.reports {
            Some(r) => {
                c.u8(1).len(r.kinds.len());
                for k in &r.kinds {
                    c.str(k.code());
                }
                c.len(r.purposes.len());
                for p in &r.purposes {
                    c.str(p.as_str());
                }
                c.u32(r.max_age_days);
            }
            None => {
                c.u8(0);
            }
        }
    }
    c.finish()
}
