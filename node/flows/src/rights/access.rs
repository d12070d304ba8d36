//! The federated subject access report, the pure sides: a region asked for
//! its part keeps the request until the node answers it (a whole-log read
//! is the node's, not a flow's); the home region keeps each part that
//! answers a request it sent to that region.
//!
//! Who may ask: the national platform; for a legal person, also its home
//! province — the one whose division its unified social credit code names
//! (统一社会信用代码 positions 3–8, 登记管理机关行政区划码). A natural person is
//! named by a pseudonym, which names no region: until the person's own
//! electronic authorization travels with the request, only the national
//! platform gathers a person's report (deny by default). Every request and
//! answer is journaled on both sides (decision 0980).

use credex_policies::{SubjectId, UsccDivision};
use credex_protocol::RegionCode;
use credex_protocol::query::SubjectRef;
use credex_protocol::rights::{AccessReportPart, AccessReportRequest};
use serde::{Deserialize, Serialize};

use super::Rights;
use crate::flow::{Effect, Read, Refusal, Refused, StateKey, StateWrite, View};

/// At a region asked: each request, [`request_key`] → [`AccessRequested`].
pub const REQUESTS_NS: &str = "rights.access_requests";
/// At the home region: each request sent, request hex → [`AccessAsked`].
pub const ASKED_NS: &str = "rights.access_asked";
/// At the home region: each part received, [`part_key`] → [`PartReceived`].
pub const PARTS_NS: &str = "rights.access_parts";

/// At the home region: each region that refused a request, [`part_key`]
/// → its reason (text).
pub const REFUSED_NS: &str = "rights.access_refused";

/// A request for this region's part, until and after it is answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequested {
    /// Whose accesses.
    pub subject: SubjectRef,
    /// When it arrived, Unix ms.
    pub at_ms: i64,
    /// When the part was sent, Unix ms.
    pub answered_at_ms: Option<i64>,
}

/// A request this region sent, to which regions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessAsked {
    /// Whose accesses.
    pub subject: SubjectRef,
    /// The regions asked.
    pub regions: Vec<RegionCode>,
    /// Who asked here (the gateway client or officer).
    pub asked_by: String,
    /// When, Unix ms.
    pub at_ms: i64,
}

/// A part received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartReceived {
    /// The part.
    pub part: AccessReportPart,
    /// When it arrived, Unix ms.
    pub at_ms: i64,
}

/// The [`REQUESTS_NS`] key of `request` from `from`.
pub fn request_key(from: RegionCode, request: &[u8; 16]) -> String {
    format!("{from}/{}", hex::encode(request))
}

/// The [`PARTS_NS`] key of `from`'s part of `request`.
pub fn part_key(request: &[u8; 16], from: RegionCode) -> String {
    format!("{}/{from}", hex::encode(request))
}

/// Refused unless `region` may gather `subject`'s access report.
pub fn may_gather(region: RegionCode, subject: &SubjectRef) -> Result<(), Refused> {
    if region.is_national() {
        return Ok(());
    }
    let SubjectRef::LegalPerson(code) = subject else {
        return Err(Refused::NotEntitled(format!(
            "a natural person's access report is gathered by the national platform only, not by {region} (a pseudonym names no home region)"
        )));
    };
    let Ok(SubjectId::LegalPerson(uscc)) = SubjectId::parse(code) else {
        return Err(Refused::Invalid(format!(
            "{code:?} is not a unified social credit code"
        )));
    };
    match uscc.division() {
        UsccDivision::Region(home) if home.province() == region.province() => Ok(()),
        UsccDivision::Region(home) => Err(Refused::NotEntitled(format!(
            "{code} is registered in {home}: only its home province {} or the national platform gathers its access report, not {region}",
            home.province()
        ))),
        UsccDivision::National => Err(Refused::NotEntitled(format!(
            "{code} is registered nationally: only the national platform gathers its access report"
        ))),
    }
}

impl Rights {
    /// What a request or a part from `from` reads.
    pub(super) fn access_reads(from: RegionCode, request: &[u8; 16], part: bool) -> Vec<Read> {
        if part {
            vec![Read::State(StateKey::new(ASKED_NS, hex::encode(request)))]
        } else {
            vec![Read::State(StateKey::new(
                REQUESTS_NS,
                request_key(from, request),
            ))]
        }
    }

    /// A request for this region's part from `from`: kept for the node to
    /// answer, when `from` may gather the subject's report.
    pub(super) fn access_request(
        &self,
        now_ms: i64,
        view: &View,
        from: RegionCode,
        request: AccessReportRequest,
    ) -> Result<Effect, Refusal> {
        may_gather(from, &request.subject)?;
        let key = request_key(from, &request.request);
        if view.state(REQUESTS_NS, &key).is_some() {
            return Ok(Effect {
                summary: format!("access report request {key} already held"),
                ..Effect::default()
            });
        }
        let held = AccessRequested {
            subject: request.subject,
            at_ms: now_ms,
            answered_at_ms: None,
        };
        Ok(Effect {
            state: vec![StateWrite::encoded(REQUESTS_NS, key.clone(), &held).map_err(transient)?],
            summary: format!("access report request {key} kept to be answered"),
            ..Effect::default()
        })
    }

    /// `from`'s part of a request this region sent it: kept.
    pub(super) fn access_part(
        &self,
        now_ms: i64,
        view: &View,
        from: RegionCode,
        part: AccessReportPart,
    ) -> Result<Effect, Refusal> {
        part.validate()
            .map_err(|e| Refused::Invalid(e.to_string()))?;
        let request = hex::encode(part.request);
        let asked: Option<AccessAsked> = view.decoded(ASKED_NS, &request)?;
        if !asked.is_some_and(|a| a.regions.contains(&from)) {
            return Err(Refused::NotEntitled(format!(
                "this region sent {from} no access report request {request}"
            ))
            .into());
        }
        let summary = format!(
            "part of access report {request} from {from}: {} access(es), {} disclosure(s)",
            part.accesses.len(),
            part.disclosures.len()
        );
        let key = part_key(&part.request, from);
        let held = PartReceived {
            part,
            at_ms: now_ms,
        };
        Ok(Effect {
            state: vec![StateWrite::encoded(PARTS_NS, key, &held).map_err(transient)?],
            summary,
            ..Effect::default()
        })
    }
}

fn transient(e: impl std::fmt::Display) -> Refusal {
    Refusal::Transient(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_home_province_or_the_national_platform_gathers_a_company() {
        let region = |r: &str| r.parse::<RegionCode>().expect("region");
        // 91 440300 …: registered in Shenzhen, Guangdong.
        let company = SubjectRef::LegalPerson("9144030071526726XG".into());
        assert_eq!(may_gather(region("440000"), &company), Ok(()));
        assert_eq!(may_gather(region("440300"), &company), Ok(()));
        assert_eq!(may_gather(RegionCode::NATIONAL, &company), Ok(()));
        assert!(matches!(
            may_gather(region("500000"), &company),
            Err(Refused::NotEntitled(_))
        ));
        assert!(matches!(
            may_gather(
                region("500000"),
                &SubjectRef::LegalPerson("nonsense".into())
            ),
            Err(Refused::Invalid(_))
        ));
    }
}
