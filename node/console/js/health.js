// Federation health: this node, its peers, the CRLs, the upward channel
// over the last 30 days as charts, and the alerts to act on.

import * as api from "./api.js";
import { bars } from "./chart.js";
import { facts, fill, h } from "./dom.js";
import { regionName as region, t } from "./i18n.js";

const when = (ms) => (ms ? new Date(ms).toLocaleString(document.documentElement.lang) : t("health.never"));

export async function render() {
  const health = await api.get("/console/api/health");
  fill("h-alerts", health.alerts.length === 0
    ? h("li", { class: "ok" }, t("health.noAlerts"))
    : health.alerts.map((a) => h("li", { class: "alert", "data-alert": a.kind },
      t(`health.alerts.${a.kind}`, { about: a.about, at: when(a.at_ms), count: a.count }))));
  fill("h-node", facts([
    [t("health.node"), `${health.node.region}/${health.node.name}`],
    [t("health.certificateEnds"), when(health.node.certificate_not_after_ms)],
    [t("health.logSize"), health.node.log_size],
  ]));
  fill("h-peers", health.peers.map((p) => h("tr", { "data-peer": p.region },
    h("td", {}, region(p.region)), h("td", {}, p.name), h("td", {}, p.addr),
    h("td", {}, when(p.last_seen_ms)),
    h("td", { class: "cert-end" }, p.certificate_not_after_ms ? when(p.certificate_not_after_ms) : ""),
    h("td", {}, p.outbox),
    h("td", {}, p.oldest_waiting_ms ? when(p.oldest_waiting_ms) : ""),
    h("td", {}, p.last_error || ""))));
  fill("h-crls", health.crls.map((c) => h("tr", {},
    h("td", {}, c.issuer), h("td", {}, when(c.this_update_ms)), h("td", {}, when(c.next_update_ms)))));
  const labels = health.upward.map((d) => d.day);
  fill("h-chart-records", h("figcaption", {}, t("health.charts.records")), bars({
    labels, values: health.upward.map((d) => d.records),
    unit: t("health.units.records"), title: t("health.charts.records"),
  }));
  fill("h-chart-risk", h("figcaption", {}, t("health.charts.risk")), bars({
    labels, values: health.upward.map((d) => d.at_risk),
    unit: t("health.units.records"), title: t("health.charts.risk"),
    highlight: health.upward.map((d) => d.missed),
  }));
  return health;
}
