//! Which authorization authorities a responder accepts a subject's consent
//! (电子授权) from: a rule's `consent_from` list.
//!
//! ```toml
//! [[rule]]
//! subject_authorization = "required"
//! consent_from = ["owner", "national", "440000/gd-portal"]   # the default is ["owner", "national"]
//! ```
//!
//! - `"owner"`: any authorization authority of the policy's own region — the
//!   data owner's government service portal, which verified the subject
//!   itself;
//! - `"national"`: any authority of the national platform (000000);
//! - `"REGION/NAME"`: one named authority of a third region, e.g. the portal
//!   of the region where a company is registered.
//!
//! Whatever the list says, an authority of the *requesting* region is never
//! accepted: `credex-pki` refuses it before the policy is consulted, and the
//! loader refuses a named authority of one of the rule's own peers, which
//! could only ever be a requester's. The reasons are in
//! `docs/decisions/0640-consent-authorities.md`.

use std::fmt;
use std::str::FromStr;

use credex_protocol::{NodeName, RegionCode};

use crate::canonical::Canon;

/// The authority that signed a subject's authorization, as verified by the
/// caller (`credex-pki`): its region and its name within the region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConsentAuthority {
    /// The region whose CA issued the authority's certificate.
    pub region: RegionCode,
    /// The authority's name, e.g. `portal`.
    pub name: NodeName,
}

impl fmt::Display for ConsentAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.region, self.name)
    }
}

/// One entry of a rule's `consent_from` list.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConsentSource {
    /// Any authority of the policy's owner region (the data owner).
    Owner,
    /// Any authority of the national platform.
    National,
    /// One named authority.
    Named(ConsentAuthority),
}

impl ConsentSource {
    /// The list a rule gets when it says nothing: the data owner's own
    /// authorities and the national platform's.
    pub const DEFAULT: [ConsentSource; 2] = [ConsentSource::Owner, ConsentSource::National];

    /// Whether this entry admits `authority` under a policy owned by `owner`.
    pub fn admits(&self, authority: &ConsentAuthority, owner: RegionCode) -> bool {
        match self {
            ConsentSource::Owner => authority.region == owner,
            ConsentSource::National => authority.region == RegionCode::NATIONAL,
            ConsentSource::Named(named) => named == authority,
        }
    }

    /// The region a named entry names, if it is one.
    pub fn named_region(&self) -> Option<RegionCode> {
        match self {
            ConsentSource::Named(a) => Some(a.region),
            _ => None,
        }
    }

    pub(crate) fn hash_into(&self, c: &mut Canon) {
        match self {
            ConsentSource::Owner => c.u8(0),
            ConsentSource::National => c.u8(1),
            ConsentSource::Named(a) => c.u8(2).u32(a.region.as_u32()).str(a.name.as_str()),
        };
    }
}

impl fmt::Display for ConsentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsentSource::Owner => f.write_str("owner"),
            ConsentSource::National => f.write_str("national"),
            ConsentSource::Named(a) => a.fmt(f),
        }
    }
}

/// Why a `consent_from` entry does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a consent source: write \"owner\", \"national\" or \"REGION/NAME\" \
     (a six-digit region code and an authority name, e.g. \"440000/gd-portal\")"
)]
pub struct BadConsentSource(pub String);

impl FromStr for ConsentSource {
    type Err = BadConsentSource;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "owner" => Ok(ConsentSource::Owner),
            "national" => Ok(ConsentSource::National),
            _ => {
                let bad = || BadConsentSource(s.to_owned());
                let (region, name) = s.split_once('/').ok_or_else(bad)?;
                Ok(ConsentSource::Named(ConsentAuthority {
                    region: region.parse().map_err(|_| bad())?,
                    name: name.parse().map_err(|_| bad())?,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authority(text: &str) -> ConsentAuthority {
        let (r, n) = text.split_once('/').unwrap();
        ConsentAuthority {
            region: r.parse().unwrap(),
            name: n.parse().unwrap(),
        }
    }

    #[test]
    fn sources_parse_and_print_back() {
        for text in ["owner", "national", "440000/gd-portal"] {
            let source: ConsentSource = text.parse().unwrap();
            assert_eq!(source.to_string(), text);
        }
        for bad in [
            "",
            "Owner",
            "440000",
            "44000/x",
            "440000/",
            "440000/Bad_Name",
            "/x",
        ] {
            assert!(bad.parse::<ConsentSource>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn each_source_admits_only_its_authorities() {
        let owner: RegionCode = "500000".parse().unwrap();
        let cq = authority("500000/portal");
        let national = authority("000000/portal");
        let gz = authority("440000/gd-portal");
        let gy = authority("520000/portal");
        let named: ConsentSource = "440000/gd-portal".parse().unwrap();
        assert!(ConsentSource::Owner.admits(&cq, owner));
        assert!(!ConsentSource::Owner.admits(&gy, owner));
        assert!(ConsentSource::National.admits(&national, owner));
        assert!(!ConsentSource::National.admits(&cq, owner));
        assert!(named.admits(&gz, owner));
        assert!(!named.admits(&authority("440000/other"), owner));
        assert!(!named.admits(&gy, owner));
    }
}
