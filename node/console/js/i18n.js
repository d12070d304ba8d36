// The page's text in the chosen language: every string comes from
// /console/i18n/<lang>.json, by key (no text in the scripts).

export const LANGUAGES = ["zh-CN", "en"];
let table = {};

function lookup(key) {
  return key.split(".").reduce((t, k) => (t == null ? undefined : t[k]), table);
}

// The text for `key`, with {name} placeholders filled from `values`.
export function t(key, values = {}) {
  const text = lookup(key);
  if (typeof text !== "string") return key;
  return text.replace(/\{(\w+)\}/g, (_, k) => (k in values ? String(values[k]) : `{${k}}`));
}

// A region's name and code, e.g. "广东省 (440000)"; the code alone when
// the table has no name for it.
export function regionName(code) {
  const name = t(`regions.${code}`);
  return name === `regions.${code}` ? code : `${name} (${code})`;
}

// A purpose's name, e.g. "政府采购与招投标"; the code when unknown.
export function purposeName(code) {
  const name = t(`purposes.${code}`);
  return name === `purposes.${code}` ? code : name;
}

// Fill every [data-i18n] element under `root`.
export function translate(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
}

export async function use(lang) {
  const response = await fetch(`/console/i18n/${lang}.json`);
  if (!response.ok) throw new Error(`i18n ${lang}: ${response.status}`);
  table = await response.json();
  document.documentElement.lang = lang;
  localStorage.setItem("credex.lang", lang);
  translate();
}

export function saved() {
  const lang = localStorage.getItem("credex.lang");
  return LANGUAGES.includes(lang) ? lang : "zh-CN";
}
