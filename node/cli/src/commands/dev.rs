//! `credex dev …`: development helpers. The federation it writes is
//! [`credex_kit::dev`]; this module prints how to start it.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum DevCommand {
    /// Write a ready-to-run development federation into DIR.
    Init {
        /// Directory to create (must not hold a federation already).
        dir: PathBuf,
        /// First UDP port; nodes use consecutive ports from here.
        #[arg(long, default_value_t = credex_kit::dev::DEV_BASE_PORT)]
        base_port: u16,
    },
}

/// Run a `credex dev` subcommand.
pub fn dev(cmd: DevCommand) -> Result<()> {
    match cmd {
        DevCommand::Init { dir, base_port } => dev_init(dir, base_port),
    }
}

fn dev_init(dir: PathBuf, base_port: u16) -> Result<()> {
    let nodes = credex_kit::dev::init(&dir, base_port)?;
    println!("development federation written to {}\n", dir.display());
    println!("Start each node in its own terminal:");
    for n in &nodes {
        println!(
            "  credex node run --config {}    # {} {}/{}",
            n.config.display(),
            n.label,
            n.region,
            n.name
        );
    }
    if let (Some(a), Some(b)) = (nodes.first(), nodes.get(1)) {
        println!(
            "\nThen, from a third terminal, have {} greet {}:",
            a.name, b.name
        );
        println!(
            "  credex node hello --config {} --peer {}/{}",
            a.config.display(),
            b.region,
            b.name
        );
    }
    println!("\nRevoke a node and watch its peers drop it within the CRL reload interval:");
    if let Some(b) = nodes.get(1) {
        println!(
            "  credex pki revoke --ca {} {}",
            dir.join(format!("pki/{}", b.region)).display(),
            b.config.with_file_name(format!("{}.pem", b.name)).display()
        );
    }
    Ok(())
}
