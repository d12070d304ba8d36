//! `credex upward …`: the upward channel to the national platform
//! (数据报送), as seen from a province (`status`) and from the national
//! node (`received`).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Subcommand;
use credex_node::config::NodeConfig;
use credex_node::upward::{CategoryStatus, UpwardStatus};

/// The upward channel (数据报送).
#[derive(Subcommand)]
pub enum UpwardCommand {
    /// A province's reporting: batches, records due and reported (the
    /// reporting rate), 双公示 timeliness, late records.
    Status {
        /// The node's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// What the national node received, per province and category.
    Received {
        /// The national node's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Run an upward command.
pub async fn upward(cmd: UpwardCommand) -> Result<()> {
    match cmd {
        UpwardCommand::Status { config, json } => upward_status(&config, json).await,
        UpwardCommand::Received { config, json } => upward_received(&config, json).await,
    }
}

/// `credex upward status`: a province's reporting.
async fn upward_status(config: &Path, json: bool) -> Result<()> {
    let config = NodeConfig::load(config)?;
    if config.region.is_national() {
        bail!(
            "{}: this is the national node; use `credex upward received`",
            config.path.display()
        );
    }
    // The records still waiting are judged by the node's reporting list and
    // calendar, which name categories of its policy's catalogue.
    let policy = credex_node::query::load_policy(config.region, &config.policy)?;
    let rules = credex_node::upward::load_rules(&config, policy.catalogue())?;
    let storage = credex_node::service::open_storage(&config).await?;
    let status = credex_node::upward::status(&storage, &rules).await;
    storage.close().await;
    let s = status?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    if !config.upward.enabled {
        println!("upward reporting is off ([upward] enabled = false)");
    }
    print_totals(&s);
    print_categories(&s.categories);
    for l in &s.late {
        println!(
            "late: {}/{} decided {} reported {} ({} working days late)",
            l.category, l.record_id, l.decision_date, l.reported_date, l.working_days_late
        );
    }
    Ok(())
}

/// Batches, records due and reported, 双公示 timeliness.
fn print_totals(s: &UpwardStatus) {
    println!(
        "batches: next {}, acknowledged {}, pending {}, refused {}",
        s.next_seq, s.batches_acked, s.batches_pending, s.batches_refused
    );
    println!(
        "records: due {}, reported {} (reporting rate {:.1}%)",
        s.due,
        s.reported,
        s.reporting_rate * 100.0
    );
    if s.unreportable > 0 {
        println!(
            "unreportable: {} records (record id longer than the upward channel allows)",
            s.unreportable
        );
    }
    println!(
        "双公示 timeliness: {:.1}% within 7 working days",
        s.timeliness_rate * 100.0
    );
    if s.overdue > 0 {
        println!(
            "waiting past 7 working days: {}{} 双公示 records not yet acknowledged by the national node, counted late",
            if s.overdue_at_least { "at least " } else { "" },
            s.overdue
        );
    }
}

/// The table of categories, with its legend.
fn print_categories(categories: &[CategoryStatus]) {
    println!(
        "{:<28} {:>8} {:>8} {:>8} {:>8} {:>6} {:>8} {:>8} {:>9} {:>8}",
        "category",
        "due",
        "batched",
        "reported",
        "on time",
        "late",
        "waiting",
        "undated",
        "past due",
        "waiting"
    );
    for c in categories {
        println!(
            "{:<28} {:>8} {:>8} {:>8} {:>8} {:>6} {:>8} {:>8} {:>9} {:>8}",
            c.category,
            c.due,
            c.batched,
            c.reported,
            c.on_time,
            c.late,
            c.overdue,
            c.undated,
            c.past_deadline,
            c.past_deadline_waiting
        );
    }
    println!(
        "(on time/late/waiting/undated: 双公示, 7 working days; waiting: not yet acknowledged and \
         already late; past due: reported after the reporting list's deadline, then those \
         waiting past it)"
    );
}

/// `credex upward received`: what the national node received.
async fn upward_received(config: &Path, json: bool) -> Result<()> {
    let config = NodeConfig::load(config)?;
    if !config.region.is_national() {
        bail!(
            "{}: region {} is not the national node (000000); use `credex upward status`",
            config.path.display(),
            config.region
        );
    }
    let storage = credex_node::service::open_storage(&config).await?;
    let received = credex_node::upward::received(&storage).await;
    storage.close().await;
    let received = received?;
    if json {
        println!("{}", serde_json::to_string_pretty(&received)?);
        return Ok(());
    }
    if received.is_empty() {
        println!("nothing received yet");
    }
    for p in &received {
        println!("{}: {} batches, {} records", p.region, p.batches, p.records);
        for (category, n) in &p.categories {
            println!("  {category:<28} {n:>8}");
        }
    }
    Ok(())
}
