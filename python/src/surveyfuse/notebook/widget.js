// surveyfuse diagnostics widget: pick a block variable and a predictor, see donor vs
// imputed distributions and the imputed variable by bins of the predictor, over the draws.
// An anywidget ES module (render({model, el})); the standalone page gives it a small
// stand-in model. No dependencies, no network: plain SVG.
const NS = "http://www.w3.org/2000/svg";
const COLOURS = { donor: "#7f7f7f", imputed: "#1f77b4", band: "#1f77b433" };

function node(tag, attrs, parent) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function text(parent, x, y, s, attrs) {
  const t = node("text", { x, y, "font-size": 11, fill: "#222", ...(attrs || {}) }, parent);
  t.textContent = s;
  return t;
}

function short(v) {
  const a = Math.abs(v);
  for (const [cut, suf] of [[1e9, "B"], [1e6, "M"], [1e3, "k"]]) {
    if (a >= cut) {
      const x = v / cut;
      return (Math.abs(x) >= 10 ? x.toFixed(0) : x.toFixed(1).replace(/\.0$/, "")) + suf;
    }
  }
  if (a >= 10 || Number.isInteger(v)) return v.toFixed(0);
  return v.toPrecision(2);
}

function niceTicks(lo, hi, n) {
  if (!(hi > lo)) return [lo];
  const step0 = (hi - lo) / n;
  const mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) || step0;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push(v);
  return out;
}

function asinhTicks(lo, hi) {
  const vals = [0];
  for (let e = 0; e < 10; e++) vals.push(Math.pow(10, e), -Math.pow(10, e));
  let t = vals.filter((v) => Math.asinh(v) >= lo && Math.asinh(v) <= hi).sort((a, b) => a - b);
  if (t.length > 7) t = t.filter((v) => v === 0 || Math.round(Math.log10(Math.abs(v))) % 2 === 0);
  return t.map((v) => [Math.asinh(v), short(v)]);
}

// a panel: an SVG with a viewBox, so it scales to its container's width
function panel(parent, title, xlabel, ylabel) {
  const W = 460, H = 300, m = { l: 56, r: 12, t: 26, b: 58 };
  const svg = node("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": title }, parent);
  svg.style.maxWidth = W + "px";
  svg.style.display = "block";
  text(svg, m.l, 16, title, { "font-size": 13, "font-weight": 600 });
  text(svg, m.l + (W - m.l - m.r) / 2, H - 8, xlabel, { "text-anchor": "middle" });
  const yl = text(svg, 14, m.t + (H - m.t - m.b) / 2, ylabel, { "text-anchor": "middle" });
  yl.setAttribute("transform", `rotate(-90 14 ${m.t + (H - m.t - m.b) / 2})`);
  return { svg, W, H, m, iw: W - m.l - m.r, ih: H - m.t - m.b };
}

function axes(p, xticks, yticks, sx, sy) {
  const g = node("g", {}, p.svg);
  node("line", { x1: p.m.l, x2: p.m.l + p.iw, y1: p.m.t + p.ih, y2: p.m.t + p.ih, stroke: "#444" }, g);
  node("line", { x1: p.m.l, x2: p.m.l, y1: p.m.t, y2: p.m.t + p.ih, stroke: "#444" }, g);
  for (const [v, lab, rot] of xticks) {
    const x = sx(v);
    node("line", { x1: x, x2: x, y1: p.m.t + p.ih, y2: p.m.t + p.ih + 4, stroke: "#444" }, g);
    const t = text(g, x, p.m.t + p.ih + 16, lab, { "text-anchor": rot ? "end" : "middle", "font-size": 10 });
    if (rot) t.setAttribute("transform", `rotate(-30 ${x} ${p.m.t + p.ih + 16})`);
  }
  for (const v of yticks) {
    const y = sy(v);
    node("line", { x1: p.m.l - 4, x2: p.m.l, y1: y, y2: y, stroke: "#444" }, g);
    text(g, p.m.l - 6, y + 3.5, short(v), { "text-anchor": "end", "font-size": 10 });
  }
}

function legend(p, items) {
  let x = p.m.l + 8;
  const y = p.m.t + 8;
  for (const [label, colour, dashed] of items) {
    node("line", { x1: x, x2: x + 18, y1: y, y2: y, stroke: colour, "stroke-width": 2.5, ...(dashed ? { "stroke-dasharray": "4 3" } : {}) }, p.svg);
    const t = text(p.svg, x + 22, y + 4, label, { "font-size": 10.5 });
    x += 30 + label.length * 6;
  }
}

function path(points) {
  return points.filter((p) => p[1] !== null && isFinite(p[1])).map((p, i) => `${i ? "L" : "M"}${p[0].toFixed(1)},${p[1].toFixed(1)}`).join("");
}

function summarise(rows) {
  // rows: draws x k (null allowed) -> {mean, lo, hi} over draws per column
  const k = rows[0].length, mean = [], lo = [], hi = [];
  for (let j = 0; j < k; j++) {
    const v = rows.map((r) => r[j]).filter((x) => x !== null && isFinite(x));
    if (!v.length) { mean.push(null); lo.push(null); hi.push(null); continue; }
    mean.push(v.reduce((a, b) => a + b, 0) / v.length);
    lo.push(Math.min(...v));
    hi.push(Math.max(...v));
  }
  return { mean, lo, hi };
}

function pick(rows, draw) {
  return draw > 0 ? { mean: rows[draw - 1], lo: rows[draw - 1], hi: rows[draw - 1] } : summarise(rows);
}

function distribution(parent, v, draw) {
  const drawLabel = draw > 0 ? `draw ${draw}` : "imputed (line: mean, band: range over draws)";
  if (v.kind === "discrete") {
    const p = panel(parent, `${v.name}: share of each value`, v.name, "share, %");
    const s = pick(v.imputed, draw);
    const L = v.levels.length, top = Math.max(...v.donor, ...s.hi) * 100 * 1.15 || 1;
    const sy = (y) => p.m.t + p.ih - (y / top) * p.ih;
    const bw = p.iw / L;
    axes(p, v.levels.map((l, i) => [i, String(l)]), niceTicks(0, top, 4), (i) => p.m.l + bw * (i + 0.5), sy);
    v.levels.forEach((l, i) => {
      const x0 = p.m.l + bw * i;
      node("rect", { x: x0 + bw * 0.1, width: bw * 0.38, y: sy(v.donor[i] * 100), height: p.m.t + p.ih - sy(v.donor[i] * 100), fill: COLOURS.donor }, p.svg);
      node("rect", { x: x0 + bw * 0.52, width: bw * 0.38, y: sy(s.mean[i] * 100), height: p.m.t + p.ih - sy(s.mean[i] * 100), fill: COLOURS.imputed, class: "sf-imputed" }, p.svg);
      if (draw === 0) node("line", { x1: x0 + bw * 0.71, x2: x0 + bw * 0.71, y1: sy(s.lo[i] * 100), y2: sy(s.hi[i] * 100), stroke: "#000", "stroke-width": 1.5 }, p.svg);
    });
    legend(p, [["donor", COLOURS.donor], [draw > 0 ? `draw ${draw}` : "imputed (bar: range over draws)", COLOURS.imputed]]);
    return;
  }
  const p = panel(parent, `${v.name}: ${v.zero_donor > 0.001 ? "non-zero values" : "distribution"}`,
    `${v.name}${v.axis === "asinh" ? " (asinh scale)" : ""}`, "density");
  const s = pick(v.imputed, draw);
  const x = v.x, lo = x[0], hi = x[x.length - 1];
  const top = Math.max(...v.donor, ...s.hi) * 1.1 || 1;
  const sx = (t) => p.m.l + ((t - lo) / (hi - lo)) * p.iw;
  const sy = (y) => p.m.t + p.ih - (y / top) * p.ih;
  const xt = v.axis === "asinh" ? asinhTicks(lo, hi) : niceTicks(lo, hi, 5).map((t) => [t, short(t)]);
  axes(p, xt, [], sx, sy);
  if (draw === 0) {
    const band = x.map((t, i) => [sx(t), sy(s.hi[i])]).concat(x.map((t, i) => [sx(t), sy(s.lo[i])]).reverse());
    node("path", { d: path(band) + "Z", fill: COLOURS.band, stroke: "none" }, p.svg);
  }
  node("path", { d: path(x.map((t, i) => [sx(t), sy(v.donor[i])])), fill: "none", stroke: COLOURS.donor, "stroke-width": 2.2, "stroke-dasharray": "5 3" }, p.svg);
  node("path", { d: path(x.map((t, i) => [sx(t), sy(s.mean[i])])), fill: "none", stroke: COLOURS.imputed, "stroke-width": 2, class: "sf-imputed" }, p.svg);
  const zi = draw > 0 ? v.zero_imputed[draw - 1] : v.zero_imputed.reduce((a, b) => a + b, 0) / v.zero_imputed.length;
  legend(p, [[`donor (zeros ${(100 * v.zero_donor).toFixed(0)}%)`, COLOURS.donor, true], [`${draw > 0 ? "draw " + draw : "imputed"} (zeros ${(100 * zi).toFixed(0)}%)`, COLOURS.imputed]]);
}

function conditional(parent, v, c, draw) {
  const what = v.kind === "discrete" ? `share ${v.name}=${v.top_level}` : `mean ${v.name}`;
  const p = panel(parent, `${what} by ${c.predictor}`, `${c.predictor} (bins)`, what);
  const s = pick(c.imputed, draw);
  const vals = [...c.donor, ...s.lo, ...s.hi].filter((x) => x !== null && isFinite(x));
  let lo = Math.min(0, ...vals), hi = Math.max(...vals) * 1.12;
  if (!(hi > lo)) hi = lo + 1;
  const B = c.labels.length, bw = p.iw / B;
  const sx = (i) => p.m.l + bw * (i + 0.5);
  const sy = (y) => p.m.t + p.ih - ((y - lo) / (hi - lo)) * p.ih;
  axes(p, c.labels.map((l, i) => [i, l, B > 4]), niceTicks(lo, hi, 4), sx, sy);
  node("path", { d: path(c.donor.map((y, i) => [sx(i) - 4, y === null ? null : sy(y)])), fill: "none", stroke: COLOURS.donor, "stroke-width": 2.2, "stroke-dasharray": "5 3" }, p.svg);
  node("path", { d: path(s.mean.map((y, i) => [sx(i) + 4, y === null ? null : sy(y)])), fill: "none", stroke: COLOURS.imputed, "stroke-width": 2, class: "sf-imputed" }, p.svg);
  s.mean.forEach((y, i) => {
    if (y === null) return;
    if (draw === 0) node("line", { x1: sx(i) + 4, x2: sx(i) + 4, y1: sy(s.lo[i]), y2: sy(s.hi[i]), stroke: COLOURS.imputed, "stroke-width": 1.3 }, p.svg);
    node("circle", { cx: sx(i) + 4, cy: sy(y), r: 3.5, fill: COLOURS.imputed }, p.svg);
    if (c.donor[i] !== null) node("circle", { cx: sx(i) - 4, cy: sy(c.donor[i]), r: 3.5, fill: COLOURS.donor }, p.svg);
  });
  legend(p, [["donor", COLOURS.donor, true], [draw > 0 ? `draw ${draw}` : "imputed (bar: range over draws)", COLOURS.imputed]]);
}

function select(parent, label, options, value, onchange) {
  const wrap = document.createElement("label");
  wrap.style.cssText = "display:inline-flex;flex-direction:column;font-size:12px;gap:2px;min-width:0;max-width:100%";
  wrap.appendChild(document.createTextNode(label));
  const s = document.createElement("select");
  s.style.cssText = "font-size:13px;padding:2px;max-width:100%";
  for (const [v, t] of options) {
    const o = document.createElement("option");
    o.value = v;
    o.textContent = t;
    s.appendChild(o);
  }
  s.value = String(value);
  s.addEventListener("change", () => onchange(s.value));
  wrap.appendChild(s);
  parent.appendChild(wrap);
  return s;
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "sf-diagnostics";
  root.style.cssText = "font-family:system-ui,'DejaVu Sans',sans-serif;max-width:100%;box-sizing:border-box";
  el.appendChild(root);
  function draw() {
    const data = model.get("data");
    const names = Object.keys(data.variables);
    let variable = model.get("variable");
    if (!data.variables[variable]) variable = names[0];
    let predictor = model.get("predictor");
    if (!data.predictors.includes(predictor)) predictor = data.predictors[0];
    const d = Math.max(0, Math.min(model.get("draw") | 0, data.draws));
    root.replaceChildren();
    const controls = document.createElement("div");
    controls.style.cssText = "display:flex;flex-wrap:wrap;gap:10px;margin:4px 0 8px";
    const set = (k, v) => { model.set(k, v); model.save_changes(); };
    select(controls, "block variable", names.map((n) => [n, n]), variable, (v) => set("variable", v));
    select(controls, "predictor", data.predictors.map((n) => [n, n]), predictor, (v) => set("predictor", v));
    const draws = [[0, `all ${data.draws} draws`]];
    for (let i = 1; i <= data.draws; i++) draws.push([i, `draw ${i}`]);
    select(controls, "draws", draws, d, (v) => set("draw", parseInt(v, 10)));
    root.appendChild(controls);
    const grid = document.createElement("div");
    grid.style.cssText = "display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,340px),1fr));gap:10px";
    root.appendChild(grid);
    const v = data.variables[variable];
    const left = document.createElement("div"), right = document.createElement("div");
    left.className = "sf-distribution";
    right.className = "sf-conditional";
    grid.append(left, right);
    distribution(left, v, d);
    conditional(right, v, v.by[predictor], d);
    const note = document.createElement("p");
    note.style.cssText = "font-size:12px;color:#555;margin:6px 0 0";
    note.textContent = `${data.recipient_rows.toLocaleString()} recipient rows x ${data.draws} draws against ${data.donor_rows.toLocaleString()} donor rows` +
      (data.weights ? `, weighted by ${data.weights}` : "") + ". Bins are weighted quintiles of the donor's predictor (or its own values).";
    root.appendChild(note);
  }
  for (const k of ["data", "variable", "predictor", "draw"]) model.on(`change:${k}`, draw);
  draw();
}

export default { render };
