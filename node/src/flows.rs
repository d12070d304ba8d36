//! Which federation flows a node takes part in: each flow registers its
//! handler with the node's [`Federation`] here, at start.
//!
//! One line per flow, so flows are added without touching the node's
//! start-up code.

use credex_policies::PolicySet;

use crate::boot::StartError;
use crate::config::NodeConfig;
use crate::federation::Federation;

/// Register every flow's handler with `federation`, for the node of
/// `config` running `policy` (loaded once, at start).
pub fn register(
    federation: &Federation,
    config: &NodeConfig,
    policy: &PolicySet,
) -> Result<(), StartError> {
    crate::eval::register(federation, config)?;
    crate::lists::register(federation, config, policy.catalogue())?;
    crate::upward::register(federation, config, policy.catalogue())?;
    crate::rights::register(federation, config)?;
    Ok(())
}
