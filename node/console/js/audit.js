// An auditor's offline verification of an exported log: the folder is read
// here and uploaded, the node verifies it exactly as `credex audit verify`
// does, and the page shows progress, then each violation with what its rule
// means, and the anomalies flagged in the accesses.

import * as api from "./api.js";
import { bars, hbars } from "./chart.js";
import { fill, h } from "./dom.js";
import { purposeName, regionName, t } from "./i18n.js";
import { toBase64 } from "./keys.js";

const lang = () => (document.documentElement.lang === "en" ? "en" : "zh");

async function readFiles(list) {
  const files = [];
  for (const file of list) {
    const path = file.webkitRelativePath || file.name;
    files.push({ path, data: toBase64(await file.arrayBuffer()) });
  }
  return files;
}

function explain(rule) {
  const text = t(`audit.rules.${rule}`);
  return text === `audit.rules.${rule}` ? t("audit.rules.other") : text;
}

function renderProgress(a) {
  const bar = document.getElementById("audit-progress");
  bar.max = Math.max(a.total, 1);
  bar.value = Math.min(a.checked, bar.max);
  document.getElementById("audit-progress-text").textContent =
    t("audit.progress", { checked: a.checked, total: a.total });
}

function renderReport(a) {
  const r = a.report;
  const verdict = document.getElementById("audit-verdict");
  verdict.className = r.violations.length === 0 ? "verdict pass" : "verdict fail";
  verdict.textContent = r.violations.length === 0
    ? t("audit.passed", { entries: r.entries })
    : t("audit.failed", { count: r.violations.length, entries: r.entries });
  fill("violation-rows", r.violations.length === 0
    ? h("tr", {}, h("td", { colspan: 4 }, t("audit.none")))
    : r.violations.map((v) => h("tr", { "data-rule": v.rule },
      h("td", {}, v.rule),
      h("td", {}, v.index === null || v.index === undefined ? v.log : `${v.log} #${v.index}`),
      h("td", {}, v.detail),
      h("td", {}, explain(v.rule)))));
  fill("anomaly-rows", a.anomalies.length === 0
    ? h("tr", {}, h("td", { colspan: 3 }, t("audit.none")))
    : a.anomalies.map((x) => h("tr", { "data-anomaly": x.rule },
      h("td", {}, t(`audit.anomalyRules.${x.rule}`)),
      h("td", {}, lang() === "en" ? x.explanation_en : x.explanation_zh),
      h("td", {}, x.entries.map((e) => `${e.log} #${e.index}`).join(", ")))));
  renderOverview(a.overview);
  document.getElementById("audit-results").hidden = false;
}

function renderOverview(o) {
  const unit = t("audit.units.accesses");
  fill("audit-chart-days", h("figcaption", {}, t("audit.charts.days")), bars({
    labels: o.days.map(([d]) => d), values: o.days.map(([, n]) => n),
    unit, title: t("audit.charts.days"),
  }));
  const named = {
    peer: (k) => (k === "local" ? t("audit.local") : regionName(k)),
    purpose: purposeName,
    officer: (k) => k.replace(/^urn:credex:operator:/, ""),
    category: (k) => k,
  };
  for (const [key, list] of [["peer", o.by_peer], ["purpose", o.by_purpose],
    ["officer", o.by_officer], ["category", o.by_category]]) {
    const top = list.slice(0, 12);
    fill(`audit-chart-${key}`, h("figcaption", {}, t(`audit.charts.${key}`)), hbars({
      labels: top.map(([k]) => named[key](k)), values: top.map(([, n]) => n),
      unit, title: t(`audit.charts.${key}`),
    }));
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Upload the chosen folder and follow the verification to its end.
export async function verify() {
  const input = document.getElementById("export-folder");
  const list = [...(input.files || [])];
  if (list.length === 0) throw new Error("audit.noFolder");
  // The next verification starts from a fresh choice of folder.
  input.value = "";
  document.getElementById("audit-results").hidden = true;
  document.getElementById("audit-verdict").textContent = "";
  document.getElementById("audit-running").hidden = false;
  return follow(await api.post("/console/api/audits", { files: await readFiles(list) }));
}

// Verify this node's own log.
export async function verifyOwn() {
  document.getElementById("audit-results").hidden = true;
  document.getElementById("audit-verdict").textContent = "";
  document.getElementById("audit-running").hidden = false;
  return follow(await api.post("/console/api/audits/own"));
}

// Follow audit `a` to its end, then show what it found.
async function follow(started) {
  let a = started;
  renderProgress(a);
  while (a.state !== "done") {
    await sleep(300);
    a = await api.get(`/console/api/audits/${a.id}`);
    renderProgress(a);
  }
  renderReport(a);
  return a;
}
