//! A ready-to-run development federation on one machine (`credex dev init`):
//! a root, region CAs, one node per region with its configuration, and
//! operators and an authorization authority per region.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use credex_node::config::logical_server_name;
use credex_node::pki_files::{CaDir, PkiFileError, lifetime, write_public};
use credex_pki::{KeyAlgorithm, PseudonymKey, PseudonymKeyRing};
use credex_protocol::{NodeName, RegionCode, Role, Suite};
use ring::rand::SystemRandom;

/// One node of the development federation.
#[derive(Debug, Clone)]
pub struct DevNode {
    /// Region code.
    pub region: RegionCode,
    /// Node name.
    pub name: NodeName,
    /// Region name in words, for messages.
    pub label: &'static str,
    /// UDP port on 127.0.0.1.
    pub port: u16,
    /// The node's configuration file.
    pub config: PathBuf,
}

/// The regions `credex dev init` creates: Guizhou, Chongqing, Guangdong and
/// the national platform.
pub const DEV_REGIONS: [(&str, &str, &str); 4] = [
    ("520000", "gy-1", "Guizhou 贵州"),
    ("500000", "cq-1", "Chongqing 重庆"),
    ("440000", "gz-1", "Guangdong 广东"),
    ("000000", "national-1", "national platform 全国平台"),
];

/// All 31 provincial-level regions of the mainland (GB/T 2260 codes, 省级
/// 行政区) and the national platform, as (region code, node name, label):
/// what the simulator and the large integration tests build federations
/// from. The first four are [`DEV_REGIONS`].
pub const PROVINCES: [(&str, &str, &str); 32] = [
    ("520000", "gy-1", "Guizhou 贵州"),
    ("500000", "cq-1", "Chongqing 重庆"),
    ("440000", "gz-1", "Guangdong 广东"),
    ("000000", "national-1", "national platform 全国平台"),
    ("110000", "bj-1", "Beijing 北京"),
    ("120000", "tj-1", "Tianjin 天津"),
    ("130000", "he-1", "Hebei 河北"),
    ("140000", "sx-1", "Shanxi 山西"),
    ("150000", "nm-1", "Inner Mongolia 内蒙古"),
    ("210000", "ln-1", "Liaoning 辽宁"),
    ("220000", "jl-1", "Jilin 吉林"),
    ("230000", "hl-1", "Heilongjiang 黑龙江"),
    ("310000", "sh-1", "Shanghai 上海"),
    ("320000", "js-1", "Jiangsu 江苏"),
    ("330000", "zj-1", "Zhejiang 浙江"),
    ("340000", "ah-1", "Anhui 安徽"),
    ("350000", "fj-1", "Fujian 福建"),
    ("360000", "jx-1", "Jiangxi 江西"),
    ("370000", "sd-1", "Shandong 山东"),
    ("410000", "ha-1", "Henan 河南"),
    ("420000", "hb-1", "Hubei 湖北"),
    ("430000", "hn-1", "Hunan 湖南"),
    ("450000", "gx-1", "Guangxi 广西"),
    ("460000", "hi-1", "Hainan 海南"),
    ("510000", "sc-1", "Sichuan 四川"),
    ("530000", "yn-1", "Yunnan 云南"),
    ("540000", "xz-1", "Tibet 西藏"),
    ("610000", "sn-1", "Shaanxi 陕西"),
    ("620000", "gs-1", "Gansu 甘肃"),
    ("630000", "qh-1", "Qinghai 青海"),
    ("640000", "nx-1", "Ningxia 宁夏"),
    ("650000", "xj-1", "Xinjiang 新疆"),
];

/// First UDP port of the development federation.
pub const DEV_BASE_PORT: u16 = 7401;

/// Create the development federation in `dir` (which must not contain one
/// already). Nodes listen on `127.0.0.1:base_port…`.
pub fn init(dir: &Path, base_port: u16) -> Result<Vec<DevNode>, PkiFileError> {
    init_regions(dir, base_port, &DEV_REGIONS)
}

/// Create a development federation of the given regions (entries of
/// [`PROVINCES`], or any (code, node name, label) triples) in `dir`. Node
/// `i` listens on `127.0.0.1:base_port + i`; every node peers with every
/// other. Regions without an example policy of their own get Guangdong's
/// example with their code as owner; the national platform's releases
/// nothing.
pub fn init_regions(
    dir: &Path,
    base_port: u16,
    regions: &[(&'static str, &'static str, &'static str)],
) -> Result<Vec<DevNode>, PkiFileError> {
    init_regions_with_suite(dir, base_port, regions, Suite::Ed25519Sha256)
}

/// [`init_regions`] under the crypto suite `suite`. Under `sm2-sm3` the root,
/// the region CAs, the operators and the authorities have SM2 keys, and
/// each node two certificates: its TLS one with an Ed25519 key (no QUIC
/// stack speaks SM2; it also signs the log's C2SP checkpoint line) and a
/// signing one with an SM2 key (`[tls] signing_cert`, `signing_key`, in the
/// node's `signing/` directory).
pub fn init_regions_with_suite(
    dir: &Path,
    base_port: u16,
    regions: &[(&'static str, &'static str, &'static str)],
    suite: Suite,
) -> Result<Vec<DevNode>, PkiFileError> {
    let alg = match suite {
        Suite::Ed25519Sha256 => KeyAlgorithm::Ed25519,
        Suite::Sm2Sm3 => KeyAlgorithm::Sm2,
    };
    let root = CaDir::create_root(
        dir.join("pki/root"),
        "credex development federation root",
        alg,
        lifetime::ROOT_DAYS,
    )?;
    let mut nodes = Vec::new();
    let mut cas = Vec::new();
    for (i, (region, name, label)) in regions.iter().enumerate() {
        let region: RegionCode = region.parse().map_err(|e| invalid(dir, e))?;
        let name: NodeName = name.parse().map_err(|e| invalid(dir, e))?;
        let ca = root.create_region(
            region,
            dir.join(format!("pki/{region}")),
            alg,
            lifetime::REGION_CA_DAYS,
        )?;
        let node_dir = dir.join(format!("nodes/{name}"));
        let dns = [logical_server_name(region, &name), "localhost".into()];
        let ips = [IpAddr::V4(Ipv4Addr::LOCALHOST)];
        let tls = KeyAlgorithm::Ed25519;
        ca.issue_node(&name, &dns, &ips, tls, lifetime::LEAF_DAYS, &node_dir)?;
        if alg != tls {
            let signing = node_dir.join(SIGNING_DIR);
            ca.issue_node(&name, &dns, &ips, alg, lifetime::LEAF_DAYS, &signing)?;
        }
        let ops = dir.join(format!("operators/{region}"));
        for (op, role) in [
            ("req-1", Role::Requester),
            ("apv-1", Role::Approver),
            ("aud-1", Role::Auditor),
            ("adm-1", Role::Admin),
        ] {
            let op: NodeName = op.parse().map_err(|e| invalid(dir, e))?;
            ca.issue_operator(&op, role, alg, lifetime::LEAF_DAYS, &ops)?;
        }
        let portal: NodeName = "portal".parse().map_err(|e| invalid(dir, e))?;
        ca.issue_authority(
            &portal,
            alg,
            lifetime::LEAF_DAYS,
            &dir.join(format!("authorities/{region}")),
        )?;
        let port = base_port + i as u16;
        // The key-encryption key of the node's store (decision 1110).
        credex_node::storage::FileKek::generate(&node_dir.join(STORAGE_KEK))
            .map_err(|e| invalid(dir, e))?;
        write_public(&node_dir.join("policy.toml"), &policy_text(region))?;
        write_sample_records(&dir.join(format!("records/{region}")), region)?;
        nodes.push(DevNode {
            region,
            name,
            label,
            port,
            config: node_dir.join("node.toml"),
        });
        cas.push(ca);
    }
    // The federation's pseudonymization key ring (decision 0630): held by
    // the root's operator and given to every node, never to auditors.
    let ring =
        PseudonymKeyRing::new([PseudonymKey::generate_in(suite, 1, &SystemRandom::new())
            .map_err(|e| invalid(dir, e))?])
        .map_err(|e| invalid(dir, e))?;
    credex_node::pseudonyms::save_ring(&dir.join(PSEUDONYM_KEYS), &ring, false)
        .map_err(|e| invalid(dir, e))?;
    for node in &nodes {
        write_public(&node.config, &node_config(node, &nodes, suite))?;
    }
    Ok(nodes)
}

fn invalid(dir: &Path, e: impl std::fmt::Display) -> PkiFileError {
    PkiFileError::Invalid {
        path: dir.to_owned(),
        reason: e.to_string(),
    }
}

/// The key-encryption key file of a development node's store, in its
/// directory (`[storage] key_encryption_key`).
pub const STORAGE_KEK: &str = "storage-kek.pem";

/// Where a node of an `sm2-sm3` development federation keeps its signing
/// certificate and key, inside its directory.
pub const SIGNING_DIR: &str = "signing";

/// The configuration text of `node`, peering with every other node.
fn node_config(node: &DevNode, all: &[DevNode], suite: Suite) -> String {
    let signing = match suite {
        Suite::Ed25519Sha256 => String::new(),
        Suite::Sm2Sm3 => format!(
            "signing_cert = \"{SIGNING_DIR}/{name}.pem\"\nsigning_key = \"{SIGNING_DIR}/{name}.key\"\n",
            name = node.name
        ),
    };
    let mut crls = vec!["\"../../pki/root/crl.pem\"".to_owned()];
    crls.extend(
        all.iter()
            .map(|n| format!("\"../../pki/{}/crl.pem\"", n.region)),
    );
    let mut s = format!(
        r#"# credex node configuration — development federation, {label}
[node]
region = "{region}"
name = "{name}"
data_dir = "data"

[tls]
cert = "{name}.pem"
key = "{name}.key"
{signing}root = "../../pki/root/ca.pem"
crls = [{crls}]
crl_reload_ms = 2000

[listen]
addr = "127.0.0.1:{port}"

[transport]
idle_timeout_ms = 30000
keep_alive_ms = 10000

[policy]
file = "policy.toml"

[storage]
key_encryption_key = "{kek}"

[pseudonyms]
keys = "../../{keys}"

[log]
format = "human"
level = "info"
"#,
        label = node.label,
        region = node.region,
        name = node.name,
        crls = crls.join(", "),
        port = node.port,
        keys = PSEUDONYM_KEYS,
        kek = STORAGE_KEK,
        signing = signing,
    );
    for peer in all.iter().filter(|p| p.name != node.name) {
        let _ = write!(
            s,
            "\n[[peers]]\nregion = \"{}\"\nname = \"{}\"\naddr = \"127.0.0.1:{}\"\n",
            peer.region, peer.name, peer.port
        );
    }
    s
}

/// The example sharing policy of a development region (the national
/// platform's is a minimal one of its own).
fn policy_text(region: RegionCode) -> String {
    match region.as_u32() {
        520_000 => include_str!("../../../policies/examples/policy-520000.toml").to_owned(),
        500_000 => include_str!("../../../policies/examples/policy-500000.toml").to_owned(),
        440_000 => include_str!("../../../policies/examples/policy-440000.toml").to_owned(),
        0 => format!(
            "# Sharing policy of node {region}: releases nothing (deny by default).\nowner = \"{region}\"\n"
        ),
        _ => include_str!("../../../policies/examples/policy-440000.toml").replacen(
            "owner = \"440000\"",
            &format!("owner = \"{region}\""),
            1,
        ),
    }
}

/// The GB 32100 character set, in value order.
const USCC_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// A synthetic but valid unified social credit code (统一社会信用代码) for a
/// company registered in `region`: registration authority 9 (market
/// regulation), entity type 1 (enterprise), a made-up organisation code
/// derived from `seq`, and correct GB 11714 and GB 32100 check characters.
pub fn synthetic_uscc(region: RegionCode, seq: u32) -> String {
    // Organisation code: 8 digits, then its GB 11714 check character.
    let body = format!("{:08}", 10_000_000 + (seq % 90_000_000));
    const W11714: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(W11714)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        n => char::from(b'0' + n as u8),
    };
    let first17 = format!("91{region}{body}{check}");
    const W32100: [u32; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let sum: u32 = first17
        .bytes()
        .zip(W32100)
        .map(|(b, w)| USCC_ALPHABET.iter().position(|&c| c == b).unwrap_or(0) as u32 * w)
        .sum();
    let c18 = (31 - sum % 31) % 31;
    format!("{first17}{}", char::from(USCC_ALPHABET[c18 as usize]))
}

/// A synthetic record of `category` with the fields `values` (code, text),
/// each parsed by the catalogue, so every value fits its field. `Err` says
/// which category or field did not fit.
pub fn synthetic_record(
    catalogue: &credex_policies::Catalogue,
    category: &str,
    values: &[(&str, String)],
) -> Result<credex_policies::Record, String> {
    let cat = catalogue
        .category(category)
        .ok_or_else(|| format!("{category}: not in the catalogue"))?;
    let mut fields = std::collections::BTreeMap::new();
    for (code, text) in values {
        let field = cat
            .field(code)
            .ok_or_else(|| format!("{category}: no field {code}"))?;
        let value = field
            .parse_value(text)
            .map_err(|e| format!("{category}.{code}: {e}"))?;
        fields.insert((*code).to_owned(), value);
    }
    Ok(credex_policies::Record {
        category: category.to_owned(),
        fields,
    })
}

/// The field values of `region`'s synthetic administrative penalty
/// (行政处罚) number `n`: every field of the category, its two `internal`
/// ones included, for [`synthetic_record`].
pub fn synthetic_penalty(region: RegionCode, n: u32) -> Vec<(&'static str, String)> {
    vec![
        ("decision_number", format!("{region}罚〔2026〕{n}号")),
        ("violation_type", "未按规定公示年度报告".into()),
        ("penalty_type", "罚款".into()),
        ("amount", format!("{}.00", 1000 + (n % 50) * 500)),
        ("decision_date", format!("2026-0{}-15", 1 + n % 9)),
        ("deciding_authority", format!("{region}市场监督管理局")),
        ("case_notes", "内部备注：不得外传".into()),
        ("officer_phone", format!("0851-{:08}", n % 100_000_000)),
    ]
}

/// Where a development federation keeps its pseudonym key ring.
pub const PSEUDONYM_KEYS: &str = "pki/pseudonym-keys.txt";

/// A synthetic citizen ID (公民身份号码) of a development region: born
/// 1980-01-01 plus `seq` days in a district of the region, with a valid GB
/// 11643 check character. Never a real person's number.
pub fn synthetic_citizen_id(region: RegionCode, seq: u32) -> String {
    let province = &region.to_string()[..2];
    let born = time::Date::from_calendar_date(1980, time::Month::January, 1)
        .ok()
        .and_then(|d| d.checked_add(time::Duration::days(i64::from(seq % 10_000))))
        .unwrap_or(time::Date::MIN);
    let first17 = format!(
        "{province}0102{:04}{:02}{:02}{:03}",
        born.year(),
        u8::from(born.month()),
        born.day(),
        100 + seq % 900
    );
    "0123456789X"
        .chars()
        .map(|c| format!("{first17}{c}"))
        .find(|id| credex_policies::subject_id::CitizenId::parse(id).is_ok())
        .unwrap_or(first17)
}

/// Synthetic natural persons of a development region: one individual
/// business operator (个体工商户) with a penalty in the sample records.
pub fn sample_persons(region: RegionCode) -> Vec<String> {
    vec![synthetic_citizen_id(region, 1)]
}

/// Synthetic subjects of a development region: three companies.
pub fn sample_subjects(region: RegionCode) -> Vec<String> {
    (1..=3)
        .map(|i| synthetic_uscc(region, region.as_u32() / 10_000 * 100 + i))
        .collect()
}

/// The value of an `internal` (内部) field of a sample record: unique per
/// region and record, so a test can look for it in another node's files.
fn internal_value(what: &str, region: RegionCode, n: usize) -> String {
    format!("{what}{region}-{n}：不得外传")
}

/// Every `internal` field value of `region`'s sample records: none of
/// them may ever be found at another node.
pub fn sample_internal_values(region: RegionCode) -> Vec<String> {
    (1..=sample_subjects(region).len())
        .flat_map(|n| ["内部备注", "内线", "内部评审"].map(|what| internal_value(what, region, n)))
        .collect()
}

fn write_sample_records(dir: &Path, region: RegionCode) -> Result<(), PkiFileError> {
    let subjects = sample_subjects(region);
    let mut penalties = String::new();
    let mut ratings = String::new();
    let mut evaluations = String::new();
    for (i, uscc) in subjects.iter().enumerate() {
        let n = i + 1;
        let _ = writeln!(
            penalties,
            r#"{{"record_id":"{region}-AP-{n:04}","subject":"{uscc}","decision_number":"{region}罚〔2026〕{n}号","violation_type":"未按规定公示年度报告","facts":"逾期未公示2025年度报告","basis":"《企业信息公示暂行条例》第八条","penalty_type":"罚款","content":"罚款人民币{amount}元","amount":"{amount}.00","decision_date":"2026-0{n}-15","deciding_authority":"{region}市场监督管理局","case_notes":"{case_notes}","officer_phone":"{officer_phone}"}}"#,
            case_notes = internal_value("内部备注", region, n),
            officer_phone = internal_value("内线", region, n),
            amount = 5000 * n
        );
        let grade = ["A", "B", "M"][i % 3];
        let _ = writeln!(
            ratings,
            r#"{{"record_id":"{region}-TAX-{n:04}","subject":"{uscc}","year":2025,"grade":"{grade}","tax_authority":"国家税务总局{region}税务局","evaluation_date":"2026-04-20","score":"{score}","reviewer_notes":"{notes}"}}"#,
            notes = internal_value("内部评审", region, n),
            score = 95 - 7 * n
        );
        let grade = ["A", "B", "C"][i % 3];
        let _ = writeln!(
            evaluations,
            r#"{{"record_id":"{region}-EVAL-{n:04}","subject":"{uscc}","grade":"{grade}","score":"{score}.5","period":"2025","evaluation_date":"2026-03-31","evaluating_body":"{region}公共信用信息中心","model_version":"v3"}}"#,
            score = 90 - 9 * n
        );
    }
    for (i, person) in sample_persons(region).iter().enumerate() {
        let n = i + 1;
        let _ = writeln!(
            penalties,
            r#"{{"record_id":"{region}-AP-NP-{n:04}","subject":"{person}","decision_number":"{region}罚〔2026〕个{n}号","violation_type":"无照经营","facts":"个体工商户未依法办理营业执照从事经营","basis":"《无证无照经营查处办法》第十三条","penalty_type":"罚款","content":"罚款人民币2000元","amount":"2000.00","decision_date":"2026-05-15","deciding_authority":"{region}市场监督管理局"}}"#
        );
    }
    write_public(&dir.join("admin_penalty.jsonl"), &penalties)?;
    write_public(&dir.join("tax_credit_rating.jsonl"), &ratings)?;
    write_public(&dir.join("public_credit_evaluation.jsonl"), &evaluations)?;
    Ok(())
}
