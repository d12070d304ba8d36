//! The composition root's loaders: everything a node reads from disk once
//! at start and hands down — its identity (certificate chain and key,
//! [`identity`]), the federation trust, the store and the client transport
//! ([`load`]) — and why a start fails ([`StartError`]). The running node
//! ([`crate::service`]) calls these; nothing below it opens a key,
//! certificate or database file of its own.

mod error;
mod identity;
mod load;
pub mod web_identity;

pub use error::StartError;
pub use identity::*;
pub use load::{
    RuleDocumentsError, at_rest_config, client_transport, client_transport_with, egress_rules,
    load_trust, open_storage, read_crls, record_policy_load, rule_documents,
};
