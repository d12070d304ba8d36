// Two-person cross-region queries: a requester drafts and signs, another
// officer with the approver role reviews, signs and sends; both see the
// answer, what was withheld, and the responder's log receipt.

import * as api from "./api.js";
import { facts, fill, h } from "./dom.js";
import { purposeName, regionName as region, t } from "./i18n.js";
import * as session from "./session.js";

let options = null;

const lang = () => (document.documentElement.lang === "en" ? "en" : "zh");
const named = (item) => (lang() === "en" ? item.name_en : item.name_zh);
const stateText = (s) => t(`queries.states.${s}`);

async function loadOptions() {
  if (!options) options = await api.get("/console/api/query-options");
  return options;
}

function fieldBoxes() {
  const code = document.getElementById("q-category").value;
  const category = options.categories.find((c) => c.code === code);
  fill(
    "q-fields",
    h("legend", {}, t("queries.form.fields")),
    (category ? category.fields : []).map((f) => {
      const id = `q-field-${f.code}`;
      return h("div", { class: "check" },
        h("input", { type: "checkbox", id, value: f.code, name: "field" }),
        h("label", { for: id }, `${named(f)} (${f.code})`));
    }),
  );
}

export async function renderForm(officer) {
  const form = document.getElementById("query-form");
  form.hidden = officer.role !== "requester";
  if (form.hidden) return;
  await loadOptions();
  fill("q-region", options.regions.map((r) => h("option", { value: r }, region(r))));
  fill("q-purpose", options.purposes.map((p) => h("option", { value: p.code }, named(p))));
  fill("q-category", options.categories.map((c) => h("option", { value: c.code }, named(c))));
  fieldBoxes();
}

function draftBody() {
  const value = (id) => document.getElementById(id).value.trim();
  const fields = [...document.querySelectorAll("#q-fields input:checked")].map((i) => i.value);
  if (fields.length === 0) throw new Error("queries.form.noFields");
  const body = {
    target_region: value("q-region"),
    subject: value("q-subject"),
    purpose: value("q-purpose"),
    requested: [{ category: value("q-category"), fields }],
    case_reference: value("q-case"),
  };
  if (value("q-basis")) body.legal_basis = value("q-basis");
  return body;
}

// Draft, then sign as the requester in this browser; the query's id.
export async function draft() {
  const drafted = await api.post("/console/api/queries", draftBody());
  const signature = await session.signature(drafted.to_sign);
  await api.post(`/console/api/queries/${drafted.id}/signatures`, signature);
  return drafted.id;
}

function row(q) {
  return h("tr", { "data-query": q.id },
    h("td", {}, h("a", { href: `#/queries/${q.id}` }, q.id.slice(0, 8))),
    h("td", {}, region(q.target_region)),
    h("td", {}, q.subject),
    h("td", {}, purposeName(q.purpose)),
    h("td", { class: `state state-${q.state}` }, stateText(q.state)),
    h("td", {}, q.requester ? q.requester.split(":").pop() : ""),
    h("td", {}, q.case_reference));
}

const COLUMNS = ["id", "region", "subject", "purpose", "state", "requester", "case"];

function table(id, queries) {
  fill(`${id}-head`, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col" }, t(`queries.columns.${c}`)))));
  fill(`${id}-rows`, queries.length === 0
    ? h("tr", {}, h("td", { colspan: COLUMNS.length }, t("queries.none")))
    : queries.map(row));
}

export async function renderLists() {
  const [queue, recent] = await Promise.all([
    api.get("/console/api/queries?state=awaiting_approver"),
    api.get("/console/api/queries"),
  ]);
  table("queue", queue);
  table("recent", recent.slice(0, 20));
}

function fieldList(list) {
  return list.length === 0 ? t("queries.answer.nothing")
    : list.map((c) => `${c.category}: ${c.fields.join(", ")}`).join("; ");
}

function renderAnswer(a) {
  const section = document.getElementById("answer");
  section.hidden = !a;
  if (!a) return;
  fill("answer-facts", facts([
    [t("queries.answer.outcome"), t(`queries.outcomes.${a.outcome}`)],
    [t("queries.answer.reason"), a.reason],
    [t("queries.answer.released"), fieldList(a.released)],
    [t("queries.answer.withheld"), fieldList(a.withheld)],
    [t("queries.answer.receipt"), a.receipt
      ? t("queries.answer.receiptText", a.receipt) : t("queries.answer.noReceipt")],
  ]));
  const columns = [...new Set(a.records.flatMap((r) => Object.keys(r)))];
  fill("records-head", h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c))));
  fill("records-rows", a.records.map((r) =>
    h("tr", {}, columns.map((c) => h("td", {}, r[c] === undefined ? "" : JSON.stringify(r[c]).replace(/^"|"$/g, ""))))));
}

export async function renderQuery(id, wait = 0) {
  const q = await api.get(`/console/api/queries/${id}${wait ? `?wait=${wait}` : ""}`);
  fill("query-facts", facts([
    [t("queries.columns.id"), q.id],
    [t("queries.columns.state"), stateText(q.state)],
    [t("queries.columns.region"), region(q.target_region)],
    [t("queries.columns.subject"), q.subject],
    [t("queries.columns.purpose"), purposeName(q.purpose)],
    [t("queries.columns.requested"), fieldList(q.requested)],
    [t("queries.columns.basis"), q.legal_basis],
    [t("queries.columns.case"), q.case_reference],
    [t("queries.columns.requester"), q.requester],
    [t("queries.columns.approver"), q.approver],
    [t("queries.columns.failure"), q.failure],
  ]));
  document.getElementById("query-state").textContent = stateText(q.state);
  const approving = q.state === "awaiting_approver";
  document.getElementById("approve").hidden = !(approving && q.can_sign);
  document.getElementById("query-self").hidden = !(approving && q.mine);
  const natural = q.subject.startsWith("natural person");
  document.getElementById("approve-person").hidden = !(approving && q.can_sign && natural);
  renderAnswer(q.answer);
  return q;
}

// Approve: sign the request and the requester's signature, then wait for
// the target region's answer.
export async function approve(id) {
  const q = await api.get(`/console/api/queries/${id}`);
  const signature = await session.signature(q.to_sign);
  const person = document.getElementById("approve-subject-id").value.trim();
  if (person) signature.subject_id = person;
  await api.post(`/console/api/queries/${id}/signatures`, signature);
  let shown = await renderQuery(id, 10);
  for (let i = 0; i < 3 && shown.state === "sending"; i++) shown = await renderQuery(id, 10);
  return shown;
}

export function onCategoryChange() {
  if (options) fieldBoxes();
}
