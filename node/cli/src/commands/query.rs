//! `credex query …`, `credex authorization …`, `credex records …` and
//! `credex id …`: the requester's two-person flow, subject authorizations,
//! record import and identifier checks.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use credex_node::config::NodeConfig;
use credex_node::query::unix_ms;
use credex_node::requester::{self, QueryFile, QuerySpec, Signer};
use credex_pki::PseudonymKeyRing;
use credex_policies::SubjectId;
use credex_protocol::RegionCode;
use credex_protocol::query::{
    CategoryFields, QueryResponse, SubjectAuthorization, SubjectRef, Value,
};

/// The two-person query flow.
#[derive(Subcommand)]
pub enum QueryCommand {
    /// Draft a query and sign it as the requesting officer (经办人).
    New {
        /// This node's configuration (names the requesting region and node).
        #[arg(long)]
        config: PathBuf,
        /// The requester's operator certificate chain (PEM).
        #[arg(long)]
        cert: PathBuf,
        /// The requester's private key (PEM).
        #[arg(long)]
        key: PathBuf,
        /// The region to ask, e.g. 500000.
        #[arg(long)]
        target: RegionCode,
        /// The subject: a unified social credit code, a citizen ID (sent only as
        /// its pseudonym under the current epoch of `[pseudonyms] keys`), or a
        /// pseudonym EPOCH:HEX.
        #[arg(long)]
        subject: String,
        /// Purpose code, e.g. public_procurement.
        #[arg(long)]
        purpose: String,
        /// CATEGORY=FIELD,FIELD… (repeat for several categories).
        #[arg(long = "fields", required = true)]
        fields: Vec<String>,
        /// A legal basis code cited instead of the subject's authorization.
        #[arg(long)]
        legal_basis: Option<String>,
        /// A subject authorization file to attach.
        #[arg(long)]
        authorization: Option<PathBuf>,
        /// The case or file reference the query serves, shown to the approver
        /// (required for a natural person).
        #[arg(long)]
        case: Option<String>,
        /// Where to write the draft.
        #[arg(long)]
        out: PathBuf,
    },
    /// Show a draft and countersign it as a different officer with the approver role (审核人).
    Approve {
        /// The approver's operator certificate chain (PEM).
        #[arg(long)]
        cert: PathBuf,
        /// The approver's private key (PEM).
        #[arg(long)]
        key: PathBuf,
        /// For a query about a natural person: the citizen ID in the case
        /// file. The tool recomputes its pseudonym and refuses to approve a
        /// draft about anyone else.
        #[arg(long)]
        subject_id: Option<String>,
        /// The node's configuration, for its pseudonym key ring (`[pseudonyms] keys`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The draft (updated in place).
        file: PathBuf,
    },
    /// Show a draft in plain words.
    Show {
        /// The draft.
        file: PathBuf,
    },
    /// Send an approved query to its target region, verify the signed answer and log it.
    Send {
        /// This node's configuration.
        #[arg(long)]
        config: PathBuf,
        /// The approved query.
        file: PathBuf,
    },
}

/// Subject authorizations (电子授权).
#[derive(Subcommand)]
pub enum AuthorizationCommand {
    /// Sign a data subject's electronic authorization as an authorization authority.
    Issue {
        /// The authority's certificate chain (PEM).
        #[arg(long)]
        cert: PathBuf,
        /// The authority's private key (PEM).
        #[arg(long)]
        key: PathBuf,
        /// The subject: a unified social credit code, a citizen ID (needs
        /// --pseudonym-keys), or a pseudonym EPOCH:HEX.
        #[arg(long)]
        subject: String,
        /// The federation's pseudonymization key ring, to name a natural person.
        #[arg(long)]
        pseudonym_keys: Option<PathBuf>,
        /// The region allowed to ask.
        #[arg(long)]
        grantee: RegionCode,
        /// Purpose codes, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        purposes: Vec<String>,
        /// Category codes, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        categories: Vec<String>,
        /// Days of validity from now.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// How many queries it may back at each responder.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Credit records.
#[derive(Subcommand)]
pub enum RecordsCommand {
    /// Import a category's records from JSON Lines (.jsonl) or CSV (.csv), all or nothing.
    Import {
        /// The node's configuration.
        #[arg(long)]
        config: PathBuf,
        /// Catalogue category code, e.g. admin_penalty.
        #[arg(long)]
        category: String,
        /// The file.
        file: PathBuf,
    },
    /// Corrections (更正) sent to every region that received a record that
    /// changed, and whether each confirmed; and corrections received of
    /// other regions' records.
    Corrections {
        /// The node's configuration.
        #[arg(long)]
        config: PathBuf,
        /// Only corrections not confirmed yet; exits non-zero if any.
        #[arg(long)]
        unconfirmed: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Objections to records and credit repair applications (decision 0980).
    #[command(flatten)]
    Case(super::record_cases::CaseCommand),
}

/// Subject identifiers.
#[derive(Subcommand)]
pub enum IdCommand {
    /// Validate unified social credit codes and citizen IDs; print each invalid one and the wrong-code rate.
    Check {
        /// Identifiers to check.
        ids: Vec<String>,
        /// A file with one identifier per line (blank lines and # comments skipped).
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

/// Parse a subject into what the wire carries: a USCC, a pseudonym
/// `EPOCH:HEX`, or a citizen ID, named by its pseudonym under the current
/// epoch of `ring` (refused without one: it never travels in clear).
pub fn subject_ref(text: &str, ring: Option<&PseudonymKeyRing>) -> Result<SubjectRef> {
    if let Ok(p) = text.parse() {
        return Ok(SubjectRef::NaturalPerson(p));
    }
    match SubjectId::parse(text.trim()).with_context(|| "--subject".to_string())? {
        SubjectId::LegalPerson(u) => Ok(SubjectRef::LegalPerson(u.as_str().to_owned())),
        SubjectId::NaturalPerson(c) => {
            let ring = ring.context(
                "a citizen ID is named by its pseudonym: give the federation's key ring (`[pseudonyms] keys` in the configuration, or --pseudonym-keys)",
            )?;
            Ok(SubjectRef::NaturalPerson(
                ring.current_pseudonym(c.expose())?,
            ))
        }
    }
}

/// The key ring at `path`, if one is given.
fn ring_at(path: Option<&std::path::Path>) -> Result<Option<PseudonymKeyRing>> {
    Ok(path.map(credex_node::pseudonyms::load_ring).transpose()?)
}

fn parse_fields(specs: &[String]) -> Result<Vec<CategoryFields>> {
    specs
        .iter()
        .map(|spec| {
            let (category, fields) = spec
                .split_once('=')
                .with_context(|| format!("--fields {spec:?}: expected CATEGORY=FIELD,FIELD"))?;
            let fields: Vec<String> = fields
                .split(',')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect();
            if fields.is_empty() {
                bail!("--fields {spec:?}: no field named");
            }
            Ok(CategoryFields {
                category: category.trim().to_owned(),
                fields,
            })
        })
        .collect()
}

/// Run a query command.
pub async fn query(cmd: QueryCommand) -> Result<()> {
    match cmd {
        QueryCommand::New {
            config,
            cert,
            key,
            target,
            subject,
            purpose,
            fields,
            legal_basis,
            authorization,
            case,
            out,
        } => {
            let config = NodeConfig::load(&config)?;
            let requester = Signer::load(&cert, &key)?;
            let subject_authorization = authorization
                .as_deref()
                .map(requester::load_authorization)
                .transpose()?;
            let ring = ring_at(config.pseudonyms.keys.as_deref())?;
            let subject_ref = subject_ref(&subject, ring.as_ref())?;
            let case = case_note(&subject_ref, &subject, case)?;
            let spec = QuerySpec {
                target_region: target,
                subject: subject_ref,
                purpose,
                requested: parse_fields(&fields)?,
                legal_basis,
                subject_authorization,
            };
            query_new(&config, &requester, spec, case, &out)
        }
        QueryCommand::Approve {
            cert,
            key,
            subject_id,
            config,
            file,
        } => query_approve(&cert, &key, subject_id, config, &file),
        QueryCommand::Show { file } => {
            print!("{}", QueryFile::load(&file)?.describe());
            Ok(())
        }
        QueryCommand::Send { config, file } => query_send(&config, &file).await,
    }
}

/// The case note a draft carries for the approver: a query about a natural
/// person names them by citizen ID (shown masked) and names its case.
fn case_note(
    subject_ref: &SubjectRef,
    subject: &str,
    case: Option<String>,
) -> Result<Option<requester::CaseNote>> {
    let masked_subject = match (subject_ref, SubjectId::parse(subject.trim())) {
        (SubjectRef::NaturalPerson(_), Ok(SubjectId::NaturalPerson(id))) => Some(id.masked()),
        (SubjectRef::NaturalPerson(_), _) => bail!(
            "--subject: name a natural person by citizen ID, not by pseudonym, so the approver can check whom the query is about"
        ),
        _ => None,
    };
    if masked_subject.is_some() && case.is_none() {
        bail!("--case: a query about a natural person names the case it serves, for the approver");
    }
    Ok(case.map(|reference| requester::CaseNote {
        reference,
        masked_subject,
    }))
}

/// `credex query new`: draft the query, sign it as the requesting officer
/// and write it for the approver.
fn query_new(
    config: &NodeConfig,
    requester: &Signer,
    spec: QuerySpec,
    case: Option<requester::CaseNote>,
    out: &Path,
) -> Result<()> {
    let mut file = requester::draft_and_sign(
        config.region,
        config.name.clone(),
        spec,
        requester,
        SystemTime::now(),
    )?;
    file.case = case;
    file.save(out)?;
    print!("{}", file.describe());
    println!(
        "written to {}; a different officer with the approver role must now run `credex query approve`",
        out.display()
    );
    Ok(())
}

/// `credex query approve`: show the draft, check a natural person is the
/// one in the case file, countersign it in place.
fn query_approve(
    cert: &Path,
    key: &Path,
    subject_id: Option<String>,
    config: Option<PathBuf>,
    file: &Path,
) -> Result<()> {
    let mut draft = QueryFile::load(file)?;
    let approver = Signer::load(cert, key)?;
    print!("{}", draft.describe());
    if matches!(draft.request.subject, SubjectRef::NaturalPerson(_)) {
        let id = subject_id.context(
            "--subject-id: this query is about a natural person; give the citizen ID in the case file, and the tool checks the draft is about that person",
        )?;
        let config =
            config.context("--config: the node's configuration, for its pseudonym key ring")?;
        let ring = ring_at(NodeConfig::load(&config)?.pseudonyms.keys.as_deref())?
            .context("the configuration names no pseudonym key ring ([pseudonyms] keys)")?;
        requester::confirm_subject(&draft, &id, &ring)?;
        println!("  the draft is about the person in the case file");
    }
    requester::approve(&mut draft, &approver)?;
    draft.save(file)?;
    println!(
        "approved by {}; send it with `credex query send`",
        approver.identity.subject
    );
    Ok(())
}

/// `credex query send`: send the approved query to its target region's
/// peer, verify and log the answer, print it.
async fn query_send(config: &Path, file: &Path) -> Result<()> {
    let config = NodeConfig::load(config)?;
    let query = QueryFile::load(file)?.authorized()?;
    let target = query.request.target_region;
    let peer = config
        .peers
        .iter()
        .find(|p| p.region == target)
        .cloned()
        .with_context(|| {
            format!(
                "{}: no [[peers]] entry for region {target}",
                config.path.display()
            )
        })?;
    let transport = credex_node::service::client_transport(&config)?;
    let storage = credex_node::service::open_storage(&config).await?;
    let conn = transport.connect_peer(&peer).await?;
    let trust = transport.trust().current();
    let result = requester::send(&conn, &trust, &storage, &query).await;
    conn.close();
    storage.close().await;
    transport.close().await;
    print_response(&result?);
    Ok(())
}

fn show_value(v: &Value) -> String {
    match v {
        Value::Text(s) | Value::Code(s) | Value::Date(s) | Value::Decimal(s) => s.clone(),
        Value::Integer(n) => n.to_string(),
        Value::Boolean(b) => b.to_string(),
    }
}

/// Print a verified response for a person.
pub fn print_response(r: &QueryResponse) {
    let b = &r.body;
    println!(
        "{:?} by {}/{} — reason {} — policy {}",
        b.outcome,
        b.responder_region,
        b.responder_node,
        b.reason,
        hex::encode(&b.policy_hash[..8])
    );
    for c in &b.released {
        println!("  released {}: {}", c.category, c.fields.join(", "));
    }
    for c in &b.withheld {
        println!("  withheld {}: {}", c.category, c.fields.join(", "));
    }
    for rec in &b.records {
        println!("  record {} ({})", rec.record_id, rec.category);
        for (k, v) in &rec.fields {
            println!("    {k}: {}", show_value(v));
        }
    }
    println!("(response signature verified; logged in this node's journal)");
}

/// Run an authorization command.
pub fn authorization(cmd: AuthorizationCommand) -> Result<()> {
    let AuthorizationCommand::Issue {
        cert,
        key,
        subject,
        pseudonym_keys,
        grantee,
        purposes,
        categories,
        days,
        uses,
        out,
    } = cmd;
    let authority = Signer::load(&cert, &key)?;
    let ring = ring_at(pseudonym_keys.as_deref())?;
    let now = SystemTime::now();
    let auth = SubjectAuthorization {
        authorization_id: requester::random_id(),
        subject: subject_ref(&subject, ring.as_ref())?,
        grantee_region: grantee,
        purposes,
        categories,
        not_before_ms: unix_ms(now),
        not_after_ms: unix_ms(now + Duration::from_secs(u64::from(days) * 86_400)),
        max_uses: uses,
    };
    let signed = requester::issue_authorization(&authority, auth)?;
    requester::save_authorization(&signed, &out)?;
    println!(
        "authorization {} for region {grantee} signed by {}; valid {days} days, {uses} use(s); written to {}",
        hex::encode(signed.authorization.authorization_id),
        authority.identity.subject,
        out.display()
    );
    Ok(())
}

/// Run a records command.
pub async fn records(cmd: RecordsCommand) -> Result<()> {
    let (config, category, file) = match cmd {
        RecordsCommand::Import {
            config,
            category,
            file,
        } => (config, category, file),
        RecordsCommand::Corrections {
            config,
            unconfirmed,
            json,
        } => return super::corrections::show(&config, unconfirmed, json).await,
        RecordsCommand::Case(cmd) => return super::record_cases::run(cmd).await,
    };
    let config = NodeConfig::load(&config)?;
    let policy = credex_node::query::load_policy(config.region, &config.policy)?;
    let persons =
        credex_node::pseudonyms::NaturalPersons::load(&config, &ring::rand::SystemRandom::new())?;
    let storage = credex_node::service::open_storage(&config).await?;
    let result = credex_node::records::import_file_of_persons(
        &storage,
        &file,
        &category,
        policy.catalogue(),
        persons.as_ref(),
    )
    .await;
    storage.close().await;
    let n = result?;
    println!("imported {n} {category} records from {}", file.display());
    Ok(())
}

/// Run an id command; fails when any identifier is invalid.
pub fn id(cmd: IdCommand) -> Result<()> {
    let IdCommand::Check { ids, file } = cmd;
    let text = match &file {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?
        }
        None => String::new(),
    };
    if ids.is_empty() && file.is_none() {
        bail!("give identifiers as arguments or --file FILE");
    }
    let lines: Vec<&str> = ids.iter().map(String::as_str).chain(text.lines()).collect();
    let report = credex_policies::check_batch(lines.into_iter());
    for bad in &report.invalid {
        println!("line {}: {} — {}", bad.line, bad.masked, bad.reason);
    }
    println!(
        "{} checked ({} legal persons, {} natural persons), {} invalid: wrong-code rate {:.3}‰ (target below {}‰: {})",
        report.total,
        report.legal_persons,
        report.natural_persons,
        report.invalid.len(),
        report.wrong_code_rate_per_mille,
        credex_policies::subject_id::WRONG_CODE_TARGET_PER_MILLE,
        if report.meets_target() {
            "met"
        } else {
            "missed"
        }
    );
    if !report.invalid.is_empty() {
        bail!("{} invalid identifier(s)", report.invalid.len());
    }
    Ok(())
}
