//! Act 4, dual-authorized queries: Guizhou asks Guangdong about penalties
//! under a legal basis (granted, trimmed, replayed, a natural person by
//! pseudonym), sends requests with forged approvals, and asks Chongqing for
//! a tax credit rating under the company's consent; then both sides'
//! journals are compared.
//!
//! Owns: the act's scenes and the count of queries answered. Does not own
//! the policies that decide them (the dev federation's, `crate::dev`).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use anyhow::{Context, Result};
use credex_journal::kind;
use credex_node::config::logical_server_name;
use credex_node::pseudonyms::NaturalPersons;
use credex_node::query::unix_ms;
use credex_node::records;
use credex_node::requester::{self, QuerySpec, Signer};
use credex_node::service::RunningNode;
use credex_pki::authorization::approve_request;
use credex_protocol::RegionCode;
use credex_protocol::query::{
    AuthorizedQuery, CategoryFields, Outcome, QueryReason, QueryResponse,
    SignedSubjectAuthorization, SubjectAuthorization, SubjectRef,
};
use ring::rand::SystemRandom;

use super::upward::federation_ring;
use super::{Checks, signer};
use crate::dev;

/// Queries the demo sent and got an answer to (each must be in both logs).
static QUERIES_ASKED: AtomicUsize = AtomicUsize::new(0);

/// Act 4.
pub(super) async fn act(dir: &Path, running: &[RunningNode], checks: &mut Checks) -> Result<()> {
    let (gy, cq, gz) = (&running[0], &running[1], &running[2]);
    println!(
        "\n4. Dual-authorized queries (requester + a different approver; subject consent or a legal basis)"
    );
    import_samples(dir, &[(cq, "500000"), (gz, "440000")]).await?;
    let asker = Asker::guizhou(dir, gy)?;
    penalties_in_guangdong(&asker, gz, checks).await?;
    forged_requests(dir, &asker, gz, checks).await?;
    financing_in_chongqing(dir, &asker, cq, checks).await?;
    every_query_in_both_journals(gy, &[cq, gz], checks).await
}

/// One more granted penalties query from Guizhou to Guangdong (for later
/// acts that need Guangdong's log to grow by a real access).
pub(super) async fn one_more_penalty_query(
    dir: &Path,
    gy: &RunningNode,
    gz: &RunningNode,
) -> Result<QueryResponse> {
    let asker = Asker::guizhou(dir, gy)?;
    ask(
        gy,
        gz,
        &asker.authorized(asker.penalties(&["decision_number"]))?,
    )
    .await
}

/// Import the sample records of each (node, region). Natural persons in
/// the files are stored under the node's local key, found by their
/// federation pseudonyms.
async fn import_samples(dir: &Path, nodes: &[(&RunningNode, &str)]) -> Result<()> {
    for &(node, region) in nodes {
        for category in [
            "admin_penalty",
            "tax_credit_rating",
            "public_credit_evaluation",
        ] {
            let file = dir.join(format!("records/{region}/{category}.jsonl"));
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
    Ok(())
}

/// Guizhou's two officers and what they ask about.
struct Asker<'a> {
    gy: &'a RunningNode,
    req: Signer,
    apv: Signer,
    guangdong: RegionCode,
    chongqing: RegionCode,
    gd_company: String,
    cq_company: String,
}

impl<'a> Asker<'a> {
    /// Guizhou's requester and approver, and a sample company of Guangdong
    /// and of Chongqing.
    fn guizhou(dir: &Path, gy: &'a RunningNode) -> Result<Asker<'a>> {
        Ok(Asker {
            gy,
            req: signer(dir, "520000", "req-1")?,
            apv: signer(dir, "520000", "apv-1")?,
            guangdong: "440000".parse()?,
            chongqing: "500000".parse()?,
            gd_company: dev::sample_subjects("440000".parse()?)[0].clone(),
            cq_company: dev::sample_subjects("500000".parse()?)[0].clone(),
        })
    }

    /// `spec` drafted and signed by the requester, approved by the approver.
    fn authorized(&self, spec: QuerySpec) -> Result<AuthorizedQuery> {
        let mut f = requester::draft_and_sign(
            self.gy.config().region,
            self.gy.config().name.clone(),
            spec,
            &self.req,
            SystemTime::now(),
        )?;
        requester::approve(&mut f, &self.apv)?;
        Ok(f.authorized()?)
    }

    /// The Guangdong company's penalties for a tender, citing the
    /// joint-punishment memorandum.
    fn penalties(&self, fields: &[&str]) -> QuerySpec {
        QuerySpec {
            target_region: self.guangdong,
            subject: SubjectRef::LegalPerson(self.gd_company.clone()),
            purpose: "public_procurement".into(),
            requested: vec![CategoryFields {
                category: "admin_penalty".into(),
                fields: fields.iter().map(|f| f.to_string()).collect(),
            }],
            legal_basis: Some("joint-punishment-memorandum".into()),
            subject_authorization: None,
        }
    }

    /// The Chongqing company's tax credit rating for financing, under
    /// `auth` if any.
    fn financing(
        &self,
        auth: Option<credex_protocol::query::SignedSubjectAuthorization>,
    ) -> QuerySpec {
        QuerySpec {
            target_region: self.chongqing,
            subject: SubjectRef::LegalPerson(self.cq_company.clone()),
            purpose: "financing".into(),
            requested: vec![CategoryFields {
                category: "tax_credit_rating".into(),
                fields: vec!["year".into(), "grade".into(), "score".into()],
            }],
            legal_basis: None,
            subject_authorization: auth,
        }
    }
}

/// Penalties under a legal basis: granted, trimmed, a replay refused, and a
/// natural person asked by keyed pseudonym.
async fn penalties_in_guangdong(
    asker: &Asker<'_>,
    gz: &RunningNode,
    checks: &mut Checks,
) -> Result<()> {
    println!(
        "   Guizhou's procurement office asks Guangdong about company {}:",
        asker.gd_company
    );
    let granted = asker.authorized(asker.penalties(&[
        "decision_number",
        "penalty_type",
        "amount",
        "decision_date",
    ]))?;
    let answer = ask(asker.gy, gz, &granted).await?;
    expect(
        checks,
        "penalties for a tender, citing the joint-punishment memorandum: granted",
        &answer,
        Outcome::Granted,
        QueryReason::Granted,
    );
    disclosed_to_guizhou(gz, &answer, checks).await?;
    let over = asker.authorized(asker.penalties(&[
        "decision_number",
        "amount",
        "case_notes",
        "offender_id_number",
    ]))?;
    expect(
        checks,
        "asking also for internal case notes and an ID number: trimmed to what the policy allows",
        &ask(asker.gy, gz, &over).await?,
        Outcome::Trimmed,
        QueryReason::Trimmed,
    );
    expect(
        checks,
        "the same signed query sent again: refused as a replay",
        &ask(asker.gy, gz, &granted).await?,
        Outcome::Denied,
        QueryReason::Replay,
    );
    // A natural person: the requester's tool turns the citizen ID into its
    // keyed pseudonym; the ID never leaves Guizhou and is in no log.
    let person = dev::sample_persons(asker.guangdong)[0].clone();
    let ring = federation_ring(asker.gy)?;
    let pseudonym = ring.current_pseudonym(&person)?;
    println!(
        "   … and about an individual business operator (个体工商户) {}, named by pseudonym {}…:",
        credex_policies::subject_id::CitizenId::parse(&person)?.masked(),
        &pseudonym.to_string()[..12]
    );
    let mut of_person = asker.penalties(&["decision_number", "penalty_type", "amount"]);
    of_person.subject = SubjectRef::NaturalPerson(pseudonym);
    let answer = ask(asker.gy, gz, &asker.authorized(of_person)?).await?;
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

    Ok(())
}

/// Guangdong's disclosures ledger (经手必有责) names Guizhou as a recipient
/// of every record the answer carried, entered before the answer left.
async fn disclosed_to_guizhou(
    gz: &RunningNode,
    answer: &QueryResponse,
    checks: &mut Checks,
) -> Result<()> {
    let mut entered = 0;
    for r in &answer.body.records {
        let key = credex_journal::record_key(&r.category, &r.record_id);
        let to = credex_node::disclosures::recipients(gz.storage(), &key).await?;
        if to.iter().any(|d| {
            d.recipient.to_string() == "520000" && d.channel == credex_journal::Channel::Query
        }) {
            entered += 1;
        }
    }
    checks.check(
        entered > 0 && entered == answer.body.records.len(),
        "Guangdong's disclosures ledger names Guizhou as a recipient of each record released (经手必有责: corrections will reach it)",
        &format!(
            "{entered} of {} record(s) entered; `credex log recipients` lists them",
            answer.body.records.len()
        ),
    );
    Ok(())
}

/// Requests whose approval is forged: one officer approving their own
/// request, and a request claiming another region.
async fn forged_requests(
    dir: &Path,
    asker: &Asker<'_>,
    gz: &RunningNode,
    checks: &mut Checks,
) -> Result<()> {
    let own = {
        let f = requester::draft_and_sign(
            asker.gy.config().region,
            asker.gy.config().name.clone(),
            asker.penalties(&["amount"]),
            &asker.req,
            SystemTime::now(),
        )?;
        let approval = approve_request(
            &f.request,
            f.requester.as_ref().context("signed")?,
            &asker.req.key,
            asker.req.chain.clone(),
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
        &ask(asker.gy, gz, &own).await?,
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
            asker.penalties(&["amount"]),
            &cq_req,
            SystemTime::now(),
        )?;
        requester::approve(&mut f, &cq_apv)?;
        f.authorized()?
    };
    expect(
        checks,
        "Guizhou's node sending a request that claims to come from Chongqing: refused",
        &ask(asker.gy, gz, &claims_chongqing).await?,
        Outcome::Denied,
        QueryReason::WrongRegion,
    );

    Ok(())
}

/// A bank's financing query: refused without consent, with a consent the
/// asking side signed for itself, with a consent attached after signing;
/// granted with the data owner's consent bound; refused once used up.
async fn financing_in_chongqing(
    dir: &Path,
    asker: &Asker<'_>,
    cq: &RunningNode,
    checks: &mut Checks,
) -> Result<()> {
    println!(
        "   A bank in Guizhou asks Chongqing for company {}'s tax credit rating (信易贷):",
        asker.cq_company
    );
    expect(
        checks,
        "without the company's authorization: refused",
        &ask(asker.gy, cq, &asker.authorized(asker.financing(None))?).await?,
        Outcome::Denied,
        QueryReason::NoAuthorizationNoLegalBasis,
    );
    let scope = financing_scope(asker)?;
    consent_signed_by_the_asking_side(dir, asker, cq, checks, scope.clone()).await?;
    let consent = requester::issue_authorization(&signer(dir, "500000", "portal")?, scope)?;
    consent_signed_by_the_data_owner(asker, cq, checks, consent).await?;

    Ok(())
}

/// What the company consents to: Guizhou may ask, for financing, its tax
/// credit rating, once, within a week.
fn financing_scope(asker: &Asker<'_>) -> Result<SubjectAuthorization> {
    let now = unix_ms(SystemTime::now());
    Ok(SubjectAuthorization {
        authorization_id: requester::random_id(),
        subject: SubjectRef::LegalPerson(asker.cq_company.clone()),
        grantee_region: "520000".parse()?,
        purposes: vec!["financing".into()],
        categories: vec!["tax_credit_rating".into()],
        not_before_ms: now - 60_000,
        not_after_ms: now + 7 * 86_400_000,
        max_uses: 1,
    })
}

/// A "consent" Guizhou's own portal signed is refused.
async fn consent_signed_by_the_asking_side(
    dir: &Path,
    asker: &Asker<'_>,
    cq: &RunningNode,
    checks: &mut Checks,
    scope: SubjectAuthorization,
) -> Result<()> {
    // A forger does not use `credex authorization issue` (which refuses to
    // sign for its own region): it signs with the library directly.
    let guizhou_portal = signer(dir, "520000", "portal")?;
    let self_issued = credex_pki::authorization::sign_subject_authorization(
        scope,
        &guizhou_portal.key,
        guizhou_portal.chain.clone(),
    )?;
    expect(
        checks,
        "with a \"consent\" Guizhou's own portal signed (the asking side vouching for itself): refused",
        &ask(
            asker.gy,
            cq,
            &asker.authorized(asker.financing(Some(self_issued)))?,
        )
        .await?,
        Outcome::Denied,
        QueryReason::ConsentAuthorityNotAccepted,
    );
    Ok(())
}

/// Chongqing's portal's consent: refused when attached after the officers
/// signed, granted when bound under their signatures, refused once used up.
async fn consent_signed_by_the_data_owner(
    asker: &Asker<'_>,
    cq: &RunningNode,
    checks: &mut Checks,
    consent: SignedSubjectAuthorization,
) -> Result<()> {
    let mut swapped = asker.authorized(asker.financing(None))?;
    swapped.subject_authorization = Some(consent.clone());
    expect(
        checks,
        "the company's consent attached after both officers signed: refused (not bound)",
        &ask(asker.gy, cq, &swapped).await?,
        Outcome::Denied,
        QueryReason::AuthorizationNotBound,
    );
    expect(
        checks,
        "with its electronic authorization, signed by Chongqing's government service portal \
         (the data owner's) and bound under both officers' signatures: granted",
        &ask(
            asker.gy,
            cq,
            &asker.authorized(asker.financing(Some(consent.clone())))?,
        )
        .await?,
        Outcome::Granted,
        QueryReason::Granted,
    );
    expect(
        checks,
        "a second query on the same one-use authorization: refused",
        &ask(
            asker.gy,
            cq,
            &asker.authorized(asker.financing(Some(consent)))?,
        )
        .await?,
        Outcome::Denied,
        QueryReason::AuthorizationUsedUp,
    );
    Ok(())
}

/// Every query answered is in the requester's journal and a responder's.
async fn every_query_in_both_journals(
    gy: &RunningNode,
    responders: &[&RunningNode],
    checks: &mut Checks,
) -> Result<()> {
    let sent = gy
        .storage()
        .journal_range(0, 4096)
        .await?
        .iter()
        .filter(|r| r.kind == kind::QUERY_SENT)
        .count();
    let received: usize = {
        let mut n = 0;
        for node in responders {
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
    let asked = QUERIES_ASKED.load(Ordering::Relaxed);
    checks.check(
        asked > 0 && sent == asked && received == asked,
        "every query, granted or denied, is in the responder's journal and the requester's",
        &format!("{asked} queries answered: {received} received entries at the responders, {sent} sent entries at Guizhou"),
    );
    Ok(())
}

/// `category: field, field; …`.
fn show_fields(list: &[CategoryFields]) -> String {
    list.iter()
        .map(|c| format!("{}: {}", c.category, c.fields.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Send `q` from `from` to `to` on a fresh connection.
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
    QUERIES_ASKED.fetch_add(1, Ordering::Relaxed);
    Ok(r)
}

/// Check that `r` has `outcome` and `reason`, showing what was released
/// and withheld.
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
