//! Two-person cross-region queries in the console (双人复核): a requester
//! (经办人) drafts and signs in their browser, a different officer with the
//! approver role (审核人) reviews the draft in their queue, signs and
//! sends; both see the answer, what was withheld and the log receipt.
//!
//! The rules are the gateway's ([`crate::gateway::queries::actions`]): the
//! same drafts, signatures checked as the responder will, and the same
//! store, so a query drafted by a region system can be approved here and
//! the reverse. The console adds who may do what: only requesters draft
//! and sign first, only approvers sign second, a signature must be the
//! signed-in officer's own, and each query says whether the officer may
//! sign it (`can_sign`: never their own draft — pki's rule 4 refuses it
//! anyway).

use axum::Extension;
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use credex_pki::Subject;
use credex_policies::Purpose;
use credex_protocol::Role;
use serde::{Deserialize, Serialize};

use super::guard::SignedIn;
use super::session::Officer;
use super::state::ConsoleState;
use crate::gateway::body::{JsonBody, QueryParams};
use crate::gateway::problem::{Problem, ProblemType};
use crate::gateway::queries::store::{HeldQuery, HeldState};
use crate::gateway::queries::{NewQuery, OfficerSignature, QueryState, QueryView, actions, view};

/// Most queries one list answers.
pub const LIST_LIMIT: usize = 100;

/// A query as the signed-in officer sees it.
#[derive(Debug, Serialize)]
pub struct ConsoleQuery {
    /// The query.
    #[serde(flatten)]
    pub query: QueryView,
    /// Whether this officer drafted it or signed it as requester.
    pub mine: bool,
    /// Whether this officer may sign it next.
    pub can_sign: bool,
}

impl ConsoleQuery {
    fn of(held: &HeldQuery, officer: &Officer) -> Self {
        let mine = same_person(&held.drafted_by, officer)
            || held
                .file
                .requester
                .as_ref()
                .and_then(|p| p.chain.first())
                .and_then(|leaf| credex_pki::identity_from_der(leaf).ok())
                .is_some_and(|id| same_person(&id.subject.to_uri(), officer));
        let can_sign = match held.state {
            HeldState::AwaitingRequester => officer.role() == Role::Requester,
            HeldState::AwaitingApprover => officer.role() == Role::Approver && !mine,
            _ => false,
        };
        ConsoleQuery {
            query: view::view(held),
            mine,
            can_sign,
        }
    }
}

/// Whether the identity `uri` names the same officer (region and name,
/// whatever the role) as `officer`.
fn same_person(uri: &str, officer: &Officer) -> bool {
    match (Subject::from_uri(uri), &officer.identity.subject) {
        (
            Ok(Subject::Operator { region, name, .. }),
            Subject::Operator {
                region: r, name: n, ..
            },
        ) => region == *r && name == *n,
        _ => false,
    }
}

fn require(officer: &Officer, roles: &[Role], operation: &str) -> Result<(), Problem> {
    if roles.contains(&officer.role()) {
        return Ok(());
    }
    let wanted: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    Err(Problem::new(
        ProblemType::RoleMissing,
        format!(
            "{operation} needs the role {}; you are signed in as {}",
            wanted.join(" or "),
            officer.role().as_str()
        ),
    ))
}

const QUERY_ROLES: &[Role] = &[Role::Requester, Role::Approver];

/// The query string of the list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only queries in this state.
    pub state: Option<QueryState>,
}

/// `GET /console/api/queries[?state=…]`: the newest queries (the
/// approvers' queue with `state=awaiting_approver`).
pub async fn list(
    Extension(state): Extension<ConsoleState>,
    SignedIn(session): SignedIn,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Json<Vec<ConsoleQuery>>, Problem> {
    require(&session.officer, QUERY_ROLES, "listing queries")?;
    let held = actions::list(state.node(), q.state).await?;
    Ok(Json(
        held.iter()
            .take(LIST_LIMIT)
            .map(|h| ConsoleQuery::of(h, &session.officer))
            .collect(),
    ))
}

/// `POST /console/api/queries`: a requester drafts a query; the page signs
/// `to_sign` next.
pub async fn create(
    Extension(state): Extension<ConsoleState>,
    SignedIn(session): SignedIn,
    JsonBody(new): JsonBody<NewQuery>,
) -> Result<(StatusCode, Json<ConsoleQuery>), Problem> {
    require(&session.officer, &[Role::Requester], "drafting a query")?;
    let held = actions::draft(state.node(), new, session.officer.uri()).await?;
    Ok((
        StatusCode::CREATED,
        Json(ConsoleQuery::of(&held, &session.officer)),
    ))
}

/// The query string of one query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShowQuery {
    /// Seconds to wait while it is being sent (0–30).
    pub wait: Option<u32>,
}

/// `GET /console/api/queries/{id}[?wait=…]`.
pub async fn show(
    Extension(state): Extension<ConsoleState>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<ShowQuery>,
) -> Result<Json<ConsoleQuery>, Problem> {
    require(&session.officer, QUERY_ROLES, "reading a query")?;
    let held = actions::show(state.node(), &id, q.wait.unwrap_or(0)).await?;
    Ok(Json(ConsoleQuery::of(&held, &session.officer)))
}

/// `POST /console/api/queries/{id}/signatures`: the signed-in officer's
/// own signature, made in their browser.
pub async fn sign(
    Extension(state): Extension<ConsoleState>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    JsonBody(signature): JsonBody<OfficerSignature>,
) -> Result<Json<ConsoleQuery>, Problem> {
    let officer = &session.officer;
    let held = actions::held(state.node(), &id).await?;
    let wanted = match held.state {
        HeldState::AwaitingRequester => Role::Requester,
        HeldState::AwaitingApprover => Role::Approver,
        _ => officer.role(),
    };
    require(officer, &[wanted], "this signature")?;
    let signer = signature
        .chain
        .first()
        .and_then(|c| STANDARD.decode(c.trim()).ok())
        .map(|der| credex_journal::sha256(&der));
    if signer != Some(officer.identity.fingerprint) {
        return Err(Problem::new(
            ProblemType::SignatureRefused,
            "the signature must be made with the signed-in officer's own certificate",
        )
        .at_field("/chain/0"));
    }
    let held = actions::add_signature(state.node(), &id, &signature).await?;
    Ok(Json(ConsoleQuery::of(&held, officer)))
}

/// What a query form offers.
#[derive(Debug, Serialize)]
pub struct QueryOptions {
    /// Regions this node can query (its configured peers), by code.
    pub regions: Vec<String>,
    /// Purposes a query may state.
    pub purposes: Vec<Named>,
    /// Catalogue categories, with their fields.
    pub categories: Vec<CategoryOption>,
}

/// A code with its Chinese and English names.
#[derive(Debug, Serialize)]
pub struct Named {
    /// The code.
    pub code: String,
    /// 中文名称.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
}

/// A catalogue category.
#[derive(Debug, Serialize)]
pub struct CategoryOption {
    /// The category.
    #[serde(flatten)]
    pub category: Named,
    /// Its fields.
    pub fields: Vec<Named>,
}

/// `GET /console/api/query-options`.
pub async fn options(
    Extension(state): Extension<ConsoleState>,
    SignedIn(session): SignedIn,
) -> Result<Json<QueryOptions>, Problem> {
    require(&session.officer, QUERY_ROLES, "the query form")?;
    let parts = state.node().parts();
    let mut regions: Vec<String> = parts
        .config
        .peers
        .iter()
        .map(|p| p.region.to_string())
        .filter(|r| *r != parts.config.region.to_string())
        .collect();
    regions.sort();
    regions.dedup();
    let purposes = Purpose::ALL
        .iter()
        .filter(|p| !matches!(p, Purpose::MutualRecognition | Purpose::UpwardReporting))
        .map(|p| Named {
            code: p.as_str().to_owned(),
            name_zh: p.name_zh().to_owned(),
            name_en: p.name_en().to_owned(),
        })
        .collect();
    let categories = parts
        .queries
        .policy()
        .catalogue()
        .categories()
        .map(|c| CategoryOption {
            category: Named {
                code: c.code.clone(),
                name_zh: c.name_zh.clone(),
                name_en: c.name_en.clone(),
            },
            fields: c
                .fields
                .iter()
                .map(|f| Named {
                    code: f.code.clone(),
                    name_zh: f.name_zh.clone(),
                    name_en: f.name_en.clone(),
                })
                .collect(),
        })
        .collect();
    Ok(Json(QueryOptions {
        regions,
        purposes,
        categories,
    }))
}
