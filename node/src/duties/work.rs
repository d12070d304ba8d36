//! What the process holding the region's duties runs (decision 1020):
//! outbox delivery, the upward reporter, the correction sweep, answers to
//! other regions' access-report requests and the objection watch, each on
//! a federation whose writes are fenced by the lease's token.
//!
//! Owns: which tasks are duties. Does not own the lease (`super`) or the
//! tasks themselves (their flows' modules).

use credex_policies::Catalogue;

use super::Start;
use crate::boot::StartError;
use crate::config::NodeConfig;
use crate::federation::Federation;
use crate::subject_access::SubjectAccessFederation;

/// The duties of the node of `config`. Their configuration is loaded now,
/// so that a bad one stops the start.
pub fn region_duties(
    federation: &Federation,
    config: &NodeConfig,
    catalogue: &Catalogue,
    subject_access: SubjectAccessFederation,
) -> Result<Start, StartError> {
    let federation = federation.clone();
    let reporter = crate::upward::node_reporter(&federation, config, catalogue)?;
    let copies = crate::rights::RecordCases::for_node(federation.clone(), config)?;
    let watch = crate::lists::objection_watch_for(&federation, config, catalogue)?;
    // Every write of the duties is fenced by the lease's token: once
    // another process took them, it fails here.
    Ok(Box::new(move |tasks, stop, fence| {
        let federation = federation.fenced(fence);
        federation.spawn_delivery(tasks, stop.clone());
        if let Some(reporter) = &reporter {
            let reporter = std::sync::Arc::new(reporter.fenced(fence));
            crate::upward::spawn_reporter(reporter, tasks, stop.clone());
        }
        crate::corrections::spawn_sweep(&federation, copies.fenced(fence), tasks, stop.clone());
        crate::subject_access::spawn_answers(subject_access.fenced(fence), tasks, stop.clone());
        let (lists, cases) = &watch;
        crate::lists::spawn_objection_watch(
            (lists.fenced(fence), cases.fenced(fence)),
            tasks,
            stop,
        );
    }))
}
