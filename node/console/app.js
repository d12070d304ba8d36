// credex console: the page shell — language, session, and which view is
// shown for the address (#/home, #/queries, #/queries/<id>). No inline
// script anywhere (the Content-Security-Policy forbids it); every string
// comes from /console/i18n/<lang>.json.

import * as audit from "./js/audit.js";
import * as health from "./js/health.js";
import * as i18n from "./js/i18n.js";
import * as queries from "./js/queries.js";
import * as reports from "./js/reports.js";
import * as session from "./js/session.js";
import * as subject from "./js/subject.js";

const state = { session: null };
const QUERY_ROLES = ["requester", "approver"];

function show(view) {
  for (const el of document.querySelectorAll("main > section")) {
    el.hidden = el.id !== `view-${view}`;
  }
  const heading = document.querySelector(`#view-${view} h2`);
  if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

function showError(error) {
  const el = document.getElementById("error");
  if (!error) {
    el.hidden = true;
    el.textContent = "";
    return;
  }
  // Our own errors carry an i18n key; the node's carry its detail.
  const key = error.message || String(error);
  el.textContent = /^[a-zA-Z]+(\.[a-zA-Z]+)+$/.test(key) ? i18n.t(key) : key;
  el.hidden = false;
}

function renderHeader() {
  const s = state.session;
  document.getElementById("nav").hidden = !s;
  document.getElementById("sign-out").hidden = !s;
  document.getElementById("nav-queries").hidden = !(s && QUERY_ROLES.includes(s.role));
  document.getElementById("nav-audit").hidden = !(s && s.role === "auditor");
  document.getElementById("officer").textContent = s
    ? i18n.t("officerBadge", { name: s.name, role: i18n.t(`roles.${s.role}`) })
    : "";
}

function renderHome() {
  const s = state.session;
  document.getElementById("home-officer").textContent = s.officer;
  document.getElementById("home-role").textContent = i18n.t(`roles.${s.role}`);
  document.getElementById("home-region").textContent = s.region;
  document.getElementById("home-expires").textContent = new Date(s.expires_ms).toLocaleString(
    document.documentElement.lang);
  show("home");
}

// While a shown query waits for a signature or an answer, look again every
// few seconds, so both officers see it move on without reloading.
let watching = null;
function watch(q) {
  clearTimeout(watching);
  if (!["awaiting_requester", "awaiting_approver", "sending"].includes(q.state)) return;
  const hash = location.hash;
  watching = setTimeout(async () => {
    if (location.hash !== hash || !state.session) return;
    try {
      watch(await queries.renderQuery(q.id));
    } catch (e) {
      showError(e);
    }
  }, 3000);
}

// Show what the address names.
async function route() {
  renderHeader();
  if (!state.session) {
    show("sign-in");
    return;
  }
  const path = location.hash.replace(/^#/, "") || "/home";
  const query = path.match(/^\/queries\/([0-9a-f]{32})$/);
  try {
    if (query) {
      const q = await queries.renderQuery(query[1]);
      show("query");
      watch(q);
    } else if (path === "/queries" && QUERY_ROLES.includes(state.session.role)) {
      await queries.renderForm(state.session);
      await queries.renderLists();
      show("queries");
    } else if (path === "/health") {
      await health.render();
      show("health");
    } else if (path === "/subject") {
      subject.renderForm();
      show("subject");
    } else if (path === "/reports") {
      reports.renderForm();
      show("reports");
    } else if (path === "/audit" && state.session.role === "auditor") {
      show("audit");
    } else {
      renderHome();
    }
  } catch (e) {
    showError(e);
  }
}

async function run(action) {
  showError(null);
  try {
    await action();
  } catch (e) {
    showError(e);
  }
}

function wire() {
  document.getElementById("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(async () => {
      const cert = document.getElementById("certificate").files[0];
      const key = document.getElementById("key").files[0];
      state.session = await session.signIn(cert, key);
      await route();
    });
  });
  document.getElementById("sign-out").addEventListener("click", () => run(async () => {
    try {
      await session.signOut();
    } finally {
      state.session = null;
      location.hash = "#/home";
      await route();
    }
  }));
  document.getElementById("query-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(async () => {
      const id = await queries.draft();
      location.hash = `#/queries/${id}`;
    });
  });
  document.getElementById("q-category").addEventListener("change", queries.onCategoryChange);
  document.getElementById("approve").addEventListener("click", () => run(async () => {
    const id = location.hash.split("/").pop();
    await queries.approve(id);
  }));
  document.getElementById("subject-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(subject.lookUp);
  });
  document.getElementById("s-print").addEventListener("click", () => window.print());
  document.getElementById("s-gather").addEventListener("click", () => run(subject.gather));
  document.getElementById("report-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(reports.issue);
  });
  document.getElementById("verify-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(reports.verify);
  });
  document.getElementById("audit-start").addEventListener("click", () => run(audit.verify));
  document.getElementById("audit-own").addEventListener("click", () => run(audit.verifyOwn));
  window.addEventListener("hashchange", () => run(route));
}

document.addEventListener("DOMContentLoaded", async () => {
  const select = document.getElementById("language");
  select.value = i18n.saved();
  select.addEventListener("change", () => run(async () => {
    await i18n.use(select.value);
    await route();
  }));
  wire();
  await i18n.use(select.value);
  await run(async () => {
    state.session = await session.current();
  });
  await route();
  document.body.dataset.ready = "true";
});
