//! The checks across exported logs, once each is loaded (`crate::load`):
//! every access matched between requester and responder, each receipt
//! against the history of the log that signed it; every checkpoint one node
//! witnessed of another's log against that log (a fork shown to different
//! peers is caught); and what each log is anchored by in the end.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use credex_journal::{AccessEntry, Direction};
use credex_protocol::query::Outcome;
use credex_protocol::tlog::{Checkpoint, Note, open_checkpoint};
use credex_protocol::{NodeName, RegionCode};

use crate::load::LoadedLog;
use crate::tiles::{DirTiles, read_bounded};
use crate::verify::{Auditor, Violation};

/// A finding of the access cross-match: (log, entry index, rule, detail,
/// query digest).
type Found = (String, u64, &'static str, String, Option<[u8; 32]>);

/// Match every access between its requester's and its responder's logs.
pub(crate) fn cross_match(auditor: &mut Auditor<'_>, logs: &[LoadedLog]) {
    let accesses = Accesses::index(logs);
    let mut found = Vec::new();
    for log in logs {
        for (i, e) in &log.accesses {
            match e.direction {
                Direction::Sent => accesses.match_sent(log, *i, e, &mut found),
                Direction::Received => accesses.match_received(
                    log,
                    *i,
                    e,
                    &mut found,
                    &mut auditor.report.answers_lost,
                ),
            }
        }
    }
    for (log, i, rule, detail, digest) in found {
        auditor.report.violations.push(Violation {
            log,
            index: Some(i),
            rule,
            detail,
            access: digest.map(hex::encode),
        });
    }
}

/// Every exported log's accesses, indexed for matching one side with the
/// other.
struct Accesses<'a> {
    logs: &'a [LoadedLog],
    /// Received: origin → leaf index → entry (a replayed query is logged
    /// twice under one digest, so the index is the key).
    received: HashMap<&'a str, BTreeMap<u64, &'a AccessEntry>>,
    /// Sent: origin → query digests.
    sent: HashMap<&'a str, BTreeSet<[u8; 32]>>,
    /// The origin of each exported node's log.
    by_node: HashMap<(RegionCode, &'a NodeName), &'a str>,
}

impl<'a> Accesses<'a> {
    fn index(logs: &'a [LoadedLog]) -> Self {
        let mut accesses = Accesses {
            logs,
            received: HashMap::new(),
            sent: HashMap::new(),
            by_node: HashMap::new(),
        };
        for log in logs {
            accesses
                .by_node
                .insert((log.region, &log.node), &log.origin);
            for (i, e) in &log.accesses {
                match e.direction {
                    Direction::Received => {
                        accesses
                            .received
                            .entry(&log.origin)
                            .or_default()
                            .insert(*i, e);
                    }
                    Direction::Sent => {
                        accesses
                            .sent
                            .entry(&log.origin)
                            .or_default()
                            .insert(e.query_digest);
                    }
                }
            }
        }
        accesses
    }

    /// A sent access with a receipt: the responder's log must still hold
    /// the history the receipt pins, and the access at the entry it names.
    fn match_sent(&self, log: &LoadedLog, i: u64, e: &AccessEntry, found: &mut Vec<Found>) {
        let Some(cp) = &e.counterpart else { return };
        let Some(responder) = self.logs.iter().find(|l| l.origin == cp.origin) else {
            return;
        };
        // The receipt pins the responder's history: its log's
        // prefix of the receipt's size must hash to the receipt's root.
        if cp.checkpoint_size <= responder.size {
            match DirTiles(&responder.dir).prefix_root(responder.size, cp.checkpoint_size) {
                Ok(h) if *h.as_bytes() == cp.checkpoint_root => {}
                _ => found.push((cp.origin.clone(), cp.leaf_index, "fork", format!("the first {} entries of this log do not hash to the root it signed in a receipt held by {}: the log was rewritten after the fact", cp.checkpoint_size, log.origin), None)),
            }
        } else {
            found.push((
                cp.origin.clone(),
                cp.leaf_index,
                "log_truncated",
                format!(
                    "{} holds a receipt for a tree of {} entries, but this log has only {}",
                    log.origin, cp.checkpoint_size, responder.size
                ),
                None,
            ));
        }
        match self.received.get(cp.origin.as_str()).and_then(|m| m.get(&cp.leaf_index)) {
            Some(r) if r.query_digest == e.query_digest && r.outcome == e.outcome && r.reason == e.reason => {}
            Some(_) => found.push((log.origin.clone(), i, "cross_match", format!("the responder {}'s entry {} is not this access (digest, outcome or reason differ), though its receipt named it", cp.origin, cp.leaf_index), Some(e.query_digest))),
            None => found.push((log.origin.clone(), i, "access_missing_at_responder", format!("access {} is in the requester's log with a receipt from {}, but the responder's log does not contain it at entry {}", hex::encode(&e.query_digest[..8]), cp.origin, cp.leaf_index), Some(e.query_digest))),
        }
    }

    /// A received access that released data: the requester's log must hold
    /// the query as sent, or at least as about to be sent (then the answer
    /// was lost on the way back, and its digest goes to `answers_lost`).
    fn match_received(
        &self,
        log: &LoadedLog,
        i: u64,
        e: &AccessEntry,
        found: &mut Vec<Found>,
        answers_lost: &mut Vec<String>,
    ) {
        if e.outcome == Outcome::Denied {
            return;
        }
        let Some(requester_origin) = self.by_node.get(&(e.requester_region, &e.requester_node))
        else {
            return;
        };
        let answered = self
            .sent
            .get(requester_origin)
            .is_some_and(|m| m.contains(&e.query_digest));
        let intended = self
            .logs
            .iter()
            .find(|l| l.origin == *requester_origin)
            .is_some_and(|l| l.intents.contains(&e.query_digest));
        if !answered && intended {
            // Asked and logged as asked; the answer was lost.
            answers_lost.push(hex::encode(e.query_digest));
        } else if !answered {
            found.push((
                log.origin.clone(),
                i,
                "access_missing_at_requester",
                format!(
                    "access {} released data to {}, whose log has no such query (not even as sent and unanswered)",
                    hex::encode(&e.query_digest[..8]),
                    requester_origin
                ),
                Some(e.query_digest),
            ));
        }
    }
}

/// Every checkpoint of a log that another node witnessed must be a prefix of
/// that log: a log that showed different histories to different peers
/// (a fork) is caught here.
pub(crate) fn check_witnessed(auditor: &mut Auditor<'_>, logs: &mut [LoadedLog]) {
    let mut found = Vec::new();
    let mut vouched: Vec<(usize, String, u64)> = Vec::new();
    for witness in logs.iter() {
        let Ok(list) = std::fs::read_dir(witness.dir.join("witnessed")) else {
            continue;
        };
        for item in list.flatten() {
            let Ok(bytes) = read_bounded(&item.path()) else {
                continue;
            };
            let Ok(note) = Note::parse(&bytes) else {
                continue;
            };
            let Ok(claimed) = Checkpoint::parse(note.text()) else {
                continue;
            };
            let Some(at) = logs.iter().position(|l| l.origin == claimed.origin()) else {
                continue;
            };
            let log = &logs[at];
            // Only a checkpoint the log itself signed can convict it.
            let Ok(signed) = open_checkpoint(&bytes, &log.key, &[]) else {
                found.push((
                    witness.origin.clone(),
                    "witnessed_unsigned",
                    format!(
                        "witnessed/{} is not signed by {}",
                        item.file_name().to_string_lossy(),
                        log.origin
                    ),
                ));
                continue;
            };
            let cp = signed.checkpoint();
            if cp.size() > log.size {
                found.push((
                    log.origin.clone(),
                    "fork",
                    format!(
                        "{} witnessed a checkpoint of {} entries, but the exported log has only {}",
                        witness.origin,
                        cp.size(),
                        log.size
                    ),
                ));
                continue;
            }
            match DirTiles(&log.dir).prefix_root(log.size, cp.size()) {
                Ok(h) if h == *cp.root() => vouched.push((at, witness.origin.clone(), cp.size())),
                _ => found.push((log.origin.clone(), "fork", format!("{} witnessed a checkpoint of size {} with root {}, which is not this log's history: the log showed different histories to different peers", witness.origin, cp.size(), cp.root().to_hex()))),
            }
        }
    }
    for (log, rule, detail) in found {
        auditor.violation(&log, None, rule, detail);
    }
    for (at, witness, size) in vouched {
        logs[at].vouches.witnessed(&witness, size);
    }
}

/// Each log's anchor into its summary; a log nothing vouches for, and a
/// pinned checkpoint no exported log signed, are violations.
pub(crate) fn anchor_logs(auditor: &mut Auditor<'_>, logs: &[LoadedLog]) {
    for log in logs {
        let anchor = log.vouches.anchor(auditor.options.quorum);
        if anchor.is_none() && log.size > 0 {
            auditor.violation(
                &log.origin,
                None,
                "log_not_anchored",
                format!(
                    "no checkpoint of this log carries cosignatures of {} witness(es), no other export \
                     witnessed it and no pinned checkpoint covers it: its operator could have rewritten it \
                     (export the witnesses' logs too, or pass --pinned with a checkpoint from an earlier audit)",
                    auditor.options.quorum
                ),
            );
        }
        if let Some(summary) = auditor
            .report
            .logs
            .iter_mut()
            .find(|s| s.origin == log.origin)
        {
            summary.unanchored_entries =
                log.size - anchor.as_ref().map_or(0, |a| a.size.min(log.size));
            summary.witnesses_at_latest = if log.size == 0 {
                Vec::new()
            } else {
                log.vouches.at_least(log.size)
            };
            summary.anchor = anchor;
        }
    }
    for (source, bytes) in &auditor.options.pinned {
        let origin = Note::parse(bytes)
            .ok()
            .and_then(|n| Checkpoint::parse(n.text()).ok())
            .map(|c| c.origin().to_owned());
        let signed_by_an_exported_log = logs.iter().any(|l| {
            Some(&l.origin) == origin.as_ref() && open_checkpoint(bytes, &l.key, &[]).is_ok()
        });
        if !signed_by_an_exported_log {
            auditor.violation(
                source,
                None,
                "pinned_checkpoint_unmatched",
                format!(
                    "the pinned checkpoint {source} is not signed by any exported log ({})",
                    origin.unwrap_or_else(|| "unreadable".into())
                ),
            );
        }
    }
}
