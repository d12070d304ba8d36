//! `credex records object`, `apply-repair`, `cases`, `answer` and
//! `evidence`: a subject's objection (异议) to a record or credit repair
//! application (信用修复) for it, filed in any region and decided by the
//! record's owner; where each case stands, on every side.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use credex_node::config::NodeConfig;
use credex_node::lists::{CaseAnswer, ListsPolicy};
use credex_node::offline::OfflineNode;
use credex_node::rights::{CaseToFile, RecordCaseView, RecordCases};
use credex_node::service::now_ms;
use credex_policies::egress::{evaluation_record_id, scheme_category};
use credex_protocol::RegionCode;
use credex_protocol::evaluation::Scheme;
use credex_protocol::lists::{Procedure, ProcedureOutcome};

use super::procedures::{case_answer, read_evidence, write_evidence};

/// The record a case is about, and who files it.
#[derive(Args)]
pub struct FileArgs {
    /// The node's configuration.
    #[arg(long)]
    pub config: PathBuf,
    /// The region that owns the record (six digits); it decides the case.
    #[arg(long)]
    pub owner: RegionCode,
    /// The subject: a unified social credit code, a citizen ID (turned
    /// into its pseudonym at once, never sent) or a pseudonym EPOCH:HEX.
    #[arg(long)]
    pub subject: String,
    /// The record's category, e.g. admin_penalty (with --record-id).
    #[arg(long, required_unless_present = "scheme", requires = "record_id")]
    pub category: Option<String>,
    /// The record's id at its owner (only its key is sent).
    #[arg(long, requires = "category")]
    pub record_id: Option<String>,
    /// Instead of a record: the owner's evaluation result (信用评价结果) of
    /// the subject under this scheme (public_credit, tax_credit,
    /// environmental_credit). An objection upheld revokes it everywhere.
    #[arg(long, conflicts_with_all = ["category", "record_id"])]
    pub scheme: Option<Scheme>,
    /// The subject's grounds (objection) or statement of how it corrected
    /// its conduct (repair).
    #[arg(long)]
    pub statement: String,
    /// An evidence file as KIND:PATH, KIND one of commitment_letter
    /// (信用承诺书, required for a repair), proof_of_performance, other;
    /// repeatable.
    #[arg(long)]
    pub evidence: Vec<String>,
}

/// Cases about records.
#[derive(Subcommand)]
pub enum CaseCommand {
    /// File a subject's objection (异议) to a record, here or at another
    /// region; the owner decides it.
    Object(FileArgs),
    /// File a subject's credit repair application (信用修复申请) for a
    /// record, with its evidence; the owner decides it.
    ApplyRepair(FileArgs),
    /// Every case about a record: those about this region's records (with
    /// the statement and evidence) and those this region filed or was told
    /// of as a recipient of the record.
    Cases {
        /// The node's configuration.
        #[arg(long)]
        config: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Accept, refuse or decide a case about one of this region's records.
    Answer {
        /// The node's configuration.
        #[arg(long)]
        config: PathBuf,
        /// The case's id (32 hex digits, from `credex records cases`).
        case: String,
        /// Accept it for review (受理).
        #[arg(long, conflicts_with_all = ["refuse", "decide"])]
        accept: bool,
        /// Refuse it without review (不予受理).
        #[arg(long, conflicts_with = "decide")]
        refuse: bool,
        /// Decide it. An objection: upheld (the record is removed from
        /// release and every recipient told), corrected, dismissed or
        /// withdrawn. A repair: granted (its publication ends, every
        /// recipient told), rejected or withdrawn.
        #[arg(long)]
        decide: Option<String>,
        /// A note for the regions told (no personal data).
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Write a case's evidence files into a folder, each checked against
    /// the digest it arrived with.
    Evidence {
        /// The node's configuration.
        #[arg(long)]
        config: PathBuf,
        /// The case's id.
        case: String,
        /// The folder (created if missing; no file is overwritten).
        #[arg(long)]
        out: PathBuf,
    },
}

impl CaseCommand {
    /// The configuration the command names.
    pub fn config(&self) -> &PathBuf {
        match self {
            CaseCommand::Object(a) | CaseCommand::ApplyRepair(a) => &a.config,
            CaseCommand::Cases { config, .. }
            | CaseCommand::Answer { config, .. }
            | CaseCommand::Evidence { config, .. } => config,
        }
    }
}

/// Run a case command against the node's database (the running node, if
/// any, delivers what it queues).
pub async fn run(cmd: CaseCommand) -> Result<()> {
    let config = NodeConfig::load(cmd.config())?;
    let file = match &cmd {
        CaseCommand::Object(a) | CaseCommand::ApplyRepair(a) => {
            let evidence = read_evidence(&a.evidence)?;
            let subject =
                ListsPolicy::with_catalogue(&config, &credex_policies::Catalogue::base())?
                    .subject(&a.subject)?;
            let procedure = match cmd {
                CaseCommand::Object(_) => Procedure::Objection,
                _ => Procedure::Repair,
            };
            let (category, record_id) = match (&a.scheme, &a.category, &a.record_id) {
                (Some(scheme), _, _) => (
                    scheme_category(*scheme).to_owned(),
                    evaluation_record_id(*scheme, a.subject.trim()),
                ),
                (None, Some(c), Some(id)) => (c.clone(), id.clone()),
                _ => anyhow::bail!("name the record (--category and --record-id) or --scheme"),
            };
            Some(CaseToFile {
                procedure,
                owner: a.owner,
                subject,
                category,
                record_id,
                statement: a.statement.clone(),
                evidence,
            })
        }
        _ => None,
    };
    let node = OfflineNode::open(&config).await?;
    let cases = RecordCases::for_node(node.federation.clone(), &config)?;
    let result = execute(&cases, cmd, file).await;
    node.close().await;
    result
}

async fn execute(cases: &RecordCases, cmd: CaseCommand, file: Option<CaseToFile>) -> Result<()> {
    let now = now_ms();
    match cmd {
        CaseCommand::Object(_) | CaseCommand::ApplyRepair(_) => {
            let file = file.context("the case to file")?;
            let (procedure, owner, files) = (file.procedure, file.owner, file.evidence.len());
            let case = cases.file(file, now).await?;
            println!(
                "{} {case} ({files} evidence file(s)) filed for region {owner}'s record",
                procedure.code()
            );
        }
        CaseCommand::Cases { json, .. } => {
            let owned = cases.cases(now).await?;
            let told = cases.marks(now).await?;
            if json {
                let doc =
                    serde_json::json!({ "now_ms": now, "owned_here": owned, "told_here": told });
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                owned.iter().for_each(|v| print("owned here", v));
                told.iter().for_each(|v| print("told here", v));
            }
        }
        CaseCommand::Answer {
            case,
            accept,
            refuse,
            decide,
            note,
            ..
        } => {
            let answer = case_answer(decide.as_deref(), accept, refuse)?;
            let told = cases.answer(&case, answer, &note, now).await?;
            let regions: Vec<String> = told.iter().map(ToString::to_string).collect();
            println!("case {case}: marked on {}", regions.join(", "));
            match answer {
                CaseAnswer::Decide(ProcedureOutcome::Upheld) => println!(
                    "the record is removed from release; every region that received it is told (deleted)"
                ),
                CaseAnswer::Decide(ProcedureOutcome::Granted) => println!(
                    "the record's publication has ended; every region that received it is told (repaired)"
                ),
                _ => {}
            }
        }
        CaseCommand::Evidence { case, out, .. } => {
            let files = cases.evidence(&case).await?;
            write_evidence(
                &out,
                files.iter().map(|f| {
                    (
                        f.held.kind,
                        f.held.title.as_str(),
                        &f.held.digest,
                        f.content.as_slice(),
                    )
                }),
            )?;
        }
    }
    Ok(())
}

fn print(side: &str, v: &RecordCaseView) {
    let record = match (&v.category, &v.record_id) {
        (Some(c), Some(id)) => format!("{c} {id}"),
        _ => format!("record {}", &v.record[..16]),
    };
    let due = match (&v.decide_by, v.stage) {
        (Some(by), "accepted") => format!("decide by {by}"),
        _ if v.pending.is_some() => format!("accept by {}", v.accept_by),
        _ => "closed".to_owned(),
    };
    println!(
        "{side}: {} {} about {}'s {record}, filed in {} — {}{} ({due}){}",
        v.procedure,
        v.case,
        v.owner,
        v.filed_in,
        v.stage,
        v.pending.map(|p| format!(" {p}")).unwrap_or_default(),
        v.overdue
            .map(|d| format!(" OVERDUE ({d} deadline missed)"))
            .unwrap_or_default()
    );
    if let Some(s) = &v.statement {
        println!("  statement: {s}");
    }
    for e in &v.evidence {
        println!("  evidence: {e}");
    }
    if !v.note.is_empty() {
        println!("  note: {}", v.note);
    }
}
