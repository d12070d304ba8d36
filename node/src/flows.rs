//! Which federation flows a node takes part in: each flow registers its
//! handler with the node's [`Federation`] here, at start.
//!
//! One line per flow, so flows are added without touching the node's
//! start-up code.

use crate::config::NodeConfig;
use crate::federation::Federation;
use crate::service::StartError;

/// Register every flow's handler with `federation`.
pub fn register(federation: &Federation, config: &NodeConfig) -> Result<(), StartError> {
    crate::eval::register(federation, config)?;
    crate::lists::register(federation, config)?;
    crate::upward::register(federation, config)?;
    Ok(())
}
