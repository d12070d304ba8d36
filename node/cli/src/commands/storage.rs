//! `credex storage …`: encryption at rest's keys (decision 1110) — make a
//! key-encryption key, rewrap the data keys under a new one, start a new
//! data key.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Result, bail};
use clap::Subcommand;
use credex_node::config::NodeConfig;
use credex_node::storage::FileKek;

/// Encryption at rest: the key-encryption key and the data keys.
#[derive(Subcommand)]
pub enum StorageCommand {
    /// Write a new random key-encryption key to a new file (0600). Name it
    /// in `[storage] key_encryption_key`; keep a copy apart from database
    /// backups.
    NewKek {
        /// The file to create (refused if it exists).
        #[arg(long)]
        out: PathBuf,
    },
    /// Wrap every data key under a new key-encryption key; no record is
    /// re-encrypted. Then point `[storage] key_encryption_key` at the new
    /// file (the old one no longer opens the store) and restart the node.
    Rewrap {
        /// The node's configuration file (TOML); names the current key.
        #[arg(long)]
        config: PathBuf,
        /// The new key-encryption key file (`credex storage new-kek`).
        #[arg(long)]
        kek_new: PathBuf,
    },
    /// Start a new data key for what is stored from now on; what was
    /// stored before stays readable under its own key. A running node
    /// takes it up when it restarts.
    NewDataKey {
        /// The node's configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Open every stored record body, attachment and flow-state value
    /// under the store's keys (after a restore, a rewrap or a disk fault);
    /// fails on the first that does not open, naming its table and row.
    Verify {
        /// The node's configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// List the data keys (ids and ciphers, never keys).
    Keys {
        /// The node's configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
    },
}

/// Run a `credex storage` subcommand.
pub async fn storage(cmd: StorageCommand) -> Result<()> {
    match cmd {
        StorageCommand::NewKek { out } => {
            FileKek::generate(&out)?;
            println!("key-encryption key written to {} (0600)", out.display());
            Ok(())
        }
        StorageCommand::Rewrap { config, kek_new } => {
            let config = NodeConfig::load(&config)?;
            let new = FileKek::load(&kek_new)?;
            if config.key_encryption_key.as_deref() == Some(kek_new.as_path()) {
                bail!("{} is already the configured key", kek_new.display());
            }
            let storage = credex_node::service::open_storage(&config).await?;
            let done = storage.rewrap_data_keys(Arc::new(new)).await;
            storage.close().await;
            let n = done?;
            println!(
                "{n} data keys rewrapped under {}: set [storage] key_encryption_key = \"{}\" in {} and restart the node",
                kek_new.display(),
                kek_new.display(),
                config.path.display()
            );
            Ok(())
        }
        StorageCommand::NewDataKey { config } => {
            let config = NodeConfig::load(&config)?;
            let storage = credex_node::service::open_storage(&config).await?;
            let done = storage.new_data_key().await;
            storage.close().await;
            println!(
                "data key {} started (the node takes it up at its next start)",
                done?
            );
            Ok(())
        }
        StorageCommand::Verify { config } => {
            let config = NodeConfig::load(&config)?;
            let storage = credex_node::service::open_storage(&config).await?;
            let sealed = storage.encrypted_at_rest();
            let opened = storage.open_every_value(|_, _| {}).await;
            storage.close().await;
            let opened = opened?;
            println!(
                "{} record bodies, {} attachments and {} flow-state values {}",
                opened.records,
                opened.attachments,
                opened.flow_state,
                if sealed {
                    "open under this store's keys, each bound to its row"
                } else {
                    "read: this store is not encrypted at rest"
                }
            );
            Ok(())
        }
        StorageCommand::Keys { config } => {
            let config = NodeConfig::load(&config)?;
            let storage = credex_node::service::open_storage(&config).await?;
            let keys = storage.data_keys().await;
            storage.close().await;
            let keys = keys?;
            if keys.is_empty() {
                println!("not encrypted at rest (no data key)");
            }
            for (id, cipher) in keys {
                println!("data key {id}: {cipher}");
            }
            Ok(())
        }
    }
}
