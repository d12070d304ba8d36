//! Dual authorization: verifying queries and responses in a throw-away
//! federation (root; region CAs 520000 and 500000; officers req-1 and apv-1
//! of 520000; the authority `portal` and the responder node cq-1 of 500000).

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use credex_pki::authorization::{
    SameOfficerEvidence, Signer, approve_request, query_digest, sign_request, sign_response,
    sign_subject_authorization, verify_response,
};
use credex_pki::signing::{SignatureError, SigningKey};
use credex_pki::{
    AuthorizationError, AuthorizationVerified, CertificateAuthority, Issued, KeyAlgorithm,
    QueryContext, ResponseError, RevokedCert, SignProofError, Subject, TrustStore, Validity,
    VerifyError, verify_authorized_query,
};
use credex_protocol::Role;
use credex_protocol::query::{
    AuthorizedQuery, CategoryFields, DOMAIN_SUBJECT_AUTHORIZATION, Outcome, QueryReason,
    QueryRequest, QueryResponse, QueryResponseBody, Record, SignedSubjectAuthorization,
    SignerProof, SubjectAuthorization, SubjectRef, Value,
};

/// `now` of every test: 2026-01-02 00:00:00 UTC.
const NOW_MS: i64 = (Y2026 + 86_400) * 1000;
const SKEW_MS: i64 = 300_000;
const DAY_MS: i64 = 86_400_000;
const USCC: &str = "91520100MA6DJ4XK3P";

/// A certificate holder: certificate, key, chain (leaf, region CA).
struct Party {
    issued: Issued,
    key: SigningKey,
    chain: Vec<Vec<u8>>,
}

impl Party {
    fn new(issued: Issued, ca: &Issued) -> Self {
        let key = SigningKey::from_pkcs8_pem(&issued.key_pem).unwrap();
        let chain = vec![issued.cert_der.clone(), ca.cert_der.clone()];
        Party { issued, key, chain }
    }
}

struct Fixture {
    fed: Federation,
    gz_issued: Issued,
    gz: CertificateAuthority,
    cq_issued: Issued,
    cq: CertificateAuthority,
    req: Party,
    apv: Party,
    portal: Party,
    node: Party,
    store: TrustStore,
}

fn validity() -> Validity {
    Validity::days_from(at(Y2026), 365)
}

fn operator(ca: &CertificateAuthority, ca_issued: &Issued, n: &str, role: Role) -> Party {
    operator_alg(ca, ca_issued, n, role, KeyAlgorithm::Ed25519)
}

fn operator_alg(
    ca: &CertificateAuthority,
    ca_issued: &Issued,
    n: &str,
    role: Role,
    alg: KeyAlgorithm,
) -> Party {
    Party::new(
        ca.issue_operator(&name(n), role, alg, validity()).unwrap(),
        ca_issued,
    )
}

fn authority(ca: &CertificateAuthority, ca_issued: &Issued, n: &str) -> Party {
    Party::new(
        ca.issue_authority(&name(n), KeyAlgorithm::Ed25519, validity())
            .unwrap(),
        ca_issued,
    )
}

impl Fixture {
    fn new() -> Self {
        let fed = Federation::new(KeyAlgorithm::Ed25519);
        let (gz_issued, gz) = fed.region_ca("520000");
        let (cq_issued, cq) = fed.region_ca("500000");
        let req = operator(&gz, &gz_issued, "req-1", Role::Requester);
        let apv = operator(&gz, &gz_issued, "apv-1", Role::Approver);
        // The data owner's (the responder's) portal: an authority of the
        // requesting region may not vouch for consent to its own query.
        let portal = authority(&cq, &cq_issued, "portal");
        let node = Party::new(node(&cq, "cq-1", KeyAlgorithm::Ed25519), &cq_issued);
        let store = fed.store(&[]);
        Fixture {
            fed,
            gz_issued,
            gz,
            cq_issued,
            cq,
            req,
            apv,
            portal,
            node,
            store,
        }
    }

    /// req-1 signs, apv-1 approves, portal authorizes (if given).
    fn query(
        &self,
        request: QueryRequest,
        authorization: Option<SubjectAuthorization>,
    ) -> AuthorizedQuery {
        self.query_by(request, &self.req, &self.apv, authorization, &self.portal)
    }

    fn query_by(
        &self,
        request: QueryRequest,
        requester: &Party,
        approver: &Party,
        authorization: Option<SubjectAuthorization>,
        signer: &Party,
    ) -> AuthorizedQuery {
        let subject_authorization = authorization
            .map(|a| sign_subject_authorization(a, &signer.key, signer.chain.clone()).unwrap());
        let mut request = request;
        if let Some(signed) = &subject_authorization {
            request.subject_authorization_digest = Some(signed.digest().unwrap());
        }
        let requester_proof =
            sign_request(&request, &requester.key, requester.chain.clone()).unwrap();
        let approver_proof = approve_request(
            &request,
            &requester_proof,
            &approver.key,
            approver.chain.clone(),
        )
        .unwrap();
        AuthorizedQuery {
            request,
            requester: requester_proof,
            approver: approver_proof,
            subject_authorization,
        }
    }

    fn verify(&self, q: &AuthorizedQuery) -> Result<AuthorizationVerified, AuthorizationError> {
        verify_authorized_query(q, &self.store, &ctx())
    }
}

fn ctx() -> QueryContext {
    QueryContext {
        responder_region: region("500000"),
        peer_region: region("520000"),
        peer_node: name("gy-1"),
        now: now_plus_days(1),
        max_clock_skew_ms: SKEW_MS,
    }
}

fn request() -> QueryRequest {
    QueryRequest {
        request_id: [1; 16],
        requester_region: region("520000"),
        requester_node: name("gy-1"),
        target_region: region("500000"),
        subject: SubjectRef::LegalPerson(USCC.to_owned()),
        purpose: "public_procurement".to_owned(),
        requested: vec![CategoryFields {
            category: "admin_penalty".to_owned(),
            fields: vec!["decision_number".to_owned(), "amount".to_owned()],
        }],
        legal_basis: None,
        subject_authorization_digest: None,
        nonce: [7; 16],
        issued_at_ms: NOW_MS - 1_000,
    }
}

fn authorization() -> SubjectAuthorization {
    SubjectAuthorization {
        authorization_id: [9; 16],
        subject: SubjectRef::LegalPerson(USCC.to_owned()),
        grantee_region: region("520000"),
        purposes: vec!["public_procurement".to_owned()],
        categories: vec!["admin_penalty".to_owned()],
        not_before_ms: NOW_MS - DAY_MS,
        not_after_ms: NOW_MS + 30 * DAY_MS,
        max_uses: 3,
    }
}

/// The error of a refused query, after checking its wire reason and that
/// its message names neither the subject nor an officer.
fn refused(
    result: Result<AuthorizationVerified, AuthorizationError>,
    reason: QueryReason,
) -> AuthorizationError {
    let err = result.unwrap_err();
    assert_eq!(err.reason(), reason, "{err}");
    let message = err.to_string();
    for secret in [USCC, "req-1", "apv-1", "portal"] {
        assert!(!message.contains(secret), "{message:?} leaks {secret}");
    }
    err
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .try_into()
        .unwrap()
}

// --- accepted ----------------------------------------------------------------

#[test]
fn signed_query_verifies_and_token_exposes_identities_and_scope() {
    let fx = Fixture::new();
    let q = fx.query(request(), Some(authorization()));
    // The bundle survives the wire (the encoding is canonical).
    let q: AuthorizedQuery =
        credex_protocol::decode(&credex_protocol::encode(&q).unwrap()).unwrap();
    let ok = fx.verify(&q).unwrap();

    assert_eq!(
        ok.requester().subject,
        Subject::Operator {
            region: region("520000"),
            role: Role::Requester,
            name: name("req-1")
        }
    );
    assert_eq!(
        ok.requester().fingerprint,
        sha256(&fx.req.issued.cert_der),
        "the requester's own certificate"
    );
    assert_eq!(
        ok.approver().subject,
        Subject::Operator {
            region: region("520000"),
            role: Role::Approver,
            name: name("apv-1")
        }
    );
    let sa = ok.subject_authorization().unwrap();
    assert_eq!(
        sa.signer().subject,
        Subject::Authority {
            region: region("500000"),
            name: name("portal")
        }
    );
    assert_eq!(sa.authorization(), &authorization());
    assert_eq!(sa.id(), [9; 16]);
    let kept: credex_protocol::query::AuthorizedQuery =
        credex_protocol::decode(ok.bundle()).unwrap();
    assert_eq!(kept.request, q.request);
    assert_eq!(
        kept.request.subject_authorization_digest,
        Some(q.subject_authorization.as_ref().unwrap().digest().unwrap())
    );
    let digest = sha256(&credex_protocol::encode(&q).unwrap());
    assert_eq!(ok.query_digest(), digest);
    assert_eq!(query_digest(&q).unwrap(), digest);
    // The bundle kept with the entry is the query as encoded, the bytes
    // the digest is of.
    assert_eq!(ok.bundle(), credex_protocol::encode(&q).unwrap());
    assert_eq!(sha256(ok.bundle()), digest);
}

#[test]
fn query_citing_a_legal_basis_verifies_without_subject_authorization() {
    let fx = Fixture::new();
    let mut r = request();
    r.legal_basis = Some("joint_punishment_memorandum".to_owned());
    let ok = fx.verify(&fx.query(r, None)).unwrap();
    assert!(ok.subject_authorization().is_none());
}

#[test]
fn p256_officers_verify() {
    let fx = Fixture::new();
    let req = operator_alg(
        &fx.gz,
        &fx.gz_issued,
        "req-2",
        Role::Requester,
        KeyAlgorithm::EcdsaP256,
    );
    let apv = operator_alg(
        &fx.gz,
        &fx.gz_issued,
        "apv-2",
        Role::Approver,
        KeyAlgorithm::EcdsaP256,
    );
    let q = fx.query_by(request(), &req, &apv, Some(authorization()), &fx.portal);
    fx.verify(&q).unwrap();
}

#[test]
fn authority_of_a_third_region_or_the_nation_may_sign_the_subject_authorization() {
    let fx = Fixture::new();
    let (gd_issued, gd) = fx.fed.region_ca("440000");
    let (national_issued, national) = fx.fed.region_ca("000000");
    for (portal, expected) in [
        (authority(&gd, &gd_issued, "gd-portal"), "440000"),
        (authority(&national, &national_issued, "portal"), "000000"),
    ] {
        let q = fx.query_by(request(), &fx.req, &fx.apv, Some(authorization()), &portal);
        let ok = fx.verify(&q).unwrap();
        assert_eq!(
            ok.subject_authorization().unwrap().signer().region(),
            Some(region(expected))
        );
    }
}

/// Issue 13 §1: the requesting region's own authority cannot vouch for
/// the subject's consent — otherwise the requesting side would hold all
/// three signatures.
#[test]
fn the_requesting_regions_own_authority_cannot_sign_the_consent() {
    let fx = Fixture::new();
    let rogue = authority(&fx.gz, &fx.gz_issued, "rogue-portal");
    let q = fx.query_by(request(), &fx.req, &fx.apv, Some(authorization()), &rogue);
    let err = refused(fx.verify(&q), QueryReason::ConsentAuthorityNotAccepted);
    assert_eq!(
        err,
        AuthorizationError::ConsentFromRequestingRegion {
            authority_region: region("520000")
        }
    );
}

/// Issue 13 §1: both officers' signatures cover the consent, so nobody can
/// attach, drop or swap it after approval.
#[test]
fn consent_attached_dropped_or_swapped_after_approval_is_not_bound() {
    let fx = Fixture::new();
    let signed = |a: SubjectAuthorization| {
        sign_subject_authorization(a, &fx.portal.key, fx.portal.chain.clone()).unwrap()
    };
    // Attached to a query approved without one.
    let mut attached = fx.query(request(), None);
    attached.subject_authorization = Some(signed(authorization()));
    // Dropped from a query approved with one.
    let mut dropped = fx.query(request(), Some(authorization()));
    dropped.subject_authorization = None;
    // Swapped for a broader one (more uses) after approval.
    let mut swapped = fx.query(request(), Some(authorization()));
    let mut broader = authorization();
    broader.max_uses = 1_000;
    swapped.subject_authorization = Some(signed(broader));
    for q in [attached, dropped, swapped] {
        let err = refused(fx.verify(&q), QueryReason::AuthorizationNotBound);
        assert!(
            matches!(err, AuthorizationError::AuthorizationNotBound(_)),
            "{err}"
        );
    }
}

#[test]
fn authorization_time_window_and_purposes_are_left_to_policy() {
    // Expired, other purpose: still verifies here; the scope is exposed for
    // the policy evaluation and the use counter to refuse.
    let fx = Fixture::new();
    let mut a = authorization();
    a.not_before_ms = NOW_MS - 30 * DAY_MS;
    a.not_after_ms = NOW_MS - DAY_MS;
    a.purposes = vec!["financing".to_owned()];
    let ok = fx.verify(&fx.query(request(), Some(a.clone()))).unwrap();
    assert_eq!(ok.subject_authorization().unwrap().authorization(), &a);
}

// --- WrongRegion ---------------------------------------------------------------

#[test]
fn request_claiming_another_region_or_node_than_the_peer_is_wrong_region() {
    let fx = Fixture::new();
    let mut r = request();
    r.requester_region = region("500000");
    let err = refused(
        fx.verify(&fx.query(r, Some(authorization()))),
        QueryReason::WrongRegion,
    );
    assert!(
        matches!(err, AuthorizationError::NotFromPeer { .. }),
        "{err:?}"
    );

    let mut r = request();
    r.requester_node = name("gy-2");
    let err = refused(fx.verify(&fx.query(r, None)), QueryReason::WrongRegion);
    assert!(
        matches!(err, AuthorizationError::NotFromPeer { .. }),
        "{err:?}"
    );
}

#[test]
fn officer_of_another_region_is_wrong_region() {
    let fx = Fixture::new();
    let cq_apv = operator(&fx.cq, &fx.cq_issued, "apv-1", Role::Approver);
    let q = fx.query_by(request(), &fx.req, &cq_apv, None, &fx.portal);
    let err = refused(fx.verify(&q), QueryReason::WrongRegion);
    assert_eq!(
        err,
        AuthorizationError::SignerFromOtherRegion {
            signer: Signer::Approver,
            signer_region: region("500000"),
            requester_region: region("520000"),
        }
    );

    let cq_req = operator(&fx.cq, &fx.cq_issued, "req-9", Role::Requester);
    let q = fx.query_by(request(), &cq_req, &fx.apv, None, &fx.portal);
    let err = refused(fx.verify(&q), QueryReason::WrongRegion);
    assert!(
        matches!(
            err,
            AuthorizationError::SignerFromOtherRegion {
                signer: Signer::Requester,
                ..
            }
        ),
        "{err:?}"
    );
}

// --- WrongTarget, Stale ------------------------------------------------------

#[test]
fn request_for_another_region_is_wrong_target() {
    let fx = Fixture::new();
    let mut r = request();
    r.target_region = region("440000");
    let err = refused(fx.verify(&fx.query(r, None)), QueryReason::WrongTarget);
    assert_eq!(
        err,
        AuthorizationError::WrongTarget {
            target: region("440000"),
            responder: region("500000")
        }
    );
}

#[test]
fn request_outside_the_clock_skew_window_is_stale_both_ways() {
    let fx = Fixture::new();
    for (issued_at_ms, ok) in [
        (NOW_MS - SKEW_MS, true),
        (NOW_MS + SKEW_MS, true),
        (NOW_MS - SKEW_MS - 1, false),
        (NOW_MS + SKEW_MS + 1, false),
        (i64::MIN, false),
        (i64::MAX, false),
    ] {
        let mut r = request();
        r.issued_at_ms = issued_at_ms;
        let result = fx.verify(&fx.query(r, None));
        if ok {
            result.unwrap();
        } else {
            let err = refused(result, QueryReason::Stale);
            assert!(matches!(err, AuthorizationError::Stale { .. }), "{err:?}");
        }
    }
}

#[test]
fn checks_run_in_the_documented_order() {
    let fx = Fixture::new();
    // Wrong target and stale: the target is checked first.
    let mut r = request();
    r.target_region = region("440000");
    r.issued_at_ms = 0;
    refused(fx.verify(&fx.query(r, None)), QueryReason::WrongTarget);
    // Stale and signed by one officer twice: staleness first.
    let mut r = request();
    r.issued_at_ms = 0;
    refused(
        fx.verify(&fx.query_by(r, &fx.req, &fx.req, None, &fx.portal)),
        QueryReason::Stale,
    );
    // Requester with a wrong role and a bad subject authorization: the
    // requester is checked first.
    let apv2 = operator(&fx.gz, &fx.gz_issued, "apv-2", Role::Approver);
    let mut a = authorization();
    a.grantee_region = region("440000");
    refused(
        fx.verify(&fx.query_by(request(), &apv2, &fx.apv, Some(a), &fx.portal)),
        QueryReason::WrongRole,
    );
}

// --- SameOfficer ---------------------------------------------------------------

#[test]
fn one_certificate_signing_both_is_same_officer() {
    let fx = Fixture::new();
    // req-1 has the requester role only; still reported as the same officer.
    let q = fx.query_by(request(), &fx.req, &fx.req, None, &fx.portal);
    let err = refused(fx.verify(&q), QueryReason::SameOfficer);
    assert_eq!(
        err,
        AuthorizationError::SameOfficer {
            evidence: SameOfficerEvidence::SameCertificate
        }
    );
}

#[test]
fn two_certificates_for_one_officer_are_same_officer() {
    let fx = Fixture::new();
    let req1_as_approver = operator(&fx.gz, &fx.gz_issued, "req-1", Role::Approver);
    let q = fx.query_by(request(), &fx.req, &req1_as_approver, None, &fx.portal);
    let err = refused(fx.verify(&q), QueryReason::SameOfficer);
    assert_eq!(
        err,
        AuthorizationError::SameOfficer {
            evidence: SameOfficerEvidence::SameName
        }
    );
}

// --- WrongRole -----------------------------------------------------------------

fn assert_wrong_role(err: &AuthorizationError, who: Signer) {
    assert!(
        matches!(err, AuthorizationError::WrongRole { signer, .. } if *signer == who),
        "{err:?}"
    );
}

#[test]
fn requester_certificate_with_approver_role_is_wrong_role() {
    let fx = Fixture::new();
    let apv2 = operator(&fx.gz, &fx.gz_issued, "apv-2", Role::Approver);
    let q = fx.query_by(request(), &apv2, &fx.apv, None, &fx.portal);
    let err = refused(fx.verify(&q), QueryReason::WrongRole);
    assert_wrong_role(&err, Signer::Requester);
    assert!(err.to_string().contains("approver role"), "{err}");
}

#[test]
fn approver_certificate_with_auditor_role_is_wrong_role() {
    let fx = Fixture::new();
    let auditor = operator(&fx.gz, &fx.gz_issued, "aud-1", Role::Auditor);
    let q = fx.query_by(request(), &fx.req, &auditor, None, &fx.portal);
    let err = refused(fx.verify(&q), QueryReason::WrongRole);
    assert_wrong_role(&err, Signer::Approver);
}

#[test]
fn authority_signing_a_request_is_wrong_role() {
    let fx = Fixture::new();
    let q = fx.query_by(request(), &fx.portal, &fx.apv, None, &fx.portal);
    let err = refused(fx.verify(&q), QueryReason::WrongRole);
    assert_wrong_role(&err, Signer::Requester);
}

#[test]
fn subject_authorization_signed_by_an_operator_is_wrong_role() {
    let fx = Fixture::new();
    let clerk = operator(&fx.gz, &fx.gz_issued, "clerk", Role::Requester);
    let q = fx.query_by(request(), &fx.req, &fx.apv, Some(authorization()), &clerk);
    let err = refused(fx.verify(&q), QueryReason::WrongRole);
    assert_wrong_role(&err, Signer::SubjectAuthorization);
}

// --- BadSignature --------------------------------------------------------------

#[test]
fn request_tampered_after_signing_is_bad_signature() {
    let fx = Fixture::new();
    let mut q = fx.query(request(), Some(authorization()));
    q.request.requested[0].fields.push("basis".to_owned());
    let err = refused(fx.verify(&q), QueryReason::BadSignature);
    assert_eq!(
        err,
        AuthorizationError::BadSignature {
            signer: Signer::Requester,
            error: SignatureError::Invalid
        }
    );
}

#[test]
fn approval_of_another_request_is_bad_signature() {
    let fx = Fixture::new();
    let q = fx.query(request(), None);
    let mut other = request();
    other.nonce = [8; 16];
    let other_q = fx.query(other, None);
    let spliced = AuthorizedQuery {
        approver: other_q.approver,
        ..q
    };
    let err = refused(fx.verify(&spliced), QueryReason::BadSignature);
    assert_eq!(
        err,
        AuthorizationError::BadSignature {
            signer: Signer::Approver,
            error: SignatureError::Invalid
        }
    );
}

#[test]
fn signer_chained_to_another_root_is_bad_signature() {
    let fx = Fixture::new();
    let other = Federation::named("impostor root", KeyAlgorithm::Ed25519);
    let (other_gz_issued, other_gz) = other.region_ca("520000");
    let forged = operator(&other_gz, &other_gz_issued, "req-7", Role::Requester);
    let q = fx.query_by(request(), &forged, &fx.apv, None, &fx.portal);
    let err = refused(fx.verify(&q), QueryReason::BadSignature);
    assert_eq!(
        err,
        AuthorizationError::UntrustedCertificate {
            signer: Signer::Requester,
            error: VerifyError::UnknownIssuer
        }
    );
    // The real leaf with the impostor's region CA does not chain either.
    let mut q = fx.query(request(), None);
    q.approver.chain[1] = other_gz_issued.cert_der.clone();
    let err = refused(fx.verify(&q), QueryReason::BadSignature);
    assert!(
        matches!(
            err,
            AuthorizationError::UntrustedCertificate {
                signer: Signer::Approver,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn revoked_signer_is_bad_signature() {
    let fx = Fixture::new();
    let serial = credex_pki::identity_from_der(&fx.apv.issued.cert_der)
        .unwrap()
        .serial;
    let crl = fx
        .gz
        .crl(
            &[RevokedCert {
                serial,
                revoked_at: at(Y2026),
            }],
            1,
            at(Y2026),
            at(Y2026) + time::Duration::days(7),
        )
        .unwrap();
    let store = fx.fed.store(&[crl]);
    let q = fx.query(request(), None);
    let err = verify_authorized_query(&q, &store, &ctx()).unwrap_err();
    assert_eq!(err.reason(), QueryReason::BadSignature);
    assert_eq!(
        err,
        AuthorizationError::UntrustedCertificate {
            signer: Signer::Approver,
            error: VerifyError::Revoked
        }
    );
    assert!(err.to_string().contains("revoked"), "{err}");
    // Without the CRL the same bundle verifies.
    fx.verify(&q).unwrap();
}

#[test]
fn tampered_subject_authorization_is_bad_signature() {
    let fx = Fixture::new();
    // Tampered before the officers signed (after, it is not bound: see
    // consent_attached_dropped_or_swapped_after_approval_is_not_bound).
    let mut tampered =
        sign_subject_authorization(authorization(), &fx.portal.key, fx.portal.chain.clone())
            .unwrap();
    tampered.authorization.max_uses = 1000;
    let mut r = request();
    r.subject_authorization_digest = Some(tampered.digest().unwrap());
    let mut q = fx.query(r, None);
    q.subject_authorization = Some(tampered);
    let err = refused(fx.verify(&q), QueryReason::BadSignature);
    assert_eq!(
        err,
        AuthorizationError::BadSignature {
            signer: Signer::SubjectAuthorization,
            error: SignatureError::Invalid
        }
    );
}

#[test]
fn missing_or_garbage_chains_are_bad_signature() {
    let fx = Fixture::new();
    for damage in [
        |p: &mut SignerProof| p.chain.clear(),
        |p: &mut SignerProof| p.chain[0] = b"not a certificate".to_vec(),
        |p: &mut SignerProof| p.chain.truncate(1),
        |p: &mut SignerProof| p.chain.push(vec![0x30; 20_000]),
    ] {
        let mut q = fx.query(request(), None);
        damage(&mut q.approver);
        let err = refused(fx.verify(&q), QueryReason::BadSignature);
        assert!(
            matches!(
                err,
                AuthorizationError::UnreadableChain {
                    signer: Signer::Approver,
                    ..
                } | AuthorizationError::UntrustedCertificate {
                    signer: Signer::Approver,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

// --- AuthorizationOutOfScope ---------------------------------------------------

#[test]
fn authorization_for_another_subject_is_out_of_scope() {
    let fx = Fixture::new();
    let mut a = authorization();
    let key = credex_pki::PseudonymKey::from_bytes(1, [7; 32]).unwrap();
    a.subject = SubjectRef::NaturalPerson(key.pseudonym("11010519491231002X").unwrap());
    let err = refused(
        fx.verify(&fx.query(request(), Some(a))),
        QueryReason::AuthorizationOutOfScope,
    );
    assert_eq!(err, AuthorizationError::AuthorizationForOtherSubject);
}

#[test]
fn authorization_for_another_grantee_is_out_of_scope() {
    let fx = Fixture::new();
    let mut a = authorization();
    a.grantee_region = region("440000");
    let err = refused(
        fx.verify(&fx.query(request(), Some(a))),
        QueryReason::AuthorizationOutOfScope,
    );
    assert_eq!(
        err,
        AuthorizationError::AuthorizationForOtherGrantee {
            grantee: region("440000"),
            requester_region: region("520000")
        }
    );
}

#[test]
fn authorization_with_an_empty_window_is_out_of_scope() {
    let fx = Fixture::new();
    let mut a = authorization();
    a.not_before_ms = a.not_after_ms + 1;
    // The signing side refuses to make one …
    assert_eq!(
        sign_subject_authorization(a.clone(), &fx.portal.key, fx.portal.chain.clone()).unwrap_err(),
        SignProofError::AuthorizationWindowEmpty
    );
    // … and the verifier refuses one made by hand.
    let bytes = credex_protocol::encode(&a).unwrap();
    let signature = fx
        .portal
        .key
        .sign(DOMAIN_SUBJECT_AUTHORIZATION, &bytes)
        .unwrap();
    let made_by_hand = SignedSubjectAuthorization {
        authorization: a,
        signer: SignerProof {
            chain: fx.portal.chain.clone(),
            signature,
        },
    };
    let mut r = request();
    r.subject_authorization_digest = Some(made_by_hand.digest().unwrap());
    let mut q = fx.query(r, None);
    q.subject_authorization = Some(made_by_hand);
    let err = refused(fx.verify(&q), QueryReason::AuthorizationOutOfScope);
    assert_eq!(err, AuthorizationError::AuthorizationWindowEmpty);
}

// --- signing side --------------------------------------------------------------

#[test]
fn signing_refuses_a_key_that_does_not_fit_the_chain() {
    let fx = Fixture::new();
    let err = sign_request(&request(), &fx.apv.key, fx.req.chain.clone()).unwrap_err();
    assert!(matches!(err, SignProofError::KeyMismatch(_)), "{err:?}");
    let err = sign_request(&request(), &fx.req.key, vec![]).unwrap_err();
    assert!(matches!(err, SignProofError::BadChain(_)), "{err:?}");
}

#[test]
fn approving_refuses_a_requester_signature_over_another_request() {
    let fx = Fixture::new();
    let proof = sign_request(&request(), &fx.req.key, fx.req.chain.clone()).unwrap();
    let mut other = request();
    other.purpose = "financing".to_owned();
    let err = approve_request(&other, &proof, &fx.apv.key, fx.apv.chain.clone()).unwrap_err();
    assert_eq!(
        err,
        SignProofError::RequesterSignature(SignatureError::Invalid)
    );
}

// --- responses -----------------------------------------------------------------

fn body(digest: [u8; 32]) -> QueryResponseBody {
    QueryResponseBody {
        request_id: [1; 16],
        query_digest: digest,
        responder_region: region("500000"),
        responder_node: name("cq-1"),
        outcome: Outcome::Granted,
        reason: QueryReason::Granted,
        released: request().requested,
        withheld: vec![],
        records: vec![Record {
            category: "admin_penalty".to_owned(),
            record_id: "r-1".to_owned(),
            fields: vec![
                (
                    "decision_number".to_owned(),
                    Value::Text("渝市监罚〔2025〕12号".to_owned()),
                ),
                ("amount".to_owned(), Value::Decimal("12000.50".to_owned())),
            ],
        }],
        policy_hash: [3; 32],
        responded_at_ms: NOW_MS,
    }
}

fn respond(body: QueryResponseBody, signer: &Party) -> QueryResponse {
    let responder = sign_response(&body, &signer.key, signer.chain.clone()).unwrap();
    QueryResponse {
        body,
        responder,
        receipt: None,
    }
}

#[test]
fn response_round_trip() {
    let fx = Fixture::new();
    let q = fx.query(request(), Some(authorization()));
    let digest = fx.verify(&q).unwrap().query_digest();
    let resp = respond(body(digest), &fx.node);
    let resp: QueryResponse =
        credex_protocol::decode(&credex_protocol::encode(&resp).unwrap()).unwrap();
    let id = verify_response(
        &resp,
        &fx.store,
        now_plus_days(1),
        region("500000"),
        query_digest(&q).unwrap(),
    )
    .unwrap();
    assert_eq!(
        id.identity().subject,
        Subject::Node {
            region: region("500000"),
            name: name("cq-1")
        }
    );
}

#[test]
fn response_from_another_regions_node_is_refused() {
    let fx = Fixture::new();
    let gz_node = Party::new(node(&fx.gz, "gy-1", KeyAlgorithm::Ed25519), &fx.gz_issued);
    let mut b = body([5; 32]);
    b.responder_region = region("520000");
    b.responder_node = name("gy-1");
    let err = verify_response(
        &respond(b, &gz_node),
        &fx.store,
        now_plus_days(1),
        region("500000"),
        [5; 32],
    )
    .unwrap_err();
    assert!(
        matches!(err, ResponseError::WrongResponder { expected, .. } if expected == region("500000")),
        "{err:?}"
    );
}

#[test]
fn response_signed_by_an_operator_is_refused() {
    let fx = Fixture::new();
    let cq_op = operator(&fx.cq, &fx.cq_issued, "op-1", Role::Admin);
    let err = verify_response(
        &respond(body([5; 32]), &cq_op),
        &fx.store,
        now_plus_days(1),
        region("500000"),
        [5; 32],
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            ResponseError::UntrustedCertificate(VerifyError::WrongKind { .. })
        ),
        "{err:?}"
    );
}

#[test]
fn tampered_response_body_is_refused() {
    let fx = Fixture::new();
    let mut resp = respond(body([5; 32]), &fx.node);
    resp.body.records[0]
        .fields
        .push(("basis".to_owned(), Value::Text("withheld field".to_owned())));
    let err = verify_response(
        &resp,
        &fx.store,
        now_plus_days(1),
        region("500000"),
        [5; 32],
    )
    .unwrap_err();
    assert_eq!(err, ResponseError::BadSignature(SignatureError::Invalid));
}

#[test]
fn response_to_another_query_is_refused() {
    let fx = Fixture::new();
    let resp = respond(body([5; 32]), &fx.node);
    let err = verify_response(
        &resp,
        &fx.store,
        now_plus_days(1),
        region("500000"),
        [6; 32],
    )
    .unwrap_err();
    assert_eq!(err, ResponseError::DigestMismatch);
}

#[test]
fn response_body_naming_another_node_is_refused() {
    let fx = Fixture::new();
    let mut b = body([5; 32]);
    b.responder_node = name("cq-2");
    let err = verify_response(
        &respond(b, &fx.node),
        &fx.store,
        now_plus_days(1),
        region("500000"),
        [5; 32],
    )
    .unwrap_err();
    assert!(
        matches!(err, ResponseError::ResponderMismatch { .. }),
        "{err:?}"
    );
}
