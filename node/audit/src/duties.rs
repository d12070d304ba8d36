//! The region's duties as its log tells them (decision 1020): each change
//! of the process doing them is a `duties_taken` entry, under the lease's
//! fencing token, naming the holder before. The tokens grow by exactly one
//! from entry to entry, and each entry names the previous entry's holder.
//! A gap is a change of holder the log does not show; a token that does not
//! grow is two holders under one token, which the lease must prevent.
//!
//! Pure: entries in, findings out.

use credex_journal::DutiesTaken;

/// A finding: the leaf index, the rule and why.
pub type Finding = (u64, (&'static str, String));

/// Check the `duties_taken` entries of one log, in log order.
pub fn check(taken: &[(u64, DutiesTaken)]) -> Vec<Finding> {
    let mut found = Vec::new();
    for pair in taken.windows(2) {
        let [(_, before), (index, after)] = pair else {
            continue;
        };
        if after.token <= before.token {
            found.push((
                *index,
                (
                    "duties_token_reused",
                    format!(
                        "{} took the region's duties under token {} after {} held them under token {}: a token must grow at every change of holder",
                        after.holder, after.token, before.holder, before.token
                    ),
                ),
            ));
        } else if after.token > before.token + 1 {
            found.push((
                *index,
                (
                    "duties_token_gap",
                    format!(
                        "the region's duties went from token {} to token {}: {} change(s) of the process doing them are not in the log",
                        before.token,
                        after.token,
                        after.token - before.token - 1
                    ),
                ),
            ));
        } else if after.previous.as_deref() != Some(before.holder.as_str()) {
            found.push((
                *index,
                (
                    "duties_previous_holder",
                    format!(
                        "{} took the region's duties under token {} naming {:?} as the holder before, but the log shows {}",
                        after.holder, after.token, after.previous, before.holder
                    ),
                ),
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(holder: &str, token: u64, previous: Option<&str>) -> DutiesTaken {
        DutiesTaken {
            version: credex_journal::ENTRY_VERSION,
            at_ms: 0,
            holder: holder.into(),
            token,
            previous: previous.map(Into::into),
        }
    }

    fn rules(entries: &[(u64, DutiesTaken)]) -> Vec<&'static str> {
        check(entries).into_iter().map(|(_, (r, _))| r).collect()
    }

    #[test]
    fn a_chain_of_takeovers_is_clean() {
        let log = [
            (3, taken("a", 1, None)),
            (9, taken("b", 2, Some("a"))),
            (20, taken("a", 3, Some("b"))),
        ];
        assert!(check(&log).is_empty());
    }

    #[test]
    fn a_missing_takeover_a_reused_token_and_a_wrong_predecessor_are_found() {
        let gap = [(3, taken("a", 1, None)), (9, taken("c", 3, Some("b")))];
        assert_eq!(rules(&gap), vec!["duties_token_gap"]);
        assert_eq!(check(&gap)[0].0, 9);
        let reused = [(3, taken("a", 2, None)), (9, taken("b", 2, Some("a")))];
        assert_eq!(rules(&reused), vec!["duties_token_reused"]);
        let wrong = [(3, taken("a", 1, None)), (9, taken("b", 2, Some("x")))];
        assert_eq!(rules(&wrong), vec!["duties_previous_holder"]);
    }
}
