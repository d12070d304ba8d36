//! What a node loads at start besides its identity: the federation trust
//! (root and CRLs), the store, the transport for one-shot client commands,
//! and the journal entry recording the sharing policy it starts with.

use std::path::PathBuf;
use std::sync::Arc;

use credex_pki::TrustStore;

use super::{StartError, load_credentials, read_text, tls_file_error};
use crate::config::{NodeConfig, StorageTarget, TlsFiles};
use crate::storage::{
    AtRestConfig, AtRestError, Cipher, FileKek, Storage, StorageError, StorageOptions,
};
use crate::tls::FederationTrust;
use crate::transport::Transport;

/// Load the federation root and the CRLs named in the configuration.
pub fn load_trust(tls: &TlsFiles) -> Result<TrustStore, StartError> {
    let root_pem = read_text(&tls.root)?;
    let mut crls = Vec::with_capacity(tls.crls.len());
    for path in &tls.crls {
        crls.push(read_text(path)?);
    }
    TrustStore::from_pem(&root_pem, &crls).map_err(|e| {
        // The error names which input failed; say which files were involved.
        let files: Vec<String> = std::iter::once(&tls.root)
            .chain(&tls.crls)
            .map(|p| p.display().to_string())
            .collect();
        tls_file_error(
            &tls.root,
            format!("{e} (trust files: {})", files.join(", ")),
        )
    })
}

/// Open the configured storage, encrypted at rest under the configured
/// key-encryption key if there is one ([`at_rest_config`]).
pub async fn open_storage(config: &NodeConfig) -> Result<Storage, StorageError> {
    let options = StorageOptions {
        at_rest: at_rest_config(config)?,
        ..StorageOptions::default()
    };
    match &config.storage {
        StorageTarget::Sqlite(path) => Storage::open_sqlite_with(path, options).await,
        StorageTarget::Postgres { url, schema } => {
            Storage::open_postgres_with(url, schema.as_deref(), options).await
        }
    }
}

/// Encryption at rest as configured: the key-encryption key read from
/// `[storage] key_encryption_key` (refused if missing, unreadable or
/// readable by others, naming the file), and the cipher of the
/// federation's suite for new data keys. None, with a warning, when the
/// configuration names no key.
pub fn at_rest_config(config: &NodeConfig) -> Result<Option<AtRestConfig>, StorageError> {
    let Some(path) = &config.key_encryption_key else {
        tracing::warn!("storage is not encrypted at rest: [storage] key_encryption_key is not set");
        return Ok(None);
    };
    let kek = FileKek::load(path)?;
    let suite = load_trust(&config.tls)
        .map_err(|e| AtRestError::Suite {
            reason: e.to_string(),
        })?
        .suite();
    Ok(Some(AtRestConfig {
        kek: Arc::new(kek),
        cipher: Cipher::of_suite(suite),
    }))
}

/// The configured CRL files' bytes (a file that cannot be read counts as
/// empty: the reloader compares them to notice a change).
pub fn read_crls(tls: &TlsFiles) -> Vec<Vec<u8>> {
    tls.crls
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_default())
        .collect()
}

/// A transport for one-shot client commands: this node's credentials and
/// trust on an ephemeral local port, serving nothing.
pub fn client_transport(config: &NodeConfig) -> Result<Transport, StartError> {
    client_transport_with(config, load_credentials(config)?)
}

/// [`client_transport`] with credentials already loaded.
pub fn client_transport_with(
    config: &NodeConfig,
    creds: crate::tls::NodeCredentials,
) -> Result<Transport, StartError> {
    let trust = FederationTrust::new(load_trust(&config.tls)?);
    let listen = std::net::SocketAddr::new(config.listen.ip(), 0);
    Ok(Transport::bind(
        listen,
        creds,
        trust,
        config.transport.clone(),
    )?)
}

/// Journal the sharing policy the node starts with (its hash, origin and,
/// when small enough, its files as an archive the auditor re-runs).
pub async fn record_policy_load(
    storage: &Storage,
    policy: &credex_policies::PolicySet,
    files: &crate::config::PolicyFiles,
) -> Result<(), StartError> {
    let read = |p: &Option<PathBuf>| -> Result<Option<String>, StartError> {
        p.as_deref().map(read_text).transpose()
    };
    let archive = credex_journal::PolicyArchive {
        policy: read(&files.file)?,
        catalogue_supplement: read(&files.catalogue_supplement)?,
        groups: read(&files.groups)?,
    };
    let size: usize = [
        &archive.policy,
        &archive.catalogue_supplement,
        &archive.groups,
    ]
    .iter()
    .map(|t| t.as_ref().map_or(0, String::len))
    .sum();
    let entry = credex_journal::PolicyLoaded {
        version: credex_journal::ENTRY_VERSION,
        at_ms: storage.clock().now_ms(),
        policy_hash: policy.policy_hash(),
        origin: policy.origin().to_owned(),
        archive: (size <= credex_journal::MAX_POLICY_ARCHIVE).then_some(archive),
    };
    storage.append_entry(&entry).await?;
    tracing::info!(policy_hash = %policy.policy_hash_hex(), origin = %policy.origin(), "sharing policy loaded");
    Ok(())
}

/// The rule documents this node's egress gate decides under — its
/// agreements, its catalogue (base and supplement) and its reporting
/// catalogue — for an audit that re-runs its decisions (the console's
/// audits of uploaded exports).
pub fn egress_rules(
    config: &NodeConfig,
) -> Result<credex_policies::egress::EgressRules, RuleDocumentsError> {
    let beside = config.path.parent().map(|d| d.join("agreements"));
    rule_documents(
        beside.as_deref(),
        config.policy.catalogue_supplement.as_deref(),
        config.upward.reporting_list.as_deref(),
    )
}

/// The shipped rule documents with a federation's own: the agreements of
/// `agreements` (a node's `agreements/` directory, see
/// [`crate::eval::load_agreements_in`]), the catalogue supplement and the
/// reporting catalogue; each one not given stays the shipped one.
pub fn rule_documents(
    agreements: Option<&std::path::Path>,
    catalogue_supplement: Option<&std::path::Path>,
    reporting_list: Option<&std::path::Path>,
) -> Result<credex_policies::egress::EgressRules, RuleDocumentsError> {
    let mut rules = credex_policies::egress::EgressRules::builtin();
    if let Some(dir) = agreements {
        rules.agreements = crate::eval::load_agreements_in(dir)?;
    }
    if let Some(path) = catalogue_supplement {
        rules.catalogue = rules.catalogue.load_supplement_file(path)?;
    }
    if let Some(path) = reporting_list {
        rules.list = credex_policies::ReportingList::load_file(path, &rules.catalogue)?;
    }
    Ok(rules)
}

/// Which rule document did not load (each error names its file).
#[derive(Debug, thiserror::Error)]
pub enum RuleDocumentsError {
    /// An agreement file, or the directory.
    #[error(transparent)]
    Agreements(#[from] crate::eval::AgreementsLoadError),
    /// The catalogue supplement.
    #[error(transparent)]
    CatalogueSupplement(#[from] credex_policies::CatalogueError),
    /// The reporting catalogue.
    #[error(transparent)]
    ReportingList(#[from] credex_policies::ReportingError),
}
