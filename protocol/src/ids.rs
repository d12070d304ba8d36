//! Federation identities: region codes, node names and operator roles.
//!
//! These are the names that certificates bind and that messages carry. Each
//! is a validated newtype: holding one means the text was checked.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an identity string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// A region code must be exactly six ASCII digits (GB/T 2260).
    #[error("region code {0:?} is not six digits (GB/T 2260 administrative division code)")]
    RegionNotSixDigits(String),
    /// The first two digits must name a province-level division (11–82), or
    /// the whole code must be `000000` for the national platform.
    #[error(
        "region code {0:?} names no province-level division (first two digits must be 11-82, or 000000 for the national platform)"
    )]
    RegionUnknownProvince(String),
    /// Node names are 1–63 characters of `a-z`, `0-9` and `-`, not starting or ending with `-`.
    #[error(
        "node name {0:?} must be 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'"
    )]
    BadNodeName(String),
    /// The role is not one of the closed list.
    #[error("role {0:?} is not one of: requester, approver, auditor, admin")]
    UnknownRole(String),
}

/// A six-digit GB/T 2260 administrative division code naming a region
/// (行政区划代码), e.g. `520000` for Guizhou. `000000` is the national platform.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegionCode(u32);

impl RegionCode {
    /// The national credit information sharing platform (全国信用信息共享平台).
    pub const NATIONAL: RegionCode = RegionCode(0);

    /// The code as a number (e.g. `520000`).
    pub fn as_u32(self) -> u32 {
        self.0
    }

    /// Whether this is the national platform's code `000000`.
    pub fn is_national(self) -> bool {
        self.0 == 0
    }

    /// The province-level region that contains this one (`520100` → `520000`).
    pub fn province(self) -> RegionCode {
        RegionCode(self.0 / 10_000 * 10_000)
    }

    /// Build from a number, validating it as [`FromStr`] would.
    pub fn from_u32(code: u32) -> Result<Self, IdError> {
        format!("{code:06}").parse()
    }
}

impl FromStr for RegionCode {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::RegionNotSixDigits(s.to_owned()));
        }
        let code: u32 = s
            .parse()
            .map_err(|_| IdError::RegionNotSixDigits(s.to_owned()))?;
        let province = code / 10_000;
        if code != 0 && !(11..=82).contains(&province) {
            return Err(IdError::RegionUnknownProvince(s.to_owned()));
        }
        Ok(RegionCode(code))
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06}", self.0)
    }
}

impl fmt::Debug for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegionCode({:06})", self.0)
    }
}

impl Serialize for RegionCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_u32(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for RegionCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            RegionCode::from_u32(u32::deserialize(d)?).map_err(serde::de::Error::custom)
        }
    }
}

/// The name of a node, or of a person or body, within its region: 1–63
/// characters of `a-z`, `0-9` and `-` (a DNS label), e.g. `gy-1`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct NodeName(String);

impl NodeName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for NodeName {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (1..=63).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(NodeName(s.to_owned()))
        } else {
            Err(IdError::BadNodeName(s.to_owned()))
        }
    }
}

impl<'de> Deserialize<'de> for NodeName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeName({})", self.0)
    }
}

/// The role an accountable operator holds, bound in their certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Signs outgoing requests (经办人).
    Requester,
    /// Countersigns requests made by a different officer (审核人).
    Approver,
    /// Reads and verifies access logs (审计员).
    Auditor,
    /// Administers the node: policies, keys, configuration (管理员).
    Admin,
}

impl Role {
    /// Every role, in a fixed order.
    pub const ALL: [Role; 4] = [Role::Requester, Role::Approver, Role::Auditor, Role::Admin];

    /// The lowercase name used in certificates and files.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Approver => "approver",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| IdError::UnknownRole(s.to_owned()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Signature algorithm identifiers carried with every signature inside a
/// message. The numeric values are part of the wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// Ed25519 (RFC 8032).
    Ed25519,
    /// ECDSA over P-256 with SHA-256, ASN.1 DER signature.
    EcdsaP256Sha256,
    /// SM2 with SM3 (商用密码, GB/T 32918.2) on the recommended curve, with
    /// the default signer identity of GM/T 0009 (`1234567812345678`) in
    /// `Z_A`; the signature is 64 bytes `r ‖ s` (decision 0990).
    Sm2Sm3,
}

/// A signature and the algorithm that made it, as carried inside messages.
/// Making and checking signatures is `credex-pki`'s job.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Signature {
    /// The algorithm (and so the key type) the signature was made with.
    pub algorithm: SignatureAlgorithm,
    /// The signature: 64 bytes for Ed25519 and SM2 (`r ‖ s`), ASN.1 DER for
    /// ECDSA.
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({:?}, ", self.algorithm)?;
        for b in &self.bytes {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_codes() {
        assert_eq!("520000".parse::<RegionCode>().unwrap().as_u32(), 520_000);
        assert!("000000".parse::<RegionCode>().unwrap().is_national());
        assert_eq!(
            "520102"
                .parse::<RegionCode>()
                .unwrap()
                .province()
                .to_string(),
            "520000"
        );
        for bad in [
            "52000", "5200000", "52000a", "990000", "100000", "+52000", " 52000",
        ] {
            assert!(bad.parse::<RegionCode>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn node_names() {
        assert!("gy-1".parse::<NodeName>().is_ok());
        for bad in ["", "-a", "a-", "Gy", "a_b", "a.b", &"x".repeat(64)] {
            assert!(bad.parse::<NodeName>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
