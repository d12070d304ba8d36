//! `credex pki …`: the federation PKI on disk — root and region CAs,
//! node, operator and authority certificates, revocation and CRLs — and
//! reading certificates back in plain words. The files are
//! [`credex_node::pki_files`]; the rules are in `credex_pki`.

use credex_pki::identity::GatewayRoles;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use credex_node::pki_files::{CaDir, lifetime};
use credex_pki::{KeyAlgorithm, Purpose};
use credex_protocol::{NodeName, RegionCode, Role};

// Key algorithm and validity of a certificate to issue (no doc comment:
// clap would take it as the help text of every command that flattens it).
#[derive(Args)]
pub struct KeyOpts {
    /// Key algorithm: ed25519, p256 or sm2. A root's sets the federation's
    /// crypto suite (sm2: sm2-sm3; otherwise ed25519-sha256); under sm2-sm3
    /// CAs, officers and authorities take sm2, and a node a TLS certificate
    /// with ed25519 plus a signing one with sm2 (its [tls] signing_cert and
    /// signing_key).
    #[arg(long, default_value = "ed25519")]
    alg: KeyAlgorithm,
    /// Validity in days (capped at the issuing CA's own end of validity).
    #[arg(long)]
    days: Option<u32>,
}

/// `credex pki key …`.
#[derive(Subcommand)]
pub enum KeyCommand {
    /// Generate a key pair inside a token; the private key never leaves
    /// it. Prints the public key and the `[tls] key` line to configure.
    New {
        /// The key's PKCS#11 URI:
        /// pkcs11:token=TOKEN;object=LABEL?module-path=LIBRARY[&pin-source=file:PIN_FILE]
        /// (the PIN from that file or CREDEX_PKCS11_PIN).
        #[arg(value_name = "PKCS11_URI")]
        key: String,
        /// Key algorithm: ed25519 (a node's TLS and log key) or p256.
        #[arg(long, default_value = "ed25519")]
        alg: KeyAlgorithm,
    },
    /// Show the algorithm and public key of a key inside a token.
    Show {
        /// The key's PKCS#11 URI.
        #[arg(value_name = "PKCS11_URI")]
        key: String,
    },
}

#[derive(Subcommand)]
pub enum PkiCommand {
    /// Create the federation root CA (the national trust anchor).
    InitRoot {
        /// Directory to create the CA in.
        #[arg(long)]
        dir: PathBuf,
        /// Common name of the root.
        #[arg(long, default_value = "credex federation root")]
        name: String,
        /// Keep the root's key in a hardware security module: the PKCS#11
        /// URI of a key made there with `credex pki key new` (no ca.key is
        /// written; ca.pkcs11 holds the URI).
        #[arg(long, value_name = "PKCS11_URI")]
        in_module: Option<String>,
        #[command(flatten)]
        key: KeyOpts,
    },
    /// Create a region CA, issued by the root.
    RegionCa {
        /// The root CA's directory.
        #[arg(long)]
        root: PathBuf,
        /// Six-digit GB/T 2260 region code (000000 = national platform).
        #[arg(long)]
        region: RegionCode,
        /// Directory to create the region CA in.
        #[arg(long)]
        dir: PathBuf,
        /// Keep the region CA's key in a hardware security module: the
        /// PKCS#11 URI of a key made there with `credex pki key new`.
        #[arg(long, value_name = "PKCS11_URI")]
        in_module: Option<String>,
        #[command(flatten)]
        key: KeyOpts,
    },
    /// Issue a node certificate (TLS client and server) from a region CA.
    Node {
        /// The region CA's directory.
        #[arg(long)]
        ca: PathBuf,
        /// Node name, e.g. gy-1.
        #[arg(long)]
        name: NodeName,
        /// DNS names (SANs); NAME.REGION.credex is always added.
        #[arg(long)]
        dns: Vec<String>,
        /// IP addresses (SANs).
        #[arg(long)]
        ip: Vec<IpAddr>,
        /// Output directory for NAME.pem and NAME.key.
        #[arg(long)]
        out: PathBuf,
        /// Certify a key inside a hardware security module instead of
        /// writing a key file: the PKCS#11 URI `[tls] key` names,
        /// pkcs11:token=TOKEN;object=LABEL?module-path=LIBRARY[&pin-source=file:PIN_FILE]
        /// (the PIN from that file or CREDEX_PKCS11_PIN; --alg is the
        /// key's own).
        #[arg(long, value_name = "PKCS11_URI")]
        in_module: Option<String>,
        #[command(flatten)]
        key: KeyOpts,
    },
    /// Keys inside a hardware security module (PKCS#11, e.g. SoftHSM2).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Issue an operator certificate for an accountable person.
    Operator {
        /// The region CA's directory.
        #[arg(long)]
        ca: PathBuf,
        /// Operator name, e.g. zhang-san.
        #[arg(long)]
        name: NodeName,
        /// requester, approver, auditor or admin.
        #[arg(long)]
        role: Role,
        /// Output directory for NAME.pem and NAME.key.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        key: KeyOpts,
    },
    /// Issue an authorization-authority certificate (signs subjects' authorizations).
    Authority {
        /// The region CA's directory.
        #[arg(long)]
        ca: PathBuf,
        /// Authority name, e.g. portal.
        #[arg(long)]
        name: NodeName,
        /// Output directory for NAME.pem and NAME.key.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        key: KeyOpts,
    },
    /// Issue a gateway client certificate for one of the region's own
    /// systems (the provincial credit platform, a business system), with
    /// the gateway roles it may use.
    Client {
        /// The region CA's directory.
        #[arg(long)]
        ca: PathBuf,
        /// The system's name, e.g. xinyidai.
        #[arg(long)]
        name: NodeName,
        /// Gateway roles, comma-separated: audit, check, events, feed,
        /// query, sar.
        #[arg(long, value_parser = parse_gateway_roles)]
        roles: GatewayRoles,
        /// Output directory for NAME.pem and NAME.key.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        key: KeyOpts,
    },
    /// Revoke a certificate issued by a CA and re-sign its CRL.
    Revoke {
        /// The issuing CA's directory.
        #[arg(long)]
        ca: PathBuf,
        /// The certificate file (PEM; its first certificate is revoked).
        cert: PathBuf,
    },
    /// Re-sign a CA's CRL (e.g. before it expires).
    Crl {
        /// The CA's directory.
        #[arg(long)]
        ca: PathBuf,
    },
    /// The federation's pseudonymization key ring (names natural persons).
    #[command(subcommand)]
    PseudonymKey(super::pseudonym::PseudonymKeyCommand),
    /// Show what certificates say, in plain words.
    Show {
        /// PEM files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Verify a certificate chain against the federation root and CRLs.
    Verify {
        /// The federation root certificate (PEM).
        #[arg(long)]
        root: PathBuf,
        /// CRL files (PEM).
        #[arg(long)]
        crl: Vec<PathBuf>,
        /// The certificate file: leaf first, then its region CA.
        cert: PathBuf,
    },
}

/// Run a `credex pki` subcommand.
pub fn pki(cmd: PkiCommand) -> Result<()> {
    match cmd {
        PkiCommand::InitRoot {
            dir,
            name,
            in_module,
            key,
        } => init_root(&dir, &name, in_module.as_deref(), &key),
        PkiCommand::RegionCa {
            root,
            region,
            dir,
            in_module,
            key,
        } => region_ca(root, region, &dir, in_module.as_deref(), &key),
        PkiCommand::Node {
            ca,
            name,
            dns,
            ip,
            out,
            in_module,
            key,
        } => match in_module {
            Some(uri) => issue_node_in_module(ca, &name, dns, &ip, &out, &uri, &key),
            None => issue_node(ca, &name, dns, &ip, &out, &key),
        },
        PkiCommand::Key(cmd) => module_key(cmd),
        PkiCommand::Operator {
            ca,
            name,
            role,
            out,
            key,
        } => {
            let files = CaDir::at(ca).issue_operator(
                &name,
                role,
                key.alg,
                key.days.unwrap_or(lifetime::LEAF_DAYS),
                &out,
            )?;
            print_issued(&files);
            Ok(())
        }
        PkiCommand::Authority { ca, name, out, key } => {
            let files = CaDir::at(ca).issue_authority(
                &name,
                key.alg,
                key.days.unwrap_or(lifetime::LEAF_DAYS),
                &out,
            )?;
            print_issued(&files);
            Ok(())
        }
        PkiCommand::Client {
            ca,
            name,
            roles,
            out,
            key,
        } => {
            let files = CaDir::at(ca).issue_client(
                &name,
                roles,
                key.alg,
                key.days.unwrap_or(lifetime::LEAF_DAYS),
                &out,
            )?;
            print_issued(&files);
            Ok(())
        }
        PkiCommand::Revoke { ca, cert } => revoke(ca, &cert),
        PkiCommand::Crl { ca } => {
            let path = CaDir::at(ca).write_crl()?;
            println!("CRL re-signed at {}", path.display());
            Ok(())
        }
        PkiCommand::PseudonymKey(cmd) => super::pseudonym::pseudonym_key(cmd),
        PkiCommand::Show { files } => show(&files),
        PkiCommand::Verify { root, crl, cert } => verify(&root, &crl, &cert),
    }
}

/// `credex pki init-root`: the federation root CA.
fn init_root(dir: &Path, name: &str, in_module: Option<&str>, key: &KeyOpts) -> Result<()> {
    let days = key.days.unwrap_or(lifetime::ROOT_DAYS);
    if let Some(uri) = in_module {
        CaDir::create_root_in_module(dir, name, uri, days)?;
        println!(
            "created federation root CA in {}, its key in the module: {uri}",
            dir.display()
        );
        return Ok(());
    }
    let ca = CaDir::create_root(dir, name, key.alg, days)?;
    println!(
        "created federation root CA in {} (keep {} offline)",
        dir.display(),
        ca.key_path().display()
    );
    Ok(())
}

/// `credex pki region-ca`: a region CA issued by the root.
fn region_ca(
    root: PathBuf,
    region: RegionCode,
    dir: &Path,
    in_module: Option<&str>,
    key: &KeyOpts,
) -> Result<()> {
    let days = key.days.unwrap_or(lifetime::REGION_CA_DAYS);
    match in_module {
        Some(uri) => {
            CaDir::at(root).create_region_in_module(region, dir, uri, days)?;
            println!(
                "created region CA {region} in {}, its key in the module: {uri}",
                dir.display()
            );
        }
        None => {
            CaDir::at(root).create_region(region, dir, key.alg, days)?;
            println!("created region CA {region} in {}", dir.display());
        }
    }
    Ok(())
}

/// `credex pki node`: a node certificate, its logical server name always
/// among its DNS names.
fn issue_node(
    ca: PathBuf,
    name: &NodeName,
    mut dns: Vec<String>,
    ip: &[IpAddr],
    out: &Path,
    key: &KeyOpts,
) -> Result<()> {
    let ca = CaDir::at(ca);
    node_dns_names(&ca, name, &mut dns)?;
    let files = ca.issue_node(
        name,
        &dns,
        ip,
        key.alg,
        key.days.unwrap_or(lifetime::LEAF_DAYS),
        out,
    )?;
    print_issued(&files);
    Ok(())
}

/// Put the node's logical server name first among its DNS names (a region
/// CA's region, the node's name).
fn node_dns_names(ca: &CaDir, name: &NodeName, dns: &mut Vec<String>) -> Result<()> {
    let region = ca
        .load()?
        .identity()
        .region()
        .context("the root cannot issue node certificates; use a region CA")?;
    let logical = credex_node::config::logical_server_name(region, name);
    if !dns.contains(&logical) {
        dns.insert(0, logical);
    }
    Ok(())
}

/// `credex pki node --in-module`: a node certificate for the public key
/// of a key in a hardware security module; no key file is written.
fn issue_node_in_module(
    ca: PathBuf,
    name: &NodeName,
    mut dns: Vec<String>,
    ip: &[IpAddr],
    out: &Path,
    uri: &str,
    key: &KeyOpts,
) -> Result<()> {
    let ca = CaDir::at(ca);
    node_dns_names(&ca, name, &mut dns)?;
    let module_key = credex_node::pki_files::module_key(uri, None)?;
    let held = credex_pki::HeldPublicKey::new(module_key.key_algorithm(), module_key.public_key())?;
    let (cert, identity) = ca.issue_node_for_key(
        name,
        &dns,
        ip,
        &held,
        key.days.unwrap_or(lifetime::LEAF_DAYS),
        out,
    )?;
    println!("issued {}", identity.describe());
    println!("  certificate chain: {}", cert.display());
    println!("  private key: {} (never leaves it)", module_key.location());
    println!("  configure: [tls] key = {uri:?}");
    Ok(())
}

/// `credex pki key …`: keys inside a hardware security module.
fn module_key(cmd: KeyCommand) -> Result<()> {
    let (uri, key) = match cmd {
        KeyCommand::New { key, alg } => {
            let made = credex_node::pki_files::module_key(&key, Some(alg))?;
            println!("generated {}; it never leaves the token", made.location());
            (key, made)
        }
        KeyCommand::Show { key } => {
            let found = credex_node::pki_files::module_key(&key, None)?;
            println!("{}", found.location());
            (key, found)
        }
    };
    println!("  algorithm: {}", key.key_algorithm());
    println!("  public key: {}", hex::encode(key.public_key()));
    println!("  configure: [tls] key = {uri:?}");
    Ok(())
}

/// `credex pki revoke`: revoke a certificate and re-sign the CA's CRL.
fn revoke(ca: PathBuf, cert: &Path) -> Result<()> {
    let ca = CaDir::at(ca);
    let identity = ca.revoke(cert)?;
    println!(
        "revoked {} (serial {}); CRL re-signed at {} — nodes pick it up at their next CRL check",
        identity.subject,
        identity.serial_hex(),
        ca.crl_path().display()
    );
    Ok(())
}

/// `credex pki show`: every certificate in the files, in plain words.
fn show(files: &[PathBuf]) -> Result<()> {
    for file in files {
        let text = std::fs::read_to_string(file).with_context(|| format!("{}", file.display()))?;
        let certs =
            credex_pki::certs_from_pem(&text).with_context(|| format!("{}", file.display()))?;
        if certs.is_empty() {
            bail!("{}: no CERTIFICATE section", file.display());
        }
        for (i, der) in certs.iter().enumerate() {
            let id = credex_pki::identity_from_der(der)
                .with_context(|| format!("{}: certificate {}", file.display(), i + 1))?;
            println!("{} [{}]: {}", file.display(), i + 1, id.describe());
        }
    }
    Ok(())
}

/// `credex pki verify`: the chain against the root and CRLs, for the
/// purpose its leaf serves.
fn verify(root: &Path, crl: &[PathBuf], cert: &Path) -> Result<()> {
    let store = super::log::trust(root, crl)?;
    let text = std::fs::read_to_string(cert).with_context(|| format!("{}", cert.display()))?;
    let certs = credex_pki::certs_from_pem(&text).with_context(|| format!("{}", cert.display()))?;
    let (leaf, rest) = certs
        .split_first()
        .with_context(|| format!("{}: no CERTIFICATE section", cert.display()))?;
    let id = credex_pki::identity_from_der(leaf)?;
    let purpose = match id.subject {
        credex_pki::Subject::Node { .. } => Purpose::TlsClient,
        _ => Purpose::Signing,
    };
    let verified = store
        .verify(leaf, rest, rustls_pki_types::UnixTime::now(), purpose)
        .with_context(|| format!("{}: does not verify", cert.display()))?;
    println!(
        "OK: {} issued by {}",
        verified.identity().subject,
        verified.issuer().subject
    );
    Ok(())
}

fn print_issued(files: &credex_node::pki_files::IssuedFiles) {
    println!("issued {}", files.identity.describe());
    println!("  certificate chain: {}", files.cert.display());
    println!("  private key (0600): {}", files.key.display());
}

fn parse_gateway_roles(text: &str) -> Result<GatewayRoles, String> {
    GatewayRoles::parse_list(text).map_err(|e| e.to_string())
}
