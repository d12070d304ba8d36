//! Receiving lists messages from other regions: the node drives the pure
//! flow [`credex_flows::lists::Lists`] (a new listing held, a change
//! applied and its confirmation queued, feedback, a change confirmation
//! and an objection recorded at the origin): the federation reads the
//! state the flow names and hands it the time and the trust store.
//!
//! Owns: the flow's registration. Does not own the decisions
//! (`credex_flows::lists`) nor the operator's side ([`super::service`]).

use std::sync::Arc;

use crate::boot::StartError;
use crate::config::NodeConfig;
use crate::federation::Federation;

use super::policy::ListsPolicy;

/// Register the lists flow with `federation`: the agreements beside the
/// configuration, the shipped measures catalogue, and `catalogue` (the
/// node's policy's, loaded at start).
pub fn register(
    federation: &Federation,
    config: &NodeConfig,
    catalogue: &credex_policies::Catalogue,
) -> Result<(), StartError> {
    let policy = ListsPolicy::with_catalogue(config, catalogue)?;
    federation.register(Arc::new(policy.flow(federation.context().region)));
    Ok(())
}
