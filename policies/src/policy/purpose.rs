//! The closed list of purposes (用途) a request may state and a rule may
//! serve, with their codes, Chinese names and hash tags.
//!
//! Owns: [`Purpose`]. Does not own which purposes a rule may combine with
//! which peers (that is checked in [`super::validate`]).

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// Why data is requested: a closed list of purposes (用途). The snake_case
/// names are what files and messages carry.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Administrative approval and licensing (行政审批): checking an
    /// applicant's credit before granting a licence or approval.
    AdministrativeApproval,
    /// Government procurement and public tendering (政府采购与招投标):
    /// checking bidders and suppliers.
    PublicProcurement,
    /// Joint rewards and punishments (联合奖惩): applying incentives to the
    /// red list and disciplinary measures to the serious-dishonesty list
    /// across regions.
    JointPunishment,
    /// Credit-based financing (信易贷): giving lenders' platforms credit
    /// information for loans to small firms, with the subject's authorization.
    Financing,
    /// In-process and post-event supervision (事中事后监管): grading
    /// supervision by credit risk.
    Supervision,
    /// Mutual recognition of credit evaluation results (信用评价互认) under
    /// a cooperation agreement.
    MutualRecognition,
    /// Reporting upward to the national credit information sharing platform
    /// (向全国平台报送); only for the national platform as peer.
    UpwardReporting,
}

impl Purpose {
    /// Every purpose, in a fixed order.
    pub const ALL: [Purpose; 7] = [
        Purpose::AdministrativeApproval,
        Purpose::PublicProcurement,
        Purpose::JointPunishment,
        Purpose::Financing,
        Purpose::Supervision,
        Purpose::MutualRecognition,
        Purpose::UpwardReporting,
    ];

    /// The snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::AdministrativeApproval => "administrative_approval",
            Purpose::PublicProcurement => "public_procurement",
            Purpose::JointPunishment => "joint_punishment",
            Purpose::Financing => "financing",
            Purpose::Supervision => "supervision",
            Purpose::MutualRecognition => "mutual_recognition",
            Purpose::UpwardReporting => "upward_reporting",
        }
    }

    /// The Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            Purpose::AdministrativeApproval => "行政审批",
            Purpose::PublicProcurement => "政府采购与招投标",
            Purpose::JointPunishment => "联合奖惩",
            Purpose::Financing => "信易贷",
            Purpose::Supervision => "事中事后监管",
            Purpose::MutualRecognition => "信用评价互认",
            Purpose::UpwardReporting => "向全国平台报送",
        }
    }

    /// The English name.
    pub fn name_en(self) -> &'static str {
        match self {
            Purpose::AdministrativeApproval => "administrative approval and licensing",
            Purpose::PublicProcurement => "government procurement and tendering",
            Purpose::JointPunishment => "joint rewards and punishments",
            Purpose::Financing => "credit-based financing",
            Purpose::Supervision => "in-process and post-event supervision",
            Purpose::MutualRecognition => "mutual recognition of credit evaluations",
            Purpose::UpwardReporting => "reporting to the national platform",
        }
    }

    /// A stable number for the canonical hash (never reused).
    pub(super) fn tag(self) -> u8 {
        match self {
            Purpose::AdministrativeApproval => 1,
            Purpose::PublicProcurement => 2,
            Purpose::JointPunishment => 3,
            Purpose::Financing => 4,
            Purpose::Supervision => 5,
            Purpose::MutualRecognition => 6,
            Purpose::UpwardReporting => 7,
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Purpose {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown purpose {s:?}"))
    }
}
