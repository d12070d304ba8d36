//! `credex eval …`: this region's credit evaluation results and their
//! mutual recognition (信用评价结果互认). The work is in
//! [`credex_node::eval`]; this module parses arguments and prints.
//!
//! The commands open the node's database themselves, like `credex records
//! import`; pushes they queue sit in the node's outbox and are delivered by
//! the running node (`credex node run`), at once if it runs, else when it
//! starts.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;
use credex_node::config::NodeConfig;
use credex_node::eval::{self, IssueOutcome};
use credex_node::federation::{Federation, FederationContext, PeerPool};
use credex_node::service::{self, now_ms};
use credex_protocol::evaluation::Scheme;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Credit evaluation results and their recognition.
#[derive(Subcommand)]
pub enum EvalCommand {
    /// Import, sign and push this region's results (JSON Lines .jsonl or CSV .csv), validated as a whole first.
    ///
    /// Keys/columns: subject (USCC), scheme (public_credit, tax_credit,
    /// environmental_credit), scheme_version, grade (on this region's scale
    /// in the agreements), period_start, period_end (YYYY-MM-DD),
    /// valid_until (YYYY-MM-DD, end of that day in China Standard Time, or
    /// Unix ms), optional issued_at (YYYY-MM-DD or Unix ms; default now).
    /// A subject and scheme imported again with another grade, period,
    /// version or validity supersedes the previous result.
    Import {
        /// The node's configuration.
        #[arg(long)]
        config: PathBuf,
        /// The file.
        file: PathBuf,
    },
    /// Revoke this region's current result for a subject and scheme, and push the revocation.
    Revoke {
        /// The node's configuration.
        #[arg(long)]
        config: PathBuf,
        /// The subject's unified social credit code.
        #[arg(long)]
        subject: String,
        /// The scheme: public_credit, tax_credit or environmental_credit.
        #[arg(long)]
        scheme: Scheme,
        /// Why (recorded in the signed revocation).
        #[arg(long)]
        reason: String,
    },
    /// The subject's effective grade and treatment here, per scheme, with the provenance of each input.
    Effective {
        /// The node's configuration.
        #[arg(long)]
        config: PathBuf,
        /// The subject's unified social credit code.
        subject: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the results this region issued and those it received, with the decisions.
    List {
        /// The node's configuration.
        #[arg(long)]
        config: PathBuf,
        /// Print JSON Lines instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// The node's storage, signing key and outbox, without serving.
struct Offline {
    federation: Federation,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Offline {
    async fn open(config: &NodeConfig) -> Result<Offline> {
        let identity = credex_node::boot::NodeIdentity::load(config)?;
        let trust = service::load_trust(&config.tls)?;
        identity.check_suite(trust.suite(), config)?;
        let trust = credex_node::tls::FederationTrust::new(trust);
        let storage = service::open_storage(config).await?;
        credex_node::log::head::check_local(config, &storage).await?;
        let log_key = identity.log_key;
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let checkpoints = credex_node::log::Checkpoints::spawn(
            storage.clone(),
            log_key,
            Some(config.data_dir.join(credex_node::log::head::HEAD_FILE)),
            &tracker,
            shutdown.clone(),
        )
        .await?;
        let transport = service::client_transport(config)?;
        let federation = Federation::new(FederationContext {
            storage,
            checkpoints,
            region: config.region,
            node: config.name.clone(),
            node_key: identity.signing_key,
            chain: identity.chain,
            trust,
            peers: PeerPool::new(transport, &config.peers),
        });
        Ok(Offline {
            federation,
            shutdown,
            tracker,
        })
    }

    async fn close(self) {
        self.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        self.federation.context().storage.close().await;
    }
}

fn regions(list: &[credex_protocol::RegionCode]) -> String {
    if list.is_empty() {
        "nobody".into()
    } else {
        list.iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn time(ms: i64) -> String {
    let t = credex_flows::calendar::ms_time(ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// Run an eval command.
pub async fn eval(cmd: EvalCommand) -> Result<()> {
    match cmd {
        EvalCommand::Import { config, file } => eval_import(&config, &file).await,
        EvalCommand::Revoke {
            config,
            subject,
            scheme,
            reason,
        } => eval_revoke(&config, &subject, scheme, &reason).await,
        EvalCommand::Effective {
            config,
            subject,
            json,
        } => eval_effective(&config, &subject, json).await,
        EvalCommand::List { config, json } => eval_list(&config, json).await,
    }
}

/// `credex eval import`: issue the file's results, push them, print each
/// line's outcome and the totals.
async fn eval_import(config: &Path, file: &Path) -> Result<()> {
    let config = NodeConfig::load(config)?;
    let agreements = eval::load_agreements(&config).map_err(anyhow::Error::msg)?;
    let policy = credex_node::query::load_policy(config.region, &config.policy)?;
    let now = now_ms();
    let rows = eval::parse_results(file, config.region, &agreements, now)?;
    let node = Offline::open(&config).await?;
    let result = eval::issue(
        &node.federation,
        &agreements,
        policy.catalogue(),
        &rows,
        now,
    )
    .await;
    node.close().await;
    let report = result?;
    for (row, outcome) in rows.iter().zip(&report.outcomes) {
        print_import_outcome(row, outcome);
    }
    let (new, superseding, unchanged) = report.counts();
    println!(
        "{}: {new} issued, {superseding} re-evaluated, {unchanged} unchanged",
        file.display()
    );
    Ok(())
}

/// What became of one imported line.
fn print_import_outcome(row: &eval::ResultRow, outcome: &IssueOutcome) {
    match outcome {
        IssueOutcome::Issued { pushed_to, .. } => println!(
            "line {}: {} issued, pushed to {}",
            row.line,
            row.scheme,
            regions(pushed_to)
        ),
        IssueOutcome::Superseded { pushed_to, .. } => println!(
            "line {}: {} re-evaluated (supersedes the previous result), pushed to {}",
            row.line,
            row.scheme,
            regions(pushed_to)
        ),
        IssueOutcome::Unchanged => {
            println!("line {}: {} unchanged", row.line, row.scheme)
        }
    }
}

/// `credex eval revoke`: revoke the current result and push the revocation.
async fn eval_revoke(config: &Path, subject: &str, scheme: Scheme, reason: &str) -> Result<()> {
    let config = NodeConfig::load(config)?;
    let agreements = eval::load_agreements(&config).map_err(anyhow::Error::msg)?;
    let policy = credex_node::query::load_policy(config.region, &config.policy)?;
    let node = Offline::open(&config).await?;
    let result = eval::revoke(
        &node.federation,
        &agreements,
        policy.catalogue(),
        subject,
        scheme,
        reason,
        now_ms(),
    )
    .await;
    node.close().await;
    let (id, pushed) = result?;
    println!(
        "revoked: revocation {} pushed to {}",
        hex::encode(id),
        regions(&pushed)
    );
    Ok(())
}

/// `credex eval effective`: the subject's effective grade per scheme, with
/// the inputs behind it.
async fn eval_effective(config: &Path, subject: &str, json: bool) -> Result<()> {
    let config = NodeConfig::load(config)?;
    let agreements = eval::load_agreements(&config).map_err(anyhow::Error::msg)?;
    let storage = service::open_storage(&config).await?;
    let result = eval::effective(&storage, &agreements, config.region, subject, now_ms()).await;
    storage.close().await;
    let e = result?;
    if json {
        println!("{}", serde_json::to_string_pretty(&e)?);
        return Ok(());
    }
    if e.schemes.is_empty() {
        println!("no result for this subject here (region {})", e.region);
    }
    for s in &e.schemes {
        print_scheme_effective(s);
        for (i, input) in s.inputs.iter().enumerate() {
            print_input(s.decided_by == Some(i), input);
        }
    }
    Ok(())
}

/// One scheme's effective grade and treatment, or that none counts.
fn print_scheme_effective(s: &eval::SchemeEffective) {
    match &s.grade {
        Some(g) => println!(
            "{} ({}): effective grade {g}{} — {}{}",
            s.scheme,
            s.scheme.name_zh(),
            s.common_grade
                .as_ref()
                .map(|c| format!(" (common {c})"))
                .unwrap_or_default(),
            s.supervision_tier
                .as_deref()
                .unwrap_or("no treatment defined"),
            if s.green_channel {
                ", green channel"
            } else {
                ""
            },
        ),
        None => println!("{} ({}): no result counts", s.scheme, s.scheme.name_zh()),
    }
}

/// One input to a scheme's grade, starred if it decided the grade.
fn print_input(decided: bool, input: &eval::Input) {
    println!(
        "  {} {} {} from {}/{} ({}) v{} grade {}{}{} issued {} counts until {} — {}",
        if decided { "*" } else { " " },
        input.source,
        input.attestation_id,
        input.issuer_region,
        input.issuer_node,
        input.via,
        input.scheme_version,
        input.grade,
        input
            .common_grade
            .as_ref()
            .map(|c| format!(" → common {c}"))
            .unwrap_or_default(),
        input
            .agreement
            .as_ref()
            .map(|a| format!(" under {a}"))
            .unwrap_or_default(),
        time(input.issued_at_ms),
        input
            .counts_until_ms
            .map(time)
            .unwrap_or_else(|| "-".into()),
        input.status,
    );
}

/// `credex eval list`: results issued here and received, one per line.
async fn eval_list(config: &Path, json: bool) -> Result<()> {
    let config = NodeConfig::load(config)?;
    let storage = service::open_storage(&config).await?;
    let result = eval::list(&storage).await;
    storage.close().await;
    for l in result? {
        if json {
            println!("{}", serde_json::to_string(&l)?);
            continue;
        }
        print_listed(&l);
    }
    Ok(())
}

/// One listed result with its decision or where it was pushed.
fn print_listed(l: &eval::Listed) {
    println!(
        "{} {} {} from {} grade {} {} issued {} valid until {}{}",
        l.kind,
        l.subject,
        l.scheme,
        l.issuer_region,
        l.grade,
        l.status,
        time(l.issued_at_ms),
        time(l.valid_until_ms),
        match (&l.decision, l.pushed_to.is_empty()) {
            (Some(d), _) => format!(" — {d}"),
            (None, false) => format!(" — pushed to {}", l.pushed_to.join(", ")),
            (None, true) => String::new(),
        }
    );
}
