//! A federation's crypto suite (密码套件): which signature algorithms its
//! certificates and signed objects may use. It is fixed when the federation
//! is created, by the key of its root (an SM2 root makes an `sm2-sm3`
//! federation), so every certificate and every signature's algorithm
//! identifier says which suite it belongs to, and a certificate or
//! signature of the other suite is refused: a federation is never mixed.

use std::fmt;
use std::str::FromStr;

use crate::SignatureAlgorithm;

/// A federation's crypto suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Suite {
    /// Ed25519 (or ECDSA P-256) signatures and SHA-256: the international
    /// suite, and the default.
    Ed25519Sha256,
    /// SM2 signatures with SM3 (商用密码: GB/T 32918, GB/T 32905).
    Sm2Sm3,
}

impl Suite {
    /// Every suite, in the order they are listed to people.
    pub const ALL: [Suite; 2] = [Suite::Ed25519Sha256, Suite::Sm2Sm3];

    /// The suite's name as configuration and reports spell it.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Ed25519Sha256 => "ed25519-sha256",
            Suite::Sm2Sm3 => "sm2-sm3",
        }
    }

    /// The suite a federation whose root key signs with `root` belongs to.
    pub fn of_root_key(root: SignatureAlgorithm) -> Suite {
        match root {
            SignatureAlgorithm::Sm2Sm3 => Suite::Sm2Sm3,
            _ => Suite::Ed25519Sha256,
        }
    }

    /// Whether certificates and signed objects of this suite may carry
    /// `algorithm`.
    pub fn signs_with(self, algorithm: SignatureAlgorithm) -> bool {
        match self {
            Suite::Ed25519Sha256 => matches!(
                algorithm,
                SignatureAlgorithm::Ed25519 | SignatureAlgorithm::EcdsaP256Sha256
            ),
            Suite::Sm2Sm3 => algorithm == SignatureAlgorithm::Sm2Sm3,
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A suite name other than `ed25519-sha256` or `sm2-sm3`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown crypto suite {0:?}: expected ed25519-sha256 or sm2-sm3")]
pub struct UnknownSuite(pub String);

impl FromStr for Suite {
    type Err = UnknownSuite;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Suite::ALL
            .into_iter()
            .find(|suite| suite.name() == s)
            .ok_or_else(|| UnknownSuite(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for suite in Suite::ALL {
            assert_eq!(suite.name().parse::<Suite>(), Ok(suite));
        }
        assert!("sm2".parse::<Suite>().is_err());
    }

    #[test]
    fn each_algorithm_belongs_to_exactly_one_suite() {
        for alg in [
            SignatureAlgorithm::Ed25519,
            SignatureAlgorithm::EcdsaP256Sha256,
            SignatureAlgorithm::Sm2Sm3,
        ] {
            let suites: Vec<Suite> = Suite::ALL
                .into_iter()
                .filter(|s| s.signs_with(alg))
                .collect();
            assert_eq!(suites, vec![Suite::of_root_key(alg)], "{alg:?}");
        }
    }
}
