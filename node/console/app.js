// credex console: the page shell — language, session, and which view is
// shown. No inline script anywhere (the Content-Security-Policy forbids
// it); every string comes from /console/i18n/<lang>.json.

import * as i18n from "./js/i18n.js";
import * as session from "./js/session.js";

const state = { session: null };

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

export function showError(error) {
  const el = document.getElementById("error");
  if (!error) {
    el.hidden = true;
    el.textContent = "";
    return;
  }
  // Our own errors carry an i18n key; the node's carry its detail.
  const key = error.message || String(error);
  el.textContent = key.includes(".") && !key.includes(" ") ? i18n.t(key) : key;
  el.hidden = false;
}

function renderSession() {
  const s = state.session;
  document.getElementById("nav").hidden = !s;
  document.getElementById("sign-out").hidden = !s;
  document.getElementById("officer").textContent = s
    ? i18n.t("officerBadge", { name: s.name, role: i18n.t(`roles.${s.role}`) })
    : "";
  if (!s) {
    show("sign-in");
    return;
  }
  document.getElementById("home-officer").textContent = s.officer;
  document.getElementById("home-role").textContent = i18n.t(`roles.${s.role}`);
  document.getElementById("home-region").textContent = s.region;
  document.getElementById("home-expires").textContent = new Date(s.expires_ms).toLocaleString(
    document.documentElement.lang);
  show("home");
}

async function onSignIn(event) {
  event.preventDefault();
  showError(null);
  const cert = document.getElementById("certificate").files[0];
  const key = document.getElementById("key").files[0];
  try {
    state.session = await session.signIn(cert, key);
    renderSession();
  } catch (e) {
    showError(e);
  }
}

async function onSignOut() {
  showError(null);
  try {
    await session.signOut();
  } catch (e) {
    showError(e);
  }
  state.session = null;
  renderSession();
}

document.addEventListener("DOMContentLoaded", async () => {
  const select = document.getElementById("language");
  select.value = i18n.saved();
  select.addEventListener("change", async () => {
    await i18n.use(select.value);
    renderSession();
  });
  document.getElementById("sign-in-form").addEventListener("submit", onSignIn);
  document.getElementById("sign-out").addEventListener("click", onSignOut);
  await i18n.use(select.value);
  try {
    state.session = await session.current();
  } catch (e) {
    showError(e);
  }
  renderSession();
  document.body.dataset.ready = "true";
});
