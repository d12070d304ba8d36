// A subject's page: what this region holds about a company or a person for
// a purpose — records, evaluations recognised from other regions, list
// entries binding here with their measures, objections and repair
// applications in progress, the regions that received the records
// (经手必有责) — and who accessed it. Looking is itself logged, as a credit check by the
// signed-in officer.

import * as api from "./api.js";
import { fill, h } from "./dom.js";
import { purposeName, regionName, t } from "./i18n.js";

const PURPOSES = ["administrative_approval", "public_procurement", "joint_punishment",
  "financing", "supervision"];

const when = (ms) => (ms ? new Date(ms).toLocaleString(document.documentElement.lang) : "");
const text = (v) => (typeof v === "string" ? v : JSON.stringify(v));

function rows(id, items, columns, cells) {
  fill(id, items.length === 0
    ? h("tr", {}, h("td", { colspan: columns }, t("subject.none")))
    : items.map((item) => h("tr", {}, cells(item).map((c) => h("td", {}, c)))));
}

// The purposes, in the page's language, keeping the one chosen.
export function renderForm() {
  const chosen = document.getElementById("s-purpose").value;
  fill("s-purpose", PURPOSES.map((p) => h("option", { value: p }, t(`purposes.${p}`))));
  if (chosen) document.getElementById("s-purpose").value = chosen;
}

export async function lookUp() {
  const subject = document.getElementById("s-subject").value.trim();
  const purpose = document.getElementById("s-purpose").value;
  const page = await api.post("/console/api/subjects", { subject, purpose });
  const answer = page.check.results[0];
  document.getElementById("s-heading").textContent = t("subject.of", { subject: answer.subject });
  document.getElementById("s-logged").textContent = t("subject.logged", {
    seq: page.check.journal.map((j) => j.seq).join(", "),
  });
  const withheld = page.check.release.withheld;
  document.getElementById("s-withheld-summary").textContent =
    t("subject.withheld", { count: withheld.length });
  fill("s-withheld", withheld.length === 0 ? t("subject.none")
    : withheld.map((w) => `${w.category}.${w.field}`).join(", "));
  rows("s-records", answer.records, 3, (r) => [r.category,
    [r.record_id, r.under_objection && t("subject.underObjection"),
      r.under_repair_review && t("subject.underRepair")].filter(Boolean).join(" · "),
    Object.entries(r.fields).map(([k, v]) => `${k}: ${text(v)}`).join("；")]);
  rows("s-evaluations", answer.evaluations, 6, (e) => [e.issuer_region, e.scheme,
    e.original_grade, e.local_grade || "", e.supervision_tier || (e.green_channel ? t("subject.green") : ""),
    e.agreement || ""]);
  rows("s-lists", answer.lists, 5, (l) => [
    [l.list_type, l.under_objection && t("subject.underObjection"),
      l.under_repair_review && t("subject.underRepair")].filter(Boolean).join(" · "),
    l.origin_region, l.basis || "",
    l.measures.map((m) => m.name_zh).join("、"), (l.applied_here || []).join("、")]);
  const cases = (o) => [o.entry_id || o.record, o.from_region, when(o.received_at_ms),
    t(`subject.stages.${o.stage}`), (o.stage === "accepted" ? o.decide_by : o.accept_by) || ""];
  rows("s-objections", answer.objections, 5, cases);
  rows("s-repairs", answer.repairs, 5, cases);
  rows("s-accesses", page.accesses.accesses, 6, (a) => [when(a.at_ms), t(`subject.kinds.${a.kind}`),
    a.by, a.officers.join("、"), purposeName(a.purpose), a.outcome ? t(`queries.outcomes.${a.outcome}`) : ""]);
  rows("s-disclosures", page.accesses.disclosures, 5, (d) => [d.category, d.record_id,
    regionName(d.recipient), t(`subject.channels.${d.channel}`), when(d.last_at_ms)]);
  document.getElementById("s-results").hidden = false;
  return page;
}

// Gather the subject's access report from every region: each answers from
// its own log over the federation. The page shows the parts as they come,
// and names the regions still to answer when it stops waiting (20 s).
export async function gather() {
  const subject = document.getElementById("s-subject").value.trim();
  const status = document.getElementById("s-federated-status");
  const asked = await api.post("/console/api/subjects/federated", { subject });
  status.textContent = t("subject.gathering", { regions: asked.asked.map(regionName).join("、") });
  let report;
  for (let i = 0; i < 40; i += 1) {
    report = await api.get(`/console/api/subjects/federated/${asked.request}`);
    showGathered(report);
    if (report.waiting.length === 0) break;
    await new Promise((resolve) => { setTimeout(resolve, 500); });
  }
  return report;
}

function showGathered(report) {
  const lines = report.parts.flatMap((part) => part.accesses.map((a) => ({ region: part.region, ...a })));
  rows("s-federated", lines, 6, (a) => [regionName(a.region), when(a.at_ms),
    t(`subject.kinds.${a.kind}`), a.by, purposeName(a.purpose),
    a.outcome ? t(`queries.outcomes.${a.outcome}`) : ""]);
  const parts = [t("subject.gathered", { count: report.parts.length })];
  if (report.waiting.length > 0) {
    parts.push(t("subject.waiting", { regions: report.waiting.map(regionName).join("、") }));
  }
  for (const r of report.refused) {
    parts.push(t("subject.refused", { region: regionName(r.region), reason: r.reason }));
  }
  document.getElementById("s-federated-status").textContent = parts.join(" ");
}
