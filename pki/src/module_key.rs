//! Keys in a hardware security module, through PKCS#11 (decision 1090).
//!
//! A [`ModuleKey`] is a private key that never leaves its token: it is
//! found by the token's label and the key's label (CKA_LABEL), and every
//! signature is made by the module (CKM_EDDSA for Ed25519, CKM_ECDSA over
//! a SHA-256 digest for P-256). The node uses one for its TLS handshakes,
//! its message signatures ([`SigningKey::in_device`](crate::signing::SigningKey::in_device))
//! and its log's checkpoints; `credex pki key new` makes one inside the
//! token with [`ModuleKey::generate`]. It is a
//! [`DeviceKey`](crate::signing::DeviceKey): what signs through it does
//! not know it is PKCS#11.
//!
//! # Sessions and threads
//!
//! A PKCS#11 library is initialised once per process and stays loaded:
//! [`ModuleKey::open`] keeps one handle per module path for the life of
//! the process, since a second `C_Initialize` fails and a `C_Finalize`
//! would close every other key's sessions. A key holds one session behind
//! a mutex (cryptoki's `Session` is `Send`, not `Sync`); signatures by one
//! key are made one at a time. When the module reports the session gone
//! (a token reset, a logout), the key opens a new one, logs in again with
//! the PIN it keeps, and retries the signature once.
//!
//! # What it does not do
//!
//! It does not read PIN files or configuration: the PIN comes in as a
//! value ([`Pin`]). It does not speak GM/T 0018 (SDF); an SDF cipher
//! machine plugs in beside this module as another `DeviceKey`
//! (decision 1090). This module is the one place in `credex-pki` that
//! loads a shared library; it exists only with the `pkcs11` feature.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, MutexGuard};

use credex_protocol::SignatureAlgorithm;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use ring::rand::SecureRandom as _;

use crate::KeyAlgorithm;
use crate::signing::{DeviceError, DeviceKey};

/// DER of the Ed25519 curve OID (1.3.101.112), as CKA_EC_PARAMS.
const EC_PARAMS_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// DER of the P-256 curve OID (1.2.840.10045.3.1.7), as CKA_EC_PARAMS.
const EC_PARAMS_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// The printable-string form some modules report for Ed25519.
const EC_PARAMS_ED25519_NAME: &[u8] = b"\x13\x0cedwards25519";

/// A user PIN. `Debug` does not print it; it is zeroed when dropped.
pub struct Pin(AuthPin);

impl Pin {
    /// The PIN `text` (as read from a PIN file or the environment, without
    /// its line end).
    pub fn new(text: String) -> Pin {
        Pin(AuthPin::from(text))
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(redacted)")
    }
}

/// Where a key is: a module (the PKCS#11 library's path), a token label
/// and the key's label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleKeyRef {
    /// The PKCS#11 library, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The token's label (CKA_LABEL of the token, `token=` in a URI).
    pub token: String,
    /// The key's label (`object=` in a URI).
    pub label: String,
}

impl fmt::Display for ModuleKeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "key {:?} in token {:?} of {}",
            self.label,
            self.token,
            self.module.display()
        )
    }
}

/// Why a key in a module could not be opened, generated or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModuleError {
    /// The PKCS#11 library could not be loaded or initialised.
    #[error("cannot load the PKCS#11 module {}: {reason}", module.display())]
    Load {
        /// The library's path.
        module: PathBuf,
        /// What the loader or C_Initialize said.
        reason: String,
    },
    /// No initialised token carries this label.
    #[error(
        "the PKCS#11 module {} has no token labelled {token:?} (tokens: {})",
        module.display(),
        if present.is_empty() { "none".to_owned() } else { present.join(", ") }
    )]
    NoToken {
        /// The library's path.
        module: PathBuf,
        /// The label asked for.
        token: String,
        /// The labels of the tokens it has.
        present: Vec<String>,
    },
    /// The token refused the PIN.
    #[error("token {token:?} refused the PIN (wrong PIN)")]
    WrongPin {
        /// The token's label.
        token: String,
    },
    /// The token's user PIN is locked after too many wrong attempts.
    #[error("token {token:?}: the user PIN is locked; its security officer must reset it")]
    PinLocked {
        /// The token's label.
        token: String,
    },
    /// The token holds no private key with this label.
    #[error("token {token:?} holds no private key labelled {label:?}")]
    NoKey {
        /// The token's label.
        token: String,
        /// The key's label.
        label: String,
    },
    /// More than one private key carries this label.
    #[error("token {token:?} holds {count} private keys labelled {label:?}; labels must be unique")]
    SeveralKeys {
        /// The token's label.
        token: String,
        /// The key's label.
        label: String,
        /// How many.
        count: usize,
    },
    /// The key has no public-key object beside it to read its public key
    /// from.
    #[error("token {token:?} holds no public key labelled {label:?} beside the private key")]
    NoPublicKey {
        /// The token's label.
        token: String,
        /// The key's label.
        label: String,
    },
    /// The key is not an Ed25519 or P-256 key.
    #[error("key {label:?} in token {token:?} is {what}; expected Ed25519 or ECDSA P-256")]
    UnsupportedKey {
        /// The token's label.
        token: String,
        /// The key's label.
        label: String,
        /// What it is.
        what: String,
    },
    /// [`ModuleKey::generate`] found a key with this label already.
    #[error("token {token:?} already holds an object labelled {label:?}; choose another label")]
    LabelTaken {
        /// The token's label.
        token: String,
        /// The key's label.
        label: String,
    },
    /// The algorithm cannot be generated in a module (SM2 needs a vendor
    /// mechanism or a GM/T 0018 device, decision 1090).
    #[error("{0} keys cannot be made through PKCS#11 here; use ed25519 or p256")]
    UnsupportedAlgorithm(KeyAlgorithm),
    /// Any other failure of the module.
    #[error("PKCS#11 {operation} failed: {reason}")]
    Device {
        /// What credex asked of the module.
        operation: &'static str,
        /// What the module said.
        reason: String,
    },
}

/// One PKCS#11 library per path for the life of the process.
static MODULES: LazyLock<Mutex<HashMap<PathBuf, Pkcs11>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves nothing half-written here:
    // the map and the session are usable as they are.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The loaded, initialised library at `path`.
fn module(path: &Path) -> Result<Pkcs11, ModuleError> {
    let mut modules = lock(&MODULES);
    if let Some(m) = modules.get(path) {
        return Ok(m.clone());
    }
    let load = |reason: String| ModuleError::Load {
        module: path.to_owned(),
        reason,
    };
    if !path.is_file() {
        return Err(load("no such file".to_owned()));
    }
    let pkcs11 = Pkcs11::new(path).map_err(|e| load(e.to_string()))?;
    match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(load(e.to_string())),
    }
    modules.insert(path.to_owned(), pkcs11.clone());
    Ok(pkcs11)
}

fn device(operation: &'static str) -> impl Fn(CkError) -> ModuleError {
    move |e| ModuleError::Device {
        operation,
        reason: e.to_string(),
    }
}

/// The slot of the token labelled `token`.
fn find_token(pkcs11: &Pkcs11, at: &ModuleKeyRef) -> Result<Slot, ModuleError> {
    let slots = pkcs11
        .get_slots_with_initialized_token()
        .map_err(device("C_GetSlotList"))?;
    let mut present = Vec::new();
    for slot in slots {
        let info = pkcs11
            .get_token_info(slot)
            .map_err(device("C_GetTokenInfo"))?;
        let label = info.label().trim_end();
        if label == at.token {
            return Ok(slot);
        }
        present.push(format!("{label:?}"));
    }
    Err(ModuleError::NoToken {
        module: at.module.clone(),
        token: at.token.clone(),
        present,
    })
}

/// Log the user in on `session` (the login holds for every session of
/// the application on that token).
fn login(session: &Session, token: &str, pin: &Pin) -> Result<(), ModuleError> {
    match session.login(UserType::User, Some(&pin.0)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid, _)) => {
            Err(ModuleError::WrongPin {
                token: token.to_owned(),
            })
        }
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(ModuleError::PinLocked {
            token: token.to_owned(),
        }),
        Err(e) => Err(device("C_Login")(e)),
    }
}

/// An open, logged-in session and the key's handle in it.
struct Open {
    session: Session,
    key: ObjectHandle,
}

/// A private key inside a PKCS#11 token. `Debug` names it and its public
/// key; the key itself cannot leave the token.
pub struct ModuleKey {
    at: ModuleKeyRef,
    slot: Slot,
    pin: Pin,
    pkcs11: Pkcs11,
    algorithm: SignatureAlgorithm,
    /// 32 bytes (Ed25519) or an uncompressed SEC1 point (P-256).
    public: Vec<u8>,
    open: Mutex<Open>,
}

impl fmt::Debug for ModuleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModuleKey")
            .field("at", &self.at.to_string())
            .field("algorithm", &self.algorithm)
            .field("public_key", &hex::encode(&self.public))
            .finish_non_exhaustive()
    }
}

impl ModuleKey {
    /// Open the private key labelled `at.label` in the token `at.token` of
    /// the module `at.module`, logging in with `pin`.
    pub fn open(at: &ModuleKeyRef, pin: Pin) -> Result<ModuleKey, ModuleError> {
        let pkcs11 = module(&at.module)?;
        let slot = find_token(&pkcs11, at)?;
        let session = pkcs11
            .open_ro_session(slot)
            .map_err(device("C_OpenSession"))?;
        login(&session, &at.token, &pin)?;
        let key = find_private_key(&session, at)?;
        let (algorithm, public) = read_public_key(&session, at, key)?;
        Ok(ModuleKey {
            at: at.clone(),
            slot,
            pin,
            pkcs11,
            algorithm,
            public,
            open: Mutex::new(Open { session, key }),
        })
    }

    /// Generate a new `alg` key pair inside the token, labelled `at.label`
    /// (both halves; the private half sensitive and not extractable), and
    /// open it. Refuses a label already in use.
    pub fn generate(
        at: &ModuleKeyRef,
        pin: Pin,
        alg: KeyAlgorithm,
    ) -> Result<ModuleKey, ModuleError> {
        let (mechanism, params) = match alg {
            KeyAlgorithm::Ed25519 => (Mechanism::EccEdwardsKeyPairGen, EC_PARAMS_ED25519),
            KeyAlgorithm::EcdsaP256 => (Mechanism::EccKeyPairGen, EC_PARAMS_P256),
            KeyAlgorithm::Sm2 => return Err(ModuleError::UnsupportedAlgorithm(alg)),
        };
        let pkcs11 = module(&at.module)?;
        let slot = find_token(&pkcs11, at)?;
        let session = pkcs11
            .open_rw_session(slot)
            .map_err(device("C_OpenSession"))?;
        login(&session, &at.token, &pin)?;
        let label = at.label.as_bytes().to_vec();
        let taken = session
            .find_objects(&[Attribute::Label(label.clone())])
            .map_err(device("C_FindObjects"))?;
        if !taken.is_empty() {
            return Err(ModuleError::LabelTaken {
                token: at.token.clone(),
                label: at.label.clone(),
            });
        }
        let mut id = [0u8; 16];
        ring::rand::SystemRandom::new()
            .fill(&mut id)
            .map_err(|_| ModuleError::Device {
                operation: "key id",
                reason: "the system random number generator failed".to_owned(),
            })?;
        let public = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::Label(label.clone()),
            Attribute::Id(id.to_vec()),
            Attribute::EcParams(params.to_vec()),
        ];
        let private = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Label(label),
            Attribute::Id(id.to_vec()),
        ];
        session
            .generate_key_pair(&mechanism, &public, &private)
            .map_err(device("C_GenerateKeyPair"))?;
        drop(session);
        ModuleKey::open(at, pin)
    }

    /// Where the key is.
    pub fn location(&self) -> &ModuleKeyRef {
        &self.at
    }

    /// The algorithm its signatures carry (Ed25519 or ECDSA P-256).
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    /// The raw public key: 32 bytes (Ed25519), or the uncompressed SEC1
    /// point (P-256), as a certificate's subjectPublicKey holds it.
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }

    /// The key algorithm, as certificates are issued for it.
    pub fn key_algorithm(&self) -> KeyAlgorithm {
        match self.algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => KeyAlgorithm::EcdsaP256,
            _ => KeyAlgorithm::Ed25519,
        }
    }

    /// Sign `message` in the token: a 64-byte Ed25519 signature (RFC
    /// 8032, pure), or an ECDSA P-256 signature over its SHA-256 digest,
    /// DER-encoded as X.509 and TLS carry it. Blocks while another thread
    /// signs with this key.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, ModuleError> {
        let mut open = lock(&self.open);
        match self.sign_in(&open, message) {
            Err(CkError::Pkcs11(
                RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::UserNotLoggedIn
                | RvError::ObjectHandleInvalid
                | RvError::KeyHandleInvalid
                | RvError::DeviceRemoved,
                _,
            )) => {
                *open = self.reopen()?;
                self.sign_in(&open, message).map_err(device("C_Sign"))
            }
            other => other.map_err(device("C_Sign")),
        }
    }

    fn sign_in(&self, open: &Open, message: &[u8]) -> Result<Vec<u8>, CkError> {
        match self.algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => {
                let digest = ring::digest::digest(&ring::digest::SHA256, message);
                let raw = open
                    .session
                    .sign(&Mechanism::Ecdsa, open.key, digest.as_ref())?;
                ecdsa_der(&raw).ok_or(CkError::InvalidValue)
            }
            _ => open.session.sign(
                &Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                open.key,
                message,
            ),
        }
    }

    /// A new session, logged in, and the key found again in it.
    fn reopen(&self) -> Result<Open, ModuleError> {
        let session = self
            .pkcs11
            .open_ro_session(self.slot)
            .map_err(device("C_OpenSession"))?;
        login(&session, &self.at.token, &self.pin)?;
        let key = find_private_key(&session, &self.at)?;
        Ok(Open { session, key })
    }
}

impl DeviceKey for ModuleKey {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn public_key(&self) -> &[u8] {
        &self.public
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, DeviceError> {
        ModuleKey::sign(self, message).map_err(|e| DeviceError(e.to_string()))
    }

    fn location(&self) -> String {
        self.at.to_string()
    }
}

fn find_private_key(session: &Session, at: &ModuleKeyRef) -> Result<ObjectHandle, ModuleError> {
    let found = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(at.label.as_bytes().to_vec()),
        ])
        .map_err(device("C_FindObjects"))?;
    match found.as_slice() {
        [key] => Ok(*key),
        [] => Err(ModuleError::NoKey {
            token: at.token.clone(),
            label: at.label.clone(),
        }),
        several => Err(ModuleError::SeveralKeys {
            token: at.token.clone(),
            label: at.label.clone(),
            count: several.len(),
        }),
    }
}

/// The key's algorithm (from the private key's type and curve) and its
/// public key (from the public-key object of the same label).
fn read_public_key(
    session: &Session,
    at: &ModuleKeyRef,
    private: ObjectHandle,
) -> Result<(SignatureAlgorithm, Vec<u8>), ModuleError> {
    let unsupported = |what: String| ModuleError::UnsupportedKey {
        token: at.token.clone(),
        label: at.label.clone(),
        what,
    };
    let attrs = session
        .get_attributes(private, &[AttributeType::KeyType, AttributeType::EcParams])
        .map_err(device("C_GetAttributeValue"))?;
    let mut key_type = None;
    let mut params = None;
    for a in attrs {
        match a {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::EcParams(p) => params = Some(p),
            _ => {}
        }
    }
    let (algorithm, raw_len) = match (key_type, params.as_deref()) {
        (Some(t), Some(p))
            if t == KeyType::EC_EDWARDS
                && (p == EC_PARAMS_ED25519 || p == EC_PARAMS_ED25519_NAME) =>
        {
            (SignatureAlgorithm::Ed25519, 32)
        }
        (Some(t), Some(p)) if t == KeyType::EC && p == EC_PARAMS_P256 => {
            (SignatureAlgorithm::EcdsaP256Sha256, 65)
        }
        (Some(t), p) => {
            return Err(unsupported(format!(
                "of key type {t} with curve parameters {}",
                p.map(hex::encode).unwrap_or_else(|| "none".to_owned())
            )));
        }
        (None, _) => return Err(unsupported("of unknown key type".to_owned())),
    };
    let public = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Label(at.label.as_bytes().to_vec()),
        ])
        .map_err(device("C_FindObjects"))?;
    let [public] = public.as_slice() else {
        return Err(ModuleError::NoPublicKey {
            token: at.token.clone(),
            label: at.label.clone(),
        });
    };
    let point = session
        .get_attributes(*public, &[AttributeType::EcPoint])
        .map_err(device("C_GetAttributeValue"))?
        .into_iter()
        .find_map(|a| match a {
            Attribute::EcPoint(p) => Some(p),
            _ => None,
        })
        .ok_or_else(|| unsupported("without a CKA_EC_POINT".to_owned()))?;
    let raw = unwrap_ec_point(&point, raw_len)
        .ok_or_else(|| unsupported(format!("with a {}-byte CKA_EC_POINT", point.len())))?;
    Ok((algorithm, raw))
}

/// CKA_EC_POINT is a DER OCTET STRING holding the point; some modules
/// give the bare point. `raw_len` is the bare point's length.
fn unwrap_ec_point(point: &[u8], raw_len: usize) -> Option<Vec<u8>> {
    if point.len() == raw_len {
        return Some(point.to_vec());
    }
    match point {
        [0x04, len, rest @ ..] if usize::from(*len) == raw_len && rest.len() == raw_len => {
            Some(rest.to_vec())
        }
        _ => None,
    }
}

/// PKCS#11's ECDSA signature `r || s` (32 bytes each) as DER
/// `SEQUENCE { INTEGER r, INTEGER s }`.
fn ecdsa_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() != 64 {
        return None;
    }
    let integer = |bytes: &[u8]| {
        let trimmed = match bytes.iter().position(|&b| b != 0) {
            Some(i) => &bytes[i..],
            None => &bytes[bytes.len() - 1..],
        };
        let mut out = vec![0x02];
        if trimmed[0] & 0x80 != 0 {
            out.push(trimmed.len() as u8 + 1);
            out.push(0);
        } else {
            out.push(trimmed.len() as u8);
        }
        out.extend_from_slice(trimmed);
        out
    };
    let (r, s) = raw.split_at(32);
    let body = [integer(r), integer(s)].concat();
    let mut der = vec![0x30, body.len() as u8];
    der.extend_from_slice(&body);
    Some(der)
}

/// Why a `pkcs11:` URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// It does not start with `pkcs11:`.
    #[error("not a PKCS#11 URI (RFC 7512): it must start with \"pkcs11:\"")]
    NotPkcs11,
    /// A required attribute is missing.
    #[error("the PKCS#11 URI names no {0}")]
    Missing(&'static str),
    /// An attribute credex does not use (it would select keys credex
    /// cannot tell apart).
    #[error(
        "the PKCS#11 URI attribute {0:?} is not supported (use token, object, type=private, module-path, pin-source)"
    )]
    Unsupported(String),
    /// The PIN is written in the URI (and so in the configuration file).
    #[error(
        "the PKCS#11 URI carries the PIN (pin-value); name a PIN file with pin-source=file:PATH (mode 0600) or set CREDEX_PKCS11_PIN instead"
    )]
    PinInUri,
    /// An attribute is repeated, empty or badly percent-encoded.
    #[error("the PKCS#11 URI attribute {0:?} is repeated, empty or badly percent-encoded")]
    Malformed(String),
}

/// A key named by an RFC 7512 PKCS#11 URI, as the node's configuration
/// writes it: `pkcs11:token=T;object=L?module-path=/path/lib.so` with an
/// optional `&pin-source=file:/path` (or a bare path). `type=private` is
/// allowed; other attributes, and `pin-value`, are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// The module, token and label.
    pub key: ModuleKeyRef,
    /// `pin-source`, when given: a file holding the PIN.
    pub pin_file: Option<PathBuf>,
}

impl Pkcs11Uri {
    /// Whether `text` is meant as a PKCS#11 URI (and not a file path).
    pub fn is_uri(text: &str) -> bool {
        text.starts_with("pkcs11:")
    }

    /// Parse `text`.
    pub fn parse(text: &str) -> Result<Pkcs11Uri, UriError> {
        let rest = text.strip_prefix("pkcs11:").ok_or(UriError::NotPkcs11)?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (mut token, mut object, mut module, mut pin) = (None, None, None, None);
        let attrs = path
            .split(';')
            .map(|a| (a, false))
            .chain(query.split('&').map(|a| (a, true)))
            .filter(|(a, _)| !a.is_empty());
        for (attr, in_query) in attrs {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| UriError::Malformed(attr.to_owned()))?;
            let value = percent_decode(value)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| UriError::Malformed(name.to_owned()))?;
            let slot = match (name, in_query) {
                ("token", false) => &mut token,
                ("object", false) => &mut object,
                ("type", false) if value == "private" => continue,
                ("module-path", true) => &mut module,
                ("pin-source", true) => &mut pin,
                ("pin-value", true) => return Err(UriError::PinInUri),
                _ => return Err(UriError::Unsupported(name.to_owned())),
            };
            if slot.replace(value).is_some() {
                return Err(UriError::Malformed(name.to_owned()));
            }
        }
        let pin_file = pin.map(|p| PathBuf::from(p.strip_prefix("file:").unwrap_or(&p)));
        Ok(Pkcs11Uri {
            key: ModuleKeyRef {
                module: PathBuf::from(module.ok_or(UriError::Missing("module-path"))?),
                token: token.ok_or(UriError::Missing("token"))?,
                label: object.ok_or(UriError::Missing("object"))?,
            },
            pin_file,
        })
    }
}

/// RFC 3986 percent-decoding into UTF-8; `None` on a bad escape.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn uri_names_module_token_label_and_pin_file() {
        let uri = Pkcs11Uri::parse(
            "pkcs11:token=credex-gz;object=gz-1;type=private\
             ?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/credex/gz.pin",
        )
        .unwrap();
        assert_eq!(uri.key.token, "credex-gz");
        assert_eq!(uri.key.label, "gz-1");
        assert_eq!(
            uri.key.module,
            PathBuf::from("/usr/lib/softhsm/libsofthsm2.so")
        );
        assert_eq!(uri.pin_file, Some(PathBuf::from("/etc/credex/gz.pin")));
        let spaced =
            Pkcs11Uri::parse("pkcs11:token=my%20token;object=k?module-path=/m.so").unwrap();
        assert_eq!(spaced.key.token, "my token");
        assert_eq!(spaced.pin_file, None);
    }

    #[test]
    fn uri_refuses_pin_value_and_unknown_or_missing_attributes() {
        let base = "pkcs11:token=t;object=k?module-path=/m.so";
        assert_eq!(
            Pkcs11Uri::parse(&format!("{base}&pin-value=1234")),
            Err(UriError::PinInUri)
        );
        assert_eq!(
            Pkcs11Uri::parse("pkcs11:token=t;object=k;id=%01?module-path=/m.so"),
            Err(UriError::Unsupported("id".into()))
        );
        assert_eq!(
            Pkcs11Uri::parse("pkcs11:token=t?module-path=/m.so"),
            Err(UriError::Missing("object"))
        );
        assert_eq!(
            Pkcs11Uri::parse("pkcs11:token=t;object=k"),
            Err(UriError::Missing("module-path"))
        );
        assert_eq!(Pkcs11Uri::parse("/etc/k.pem"), Err(UriError::NotPkcs11));
        assert!(matches!(
            Pkcs11Uri::parse("pkcs11:token=t;token=u;object=k?module-path=/m.so"),
            Err(UriError::Malformed(_))
        ));
    }

    #[test]
    fn ecdsa_raw_signature_becomes_der() {
        let mut raw = [0u8; 64];
        raw[0] = 0x80; // r needs a leading zero
        raw[63] = 1; // s is 1
        let der = ecdsa_der(&raw).unwrap();
        assert_eq!(&der[..5], &[0x30, 2 + 33 + 3, 0x02, 33, 0x00]);
        assert_eq!(&der[der.len() - 3..], &[0x02, 1, 1]);
        assert_eq!(ecdsa_der(&raw[..63]), None);
    }

    #[test]
    fn ec_point_is_unwrapped_from_its_octet_string() {
        let bare = [7u8; 32];
        let mut wrapped = vec![0x04, 32];
        wrapped.extend_from_slice(&bare);
        assert_eq!(unwrap_ec_point(&wrapped, 32).unwrap(), bare);
        assert_eq!(unwrap_ec_point(&bare, 32).unwrap(), bare);
        assert_eq!(unwrap_ec_point(&wrapped[..20], 32), None);
    }
}
