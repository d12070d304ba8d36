//! `credex repair …`: credit repair (信用修复) in time — when a record's
//! subject may apply, when its publication ends by itself, and by when an
//! objection or a repair application must be accepted and decided.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use credex_policies::HolidayCalendar;
use credex_policies::repair::{Eligibility, RightsRules, penalty_class};
use time::Date;

/// Credit repair and objections (信用修复、异议).
#[derive(Subcommand)]
pub enum RepairCommand {
    /// Where a record stands: too early to apply for repair, repairable
    /// (and until when it is published), or no longer published.
    Eligibility {
        /// The record's catalogue category, e.g. admin_penalty.
        #[arg(long)]
        category: String,
        /// The sector, when it has its own period (work_safety, fire_safety,
        /// special_equipment).
        #[arg(long)]
        sector: Option<String>,
        /// The penalty type (处罚类别) of an administrative penalty: one that
        /// stops or bars the business (e.g. 吊销许可证件, 责令停产停业) is
        /// serious dishonesty information, published one to three years.
        #[arg(long)]
        penalty_type: Option<String>,
        /// The decision date, YYYY-MM-DD.
        #[arg(long)]
        decided: String,
        /// The day to judge, YYYY-MM-DD (default: today, China time).
        #[arg(long)]
        on: Option<String>,
        /// A province's tightened rules (TOML, decision 0920).
        #[arg(long)]
        rules: Option<PathBuf>,
    },
    /// The last days to accept and to decide an objection or a repair
    /// application received on a day, in working days.
    Deadlines {
        /// `objection` or `repair`.
        #[arg(long)]
        procedure: String,
        /// The day the application was received, YYYY-MM-DD.
        #[arg(long)]
        received: String,
        /// A province's tightened rules (TOML, decision 0920).
        #[arg(long)]
        rules: Option<PathBuf>,
    },
}

/// Run a repair command.
pub fn repair(cmd: RepairCommand) -> Result<()> {
    match cmd {
        RepairCommand::Eligibility {
            category,
            sector,
            penalty_type,
            decided,
            on,
            rules,
        } => {
            let rules = load(rules)?;
            let decided = date("--decided", &decided)?;
            let today = match on {
                Some(d) => date("--on", &d)?,
                None => credex_flows::calendar::china_date(credex_node::clock::now_ms())
                    .context("today's date")?,
            };
            let class =
                penalty_class(sector.as_deref(), penalty_type.as_deref()).or(sector.as_deref());
            match rules.eligibility(&category, class, decided, today) {
                Eligibility::NotPublished => {
                    println!("{category}: no publication period; credit repair does not apply")
                }
                Eligibility::TooEarly { from } => println!(
                    "{category}: within the minimum publication period on {today}; a repair may be applied for from {from}"
                ),
                Eligibility::Repairable { ends } => println!(
                    "{category}: a repair may be applied for on {today}; publication ends by itself on {ends}"
                ),
                Eligibility::Ended { on } => {
                    println!("{category}: publication ended on {on}; nothing to repair")
                }
            }
            Ok(())
        }
        RepairCommand::Deadlines {
            procedure,
            received,
            rules,
        } => {
            let rules = load(rules)?;
            let deadlines = match procedure.as_str() {
                "objection" => rules.objections,
                "repair" => rules.repairs,
                other => bail!("--procedure {other:?}: expected objection or repair"),
            };
            let received = date("--received", &received)?;
            let calendar = HolidayCalendar::builtin_2026();
            let accept = deadlines
                .accept_by(&calendar, received)
                .context("accept deadline")?;
            let decide = deadlines
                .decide_by(&calendar, accept)
                .context("decision deadline")?;
            println!(
                "{procedure} received {received}: accept or refuse by {accept} ({} working days); decide by {decide} ({} working days after acceptance at the latest)",
                deadlines.accept_working_days, deadlines.decide_working_days
            );
            Ok(())
        }
    }
}

fn load(path: Option<PathBuf>) -> Result<RightsRules> {
    match path {
        None => Ok(RightsRules::national()),
        Some(p) => {
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            Ok(RightsRules::tightened(&text, &p.display().to_string())?)
        }
    }
}

fn date(flag: &str, text: &str) -> Result<Date> {
    credex_flows::calendar::parse_date(text)
        .with_context(|| format!("{flag} {text:?}: expected a date YYYY-MM-DD"))
}
