//! The PKI on disk: CA directories, issued certificate files, revocation
//! lists. This is the file side of `credex pki …`; issuance itself is
//! `credex-pki`'s.
//!
//! A CA directory holds:
//! - `ca.pem` — the CA certificate;
//! - `ca.key` — its PKCS#8 private key, mode 0600;
//! - `revoked.toml` — the revocation register (serials, times, what they were);
//! - `crl.pem` — the CRL built from the register, re-signed on every change.
//!
//! An issued leaf is written as `NAME.pem` (the leaf followed by its region
//! CA, the chain a TLS peer needs) and `NAME.key` (mode 0600).

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use credex_pki::{
    CertIdentity, CertificateAuthority, Issued, KeyAlgorithm, RevokedCert, Subject, Validity,
};
use credex_protocol::{NodeName, RegionCode, Role};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// Errors of the PKI file operations. Each names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum PkiFileError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file exists and would be overwritten.
    #[error("{0}: already exists; refusing to overwrite (remove it first)")]
    Exists(PathBuf),
    /// The file's contents are not what was expected.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The CA refused to issue.
    #[error("{ca}: {source}")]
    Issue {
        /// The CA directory.
        ca: PathBuf,
        /// Why.
        source: credex_pki::IssueError,
    },
    /// A key in a hardware security module could not be opened or made.
    #[error("{uri}: {reason}")]
    ModuleKey {
        /// The PKCS#11 URI naming the key.
        uri: String,
        /// What failed (module, token, label or PIN source named).
        reason: String,
    },
}

/// The key in a hardware security module that the PKCS#11 URI `uri`
/// names (decision 1090; the shape `[tls] key` takes), logged in with the
/// PIN from its `pin-source` file (relative to the working directory) or
/// `CREDEX_PKCS11_PIN`; generated there first as `generate`, when given
/// (`credex pki key new`). The private key never leaves the token.
pub fn module_key(
    uri: &str,
    generate: Option<KeyAlgorithm>,
) -> Result<credex_pki::module_key::ModuleKey, PkiFileError> {
    use credex_pki::module_key::{ModuleKey, Pkcs11Uri};
    let failed = |reason: String| PkiFileError::ModuleKey {
        uri: uri.to_owned(),
        reason,
    };
    let parsed = Pkcs11Uri::parse(uri).map_err(|e| failed(e.to_string()))?;
    let source = match parsed.pin_file {
        Some(file) => crate::config::PinSource::File(file),
        None => crate::config::PinSource::Environment,
    };
    let pin = crate::boot::module_pin(&source).map_err(|e| failed(e.to_string()))?;
    match generate {
        Some(alg) => ModuleKey::generate(&parsed.key, pin, alg),
        None => ModuleKey::open(&parsed.key, pin),
    }
    .map_err(|e| failed(e.to_string()))
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PkiFileError + '_ {
    move |source| PkiFileError::Io {
        path: path.to_owned(),
        source,
    }
}

fn invalid(path: &Path, reason: impl std::fmt::Display) -> PkiFileError {
    PkiFileError::Invalid {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

fn ensure_dir(dir: &Path) -> Result<(), PkiFileError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))
}

/// Write a new file readable by its owner only (0600), refusing to overwrite.
pub fn write_private(path: &Path, contents: &str) -> Result<(), PkiFileError> {
    if let Some(parent) = path.parent() {
        ensure_dir(parent)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            PkiFileError::Exists(path.to_owned())
        } else {
            io_err(path)(e)
        }
    })?;
    f.write_all(contents.as_bytes()).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

/// Write a public file (certificate, CRL), replacing it atomically.
pub fn write_public(path: &Path, contents: &str) -> Result<(), PkiFileError> {
    if let Some(parent) = path.parent() {
        ensure_dir(parent)?;
    }
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(contents.as_bytes()).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

fn read_text(path: &Path) -> Result<String, PkiFileError> {
    std::fs::read_to_string(path).map_err(io_err(path))
}

/// Default lifetimes, in days.
pub mod lifetime {
    /// Federation root CA.
    pub const ROOT_DAYS: u32 = 3650;
    /// Region CA.
    pub const REGION_CA_DAYS: u32 = 1825;
    /// Node, operator and authority certificates.
    pub const LEAF_DAYS: u32 = 397;
    /// How long a CRL is valid before it must be re-signed.
    pub const CRL_DAYS: i64 = 7;
}

/// The revocation register of a CA directory (`revoked.toml`).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Register {
    /// Number of the last CRL issued.
    crl_number: u64,
    #[serde(default)]
    revoked: Vec<RegisterEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterEntry {
    /// Serial, lowercase hex.
    serial: String,
    /// Unix seconds.
    revoked_at: i64,
    /// What the certificate was, in words.
    subject: String,
}

/// A CA kept in a directory.
#[derive(Debug, Clone)]
pub struct CaDir {
    dir: PathBuf,
}

/// Paths of an issued certificate and key.
#[derive(Debug, Clone)]
pub struct IssuedFiles {
    /// `NAME.pem`: leaf followed by the region CA.
    pub cert: PathBuf,
    /// `NAME.key`, mode 0600.
    pub key: PathBuf,
    /// What was issued.
    pub identity: CertIdentity,
}

impl CaDir {
    /// A CA directory at `dir` (not read until used).
    pub fn at(dir: impl Into<PathBuf>) -> CaDir {
        CaDir { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `ca.pem`.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// `ca.key`.
    pub fn key_path(&self) -> PathBuf {
        self.dir.join("ca.key")
    }

    /// `ca.pkcs11`: the PKCS#11 URI of the CA's key, when it is in a
    /// hardware security module instead of `ca.key` (decision 1090).
    pub fn key_uri_path(&self) -> PathBuf {
        self.dir.join("ca.pkcs11")
    }

    /// `crl.pem`.
    pub fn crl_path(&self) -> PathBuf {
        self.dir.join("crl.pem")
    }

    fn register_path(&self) -> PathBuf {
        self.dir.join("revoked.toml")
    }

    /// Create a new federation root CA in `dir`, with an empty CRL.
    pub fn create_root(
        dir: impl Into<PathBuf>,
        common_name: &str,
        alg: KeyAlgorithm,
        days: u32,
    ) -> Result<CaDir, PkiFileError> {
        let ca = CaDir::at(dir);
        let issued = credex_pki::create_root(
            common_name,
            alg,
            Validity::days_from(OffsetDateTime::now_utc(), days),
        )
        .map_err(|source| PkiFileError::Issue {
            ca: ca.dir.clone(),
            source,
        })?;
        ca.store(&issued)?;
        Ok(ca)
    }

    /// Create a new federation root CA in `dir` whose key is the one in a
    /// hardware security module that the PKCS#11 URI `uri` names (made
    /// there with `credex pki key new`): `ca.pem`, `ca.pkcs11` (the URI),
    /// an empty CRL signed in the module, and no `ca.key`.
    pub fn create_root_in_module(
        dir: impl Into<PathBuf>,
        common_name: &str,
        uri: &str,
        days: u32,
    ) -> Result<CaDir, PkiFileError> {
        let ca = CaDir::at(dir);
        let key = std::sync::Arc::new(module_key(uri, None)?);
        let issued = credex_pki::create_root_in_device(
            common_name,
            key,
            Validity::days_from(OffsetDateTime::now_utc(), days),
        )
        .map_err(|source| PkiFileError::Issue {
            ca: ca.dir.clone(),
            source,
        })?;
        ca.store_in_module(uri, &issued.cert_pem)?;
        Ok(ca)
    }

    /// Create the CA of `region`, issued by this root, in `dir`, its key
    /// the one in a hardware security module that `uri` names (as
    /// [`CaDir::create_root_in_module`]).
    pub fn create_region_in_module(
        &self,
        region: RegionCode,
        dir: impl Into<PathBuf>,
        uri: &str,
        days: u32,
    ) -> Result<CaDir, PkiFileError> {
        let root = self.load()?;
        let validity = self.validity_within(&root, days);
        let key = module_key(uri, None)?;
        let held = credex_pki::HeldPublicKey::new(key.key_algorithm(), key.public_key()).map_err(
            |source| PkiFileError::Issue {
                ca: self.dir.clone(),
                source,
            },
        )?;
        let issued = root
            .issue_region_ca_for_key(region, &held, validity)
            .map_err(|source| PkiFileError::Issue {
                ca: self.dir.clone(),
                source,
            })?;
        let ca = CaDir::at(dir);
        ca.store_in_module(uri, &issued.cert_pem)?;
        Ok(ca)
    }

    fn store_in_module(&self, uri: &str, cert_pem: &str) -> Result<(), PkiFileError> {
        ensure_dir(&self.dir)?;
        write_public(&self.key_uri_path(), &format!("{uri}\n"))?;
        write_public(&self.cert_path(), cert_pem)?;
        self.write_register(&Register::default())?;
        self.write_crl()?;
        Ok(())
    }

    /// Create the CA of `region`, issued by this root, in `dir`.
    pub fn create_region(
        &self,
        region: RegionCode,
        dir: impl Into<PathBuf>,
        alg: KeyAlgorithm,
        days: u32,
    ) -> Result<CaDir, PkiFileError> {
        let root = self.load()?;
        let validity = self.validity_within(&root, days);
        let issued = root
            .issue_region_ca(region, alg, validity)
            .map_err(|source| PkiFileError::Issue {
                ca: self.dir.clone(),
                source,
            })?;
        let ca = CaDir::at(dir);
        ca.store(&issued)?;
        Ok(ca)
    }

    fn store(&self, issued: &Issued) -> Result<(), PkiFileError> {
        ensure_dir(&self.dir)?;
        write_private(&self.key_path(), &issued.key_pem)?;
        write_public(&self.cert_path(), &issued.cert_pem)?;
        self.write_register(&Register::default())?;
        self.write_crl()?;
        Ok(())
    }

    /// Load the CA for issuing: its key from `ca.key`, or, when there is
    /// none and `ca.pkcs11` names one, from its module.
    pub fn load(&self) -> Result<CertificateAuthority, PkiFileError> {
        let cert = read_text(&self.cert_path())?;
        if !self.key_path().exists() && self.key_uri_path().is_file() {
            let uri = read_text(&self.key_uri_path())?;
            let key = std::sync::Arc::new(module_key(uri.trim(), None)?);
            return CertificateAuthority::in_device(&cert, key).map_err(|e| invalid(&self.dir, e));
        }
        let key = read_text(&self.key_path())?;
        CertificateAuthority::from_pem(&cert, &key).map_err(|e| invalid(&self.dir, e))
    }

    fn validity_within(&self, ca: &CertificateAuthority, days: u32) -> Validity {
        let now = OffsetDateTime::now_utc();
        let v = Validity::days_from(now, days);
        let end = v.not_after().min(ca.identity().not_after);
        Validity::new(v.not_before(), end).unwrap_or(v)
    }

    fn leaf_files(
        &self,
        out_dir: &Path,
        file_stem: &str,
        issued: &Issued,
        ca: &CertificateAuthority,
    ) -> Result<IssuedFiles, PkiFileError> {
        let cert = out_dir.join(format!("{file_stem}.pem"));
        let key = out_dir.join(format!("{file_stem}.key"));
        let identity =
            credex_pki::identity_from_der(&issued.cert_der).map_err(|e| invalid(&cert, e))?;
        write_private(&key, &issued.key_pem)?;
        let chain = format!("{}{}", issued.cert_pem, ca.cert_pem());
        write_public(&cert, &chain)?;
        Ok(IssuedFiles {
            cert,
            key,
            identity,
        })
    }

    /// Issue a node certificate into `out_dir/NAME.pem` and `NAME.key`.
    pub fn issue_node(
        &self,
        name: &NodeName,
        dns: &[String],
        ips: &[IpAddr],
        alg: KeyAlgorithm,
        days: u32,
        out_dir: &Path,
    ) -> Result<IssuedFiles, PkiFileError> {
        let ca = self.load()?;
        let issued = ca
            .issue_node(name, dns, ips, alg, self.validity_within(&ca, days))
            .map_err(|source| PkiFileError::Issue {
                ca: self.dir.clone(),
                source,
            })?;
        self.leaf_files(out_dir, name.as_str(), &issued, &ca)
    }

    /// Issue a node certificate for `key`, a public key whose private
    /// half stays in a hardware security module (decision 1090), into
    /// `out_dir/NAME.pem` (leaf, then the region CA); no key file is
    /// written. Returns the certificate file and what it names.
    pub fn issue_node_for_key(
        &self,
        name: &NodeName,
        dns: &[String],
        ips: &[IpAddr],
        key: &credex_pki::HeldPublicKey,
        days: u32,
        out_dir: &Path,
    ) -> Result<(PathBuf, CertIdentity), PkiFileError> {
        let ca = self.load()?;
        let issued = ca
            .issue_node_for_key(name, dns, ips, key, self.validity_within(&ca, days))
            .map_err(|source| PkiFileError::Issue {
                ca: self.dir.clone(),
                source,
            })?;
        let cert = out_dir.join(format!("{name}.pem"));
        let identity =
            credex_pki::identity_from_der(&issued.cert_der).map_err(|e| invalid(&cert, e))?;
        write_public(&cert, &format!("{}{}", issued.cert_pem, ca.cert_pem()))?;
        Ok((cert, identity))
    }

    /// Issue an operator certificate (accountable person with `role`).
    pub fn issue_operator(
        &self,
        name: &NodeName,
        role: Role,
        alg: KeyAlgorithm,
        days: u32,
        out_dir: &Path,
    ) -> Result<IssuedFiles, PkiFileError> {
        self.issue_leaf(name, days, out_dir, |ca, validity| {
            ca.issue_operator(name, role, alg, validity)
        })
    }

    /// Issue an authorization-authority certificate.
    pub fn issue_authority(
        &self,
        name: &NodeName,
        alg: KeyAlgorithm,
        days: u32,
        out_dir: &Path,
    ) -> Result<IssuedFiles, PkiFileError> {
        self.issue_leaf(name, days, out_dir, |ca, validity| {
            ca.issue_authority(name, alg, validity)
        })
    }

    /// Issue a gateway client certificate (see
    /// [`CertificateAuthority::issue_client`](credex_pki::issue::CertificateAuthority::issue_client))
    /// into `out_dir`.
    pub fn issue_client(
        &self,
        name: &NodeName,
        roles: credex_pki::identity::GatewayRoles,
        alg: KeyAlgorithm,
        days: u32,
        out_dir: &Path,
    ) -> Result<IssuedFiles, PkiFileError> {
        self.issue_leaf(name, days, out_dir, |ca, validity| {
            ca.issue_client(name, roles, alg, validity)
        })
    }

    /// Load the CA, issue one leaf for `name` with `issue` within the CA's
    /// validity, and write its certificate and key into `out_dir`.
    fn issue_leaf(
        &self,
        name: &NodeName,
        days: u32,
        out_dir: &Path,
        issue: impl FnOnce(&CertificateAuthority, Validity) -> Result<Issued, credex_pki::IssueError>,
    ) -> Result<IssuedFiles, PkiFileError> {
        let ca = self.load()?;
        let issued =
            issue(&ca, self.validity_within(&ca, days)).map_err(|source| PkiFileError::Issue {
                ca: self.dir.clone(),
                source,
            })?;
        self.leaf_files(out_dir, name.as_str(), &issued, &ca)
    }

    fn read_register(&self) -> Result<Register, PkiFileError> {
        let path = self.register_path();
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| invalid(&path, e.to_string().trim_end())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Register::default()),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    fn write_register(&self, reg: &Register) -> Result<(), PkiFileError> {
        let text = toml::to_string(reg).map_err(|e| invalid(&self.register_path(), e))?;
        write_public(
            &self.register_path(),
            &format!("# credex revocation register: edit with `credex pki revoke`\n{text}"),
        )
    }

    /// Revoke the leaf certificate in `cert_file` (its first certificate),
    /// which this CA must have issued, and re-sign the CRL. Returns what was
    /// revoked. Revoking twice is an error.
    pub fn revoke(&self, cert_file: &Path) -> Result<CertIdentity, PkiFileError> {
        let ca = self.load()?;
        let certs = credex_pki::certs_from_pem(&read_text(cert_file)?)
            .map_err(|e| invalid(cert_file, e))?;
        let leaf = certs
            .first()
            .ok_or_else(|| invalid(cert_file, "no CERTIFICATE section"))?;
        let identity = credex_pki::identity_from_der(leaf).map_err(|e| invalid(cert_file, e))?;
        let issuer_ok = match (&ca.identity().subject, &identity.subject) {
            (Subject::Root, Subject::RegionCa { .. }) => true,
            (Subject::RegionCa { region }, leaf) => {
                !matches!(leaf, Subject::Root | Subject::RegionCa { .. })
                    && leaf.region() == Some(*region)
            }
            _ => false,
        };
        if !issuer_ok {
            return Err(invalid(
                cert_file,
                format!(
                    "{} was not issued by {}",
                    identity.subject,
                    ca.identity().subject
                ),
            ));
        }
        let mut reg = self.read_register()?;
        let serial = identity.serial_hex();
        if reg.revoked.iter().any(|r| r.serial == serial) {
            return Err(invalid(
                cert_file,
                format!("serial {serial} is already revoked"),
            ));
        }
        reg.revoked.push(RegisterEntry {
            serial,
            revoked_at: OffsetDateTime::now_utc().unix_timestamp(),
            subject: identity.subject.to_string(),
        });
        self.write_register(&reg)?;
        self.write_crl()?;
        Ok(identity)
    }

    /// Re-sign the CRL from the register with the next CRL number.
    pub fn write_crl(&self) -> Result<PathBuf, PkiFileError> {
        let ca = self.load()?;
        let mut reg = self.read_register()?;
        let mut revoked = Vec::with_capacity(reg.revoked.len());
        for r in &reg.revoked {
            let serial = hex::decode(&r.serial).map_err(|_| {
                invalid(
                    &self.register_path(),
                    format!("serial {:?} is not hex", r.serial),
                )
            })?;
            let revoked_at = OffsetDateTime::from_unix_timestamp(r.revoked_at).map_err(|_| {
                invalid(
                    &self.register_path(),
                    format!("revoked_at {} is out of range", r.revoked_at),
                )
            })?;
            revoked.push(RevokedCert { serial, revoked_at });
        }
        reg.crl_number += 1;
        let now = OffsetDateTime::now_utc();
        let pem = ca
            .crl(
                &revoked,
                reg.crl_number,
                now,
                now + Duration::days(lifetime::CRL_DAYS),
            )
            .map_err(|source| PkiFileError::Issue {
                ca: self.dir.clone(),
                source,
            })?;
        self.write_register(&reg)?;
        let path = self.crl_path();
        write_public(&path, &pem)?;
        Ok(path)
    }
}
