//! Crowded windows: runs of time-ordered accesses in which some window of
//! a given length holds at least a given number of distinct keys (officers
//! on one subject, subjects in one company group). Rules 3 and 4 share it.

use std::collections::BTreeMap;
use std::ops::Range;

use super::access::Seen;

/// A crowded run of accesses of one group.
pub(crate) struct Run<'s, 'a> {
    /// The accesses in it, in time order.
    pub(crate) accesses: Vec<&'s Seen<'a>>,
    /// Distinct keys among them.
    pub(crate) distinct: usize,
}

/// A group's (time, key) items and its accesses, in time order.
type Group<'s, 'a, K> = (Vec<(i64, K)>, Vec<&'s Seen<'a>>);

/// The crowded runs of each group: `key` puts an access of `seen`
/// (time-ordered) in a group and gives its key there (or leaves it out);
/// a run is one of [`crowded`] in the group's accesses. In group order,
/// then time.
pub(crate) fn crowded_groups<'s, 'a, G: Ord + Copy, K: Ord>(
    seen: &'s [Seen<'a>],
    key: impl Fn(&'s Seen<'a>) -> Option<(G, K)>,
    min_distinct: usize,
    window_ms: i64,
) -> Vec<(G, Run<'s, 'a>)> {
    let mut groups: BTreeMap<G, Group<'s, 'a, K>> = BTreeMap::new();
    for s in seen {
        if let Some((group, k)) = key(s) {
            let (items, accesses) = groups.entry(group).or_default();
            items.push((s.at_ms(), k));
            accesses.push(s);
        }
    }
    let mut runs = Vec::new();
    for (group, (items, accesses)) in &groups {
        for run in crowded(items, min_distinct, window_ms) {
            runs.push((
                *group,
                Run {
                    distinct: distinct(&items[run.clone()]),
                    accesses: accesses[run].to_vec(),
                },
            ));
        }
    }
    runs
}

/// The runs of `items` (sorted by time, each a time and a key) in which
/// some window — items less than `window_ms` apart — holds at least
/// `min_distinct` distinct keys. Windows that share an item are one run,
/// so a long episode is reported once; the ranges index `items`, are in
/// order and do not overlap.
pub(crate) fn crowded<K: Ord>(
    items: &[(i64, K)],
    min_distinct: usize,
    window_ms: i64,
) -> Vec<Range<usize>> {
    let mut runs: Vec<Range<usize>> = Vec::new();
    let mut counts: BTreeMap<&K, usize> = BTreeMap::new();
    let mut start = 0;
    for (end, (t, key)) in items.iter().enumerate() {
        *counts.entry(key).or_insert(0) += 1;
        while let Some((t0, k0)) = items.get(start) {
            if t - t0 < window_ms {
                break;
            }
            if let Some(n) = counts.get_mut(k0) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(k0);
                }
            }
            start += 1;
        }
        if counts.len() < min_distinct.max(1) {
            continue;
        }
        match runs.last_mut() {
            Some(run) if run.end > start => run.end = end + 1,
            _ => runs.push(start..end + 1),
        }
    }
    runs
}

/// The number of distinct keys in `items`.
fn distinct<K: Ord>(items: &[(i64, K)]) -> usize {
    let mut keys: Vec<&K> = items.iter().map(|(_, k)| k).collect();
    keys.sort();
    keys.dedup();
    keys.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn a_window_with_enough_distinct_keys_is_one_run() {
        let items = [(0, 'a'), (DAY, 'a'), (2 * DAY, 'b'), (3 * DAY, 'c')];
        assert_eq!(crowded(&items, 3, 7 * DAY), vec![0..4]);
        assert_eq!(distinct(&items), 3);
        assert!(crowded(&items, 4, 7 * DAY).is_empty());
    }

    #[test]
    fn items_a_whole_window_apart_are_not_in_one_window() {
        let items = [(0, 'a'), (7 * DAY, 'b')];
        assert!(crowded(&items, 2, 7 * DAY).is_empty());
        let items = [(0, 'a'), (7 * DAY - 1, 'b')];
        assert_eq!(crowded(&items, 2, 7 * DAY), vec![0..2]);
    }

    #[test]
    fn windows_that_share_no_item_are_separate_runs() {
        let items = [(0, 'a'), (1, 'b'), (30 * DAY, 'c'), (30 * DAY + 1, 'd')];
        assert_eq!(crowded(&items, 2, 7 * DAY), vec![0..2, 2..4]);
    }
}
