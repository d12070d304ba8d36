//! What a gateway client may do: the roles a client certificate grants a
//! region's own system at its node's integration gateway (issue 15).
//!
//! The roles travel in the certificate's identity URI
//! (`urn:credex:client:RRRRRR:ROLES:NAME`) as a sorted, `+`-joined set, so
//! one certificate still names exactly one identity and the text of a set
//! has one spelling.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// One thing a gateway client may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GatewayRole {
    /// `audit`: fetch the log's checkpoints, proofs and tiles.
    Audit,
    /// `check`: credit checks (信用核查) on subjects.
    Check,
    /// `events`: read the event feed.
    Events,
    /// `feed`: upsert and delete records (the provincial platform's feed).
    Feed,
    /// `query`: draft and send two-person cross-region queries.
    Query,
    /// `sar`: subject access reports ("who looked at my data").
    Sar,
}

impl GatewayRole {
    /// Every role, in the order their names sort.
    pub const ALL: [GatewayRole; 6] = [
        GatewayRole::Audit,
        GatewayRole::Check,
        GatewayRole::Events,
        GatewayRole::Feed,
        GatewayRole::Query,
        GatewayRole::Sar,
    ];

    /// The role's name in identities and configuration.
    pub fn name(self) -> &'static str {
        match self {
            GatewayRole::Audit => "audit",
            GatewayRole::Check => "check",
            GatewayRole::Events => "events",
            GatewayRole::Feed => "feed",
            GatewayRole::Query => "query",
            GatewayRole::Sar => "sar",
        }
    }
}

impl fmt::Display for GatewayRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for GatewayRole {
    type Err = GatewayRolesError;

    fn from_str(s: &str) -> Result<GatewayRole, GatewayRolesError> {
        GatewayRole::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| GatewayRolesError::Unknown(s.chars().take(32).collect()))
    }
}

/// A non-empty set of gateway roles.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GatewayRoles(BTreeSet<GatewayRole>);

impl GatewayRoles {
    /// The set of `roles`; refused when empty.
    pub fn new(roles: impl IntoIterator<Item = GatewayRole>) -> Result<Self, GatewayRolesError> {
        let set: BTreeSet<GatewayRole> = roles.into_iter().collect();
        if set.is_empty() {
            return Err(GatewayRolesError::Empty);
        }
        Ok(GatewayRoles(set))
    }

    /// Parse a comma- or `+`-separated list in any order, as a person types
    /// it (`credex pki issue client --roles feed,check`).
    pub fn parse_list(text: &str) -> Result<Self, GatewayRolesError> {
        let roles = text
            .split([',', '+'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<GatewayRole>, _>>()?;
        GatewayRoles::new(roles)
    }

    /// Whether the set grants `role`.
    pub fn grants(&self, role: GatewayRole) -> bool {
        self.0.contains(&role)
    }

    /// The roles, sorted.
    pub fn iter(&self) -> impl Iterator<Item = GatewayRole> + '_ {
        self.0.iter().copied()
    }
}

impl fmt::Display for GatewayRoles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|r| r.name()).collect();
        f.write_str(&names.join("+"))
    }
}

/// The canonical spelling of a set in an identity: sorted, `+`-joined, no
/// repeats. Anything else is refused, so a set has one spelling.
impl FromStr for GatewayRoles {
    type Err = GatewayRolesError;

    fn from_str(s: &str) -> Result<GatewayRoles, GatewayRolesError> {
        let roles = s
            .split('+')
            .map(str::parse)
            .collect::<Result<Vec<GatewayRole>, _>>()?;
        if !roles.windows(2).all(|w| w[0] < w[1]) {
            return Err(GatewayRolesError::NotCanonical(
                s.chars().take(64).collect(),
            ));
        }
        GatewayRoles::new(roles)
    }
}

/// Why a set of gateway roles was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayRolesError {
    /// A role name that is not one of the gateway's.
    #[error("unknown gateway role {0:?} (expected audit, check, events, feed, query or sar)")]
    Unknown(String),
    /// No role at all.
    #[error("a gateway client needs at least one role")]
    Empty,
    /// Roles out of order or repeated in an identity.
    #[error("gateway roles {0:?} are not sorted and unique, joined by '+'")]
    NotCanonical(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_has_one_spelling() {
        let roles = GatewayRoles::parse_list("feed, check").expect("roles");
        assert_eq!(roles.to_string(), "check+feed");
        assert_eq!("check+feed".parse::<GatewayRoles>(), Ok(roles.clone()));
        assert!(roles.grants(GatewayRole::Feed) && !roles.grants(GatewayRole::Query));
        for bad in ["feed+check", "check+check", "", "check+", "admin"] {
            assert!(bad.parse::<GatewayRoles>().is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            GatewayRoles::parse_list(" , "),
            Err(GatewayRolesError::Empty)
        );
        assert!(matches!(
            GatewayRoles::parse_list("check,root"),
            Err(GatewayRolesError::Unknown(r)) if r == "root"
        ));
    }
}
