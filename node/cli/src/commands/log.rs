//! `credex log …` and `credex audit …`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use credex_audit::anchor::AuditOptions;
use credex_node::config::NodeConfig;
use credex_pki::TrustStore;

/// The node's access log.
#[derive(Subcommand)]
pub enum LogCommand {
    /// Export the log as a C2SP tlog-tiles directory (with checkpoints, the
    /// verifier key, the node certificate and the authorization bundles).
    Export {
        /// The node's configuration.
        #[arg(long)]
        config: PathBuf,
        /// A new directory to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Put back entries a restore lost, from an export of this node's own
    /// log that holds them (an auditor's copy, an earlier export). Run with
    /// the node stopped; the export must be signed by this node's key and
    /// begin with exactly the entries the log holds.
    Recover {
        /// The node's configuration.
        #[arg(long)]
        config: PathBuf,
        /// The export directory.
        #[arg(long)]
        from: PathBuf,
    },
    /// Every region that received one of this node's records, and how
    /// (query answer, upward batch, list push), from the disclosures
    /// ledger (经手必有责).
    Recipients(super::disclosures::RecipientsArgs),
    /// Recompute the disclosures ledger from the log and compare it with
    /// the stored one; exits non-zero on any difference. `--rebuild`
    /// (with the node stopped) makes the stored ledger equal to the log's.
    CheckDisclosures(super::disclosures::CheckArgs),
}

/// The auditor's tools: offline, trusting only the federation root.
#[derive(Subcommand)]
pub enum AuditCommand {
    /// Verify exported logs: tree, checkpoints, signatures, cosignatures,
    /// dual authorizations, and each access on both sides. A log is verified
    /// only up to what witnesses or a pinned checkpoint vouch for (its
    /// anchor). Exits non-zero on any violation, an unanchored log included.
    Verify {
        /// Exported log directories.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// The federation root certificate (PEM).
        #[arg(long)]
        trust: PathBuf,
        /// CRL files (PEM) of the root and region CAs.
        #[arg(long)]
        crl: Vec<PathBuf>,
        #[command(flatten)]
        anchoring: Anchoring,
        #[command(flatten)]
        rules: RuleDocuments,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fetch a node's log over the protocol as an operator with the auditor
    /// role (of that node's region or of the national platform), into the
    /// layout `audit verify` reads.
    Fetch {
        /// The configuration of the node to connect through.
        #[arg(long)]
        config: PathBuf,
        /// The auditor's operator certificate chain (PEM).
        #[arg(long)]
        cert: PathBuf,
        /// The auditor's private key (PEM).
        #[arg(long)]
        key: PathBuf,
        /// The node to audit, as REGION/NAME (a configured peer).
        #[arg(long)]
        peer: String,
        /// A new directory to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Fetch a node's log from its integration gateway (HTTPS) with a
    /// gateway client certificate holding the `audit` role, into the
    /// layout `audit verify` reads.
    FetchGateway {
        /// The gateway's address, e.g. 127.0.0.1:8443.
        #[arg(long)]
        gateway: std::net::SocketAddr,
        /// The node's region (its certificate must name it).
        #[arg(long)]
        region: credex_protocol::RegionCode,
        /// The client certificate chain (PEM), from `credex pki client --roles audit`.
        #[arg(long)]
        cert: PathBuf,
        /// The client's private key (PEM).
        #[arg(long)]
        key: PathBuf,
        /// The federation root certificate (PEM).
        #[arg(long)]
        trust: PathBuf,
        /// A new directory to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// List every access to one subject ("who looked at my data").
    Subject {
        /// The subject: a unified social credit code, or a natural person's
        /// pseudonyms EPOCH:HEX,EPOCH:HEX… (`credex pseudonym of` prints them;
        /// a clear citizen ID is not accepted: auditors hold no key).
        id: String,
        /// Exported log directories.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// The federation root certificate (PEM).
        #[arg(long)]
        trust: PathBuf,
        /// CRL files (PEM).
        #[arg(long)]
        crl: Vec<PathBuf>,
        #[command(flatten)]
        anchoring: Anchoring,
        #[command(flatten)]
        rules: RuleDocuments,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// What vouches for a log beyond its own key.
#[derive(clap::Args)]
pub struct Anchoring {
    /// Distinct witnesses whose cosignatures (or witnessed checkpoints in
    /// other exports) must vouch for a checkpoint before a log is verified
    /// up to it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    quorum: u16,
    /// A checkpoint kept from an earlier audit (e.g. the `checkpoint` file
    /// of an earlier export): the log must still contain it, and is verified
    /// at least up to it. Repeatable.
    #[arg(long)]
    pinned: Vec<PathBuf>,
    /// A witness node's certificate chain (PEM), for cosignatures by nodes
    /// whose logs are not exported here. Repeatable.
    #[arg(long)]
    witness_cert: Vec<PathBuf>,
}

/// The rule documents the federation's nodes decide egress under, when
/// they are not only the shipped ones: the auditor re-runs every message's
/// egress decision under them (a message decided under documents the
/// auditor lacks is counted as not re-run).
#[derive(clap::Args)]
pub struct RuleDocuments {
    /// The federation's `agreements/` directory: its `*.toml` agreements
    /// are added to the shipped ones, as a node adds those beside its
    /// configuration.
    #[arg(long)]
    agreements: Option<PathBuf>,
    /// The catalogue supplement the nodes load (`[policy]
    /// catalogue_supplement`).
    #[arg(long)]
    catalogue_supplement: Option<PathBuf>,
    /// The reporting catalogue the provinces report upward under
    /// (`[upward] reporting_list`).
    #[arg(long)]
    reporting_list: Option<PathBuf>,
}

impl RuleDocuments {
    fn load(&self) -> Result<credex_audit::egress::EgressRules> {
        use credex_node::boot::RuleDocumentsError as E;
        if let Some(dir) = &self.agreements
            && !dir.is_dir()
        {
            bail!("--agreements {}: not a directory", dir.display());
        }
        credex_node::boot::rule_documents(
            self.agreements.as_deref(),
            self.catalogue_supplement.as_deref(),
            self.reporting_list.as_deref(),
        )
        .map_err(|e| {
            let (flag, path) = match &e {
                E::Agreements(_) => ("--agreements", &self.agreements),
                E::CatalogueSupplement(_) => ("--catalogue-supplement", &self.catalogue_supplement),
                E::ReportingList(_) => ("--reporting-list", &self.reporting_list),
            };
            let path = path.as_deref().map(|p| p.display().to_string());
            anyhow::Error::new(e).context(format!("{flag} {}", path.unwrap_or_default()))
        })
    }
}

impl Anchoring {
    /// The federation root and CRLs, what must vouch for a log, and the
    /// rule documents egress is re-run under.
    fn trusting(
        &self,
        root: &Path,
        crl: &[PathBuf],
        rules: &RuleDocuments,
    ) -> Result<(TrustStore, AuditOptions)> {
        let store = trust(root, crl)?;
        let mut options = self.options(&store)?;
        options.egress_rules = rules.load()?;
        Ok((store, options))
    }

    fn options(&self, trust: &TrustStore) -> Result<AuditOptions> {
        let pinned = self
            .pinned
            .iter()
            .map(|p| {
                let bytes =
                    std::fs::read(p).with_context(|| format!("--pinned {}", p.display()))?;
                Ok((p.display().to_string(), bytes))
            })
            .collect::<Result<Vec<_>>>()?;
        let witnesses = self
            .witness_cert
            .iter()
            .map(|p| {
                let pem = std::fs::read_to_string(p)
                    .with_context(|| format!("--witness-cert {}", p.display()))?;
                Ok(credex_audit::anchor::witness_key(trust, &pem, p)?)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AuditOptions {
            quorum: usize::from(self.quorum),
            pinned,
            witnesses,
            ..AuditOptions::default()
        })
    }
}

/// Run a log command.
pub async fn log(cmd: LogCommand) -> Result<()> {
    match cmd {
        LogCommand::Export { config, out } => export(&config, &out).await,
        LogCommand::Recover { config, from } => recover(&config, &from).await,
        LogCommand::Recipients(args) => super::disclosures::recipients(args).await,
        LogCommand::CheckDisclosures(args) => super::disclosures::check(args).await,
    }
}

/// `credex log recover`.
async fn recover(config: &Path, from: &Path) -> Result<()> {
    let config = NodeConfig::load(config)?;
    // The key file's, or the key in its module (decision 1090).
    let key = credex_node::boot::load_log_key(&config)?;
    let storage = credex_node::service::open_storage(&config).await?;
    let result = credex_node::log::recover::recover_from_export(&storage, &key, from).await;
    storage.close().await;
    let r = result?;
    println!(
        "recovered entries {}..{} of {} from {}: the log holds {} entries again, root {}",
        r.from,
        r.to,
        key.origin(),
        from.display(),
        r.to,
        r.root.to_hex()
    );
    println!(
        "what came back: {}",
        r.kinds
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "not recovered: the state those entries wrote (claims, outbox, cases, ledgers) is the backup's; review \
         them before serving. Start the node: it confirms the log with its witnesses again."
    );
    Ok(())
}

/// `credex log export`.
async fn export(config: &Path, out: &Path) -> Result<()> {
    let config = NodeConfig::load(config)?;
    // The log key, with the SM2 line's key under `sm2-sm3`, and both chains.
    let identity = credex_node::boot::NodeIdentity::load(&config)?;
    let chains = credex_node::export::NodeChains {
        tls: &identity.chain_pem,
        signing: identity.signing_chain_pem.as_deref(),
    };
    let storage = credex_node::service::open_storage(&config).await?;
    let result = credex_node::export::export_chains(&storage, &identity.log_key, chains, out).await;
    storage.close().await;
    let summary = result?;
    println!(
        "exported {} entries (root {}) with {} checkpoints and {} authorization bundles to {}",
        summary.size,
        summary.root.to_hex(),
        summary.checkpoints,
        summary.attachments,
        out.display()
    );
    println!("verifier key: {}", identity.log_key.verifier());
    Ok(())
}

/// The federation root and CRLs, read from their PEM files.
pub(crate) fn trust(root: &Path, crl: &[PathBuf]) -> Result<TrustStore> {
    let root_pem = std::fs::read_to_string(root).with_context(|| format!("{}", root.display()))?;
    let crls = crl
        .iter()
        .map(|p| std::fs::read_to_string(p).with_context(|| format!("{}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    Ok(TrustStore::from_pem(&root_pem, &crls)?)
}

/// Run an audit command.
pub async fn audit(cmd: AuditCommand) -> Result<()> {
    match cmd {
        AuditCommand::Fetch {
            config,
            cert,
            key,
            peer,
            out,
        } => audit_fetch(&config, &cert, &key, &peer, &out).await,
        AuditCommand::FetchGateway {
            gateway,
            region,
            cert,
            key,
            trust: root,
            out,
        } => audit_fetch_gateway(gateway, region, &cert, &key, &root, &out).await,
        AuditCommand::Verify {
            dirs,
            trust: root,
            crl,
            anchoring,
            rules,
            json,
        } => audit_verify(&dirs, &root, &crl, &anchoring, &rules, json),
        AuditCommand::Subject {
            id,
            dirs,
            trust: root,
            crl,
            anchoring,
            rules,
            json,
        } => audit_subject(&id, &dirs, &root, &crl, &anchoring, &rules, json),
    }
}

/// `credex audit fetch`: download a peer's log as an auditor.
async fn audit_fetch(config: &Path, cert: &Path, key: &Path, peer: &str, out: &Path) -> Result<()> {
    let config = NodeConfig::load(config)?;
    let (region, name) = peer
        .split_once('/')
        .with_context(|| format!("--peer {peer:?}: expected REGION/NAME"))?;
    let region: credex_protocol::RegionCode = region.parse().context("--peer")?;
    let name: credex_protocol::NodeName = name.parse().context("--peer")?;
    let target = config.peer(region, &name).cloned().with_context(|| {
        format!(
            "{}: no [[peers]] entry for {region}/{name}",
            config.path.display()
        )
    })?;
    let auditor = credex_node::requester::Signer::load(cert, key)?;
    let transport = credex_node::service::client_transport(&config)?;
    let conn = transport.connect_peer(&target).await?;
    let result = credex_node::remote_audit::fetch_log(&conn, &auditor, out).await;
    conn.close();
    transport.close().await;
    let size = result?;
    println!(
        "fetched {size} entries of {region}/{name}'s log into {}; verify with `credex audit verify`",
        out.display()
    );
    Ok(())
}

/// `credex audit fetch-gateway`: download a node's log from its gateway.
async fn audit_fetch_gateway(
    gateway: std::net::SocketAddr,
    region: credex_protocol::RegionCode,
    cert: &Path,
    key: &Path,
    root: &Path,
    out: &Path,
) -> Result<()> {
    let files = credex_kit::gateway_client::ClientFiles { cert, key, root };
    let size = credex_kit::gateway_client::fetch_log(gateway, &files, region, out).await?;
    println!(
        "fetched {size} entries of region {region}'s log from its gateway into {}; verify with `credex audit verify`",
        out.display()
    );
    Ok(())
}

/// `credex audit verify`: verify exported logs, print the report, fail on
/// any violation.
fn audit_verify(
    dirs: &[PathBuf],
    root: &Path,
    crl: &[PathBuf],
    anchoring: &Anchoring,
    rules: &RuleDocuments,
    json: bool,
) -> Result<()> {
    let (store, options) = anchoring.trusting(root, crl, rules)?;
    let started = std::time::Instant::now();
    let bar = progress_bar(credex_audit::total_entries(dirs), json);
    let report = credex_audit::verify_with(dirs, &store, &options, &|n| bar.inc(n));
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_verify_report(&report, secs);
    }
    if !report.passed() {
        bail!("audit found {} violation(s)", report.violations.len());
    }
    Ok(())
}

/// The verification's progress bar: drawn on stderr, only when it is a
/// terminal and the run is long.
fn progress_bar(total: u64, json: bool) -> indicatif::ProgressBar {
    let bar = if total >= 100_000 && !json {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} entries ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// The verification report as text: each log, lost answers, violations,
/// the verdict.
fn print_verify_report(report: &credex_audit::AuditReport, secs: f64) {
    for l in &report.logs {
        print_log_summary(l);
    }
    if !report.answers_lost.is_empty() {
        println!(
            "{} release(s) whose answer never reached the requester (both logs hold the query; not a violation): {}",
            report.answers_lost.len(),
            report
                .answers_lost
                .iter()
                .map(|d| &d[..16])
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for v in &report.violations {
        match v.index {
            Some(i) => {
                println!("VIOLATION {} entry {i}: {} — {}", v.log, v.rule, v.detail)
            }
            None => println!("VIOLATION {}: {} — {}", v.log, v.rule, v.detail),
        }
    }
    println!(
        "{} logs, {} entries verified in {:.2} s ({:.0} entries/s): {}",
        report.logs.len(),
        report.entries,
        secs,
        report.entries as f64 / secs.max(1e-9),
        if report.passed() {
            "PASSED".to_owned()
        } else {
            format!("{} violation(s)", report.violations.len())
        }
    );
}

/// One verified log: its counts and how far an anchor vouches for it.
fn print_log_summary(l: &credex_audit::LogSummary) {
    println!(
        "{}: {} entries, root {}…, {} checkpoints, {} cosignatures, {} accesses answered, {} asked",
        l.origin,
        l.size,
        &l.root[..16.min(l.root.len())],
        l.checkpoints,
        l.cosignatures,
        l.received,
        l.sent
    );
    println!(
        "  {} independent witness(es) saw its latest size {}{}",
        l.witnesses_at_latest.len(),
        l.size,
        if l.witnesses_at_latest.is_empty() {
            String::new()
        } else {
            format!(": {}", l.witnesses_at_latest.join(", "))
        }
    );
    if l.messages > 0 {
        println!(
            "  {} federation messages: {} egress decisions re-run{}",
            l.messages,
            l.egress_rerun,
            if l.egress_not_rerun == 0 {
                String::new()
            } else {
                format!(
                    ", {} made under rule documents this audit lacks (give --agreements, --catalogue-supplement, --reporting-list)",
                    l.egress_not_rerun
                )
            }
        );
    }
    match &l.anchor {
        Some(a) if l.unanchored_entries == 0 => {
            println!("  verified in full: anchored by {a}")
        }
        Some(a) => println!(
            "  verified up to entry {}: anchored by {a}; the {} later entries are vouched for by the node's key alone",
            a.size, l.unanchored_entries
        ),
        None => println!("  NOT VERIFIED: nothing but the node's own key vouches for this log"),
    }
}

/// `credex audit subject`: every access to one subject, from logs that
/// must verify.
fn audit_subject(
    id: &str,
    dirs: &[PathBuf],
    root: &Path,
    crl: &[PathBuf],
    anchoring: &Anchoring,
    rules: &RuleDocuments,
    json: bool,
) -> Result<()> {
    let (store, options) = anchoring.trusting(root, crl, rules)?;
    let subjects = id
        .split(',')
        .map(|s| super::query::subject_ref(s.trim(), None))
        .collect::<Result<Vec<_>>>()
        .context(
            "name a natural person by the pseudonyms `credex pseudonym of` prints (EPOCH:HEX,…), never by the citizen ID",
        )?;
    let (accesses, report) = credex_audit::subject_report(dirs, &store, &options, &subjects);
    if json {
        println!("{}", serde_json::to_string_pretty(&accesses)?);
    } else {
        if accesses.is_empty() {
            println!("no access to this subject is recorded in these logs");
        }
        for a in &accesses {
            print_access(a);
        }
    }
    if !report.passed() {
        bail!(
            "these logs do not verify ({} violation(s)); run `credex audit verify` for details",
            report.violations.len()
        );
    }
    Ok(())
}

/// One access to the subject: when, who asked whom for what, what came of it.
fn print_access(a: &credex_audit::SubjectAccess) {
    let when = time::OffsetDateTime::from_unix_timestamp(a.at_ms / 1000)
        .map(|t| {
            format!(
                "{} {:02}:{:02}:{:02}Z",
                t.date(),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
        .unwrap_or_default();
    println!(
        "{when}  {} asked {} for {} — {:?}; released: {}; officers: {}",
        a.requester,
        a.log,
        a.purpose,
        a.outcome,
        if a.released.is_empty() {
            "nothing".to_owned()
        } else {
            a.released.join(", ")
        },
        a.officers.join(", ")
    );
}
