//! `credex pki pseudonym-key …` (the federation root operator's key ring)
//! and `credex pseudonym …` (a subject's pseudonyms; a node's aliases).
//! The life cycle is in docs/decisions/0630-pseudonym-key.md.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use credex_node::config::NodeConfig;
use credex_node::pseudonyms::{self, NaturalPersons};
use credex_pki::{PseudonymKey, PseudonymKeyRing};
use credex_policies::SubjectId;
use ring::rand::SystemRandom;

/// The federation's pseudonymization key ring.
#[derive(Subcommand)]
pub enum PseudonymKeyCommand {
    /// Generate the key of a new epoch: create the ring file (0600), or add
    /// the epoch to it (it must be higher than every epoch there).
    New {
        /// The epoch (1 for the first key).
        #[arg(long)]
        epoch: u32,
        /// The key ring file.
        #[arg(long)]
        out: PathBuf,
        /// The federation's crypto suite (its root's): ed25519-sha256
        /// (HMAC-SHA256, the default) or sm2-sm3 (HMAC-SM3). A ring that
        /// exists keeps its own.
        #[arg(long)]
        suite: Option<credex_protocol::Suite>,
    },
    /// Remove an epoch from a ring file, once no holder still needs it.
    Drop {
        /// The epoch to remove.
        #[arg(long)]
        epoch: u32,
        /// The key ring file (rewritten in place).
        file: PathBuf,
    },
    /// List a ring's epochs and key check values (never the keys).
    Show {
        /// The key ring file.
        file: PathBuf,
    },
}

/// Subjects' pseudonyms and a node's aliases.
#[derive(Subcommand)]
pub enum PseudonymCommand {
    /// Print a natural person's pseudonym under every epoch of a ring, for
    /// `credex audit subject` ("who looked at my data").
    Of {
        /// The federation's key ring file.
        #[arg(long)]
        keys: PathBuf,
        /// The citizen ID.
        id: String,
    },
    /// Bring a node's subject aliases in line with its key ring (also done
    /// at every node start): add a new epoch's, drop a removed epoch's.
    Rekey {
        /// The node's configuration.
        #[arg(long)]
        config: PathBuf,
    },
}

/// Run a `pki pseudonym-key` command.
pub fn pseudonym_key(cmd: PseudonymKeyCommand) -> Result<()> {
    match cmd {
        PseudonymKeyCommand::New { epoch, out, suite } => {
            let ring = out
                .exists()
                .then(|| pseudonyms::load_ring(&out))
                .transpose()?;
            let suite = match (&ring, suite) {
                (Some(ring), Some(asked)) if ring.suite() != asked => bail!(
                    "{}: the ring is of the {} suite, not {asked}; a ring never mixes suites",
                    out.display(),
                    ring.suite()
                ),
                (Some(ring), _) => ring.suite(),
                (None, asked) => asked.unwrap_or(credex_protocol::Suite::Ed25519Sha256),
            };
            let key = PseudonymKey::generate_in(suite, epoch, &SystemRandom::new())?;
            let check = hex::encode(key.check_value());
            if let Some(ring) = ring {
                let current = ring.current().epoch();
                if epoch <= current {
                    bail!(
                        "{}: epoch {epoch} must be higher than the ring's current epoch {current}",
                        out.display()
                    );
                }
                pseudonyms::save_ring(&out, &ring.with(key)?, false)?;
                println!(
                    "added epoch {epoch} (check value {check}) to {}; it is now the current epoch. \
                     Distribute the file to every member node and authorization authority, then \
                     drop the old epoch once all hold the new one",
                    out.display()
                );
            } else {
                pseudonyms::save_ring(&out, &PseudonymKeyRing::new([key])?, true)?;
                println!(
                    "created key ring {} (0600) with epoch {epoch} (check value {check}). \
                     Give it to member nodes and authorization authorities out of band; never to auditors",
                    out.display()
                );
            }
        }
        PseudonymKeyCommand::Drop { epoch, file } => {
            let ring = pseudonyms::load_ring(&file)?;
            if ring.key(epoch).is_none() {
                bail!("{}: holds no epoch {epoch}", file.display());
            }
            let ring = ring
                .without(epoch)
                .with_context(|| format!("{}: dropping epoch {epoch}", file.display()))?;
            pseudonyms::save_ring(&file, &ring, false)?;
            println!(
                "dropped epoch {epoch} from {}; epochs left: {:?}",
                file.display(),
                ring.epochs()
            );
        }
        PseudonymKeyCommand::Show { file } => show_ring(&file)?,
    }
    Ok(())
}

fn show_ring(file: &Path) -> Result<()> {
    let ring = pseudonyms::load_ring(file)?;
    for key in ring.keys() {
        println!(
            "epoch {}  check value {}{}",
            key.epoch(),
            hex::encode(key.check_value()),
            if key.epoch() == ring.current().epoch() {
                "  (current)"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// Run a `pseudonym` command.
pub async fn pseudonym(cmd: PseudonymCommand) -> Result<()> {
    match cmd {
        PseudonymCommand::Of { keys, id } => {
            let ring = pseudonyms::load_ring(&keys)?;
            let SubjectId::NaturalPerson(c) = SubjectId::parse(id.trim()).context("ID")? else {
                bail!("a unified social credit code is public and has no pseudonym");
            };
            let all = ring.pseudonyms(c.expose())?;
            for p in &all {
                println!("epoch {}: {p}", p.epoch);
            }
            let list: Vec<String> = all.iter().map(ToString::to_string).collect();
            println!("give an auditor: credex audit subject {} …", list.join(","));
        }
        PseudonymCommand::Rekey { config } => {
            let config = NodeConfig::load(&config)?;
            let persons =
                NaturalPersons::load(&config, &SystemRandom::new())?.with_context(|| {
                    format!(
                        "{}: no `[pseudonyms] keys` configured",
                        config.path.display()
                    )
                })?;
            let storage = credex_node::service::open_storage(&config).await?;
            let result = pseudonyms::rekey(&storage, &persons).await;
            storage.close().await;
            let r = result?;
            println!(
                "{} natural person(s); epochs added {:?} ({} aliases); epochs dropped {:?}",
                r.persons, r.epochs_added, r.aliases_added, r.epochs_dropped
            );
        }
    }
    Ok(())
}
