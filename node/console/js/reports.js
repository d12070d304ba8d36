// Credit reports (信用报告): issue one in the officer's name for a purpose
// and take away the file and its printable page; verify a report a company
// presents, from any region, and whether an agreement lets this region
// accept it.

import * as api from "./api.js";
import { fill, h } from "./dom.js";
import { regionName, t } from "./i18n.js";

const PURPOSES = ["public_procurement", "administrative_approval", "financing",
  "supervision", "joint_punishment"];

// The purposes, in the page's language, keeping the one chosen.
export function renderForm() {
  const chosen = document.getElementById("r-purpose").value;
  fill("r-purpose", PURPOSES.map((p) => h("option", { value: p }, t(`purposes.${p}`))));
  if (chosen) document.getElementById("r-purpose").value = chosen;
}

function download(id, text, type) {
  const link = document.getElementById(id);
  if (link.href) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([text], { type }));
}

function describe(s) {
  return t("reports.summary", {
    kind: t(`reports.kinds.${s.kind}`), issuer: regionName(s.issuer),
    until: s.valid_until, index: s.log_index,
    sections: s.sections.length === 0 ? t("reports.nothingHeld")
      : s.sections.map((x) => `${x.category} (${x.items})`).join("、"),
  });
}

export async function issue() {
  const body = {
    subject: document.getElementById("r-subject").value.trim(),
    kind: document.getElementById("r-kind").value,
    purpose: document.getElementById("r-purpose").value,
  };
  const issued = await api.post("/console/api/reports", body);
  download("r-file", issued.file, "text/plain");
  download("r-page", issued.html, "text/html");
  document.getElementById("r-issued-summary").textContent = describe(issued.summary);
  document.getElementById("r-issued").hidden = false;
  return issued;
}

export async function verify() {
  const file = document.getElementById("r-upload").files[0];
  const verdict = await api.post("/console/api/reports/verify", { file: await file.text() });
  const out = document.getElementById("r-verdict");
  if (!verdict.verified) {
    out.textContent = t("reports.refused", { reason: verdict.refused });
    fill("r-verified", []);
    return verdict;
  }
  out.textContent = verdict.accepted
    ? t("reports.accepted", { agreement: verdict.accepted })
    : t("reports.notAccepted", { reason: verdict.not_accepted });
  fill("r-verified", [
    h("dt", {}, t("reports.verified")), h("dd", {}, describe(verdict.summary)),
  ]);
  return verdict;
}
