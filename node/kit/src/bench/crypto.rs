//! The crypto floor: how fast ring's Ed25519 signs and verifies on this
//! machine, how many signatures and verifications one query costs, and the
//! query rates that allows — the ceiling the measured rates are compared to.
//!
//! Owns: [`SignatureBudget`], [`CryptoFloor`], [`measure_crypto_floor`].
//! Does not own the query measurement ([`super::query`]).

use std::time::{Duration, Instant};

use credex_protocol::Suite;
use serde::Serialize;

/// Signature verifications and signatures one query costs, as counted from
/// the code (`credex_pki::authorization`, `credex_pki::trust`).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SignatureBudget {
    /// Responder: per officer (requester, approver), the leaf certificate
    /// (signed by the region CA), the region CA certificate (signed by the
    /// root) and the message signature: 2 × 3.
    pub responder_verifies: u32,
    /// Requester: the response's node certificate, its region CA, the
    /// response signature, and the signature of the responder's log
    /// checkpoint in the receipt.
    pub requester_verifies: u32,
    /// CRL signatures webpki re-verifies on every chain check (one per CRL
    /// consulted: the region CA's for the leaf, the root's for the region CA;
    /// three chains per query). Zero if they were checked once at load.
    pub crl_verifies: u32,
    /// Responder: the response signature. (Log checkpoints are signed on
    /// demand, at most one per checkpoint, shared by every query it
    /// covers: not counted.)
    pub signs: u32,
    /// Message signatures only, once certificate chains are cached per
    /// trust store (`credex_pki::TrustStore::verify` since 391cfc9): the
    /// requester's and approver's signatures at the responder, the
    /// response's and the log checkpoint's at the requester.
    pub message_verifies: u32,
}

impl SignatureBudget {
    /// A query citing a legal basis, as the benchmark sends.
    pub const LEGAL_BASIS_QUERY: SignatureBudget = SignatureBudget {
        responder_verifies: 6,
        requester_verifies: 4,
        crl_verifies: 6,
        signs: 1,
        message_verifies: 4,
    };

    /// Verifications the protocol needs (CRLs checked once, at load).
    pub fn intrinsic_verifies(&self) -> u32 {
        self.responder_verifies + self.requester_verifies
    }

    /// Verifications with every chain and its CRLs checked for every query,
    /// as the code did before the chain cache (the field names keep the
    /// word "executed" so that earlier JSON reports compare).
    pub fn executed_verifies(&self) -> u32 {
        self.intrinsic_verifies() + self.crl_verifies
    }
}

/// The suite's signature speed on this machine, and the query rates it
/// allows.
#[derive(Debug, Clone, Serialize)]
pub struct CryptoFloor {
    /// Size of the signed message, bytes.
    pub message_bytes: usize,
    /// Threads used for the all-core figures.
    pub threads: usize,
    /// Verifications per second, one thread.
    pub verify_per_s_one_thread: f64,
    /// Signatures per second, one thread.
    pub sign_per_s_one_thread: f64,
    /// Verifications per second, all threads together.
    pub verify_per_s_all_threads: f64,
    /// Signatures per second, all threads together.
    pub sign_per_s_all_threads: f64,
    /// What one query costs.
    pub budget: SignatureBudget,
    /// One thread's Ed25519 time per query, microseconds, counting the
    /// verifications the protocol needs.
    pub crypto_us_per_query_intrinsic: f64,
    /// The same, with the CRL signatures re-checked on every chain (see
    /// [`SignatureBudget::executed_verifies`]).
    pub crypto_us_per_query_executed: f64,
    /// Queries per second all cores' signature work allows (one thread's
    /// rate × cores: other processes share the machine, so the all-threads
    /// figures vary with their load), counting the verifications the
    /// protocol needs.
    pub ceiling_qps_intrinsic: f64,
    /// The same, with the CRL signatures re-checked on every chain.
    pub ceiling_qps_executed: f64,
    /// One thread's Ed25519 time per query with certificate chains cached:
    /// message signatures only.
    pub crypto_us_per_query_cached_chains: f64,
    /// Queries per second all cores allow with chains cached (the
    /// strictest floor: what a query cannot avoid).
    pub ceiling_qps_cached_chains: f64,
}

/// Makes one signature of the benchmark's message.
type SignOnce = Box<dyn Fn() + Sync>;
/// Verifies the benchmark's signature once.
type VerifyOnce = Box<dyn Fn() -> bool + Sync>;

/// Measure ring's Ed25519 on this machine: `each` per figure (four figures).
pub fn measure_crypto_floor(each: Duration, message_bytes: usize) -> CryptoFloor {
    measure_crypto_floor_of(Suite::Ed25519Sha256, each, message_bytes)
}

/// Measure the signatures of `suite` on this machine — ring's Ed25519, or
/// credex-gm's SM2 with SM3 — `each` per figure (four figures). Every
/// signature of a query is of the suite's algorithm (decision 1080).
pub fn measure_crypto_floor_of(suite: Suite, each: Duration, message_bytes: usize) -> CryptoFloor {
    use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
    let message = vec![0x5a_u8; message_bytes];
    let (sign, verify): (SignOnce, VerifyOnce) = match suite {
        Suite::Ed25519Sha256 => {
            let rng = ring::rand::SystemRandom::new();
            // A freshly generated PKCS#8 document always parses back; if the
            // system RNG failed, report zeros rather than abort the benchmark.
            let Some(key) = Ed25519KeyPair::generate_pkcs8(&rng)
                .ok()
                .and_then(|doc| Ed25519KeyPair::from_pkcs8(doc.as_ref()).ok())
            else {
                return floor_from(message_bytes, 1, [0.0; 4]);
            };
            let signature = key.sign(&message);
            let public = key.public_key().as_ref().to_vec();
            let m = message.clone();
            (
                Box::new(move || {
                    std::hint::black_box(key.sign(&m));
                }),
                Box::new(move || {
                    UnparsedPublicKey::new(&ED25519, &public)
                        .verify(&message, signature.as_ref())
                        .is_ok()
                }),
            )
        }
        Suite::Sm2Sm3 => {
            // A fixed scalar: the key signs nothing but this benchmark.
            let Ok(key) = credex_gm::Sm2SigningKey::new(credex_gm::DEFAULT_ID, &[0x37; 32]) else {
                return floor_from(message_bytes, 1, [0.0; 4]);
            };
            let signature = key.sign(&message);
            let public = key.public_key();
            let m = message.clone();
            (
                Box::new(move || {
                    std::hint::black_box(key.sign(&m));
                }),
                Box::new(move || {
                    credex_gm::sm2_verify(credex_gm::DEFAULT_ID, &public, &message, &signature)
                        .is_ok()
                }),
            )
        }
    };
    let verify_loop = |deadline: Instant| {
        let mut n = 0u64;
        while Instant::now() < deadline {
            for _ in 0..16 {
                std::hint::black_box(verify());
            }
            n += 16;
        }
        n
    };
    let sign_loop = |deadline: Instant| {
        let mut n = 0u64;
        while Instant::now() < deadline {
            for _ in 0..16 {
                sign();
            }
            n += 16;
        }
        n
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rate = |f: &(dyn Fn(Instant) -> u64 + Sync), threads: usize| {
        let start = Instant::now();
        let deadline = start + each;
        let total: u64 = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads).map(|_| s.spawn(|| f(deadline))).collect();
            hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        total as f64 / start.elapsed().as_secs_f64()
    };
    let figures = [
        rate(&verify_loop, 1),
        rate(&sign_loop, 1),
        rate(&verify_loop, threads),
        rate(&sign_loop, threads),
    ];
    floor_from(message_bytes, threads, figures)
}

/// The floor from the four measured rates (verify and sign on one thread,
/// then on `threads` threads).
pub(super) fn floor_from(message_bytes: usize, threads: usize, f: [f64; 4]) -> CryptoFloor {
    let budget = SignatureBudget::LEGAL_BASIS_QUERY;
    let [v1, s1, vn, sn] = f;
    let us_per_query = |verifies: u32| {
        if v1 <= 0.0 || s1 <= 0.0 {
            return 0.0;
        }
        1e6 * (f64::from(verifies) / v1 + f64::from(budget.signs) / s1)
    };
    let ceiling = |verifies: u32| {
        let us = us_per_query(verifies);
        if us > 0.0 {
            threads as f64 * 1e6 / us
        } else {
            0.0
        }
    };
    CryptoFloor {
        message_bytes,
        threads,
        verify_per_s_one_thread: v1,
        sign_per_s_one_thread: s1,
        verify_per_s_all_threads: vn,
        sign_per_s_all_threads: sn,
        budget,
        crypto_us_per_query_intrinsic: us_per_query(budget.intrinsic_verifies()),
        crypto_us_per_query_executed: us_per_query(budget.executed_verifies()),
        ceiling_qps_intrinsic: ceiling(budget.intrinsic_verifies()),
        ceiling_qps_executed: ceiling(budget.executed_verifies()),
        crypto_us_per_query_cached_chains: us_per_query(budget.message_verifies),
        ceiling_qps_cached_chains: ceiling(budget.message_verifies),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_follow_the_signature_count() {
        // 20,000 verifications/s and 40,000 signatures/s per thread: 50 µs
        // and 25 µs; 10 + 1 → 525 µs, 16 + 1 → 825 µs per query.
        let f = floor_from(512, 2, [20_000.0, 40_000.0, 40_000.0, 80_000.0]);
        assert_eq!(f.budget.intrinsic_verifies(), 10);
        assert_eq!(f.budget.executed_verifies(), 16);
        assert!((f.crypto_us_per_query_intrinsic - 525.0).abs() < 1e-6);
        assert!((f.crypto_us_per_query_executed - 825.0).abs() < 1e-6);
        assert!((f.ceiling_qps_intrinsic - 2.0 * 1e6 / 525.0).abs() < 1e-6);
        // Cached chains: 4 message signatures + 1 → 225 µs.
        assert!((f.crypto_us_per_query_cached_chains - 225.0).abs() < 1e-6);
        assert!((f.ceiling_qps_cached_chains - 2.0 * 1e6 / 225.0).abs() < 1e-6);
    }
}
