//! `credex demo`: a throw-away federation on this machine, narrated.
//!
//! Four nodes (Guizhou, Chongqing, Guangdong, the national platform) on
//! loopback: mutually authenticated QUIC and Hello exchanges; dual-authorized
//! queries granted, trimmed and denied under each region's policy, logged on
//! both sides; and the transport refusing what it must refuse.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result, bail};
use credex_journal::kind;
use credex_node::config::{NodeConfig, logical_server_name};
use credex_node::eval;
use credex_node::lists::{EntryDraft, Lists, ListsPolicy};
use credex_node::pki_files::{CaDir, lifetime};
use credex_node::pseudonyms::NaturalPersons;
use credex_node::query::unix_ms;
use credex_node::records;
use credex_node::requester::{self, QuerySpec, Signer};
use credex_node::service::RunningNode;
use credex_pki::KeyAlgorithm;
use credex_pki::authorization::approve_request;
use credex_protocol::RegionCode;
use credex_protocol::evaluation::Scheme;
use credex_protocol::lists::{ChangeKind, ListKind, NoticeMeans, SubjectNotice};
use credex_protocol::query::{
    AuthorizedQuery, CategoryFields, Outcome, QueryReason, QueryResponse, SubjectAuthorization,
    SubjectRef,
};
use ring::rand::SystemRandom;

use crate::dev::{self, DevNode};

/// Options of `credex demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Keep the federation (certificates, configurations, databases) in DIR
    /// instead of a temporary directory.
    #[arg(long)]
    keep: Option<PathBuf>,
}

struct Checks {
    passed: usize,
    failed: usize,
}

impl Checks {
    fn check(&mut self, ok: bool, what: &str, detail: &str) {
        if ok {
            self.passed += 1;
            println!("  ✔ {what}");
        } else {
            self.failed += 1;
            println!("  ✘ {what}");
        }
        if !detail.is_empty() {
            println!("      {detail}");
        }
    }
}

/// Run the demo.
pub async fn run(args: DemoArgs) -> Result<()> {
    let started = Instant::now();
    let tmp;
    let dir = match &args.keep {
        Some(dir) => {
            if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
                bail!(
                    "{}: not empty; choose a new directory for --keep",
                    dir.display()
                );
            }
            dir.clone()
        }
        None => {
            tmp = tempfile::tempdir().context("creating a temporary directory")?;
            tmp.path().to_owned()
        }
    };
    println!("credex demo — a throw-away federation on this machine\n");
    println!("1. Federation PKI: a root CA, one CA per region, a certificate per node");
    let base_port = free_base_port(dev::DEV_REGIONS.len() as u16)?;
    let nodes = dev::init(&dir, base_port).context("creating the federation")?;
    for n in &nodes {
        println!("   region {} {:<28} node {}", n.region, n.label, n.name);
    }

    println!("\n2. Starting the four nodes (QUIC + TLS 1.3, client certificates required)");
    let mut running = Vec::new();
    for n in &nodes {
        // Each node listens on the port its peers' configurations name, so
        // they can reach each other (recognition, lists, reports). The
        // provinces report upward to the national platform.
        let mut config = NodeConfig::load(&n.config)?;
        config.upward.enabled = !n.region.is_national();
        config.upward.interval = std::time::Duration::from_millis(200);
        let node = RunningNode::start(config)
            .await
            .with_context(|| format!("starting {}", n.name))?;
        println!("   {} listening on {}", n.name, node.local_addr());
        running.push(node);
    }
    let addr_of = |i: usize| running[i].local_addr();
    let mut checks = Checks {
        passed: 0,
        failed: 0,
    };

    println!(
        "\n3. Peers greet each other (mutual TLS, then Hello as the handshake's confirmation)"
    );
    for (a, b) in [(0usize, 1usize), (1, 0), (0, 3), (1, 3), (2, 3), (2, 0)] {
        let (na, nb) = (&nodes[a], &nodes[b]);
        let t = Instant::now();
        let result = running[a]
            .transport()
            .connect(
                addr_of(b),
                &logical_server_name(nb.region, &nb.name),
                nb.region,
                Some(nb.name.clone()),
            )
            .await;
        match result {
            Ok(conn) => {
                let ms = t.elapsed().as_secs_f64() * 1e3;
                conn.ping(7).await?;
                checks.check(
                    true,
                    &format!("{} ({}) ⇄ {} ({})", na.name, na.region, nb.name, nb.region),
                    &format!(
                        "handshake + Hello in {ms:.1} ms; peer certified as {}",
                        conn.peer()
                    ),
                );
                conn.close();
            }
            Err(e) => checks.check(false, &format!("{} ⇄ {}", na.name, nb.name), &e.to_string()),
        }
    }

    queries(&dir, &running, &mut checks).await?;
    recognition(&dir, &running, &mut checks).await?;
    joint_lists(&running, &mut checks).await?;
    upward(&dir, &running, &mut checks).await?;
    audit(&dir, &running, &mut checks).await?;

    println!("\n9. What the transport refuses");
    // A node that dials Guangdong's address expecting Chongqing.
    let (gy, cq, gz) = (&nodes[0], &nodes[1], &nodes[2]);
    let r = running[0]
        .transport()
        .connect(
            addr_of(2),
            &logical_server_name(cq.region, &cq.name),
            cq.region,
            Some(cq.name.clone()),
        )
        .await;
    checks.check(
        r.is_err(),
        &format!(
            "{} dials {}'s address believing it is {} ({}): refused",
            gy.name, gz.name, cq.name, cq.region
        ),
        &r.err().map(|e| e.to_string()).unwrap_or_default(),
    );

    // An impostor federation: its own root, a "Guizhou" CA, a node gy-1.
    let rogue = dir.join("rogue");
    let root = CaDir::create_root(
        rogue.join("root"),
        "rogue root",
        KeyAlgorithm::Ed25519,
        lifetime::ROOT_DAYS,
    )?;
    let ca = root.create_region(
        gy.region,
        rogue.join("520000"),
        KeyAlgorithm::Ed25519,
        lifetime::REGION_CA_DAYS,
    )?;
    ca.issue_node(
        &gy.name,
        &[],
        &[],
        KeyAlgorithm::Ed25519,
        30,
        &rogue.join("node"),
    )?;
    let mut rogue_config = NodeConfig::load(&gy.config)?;
    rogue_config.tls.cert = rogue.join("node/gy-1.pem");
    rogue_config.tls.key = rogue.join("node/gy-1.key");
    rogue_config.listen.set_port(0);
    let rogue_transport = credex_node::service::client_transport(&rogue_config)?;
    let r = rogue_transport
        .connect(
            addr_of(1),
            &logical_server_name(cq.region, &cq.name),
            cq.region,
            Some(cq.name.clone()),
        )
        .await;
    checks.check(
        r.is_err(),
        "an impostor \"gy-1\" whose certificate chains to another root: refused",
        &r.err().map(|e| e.to_string()).unwrap_or_default(),
    );
    rogue_transport.close().await;

    // Revocation: Chongqing's CA revokes cq-1; Guizhou reloads its CRLs.
    let conn = running[1]
        .transport()
        .connect(
            addr_of(0),
            &logical_server_name(gy.region, &gy.name),
            gy.region,
            Some(gy.name.clone()),
        )
        .await?;
    CaDir::at(dir.join(format!("pki/{}", cq.region)))
        .revoke(&cq.config.with_file_name(format!("{}.pem", cq.name)))?;
    let closed = running[0].reload_crls().await?;
    let reason = tokio::time::timeout(std::time::Duration::from_secs(5), conn.closed()).await;
    checks.check(
        closed >= 1 && reason.is_ok(),
        &format!(
            "{} revoked: {}'s live connection from it is closed on CRL reload",
            cq.name, gy.name
        ),
        &reason
            .map(|r| r.to_string())
            .unwrap_or_else(|_| "connection still open".into()),
    );
    let r = running[1]
        .transport()
        .connect(
            addr_of(0),
            &logical_server_name(gy.region, &gy.name),
            gy.region,
            Some(gy.name.clone()),
        )
        .await;
    checks.check(
        r.is_err(),
        &format!(
            "{} tries again with its revoked certificate: refused",
            cq.name
        ),
        &r.err().map(|e| e.to_string()).unwrap_or_default(),
    );

    for node in running {
        node.shutdown().await;
    }
    print_summary(&checks, started, args.keep.as_ref(), &nodes);
    if checks.failed > 0 {
        bail!("{} demo checks failed", checks.failed);
    }
    Ok(())
}

/// The first of `count` consecutive free loopback UDP ports, from
/// [`dev::DEV_BASE_PORT`] + 10,000 upward, so the demo does not collide
/// with a development federation running on the default ports.
fn free_base_port(count: u16) -> Result<u16> {
    let mut base = dev::DEV_BASE_PORT + 10_000;
    while base < 60_000 {
        let all_free =
            (0..count).all(|i| std::net::UdpSocket::bind(("127.0.0.1", base + i)).is_ok());
        if all_free {
            return Ok(base);
        }
        base += 16;
    }
    bail!(
        "no {count} consecutive free UDP ports on 127.0.0.1 between {} and 60000",
        dev::DEV_BASE_PORT + 10_000
    )
}

fn print_summary(checks: &Checks, started: Instant, kept: Option<&PathBuf>, nodes: &[DevNode]) {
    println!("\nWhat this showed:");
    for line in [
        "• A region releases only the fields its sharing policy permits, and only to a request signed by two accountable officers with the company's consent or a legal basis.",
        "• Evaluation results are recognised across an agreement without re-evaluation, and a downgrade reaches every region that recognised the result.",
        "• A serious-dishonesty listing binds the regions its agreements name; each responds and reports its measures, and a repair is confirmed everywhere.",
        "• Every province's records reach the national platform exactly once, with reporting-rate and 7-working-day timeliness figures.",
        "• Every access and message is in both sides' tamper-evident logs; the auditor verifies them offline and catches a changed byte.",
    ] {
        println!("  {line}");
    }
    println!(
        "\nSummary: {} checks passed, {} failed, in {:.1} s.",
        checks.passed,
        checks.failed,
        started.elapsed().as_secs_f64()
    );
    match kept {
        Some(dir) => {
            println!(
                "The federation is kept in {}. Run a node of it with:",
                dir.display()
            );
            if let Some(n) = nodes.first() {
                println!("  credex node run --config {}", n.config.display());
            }
            println!(
                "Re-verify the four exported logs (C2SP tiles, verifier key in each log.vkey) with:"
            );
            let logs: Vec<String> = nodes
                .iter()
                .map(|n| {
                    dir.join("audit")
                        .join(n.name.as_str())
                        .display()
                        .to_string()
                })
                .collect();
            println!(
                "  credex audit verify {} --trust {}",
                logs.join(" "),
                dir.join("pki/root/ca.pem").display()
            );
            if let Some(n) = nodes.get(1) {
                println!(
                    "  credex eval effective --config {} {}   # a company's grade in Chongqing, with provenance",
                    n.config.display(),
                    dev::sample_subjects(nodes[0].region)[1]
                );
            }
            if let Some(n) = nodes.first() {
                println!(
                    "  credex lists status --config {}   # the listing's progress in each region",
                    n.config.display()
                );
            }
        }
        None => println!(
            "(Everything was created in a temporary directory and has been removed; use --keep DIR to keep it.)"
        ),
    }
}

fn signer(dir: &Path, region: &str, name: &str) -> Result<Signer> {
    let sub = if name == "portal" {
        "authorities"
    } else {
        "operators"
    };
    let base = dir.join(format!("{sub}/{region}"));
    Ok(Signer::load(
        &base.join(format!("{name}.pem")),
        &base.join(format!("{name}.key")),
    )?)
}

fn show_fields(list: &[CategoryFields]) -> String {
    list.iter()
        .map(|c| format!("{}: {}", c.category, c.fields.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

async fn ask(from: &RunningNode, to: &RunningNode, q: &AuthorizedQuery) -> Result<QueryResponse> {
    let (region, name) = (to.config().region, to.config().name.clone());
    let conn = from
        .transport()
        .connect(
            to.local_addr(),
            &logical_server_name(region, &name),
            region,
            Some(name),
        )
        .await?;
    let trust = from.transport().trust().current();
    let r = requester::send(&conn, &trust, from.storage(), q).await?;
    conn.close();
    QUERIES_ASKED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(r)
}

/// Queries the demo sent and got an answer to (each must be in both logs).
static QUERIES_ASKED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn expect(
    checks: &mut Checks,
    what: &str,
    r: &QueryResponse,
    outcome: Outcome,
    reason: QueryReason,
) {
    let b = &r.body;
    let mut detail = format!("{:?} — {}", b.outcome, b.reason);
    if !b.released.is_empty() {
        detail.push_str(&format!("; released {}", show_fields(&b.released)));
    }
    if !b.withheld.is_empty() {
        detail.push_str(&format!("; withheld {}", show_fields(&b.withheld)));
    }
    if !b.records.is_empty() {
        detail.push_str(&format!("; {} record(s)", b.records.len()));
    }
    checks.check(b.outcome == outcome && b.reason == reason, what, &detail);
}

async fn queries(dir: &Path, running: &[RunningNode], checks: &mut Checks) -> Result<()> {
    let (gy, cq, gz) = (&running[0], &running[1], &running[2]);
    println!(
        "\n4. Dual-authorized queries (requester + a different approver; subject consent or a legal basis)"
    );
    for (node, region) in [(cq, "500000"), (gz, "440000")] {
        for category in [
            "admin_penalty",
            "tax_credit_rating",
            "public_credit_evaluation",
        ] {
            let file = dir.join(format!("records/{region}/{category}.jsonl"));
            // Natural persons in the file are stored under the node's
            // local key, found by their federation pseudonyms.
            let persons = NaturalPersons::load(node.config(), &SystemRandom::new())?;
            records::import_file_of_persons(
                node.storage(),
                &file,
                category,
                node.queries().policy().catalogue(),
                persons.as_ref(),
            )
            .await?;
        }
    }
    let (req, apv) = (
        signer(dir, "520000", "req-1")?,
        signer(dir, "520000", "apv-1")?,
    );
    let gd_company = dev::sample_subjects("440000".parse()?)[0].clone();
    let cq_company = dev::sample_subjects("500000".parse()?)[0].clone();
    let two_officers = |spec: QuerySpec| -> Result<AuthorizedQuery> {
        let mut f = requester::draft_and_sign(
            gy.config().region,
            gy.config().name.clone(),
            spec,
            &req,
            SystemTime::now(),
        )?;
        requester::approve(&mut f, &apv)?;
        Ok(f.authorized()?)
    };
    let guangdong: RegionCode = "440000".parse()?;
    let chongqing: RegionCode = "500000".parse()?;
    let penalties = |fields: &[&str]| QuerySpec {
        target_region: guangdong,
        subject: SubjectRef::LegalPerson(gd_company.clone()),
        purpose: "public_procurement".into(),
        requested: vec![CategoryFields {
            category: "admin_penalty".into(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
        }],
        legal_basis: Some("joint-punishment-memorandum".into()),
        subject_authorization: None,
    };
    println!("   Guizhou's procurement office asks Guangdong about company {gd_company}:");
    let granted = two_officers(penalties(&[
        "decision_number",
        "penalty_type",
        "amount",
        "decision_date",
    ]))?;
    expect(
        checks,
        "penalties for a tender, citing the joint-punishment memorandum: granted",
        &ask(gy, gz, &granted).await?,
        Outcome::Granted,
        QueryReason::Granted,
    );
    let over = two_officers(penalties(&[
        "decision_number",
        "amount",
        "case_notes",
        "offender_id_number",
    ]))?;
    expect(
        checks,
        "asking also for internal case notes and an ID number: trimmed to what the policy allows",
        &ask(gy, gz, &over).await?,
        Outcome::Trimmed,
        QueryReason::Trimmed,
    );
    expect(
        checks,
        "the same signed query sent again: refused as a replay",
        &ask(gy, gz, &granted).await?,
        Outcome::Denied,
        QueryReason::Replay,
    );
    // A natural person: the requester's tool turns the citizen ID into its
    // keyed pseudonym; the ID never leaves Guizhou and is in no log.
    let person = dev::sample_persons(guangdong)[0].clone();
    let ring = federation_ring(gy)?;
    let pseudonym = ring.current_pseudonym(&person)?;
    println!(
        "   … and about an individual business operator (个体工商户) {}, named by pseudonym {}…:",
        credex_policies::subject_id::CitizenId::parse(&person)?.masked(),
        &pseudonym.to_string()[..12]
    );
    let mut of_person = penalties(&["decision_number", "penalty_type", "amount"]);
    of_person.subject = SubjectRef::NaturalPerson(pseudonym);
    let answer = ask(gy, gz, &two_officers(of_person)?).await?;
    checks.check(
        answer.body.outcome == Outcome::Granted && answer.body.records.len() == 1,
        "a natural person's penalties, asked by keyed pseudonym (no citizen ID on the wire or in any log): granted",
        &format!(
            "{:?} — {}; {} record(s)",
            answer.body.outcome,
            answer.body.reason,
            answer.body.records.len()
        ),
    );

    let own = {
        let f = requester::draft_and_sign(
            gy.config().region,
            gy.config().name.clone(),
            penalties(&["amount"]),
            &req,
            SystemTime::now(),
        )?;
        let approval = approve_request(
            &f.request,
            f.requester.as_ref().context("signed")?,
            &req.key,
            req.chain.clone(),
        )?;
        AuthorizedQuery {
            request: f.request.clone(),
            requester: f.requester.clone().context("signed")?,
            approver: approval,
            subject_authorization: None,
        }
    };
    expect(
        checks,
        "a requester approving their own request: refused",
        &ask(gy, gz, &own).await?,
        Outcome::Denied,
        QueryReason::SameOfficer,
    );
    let claims_chongqing = {
        let (cq_req, cq_apv) = (
            signer(dir, "500000", "req-1")?,
            signer(dir, "500000", "apv-1")?,
        );
        let mut f = requester::draft_and_sign(
            "500000".parse()?,
            "cq-1".parse()?,
            penalties(&["amount"]),
            &cq_req,
            SystemTime::now(),
        )?;
        requester::approve(&mut f, &cq_apv)?;
        f.authorized()?
    };
    expect(
        checks,
        "Guizhou's node sending a request that claims to come from Chongqing: refused",
        &ask(gy, gz, &claims_chongqing).await?,
        Outcome::Denied,
        QueryReason::WrongRegion,
    );

    println!(
        "   A bank in Guizhou asks Chongqing for company {cq_company}'s tax credit rating (信易贷):"
    );
    let financing = |auth| QuerySpec {
        target_region: chongqing,
        subject: SubjectRef::LegalPerson(cq_company.clone()),
        purpose: "financing".into(),
        requested: vec![CategoryFields {
            category: "tax_credit_rating".into(),
            fields: vec!["year".into(), "grade".into(), "score".into()],
        }],
        legal_basis: None,
        subject_authorization: auth,
    };
    expect(
        checks,
        "without the company's authorization: refused",
        &ask(gy, cq, &two_officers(financing(None))?).await?,
        Outcome::Denied,
        QueryReason::NoAuthorizationNoLegalBasis,
    );
    let now = unix_ms(SystemTime::now());
    let scope = SubjectAuthorization {
        authorization_id: requester::random_id(),
        subject: SubjectRef::LegalPerson(cq_company.clone()),
        grantee_region: "520000".parse()?,
        purposes: vec!["financing".into()],
        categories: vec!["tax_credit_rating".into()],
        not_before_ms: now - 60_000,
        not_after_ms: now + 7 * 86_400_000,
        max_uses: 1,
    };
    // A forger does not use `credex authorization issue` (which refuses to
    // sign for its own region): it signs with the library directly.
    let guizhou_portal = signer(dir, "520000", "portal")?;
    let self_issued = credex_pki::authorization::sign_subject_authorization(
        scope.clone(),
        &guizhou_portal.key,
        guizhou_portal.chain.clone(),
    )?;
    expect(
        checks,
        "with a \"consent\" Guizhou's own portal signed (the asking side vouching for itself): refused",
        &ask(gy, cq, &two_officers(financing(Some(self_issued)))?).await?,
        Outcome::Denied,
        QueryReason::ConsentAuthorityNotAccepted,
    );
    let consent = requester::issue_authorization(&signer(dir, "500000", "portal")?, scope)?;
    let mut swapped = two_officers(financing(None))?;
    swapped.subject_authorization = Some(consent.clone());
    expect(
        checks,
        "the company's consent attached after both officers signed: refused (not bound)",
        &ask(gy, cq, &swapped).await?,
        Outcome::Denied,
        QueryReason::AuthorizationNotBound,
    );
    expect(
        checks,
        "with its electronic authorization, signed by Chongqing's government service portal \
         (the data owner's) and bound under both officers' signatures: granted",
        &ask(gy, cq, &two_officers(financing(Some(consent.clone())))?).await?,
        Outcome::Granted,
        QueryReason::Granted,
    );
    expect(
        checks,
        "a second query on the same one-use authorization: refused",
        &ask(gy, cq, &two_officers(financing(Some(consent)))?).await?,
        Outcome::Denied,
        QueryReason::AuthorizationUsedUp,
    );

    let sent = gy
        .storage()
        .journal_range(0, 4096)
        .await?
        .iter()
        .filter(|r| r.kind == kind::QUERY_SENT)
        .count();
    let received: usize = {
        let mut n = 0;
        for node in [cq, gz] {
            n += node
                .storage()
                .journal_range(0, 4096)
                .await?
                .iter()
                .filter(|r| r.kind == kind::QUERY_RECEIVED)
                .count();
        }
        n
    };
    let asked = QUERIES_ASKED.load(std::sync::atomic::Ordering::Relaxed);
    checks.check(
        asked > 0 && sent == asked && received == asked,
        "every query, granted or denied, is in the responder's journal and the requester's",
        &format!("{asked} queries answered: {received} received entries at the responders, {sent} sent entries at Guizhou"),
    );
    Ok(())
}

/// Wait (at most 15 s) until `probe` returns `Some`.
async fn wait_for<T, F, Fut>(mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The effective public-credit grade of `subject` at `node` and how it was
/// decided, if a result counts.
async fn effective_public_credit(node: &RunningNode, subject: &str) -> Option<String> {
    let agreements = eval::load_agreements(node.config()).ok()?;
    let e = eval::effective(
        node.storage(),
        &agreements,
        node.config().region,
        subject,
        unix_ms(SystemTime::now()),
    )
    .await
    .ok()?;
    let pc = e
        .schemes
        .into_iter()
        .find(|s| s.scheme == Scheme::PublicCredit)?;
    let grade = pc.grade.clone()?;
    let input = pc.inputs.get(pc.decided_by?)?;
    Some(format!(
        "{grade} (common grade {}; {}; green channel {}) — {} grade {} from {}, under {}",
        pc.common_grade.as_deref().unwrap_or("-"),
        pc.supervision_tier.as_deref().unwrap_or("-"),
        if pc.green_channel { "yes" } else { "no" },
        input.source,
        input.grade,
        input.issuer_region,
        input.agreement.as_deref().unwrap_or("-"),
    ))
}

/// Guizhou evaluates a company; Chongqing (Chongqing–Guizhou agreement) and
/// Guangdong (Pan-Pearl River agreement) recognise the result; a downgrade
/// reaches both.
async fn recognition(dir: &Path, running: &[RunningNode], checks: &mut Checks) -> Result<()> {
    let (gy, cq, gz) = (&running[0], &running[1], &running[2]);
    println!(
        "\n5. Mutual recognition (信用评价结果互认): Guizhou's public credit comprehensive evaluation counts elsewhere"
    );
    let company = dev::sample_subjects("520000".parse()?)[1].clone();
    let agreements = eval::load_agreements(gy.config()).map_err(anyhow::Error::msg)?;
    let issue = |grade: &'static str, name: &'static str| {
        let company = company.clone();
        let agreements = agreements.clone();
        async move {
            let file = dir.join(format!("evaluations-520000-{name}.jsonl"));
            std::fs::write(
                &file,
                format!(
                    r#"{{"subject":"{company}","scheme":"public_credit","scheme_version":"2024","grade":"{grade}","period_start":"2025-01-01","period_end":"2025-12-31","valid_until":"2027-06-30"}}"#
                ),
            )?;
            let now = unix_ms(SystemTime::now());
            let rows = eval::parse_results(&file, gy.config().region, &agreements, now)?;
            eval::issue(
                gy.federation(),
                &agreements,
                gy.queries().policy().catalogue(),
                &rows,
                now,
            )
            .await?;
            anyhow::Ok(())
        }
    };
    issue("优", "first").await?;
    println!(
        "   Guizhou rates company {company} 优 (top grade), signs the result and pushes it to the members of its agreements:"
    );
    for (node, name) in [(cq, "Chongqing"), (gz, "Guangdong")] {
        let seen = wait_for(|| effective_public_credit(node, &company)).await;
        checks.check(
            seen.is_some(),
            &format!("{name} recognises it without evaluating again"),
            &seen.unwrap_or_else(|| "not recognised within 15 s".into()),
        );
    }
    issue("差", "downgrade").await?;
    println!("   Guizhou re-evaluates the company and downgrades it to 差:");
    for (node, name) in [(cq, "Chongqing"), (gz, "Guangdong")] {
        let seen = wait_for(|| async {
            effective_public_credit(node, &company)
                .await
                .filter(|e| e.contains("grade 差"))
        })
        .await;
        checks.check(
            seen.is_some(),
            &format!("the downgrade reaches {name} and its local treatment follows"),
            &seen.unwrap_or_else(|| "not updated within 15 s".into()),
        );
    }
    Ok(())
}

/// Guizhou lists a company as seriously dishonest; the listing reaches the
/// regions its agreements bind, each responds and reports the measures it
/// applied; then the company completes credit repair and every region
/// confirms.
async fn joint_lists(running: &[RunningNode], checks: &mut Checks) -> Result<()> {
    let (gy, cq, gz) = (&running[0], &running[1], &running[2]);
    println!(
        "\n6. Joint punishment (联合奖惩, 一处失信 处处受限): a serious-dishonesty listing in Guizhou binds its partners"
    );
    let service =
        |node: &RunningNode| Lists::new(node.federation().clone(), ListsPolicy::builtin());
    let company = dev::sample_subjects("520000".parse()?)[2].clone();
    let today = credex_flows::calendar::china_date_text(unix_ms(SystemTime::now()));
    let draft = EntryDraft {
        subject: company.clone(),
        list_type: ListKind::SeriousDishonesty,
        basis: "《贵州省社会信用条例》; 行政处罚决定书 黔市监处〔2026〕18号".into(),
        authority: "贵州省市场监督管理局".into(),
        entry_date: today.clone(),
        planned_exit: "2029-11-01".into(),
        measures: vec![
            "restrict_government_procurement".into(),
            "restrict_public_funds".into(),
            "restrict_honours".into(),
        ],
        notice: SubjectNotice {
            date: today,
            means: NoticeMeans::Written,
        },
        details: [
            ("document_number", "黔信用认〔2026〕7号"),
            ("facts", "拒不履行行政处罚决定，情节严重"),
            ("responsible_person", "王某"),
            ("review_notes", "内部复核意见：证据链完整，不得外传"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    };
    let added = service(gy).add(&draft, unix_ms(SystemTime::now())).await?;
    let sent_to: Vec<String> = added.sent_to.iter().map(|r| r.to_string()).collect();
    println!(
        "   Guizhou lists company {company} (restricted from government procurement, public funds, honours);"
    );
    println!(
        "   the Chongqing–Guizhou and Pan-Pearl River agreements bind {} (no node of the other Pan-Pearl River members runs in this demo: {} recorded as not sent)",
        sent_to.join(", "),
        added.no_peer.len()
    );
    for (node, name, applied) in [
        (
            cq,
            "Chongqing",
            vec!["restrict_government_procurement", "restrict_public_funds"],
        ),
        (
            gz,
            "Guangdong",
            vec!["restrict_government_procurement", "restrict_honours"],
        ),
    ] {
        let held = wait_for(|| async {
            service(node)
                .received()
                .await
                .ok()?
                .into_iter()
                .find(|h| h.entry.id == added.id)
        })
        .await;
        checks.check(
            held.is_some(),
            &format!("{name} receives the listing and responds (发起→响应)"),
            &held
                .as_ref()
                .map(|h| format!("measures to apply: {}", h.entry.measures.join(", ")))
                .unwrap_or_else(|| "not received within 15 s".into()),
        );
        // The egress gate: each member gets the details its agreement names.
        let (expected, agreement) = match name {
            "Chongqing" => (
                &["document_number", "facts", "responsible_person"][..],
                "Chongqing–Guizhou",
            ),
            _ => (&["document_number", "facts"][..], "Pan-Pearl River"),
        };
        let got: Vec<&str> = held
            .as_ref()
            .map(|h| h.entry.details.keys().map(String::as_str).collect())
            .unwrap_or_default();
        checks.check(
            got == expected,
            &format!(
                "the egress gate released to {name} only the details the {agreement} agreement names"
            ),
            &format!(
                "received {}; withheld {} (review_notes is internal and never leaves Guizhou)",
                got.join(", "),
                draft
                    .details
                    .keys()
                    .filter(|k| !got.contains(&k.as_str()))
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        let applied: Vec<String> = applied.into_iter().map(String::from).collect();
        service(node)
            .feedback(
                &added.id,
                &applied,
                "applied from the day of receipt",
                unix_ms(SystemTime::now()),
            )
            .await?;
    }
    // A judgment debtor who is a natural person (失信被执行人): listed by
    // the current-epoch pseudonym of the federation's key ring.
    let person = dev::synthetic_citizen_id("520000".parse()?, 7);
    let mut policy = ListsPolicy::builtin();
    policy.pseudonyms = Some(federation_ring(gy)?);
    let person_entry = Lists::new(gy.federation().clone(), policy)
        .add(
            &EntryDraft {
                subject: person,
                measures: vec!["restrict_government_procurement".into()],
                details: Default::default(),
                ..draft.clone()
            },
            unix_ms(SystemTime::now()),
        )
        .await?;
    let held_by_pseudonym = wait_for(|| async {
        let held = service(cq).received().await.ok()?;
        let h = held.into_iter().find(|h| h.entry.id == person_entry.id)?;
        h.entry.subject.starts_with("1:").then_some(h.entry.subject)
    })
    .await;
    checks.check(
        held_by_pseudonym.is_some(),
        "a natural person (失信被执行人) listed in Guizhou reaches Chongqing under the keyed pseudonym, never the citizen ID",
        &held_by_pseudonym
            .map(|s| format!("Chongqing holds the entry under {}…", &s[..12]))
            .unwrap_or_else(|| "not received within 15 s".into()),
    );
    let all_fed_back = wait_for(|| async {
        let status = service(gy).status(unix_ms(SystemTime::now())).await.ok()?;
        let entry = status.into_iter().find(|e| e.id == added.id)?;
        (entry.regions.len() == 2
            && entry.regions.iter().all(|r| r.feedback.is_some())
            && !entry.is_overdue())
        .then_some(entry)
    })
    .await;
    checks.check(
        all_fed_back.is_some(),
        "Guizhou's status shows each region's response and feedback (→反馈), nothing overdue",
        &all_fed_back
            .map(|e| {
                e.regions
                    .iter()
                    .map(|r| {
                        format!(
                            "{}: {:?}, applied {}",
                            r.region,
                            r.stage,
                            r.feedback
                                .as_ref()
                                .map(|f| f.applied.join("+"))
                                .unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_else(|| "feedback missing after 15 s".into()),
    );
    service(gy)
        .change(
            &added.id,
            ChangeKind::Repair,
            None,
            "信用修复: penalty fulfilled, commitment made, training completed",
            unix_ms(SystemTime::now()),
        )
        .await?;
    let confirmed = wait_for(|| async {
        let status = service(gy).status(unix_ms(SystemTime::now())).await.ok()?;
        let entry = status.into_iter().find(|e| e.id == added.id)?;
        entry
            .regions
            .iter()
            .all(|r| {
                r.change
                    .as_ref()
                    .is_some_and(|c| c.confirmed_at_ms.is_some())
            })
            .then_some(entry.regions.len())
    })
    .await;
    checks.check(
        confirmed.is_some(),
        "the company completes credit repair (信用修复): every region applies the exit and confirms",
        &confirmed
            .map(|n| format!("{n} confirmations"))
            .unwrap_or_else(|| "not confirmed within 15 s".into()),
    );
    Ok(())
}

/// The provinces' records reach the national platform: reporting rate and
/// 双公示 timeliness at each province, what the national node received.
async fn upward(dir: &Path, running: &[RunningNode], checks: &mut Checks) -> Result<()> {
    let (gy, national) = (&running[0], &running[3]);
    println!(
        "\n7. Upward reporting (数据报送): each province reports its records to the national platform (000000)"
    );
    // A penalty Guizhou decided today: reported within 7 working days (双公示).
    let today = credex_flows::calendar::china_date_text(unix_ms(SystemTime::now()));
    let company = &dev::sample_subjects("520000".parse()?)[0];
    let file = dir.join("records/520000/admin_penalty-today.jsonl");
    std::fs::write(
        &file,
        format!(
            r#"{{"record_id":"520000-AP-TODAY","subject":"{company}","decision_number":"黔市监罚〔2026〕99号","violation_type":"虚假宣传","facts":"发布虚假广告","basis":"《中华人民共和国广告法》第五十五条","penalty_type":"罚款","content":"罚款人民币20000元","amount":"20000.00","decision_date":"{today}","deciding_authority":"贵州省市场监督管理局","case_notes":"内部备注：当事人态度恶劣，不得外传","officer_phone":"13900000000"}}"#
        ),
    )?;
    records::import_file(
        gy.storage(),
        &file,
        "admin_penalty",
        gy.queries().policy().catalogue(),
    )
    .await?;
    let on_time = wait_for(|| async {
        let s = credex_node::upward::status(gy.storage()).await.ok()?;
        s.categories
            .iter()
            .find(|c| c.category == "admin_penalty" && c.on_time >= 1)
            .map(|c| c.on_time)
    })
    .await;
    checks.check(
        on_time.is_some(),
        "Guizhou imports a penalty decided today: reported at once, within 7 working days (双公示 on time)",
        &on_time
            .map(|n| format!("{n} penalty record(s) on time"))
            .unwrap_or_else(|| "not reported within 15 s".into()),
    );
    for (node, name) in [(&running[1], "Chongqing"), (&running[2], "Guangdong")] {
        let status = wait_for(|| async {
            let s = credex_node::upward::status(node.storage()).await.ok()?;
            (s.due > 0 && s.reported == s.due && s.batches_pending == 0).then_some(s)
        })
        .await;
        checks.check(
            status.is_some(),
            &format!("{name} reports every record due, in numbered batches with signed receipts"),
            &status
                .map(|s| {
                    format!(
                        "reporting rate {:.0}% ({} of {} records, {} batch(es) acknowledged); 双公示 timeliness {:.0}% — the sample penalties were decided months ago and reported only now, so they count as late",
                        s.reporting_rate * 100.0,
                        s.reported,
                        s.due,
                        s.batches_acked,
                        s.timeliness_rate * 100.0
                    )
                })
                .unwrap_or_else(|| "not fully reported within 15 s".into()),
        );
    }
    // The egress gate: the batch carries only what the reporting catalogue
    // collects; Guizhou's log says what it withheld.
    let withheld = reported_withheld(gy).await?;
    let at_national = national
        .storage()
        .records_for(company, &["admin_penalty".to_owned()])
        .await?;
    let leaked: Vec<String> = at_national
        .iter()
        .filter_map(|r| credex_protocol::decode::<credex_policies::Record>(&r.body).ok())
        .flat_map(|r| r.fields.into_keys())
        .filter(|f| f == "case_notes" || f == "officer_phone")
        .collect();
    checks.check(
        !at_national.is_empty() && leaked.is_empty() && withheld.iter().any(|f| f == "admin_penalty.case_notes"),
        "the egress gate sends upward only what the reporting catalogue collects",
        &format!(
            "withheld and logged by Guizhou: {}; the national platform holds the penalty without them",
            withheld.join(", ")
        ),
    );
    // Guangdong's individual business operator reached the national node
    // under the pseudonym, the only name it has outside Guangdong.
    let person = dev::sample_persons("440000".parse()?)[0].clone();
    let ring = federation_ring(gy)?;
    let pseudonym = ring.current_pseudonym(&person)?.to_string();
    let person_at_national = national
        .storage()
        .records_for(&pseudonym, &["admin_penalty".to_owned()])
        .await?;
    checks.check(
        person_at_national.len() == 1,
        "a natural person's penalty goes upward under the keyed pseudonym",
        &format!(
            "the national platform holds {} record(s) under {}…",
            person_at_national.len(),
            &pseudonym[..12]
        ),
    );
    let received = credex_node::upward::received(national.storage()).await?;
    let summary: Vec<String> = received
        .iter()
        .map(|r| {
            format!(
                "{}: {} records in {} batch(es)",
                r.region, r.records, r.batches
            )
        })
        .collect();
    checks.check(
        received.len() >= 2 && received.iter().all(|r| r.records > 0),
        "the national platform aggregates what the provinces reported, exactly once",
        &summary.join("; "),
    );
    Ok(())
}

/// The federation's pseudonym key ring, as `node` is configured with it.
fn federation_ring(node: &RunningNode) -> Result<credex_pki::PseudonymKeyRing> {
    let path = node
        .config()
        .pseudonyms
        .keys
        .as_ref()
        .context("the development federation has a pseudonym key ring")?;
    Ok(credex_node::pseudonyms::load_ring(path)?)
}

/// The fields the egress gate withheld from `node`'s upward batches, as
/// its log records them (`category.field`).
async fn reported_withheld(node: &RunningNode) -> Result<Vec<String>> {
    let mut out = std::collections::BTreeSet::new();
    let storage = node.storage();
    let len = storage.journal_len().await?;
    let mut at = 0;
    while at < len {
        let page = storage.journal_range(at, 1000).await?;
        if page.is_empty() {
            break;
        }
        at += page.len() as u64;
        for row in page {
            if row.kind != credex_journal::kind::BATCH_PREPARED {
                continue;
            }
            let b: credex_journal::BatchPrepared = credex_protocol::decode(&row.body)?;
            for c in b.withheld {
                out.extend(c.fields.iter().map(|f| format!("{}.{f}", c.category)));
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// Export every node's log and verify them together, then show that a
/// doctored copy is caught.
async fn audit(dir: &Path, running: &[RunningNode], checks: &mut Checks) -> Result<()> {
    println!("\n8. The auditor: every node's log exported as C2SP tiles and verified offline");
    // Peers witness each other's logs as they run (every few seconds while
    // connected); the demo is quicker than that, so it asks once now.
    let mut cosigned = 0;
    for log in running {
        for witness in running {
            if std::ptr::eq(log, witness) {
                continue;
            }
            let (region, name) = (witness.config().region, witness.config().name.clone());
            let conn = log
                .transport()
                .connect(
                    witness.local_addr(),
                    &logical_server_name(region, &name),
                    region,
                    Some(name),
                )
                .await?;
            log.request_cosignature(&conn, 0)
                .await
                .map_err(|e| anyhow::anyhow!("witnessing: {e}"))?;
            conn.close();
            cosigned += 1;
        }
    }
    println!(
        "   every node cosigned every other's newest checkpoint after checking it extends what it saw before ({cosigned} cosignatures)"
    );
    let out = dir.join("audit");
    let mut dirs = Vec::new();
    for node in running {
        let target = out.join(node.config().name.as_str());
        let chain = std::fs::read_to_string(&node.config().tls.cert)?;
        let summary =
            credex_node::export::export(node.storage(), node.log_key(), &chain, &target).await?;
        println!(
            "   {} log: {} entries, root {}…",
            node.config().name,
            summary.size,
            &summary.root.to_hex()[..16]
        );
        dirs.push(target);
    }
    let trust = running[0].transport().trust().current();
    let report = credex_audit::verify(&dirs, &trust);
    let sent: usize = report.logs.iter().map(|l| l.sent).sum();
    let received: usize = report.logs.iter().map(|l| l.received).sum();
    let messages: usize = report.logs.iter().map(|l| l.messages).sum();
    let rerun: usize = report.logs.iter().map(|l| l.egress_rerun).sum();
    let withheld: usize = report.logs.iter().map(|l| l.egress_withheld).sum();
    for l in &report.logs {
        if let Some(a) = &l.anchor {
            println!(
                "   {}: verified up to entry {} — vouched for by {} witnesses, not only by its own key",
                l.origin,
                a.size,
                a.witnesses.len()
            );
        }
    }
    checks.check(
        report.passed() && report.logs.iter().all(|l| l.anchor.as_ref().is_some_and(|a| a.witnesses.len() == 3)),
        "all four logs verify: trees, signed checkpoints, witnesses' cosignatures, dual authorizations, policy re-run, each access and message on both sides, every message's egress decision re-run",
        &format!("{} entries; {received} accesses answered and {sent} asked, {messages} federation messages (recognition, lists, reports), cross-matched; {rerun} egress decisions re-run ({withheld} withheld fields in their records){}", report.entries,
            report.violations.iter().map(|v| format!("\n      VIOLATION {} {}: {}", v.log, v.rule, v.detail)).collect::<String>()),
    );
    // A doctored copy of Guangdong's log: one byte of one entry changed.
    let doctored = out.join("gz-1-doctored");
    copy_dir(&dirs[2], &doctored)?;
    let file = first_file(&doctored.join("tile/entries")).context("an entry bundle")?;
    let mut bytes = std::fs::read(&file)?;
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&file, bytes)?;
    let mut tampered = dirs.clone();
    tampered[2] = doctored;
    let report = credex_audit::verify(&tampered, &trust);
    checks.check(
        !report.passed(),
        "a copy of Guangdong's log with one byte changed: caught",
        &report
            .violations
            .first()
            .map(|v| format!("{} {}: {}", v.log, v.rule, v.detail))
            .unwrap_or_default(),
    );
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)?.flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn first_file(dir: &Path) -> Option<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    entries
        .into_iter()
        .find_map(|p| if p.is_file() { Some(p) } else { first_file(&p) })
}
