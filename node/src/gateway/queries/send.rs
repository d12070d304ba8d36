//! Sending an approved query: in the background, as `credex query send`
//! does — the intent logged before it leaves, the answer verified and
//! logged with the responder's receipt, or "no answer" logged — and the
//! outcome kept with the query for the systems polling it.

use super::store::{self, HeldState};
use crate::gateway::state::GatewayState;

/// Send the approved query `id` on the gateway's task tracker.
pub fn spawn(state: GatewayState, id: String) {
    let tracker = state.parts().tracker.clone();
    tracker.spawn(async move {
        if let Err(e) = run(&state, &id).await {
            tracing::error!(query = %id, error = %e, "gateway query: outcome not stored");
        }
    });
}

async fn run(state: &GatewayState, id: &str) -> Result<(), crate::storage::StorageError> {
    let storage = state.storage();
    let Some(mut held) = store::load(storage, id).await? else {
        return Ok(());
    };
    let context = state.parts().federation.context();
    let outcome = match held.file.authorized() {
        Err(e) => Err(e.to_string()),
        Ok(query) => match context.peers.connection(query.request.target_region).await {
            Err(e) => {
                // Nothing left: no intent was logged, nothing to answer.
                Err(format!(
                    "region {} not reachable: {e}",
                    query.request.target_region
                ))
            }
            Ok(conn) => crate::requester::send(&conn, &context.trust.current(), storage, &query)
                .await
                .map_err(|e| e.to_string()),
        },
    };
    match outcome {
        Ok(response) => {
            tracing::info!(query = %id, outcome = ?response.body.outcome, "gateway query answered");
            held.state = HeldState::Answered;
            held.response = Some(response);
        }
        Err(reason) => {
            tracing::warn!(query = %id, %reason, "gateway query got no answer");
            held.state = HeldState::Failed;
            held.failure = Some(reason);
        }
    }
    store::save(storage, &held).await
}
