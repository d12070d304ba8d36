//! `credex lists objections` and `credex lists answer-objection`: the
//! objection procedure (异议) — where each objection stands, on both sides,
//! and the origin accepting, refusing or deciding one.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use credex_node::lists::{Lists, ObjectionAnswer, ObjectionCaseView};
use credex_node::service::now_ms;
use credex_protocol::lists::{EntryId, ObjectionOutcome};

/// `credex lists objections`.
#[derive(Args)]
pub struct ListArgs {
    /// The node's configuration.
    #[arg(long)]
    pub config: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `credex lists answer-objection`.
#[derive(Args)]
pub struct AnswerArgs {
    /// The node's configuration.
    #[arg(long)]
    pub config: PathBuf,
    /// The entry id (REGION-32HEX), made by this region.
    pub entry: EntryId,
    /// The objection's id (32 hex digits, from `credex lists objections`).
    pub objection: String,
    /// Accept it for review (受理).
    #[arg(long, conflicts_with_all = ["refuse", "decide"])]
    pub accept: bool,
    /// Refuse it without review (不予受理).
    #[arg(long, conflicts_with = "decide")]
    pub refuse: bool,
    /// Decide it: upheld (the entry is revoked everywhere), corrected,
    /// dismissed or withdrawn.
    #[arg(long)]
    pub decide: Option<String>,
    /// A note for the regions holding the entry (no personal data).
    #[arg(long, default_value = "")]
    pub note: String,
}

/// Print every objection: those to entries made here (with the subject's
/// grounds) and those to entries held here (as the origin marked them).
pub async fn list(lists: &Lists, json: bool) -> Result<()> {
    let now = now_ms();
    let made = lists.objection_cases(now).await?;
    let held = lists.objection_marks(now).await?;
    if json {
        let doc = serde_json::json!({ "now_ms": now, "made_here": made, "held_here": held });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    for (side, views) in [("made here", &made), ("held here", &held)] {
        for v in views {
            print(side, v);
        }
    }
    Ok(())
}

fn print(side: &str, v: &ObjectionCaseView) {
    let due = match (&v.decide_by, v.stage) {
        (Some(by), "accepted") => format!("decide by {by}"),
        _ if v.pending => format!("accept by {}", v.accept_by),
        _ => "closed".to_owned(),
    };
    println!(
        "{side}: entry {} objection {} filed in {} — {}{} ({due}){}",
        v.entry,
        v.objection,
        v.filed_in,
        v.stage,
        if v.pending { " 异议处理中" } else { "" },
        v.overdue
            .map(|d| format!(" OVERDUE ({} deadline missed)", d.code()))
            .unwrap_or_default()
    );
    if let Some(reason) = &v.reason {
        println!("  grounds: {reason}");
    }
    if !v.note.is_empty() {
        println!("  note: {}", v.note);
    }
}

/// Accept, refuse or decide one objection and say who was told.
pub async fn answer(lists: &Lists, args: AnswerArgs) -> Result<()> {
    let answer = match (&args.decide, args.accept, args.refuse) {
        (Some(code), false, false) => match ObjectionOutcome::from_code(code) {
            Some(outcome) => ObjectionAnswer::Decide(outcome),
            None => bail!("--decide {code:?}: expected upheld, corrected, dismissed or withdrawn"),
        },
        (None, true, false) => ObjectionAnswer::Accept,
        (None, false, true) => ObjectionAnswer::Refuse,
        _ => bail!("say what to do: --accept, --refuse or --decide OUTCOME"),
    };
    let told = lists
        .answer_objection(&args.entry, &args.objection, answer, &args.note, now_ms())
        .await?;
    let regions: Vec<String> = told.iter().map(ToString::to_string).collect();
    println!(
        "objection {} to {}: marked on {}",
        args.objection,
        args.entry,
        if regions.is_empty() {
            "no region".to_owned()
        } else {
            regions.join(", ")
        }
    );
    if answer == ObjectionAnswer::Decide(ObjectionOutcome::Upheld) {
        println!("the entry is revoked on every region that holds it");
    }
    Ok(())
}
