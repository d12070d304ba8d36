// Building the page from data without ever parsing it as HTML: every value
// goes in as text, so nothing a record or a peer says can become markup.

// h("td", {class: "x"}, "text", childNode, …)
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Replace the children of the element `id`.
export function fill(id, ...children) {
  const el = document.getElementById(id);
  el.replaceChildren(...children.flat().filter((c) => c !== undefined && c !== null));
  return el;
}

// A <dl> body from [label, value] pairs (value omitted when empty).
export function facts(pairs) {
  return pairs
    .filter(([, value]) => value !== undefined && value !== null && value !== "")
    .flatMap(([label, value]) => [h("dt", {}, label), h("dd", {}, value)]);
}
