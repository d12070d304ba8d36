//! The benchmark's fixtures: a throw-away development federation with its
//! quotas raised out of the way, and a factory of distinct, fully
//! authorized queries from one node to another. What `credex bench` and the
//! criterion benchmark `node/kit/benches/decision.rs` build on.
//!
//! Owns: [`BenchFederation`] and [`QueryFactory`]. Does not own any
//! measurement ([`super::query`], [`super::crypto`]).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use credex_node::config::NodeConfig;
use credex_node::requester::{self, QuerySpec, Signer};
use credex_node::storage::Storage;
use credex_protocol::query::{
    AuthorizedQuery, CategoryFields, SignedSubjectAuthorization, SubjectAuthorization, SubjectRef,
};
use credex_protocol::{NodeName, RegionCode};

use super::{
    BENCH_CATEGORY, BENCH_FIELDS, BENCH_LEGAL_BASIS, BENCH_PURPOSE, BENCH_QUOTA_PER_DAY, BenchError,
};
use crate::dev::{self, DevNode};

/// A development federation in a temporary directory (removed on drop),
/// with quotas raised to [`BENCH_QUOTA_PER_DAY`].
pub struct BenchFederation {
    dir: tempfile::TempDir,
    nodes: Vec<DevNode>,
}

impl std::fmt::Debug for BenchFederation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BenchFederation")
            .field("dir", &self.dir.path())
            .finish()
    }
}

impl BenchFederation {
    /// Create it (root, four region CAs, nodes, operators, authorities,
    /// policies, sample records), in the system temporary directory.
    pub fn create() -> Result<BenchFederation, BenchError> {
        BenchFederation::create_in(credex_protocol::Suite::Ed25519Sha256)
    }

    /// [`BenchFederation::create`] under the crypto suite `suite`.
    pub fn create_in(suite: credex_protocol::Suite) -> Result<BenchFederation, BenchError> {
        let dir = tempfile::tempdir().map_err(|source| BenchError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
        let nodes =
            dev::init_regions_with_suite(dir.path(), dev::DEV_BASE_PORT, &dev::DEV_REGIONS, suite)?;
        for node in &nodes {
            raise_quotas(&node.config.with_file_name("policy.toml"))?;
        }
        Ok(BenchFederation { dir, nodes })
    }

    /// The federation's directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The node named `name` (gy-1, cq-1, gz-1, national-1).
    pub fn node(&self, name: &str) -> Result<&DevNode, BenchError> {
        self.nodes
            .iter()
            .find(|n| n.name.as_str() == name)
            .ok_or_else(|| BenchError::Usage(format!("no node {name} in the dev federation")))
    }

    /// The node's configuration, listening on an ephemeral loopback port.
    pub fn config(&self, name: &str) -> Result<NodeConfig, BenchError> {
        let mut config = NodeConfig::load(&self.node(name)?.config)?;
        config.listen.set_port(0);
        Ok(config)
    }

    /// An operator (`req-1`, `apv-1` …) or the authorization authority
    /// (`portal`) of `region`, ready to sign.
    pub fn signer(&self, region: RegionCode, name: &str) -> Result<Signer, BenchError> {
        let dir = if name == "portal" {
            self.path().join(format!("authorities/{region}"))
        } else {
            self.path().join(format!("operators/{region}"))
        };
        Ok(Signer::load(
            &dir.join(format!("{name}.pem")),
            &dir.join(format!("{name}.key")),
        )?)
    }

    /// The sample record files of `region`: (category, path).
    pub fn sample_files(&self, region: RegionCode) -> Vec<(&'static str, PathBuf)> {
        [
            "admin_penalty",
            "tax_credit_rating",
            "public_credit_evaluation",
        ]
        .into_iter()
        .map(|c| (c, self.path().join(format!("records/{region}/{c}.jsonl"))))
        .collect()
    }

    /// Import the sample records of `config`'s region into `storage` (the
    /// node's, natural persons with its key ring and vault); returns how
    /// many.
    pub async fn import_samples(
        &self,
        storage: &Storage,
        config: &NodeConfig,
        catalogue: &credex_policies::Catalogue,
    ) -> Result<u64, BenchError> {
        let persons =
            credex_node::pseudonyms::NaturalPersons::load(config, &ring::rand::SystemRandom::new())
                .map_err(|e| BenchError::Policy {
                    path: config.data_dir.clone(),
                    reason: e.to_string(),
                })?;
        let mut n = 0;
        for (category, file) in self.sample_files(config.region) {
            n += credex_node::records::import_file_of_persons(
                storage,
                &file,
                category,
                catalogue,
                persons.as_ref(),
            )
            .await?;
        }
        Ok(n)
    }

    /// The sample records of `region` in `category`, decoded as the
    /// responder reads them.
    pub fn sample_records(
        &self,
        region: RegionCode,
        category: &str,
        catalogue: &credex_policies::Catalogue,
    ) -> Result<Vec<credex_policies::Record>, BenchError> {
        let file = self
            .path()
            .join(format!("records/{region}/{category}.jsonl"));
        credex_node::records::parse_file(&file, category, catalogue)?
            .iter()
            .map(|row| {
                credex_protocol::decode(&row.body).map_err(|e| BenchError::Policy {
                    path: file.clone(),
                    reason: format!("sample record unreadable: {e}"),
                })
            })
            .collect()
    }
}

/// Rewrite every `per_day = N` of a policy file to [`BENCH_QUOTA_PER_DAY`].
fn raise_quotas(path: &Path) -> Result<(), BenchError> {
    let io = |source| BenchError::Io {
        path: path.to_owned(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(io)?;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        match line.find("per_day = ") {
            Some(at) => {
                let start = at + "per_day = ".len();
                let digits = line[start..]
                    .find(|c: char| !c.is_ascii_digit())
                    .map_or(line.len(), |n| start + n);
                if digits == start {
                    return Err(BenchError::Policy {
                        path: path.to_owned(),
                        reason: format!("unexpected quota line {line:?}"),
                    });
                }
                out.push_str(&line[..start]);
                out.push_str(&BENCH_QUOTA_PER_DAY.to_string());
                out.push_str(&line[digits..]);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    std::fs::write(path, out).map_err(io)
}

/// Builds distinct, fully authorized queries from one requesting node to
/// one region: signed by `req-1`, approved by `apv-1`, each with its own
/// request id and nonce.
pub struct QueryFactory {
    region: RegionCode,
    node: NodeName,
    target: RegionCode,
    requester: Signer,
    approver: Signer,
    subjects: Vec<String>,
    authorization: Option<SignedSubjectAuthorization>,
}

impl std::fmt::Debug for QueryFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryFactory")
            .field("region", &self.region)
            .field("target", &self.target)
            .finish()
    }
}

impl QueryFactory {
    /// Queries from node `node` of `region` to `target`, about `target`'s
    /// sample companies (round robin), citing [`BENCH_LEGAL_BASIS`].
    pub fn new(
        fed: &BenchFederation,
        region: RegionCode,
        node: NodeName,
        target: RegionCode,
    ) -> Result<QueryFactory, BenchError> {
        Ok(QueryFactory {
            region,
            node,
            target,
            requester: fed.signer(region, "req-1")?,
            approver: fed.signer(region, "apv-1")?,
            subjects: dev::sample_subjects(target),
            authorization: None,
        })
    }

    /// From now on, queries carry a subject authorization signed by the
    /// target region's authority (`portal`, the data owner's) for the first sample
    /// company, instead of a legal basis. It allows `max_uses` queries at
    /// each responder.
    pub fn with_subject_authorization(
        mut self,
        fed: &BenchFederation,
        max_uses: u32,
    ) -> Result<QueryFactory, BenchError> {
        let authority = fed.signer(self.target, "portal")?;
        let now = credex_node::query::unix_ms(SystemTime::now());
        let subject =
            self.subjects.first().cloned().ok_or_else(|| {
                BenchError::Usage("the target region has no sample subject".into())
            })?;
        let signed = requester::issue_authorization(
            &authority,
            SubjectAuthorization {
                authorization_id: requester::random_id(),
                subject: SubjectRef::LegalPerson(subject.clone()),
                grantee_region: self.region,
                purposes: vec![BENCH_PURPOSE.to_owned()],
                categories: vec![BENCH_CATEGORY.to_owned()],
                not_before_ms: now - 3_600_000,
                not_after_ms: now + 86_400_000,
                max_uses,
            },
        )?;
        self.subjects = vec![subject];
        self.authorization = Some(signed);
        Ok(self)
    }

    /// What query number `i` asks.
    pub fn spec(&self, i: usize) -> QuerySpec {
        let subject = &self.subjects[i % self.subjects.len()];
        QuerySpec {
            target_region: self.target,
            subject: SubjectRef::LegalPerson(subject.clone()),
            purpose: BENCH_PURPOSE.to_owned(),
            requested: vec![CategoryFields {
                category: BENCH_CATEGORY.to_owned(),
                fields: BENCH_FIELDS.iter().map(|f| (*f).to_owned()).collect(),
            }],
            legal_basis: match self.authorization {
                Some(_) => None,
                None => Some(BENCH_LEGAL_BASIS.to_owned()),
            },
            subject_authorization: self.authorization.clone(),
        }
    }

    /// Query number `i`, signed and approved now.
    pub fn build(&self, i: usize) -> Result<AuthorizedQuery, BenchError> {
        let mut file = requester::draft_and_sign(
            self.region,
            self.node.clone(),
            self.spec(i),
            &self.requester,
            SystemTime::now(),
        )?;
        requester::approve(&mut file, &self.approver)?;
        Ok(file.authorized()?)
    }

    /// `n` queries, built on `threads` threads.
    pub fn build_many(&self, n: usize, threads: usize) -> Result<Vec<AuthorizedQuery>, BenchError> {
        let threads = threads.clamp(1, 64);
        let per = n.div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let range = (t * per)..((t + 1) * per).min(n);
                    scope.spawn(move || range.map(|i| self.build(i)).collect::<Result<Vec<_>, _>>())
                })
                .collect();
            let mut out = Vec::with_capacity(n);
            for h in handles {
                match h.join() {
                    Ok(part) => out.extend(part?),
                    Err(_) => {
                        return Err(BenchError::Usage("a query-building thread panicked".into()));
                    }
                }
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raised_quotas_replace_every_quota_and_the_policy_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        let original = include_str!("../../../../policies/examples/policy-440000.toml");
        std::fs::write(&path, original).unwrap();
        raise_quotas(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let policy = credex_policies::PolicySet::parse(
            &text,
            "policy.toml",
            &credex_policies::Catalogue::base(),
            &credex_policies::AgreementGroups::builtin(),
        )
        .unwrap();
        let quotas: Vec<u64> = policy
            .rules()
            .iter()
            .filter_map(|r| r.quota())
            .map(|q| q.per_day)
            .collect();
        assert!(!quotas.is_empty(), "the example policy has quotas");
        assert!(
            quotas.iter().all(|&q| q == BENCH_QUOTA_PER_DAY),
            "{quotas:?}"
        );
        assert_eq!(
            text.lines().count(),
            original.lines().count(),
            "only numbers change"
        );
    }
}
