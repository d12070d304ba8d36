//! The files a node consists of besides its database: what its
//! configuration names, and the agreements beside it.

use std::path::PathBuf;

use crate::config::NodeConfig;

/// Every file `config` names that exists, with its role: the configuration
/// itself first. Paths are absolute. The pseudonym keys are not among them
/// ([`kept_apart`]).
pub(super) fn node_files(config: &NodeConfig) -> Vec<(String, PathBuf)> {
    let mut files: Vec<(String, PathBuf)> = vec![("config".into(), config.path.clone())];
    let mut add = |role: &str, path: &Option<PathBuf>| {
        if let Some(p) = path {
            files.push((role.to_owned(), p.clone()));
        }
    };
    add("tls.cert", &Some(config.tls.cert.clone()));
    // A key in a hardware security module is no file (decision 1090).
    if config.tls.key_in_module.is_none() {
        add("tls.key", &Some(config.tls.key.clone()));
    }
    add("tls.root", &Some(config.tls.root.clone()));
    for crl in &config.tls.crls {
        add("tls.crl", &Some(crl.clone()));
    }
    add("policy.file", &config.policy.file);
    add(
        "policy.catalogue_supplement",
        &config.policy.catalogue_supplement,
    );
    add("policy.groups", &config.policy.groups);
    add("policy.rights", &config.policy.rights);
    add("upward.reporting_list", &config.upward.reporting_list);
    add("upward.holidays", &config.upward.holidays);
    if let Some(web) = config
        .console
        .as_ref()
        .and_then(|c| c.web_identity.as_ref())
    {
        add("console.certificate", &Some(web.certificate.clone()));
        add("console.key", &Some(web.key.clone()));
    }
    if let Some(web) = config
        .gateway
        .as_ref()
        .and_then(|g| g.web_identity.as_ref())
    {
        add("gateway.certificate", &Some(web.certificate.clone()));
        add("gateway.key", &Some(web.key.clone()));
    }
    if let Some(dir) = config.path.parent().map(|d| d.join("agreements"))
        && let Ok(entries) = std::fs::read_dir(&dir)
    {
        let mut agreements: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        agreements.sort();
        for a in agreements {
            files.push(("agreement".into(), a));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    files
        .into_iter()
        .map(|(role, p)| (role, std::path::absolute(&p).unwrap_or(p)))
        .filter(|(_, p)| p.is_file() && seen.insert(p.clone()))
        .collect()
}

/// The files a snapshot leaves out and names instead: the pseudonym key ring,
/// the vault key and the key-encryption key. With the database, the first
/// two would let the snapshot's holder recover natural persons' IDs
/// (decision 0630: keep them apart from database backups), the last would
/// open what the database holds sealed (decision 1110); they are backed up
/// separately, as key material.
pub(super) fn kept_apart(config: &NodeConfig) -> Vec<PathBuf> {
    [
        config.pseudonyms.keys.clone(),
        Some(config.pseudonyms.vault_key.clone()),
        config.key_encryption_key.clone(),
    ]
    .into_iter()
    .flatten()
    .filter(|p| p.is_file())
    .map(|p| std::path::absolute(&p).unwrap_or(p))
    .collect()
}
