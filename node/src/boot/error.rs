//! Why a node could not start: one variant per thing it loads, each
//! naming the file or the part that failed.

use std::path::PathBuf;

use crate::storage::StorageError;
use crate::transport::SetupError;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A private key or database file that group or others can read.
    #[error("{0}")]
    ReadableByOthers(#[from] crate::file_modes::ReadableByOthers),
    /// A certificate, key or CRL file could not be read or parsed.
    #[error("{path}: {reason}")]
    TlsFile {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The node's key in a hardware security module could not be opened,
    /// or is not its certificate's (decision 1090).
    #[error("{}: [tls] key: {reason}", config.display())]
    KeyInModule {
        /// The configuration file naming the key.
        config: PathBuf,
        /// What failed: the module, token, key label or PIN source named.
        reason: String,
    },
    /// The key that signs the node's messages is not of the federation's
    /// crypto suite (a node of another suite would be refused by every
    /// peer).
    #[error("{path}: {reason}")]
    Suite {
        /// The key file.
        path: PathBuf,
        /// What disagrees, and what to configure instead.
        reason: String,
    },
    /// The node certificate does not match the configured identity.
    #[error("{path}: {reason}")]
    IdentityMismatch {
        /// The certificate file.
        path: PathBuf,
        /// What disagrees.
        reason: String,
    },
    /// The storage could not be opened.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The endpoint could not be set up.
    #[error("transport: {0}")]
    Transport(#[from] SetupError),
    /// The log could not be set up.
    #[error("log: {0}")]
    Log(#[from] crate::log::LogError),
    /// The log is behind, or contradicts, a checkpoint it published; or a
    /// restored node could not confirm its published head.
    #[error("log head: {0}")]
    LogHead(Box<crate::log::head::HeadError>),
    /// The sharing policy could not be loaded.
    #[error("policy: {0}")]
    Policy(#[from] crate::query::PolicyLoadError),
    /// The pseudonym keys could not be loaded, or natural persons are
    /// stored and no key ring is configured.
    #[error("pseudonyms: {0}")]
    Pseudonyms(#[from] crate::pseudonyms::PseudonymsError),
    /// A federation flow (recognition, lists, upward channel) could not be
    /// set up.
    #[error("{flow}: {reason}")]
    Flow {
        /// Which flow.
        flow: &'static str,
        /// What was wrong (names the file where one is involved).
        reason: String,
    },
}

impl From<crate::log::head::HeadError> for StartError {
    fn from(e: crate::log::head::HeadError) -> Self {
        StartError::LogHead(Box::new(e))
    }
}
