// Bar charts as SVG, drawn here (no library, nothing from outside): a
// labelled x axis of days, a y axis with round ticks, and the unit named.

const NS = "http://www.w3.org/2000/svg";

function el(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// A tick step of 1, 2 or 5 × 10^n giving at most `count` ticks up to `max`.
function step(max, count) {
  const raw = Math.max(max, 1) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return Math.max(1, m * power);
  return power * 10;
}

// bars({labels, values, unit, title, highlight}) → <svg>. `highlight[i]`
// draws bar i in the alert colour.
export function bars({ labels, values, unit, title, highlight = [] }) {
  const width = 640, height = 240;
  const left = 56, right = 12, top = 16, bottom = 48;
  const plotW = width - left - right, plotH = height - top - bottom;
  const max = Math.max(0, ...values);
  const s = step(max, 5);
  const top_ = Math.max(s, Math.ceil(max / s) * s);
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": title,
    class: "chart",
  });
  svg.append(el("title", {}, title));
  for (let v = 0; v <= top_; v += s) {
    const y = top + plotH - (v / top_) * plotH;
    svg.append(el("line", { x1: left, x2: width - right, y1: y, y2: y, class: "grid" }));
    svg.append(el("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "tick" }, v));
  }
  svg.append(el("line", { x1: left, x2: left, y1: top, y2: top + plotH, class: "axis" }));
  svg.append(el("line", {
    x1: left, x2: width - right, y1: top + plotH, y2: top + plotH, class: "axis",
  }));
  svg.append(el("text", {
    x: 12, y: top + plotH / 2, transform: `rotate(-90 12 ${top + plotH / 2})`,
    "text-anchor": "middle", class: "unit",
  }, unit));
  const w = plotW / Math.max(values.length, 1);
  values.forEach((v, i) => {
    const h = (v / top_) * plotH;
    const bar = el("rect", {
      x: left + i * w + w * 0.15, y: top + plotH - h, width: w * 0.7, height: h,
      class: highlight[i] ? "bar alert" : "bar",
    });
    bar.append(el("title", {}, `${labels[i]}: ${v} ${unit}`));
    svg.append(bar);
    if (i % 5 === 0 || i === values.length - 1) {
      svg.append(el("text", {
        x: left + i * w + w / 2, y: top + plotH + 16, "text-anchor": "middle", class: "tick",
      }, labels[i].slice(5)));
    }
  });
  return svg;
}

// Horizontal bars for counts by name: hbars({labels, values, unit, title}).
// A count axis along the bottom with round ticks and the unit.
export function hbars({ labels, values, unit, title }) {
  const rows = Math.max(values.length, 1);
  const left = 220, right = 40, top = 8, bottom = 36, rowH = 22;
  const width = 640, height = top + rows * rowH + bottom;
  const plotW = width - left - right, plotH = rows * rowH;
  const max = Math.max(0, ...values);
  const s = step(max, 5);
  const end = Math.max(s, Math.ceil(max / s) * s);
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": title,
    class: "chart",
  });
  svg.append(el("title", {}, title));
  for (let v = 0; v <= end; v += s) {
    const x = left + (v / end) * plotW;
    svg.append(el("line", { x1: x, x2: x, y1: top, y2: top + plotH, class: "grid" }));
    svg.append(el("text", { x, y: top + plotH + 14, "text-anchor": "middle", class: "tick" }, v));
  }
  svg.append(el("line", { x1: left, x2: left, y1: top, y2: top + plotH, class: "axis" }));
  svg.append(el("line", {
    x1: left, x2: width - right, y1: top + plotH, y2: top + plotH, class: "axis",
  }));
  svg.append(el("text", {
    x: left + plotW / 2, y: height - 4, "text-anchor": "middle", class: "unit",
  }, unit));
  values.forEach((v, i) => {
    const y = top + i * rowH;
    const label = labels[i].length > 34 ? `…${labels[i].slice(-33)}` : labels[i];
    svg.append(el("text", { x: left - 6, y: y + rowH * 0.68, "text-anchor": "end", class: "tick" }, label));
    const bar = el("rect", {
      x: left, y: y + rowH * 0.15, width: (v / end) * plotW, height: rowH * 0.7, class: "bar",
    });
    bar.append(el("title", {}, `${labels[i]}: ${v} ${unit}`));
    svg.append(bar);
  });
  return svg;
}
