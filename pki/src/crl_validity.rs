//! When a CRL was issued and when its issuer promised the next one — what
//! an operator watches: a CRL past its next update means revocations may be
//! missing. Reads the CRL; does not verify its signature (the trust store
//! does, when it loads it).

use time::OffsetDateTime;

/// A CRL's issuer and validity window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlValidity {
    /// The issuer's common name (or its whole name when it has none).
    pub issuer: String,
    /// thisUpdate.
    pub this_update: OffsetDateTime,
    /// nextUpdate, if the CRL names one.
    pub next_update: Option<OffsetDateTime>,
}

/// A CRL that does not parse as a DER X.509 CRL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the CRL does not parse as a DER X.509 CRL: {reason}")]
pub struct CrlUnreadable {
    /// The parser's error.
    pub reason: String,
}

/// The validity of the DER CRL `der`, or why it cannot be read.
pub fn crl_validity(der: &[u8]) -> Result<CrlValidity, CrlUnreadable> {
    let (_, crl) = x509_parser::parse_x509_crl(der).map_err(|e| CrlUnreadable {
        reason: e.to_string(),
    })?;
    let issuer = crl
        .issuer()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| crl.issuer().to_string());
    Ok(CrlValidity {
        issuer,
        this_update: crl.last_update().to_datetime(),
        next_update: crl.next_update().map(|t| t.to_datetime()),
    })
}
