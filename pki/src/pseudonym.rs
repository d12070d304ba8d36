//! Keyed subject pseudonyms (自然人假名), docs/design.md §6 "Keyed pseudonyms".
//!
//! A natural person is named in messages, logs and stores by
//! [`SubjectPseudonym`]: an HMAC under the federation's pseudonymization
//! key of one epoch — HMAC-SHA256 in an `ed25519-sha256` federation,
//! HMAC-SM3 (GB/T 32905 with RFC 2104) in an `sm2-sm3` one — over
//!
//! ```text
//! len(DOMAIN_SUBJECT_PSEUDONYM) as one byte ‖ DOMAIN_SUBJECT_PSEUDONYM
//!   ‖ epoch (u32, big-endian) ‖ the canonical 18-character citizen ID
//! ```
//!
//! with [`DOMAIN_SUBJECT_PSEUDONYM`] = `credex/subject-pseudonym/v1`. Without
//! the key the ~10^11 possible IDs cannot be enumerated against a
//! pseudonym, unlike an unkeyed hash.
//!
//! The federation root's operator generates one key per epoch
//! ([`PseudonymKey::generate`]) and hands the key ring
//! ([`PseudonymKeyRing`], text form [`PseudonymKeyRing::to_text`]) to member
//! nodes and authorization authorities; auditors never hold it. A ring holds
//! several epochs during a rotation; new pseudonyms use the highest
//! ([`PseudonymKeyRing::current`]). The life cycle is in
//! `docs/decisions/0630-pseudonym-key.md`.
//!
//! No I/O: the ring comes in as text, randomness as a parameter. Key bytes
//! are never printed: `Debug` shows the epoch and the key check value
//! ([`PseudonymKey::check_value`]) only.

use std::collections::BTreeMap;
use std::fmt;

use credex_protocol::Suite;
use credex_protocol::query::{DOMAIN_SUBJECT_PSEUDONYM, SubjectPseudonym};
use ring::hmac;
use ring::rand::SecureRandom;

/// Length of a pseudonymization key, in bytes.
pub const KEY_LEN: usize = 32;

/// What the key check value is the MAC of: lets two holders compare keys
/// without showing them.
const CHECK_VALUE_INPUT: &[u8] = b"credex/pseudonym-key-check/v1";

/// First line of a key ring's text form.
const RING_HEADER: &str = "# credex pseudonymization key ring v1";

/// Most epochs one ring may hold (a rotation needs two).
pub const MAX_RING_EPOCHS: usize = 16;

/// Why a pseudonym could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PseudonymError {
    /// The ID is not in canonical form (17 digits, then a digit or an upper
    /// case `X`): the same person would get two pseudonyms. The ID itself is
    /// not repeated in the message.
    #[error(
        "a citizen ID must be given in canonical form (18 characters: 17 digits, then a digit or X) to be pseudonymized"
    )]
    NotCanonical,
    /// The ring has no key of this epoch.
    #[error("the pseudonymization key ring holds no key of epoch {epoch}")]
    UnknownEpoch {
        /// The epoch asked for.
        epoch: u32,
    },
}

/// Why a key or a key ring was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PseudonymKeyError {
    /// Epoch 0 is not used: epochs start at 1.
    #[error("epoch 0 is not used; epochs start at 1")]
    ZeroEpoch,
    /// Two keys of one epoch.
    #[error("the key ring holds epoch {epoch} twice")]
    DuplicateEpoch {
        /// The epoch.
        epoch: u32,
    },
    /// A ring with no key.
    #[error("the key ring holds no key")]
    Empty,
    /// More than [`MAX_RING_EPOCHS`] epochs.
    #[error("the key ring holds more than {MAX_RING_EPOCHS} epochs")]
    TooManyEpochs,
    /// The random generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// Keys of two crypto suites in one ring (a person would get
    /// pseudonyms of two MACs).
    #[error("the key ring mixes keys of the {first} and {second} suites")]
    MixedSuites {
        /// The suite of the lowest epoch.
        first: Suite,
        /// Another suite found.
        second: Suite,
    },
    /// A line of the text form is malformed (1-based; the line is not
    /// repeated, it may hold key material).
    #[error("line {line}: {reason}")]
    Syntax {
        /// The line.
        line: usize,
        /// What was expected.
        reason: &'static str,
    },
}

/// The federation's pseudonymization key of one epoch. Secret: `Debug`
/// never shows its bytes.
#[derive(Clone)]
pub struct PseudonymKey {
    epoch: u32,
    secret: [u8; KEY_LEN],
    mac: Mac,
}

/// The MAC a key computes, by suite.
#[derive(Clone)]
enum Mac {
    /// ring's HMAC-SHA256 (`ed25519-sha256`).
    Sha256(hmac::Key),
    /// credex-gm's HMAC-SM3 (`sm2-sm3`), over the key's secret.
    Sm3,
}

impl PseudonymKey {
    /// The `ed25519-sha256` key of `epoch` (1 or more) with these bytes.
    pub fn from_bytes(epoch: u32, secret: [u8; KEY_LEN]) -> Result<Self, PseudonymKeyError> {
        PseudonymKey::from_bytes_in(Suite::Ed25519Sha256, epoch, secret)
    }

    /// The key of `epoch` (1 or more) with these bytes, for a federation of
    /// `suite`.
    pub fn from_bytes_in(
        suite: Suite,
        epoch: u32,
        secret: [u8; KEY_LEN],
    ) -> Result<Self, PseudonymKeyError> {
        if epoch == 0 {
            return Err(PseudonymKeyError::ZeroEpoch);
        }
        let mac = match suite {
            Suite::Ed25519Sha256 => Mac::Sha256(hmac::Key::new(hmac::HMAC_SHA256, &secret)),
            Suite::Sm2Sm3 => Mac::Sm3,
        };
        Ok(PseudonymKey { epoch, secret, mac })
    }

    /// A fresh random `ed25519-sha256` key of `epoch`.
    pub fn generate(epoch: u32, rng: &dyn SecureRandom) -> Result<Self, PseudonymKeyError> {
        PseudonymKey::generate_in(Suite::Ed25519Sha256, epoch, rng)
    }

    /// A fresh random key of `epoch` for a federation of `suite`.
    pub fn generate_in(
        suite: Suite,
        epoch: u32,
        rng: &dyn SecureRandom,
    ) -> Result<Self, PseudonymKeyError> {
        let mut secret = [0u8; KEY_LEN];
        rng.fill(&mut secret)
            .map_err(|_| PseudonymKeyError::Random)?;
        PseudonymKey::from_bytes_in(suite, epoch, secret)
    }

    /// The key's epoch.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The crypto suite whose MAC the key computes.
    pub fn suite(&self) -> Suite {
        match self.mac {
            Mac::Sha256(_) => Suite::Ed25519Sha256,
            Mac::Sm3 => Suite::Sm2Sm3,
        }
    }

    /// The MAC of `parts`, concatenated, under this key.
    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut out = [0u8; 32];
        match &self.mac {
            Mac::Sha256(key) => {
                let mut ctx = hmac::Context::with_key(key);
                for part in parts {
                    ctx.update(part);
                }
                out.copy_from_slice(ctx.sign().as_ref());
            }
            Mac::Sm3 => out = credex_gm::hmac_sm3(&self.secret, &parts.concat()),
        }
        out
    }

    /// The first 8 bytes of HMAC(key, `credex/pseudonym-key-check/v1`):
    /// operators compare it to check that two rings hold the same key.
    pub fn check_value(&self) -> [u8; 8] {
        let tag = self.mac(&[CHECK_VALUE_INPUT]);
        let mut out = [0u8; 8];
        out.copy_from_slice(&tag[..8]);
        out
    }

    /// The pseudonym of the person with `citizen_id` (canonical form, as
    /// `credex_policies::CitizenId::expose` gives it) under this key.
    pub fn pseudonym(&self, citizen_id: &str) -> Result<SubjectPseudonym, PseudonymError> {
        const TAG_LEN: u8 = {
            assert!(!DOMAIN_SUBJECT_PSEUDONYM.is_empty() && DOMAIN_SUBJECT_PSEUDONYM.len() <= 255);
            DOMAIN_SUBJECT_PSEUDONYM.len() as u8
        };
        if !is_canonical(citizen_id) {
            return Err(PseudonymError::NotCanonical);
        }
        let mac = self.mac(&[
            &[TAG_LEN],
            DOMAIN_SUBJECT_PSEUDONYM,
            &self.epoch.to_be_bytes(),
            citizen_id.as_bytes(),
        ]);
        Ok(SubjectPseudonym {
            epoch: self.epoch,
            mac,
        })
    }
}

impl fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PseudonymKey")
            .field("epoch", &self.epoch)
            .field("suite", &self.suite())
            .field("check_value", &hex::encode(self.check_value()))
            .finish_non_exhaustive()
    }
}

/// 17 ASCII digits, then a digit or `X`.
fn is_canonical(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 18 && b[..17].iter().all(u8::is_ascii_digit) && matches!(b[17], b'0'..=b'9' | b'X')
}

/// The pseudonymization keys a holder has, by epoch: one normally, two
/// during a rotation. Never empty. New pseudonyms use the
/// [`current`](PseudonymKeyRing::current) (highest) epoch.
#[derive(Clone, Debug)]
pub struct PseudonymKeyRing {
    keys: BTreeMap<u32, PseudonymKey>,
}

impl PseudonymKeyRing {
    /// A ring of these keys (1 to [`MAX_RING_EPOCHS`], distinct epochs).
    pub fn new(keys: impl IntoIterator<Item = PseudonymKey>) -> Result<Self, PseudonymKeyError> {
        let mut ring = BTreeMap::new();
        for key in keys {
            if ring.contains_key(&key.epoch) {
                return Err(PseudonymKeyError::DuplicateEpoch { epoch: key.epoch });
            }
            ring.insert(key.epoch, key);
        }
        if ring.is_empty() {
            return Err(PseudonymKeyError::Empty);
        }
        if ring.len() > MAX_RING_EPOCHS {
            return Err(PseudonymKeyError::TooManyEpochs);
        }
        let mut suites = ring.values().map(PseudonymKey::suite);
        if let Some(first) = suites.next()
            && let Some(second) = suites.find(|s| *s != first)
        {
            return Err(PseudonymKeyError::MixedSuites { first, second });
        }
        Ok(PseudonymKeyRing { keys: ring })
    }

    /// The crypto suite of the ring's keys (one for all).
    pub fn suite(&self) -> Suite {
        self.current().suite()
    }

    /// The key of the highest epoch: new pseudonyms use it.
    pub fn current(&self) -> &PseudonymKey {
        // Invariant: a ring is never empty (checked by `new`, kept by `without`).
        self.keys
            .values()
            .next_back()
            .unwrap_or_else(|| unreachable!("a key ring is never empty"))
    }

    /// The key of `epoch`, if the ring holds it.
    pub fn key(&self, epoch: u32) -> Option<&PseudonymKey> {
        self.keys.get(&epoch)
    }

    /// The keys, lowest epoch first.
    pub fn keys(&self) -> impl Iterator<Item = &PseudonymKey> {
        self.keys.values()
    }

    /// The epochs held, lowest first.
    pub fn epochs(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    /// This ring with `key` added (its epoch must be new).
    pub fn with(&self, key: PseudonymKey) -> Result<Self, PseudonymKeyError> {
        PseudonymKeyRing::new(self.keys.values().cloned().chain([key]))
    }

    /// This ring without `epoch` (refused if it would leave the ring empty).
    pub fn without(&self, epoch: u32) -> Result<Self, PseudonymKeyError> {
        PseudonymKeyRing::new(self.keys.values().filter(|k| k.epoch != epoch).cloned())
    }

    /// The person's pseudonym under the current epoch.
    pub fn current_pseudonym(&self, citizen_id: &str) -> Result<SubjectPseudonym, PseudonymError> {
        self.current().pseudonym(citizen_id)
    }

    /// The person's pseudonym under `epoch`.
    pub fn pseudonym_at(
        &self,
        epoch: u32,
        citizen_id: &str,
    ) -> Result<SubjectPseudonym, PseudonymError> {
        self.key(epoch)
            .ok_or(PseudonymError::UnknownEpoch { epoch })?
            .pseudonym(citizen_id)
    }

    /// The person's pseudonym under every epoch held, lowest first.
    pub fn pseudonyms(&self, citizen_id: &str) -> Result<Vec<SubjectPseudonym>, PseudonymError> {
        self.keys().map(|k| k.pseudonym(citizen_id)).collect()
    }

    /// The text form, for a key-ring file (mode 0600): a header comment,
    /// then one line `epoch N key HEX` per epoch, lowest first, followed
    /// by `suite sm2-sm3` in an `sm2-sm3` federation.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{RING_HEADER}\n# SECRET: give only to member nodes and authorization authorities, never to auditors.\n"
        );
        for key in self.keys() {
            let suite = match key.suite() {
                Suite::Ed25519Sha256 => String::new(),
                other => format!(" suite {other}"),
            };
            out.push_str(&format!(
                "epoch {} key {}{suite}\n",
                key.epoch,
                hex::encode(key.secret)
            ));
        }
        out
    }

    /// Parse the text form: blank lines and `#` comments are skipped, every
    /// other line is `epoch N key HEX` (64 hex digits), optionally followed
    /// by `suite NAME` (default `ed25519-sha256`).
    pub fn from_text(text: &str) -> Result<Self, PseudonymKeyError> {
        let mut keys = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let syntax = |reason| PseudonymKeyError::Syntax {
                line: i + 1,
                reason,
            };
            let words: Vec<&str> = line.split_ascii_whitespace().collect();
            let (epoch, secret, suite) = match words.as_slice() {
                ["epoch", epoch, "key", secret] => (epoch, secret, Suite::Ed25519Sha256),
                ["epoch", epoch, "key", secret, "suite", suite] => (
                    epoch,
                    secret,
                    suite
                        .parse()
                        .map_err(|_| syntax("the suite must be ed25519-sha256 or sm2-sm3"))?,
                ),
                _ => return Err(syntax("expected `epoch N key HEX [suite NAME]`")),
            };
            let epoch: u32 = epoch
                .parse()
                .map_err(|_| syntax("the epoch must be a number from 1 to 4294967295"))?;
            let mut bytes = [0u8; KEY_LEN];
            hex::decode_to_slice(secret, &mut bytes)
                .map_err(|_| syntax("the key must be 64 hex digits (32 bytes)"))?;
            keys.push(PseudonymKey::from_bytes_in(suite, epoch, bytes)?);
        }
        PseudonymKeyRing::new(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(epoch: u32, byte: u8) -> PseudonymKey {
        PseudonymKey::from_bytes(epoch, [byte; KEY_LEN]).expect("epoch is not 0")
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let ring = PseudonymKeyRing::new([key(1, 0xa5)]).expect("one key");
        let shown = format!("{ring:?} {:?}", ring.current());
        assert!(!shown.contains(&"a5".repeat(8)), "{shown}");
        assert!(shown.contains("epoch: 1"), "{shown}");
    }

    #[test]
    fn current_is_the_highest_epoch_and_rings_round_trip_as_text() {
        let ring = PseudonymKeyRing::new([key(2, 2), key(1, 1)]).expect("two keys");
        assert_eq!(ring.current().epoch(), 2);
        let again = PseudonymKeyRing::from_text(&ring.to_text()).expect("parses");
        assert_eq!(again.epochs(), vec![1, 2]);
        let id = "11010519491231002X";
        assert_eq!(again.pseudonyms(id), ring.pseudonyms(id));
        assert_eq!(ring.without(1).expect("epoch 2 left").epochs(), vec![2]);
        assert_eq!(
            ring.without(1)
                .and_then(|r| r.without(2))
                .expect_err("empty"),
            PseudonymKeyError::Empty
        );
    }

    #[test]
    fn bad_rings_and_ids_are_refused() {
        assert_eq!(
            PseudonymKeyRing::new([key(1, 1), key(1, 2)]).expect_err("duplicate"),
            PseudonymKeyError::DuplicateEpoch { epoch: 1 }
        );
        assert_eq!(
            PseudonymKey::from_bytes(0, [0; KEY_LEN]).expect_err("epoch 0"),
            PseudonymKeyError::ZeroEpoch
        );
        for text in [
            "",
            "epoch 1 key 00",
            "epoch x key 0000000000000000000000000000000000000000000000000000000000000000",
            "epoch 1 key 0000000000000000000000000000000000000000000000000000000000000000 extra",
        ] {
            assert!(PseudonymKeyRing::from_text(text).is_err(), "{text:?}");
        }
        let k = key(1, 1);
        for id in [
            "11010519491231002x",
            "1101051949123100",
            "11010519491231002X ",
        ] {
            assert_eq!(k.pseudonym(id), Err(PseudonymError::NotCanonical), "{id}");
        }
    }
}
