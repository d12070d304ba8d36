//! A federation of any size up to all 31 provincial-level regions plus the
//! national node: root, one region CA per region, one node each, officers
//! (`req-1`, `apv-1`, `aud-1`), an authorization authority (`portal`), a
//! generated sharing policy per province, and synthetic subjects imported
//! in bulk.
//!
//! Certificates, keys and node configurations come from
//! [`credex_kit::dev::init_regions`] over [`credex_kit::dev::PROVINCES`];
//! the simulator replaces each province's example policy with one that
//! peers with every other province, and imports its own subjects.

use std::path::{Path, PathBuf};

use credex_kit::dev::{self, synthetic_uscc};
use credex_node::config::{NodeConfig, StorageTarget};
use credex_node::pki_files::{CaDir, write_public};
use credex_node::storage::{RecordRow, Storage};
use credex_policies::Catalogue;
use credex_protocol::query::SubjectRef;
use credex_protocol::{NodeName, RegionCode};

/// The legal basis provinces accept for penalty queries.
pub const LEGAL_BASIS: &str = "joint-punishment-memorandum";
/// Fields of `admin_penalty` the generated policies release.
pub const PENALTY_FIELDS: [&str; 6] = [
    "decision_number",
    "violation_type",
    "penalty_type",
    "amount",
    "decision_date",
    "deciding_authority",
];
/// Fields of `tax_credit_rating` released for financing with the subject's
/// authorization.
pub const TAX_FIELDS: [&str; 4] = ["year", "grade", "tax_authority", "score"];
/// Fields no policy releases (internal): an over-asking peer asks for them.
pub const INTERNAL_PENALTY_FIELDS: [&str; 2] = ["case_notes", "officer_phone"];
/// Every this many subjects of a region has a tax credit rating too.
pub const TAX_RATING_EVERY: u32 = 4;
/// Rows per import call (below `MAX_IMPORT_ROWS`).
const IMPORT_CHUNK: usize = 100_000;

/// Why the federation could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// Asked for a size outside 3 ..= 32.
    #[error("--regions {0}: expected 3 to 32 (the national node and 2 to 31 provinces)")]
    Size(usize),
    /// A certificate, key or file could not be made.
    #[error("{0}")]
    Pki(#[from] credex_node::pki_files::PkiFileError),
    /// A generated configuration does not load.
    #[error("{0}")]
    Config(#[from] credex_node::config::ConfigError),
    /// A synthetic record does not fit the catalogue.
    #[error("synthetic {category} record: {reason}")]
    Record {
        /// The category.
        category: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// Storage refused the import.
    #[error("importing records into {node}: {source}")]
    Import {
        /// The node.
        node: String,
        /// Why.
        source: credex_node::storage::StorageError,
    },
}

/// One node of the simulated federation.
#[derive(Debug, Clone)]
pub struct SimNode {
    /// Index in the federation.
    pub index: usize,
    /// Region code.
    pub region: RegionCode,
    /// Node name.
    pub name: NodeName,
    /// Region name in words.
    pub label: &'static str,
    /// Its configuration file.
    pub config: PathBuf,
    /// Its certificate chain file.
    pub cert: PathBuf,
    /// Synthetic subjects of the region (0 for the national node).
    pub subjects: u32,
}

impl SimNode {
    /// Whether this is the national platform's node.
    pub fn is_national(&self) -> bool {
        self.region.as_u32() == 0
    }

    /// Subject number `i` (0-based) of this region: a valid USCC.
    pub fn subject(&self, i: u32) -> String {
        synthetic_uscc(self.region, i + 1)
    }

    /// The node's configuration, with the simulator's transport limits, the
    /// run's per-region `quota` and, if given, PostgreSQL storage in a
    /// schema of its own.
    ///
    /// `run` names the run: each run gets fresh schemas
    /// `credex_sim_<run>_<node>` (a schema holding an earlier run's log
    /// would be appended to, and the final audit would rightly fail); they
    /// are left in place for inspection.
    pub fn load_config(
        &self,
        postgres: Option<&str>,
        run: &str,
        quota: crate::report::PeerQuota,
        upward: bool,
    ) -> Result<NodeConfig, FederationError> {
        let mut c = NodeConfig::load(&self.config)?;
        // Ephemeral port at the first start; a restart reuses the port it got.
        c.listen.set_port(0);
        // Short handshakes so a dead peer is noticed quickly; requests and
        // idle connections outlive a partition window, so QUIC retransmits
        // across it instead of abandoning an answered request.
        c.transport.handshake_timeout = std::time::Duration::from_secs(2);
        c.transport.request_timeout = std::time::Duration::from_secs(30);
        c.transport.idle_timeout = std::time::Duration::from_secs(30);
        c.transport.keep_alive = std::time::Duration::from_secs(5);
        c.transport.max_connections_per_peer = 64;
        // `[limits]` peer_requests_per_second / peer_burst, as the run sets
        // them (decision 0650): the malicious node's flood must meet them.
        c.transport.ingress.peer_requests_per_second = quota.requests_per_second;
        c.transport.ingress.peer_burst = quota.burst;
        if upward && !self.is_national() {
            // Reported upward as fast as the national node takes it in: a
            // pass every quarter second, several batches queued.
            c.upward.enabled = true;
            c.upward.interval = std::time::Duration::from_millis(250);
            c.upward.max_in_flight = 8;
        }
        if let Some(url) = postgres {
            c.storage = StorageTarget::Postgres {
                url: url.to_owned(),
                schema: Some(format!(
                    "credex_sim_{run}_{}",
                    self.name.as_str().replace('-', "_")
                )),
            };
        }
        Ok(c)
    }
}

/// The federation on disk.
#[derive(Debug)]
pub struct Federation {
    /// Its directory.
    pub dir: PathBuf,
    /// Its nodes, national first.
    pub nodes: Vec<SimNode>,
}

impl Federation {
    /// Create a federation of `regions` nodes (the national node and
    /// `regions - 1` provinces) in `dir`, with `subjects` synthetic
    /// companies spread evenly over the provinces, under the crypto
    /// `suite`.
    pub fn create(
        dir: &Path,
        regions: usize,
        subjects: u64,
        suite: credex_protocol::Suite,
    ) -> Result<Federation, FederationError> {
        if !(3..=dev::PROVINCES.len()).contains(&regions) {
            return Err(FederationError::Size(regions));
        }
        // The national node first, then the provinces in the order of
        // `dev::PROVINCES` (the development federation's three first).
        let chosen: Vec<(&'static str, &'static str, &'static str)> = dev::PROVINCES
            .iter()
            .filter(|p| p.0 == "000000")
            .chain(dev::PROVINCES.iter().filter(|p| p.0 != "000000"))
            .take(regions)
            .copied()
            .collect();
        let dev_nodes = dev::init_regions_with_suite(dir, dev::DEV_BASE_PORT, &chosen, suite)?;
        let provinces = (regions - 1) as u64;
        let mut nodes = Vec::with_capacity(regions);
        for (index, d) in dev_nodes.into_iter().enumerate() {
            let national = d.region.as_u32() == 0;
            let share = if national {
                0
            } else {
                // Spread evenly; the first provinces take the remainder.
                let p = (index - 1) as u64;
                (subjects / provinces + u64::from(p < subjects % provinces)) as u32
            };
            nodes.push(SimNode {
                index,
                region: d.region,
                cert: d.config.with_file_name(format!("{}.pem", d.name)),
                name: d.name,
                label: d.label,
                config: d.config,
                subjects: share,
            });
        }
        for node in &nodes {
            let dir_of = node.config.parent().unwrap_or(dir);
            write_public(&dir_of.join("policy.toml"), &policy_text(node, &nodes))?;
        }
        Ok(Federation {
            dir: dir.to_owned(),
            nodes,
        })
    }

    /// The root CA.
    pub fn root(&self) -> CaDir {
        CaDir::at(self.dir.join("pki/root"))
    }

    /// The CA of `region`.
    pub fn ca(&self, region: RegionCode) -> CaDir {
        CaDir::at(self.dir.join(format!("pki/{region}")))
    }

    /// An officer (`req-1`, `apv-1`, `aud-1`) or the authority (`portal`) of `region`.
    pub fn signer(
        &self,
        region: RegionCode,
        name: &str,
    ) -> Result<credex_node::requester::Signer, credex_node::requester::RequesterError> {
        let dir = if name == "portal" {
            self.dir.join(format!("authorities/{region}"))
        } else {
            self.dir.join(format!("operators/{region}"))
        };
        credex_node::requester::Signer::load(
            &dir.join(format!("{name}.pem")),
            &dir.join(format!("{name}.key")),
        )
    }
}

/// A province releases penalties to every other province on a legal basis
/// (or with the subject's authorization), tax ratings for financing with
/// the subject's authorization, and penalties to the national platform for
/// upward reporting. The national node releases nothing.
fn policy_text(node: &SimNode, all: &[SimNode]) -> String {
    let region = node.region;
    if node.is_national() {
        return format!(
            "# Sharing policy of the national node {region}: releases nothing.\nowner = \"{region}\"\n"
        );
    }
    let peers: Vec<String> = all
        .iter()
        .filter(|n| !n.is_national() && n.region != region)
        .map(|n| format!("\"{}\"", n.region))
        .collect();
    let peers = peers.join(", ");
    let list = |f: &[&str]| {
        f.iter()
            .map(|x| format!("\"{x}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        r#"# Sharing policy of {label} ({region}) — generated by credex-sim.
owner = "{region}"

[[legal_basis]]
code = "{LEGAL_BASIS}"
title = "《关于对失信被执行人实施联合惩戒的合作备忘录》"

[[rule]]
id = "sim-penalties"
peers = {{ regions = [{peers}] }}
purposes = ["public_procurement", "administrative_approval", "joint_punishment"]
valid_from = "2024-07-01"
valid_until = "2036-06-30"
subject_authorization = "required"
legal_bases = ["{LEGAL_BASIS}"]
quota = {{ per_day = 1000000000 }}

[[rule.release]]
category = "admin_penalty"
fields = [{penalty}]

[[rule]]
id = "sim-financing"
peers = {{ regions = [{peers}] }}
purposes = ["financing"]
valid_from = "2024-07-01"
valid_until = "2036-06-30"
subject_authorization = "required"
quota = {{ per_day = 1000000000 }}

[[rule.release]]
category = "tax_credit_rating"
fields = [{tax}]

[[rule]]
id = "national-upward"
peers = {{ national = true }}
purposes = ["upward_reporting"]
valid_from = "2024-01-01"
subject_authorization = "not_required"

[[rule.release]]
category = "admin_penalty"
fields = "all_shareable"
"#,
        label = node.label,
        penalty = list(&PENALTY_FIELDS),
        tax = list(&TAX_FIELDS),
    )
}

fn record_row(
    catalogue: &Catalogue,
    category: &'static str,
    record_id: String,
    subject: String,
    values: &[(&str, String)],
) -> Result<RecordRow, FederationError> {
    let record = dev::synthetic_record(catalogue, category, values)
        .map_err(|reason| FederationError::Record { category, reason })?;
    let body = credex_protocol::encode(&record).map_err(|e| FederationError::Record {
        category,
        reason: e.to_string(),
    })?;
    Ok(RecordRow {
        category: category.to_owned(),
        record_id,
        subject_key: credex_node::query::subject_key(&SubjectRef::LegalPerson(subject)),
        body,
        copy_of: None,
    })
}

/// Import `node`'s synthetic subjects into `storage`: one administrative
/// penalty each, and a tax credit rating for every
/// [`TAX_RATING_EVERY`]th. Returns the number of records.
pub async fn import_subjects(
    node: &SimNode,
    storage: &Storage,
    catalogue: &Catalogue,
) -> Result<u64, FederationError> {
    let region = node.region;
    let mut total = 0u64;
    let mut start = 0u32;
    while start < node.subjects {
        let end = node.subjects.min(start + (IMPORT_CHUNK as u32 / 2).max(1));
        let mut rows = Vec::with_capacity(((end - start) as usize) * 5 / 4 + 1);
        for i in start..end {
            let subject = node.subject(i);
            let n = i + 1;
            rows.push(record_row(
                catalogue,
                "admin_penalty",
                format!("{region}-AP-{n:07}"),
                subject.clone(),
                &dev::synthetic_penalty(region, n),
            )?);
            if n.is_multiple_of(TAX_RATING_EVERY) {
                rows.push(record_row(
                    catalogue,
                    "tax_credit_rating",
                    format!("{region}-TAX-{n:07}"),
                    subject,
                    &[
                        ("year", "2025".into()),
                        ("grade", ["A", "B", "M", "C"][(n % 4) as usize].into()),
                        ("tax_authority", format!("国家税务总局{region}税务局")),
                        ("evaluation_date", "2026-04-20".into()),
                        ("score", format!("{}", 60 + n % 40)),
                        ("reviewer_notes", "internal".into()),
                    ],
                )?);
            }
        }
        total += storage
            .import_records(rows)
            .await
            .map_err(|source| FederationError::Import {
                node: node.name.to_string(),
                source,
            })?;
        start = end;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_spread_over_provinces_and_policies_load() {
        let dir = tempfile::tempdir().unwrap();
        let fed =
            Federation::create(dir.path(), 5, 10, credex_protocol::Suite::Ed25519Sha256).unwrap();
        let shares: Vec<u32> = fed.nodes.iter().map(|n| n.subjects).collect();
        assert_eq!(shares, vec![0, 3, 3, 2, 2]);
        assert!(fed.nodes[0].is_national());
        assert_eq!(fed.nodes[1].name.as_str(), "gy-1");
        for node in &fed.nodes {
            let quota = crate::report::PeerQuota::default();
            let config = node.load_config(None, "t", quota, true).unwrap();
            assert_eq!(config.upward.enabled, !node.is_national());
            assert_eq!(config.transport.ingress.peer_burst, quota.burst);
            credex_node::query::load_policy(config.region, &config.policy)
                .unwrap_or_else(|e| panic!("{}: {e}", node.name));
        }
        assert!(
            Federation::create(dir.path(), 2, 10, credex_protocol::Suite::Ed25519Sha256).is_err()
        );
    }
}
