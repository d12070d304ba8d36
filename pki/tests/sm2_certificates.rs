//! SM2 certificates for the `sm2-sm3` suite (issue 19, decision 1060):
//! credex issues the federation's profile with SM2 keys and SM2-with-SM3
//! signatures, verifies the chains and CRLs, and OpenSSL 3 agrees — it
//! verifies credex's chain and CRL, reads credex's SM2 key file, and an
//! SM2 root and key OpenSSL made issue through credex. The OpenSSL tests
//! are skipped without `openssl`, except in CI (`CREDEX_REQUIRE_KEY_TOOLS=1`).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use credex_pki::signing::{SigningKey, verify_signature};
use credex_pki::{
    CertKind, CertificateAuthority, Issued, KeyAlgorithm, Purpose, RevokedCert, Subject,
    TrustStore, Validity, VerifyError, danger, identity_from_der,
};
use credex_protocol::{Role, SignatureAlgorithm};
use x509_parser::prelude::{FromDer, X509Certificate};

/// SM2 with SM3 (GM/T 0006).
const SM2_WITH_SM3: &str = "1.2.156.10197.1.501";
/// The SM2 curve (GM/T 0006).
const SM2_CURVE: &str = "1.2.156.10197.1.301";

const DOMAIN: &[u8] = b"credex/test/sm2-cert/v1";

struct Sm2Federation {
    fed: Federation,
    gz_issued: Issued,
    gz: CertificateAuthority,
    node: Issued,
    operator: Issued,
}

fn sm2_federation() -> Sm2Federation {
    let fed = Federation::new(KeyAlgorithm::Sm2);
    let (gz_issued, gz) = fed.region_ca("520000");
    let node = node(&gz, "gy-1", KeyAlgorithm::Sm2);
    let operator = gz
        .issue_operator(
            &name("alice"),
            Role::Approver,
            KeyAlgorithm::Sm2,
            Validity::days_from(at(Y2026), 365),
        )
        .unwrap();
    Sm2Federation {
        fed,
        gz_issued,
        gz,
        node,
        operator,
    }
}

fn x509(der: &[u8]) -> X509Certificate<'_> {
    let (rest, cert) = X509Certificate::from_der(der).unwrap();
    assert!(rest.is_empty());
    cert
}

/// What makes the credex profile, apart from keys and signatures: subject,
/// issuer, validity, and each extension's OID, criticality and value
/// (key identifiers by length only).
fn profile(der: &[u8]) -> Vec<String> {
    let cert = x509(der);
    // A CA's name carries its key identifier (serialNumber), which differs.
    let name = |n: String| match n.split_once(", serialNumber=") {
        Some((rest, _)) => format!("{rest}, serialNumber=(key id)"),
        None => n,
    };
    let mut out = vec![
        name(cert.subject().to_string()),
        name(cert.issuer().to_string()),
        format!("{:?}", cert.validity()),
        format!("serial {} bytes", cert.raw_serial().len()),
    ];
    for ext in cert.extensions() {
        let value = match ext.oid.to_id_string().as_str() {
            "2.5.29.14" | "2.5.29.35" => format!("{} bytes", ext.value.len()),
            _ => format!("{:?}", ext.parsed_extension()),
        };
        out.push(format!("{} critical={} {value}", ext.oid, ext.critical));
    }
    out
}

fn subject_key_id(cert: &X509Certificate<'_>) -> Vec<u8> {
    use x509_parser::extensions::ParsedExtension;
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
        .unwrap()
}

fn authority_key_id(cert: &X509Certificate<'_>) -> Vec<u8> {
    use x509_parser::extensions::ParsedExtension;
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(id) => {
                Some(id.key_identifier.as_ref().unwrap().0.to_vec())
            }
            _ => None,
        })
        .unwrap()
}

#[test]
fn sm2_certificates_carry_sm2_keys_and_sm2_with_sm3_signatures() {
    let f = sm2_federation();
    for issued in [&f.fed.root, &f.gz_issued, &f.node, &f.operator] {
        let cert = x509(&issued.cert_der);
        assert_eq!(
            cert.signature_algorithm.algorithm.to_id_string(),
            SM2_WITH_SM3
        );
        assert!(cert.signature_algorithm.parameters.is_none());
        assert_eq!(cert.tbs_certificate.signature, cert.signature_algorithm);
        let spki = cert.public_key();
        assert_eq!(spki.algorithm.algorithm.to_id_string(), "1.2.840.10045.2.1");
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .unwrap()
            .as_oid()
            .unwrap();
        assert_eq!(curve.to_id_string(), SM2_CURVE);
        assert_eq!(spki.subject_public_key.data.len(), 65);
        // The key identifier is the truncated SHA-256 of the true (SM2)
        // SubjectPublicKeyInfo, as rcgen derives it for other keys.
        let digest = ring::digest::digest(&ring::digest::SHA256, spki.raw);
        assert_eq!(subject_key_id(&cert), digest.as_ref()[..20]);
        // Private keys are PKCS#8 v1 PEM.
        assert!(issued.key_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    }
    let region_ca = x509(&f.gz_issued.cert_der);
    for leaf in [&f.node, &f.operator] {
        assert_eq!(
            authority_key_id(&x509(&leaf.cert_der)),
            subject_key_id(&region_ca)
        );
    }
    let root = x509(&f.fed.root.cert_der);
    assert_eq!(authority_key_id(&region_ca), subject_key_id(&root));
    assert_eq!(authority_key_id(&root), subject_key_id(&root));
}

#[test]
fn the_profile_is_the_ed25519_profile() {
    let f = sm2_federation();
    let ed = Federation::new(KeyAlgorithm::Ed25519);
    let (ed_gz_issued, ed_gz) = ed.region_ca("520000");
    let ed_node = node(&ed_gz, "gy-1", KeyAlgorithm::Ed25519);
    let ed_operator = ed_gz
        .issue_operator(
            &name("alice"),
            Role::Approver,
            KeyAlgorithm::Ed25519,
            Validity::days_from(at(Y2026), 365),
        )
        .unwrap();
    assert_eq!(profile(&f.node.cert_der), profile(&ed_node.cert_der));
    assert_eq!(
        profile(&f.operator.cert_der),
        profile(&ed_operator.cert_der)
    );
    assert_eq!(
        profile(&f.gz_issued.cert_der),
        profile(&ed_gz_issued.cert_der)
    );
    assert_eq!(profile(&f.fed.root.cert_der), profile(&ed.root.cert_der));
}

#[test]
fn an_sm2_chain_verifies_and_names_its_identities() {
    let f = sm2_federation();
    let store = f.fed.store(&[]);
    let chain = [der(&f.gz_issued)];
    for purpose in [Purpose::TlsServer, Purpose::TlsClient] {
        let verified = store
            .verify(&der(&f.node), &chain, now_plus_days(10), purpose)
            .unwrap();
        assert_eq!(
            verified.identity().subject,
            Subject::Node {
                region: region("520000"),
                name: name("gy-1")
            }
        );
        assert_eq!(verified.identity().dns_names, vec!["gy-1.credex.test"]);
        assert_eq!(
            verified.issuer().subject,
            Subject::RegionCa {
                region: region("520000")
            }
        );
    }
    let verified = store
        .verify(
            &der(&f.operator),
            &chain,
            now_plus_days(10),
            Purpose::Signing,
        )
        .unwrap();
    assert_eq!(
        verified.identity().subject,
        Subject::Operator {
            region: region("520000"),
            role: Role::Approver,
            name: name("alice")
        }
    );
    // The identity parser reads them on their own too.
    assert_eq!(
        identity_from_der(&f.fed.root.cert_der).unwrap().subject,
        Subject::Root
    );
    assert_eq!(f.gz.identity().kind(), CertKind::RegionCa);
    let id = identity_from_der(&f.operator.cert_der).unwrap();
    assert_eq!(id.region(), Some(region("520000")));
    assert_eq!(id.kind(), CertKind::Operator);

    // A message signed with the operator's SM2 key verifies with the key
    // read from its certificate, and through the verified chain.
    let key = SigningKey::from_pkcs8_pem(&f.operator.key_pem).unwrap();
    assert_eq!(key.algorithm(), SignatureAlgorithm::Sm2Sm3);
    key.check_matches_certificate(&f.operator.cert_der).unwrap();
    let signature = key.sign(DOMAIN, b"approval 7").unwrap();
    assert_eq!(signature.algorithm, SignatureAlgorithm::Sm2Sm3);
    verify_signature(&f.operator.cert_der, DOMAIN, b"approval 7", &signature).unwrap();
    verified
        .verify_signature(DOMAIN, b"approval 7", &signature)
        .unwrap();
    assert!(
        verified
            .verify_signature(DOMAIN, b"approval 8", &signature)
            .is_err()
    );
    // The node's key too, and not under another certificate.
    let node_key = SigningKey::from_pkcs8_pem(&f.node.key_pem).unwrap();
    let signature = node_key.sign(DOMAIN, b"receipt").unwrap();
    verify_signature(&f.node.cert_der, DOMAIN, b"receipt", &signature).unwrap();
    assert!(verify_signature(&f.operator.cert_der, DOMAIN, b"receipt", &signature).is_err());
    assert!(
        node_key
            .check_matches_certificate(&f.operator.cert_der)
            .is_err()
    );
}

#[test]
fn tampered_and_misissued_sm2_certificates_are_refused() {
    let f = sm2_federation();
    let store = f.fed.store(&[]);
    let chain = [der(&f.gz_issued)];

    // A changed DNS name in the signed part.
    let mut tampered = f.node.cert_der.clone();
    let at_name = tampered
        .windows(4)
        .position(|w| w == b"gy-1".as_slice())
        .unwrap();
    tampered[at_name + 3] = b'2';
    let err = store
        .verify(
            &tampered.as_slice().into(),
            &chain,
            now_plus_days(1),
            Purpose::TlsServer,
        )
        .unwrap_err();
    assert_eq!(err, VerifyError::BadSignature);

    // A changed signature (the last byte of s).
    let mut tampered = f.node.cert_der.clone();
    *tampered.last_mut().unwrap() ^= 1;
    let err = store
        .verify(
            &tampered.as_slice().into(),
            &chain,
            now_plus_days(1),
            Purpose::TlsServer,
        )
        .unwrap_err();
    assert_eq!(err, VerifyError::BadSignature);

    // A region CA issuing for another region.
    let forged = danger::issue_node_for(
        &f.gz,
        region("500000"),
        &name("cq-1"),
        &[],
        &[],
        KeyAlgorithm::Sm2,
        Validity::days_from(at(Y2026), 30),
    )
    .unwrap();
    assert_eq!(
        store
            .verify(&der(&forged), &chain, now_plus_days(1), Purpose::TlsClient)
            .unwrap_err(),
        VerifyError::RegionMismatch {
            leaf: "500000".into(),
            issuer: "520000".into()
        }
    );

    // Under another SM2 root.
    let other = Federation::named("another root", KeyAlgorithm::Sm2);
    let (other_gz_issued, other_gz) = other.region_ca("520000");
    let stranger = node(&other_gz, "gy-1", KeyAlgorithm::Sm2);
    assert_eq!(
        store
            .verify(
                &der(&stranger),
                &[der(&other_gz_issued)],
                now_plus_days(1),
                Purpose::TlsServer
            )
            .unwrap_err(),
        VerifyError::UnknownIssuer
    );
}

#[test]
fn sm2_crls_revoke() {
    let f = sm2_federation();
    let chain = [der(&f.gz_issued)];
    let kept = node(&f.gz, "gy-2", KeyAlgorithm::Sm2);
    let crl = leaf_crl(&f);
    let crl_der = rustls_pki_types::pem::PemObject::from_pem_slice(crl.as_bytes())
        .map(|c: rustls_pki_types::CertificateRevocationListDer<'_>| c.to_vec())
        .unwrap();
    let (_, parsed) = x509_parser::parse_x509_crl(&crl_der).unwrap();
    assert_eq!(
        parsed.signature_algorithm.algorithm.to_id_string(),
        SM2_WITH_SM3
    );
    assert_eq!(parsed.tbs_cert_list.signature, parsed.signature_algorithm);

    let store = f.fed.store(std::slice::from_ref(&crl));
    assert_eq!(
        store
            .verify(&der(&f.node), &chain, now_plus_days(1), Purpose::TlsServer)
            .unwrap_err(),
        VerifyError::Revoked
    );
    store
        .verify(&der(&kept), &chain, now_plus_days(1), Purpose::TlsServer)
        .unwrap();

    // The root's CRL revoking the region CA takes its leaves down.
    let serial = identity_from_der(&f.gz_issued.cert_der).unwrap().serial;
    let root_crl = f
        .fed
        .root_ca
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
    assert_eq!(
        f.fed
            .store(&[root_crl])
            .verify(&der(&kept), &chain, now_plus_days(1), Purpose::TlsServer)
            .unwrap_err(),
        VerifyError::IssuerRevoked
    );

    // The region CA's CRL with its signature changed still applies (it
    // names the region CA), and fails closed.
    let mut forged = crl_der.clone();
    *forged.last_mut().unwrap() ^= 1;
    let store = TrustStore::new(f.fed.root_der(), vec![forged.into()]).unwrap();
    let err = store
        .verify(&der(&kept), &chain, now_plus_days(1), Purpose::TlsServer)
        .unwrap_err();
    assert!(matches!(err, VerifyError::BadCrl(_)), "{err:?}");
}

/// The region CA's CRL revoking the SM2 node.
fn leaf_crl(f: &Sm2Federation) -> String {
    let serial = identity_from_der(&f.node.cert_der).unwrap().serial;
    f.gz.crl(
        &[RevokedCert {
            serial,
            revoked_at: at(Y2026),
        }],
        2,
        at(Y2026),
        at(Y2026) + time::Duration::days(7),
    )
    .unwrap()
}

#[test]
fn an_sm2_ca_signs_tls_certificates_with_other_keys_and_the_reverse() {
    // Under sm2-sm3 a node's TLS key stays Ed25519 or P-256 (rustls has no
    // SM2 scheme); its certificate is signed by the SM2 region CA.
    let f = sm2_federation();
    let chain = [der(&f.gz_issued)];
    for alg in [KeyAlgorithm::Ed25519, KeyAlgorithm::EcdsaP256] {
        let tls = node(&f.gz, "gy-tls", alg);
        let cert = x509(&tls.cert_der);
        assert_eq!(
            cert.signature_algorithm.algorithm.to_id_string(),
            SM2_WITH_SM3
        );
        f.fed
            .store(&[])
            .verify(&der(&tls), &chain, now_plus_days(1), Purpose::TlsServer)
            .unwrap();
    }
    // An Ed25519 CA signing an SM2 key (the same code path, the other way).
    let ed = Federation::new(KeyAlgorithm::Ed25519);
    let (ed_gz_issued, ed_gz) = ed.region_ca("520000");
    let sm2_node = node(&ed_gz, "gy-1", KeyAlgorithm::Sm2);
    ed.store(&[])
        .verify(
            &der(&sm2_node),
            &[der(&ed_gz_issued)],
            now_plus_days(1),
            Purpose::TlsServer,
        )
        .unwrap();
}

#[test]
fn sm2_key_algorithm_name() {
    assert_eq!("sm2".parse::<KeyAlgorithm>().unwrap(), KeyAlgorithm::Sm2);
    assert_eq!(KeyAlgorithm::Sm2.to_string(), "sm2");
    assert_eq!(
        KeyAlgorithm::Sm2.signature_algorithm(),
        SignatureAlgorithm::Sm2Sm3
    );
}

// ---- OpenSSL 3 interop ----
//
// OpenSSL 3 signs and verifies certificates with an empty SM2 identity
// unless told otherwise, and `openssl verify -vfyopt distid:…` applies the
// identity to the certificate verified but not to the intermediates above
// it, nor to CRLs (openssl/openssl#23471). credex signs with the GM/T 0009
// identity, so OpenSSL checks each link on its own: `verify -vfyopt` of a
// certificate under its issuer (`-partial_chain` below the root), and
// `pkeyutl -verify` of a root's or a CRL's signature over its TBS bytes.

/// Run openssl; it must succeed. Its standard output.
fn openssl(dir: &Path, args: &[&str]) -> String {
    let out: Output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const DISTID: &str = "distid:1234567812345678";

/// `openssl verify` of `cert` (a file in `dir`) under `issuer` alone, at
/// `at` (Unix seconds), with the GM/T 0009 identity: OpenSSL checks its
/// signature, validity, the issuer's CA flag and key usage, and the key
/// identifiers.
fn openssl_verifies_under(dir: &Path, cert: &str, issuer: &str, at: i64) {
    let at = at.to_string();
    let out = openssl(
        dir,
        &[
            "verify",
            "-x509_strict",
            "-partial_chain",
            "-vfyopt",
            DISTID,
            "-attime",
            &at,
            "-CAfile",
            issuer,
            cert,
        ],
    );
    assert_eq!(out.trim(), format!("{cert}: OK"));
}

/// `openssl pkeyutl -verify` of an SM2-with-SM3 `signature` (DER) over
/// `tbs` by the key of the certificate file `issuer`, with the GM/T 0009
/// identity.
fn openssl_verifies_signature(dir: &Path, tbs: &[u8], signature: &[u8], issuer: &str) {
    std::fs::write(dir.join("tbs.der"), tbs).unwrap();
    std::fs::write(dir.join("sig.der"), signature).unwrap();
    let public = openssl(dir, &["x509", "-in", issuer, "-noout", "-pubkey"]);
    std::fs::write(dir.join("issuer.pub"), public).unwrap();
    let out = openssl(
        dir,
        &[
            "pkeyutl",
            "-verify",
            "-rawin",
            "-digest",
            "sm3",
            "-pkeyopt",
            DISTID,
            "-pubin",
            "-inkey",
            "issuer.pub",
            "-in",
            "tbs.der",
            "-sigfile",
            "sig.der",
        ],
    );
    assert!(out.contains("Signature Verified Successfully"), "{out}");
}

#[test]
fn openssl_verifies_credex_sm2_certificates_and_crls() {
    if !common::openssl_here() {
        return;
    }
    let f = sm2_federation();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let write = |file: &str, text: &str| std::fs::write(d.join(file), text).unwrap();
    write("root.pem", &f.fed.root.cert_pem);
    write("region.pem", &f.gz_issued.cert_pem);
    write("node.pem", &f.node.cert_pem);
    write("operator.pem", &f.operator.cert_pem);
    write("region.key", &f.gz_issued.key_pem);
    let crl = leaf_crl(&f);
    write("crl.pem", &crl);
    // 2026-01-03: inside every certificate's and the CRL's validity.
    let at = Y2026 + 2 * 86_400;

    // Every link of root → region CA → node / operator.
    let root = x509(&f.fed.root.cert_der);
    let tbs = root.tbs_certificate.as_ref();
    openssl_verifies_signature(d, tbs, &root.signature_value.data, "root.pem");
    openssl_verifies_under(d, "region.pem", "root.pem", at);
    openssl_verifies_under(d, "node.pem", "region.pem", at);
    openssl_verifies_under(d, "operator.pem", "region.pem", at);
    // …and refuses a node certificate changed after signing.
    let mut tampered = f.node.cert_der.clone();
    let at_name = tampered.windows(4).position(|w| w == b"gy-1").unwrap();
    tampered[at_name + 3] = b'2';
    let pem = pem::encode(&pem::Pem::new("CERTIFICATE", tampered));
    write("tampered.pem", &pem);
    let out = Command::new("openssl")
        .current_dir(d)
        .args(["verify", "-partial_chain", "-vfyopt", DISTID])
        .args(["-attime", &at.to_string(), "-CAfile", "region.pem"])
        .arg("tampered.pem")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("certificate signature failure")
            || String::from_utf8_lossy(&out.stderr).contains("certificate signature failure"),
        "{out:?}"
    );

    let text = openssl(d, &["x509", "-in", "node.pem", "-noout", "-text"]);
    assert!(text.contains("Signature Algorithm: SM2-with-SM3"), "{text}");
    assert!(text.contains("ASN1 OID: SM2"), "{text}");
    assert!(text.contains("URI:urn:credex:node:520000:gy-1"), "{text}");

    // The CRL: signed by the region CA, listing the node.
    let crl_der = pem::parse(&crl).unwrap().into_contents();
    let (_, parsed) = x509_parser::parse_x509_crl(&crl_der).unwrap();
    let tbs = parsed.tbs_cert_list.as_ref();
    openssl_verifies_signature(d, tbs, &parsed.signature_value.data, "region.pem");
    let text = openssl(d, &["crl", "-in", "crl.pem", "-noout", "-text"]);
    assert!(text.contains("Signature Algorithm: SM2-with-SM3"), "{text}");
    let serial = hex::encode_upper(identity_from_der(&f.node.cert_der).unwrap().serial);
    assert!(text.contains(&format!("Serial Number: {serial}")), "{text}");

    // credex's SM2 key file loads in OpenSSL and holds the certificate's key.
    let from_key = openssl(d, &["pkey", "-in", "region.key", "-pubout"]);
    let from_cert = openssl(d, &["x509", "-in", "region.pem", "-noout", "-pubkey"]);
    assert_eq!(from_key, from_cert);
    let text = openssl(d, &["pkey", "-in", "region.key", "-noout", "-text"]);
    assert!(text.contains("ASN1 OID: SM2"), "{text}");
}

#[test]
fn an_openssl_sm2_root_and_key_issue_through_credex() {
    if !common::openssl_here() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(d, &["genpkey", "-algorithm", "SM2", "-out", "root.key"]);
    openssl(
        d,
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            "root.key",
            "-sm3",
            "-sigopt",
            DISTID,
            "-days",
            "3650",
            "-subj",
            "/C=CN/O=credex federation/CN=credex openssl root",
            "-addext",
            "subjectAltName=URI:urn:credex:root",
            "-addext",
            "basicConstraints=critical,CA:true,pathlen:1",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            "root.pem",
        ],
    );
    let root_pem = std::fs::read_to_string(d.join("root.pem")).unwrap();
    let root_key = std::fs::read_to_string(d.join("root.key")).unwrap();

    // The key OpenSSL generated loads in credex, as a signing key and as
    // the CA's key.
    let key = SigningKey::from_pkcs8_pem(&root_key).unwrap();
    assert_eq!(key.algorithm(), SignatureAlgorithm::Sm2Sm3);
    let root = CertificateAuthority::from_pem(&root_pem, &root_key).unwrap();
    assert_eq!(root.identity().subject, Subject::Root);
    key.check_matches_certificate(root.cert_der()).unwrap();

    let start = root.identity().not_before + time::Duration::hours(2);
    let gz_issued = root
        .issue_region_ca(
            region("520000"),
            KeyAlgorithm::Sm2,
            Validity::days_from(start, 100),
        )
        .unwrap();
    let gz = CertificateAuthority::from_pem(&gz_issued.cert_pem, &gz_issued.key_pem).unwrap();
    let leaf = gz
        .issue_authority(
            &name("gzzwfw"),
            KeyAlgorithm::Sm2,
            Validity::days_from(start, 30),
        )
        .unwrap();

    // credex trusts the OpenSSL root…
    let at = (start + time::Duration::days(1)).unix_timestamp();
    let now =
        rustls_pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(at as u64));
    TrustStore::from_pem(&root_pem, &[])
        .unwrap()
        .verify(&der(&leaf), &[der(&gz_issued)], now, Purpose::Signing)
        .unwrap();
    // …and OpenSSL what credex issued under it.
    std::fs::write(d.join("region.pem"), &gz_issued.cert_pem).unwrap();
    std::fs::write(d.join("leaf.pem"), &leaf.cert_pem).unwrap();
    openssl_verifies_under(d, "region.pem", "root.pem", at);
    openssl_verifies_under(d, "leaf.pem", "region.pem", at);
}
