//! `credex lists …`: joint reward/punishment lists (联合奖惩名单).
//!
//! Each command opens the node's database and keys; messages it creates
//! are queued in the node's outbox, which the running node delivers.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use credex_node::config::NodeConfig;
use credex_node::lists::{EntryDraft, EntryStatus, EvidenceFile, HeldView, Lists, OfflineLists};
use credex_node::service::now_ms;
use credex_protocol::lists::{ChangeKind, EntryId};

/// Joint reward/punishment lists: list subjects, give feedback, change
/// entries, route objections, see what is overdue.
#[derive(Subcommand)]
pub enum ListsCommand {
    /// List a subject (red, serious-dishonesty or key-attention list) from a
    /// JSON file and send the entry to every region an agreement binds.
    Add {
        /// The node's configuration.
        #[arg(long)]
        config: PathBuf,
        /// The entry: {"subject", "list_type", "basis", "authority",
        /// "entry_date", "planned_exit", "measures": [...], "notice":
        /// {"date", "means"}}.
        file: PathBuf,
        /// The record of this region the entry rests on, CATEGORY/RECORD_ID
        /// (e.g. the penalty decision): entered as pushed to every member,
        /// so its corrections reach them.
        #[arg(long, value_name = "CATEGORY/RECORD_ID")]
        rests_on: Option<String>,
    },
    /// Report to the origin the measures this region applied to an entry it
    /// received (反馈).
    Feedback {
        /// The node's configuration.
        #[arg(long)]
        config: PathBuf,
        /// The entry id (REGION-32HEX).
        entry: EntryId,
        /// Measure codes applied, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        applied: Vec<String>,
        /// A note for the origin.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Change an entry this region made and send the change to every region
    /// that received it.
    Change(ChangeArgs),
    /// Route a subject's objection (异议) to an entry this region received
    /// back to the region that made it.
    Objection {
        /// The node's configuration.
        #[arg(long)]
        config: PathBuf,
        /// The entry id.
        entry: EntryId,
        /// The subject's grounds.
        #[arg(long)]
        reason: String,
    },
    /// Route a subject's credit repair application (信用修复申请) for an
    /// entry this region received to the region that made it, with the
    /// evidence files (a commitment letter, 信用承诺书, among them).
    ApplyRepair(super::procedures::ApplyRepairArgs),
    /// Objections (异议) and repair applications (信用修复) about entries
    /// made here and entries held here: where each stands, its deadlines,
    /// and whether one has passed.
    #[command(alias = "objections")]
    Cases(super::procedures::ListArgs),
    /// Accept, refuse or decide an objection or a repair application about
    /// an entry this region made, and mark it on every region holding the
    /// entry.
    #[command(alias = "answer-objection")]
    Answer(super::procedures::AnswerArgs),
    /// Write the evidence files of a repair application made to this
    /// region into a folder, each checked against its digest.
    Evidence(super::procedures::EvidenceArgs),
    /// Entries this region made, per region: state, deadlines, feedback,
    /// confirmations, objections; and entries it received.
    Status {
        /// The node's configuration.
        #[arg(long)]
        config: PathBuf,
        /// Only entries with a deadline passed.
        #[arg(long)]
        overdue: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `credex lists change`.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["repair", "revoke", "correct", "exit"])))]
pub struct ChangeArgs {
    /// The node's configuration.
    #[arg(long)]
    config: PathBuf,
    /// The entry id.
    entry: EntryId,
    /// Credit repair completed (信用修复): the entry ends.
    #[arg(long)]
    repair: bool,
    /// An objection upheld, the listing was wrong (撤销): the entry ends.
    #[arg(long)]
    revoke: bool,
    /// An objection upheld in part (更正): replace the entry with FILE.
    #[arg(long, value_name = "FILE")]
    correct: Option<PathBuf>,
    /// The planned exit date is reached: the entry ends.
    #[arg(long)]
    exit: bool,
    /// Why, for the receiving regions' operators.
    #[arg(long, default_value = "")]
    reason: String,
}

fn load_draft(path: &PathBuf) -> Result<EntryDraft> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a list entry", path.display()))
}

/// Run a lists command.
pub async fn lists(cmd: ListsCommand) -> Result<()> {
    let config_path = match &cmd {
        ListsCommand::Add { config, .. }
        | ListsCommand::Feedback { config, .. }
        | ListsCommand::Objection { config, .. }
        | ListsCommand::Status { config, .. } => config,
        ListsCommand::Change(args) => &args.config,
        ListsCommand::ApplyRepair(args) => &args.config,
        ListsCommand::Cases(args) => &args.config,
        ListsCommand::Answer(args) => &args.config,
        ListsCommand::Evidence(args) => &args.config,
    };
    let config = NodeConfig::load(config_path)?;
    // Read the input files before opening the node's database.
    let draft = match &cmd {
        ListsCommand::Add { file, .. } => Some(load_draft(file)?),
        ListsCommand::Change(ChangeArgs {
            correct: Some(file),
            ..
        }) => Some(load_draft(file)?),
        _ => None,
    };
    let evidence = match &cmd {
        ListsCommand::ApplyRepair(args) => super::procedures::read_evidence(&args.evidence)?,
        _ => Vec::new(),
    };
    let offline = OfflineLists::open(&config).await?;
    let result = run(&offline, cmd, draft, evidence).await;
    offline.close().await;
    result
}

async fn run(
    offline: &OfflineLists,
    cmd: ListsCommand,
    draft: Option<EntryDraft>,
    evidence: Vec<EvidenceFile>,
) -> Result<()> {
    let lists = &offline.lists;
    match cmd {
        ListsCommand::Add { rests_on, .. } => {
            add(lists, &draft.context("no entry file")?, rests_on.as_deref()).await?
        }
        ListsCommand::Feedback {
            entry,
            applied,
            note,
            ..
        } => {
            lists.feedback(&entry, &applied, &note, now_ms()).await?;
            println!("feedback on {entry} queued for region {}", entry.origin);
        }
        ListsCommand::Change(args) => change(lists, args, draft).await?,
        ListsCommand::Objection { entry, reason, .. } => {
            lists.objection(&entry, &reason, now_ms()).await?;
            println!("objection to {entry} queued for region {}", entry.origin);
        }
        ListsCommand::Status { overdue, json, .. } => status(lists, overdue, json).await?,
        ListsCommand::ApplyRepair(args) => {
            super::procedures::apply_repair(lists, args, evidence).await?
        }
        ListsCommand::Cases(args) => super::procedures::list(lists, args.json).await?,
        ListsCommand::Answer(args) => super::procedures::answer(lists, args).await?,
        ListsCommand::Evidence(args) => super::procedures::evidence(lists, args).await?,
    }
    Ok(())
}

/// `credex lists add`: make the entry and say where it went.
async fn add(lists: &Lists, draft: &EntryDraft, rests_on: Option<&str>) -> Result<()> {
    let added = match rests_on {
        None => lists.add(draft, now_ms()).await?,
        Some(text) => {
            let Some((category, record_id)) = text.split_once('/') else {
                bail!("--rests-on {text:?}: expected CATEGORY/RECORD_ID");
            };
            lists
                .add_resting_on(draft, category, record_id, now_ms())
                .await?
        }
    };
    println!("entry {}", added.id);
    println!(
        "sent to: {}",
        join(added.sent_to.iter().map(ToString::to_string))
    );
    if !added.no_peer.is_empty() {
        println!(
            "NOT sent (an agreement binds them, but no peer is configured): {}",
            join(added.no_peer.iter().map(ToString::to_string))
        );
    }
    Ok(())
}

/// `credex lists change`: the one change asked for, sent to the regions
/// that received the entry.
async fn change(lists: &Lists, args: ChangeArgs, draft: Option<EntryDraft>) -> Result<()> {
    let (change, corrected) = match (args.repair, args.revoke, args.correct, args.exit) {
        (true, false, None, false) => (ChangeKind::Repair, None),
        (false, true, None, false) => (ChangeKind::Revoke, None),
        (false, false, Some(_), false) => (
            ChangeKind::Correct,
            Some(draft.context("no corrected entry file")?),
        ),
        (false, false, None, true) => (ChangeKind::Exit, None),
        _ => bail!("give exactly one of --repair, --revoke, --correct FILE, --exit"),
    };
    let to = lists
        .change(
            &args.entry,
            change,
            corrected.as_ref(),
            &args.reason,
            now_ms(),
        )
        .await?;
    println!(
        "{change} of {} sent to: {}",
        args.entry,
        join(to.iter().map(ToString::to_string))
    );
    Ok(())
}

/// `credex lists status`: entries made (only the overdue ones if asked)
/// and, unless so, entries received.
async fn status(lists: &Lists, overdue: bool, json: bool) -> Result<()> {
    let now = now_ms();
    let mut made = lists.status(now).await?;
    if overdue {
        made.retain(EntryStatus::is_overdue);
    }
    let received = if overdue {
        Vec::new()
    } else {
        lists.received().await?
    };
    if json {
        let doc = serde_json::json!({ "now_ms": now, "made": made, "received": received });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_status(&made);
        for h in &received {
            print_received(h);
        }
    }
    Ok(())
}

/// One entry this region received.
fn print_received(h: &HeldView) {
    println!(
        "received {} rev {} {} subject {} measures {} exit {}{}{}",
        h.entry.id,
        h.entry.revision,
        h.entry.list_type,
        h.entry.subject,
        h.entry.measures.join(","),
        h.entry.planned_exit,
        h.ended.map(|c| format!(" ENDED ({c})")).unwrap_or_default(),
        h.feedback
            .as_ref()
            .map(|f| format!(" feedback given: {}", f.join(",")))
            .unwrap_or_default(),
    );
}

fn print_status(made: &[EntryStatus]) {
    for e in made {
        println!(
            "entry {} rev {} {} subject {}{}",
            e.id,
            e.revision,
            e.list_type,
            e.subject,
            e.ended.map(|c| format!(" ENDED ({c})")).unwrap_or_default()
        );
        for r in &e.regions {
            let mut line = format!("  {} {:?}", r.region, r.stage);
            if let Some(f) = &r.feedback {
                line.push_str(&format!(" applied {}", f.applied.join(",")));
            }
            if let Some(reason) = &r.refused {
                line.push_str(&format!(" refused: {reason}"));
            }
            if let Some(c) = &r.change {
                line.push_str(&format!(
                    " change {} rev {} {}",
                    c.change,
                    c.revision,
                    if c.confirmed_at_ms.is_some() {
                        "confirmed"
                    } else {
                        "unconfirmed"
                    }
                ));
            }
            if !r.overdue.is_empty() {
                line.push_str(&format!(" OVERDUE {:?}", r.overdue));
            } else if let Some(t) = r.next_deadline_ms {
                // Deadlines end at midnight: the last day is the one before.
                line.push_str(&format!(
                    " (due by the end of {})",
                    credex_flows::calendar::china_date_text(t - 1)
                ));
            }
            println!("{line}");
        }
        for r in &e.no_peer {
            println!("  {r} NOT SENT: no peer configured");
        }
        for o in &e.objections {
            println!("  objection via {}: {}", o.from_region, o.reason);
        }
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = items.collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}
