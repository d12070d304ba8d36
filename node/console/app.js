// credex console: the page's text in the chosen language. No inline script
// anywhere (the Content-Security-Policy forbids it); every string comes from
// /console/i18n/<lang>.json.
const LANGUAGES = ["zh-CN", "en"];

async function load(lang) {
  const response = await fetch(`/console/i18n/${lang}.json`);
  if (!response.ok) throw new Error(`i18n ${lang}: ${response.status}`);
  return response.json();
}

function lookup(table, key) {
  return key.split(".").reduce((t, k) => (t == null ? undefined : t[k]), table);
}

async function apply(lang) {
  const table = await load(lang);
  document.documentElement.lang = lang;
  for (const element of document.querySelectorAll("[data-i18n]")) {
    const text = lookup(table, element.dataset.i18n);
    if (typeof text === "string") element.textContent = text;
  }
  localStorage.setItem("credex.lang", lang);
}

document.addEventListener("DOMContentLoaded", () => {
  const select = document.getElementById("language");
  const saved = localStorage.getItem("credex.lang");
  const lang = LANGUAGES.includes(saved) ? saved : "zh-CN";
  select.value = lang;
  select.addEventListener("change", () => apply(select.value));
  apply(lang);
});
