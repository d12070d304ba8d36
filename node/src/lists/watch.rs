//! The case watch: a task that reports missed deadlines of cases about
//! list entries ([`Lists::report_overdue`]) and about records
//! (`RecordCases::report_overdue`) at start and every
//! [`OBJECTION_WATCH_EVERY`] after, until shutdown.

use std::time::Duration;

use credex_policies::Catalogue;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Lists, ListsPolicy};
use crate::boot::StartError;
use crate::config::NodeConfig;
use crate::federation::Federation;

/// How often the watch looks. Deadlines are days; ten minutes late is
/// nothing, and a look is one scan of the objections.
pub const OBJECTION_WATCH_EVERY: Duration = Duration::from_secs(600);

/// Start the objection watch of the node of `config`.
pub fn spawn_objection_watch(
    (lists, records): (Lists, crate::rights::RecordCases),
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) {
    tracker.spawn(async move {
        let mut tick = tokio::time::interval(OBJECTION_WATCH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let now = lists.federation().now_ms();
            match lists.report_overdue(now).await {
                Ok(found) if !found.is_empty() => {
                    tracing::warn!(count = found.len(), "objection deadlines missed");
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "objection watch failed; trying again later"),
            }
            match records.report_overdue(now).await {
                Ok(found) if !found.is_empty() => {
                    tracing::warn!(
                        count = found.len(),
                        "deadlines of cases about records missed"
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "record case watch failed; trying again later")
                }
            }
        }
    });
}

/// What the objection watch watches, loaded now so that a bad rights or
/// lists configuration stops the start.
pub fn objection_watch_for(
    federation: &Federation,
    config: &NodeConfig,
    catalogue: &Catalogue,
) -> Result<(Lists, crate::rights::RecordCases), StartError> {
    let lists = Lists::new(
        federation.clone(),
        ListsPolicy::with_catalogue(config, catalogue)?,
    );
    let records = crate::rights::RecordCases::for_node(federation.clone(), config)?;
    Ok((lists, records))
}
