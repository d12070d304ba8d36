//! Joint lists in tests: a node's lists service, a serious-dishonesty
//! draft, and waiting for an objection to reach the origin.

use credex_node::lists::{CaseView, EntryDraft, Lists, ListsPolicy};
use credex_node::service::{RunningNode, now_ms};
use credex_protocol::lists::{ListKind, NoticeMeans, SubjectNotice};

use crate::until_stored_some;

/// The lists service of `node`, under the policy its configuration names.
pub fn lists(node: &RunningNode) -> Lists {
    Lists::new(
        node.federation().clone(),
        ListsPolicy::for_node(node.config()).expect("the lists policy loads"),
    )
}

/// A Guizhou serious-dishonesty entry of `subject`, restricting government
/// procurement.
pub fn serious_dishonesty(subject: &str) -> EntryDraft {
    EntryDraft {
        subject: subject.to_owned(),
        list_type: ListKind::SeriousDishonesty,
        basis: "《贵州省社会信用条例》第三十条; 黔市监处〔2026〕18号".into(),
        authority: "贵州省市场监督管理局".into(),
        entry_date: "2026-11-02".into(),
        planned_exit: "2029-11-01".into(),
        measures: vec!["restrict_government_procurement".into()],
        notice: SubjectNotice {
            date: "2026-10-20".into(),
            means: NoticeMeans::Written,
        },
        details: Default::default(),
    }
}

/// Wait until the origin `node` has recorded an objection; its case.
pub async fn first_case(node: &RunningNode) -> CaseView {
    let origin = lists(node);
    until_stored_some(
        node.storage(),
        "the origin records the objection",
        || async {
            origin
                .cases(now_ms())
                .await
                .expect("cases read")
                .into_iter()
                .next()
        },
    )
    .await
}
