//! Queries in progress at the gateway, kept in the node's flow state
//! (namespace `gateway.queries`, keyed by request id) so a draft survives a
//! restart and both officers may sign from different systems.

use credex_protocol::query::QueryResponse;
use serde::{Deserialize, Serialize};

use super::model::QueryState;
use crate::requester::QueryFile;
use crate::storage::{StateWrite, Storage, StorageError};

/// The state namespace.
pub const NAMESPACE: &str = "gateway.queries";

/// A query as kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeldQuery {
    /// The draft and the signatures made so far.
    pub file: QueryFile,
    /// Where it stands.
    pub state: HeldState,
    /// The system that drafted it (`urn:credex:client:…`).
    pub drafted_by: String,
    /// The answer, once it came.
    pub response: Option<QueryResponse>,
    /// Why no answer came.
    pub failure: Option<String>,
}

/// [`QueryState`] as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeldState {
    /// Index 0.
    AwaitingRequester,
    /// Index 1.
    AwaitingApprover,
    /// Index 2.
    Sending,
    /// Index 3.
    Answered,
    /// Index 4.
    Failed,
}

impl From<HeldState> for QueryState {
    fn from(s: HeldState) -> Self {
        match s {
            HeldState::AwaitingRequester => QueryState::AwaitingRequester,
            HeldState::AwaitingApprover => QueryState::AwaitingApprover,
            HeldState::Sending => QueryState::Sending,
            HeldState::Answered => QueryState::Answered,
            HeldState::Failed => QueryState::Failed,
        }
    }
}

/// The key of a query: its request id, hex.
pub fn key(request_id: &[u8; 16]) -> String {
    hex::encode(request_id)
}

/// Read the query with id `id` (hex), if held.
pub async fn load(storage: &Storage, id: &str) -> Result<Option<HeldQuery>, StorageError> {
    let Some(bytes) = storage.state(NAMESPACE, id).await? else {
        return Ok(None);
    };
    credex_protocol::decode(&bytes)
        .map(Some)
        .map_err(|e| StorageError::InvalidState {
            reason: format!("gateway query {id}: {e}"),
        })
}

/// Keep `query` (durably, before returning).
pub async fn save(storage: &Storage, query: &HeldQuery) -> Result<(), StorageError> {
    let bytes = credex_protocol::encode(query).map_err(|e| StorageError::InvalidState {
        reason: format!("gateway query: {e}"),
    })?;
    storage
        .write_state(vec![StateWrite::put(
            NAMESPACE,
            key(&query.file.request.request_id),
            bytes,
        )])
        .await
}
