//! `credex lists apply-repair`, `cases`, `answer` and `evidence`: the
//! subject's procedures against a list entry — objections (异议) and credit
//! repair applications (信用修复) — where each case stands, on both sides,
//! and the origin accepting, refusing or deciding one.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use credex_node::lists::{CaseAnswer, CaseView, EvidenceFile, Lists};
use credex_node::service::now_ms;
use credex_protocol::lists::{EntryId, EvidenceKind, ProcedureOutcome};

/// `credex lists apply-repair`.
#[derive(Args)]
pub struct ApplyRepairArgs {
    /// The node's configuration.
    #[arg(long)]
    pub config: PathBuf,
    /// The entry id (REGION-32HEX), held here.
    pub entry: EntryId,
    /// The subject's statement of how it corrected its conduct.
    #[arg(long)]
    pub statement: String,
    /// An evidence file as KIND:PATH, KIND one of commitment_letter
    /// (信用承诺书, required), proof_of_performance, other; repeatable.
    #[arg(long, required = true)]
    pub evidence: Vec<String>,
}

/// Read every `KIND:PATH` evidence argument (before any database opens).
pub fn read_evidence(args: &[String]) -> Result<Vec<EvidenceFile>> {
    args.iter()
        .map(|arg| {
            let Some((kind, path)) = arg.split_once(':') else {
                bail!("--evidence {arg:?}: expected KIND:PATH");
            };
            let Some(kind) = EvidenceKind::from_code(kind) else {
                bail!(
                    "--evidence {arg:?}: kind {kind:?} is not commitment_letter, proof_of_performance or other"
                );
            };
            let path = Path::new(path);
            let content =
                std::fs::read(path).with_context(|| format!("--evidence {arg:?}: cannot read it"))?;
            let title = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| kind.code().to_owned());
            Ok(EvidenceFile {
                kind,
                title,
                content,
            })
        })
        .collect()
}

/// Route the application and say where it went.
pub async fn apply_repair(
    lists: &Lists,
    args: ApplyRepairArgs,
    evidence: Vec<EvidenceFile>,
) -> Result<()> {
    let files = evidence.len();
    let case = lists
        .apply_repair(&args.entry, &args.statement, evidence, now_ms())
        .await?;
    println!(
        "repair application {case} for {} ({files} evidence file(s)) queued for region {}",
        args.entry, args.entry.origin
    );
    Ok(())
}

/// `credex lists evidence`.
#[derive(Args)]
pub struct EvidenceArgs {
    /// The node's configuration.
    #[arg(long)]
    pub config: PathBuf,
    /// The entry id (REGION-32HEX), made by this region.
    pub entry: EntryId,
    /// The repair application's id (32 hex digits, from `credex lists cases`).
    pub case: String,
    /// The folder to write the files into (created if missing; a file
    /// already there is not overwritten).
    #[arg(long)]
    pub out: PathBuf,
}

/// Write a repair application's evidence files into a folder.
pub async fn evidence(lists: &Lists, args: EvidenceArgs) -> Result<()> {
    let files = lists.evidence(&args.entry, &args.case).await?;
    write_evidence(
        &args.out,
        files.iter().map(|(held, content)| {
            (
                held.kind,
                held.title.as_str(),
                &held.digest,
                content.as_slice(),
            )
        }),
    )
}

/// Write evidence files (kind, title from the subject, digest, content)
/// into `out`, numbered, never over a file already there.
pub fn write_evidence<'a>(
    out: &Path,
    files: impl Iterator<Item = (EvidenceKind, &'a str, &'a [u8; 32], &'a [u8])>,
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for (index, (kind, title, digest, content)) in files.enumerate() {
        // The title came from the subject: keep only a plain file name.
        let safe: String = title
            .chars()
            .map(|c| {
                if c == '/' || c == '\\' || c.is_control() {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        let path = out.join(format!("{index:02}-{}-{safe}", kind.code()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        std::io::Write::write_all(&mut file, content)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!(
            "{} ({} bytes, sha256 {})",
            path.display(),
            content.len(),
            hex::encode(digest)
        );
    }
    Ok(())
}

/// `credex lists cases`.
#[derive(Args)]
pub struct ListArgs {
    /// The node's configuration.
    #[arg(long)]
    pub config: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `credex lists answer`.
#[derive(Args)]
pub struct AnswerArgs {
    /// The node's configuration.
    #[arg(long)]
    pub config: PathBuf,
    /// The entry id (REGION-32HEX), made by this region.
    pub entry: EntryId,
    /// The case's id (32 hex digits, from `credex lists cases`).
    pub case: String,
    /// Accept it for review (受理).
    #[arg(long, conflicts_with_all = ["refuse", "decide"])]
    pub accept: bool,
    /// Refuse it without review (不予受理).
    #[arg(long, conflicts_with = "decide")]
    pub refuse: bool,
    /// Decide it. An objection: upheld (the entry is revoked everywhere),
    /// corrected, dismissed or withdrawn. A repair: granted (the entry ends
    /// everywhere, and the record it rests on is no longer published),
    /// rejected or withdrawn.
    #[arg(long)]
    pub decide: Option<String>,
    /// A note for the regions holding the entry (no personal data).
    #[arg(long, default_value = "")]
    pub note: String,
}

/// Print every case: those about entries made here (with the subject's
/// grounds or statement and evidence) and those about entries held here
/// (as the origin marked them).
pub async fn list(lists: &Lists, json: bool) -> Result<()> {
    let now = now_ms();
    let made = lists.cases(now).await?;
    let held = lists.case_marks(now).await?;
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

fn print(side: &str, v: &CaseView) {
    let due = match (&v.decide_by, v.stage) {
        (Some(by), "accepted") => format!("decide by {by}"),
        _ if v.pending => format!("accept by {}", v.accept_by),
        _ => "closed".to_owned(),
    };
    let pending = match (v.pending, v.procedure) {
        (false, _) => "",
        (true, "repair") => " 信用修复审核中",
        (true, _) => " 异议处理中",
    };
    println!(
        "{side}: entry {} {} {} filed in {} — {}{pending} ({due}){}",
        v.entry,
        v.procedure,
        v.case,
        v.filed_in,
        v.stage,
        v.overdue
            .map(|d| format!(" OVERDUE ({} deadline missed)", d.code()))
            .unwrap_or_default()
    );
    if let Some(reason) = &v.reason {
        println!("  grounds: {reason}");
    }
    for e in &v.evidence {
        println!("  evidence: {e}");
    }
    if !v.note.is_empty() {
        println!("  note: {}", v.note);
    }
}

/// What `--decide`, `--accept` or `--refuse` ask the owner to do.
pub fn case_answer(decide: Option<&str>, accept: bool, refuse: bool) -> Result<CaseAnswer> {
    Ok(match (decide, accept, refuse) {
        (Some(code), false, false) => match ProcedureOutcome::from_code(code) {
            Some(outcome) => CaseAnswer::Decide(outcome),
            None => bail!(
                "--decide {code:?}: expected upheld, corrected, dismissed or withdrawn (objections), granted or rejected (repairs)"
            ),
        },
        (None, true, false) => CaseAnswer::Accept,
        (None, false, true) => CaseAnswer::Refuse,
        _ => bail!("say what to do: --accept, --refuse or --decide OUTCOME"),
    })
}

/// Accept, refuse or decide one case and say who was told.
pub async fn answer(lists: &Lists, args: AnswerArgs) -> Result<()> {
    let answer = case_answer(args.decide.as_deref(), args.accept, args.refuse)?;
    let told = lists
        .answer_case(&args.entry, &args.case, answer, &args.note, now_ms())
        .await?;
    let regions: Vec<String> = told.iter().map(ToString::to_string).collect();
    println!(
        "case {} about {}: marked on {}",
        args.case,
        args.entry,
        if regions.is_empty() {
            "no region".to_owned()
        } else {
            regions.join(", ")
        }
    );
    match answer {
        CaseAnswer::Decide(ProcedureOutcome::Upheld) => {
            println!("the entry is revoked on every region that holds it")
        }
        CaseAnswer::Decide(ProcedureOutcome::Granted) => {
            println!(
                "repair granted: the entry ends on every region that holds it, and the record it rests on is no longer published"
            );
            println!(
                "if this region's evaluation of the subject was lowered on that record, import the re-evaluation (credex eval import): every member that recognised the result takes the new one"
            );
        }
        _ => {}
    }
    Ok(())
}
