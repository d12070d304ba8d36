//! A drafted query from what a region system posts: the target region, the
//! subject (a citizen ID only ever as its pseudonym), the purpose, the
//! categories and fields checked against the catalogue, and the subject's
//! authorization if one is attached.

use std::path::Path;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use credex_policies::SubjectId;
use credex_protocol::RegionCode;
use credex_protocol::query::{CategoryFields, SubjectRef};

use super::model::NewQuery;
use crate::gateway::problem::{Problem, ProblemType};
use crate::gateway::state::GatewayState;
use crate::requester::{CaseNote, QueryFile, QuerySpec};

/// Longest case reference, in bytes.
pub const MAX_CASE_REFERENCE: usize = 256;

fn invalid(field: &str, detail: impl Into<String>) -> Problem {
    Problem::new(ProblemType::FieldInvalid, detail).at_field(field)
}

/// Check `new` and draft it on behalf of this node; nobody has signed it.
pub fn draft(state: &GatewayState, new: NewQuery, now: SystemTime) -> Result<QueryFile, Problem> {
    let parts = state.parts();
    let config = &parts.config;
    let target: RegionCode = new
        .target_region
        .parse()
        .map_err(|e| invalid("/target_region", format!("{e}")))?;
    if target == config.region {
        return Err(invalid(
            "/target_region",
            "a query goes to another region; this node's own records are read with a credit check",
        ));
    }
    if !parts.federation.context().peers.knows(target) {
        return Err(invalid(
            "/target_region",
            format!("no peer of region {target} is configured on this node"),
        ));
    }
    let (subject, masked_subject) = subject(state, &new.subject)?;
    if new.purpose.trim().is_empty() {
        return Err(invalid("/purpose", "empty purpose code"));
    }
    let requested = requested(state, &new)?;
    let reference = new.case_reference.trim().to_owned();
    if reference.is_empty() || reference.len() > MAX_CASE_REFERENCE {
        return Err(invalid(
            "/case_reference",
            format!("expected 1 to {MAX_CASE_REFERENCE} bytes naming the case the query serves"),
        ));
    }
    let subject_authorization = match &new.subject_authorization {
        None => None,
        Some(text) => {
            let bytes = STANDARD
                .decode(text.trim())
                .map_err(|e| invalid("/subject_authorization", format!("not base64: {e}")))?;
            Some(
                crate::requester::authorization_from_bytes(
                    &bytes,
                    Path::new("subject_authorization"),
                )
                .map_err(|e| invalid("/subject_authorization", e.to_string()))?,
            )
        }
    };
    let spec = QuerySpec {
        target_region: target,
        subject,
        purpose: new.purpose.trim().to_owned(),
        requested,
        legal_basis: new
            .legal_basis
            .map(|b| b.trim().to_owned())
            .filter(|b| !b.is_empty()),
        subject_authorization,
    };
    let request = crate::requester::draft_request(config.region, config.name.clone(), &spec, now)
        .map_err(|e| Problem::new(ProblemType::Internal, e.to_string()))?;
    Ok(QueryFile {
        request,
        requester: None,
        approver: None,
        subject_authorization: spec.subject_authorization,
        case: Some(CaseNote {
            reference,
            masked_subject,
        }),
    })
}

/// The subject as the wire carries it, and a natural person's masked ID.
fn subject(state: &GatewayState, text: &str) -> Result<(SubjectRef, Option<String>), Problem> {
    match SubjectId::parse(text.trim()).map_err(|e| invalid("/subject", e.to_string()))? {
        SubjectId::LegalPerson(u) => Ok((SubjectRef::LegalPerson(u.as_str().to_owned()), None)),
        SubjectId::NaturalPerson(c) => {
            let persons = state.parts().persons.as_deref().ok_or_else(|| {
                invalid(
                    "/subject",
                    "a natural person is named by pseudonym, and this node has no pseudonym key ring ([pseudonyms] keys)",
                )
            })?;
            let ring = &persons.ring;
            let pseudonym = ring
                .current_pseudonym(c.expose())
                .map_err(|e| invalid("/subject", e.to_string()))?;
            Ok((SubjectRef::NaturalPerson(pseudonym), Some(c.masked())))
        }
    }
}

/// The categories and fields asked for, each in the catalogue.
fn requested(state: &GatewayState, new: &NewQuery) -> Result<Vec<CategoryFields>, Problem> {
    if new.requested.is_empty() {
        return Err(invalid("/requested", "ask for at least one category"));
    }
    let catalogue = state.parts().queries.policy().catalogue();
    let mut out = Vec::with_capacity(new.requested.len());
    for (i, c) in new.requested.iter().enumerate() {
        if catalogue.category(&c.category).is_none() {
            return Err(invalid(
                &format!("/requested/{i}/category"),
                format!("{:?} is not a category of the catalogue", c.category),
            ));
        }
        if c.fields.is_empty() {
            return Err(invalid(
                &format!("/requested/{i}/fields"),
                "ask for at least one field",
            ));
        }
        for (j, f) in c.fields.iter().enumerate() {
            if catalogue.field(&c.category, f).is_none() {
                return Err(invalid(
                    &format!("/requested/{i}/fields/{j}"),
                    format!("{f:?} is not a field of category {}", c.category),
                ));
            }
        }
        out.push(CategoryFields {
            category: c.category.clone(),
            fields: c.fields.clone(),
        });
    }
    Ok(out)
}
