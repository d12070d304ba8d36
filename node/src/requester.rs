//! The requesting side of a query (申请方): draft a request, have it signed
//! by a requester and countersigned by a different approver, send it,
//! verify the signed response, and log both sides of the exchange.
//!
//! Drafts travel between the two officers as files ([`QueryFile`]), so the
//! two signatures can be made on different machines.

use std::path::Path;
use std::time::SystemTime;

use credex_pki::authorization::{
    approve_request, query_digest, sign_request, sign_subject_authorization, verify_response,
};
use credex_pki::signing::SigningKey;
use credex_pki::{CertIdentity, Subject};
use credex_protocol::query::{
    AuthorizedQuery, CategoryFields, QueryRequest, QueryResponse, SignedSubjectAuthorization,
    SignerProof, SubjectAuthorization, SubjectRef,
};
use credex_protocol::{NodeName, RegionCode, Response, Role};
use serde::{Deserialize, Serialize};

use crate::query::unix_ms;
use crate::storage::Storage;
use crate::transport::{ClientError, PeerConnection};
use credex_journal::{AccessEntry, Direction};

/// Errors of the requester's tools. Each says which file or step failed.
#[derive(Debug, thiserror::Error)]
pub enum RequesterError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file's contents are not what was expected.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// The signer's certificate does not hold the role this step needs.
    #[error("{path}: {found} cannot {step}; it needs an operator certificate with the {role} role")]
    WrongRole {
        /// The certificate file.
        path: String,
        /// What it is.
        found: String,
        /// The step.
        step: &'static str,
        /// The role needed.
        role: Role,
    },
    /// Signing failed.
    #[error("signing: {0}")]
    Sign(#[from] credex_pki::authorization::SignProofError),
    /// The draft is not ready for this step.
    #[error("{0}")]
    NotReady(String),
    /// A message could not be encoded (what is named, and why).
    #[error("cannot encode {what}: {source}")]
    Encode {
        /// The message.
        what: &'static str,
        /// Why.
        source: credex_protocol::FrameError,
    },
    /// Talking to the peer failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The response does not verify.
    #[error("the response does not verify: {0}")]
    BadResponse(#[from] credex_pki::authorization::ResponseError),
    /// The responder's log receipt does not verify: it did not prove it logged the access.
    #[error("the responder's log receipt does not verify: {0}")]
    Receipt(#[from] crate::log::ReceiptError),
    /// Logging failed.
    #[error("logging the query: {0}")]
    Storage(#[from] crate::storage::StorageError),
    /// The person the approver was given is not the one the draft asks about.
    #[error("{0}")]
    SubjectMismatch(String),
}

fn invalid(path: &Path, reason: impl std::fmt::Display) -> RequesterError {
    RequesterError::Invalid {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// An officer's or authority's certificate chain and key, loaded from PEM files.
pub struct Signer {
    /// Leaf first, then region CA, DER.
    pub chain: Vec<Vec<u8>>,
    /// The private key.
    pub key: SigningKey,
    /// The identity the leaf names.
    pub identity: CertIdentity,
    path: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("identity", &self.identity.subject)
            .finish()
    }
}

impl Signer {
    /// Load a certificate chain file and its key file.
    pub fn load(cert: &Path, key: &Path) -> Result<Signer, RequesterError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|source| RequesterError::Io {
                path: p.display().to_string(),
                source,
            })
        };
        let certs = credex_pki::certs_from_pem(&read(cert)?).map_err(|e| invalid(cert, e))?;
        let leaf = certs
            .first()
            .ok_or_else(|| invalid(cert, "no CERTIFICATE section"))?;
        let identity = credex_pki::identity_from_der(leaf).map_err(|e| invalid(cert, e))?;
        let key_pem = read(key)?;
        let signing = SigningKey::from_pkcs8_pem(&key_pem).map_err(|e| invalid(key, e))?;
        signing
            .check_matches_certificate(leaf)
            .map_err(|e| invalid(key, format!("does not match {}: {e}", cert.display())))?;
        Ok(Signer {
            chain: certs.iter().map(|c| c.to_vec()).collect(),
            key: signing,
            identity,
            path: cert.display().to_string(),
        })
    }

    fn require(&self, role: Role, step: &'static str) -> Result<(), RequesterError> {
        match &self.identity.subject {
            Subject::Operator { role: r, .. } if *r == role => Ok(()),
            other => Err(RequesterError::WrongRole {
                path: self.path.clone(),
                found: other.to_string(),
                step,
                role,
            }),
        }
    }
}

/// A query on its way through the two officers, as kept in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryFile {
    /// The request.
    pub request: QueryRequest,
    /// The requester's signature, once made.
    pub requester: Option<SignerProof>,
    /// The approver's countersignature, once made.
    pub approver: Option<SignerProof>,
    /// The subject's authorization, if attached.
    pub subject_authorization: Option<SignedSubjectAuthorization>,
    /// What the approver needs to know whom and why (never sent).
    pub case: Option<CaseNote>,
}

/// What the requester tells the approver about a query, beside the signed
/// request: the case it serves and, for a natural person, the masked ID.
/// Kept in the draft only; it never leaves the node. The approver's tool
/// does not trust the masked ID: it recomputes the pseudonym from the clear
/// ID the approver was given ([`confirm_subject`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseNote {
    /// The case or file reference the query serves (案件或业务编号).
    pub reference: String,
    /// A natural person's citizen ID, masked (first 4 and last 4 characters).
    pub masked_subject: Option<String>,
}

const QUERY_FILE_MAGIC: &[u8] = b"credex-query/2\n";
const AUTHORIZATION_FILE_MAGIC: &[u8] = b"credex-authorization/1\n";

fn write_tagged<T: Serialize>(path: &Path, magic: &[u8], value: &T) -> Result<(), RequesterError> {
    let mut bytes = magic.to_vec();
    bytes.extend(credex_protocol::encode(value).map_err(|e| invalid(path, e))?);
    crate::file_modes::write_private(path, &bytes).map_err(|source| RequesterError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn read_tagged<T: serde::de::DeserializeOwned>(
    path: &Path,
    magic: &[u8],
    what: &str,
) -> Result<T, RequesterError> {
    let bytes = std::fs::read(path).map_err(|source| RequesterError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let body = bytes
        .strip_prefix(magic)
        .ok_or_else(|| invalid(path, format!("not a credex {what} file")))?;
    credex_protocol::decode(body).map_err(|e| invalid(path, e))
}

impl QueryFile {
    /// Write the draft.
    pub fn save(&self, path: &Path) -> Result<(), RequesterError> {
        write_tagged(path, QUERY_FILE_MAGIC, self)
    }

    /// Read a draft.
    pub fn load(path: &Path) -> Result<QueryFile, RequesterError> {
        read_tagged(path, QUERY_FILE_MAGIC, "query")
    }

    /// The complete bundle, once both officers signed.
    pub fn authorized(&self) -> Result<AuthorizedQuery, RequesterError> {
        match (&self.requester, &self.approver) {
            (Some(requester), Some(approver)) => Ok(AuthorizedQuery {
                request: self.request.clone(),
                requester: requester.clone(),
                approver: approver.clone(),
                subject_authorization: self.subject_authorization.clone(),
            }),
            (None, _) => Err(RequesterError::NotReady("the query has not been signed by a requester".into())),
            (_, None) => Err(RequesterError::NotReady(
                "the query has not been approved: a different officer with the approver role must run `credex query approve`".into(),
            )),
        }
    }

    /// The request described in plain words, for the approver to read before signing.
    pub fn describe(&self) -> String {
        let r = &self.request;
        let mut s = format!(
            "query {} from {}/{} to region {}\n  purpose: {}\n  subject: {}\n",
            hex::encode(r.request_id),
            r.requester_region,
            r.requester_node,
            r.target_region,
            r.purpose,
            match &r.subject {
                SubjectRef::LegalPerson(code) => format!("legal person {code}"),
                SubjectRef::NaturalPerson(p) => format!(
                    "natural person {} (pseudonym of epoch {}; check it against the case file with --subject-id)",
                    self.case
                        .as_ref()
                        .and_then(|c| c.masked_subject.as_deref())
                        .unwrap_or("whose masked ID the draft does not give"),
                    p.epoch
                ),
            }
        );
        if let Some(case) = &self.case {
            s.push_str(&format!("  case: {}\n", case.reference));
        }
        for c in &r.requested {
            s.push_str(&format!("  asks {}: {}\n", c.category, c.fields.join(", ")));
        }
        if let Some(b) = &r.legal_basis {
            s.push_str(&format!("  legal basis: {b}\n"));
        }
        if let Some(a) = &self.subject_authorization {
            s.push_str(&format!(
                "  subject authorization {} for {} (purposes {}; categories {}; up to {} uses)\n",
                hex::encode(a.authorization.authorization_id),
                a.authorization.grantee_region,
                a.authorization.purposes.join(", "),
                a.authorization.categories.join(", "),
                a.authorization.max_uses
            ));
        }
        s.push_str(&format!(
            "  signed by requester: {}; approved: {}\n",
            if self.requester.is_some() {
                "yes"
            } else {
                "no"
            },
            if self.approver.is_some() { "yes" } else { "no" }
        ));
        s
    }
}

/// Write a signed subject authorization to a file.
pub fn save_authorization(
    a: &SignedSubjectAuthorization,
    path: &Path,
) -> Result<(), RequesterError> {
    write_tagged(path, AUTHORIZATION_FILE_MAGIC, a)
}

/// Read a signed subject authorization file.
pub fn load_authorization(path: &Path) -> Result<SignedSubjectAuthorization, RequesterError> {
    authorization_from_bytes(
        &std::fs::read(path).map_err(|source| RequesterError::Io {
            path: path.display().to_string(),
            source,
        })?,
        path,
    )
}

/// Read an authorization from the bytes of a file [`save_authorization`]
/// wrote (`origin` names them in errors).
pub fn authorization_from_bytes(
    bytes: &[u8],
    origin: &Path,
) -> Result<SignedSubjectAuthorization, RequesterError> {
    let body = bytes
        .strip_prefix(AUTHORIZATION_FILE_MAGIC)
        .ok_or_else(|| invalid(origin, "not a credex authorization file"))?;
    credex_protocol::decode(body).map_err(|e| invalid(origin, e))
}

pub use crate::ids::random_id;

/// What a requester asks.
#[derive(Debug, Clone)]
pub struct QuerySpec {
    /// The region asked.
    pub target_region: RegionCode,
    /// Who the query is about.
    pub subject: SubjectRef,
    /// Purpose code.
    pub purpose: String,
    /// Categories and fields.
    pub requested: Vec<CategoryFields>,
    /// A legal basis cited instead of an authorization.
    pub legal_basis: Option<String>,
    /// The subject's authorization.
    pub subject_authorization: Option<SignedSubjectAuthorization>,
}

/// Draft a request on behalf of node `node` of `region`: a fresh request id
/// and nonce, issued now. Nobody has signed it yet.
pub fn draft_request(
    region: RegionCode,
    node: NodeName,
    spec: &QuerySpec,
    now: SystemTime,
) -> Result<QueryRequest, RequesterError> {
    Ok(QueryRequest {
        request_id: random_id(),
        requester_region: region,
        requester_node: node,
        target_region: spec.target_region,
        subject: spec.subject.clone(),
        purpose: spec.purpose.clone(),
        requested: spec.requested.clone(),
        legal_basis: spec.legal_basis.clone(),
        subject_authorization_digest: spec
            .subject_authorization
            .as_ref()
            .map(SignedSubjectAuthorization::digest)
            .transpose()
            .map_err(|source| RequesterError::Encode {
                what: "the subject authorization",
                source,
            })?,
        nonce: random_id(),
        issued_at_ms: unix_ms(now),
    })
}

/// Draft and sign a request as `requester` (who must hold the requester role)
/// on behalf of node `node` of `region`.
pub fn draft_and_sign(
    region: RegionCode,
    node: NodeName,
    spec: QuerySpec,
    requester: &Signer,
    now: SystemTime,
) -> Result<QueryFile, RequesterError> {
    requester.require(Role::Requester, "sign a request")?;
    let request = draft_request(region, node, &spec, now)?;
    let proof = sign_request(&request, &requester.key, requester.chain.clone())?;
    Ok(QueryFile {
        request,
        requester: Some(proof),
        approver: None,
        subject_authorization: spec.subject_authorization,
        case: None,
    })
}

/// The approver's check that a draft about a natural person is about the
/// person in the case file: the pseudonym recomputed from `citizen_id` under
/// the draft's epoch with `ring` must be the one the requester signed for.
/// A draft about a legal person needs no such check (its USCC is shown in
/// clear) and passes.
pub fn confirm_subject(
    file: &QueryFile,
    citizen_id: &str,
    ring: &credex_pki::PseudonymKeyRing,
) -> Result<(), RequesterError> {
    let SubjectRef::NaturalPerson(signed) = &file.request.subject else {
        return Ok(());
    };
    let id = credex_policies::CitizenId::parse(citizen_id.trim())
        .map_err(|e| RequesterError::SubjectMismatch(format!("--subject-id: {e}")))?;
    let recomputed = ring
        .pseudonym_at(signed.epoch, id.expose())
        .map_err(|e| RequesterError::SubjectMismatch(format!("--subject-id: {e}")))?;
    if recomputed != *signed {
        return Err(RequesterError::SubjectMismatch(format!(
            "the draft asks about another person than {}: do not approve it",
            id.masked()
        )));
    }
    Ok(())
}

/// Countersign as `approver`, who must hold the approver role and be
/// another person than the requester (the responder checks this too).
pub fn approve(file: &mut QueryFile, approver: &Signer) -> Result<(), RequesterError> {
    approver.require(Role::Approver, "approve a request")?;
    let requester = file.requester.as_ref().ok_or_else(|| {
        RequesterError::NotReady("the query has no requester signature to approve".into())
    })?;
    file.approver = Some(approve_request(
        &file.request,
        requester,
        &approver.key,
        approver.chain.clone(),
    )?);
    Ok(())
}

/// Sign a data subject's electronic authorization as an authority.
pub fn issue_authorization(
    authority: &Signer,
    authorization: SubjectAuthorization,
) -> Result<SignedSubjectAuthorization, RequesterError> {
    let Subject::Authority { region, .. } = authority.identity.subject else {
        return Err(invalid(
            Path::new(&authority.path),
            format!(
                "{} is not an authorization authority certificate",
                authority.identity.subject
            ),
        ));
    };
    if region == authorization.grantee_region {
        // Every responder would refuse it (decision 0640): say so now.
        return Err(invalid(
            Path::new(&authority.path),
            format!(
                "an authority of region {region} cannot vouch for consent to region {region}'s own \
                 queries; the data owner's authority or the national platform's must sign"
            ),
        ));
    }
    Ok(sign_subject_authorization(
        authorization,
        &authority.key,
        authority.chain.clone(),
    )?)
}

/// Send `query` over `conn`, verify the signed response against `trust`,
/// and log the exchange in `storage` (durably, before returning).
///
/// Three entries at most: a [`QueryIntent`](credex_journal::QueryIntent) durably
/// before the query leaves; then the sent [`AccessEntry`] with the
/// responder's receipt, or a [`QueryNoAnswer`](credex_journal::QueryNoAnswer) when
/// no verified answer came (the error is returned either way). So a
/// release the responder logged always has its query in this log.
/// Not cancel-safe: a cancelled call leaves the intent without its end,
/// which the auditor reads as "no answer".
pub async fn send(
    conn: &PeerConnection,
    trust: &credex_pki::TrustStore,
    storage: &Storage,
    query: &AuthorizedQuery,
) -> Result<QueryResponse, RequesterError> {
    let digest = query_digest(query)?;
    log_intent(storage, query, digest).await?;
    match exchange(conn, trust, storage, query, digest).await {
        Ok(response) => Ok(response),
        Err(e) => {
            let no_answer = credex_journal::QueryNoAnswer {
                version: credex_journal::ENTRY_VERSION,
                at_ms: storage.clock().now_ms(),
                query_digest: digest,
                reason: crate::federation::truncate(
                    e.to_string(),
                    credex_journal::MAX_NO_ANSWER_REASON,
                ),
            };
            if let Err(log_err) = storage.append_entry(&no_answer).await {
                tracing::warn!(error = %log_err, "cannot log that a query got no answer");
            }
            Err(e)
        }
    }
}

async fn log_intent(
    storage: &Storage,
    query: &AuthorizedQuery,
    digest: [u8; 32],
) -> Result<(), RequesterError> {
    let intent = credex_journal::QueryIntent {
        version: credex_journal::ENTRY_VERSION,
        at_ms: storage.clock().now_ms(),
        query_digest: digest,
        request_id: query.request.request_id,
        responder_region: query.request.target_region,
        purpose: query.request.purpose.clone(),
        subject_digest: credex_journal::subject_digest(&query.request.subject),
    };
    storage.append_entry(&intent).await?;
    Ok(())
}

/// The round trip of [`send`] after the intent is logged: ask, verify,
/// log the answer.
async fn exchange(
    conn: &PeerConnection,
    trust: &credex_pki::TrustStore,
    storage: &Storage,
    query: &AuthorizedQuery,
    digest: [u8; 32],
) -> Result<QueryResponse, RequesterError> {
    let response = match conn.query(query).await? {
        Response::Query(r) => *r,
        other => {
            return Err(RequesterError::Client(ClientError::Unexpected {
                request: "query",
                response: format!("{other:?}").chars().take(200).collect(),
            }));
        }
    };
    // The node's clock, as for every entry this flow writes.
    let now_ms = storage.clock().now_ms();
    let unix = credex_flows::calendar::unix_time(now_ms);
    verify_response(&response, trust, unix, conn.peer().region, digest)?;
    let responder_cert = response
        .responder
        .chain
        .first()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let counterpart = crate::log::verify_receipt(&response, responder_cert, digest)?;
    let response_digest =
        credex_protocol::encoding_sha256(&response).map_err(|source| RequesterError::Encode {
            what: "the response",
            source,
        })?;
    let officer = |p: &SignerProof| {
        p.chain
            .first()
            .and_then(|c| trust.with_identity_of(c, crate::query::officer_of).ok())
    };
    let entry = AccessEntry {
        version: credex_journal::ENTRY_VERSION,
        direction: Direction::Sent,
        at_ms: now_ms,
        query_digest: digest,
        request_id: query.request.request_id,
        requester_region: query.request.requester_region,
        requester_node: query.request.requester_node.clone(),
        requester_officer: officer(&query.requester),
        approver_officer: officer(&query.approver),
        responder_region: response.body.responder_region,
        subject_digest: credex_journal::subject_digest(&query.request.subject),
        purpose: query.request.purpose.clone(),
        legal_basis: query.request.legal_basis.clone(),
        subject_authorization_id: query
            .subject_authorization
            .as_ref()
            .map(|a| a.authorization.authorization_id),
        requested: query.request.requested.clone(),
        released: response.body.released.clone(),
        withheld: response.body.withheld.clone(),
        outcome: response.body.outcome,
        reason: response.body.reason,
        policy_hash: response.body.policy_hash,
        response_digest: Some(response_digest),
        counterpart: Some(counterpart),
    };
    storage.append_entry(&entry).await?;
    Ok(response)
}
