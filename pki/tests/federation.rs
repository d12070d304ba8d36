//! Issuance and verification across a test federation.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use credex_pki::identity::GatewayRoles;
use credex_pki::{
    CaLoadError, CertKind, CertificateAuthority, IdentityError, IssueError, KeyAlgorithm, Purpose,
    RevokedCert, Subject, TrustStore, Validity, VerifyError, danger, identity_from_der,
};
use credex_protocol::Role;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};

fn node_chain_verifies(alg: KeyAlgorithm) {
    let fed = Federation::new(alg);
    let (gz_issued, gz) = fed.region_ca("520000");
    let node = node(&gz, "gy-1", alg);
    let store = fed.store(&[]);
    let chain = [der(&gz_issued)];

    for purpose in [Purpose::TlsServer, Purpose::TlsClient] {
        let verified = store
            .verify(&der(&node), &chain, now_plus_days(10), purpose)
            .unwrap();
        let id = verified.identity();
        assert_eq!(
            id.subject,
            Subject::Node {
                region: region("520000"),
                name: name("gy-1")
            }
        );
        assert_eq!(id.region(), Some(region("520000")));
        assert_eq!(id.dns_names, vec!["gy-1.credex.test".to_owned()]);
        assert_eq!(
            id.ip_addrs,
            vec!["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!(id.serial.len(), 16);
        assert!(id.serial[0] & 0x80 == 0, "serial must be positive");
        assert_eq!(
            id.fingerprint.as_slice(),
            ring::digest::digest(&ring::digest::SHA256, &node.cert_der).as_ref()
        );
        assert_eq!(id.not_before, at(Y2026) - time::Duration::hours(1));
        assert_eq!(id.not_after, at(Y2026) + time::Duration::days(365));
        assert_eq!(
            verified.issuer().subject,
            Subject::RegionCa {
                region: region("520000")
            }
        );
    }
}

#[test]
fn node_chain_verifies_ed25519() {
    node_chain_verifies(KeyAlgorithm::Ed25519);
}

#[test]
fn node_chain_verifies_p256() {
    node_chain_verifies(KeyAlgorithm::EcdsaP256);
}

#[test]
fn mixed_key_algorithms_verify() {
    let fed = Federation::new(KeyAlgorithm::EcdsaP256);
    let (gz_issued, gz) = fed.region_ca("520000");
    let node = node(&gz, "gy-1", KeyAlgorithm::Ed25519);
    fed.store(&[])
        .verify(
            &der(&node),
            &[der(&gz_issued)],
            now_plus_days(1),
            Purpose::TlsServer,
        )
        .unwrap();
}

#[test]
fn node_for_another_region_is_refused() {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let (gz_issued, gz) = fed.region_ca("520000");
    let forged = danger::issue_node_for(
        &gz,
        region("500000"),
        &name("cq-1"),
        &[],
        &[],
        KeyAlgorithm::Ed25519,
        Validity::days_from(at(Y2026), 30),
    )
    .unwrap();
    let err = fed
        .store(&[])
        .verify(
            &der(&forged),
            &[der(&gz_issued)],
            now_plus_days(1),
            Purpose::TlsClient,
        )
        .unwrap_err();
    assert_eq!(
        err,
        VerifyError::RegionMismatch {
            leaf: "500000".into(),
            issuer: "520000".into()
        }
    );
    assert!(
        err.to_string()
            .contains("may only issue for its own region")
    );
}

#[test]
fn node_issued_directly_by_root_is_refused() {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let forged = danger::issue_node_for(
        &fed.root_ca,
        region("520000"),
        &name("gy-1"),
        &[],
        &[],
        KeyAlgorithm::Ed25519,
        Validity::days_from(at(Y2026), 30),
    )
    .unwrap();
    let err = fed
        .store(&[])
        .verify(&der(&forged), &[], now_plus_days(1), Purpose::TlsServer)
        .unwrap_err();
    assert_eq!(err, VerifyError::WrongChainLength(0));
}

#[test]
fn chain_to_another_root_is_refused() {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let other = Federation::named("some other root", KeyAlgorithm::Ed25519);
    let (other_gz_issued, other_gz) = other.region_ca("520000");
    let node = node(&other_gz, "gy-1", KeyAlgorithm::Ed25519);
    let err = fed
        .store(&[])
        .verify(
            &der(&node),
            &[der(&other_gz_issued)],
            now_plus_days(1),
            Purpose::TlsServer,
        )
        .unwrap_err();
    assert_eq!(err, VerifyError::UnknownIssuer);

    // Same root name, different key: the signature check refuses it.
    let twin = Federation::named("credex test root", KeyAlgorithm::Ed25519);
    let (twin_gz_issued, twin_gz) = twin.region_ca("520000");
    let twin_node = common::node(&twin_gz, "gy-1", KeyAlgorithm::Ed25519);
    assert!(
        fed.store(&[])
            .verify(
                &der(&twin_node),
                &[der(&twin_gz_issued)],
                now_plus_days(1),
                Purpose::TlsServer
            )
            .is_err()
    );
}

#[test]
fn missing_intermediate_is_refused() {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let (_, gz) = fed.region_ca("520000");
    let node = node(&gz, "gy-1", KeyAlgorithm::Ed25519);
    let err = fed
        .store(&[])
        .verify(&der(&node), &[], now_plus_days(1), Purpose::TlsServer)
        .unwrap_err();
    assert_eq!(err, VerifyError::UnknownIssuer);
}

#[test]
fn revocation() {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let (gz_issued, gz) = fed.region_ca("520000");
    let revoked = node(&gz, "gy-1", KeyAlgorithm::Ed25519);
    let kept = node(&gz, "gy-2", KeyAlgorithm::Ed25519);
    let chain = [der(&gz_issued)];
    let serial = identity_from_der(&revoked.cert_der).unwrap().serial;

    let crl_listing = gz
        .crl(
            &[RevokedCert {
                serial,
                revoked_at: at(Y2026),
            }],
            2,
            at(Y2026),
            at(Y2026) + time::Duration::days(7),
        )
        .unwrap();
    let crl_empty = gz
        .crl(&[], 1, at(Y2026), at(Y2026) + time::Duration::days(7))
        .unwrap();

    let store = fed.store(std::slice::from_ref(&crl_listing));
    let err = store
        .verify(&der(&revoked), &chain, now_plus_days(1), Purpose::TlsServer)
        .unwrap_err();
    assert_eq!(err, VerifyError::Revoked);
    store
        .verify(&der(&kept), &chain, now_plus_days(1), Purpose::TlsServer)
        .unwrap();

    // A CRL that does not list the node: fine.
    fed.store(std::slice::from_ref(&crl_empty))
        .verify(&der(&revoked), &chain, now_plus_days(1), Purpose::TlsServer)
        .unwrap();

    // Old and new CRL together, in either order: the newer (listing) wins.
    for crls in [
        [crl_empty.clone(), crl_listing.clone()],
        [crl_listing.clone(), crl_empty.clone()],
    ] {
        let store = fed.store(&crls);
        assert_eq!(store.crl_count(), 1);
        assert_eq!(
            store
                .verify(&der(&revoked), &chain, now_plus_days(1), Purpose::TlsServer)
                .unwrap_err(),
            VerifyError::Revoked
        );
    }

    // CRL expiry is ignored: a year later the stale CRL still revokes.
    assert_eq!(
        store
            .verify(
                &der(&revoked),
                &chain,
                now_plus_days(300),
                Purpose::TlsServer
            )
            .unwrap_err(),
        VerifyError::Revoked
    );

    // with_crls swaps the CRL set on the same root.
    let cleared = store.with_crls(vec![]).unwrap();
    cleared
        .verify(&der(&revoked), &chain, now_plus_days(1), Purpose::TlsServer)
        .unwrap();
    let again = cleared
        .with_crls(vec![
            CertificateRevocationListDer::from_pem_slice(crl_listing.as_bytes()).unwrap(),
        ])
        .unwrap();
    assert_eq!(
        again
            .verify(&der(&revoked), &chain, now_plus_days(1), Purpose::TlsServer)
            .unwrap_err(),
        VerifyError::Revoked
    );
}

#[test]
fn revoked_region_ca_takes_its_nodes_down() {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let (gz_issued, gz) = fed.region_ca("520000");
    let (cq_issued, cq) = fed.region_ca("500000");
    let gz_node = node(&gz, "gy-1", KeyAlgorithm::Ed25519);
    let cq_node = node(&cq, "cq-1", KeyAlgorithm::Ed25519);
    let root_crl = fed
        .root_ca
        .crl(
            &[RevokedCert {
                serial: identity_from_der(&gz_issued.cert_der).unwrap().serial,
                revoked_at: at(Y2026),
            }],
            1,
            at(Y2026),
            at(Y2026) + time::Duration::days(30),
        )
        .unwrap();
    let store = fed.store(&[root_crl]);
    assert_eq!(
        store
            .verify(
                &der(&gz_node),
                &[der(&gz_issued)],
                now_plus_days(1),
                Purpose::TlsServer
            )
            .unwrap_err(),
        VerifyError::IssuerRevoked
    );
    store
        .verify(
            &der(&cq_node),
            &[der(&cq_issued)],
            now_plus_days(1),
            Purpose::TlsServer,
        )
        .unwrap();
}

#[test]
fn crl_signed_by_an_impostor_is_refused() {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let (gz_issued, gz) = fed.region_ca("520000");
    let node = node(&gz, "gy-1", KeyAlgorithm::Ed25519);
    // The region CA's own CRL with one signature bit flipped: it still
    // names the region CA as issuer, so it applies, and must fail closed.
    let crl_pem = gz
        .crl(&[], 1, at(Y2026), at(Y2026) + time::Duration::days(7))
        .unwrap();
    let mut crl_der = CertificateRevocationListDer::from_pem_slice(crl_pem.as_bytes())
        .unwrap()
        .to_vec();
    let last = crl_der.len() - 1;
    crl_der[last] ^= 0x01;
    let store = TrustStore::new(
        fed.root_der(),
        vec![CertificateRevocationListDer::from(crl_der)],
    )
    .unwrap();
    let err = store
        .verify(
            &der(&node),
            &[der(&gz_issued)],
            now_plus_days(1),
            Purpose::TlsServer,
        )
        .unwrap_err();
    assert!(matches!(err, VerifyError::BadCrl(_)), "{err:?}");
}

#[test]
fn operator_and_authority_certs_are_for_signing_only() {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let (gz_issued, gz) = fed.region_ca("520000");
    let chain = [der(&gz_issued)];
    let store = fed.store(&[]);
    let validity = Validity::days_from(at(Y2026), 365);

    let operator = gz
        .issue_operator(
            &name("alice"),
            Role::Approver,
            KeyAlgorithm::Ed25519,
            validity,
        )
        .unwrap();
    let verified = store
        .verify(&der(&operator), &chain, now_plus_days(1), Purpose::Signing)
        .unwrap();
    assert_eq!(
        verified.identity().subject,
        Subject::Operator {
            region: region("520000"),
            role: Role::Approver,
            name: name("alice")
        }
    );
    for purpose in [Purpose::TlsClient, Purpose::TlsServer] {
        assert_eq!(
            store
                .verify(&der(&operator), &chain, now_plus_days(1), purpose)
                .unwrap_err(),
            VerifyError::WrongKind {
                expected: purpose,
                found: CertKind::Operator
            }
        );
    }

    let authority = gz
        .issue_authority(&name("gzzwfw"), KeyAlgorithm::EcdsaP256, validity)
        .unwrap();
    let verified = store
        .verify(&der(&authority), &chain, now_plus_days(1), Purpose::Signing)
        .unwrap();
    assert_eq!(verified.identity().kind(), CertKind::Authority);

    let node = node(&gz, "gy-1", KeyAlgorithm::Ed25519);
    let err = store
        .verify(&der(&node), &chain, now_plus_days(1), Purpose::Signing)
        .unwrap_err();
    assert_eq!(
        err,
        VerifyError::WrongKind {
            expected: Purpose::Signing,
            found: CertKind::Node
        }
    );
    assert!(
        err.to_string()
            .contains("a node certificate cannot be used for signing")
    );
}

#[test]
fn gateway_client_certs_are_for_the_gateway_only() {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let (gz_issued, gz) = fed.region_ca("520000");
    let chain = [der(&gz_issued)];
    let store = fed.store(&[]);
    let validity = Validity::days_from(at(Y2026), 365);
    let roles = GatewayRoles::parse_list("feed,check").unwrap();

    let client = gz
        .issue_client(
            &name("xinyidai"),
            roles.clone(),
            KeyAlgorithm::Ed25519,
            validity,
        )
        .unwrap();
    let verified = store
        .verify(
            &der(&client),
            &chain,
            now_plus_days(1),
            Purpose::GatewayClient,
        )
        .unwrap();
    let id = verified.identity();
    assert_eq!(
        id.subject,
        Subject::Client {
            region: region("520000"),
            roles: roles.clone(),
            name: name("xinyidai"),
        }
    );
    assert_eq!(
        id.subject.to_uri(),
        "urn:credex:client:520000:check+feed:xinyidai"
    );
    assert_eq!(Subject::from_uri(&id.subject.to_uri()).unwrap(), id.subject);
    assert!(id.to_string().contains("roles check+feed"), "{id}");
    // Only the gateway takes it: it cannot join the federation or sign.
    for purpose in [Purpose::TlsClient, Purpose::TlsServer, Purpose::Signing] {
        assert_eq!(
            store
                .verify(&der(&client), &chain, now_plus_days(1), purpose)
                .unwrap_err(),
            VerifyError::WrongKind {
                expected: purpose,
                found: CertKind::Client
            }
        );
    }
    // And the gateway takes nothing else: not a node, not an operator.
    let node = node(&gz, "gy-1", KeyAlgorithm::Ed25519);
    let operator = gz
        .issue_operator(
            &name("alice"),
            Role::Requester,
            KeyAlgorithm::Ed25519,
            validity,
        )
        .unwrap();
    for (other, kind) in [(&node, CertKind::Node), (&operator, CertKind::Operator)] {
        assert_eq!(
            store
                .verify(
                    &der(other),
                    &chain,
                    now_plus_days(1),
                    Purpose::GatewayClient
                )
                .unwrap_err(),
            VerifyError::WrongKind {
                expected: Purpose::GatewayClient,
                found: kind
            }
        );
    }
    // Identities with roles out of order, repeated or unknown are refused.
    for uri in [
        "urn:credex:client:520000:feed+check:xinyidai",
        "urn:credex:client:520000:check+check:xinyidai",
        "urn:credex:client:520000:admin:xinyidai",
        "urn:credex:client:520000::xinyidai",
        "urn:credex:client:520000:xinyidai",
    ] {
        assert!(
            matches!(
                Subject::from_uri(uri),
                Err(IdentityError::MalformedUri { .. })
            ),
            "{uri} was accepted"
        );
    }
}

#[test]
fn ca_certificates_are_not_leaves() {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let (gz_issued, _) = fed.region_ca("520000");
    let store = fed.store(&[]);
    for purpose in [Purpose::TlsServer, Purpose::Signing] {
        assert!(matches!(
            store.verify(&der(&gz_issued), &[], now_plus_days(1), purpose),
            Err(VerifyError::WrongKind {
                found: CertKind::RegionCa,
                ..
            })
        ));
        assert!(matches!(
            store.verify(&fed.root_der(), &[], now_plus_days(1), purpose),
            Err(VerifyError::WrongKind {
                found: CertKind::Root,
                ..
            })
        ));
    }
}

#[test]
fn hierarchy_rules_at_issuance() {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let (_, gz) = fed.region_ca("520000");
    let validity = Validity::days_from(at(Y2026), 30);

    assert!(matches!(
        fed.root_ca
            .issue_node(&name("gy-1"), &[], &[], KeyAlgorithm::Ed25519, validity),
        Err(IssueError::OnlyRegionCaIssuesLeaves {
            kind: CertKind::Node,
            issuer: Subject::Root
        })
    ));
    assert!(matches!(
        fed.root_ca
            .issue_operator(&name("alice"), Role::Admin, KeyAlgorithm::Ed25519, validity),
        Err(IssueError::OnlyRegionCaIssuesLeaves { .. })
    ));
    assert!(matches!(
        fed.root_ca
            .issue_authority(&name("portal"), KeyAlgorithm::Ed25519, validity),
        Err(IssueError::OnlyRegionCaIssuesLeaves { .. })
    ));
    assert!(matches!(
        gz.issue_region_ca(region("500000"), KeyAlgorithm::Ed25519, validity),
        Err(IssueError::OnlyRootIssuesRegionCas(
            Subject::RegionCa { .. }
        ))
    ));

    // Validity must sit inside the CA's.
    let too_long = Validity::new(at(Y2026), at(Y2040) + time::Duration::days(1)).unwrap();
    assert!(matches!(
        gz.issue_node(&name("gy-1"), &[], &[], KeyAlgorithm::Ed25519, too_long),
        Err(IssueError::OutsideIssuerValidity { .. })
    ));
    assert!(matches!(
        gz.issue_node(
            &name("gy-1"),
            &["not a dns name".into()],
            &[],
            KeyAlgorithm::Ed25519,
            validity
        ),
        Err(IssueError::BadDnsName(_))
    ));
    assert_eq!(
        Validity::new(at(Y2026), at(Y2026)),
        Err(IssueError::EmptyValidity)
    );
    assert!(matches!(
        gz.crl(&[], 1, at(Y2026), at(Y2026)),
        Err(IssueError::CrlNextUpdateNotAfterThisUpdate)
    ));
}

#[test]
fn loading_a_ca() {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let (gz_issued, gz) = fed.region_ca("520000");
    assert_eq!(
        gz.identity().subject,
        Subject::RegionCa {
            region: region("520000")
        }
    );
    assert_eq!(gz.cert_pem(), gz_issued.cert_pem);
    assert_eq!(
        CertificateAuthority::from_pem(&gz_issued.cert_pem, &fed.root.key_pem).unwrap_err(),
        CaLoadError::KeyMismatch
    );
    let node = node(&gz, "gy-1", KeyAlgorithm::Ed25519);
    assert_eq!(
        CertificateAuthority::from_pem(&node.cert_pem, &node.key_pem).unwrap_err(),
        CaLoadError::NotACa(CertKind::Node)
    );
    assert_eq!(
        CertificateAuthority::from_pem(&gz_issued.cert_pem, "garbage").unwrap_err(),
        CaLoadError::BadKey
    );
    let two = format!("{}{}", gz_issued.cert_pem, fed.root.cert_pem);
    assert_eq!(
        CertificateAuthority::from_pem(&two, &gz_issued.key_pem).unwrap_err(),
        CaLoadError::MultipleCertificates(2)
    );
    // The key never shows in Debug output.
    let shown = format!("{gz:?} {gz_issued:?}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    assert!(shown.contains("redacted"));
}

#[test]
fn trust_store_needs_the_root() {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let (gz_issued, _) = fed.region_ca("520000");
    assert!(matches!(
        TrustStore::from_pem(&gz_issued.cert_pem, &[]),
        Err(credex_pki::TrustError::NotARoot(CertKind::RegionCa))
    ));
    assert!(matches!(
        TrustStore::from_pem(&fed.root.cert_pem, &["no crl here".to_owned()]),
        Err(credex_pki::TrustError::CrlPem { index: 0, .. })
    ));
    let store = fed.store(&[]);
    assert_eq!(store.root_der().as_ref(), fed.root.cert_der.as_slice());
    assert_eq!(store.root_subject_der()[0], 0x30, "a DER SEQUENCE");
}

#[test]
fn expired_and_not_yet_valid() {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let (gz_issued, gz) = fed.region_ca("520000");
    let old = gz
        .issue_node(
            &name("gy-1"),
            &[],
            &[],
            KeyAlgorithm::Ed25519,
            Validity::new(at(Y2021), at(Y2021) + time::Duration::days(365)).unwrap(),
        )
        .unwrap();
    let err = fed
        .store(&[])
        .verify(
            &der(&old),
            &[der(&gz_issued)],
            now_plus_days(1),
            Purpose::TlsServer,
        )
        .unwrap_err();
    assert_eq!(
        err,
        VerifyError::Expired {
            not_after: "2022-01-01 00:00:00 UTC".into(),
            now: "2026-01-02 00:00:00 UTC".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "a certificate in the chain expired at 2022-01-01 00:00:00 UTC \
         (verification time 2026-01-02 00:00:00 UTC)"
    );

    let fresh = node(&gz, "gy-2", KeyAlgorithm::Ed25519);
    let before =
        rustls_pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(Y2021 as u64));
    assert!(matches!(
        fed.store(&[])
            .verify(&der(&fresh), &[der(&gz_issued)], before, Purpose::TlsServer),
        Err(VerifyError::NotYetValid { .. })
    ));
}

#[test]
fn describe_reads_well() {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let (gz_issued, gz) = fed.region_ca("520000");
    let node = node(&gz, "gy-1", KeyAlgorithm::Ed25519);
    let id = identity_from_der(&node.cert_der).unwrap();
    let text = id.describe();
    assert!(
        text.starts_with("node certificate for node gy-1 of region 520000"),
        "{text}"
    );
    assert!(
        text.contains(&format!("serial {}", id.serial_hex())),
        "{text}"
    );
    assert!(text.contains(&format!("SHA-256 fingerprint {}", id.fingerprint_hex())));
    assert!(text.contains("valid from 2025-12-31 23:00:00 UTC to 2027-01-01 00:00:00 UTC"));
    assert!(text.contains("DNS names gy-1.credex.test"));
    assert!(text.contains("IP addresses 127.0.0.1"));

    let ca = identity_from_der(&gz_issued.cert_der).unwrap();
    assert!(
        ca.describe()
            .starts_with("region CA certificate for region 520000")
    );
    let root = identity_from_der(&fed.root.cert_der).unwrap();
    assert!(
        root.describe()
            .starts_with("federation root CA certificate (common name \"credex test root\")")
    );

    let op = gz
        .issue_operator(
            &name("alice"),
            Role::Requester,
            KeyAlgorithm::Ed25519,
            Validity::days_from(at(Y2026), 30),
        )
        .unwrap();
    assert!(
        identity_from_der(&op.cert_der)
            .unwrap()
            .describe()
            .starts_with("operator certificate for alice, role requester, of region 520000")
    );
}

#[test]
fn certificates_without_a_credex_identity_are_refused() {
    // An rcgen certificate without any credex URI.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let plain = rcgen::CertificateParams::new(vec!["example.com".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    assert_eq!(
        identity_from_der(plain.der()),
        Err(IdentityError::NoCredexUri)
    );

    // Two credex URIs.
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![
        rcgen::SanType::URI("urn:credex:node:520000:a".try_into().unwrap()),
        rcgen::SanType::URI("URN:CREDEX:node:500000:b".try_into().unwrap()),
    ];
    let two = params.self_signed(&key).unwrap();
    assert_eq!(
        identity_from_der(two.der()),
        Err(IdentityError::MultipleCredexUris(2))
    );

    // A malformed one.
    params.subject_alt_names = vec![rcgen::SanType::URI(
        "urn:credex:node:5200:a".try_into().unwrap(),
    )];
    let bad = params.self_signed(&key).unwrap();
    assert!(matches!(
        identity_from_der(bad.der()),
        Err(IdentityError::MalformedUri { .. })
    ));

    // A CA identity on a leaf.
    params.subject_alt_names = vec![rcgen::SanType::URI(
        "urn:credex:region-ca:520000".try_into().unwrap(),
    )];
    let fake_ca = params.self_signed(&key).unwrap();
    assert_eq!(
        identity_from_der(fake_ca.der()),
        Err(IdentityError::CaIdentityWithoutCaFlag(CertKind::RegionCa))
    );

    // Trailing bytes after a good certificate.
    let mut trailing = plain.der().to_vec();
    trailing.push(0);
    assert_eq!(
        identity_from_der(&trailing),
        Err(IdentityError::TrailingBytes(1))
    );

    // The verifier reports the identity problem.
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    assert!(matches!(
        fed.store(&[]).verify(
            &CertificateDer::from(plain.der().to_vec()),
            &[],
            now_plus_days(1),
            Purpose::TlsServer
        ),
        Err(VerifyError::Identity(IdentityError::NoCredexUri))
    ));
}

#[test]
fn key_algorithm_names() {
    for alg in [KeyAlgorithm::Ed25519, KeyAlgorithm::EcdsaP256] {
        assert_eq!(alg.to_string().parse::<KeyAlgorithm>().unwrap(), alg);
    }
    assert_eq!(
        "p256".parse::<KeyAlgorithm>().unwrap(),
        KeyAlgorithm::EcdsaP256
    );
    assert!("rsa".parse::<KeyAlgorithm>().is_err());
    assert_eq!(KeyAlgorithm::default(), KeyAlgorithm::Ed25519);
}

#[test]
fn intermediate_must_be_a_region_ca() {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    // A second "root" CA certificate signed by the real root, used as the
    // intermediate: only rcgen directly can make this.
    let root_key = rcgen::KeyPair::from_pem(&fed.root.key_pem).unwrap();
    let root_issuer = rcgen::Issuer::from_ca_cert_pem(&fed.root.cert_pem, root_key).unwrap();
    let mid_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "rogue intermediate");
    params.subject_alt_names = vec![rcgen::SanType::URI("urn:credex:root".try_into().unwrap())];
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.not_before = at(Y2021);
    params.not_after = at(Y2039);
    let mid = params.signed_by(&mid_key, &root_issuer).unwrap();
    let mid_issued = credex_pki::Issued {
        cert_pem: mid.pem(),
        key_pem: mid_key.serialize_pem(),
        cert_der: mid.der().to_vec(),
    };
    let mid_ca = CertificateAuthority::from_pem(&mid_issued.cert_pem, &mid_issued.key_pem).unwrap();
    let leaf = danger::issue_node_for(
        &mid_ca,
        region("520000"),
        &name("gy-1"),
        &[],
        &[],
        KeyAlgorithm::Ed25519,
        Validity::days_from(at(Y2026), 30),
    )
    .unwrap();
    assert_eq!(
        fed.store(&[])
            .verify(
                &der(&leaf),
                &[der(&mid_issued)],
                now_plus_days(1),
                Purpose::TlsServer
            )
            .unwrap_err(),
        VerifyError::IssuerNotRegionCa(CertKind::Root)
    );
}

#[test]
fn cached_verification_still_checks_time() {
    // A chain verified once is remembered by the store; a later verification
    // at a time outside the certificates' validity must still fail.
    let now = time::OffsetDateTime::now_utc();
    let root = credex_pki::create_root(
        "root",
        credex_pki::KeyAlgorithm::Ed25519,
        credex_pki::Validity::days_from(now, 365),
    )
    .unwrap();
    let root_ca =
        credex_pki::CertificateAuthority::from_pem(&root.cert_pem, &root.key_pem).unwrap();
    let region = root_ca
        .issue_region_ca(
            "520000".parse().unwrap(),
            credex_pki::KeyAlgorithm::Ed25519,
            credex_pki::Validity::days_from(now, 300),
        )
        .unwrap();
    let region_ca =
        credex_pki::CertificateAuthority::from_pem(&region.cert_pem, &region.key_pem).unwrap();
    let node = region_ca
        .issue_node(
            &"gy-1".parse().unwrap(),
            &[],
            &[],
            credex_pki::KeyAlgorithm::Ed25519,
            credex_pki::Validity::days_from(now, 30),
        )
        .unwrap();
    let store = credex_pki::TrustStore::from_pem(&root.cert_pem, &[]).unwrap();
    let leaf = rustls_pki_types::CertificateDer::from(node.cert_der.clone());
    let chain = [rustls_pki_types::CertificateDer::from(
        region.cert_der.clone(),
    )];
    let t = |offset_days: i64| {
        rustls_pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            (now + time::Duration::days(offset_days)).unix_timestamp() as u64,
        ))
    };
    for _ in 0..2 {
        store
            .verify(&leaf, &chain, t(0), credex_pki::Purpose::TlsServer)
            .unwrap();
    }
    assert!(
        store
            .verify(&leaf, &chain, t(60), credex_pki::Purpose::TlsServer)
            .is_err(),
        "expired after 30 days"
    );
    assert!(
        store
            .verify(&leaf, &chain, t(0), credex_pki::Purpose::TlsClient)
            .is_ok()
    );
    assert!(
        store
            .verify(&leaf, &chain, t(0), credex_pki::Purpose::Signing)
            .is_err(),
        "purpose is part of the cache key"
    );
}

/// What an operator watches of a CRL: its issuer and its window, read
/// without verifying it; bytes that are not a CRL are refused as such.
#[test]
fn a_crls_validity_is_read_and_garbage_is_refused() {
    use credex_pki::crl_validity::crl_validity;
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let (_, gz) = fed.region_ca("520000");
    let next = at(Y2026) + time::Duration::days(7);
    let pem = gz.crl(&[], 1, at(Y2026), next).unwrap();
    let der = CertificateRevocationListDer::from_pem_slice(pem.as_bytes()).unwrap();
    let validity = crl_validity(der.as_ref()).unwrap();
    assert_eq!(validity.this_update, at(Y2026));
    assert_eq!(validity.next_update, Some(next));
    assert!(validity.issuer.contains("520000"), "{}", validity.issuer);

    let err = crl_validity(&der.as_ref()[..der.as_ref().len() / 2]).unwrap_err();
    assert!(err.to_string().contains("does not parse"), "{err}");
    assert!(crl_validity(b"not a CRL").is_err());
}
