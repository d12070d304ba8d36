//! A verified credit report as people read it (decision 0970): one
//! self-contained HTML page in plain Chinese — who issued it, on whom, for
//! what, what it covers and what it holds nothing of, until when it may be
//! relied on — with a QR code carrying what a verifier needs to match a
//! printed copy against the report file, and the command that verifies it.
//! Print it from a browser, or to PDF with headless Chromium (`credex
//! report render --pdf`).
//!
//! Pure: a [`VerifiedReport`] in, text out. Only a report that verified is
//! rendered; the page says so and how it was verified.

use std::fmt::Write as _;

use credex_audit::report::VerifiedReport;
use credex_policies::{Catalogue, Purpose};
use credex_protocol::RegionCode;
use credex_protocol::query::SubjectRef;
use qrcode::QrCode;
use qrcode::render::svg;

/// What the QR code carries: `credex-report/v1`, the issuing region and
/// node, the report id, the SHA-256 of the signed report, the log index
/// and the last valid day — enough to find the file and check that the
/// printed copy is the one it holds.
pub fn qr_payload(verified: &VerifiedReport) -> String {
    let r = &verified.report;
    format!(
        "credex-report/v1 {}/{} {} {} {} {}",
        r.issuer,
        r.issuer_node,
        hex::encode(r.id),
        hex::encode(verified.report_digest),
        verified.log_index,
        r.valid_until
    )
}

/// The HTML page of `verified`.
pub fn html(verified: &VerifiedReport) -> String {
    let r = &verified.report;
    let payload = qr_payload(verified);
    let qr = QrCode::new(payload.as_bytes())
        .map(|code| {
            code.render::<svg::Color<'_>>()
                .min_dimensions(160, 160)
                .quiet_zone(true)
                .build()
        })
        .map(|svg| match svg.find("<svg") {
            // Inline in HTML: without the XML declaration.
            Some(at) => svg[at..].to_owned(),
            None => svg,
        })
        .unwrap_or_default();
    let subject = match &r.subject {
        SubjectRef::LegalPerson(code) => code.clone(),
        SubjectRef::NaturalPerson(p) => p.to_string(),
    };
    let purpose = r
        .purpose
        .parse::<Purpose>()
        .map_or_else(|_| r.purpose.clone(), |p| p.name_zh().to_owned());
    let issued = credex_flows::calendar::china_date_text(r.issued_at_ms);
    let issuer = region_name(r.issuer);
    let catalogue = Catalogue::base();
    let category_name = |code: &str| {
        catalogue
            .category(code)
            .map_or_else(|| known_category(code), |c| c.name_zh.clone())
    };
    let covered: Vec<String> = r.covered.iter().map(|c| category_name(c)).collect();
    let nothing: Vec<String> = r.nothing_held().iter().map(|c| category_name(c)).collect();
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", sans-serif; margin: 2em; color: #111; }}
h1 {{ font-size: 1.5em; text-align: center; }} h2 {{ font-size: 1.1em; border-bottom: 1px solid #999; }}
table {{ border-collapse: collapse; width: 100%; margin-bottom: 1em; }}
th, td {{ border: 1px solid #999; padding: 0.3em 0.5em; text-align: left; vertical-align: top; font-size: 0.9em; }}
.head {{ display: flex; justify-content: space-between; gap: 2em; }} .mark {{ color: #a00; }}
.note {{ font-size: 0.85em; color: #333; }}
</style></head><body>
<h1>{title}</h1>
<div class="head"><table>
<tr><th>报告编号</th><td>{id}</td></tr>
<tr><th>信息主体（统一社会信用代码）</th><td>{subject}</td></tr>
<tr><th>出具机构</th><td>{issuer}信用信息共享节点 {node}</td></tr>
<tr><th>用途</th><td>{purpose}</td></tr>
<tr><th>出具日期</th><td>{issued}</td></tr>
<tr><th>有效期至</th><td>{until}</td></tr>
</table><div>{qr}</div></div>
<p>本报告由{issuer}信用信息共享节点依据其共享策略（策略摘要 {policy}）出具，内容为该节点掌握及互认的信用信息中，策略允许为“{purpose}”用途公开的部分。涵盖类别：{covered}。{nothing_line}本报告在 {until}（北京时间）之前有效。</p>
<p>本报告的出具已记入出具节点的可验证日志（第 {index} 条，检查点规模 {size}），并经该节点证书签名；已核验：签名、证书（未吊销）、有效期、日志收录证明。</p>
"#,
        title = escape(r.kind.title_zh()),
        id = hex::encode(r.id),
        subject = escape(&subject),
        issuer = escape(&issuer),
        node = escape(&r.issuer_node.to_string()),
        purpose = escape(&purpose),
        issued = issued,
        until = escape(&r.valid_until),
        qr = qr,
        policy = &hex::encode(r.policy_hash)[..16],
        covered = escape(&covered.join("、")),
        nothing_line = if nothing.is_empty() {
            String::new()
        } else {
            format!("其中，{} 无相关记录。", escape(&nothing.join("、")))
        },
        index = verified.log_index,
        size = verified.checkpoint_size,
    );
    for s in r.sections.iter().filter(|s| !s.items.is_empty()) {
        let _ = write!(
            out,
            "<h2>{}</h2><table><tr><th>编号</th><th>来源</th><th>内容</th><th>状态</th></tr>",
            escape(&category_name(&s.category))
        );
        for item in &s.items {
            let fields: Vec<String> = item
                .fields
                .iter()
                .map(|(k, v)| {
                    let name = catalogue
                        .field(&s.category, k)
                        .map_or(k.as_str(), |f| f.name_zh.as_str());
                    format!("{}：{}", escape(name), escape(v))
                })
                .collect();
            let marks: Vec<&str> = item.marks.iter().map(|m| mark_name(m)).collect();
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"mark\">{}</td></tr>",
                escape(&item.id),
                escape(&region_name(item.source)),
                fields.join("<br>"),
                marks.join("、")
            );
        }
        out.push_str("</table>");
    }
    if !r.withheld.is_empty() {
        let _ = write!(
            out,
            "<p class=\"note\">依共享策略未在本报告中公开的字段：{}。</p>",
            escape(&r.withheld.join("、"))
        );
    }
    let _ = writeln!(
        out,
        "<p class=\"note\">核验方法：取得本报告的电子文件（.tlog-proof），执行 <code>credex report verify 文件 --trust 联邦根证书</code>；二维码内容：<code>{}</code>。</p></body></html>",
        escape(&payload)
    );
    out
}

/// The Chinese name of a category the base catalogue lacks (an evaluation
/// scheme's, a list's) where credex knows it, else its code.
fn known_category(code: &str) -> String {
    match code {
        "admin_penalty" => "行政处罚信息".into(),
        "admin_license" => "行政许可信息".into(),
        "serious_dishonesty" => "严重失信主体名单".into(),
        "key_attention" => "重点关注名单".into(),
        "red_list" => "守信红名单".into(),
        "judgment_debtor" => "失信被执行人信息".into(),
        "credit_commitment" => "信用承诺信息".into(),
        "credit_repair" => "信用修复信息".into(),
        "registration" => "登记注册基本信息".into(),
        "public_credit_evaluation" | "public_credit" => "公共信用综合评价".into(),
        "tax_credit_rating" => "纳税信用等级".into(),
        "environmental_credit_evaluation" => "环保信用评价".into(),
        other => other.to_owned(),
    }
}

fn mark_name(mark: &str) -> &str {
    match mark {
        "under_objection" => "异议处理中",
        "under_repair_review" => "信用修复审核中",
        "recognised" => "互认",
        other => other,
    }
}

/// A provincial-level region's name (GB/T 2260), else its code.
fn region_name(region: RegionCode) -> String {
    let name = match region.to_string().as_str() {
        "000000" => "全国信用信息共享平台",
        "110000" => "北京市",
        "120000" => "天津市",
        "130000" => "河北省",
        "140000" => "山西省",
        "150000" => "内蒙古自治区",
        "210000" => "辽宁省",
        "220000" => "吉林省",
        "230000" => "黑龙江省",
        "310000" => "上海市",
        "320000" => "江苏省",
        "330000" => "浙江省",
        "340000" => "安徽省",
        "350000" => "福建省",
        "360000" => "江西省",
        "370000" => "山东省",
        "410000" => "河南省",
        "420000" => "湖北省",
        "430000" => "湖南省",
        "440000" => "广东省",
        "450000" => "广西壮族自治区",
        "460000" => "海南省",
        "500000" => "重庆市",
        "510000" => "四川省",
        "520000" => "贵州省",
        "530000" => "云南省",
        "540000" => "西藏自治区",
        "610000" => "陕西省",
        "620000" => "甘肃省",
        "630000" => "青海省",
        "640000" => "宁夏回族自治区",
        "650000" => "新疆维吾尔自治区",
        other => return other.to_owned(),
    };
    name.to_owned()
}

/// Escape text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use credex_protocol::report::{
        CreditReport, REPORT_VERSION, ReportItem, ReportKind, ReportSection,
    };

    fn verified(fact: &str) -> VerifiedReport {
        let gy: RegionCode = "520000".parse().expect("region");
        VerifiedReport {
            report: CreditReport {
                version: REPORT_VERSION,
                id: [7; 16],
                kind: ReportKind::NoViolation,
                issuer: gy,
                issuer_node: "gy-1".parse().expect("name"),
                subject: SubjectRef::LegalPerson("91520100MA6DK0BG5X".into()),
                purpose: "administrative_approval".into(),
                issued_at_ms: 1_796_400_000_000,
                valid_until: "2027-03-04".into(),
                policy_hash: [1; 32],
                covered: vec!["admin_penalty".into(), "serious_dishonesty".into()],
                sections: vec![ReportSection {
                    category: "admin_penalty".into(),
                    items: vec![ReportItem {
                        id: "520000-AP-0001".into(),
                        source: gy,
                        fields: [("facts".to_owned(), fact.to_owned())].into(),
                        marks: vec!["under_objection".into()],
                    }],
                }],
                withheld: vec!["admin_penalty.case_notes".into()],
            },
            issuer: (gy, "gy-1".parse().expect("name")),
            log_index: 41,
            checkpoint_size: 42,
            cosignature_lines: 0,
            report_digest: [9; 32],
        }
    }

    #[test]
    fn the_page_says_what_it_covers_until_when_and_escapes_what_it_shows() {
        let page = html(&verified("<img src=x onerror=alert(1)>逾期未公示"));
        assert!(page.contains("<h1>专项信用报告（有无违法违规记录）</h1>"));
        assert!(page.contains("涵盖类别：行政处罚信息、严重失信主体名单"));
        assert!(page.contains("其中，严重失信主体名单 无相关记录。"));
        assert!(page.contains("本报告在 2027-03-04（北京时间）之前有效"));
        assert!(page.contains("异议处理中"));
        assert!(page.contains("（第 41 条，检查点规模 42）"));
        assert!(page.contains("<svg") && !page.contains("<?xml"));
        assert!(
            !page.contains("<img"),
            "a field's markup is shown, never run"
        );
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;逾期未公示"));
        // Fields and categories by their catalogue names.
        assert!(page.contains("违法事实：&lt;img"), "{page}");
        assert_eq!(
            qr_payload(&verified("")),
            format!(
                "credex-report/v1 520000/gy-1 {} {} 41 2027-03-04",
                hex::encode([7u8; 16]),
                hex::encode([9u8; 32])
            )
        );
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }
}
