// The morning page: every panel reads one of the API's JSON routes and shows its numbers as they are.
// Numbers carry the raw value in data-value (the browser tests compare it with the JSON routes).
"use strict";

const REGIME_COLORS = { calm_bull: "#1a9850", neutral: "#91a4b8", high_vol_bear: "#d73027" };
const PALETTE = ["#4575b4", "#f46d43", "#66bd63", "#9e65c8", "#fdae61", "#3fb8c4", "#b8860b", "#8c510a"];
const $ = (id) => document.getElementById(id);

function regimeColor(name, i) {
  return REGIME_COLORS[name] || PALETTE[i % PALETTE.length];
}

function fmt(x, digits) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  return Number(x).toFixed(digits);
}

function pct(x, digits = 1) {
  return x === null || x === undefined ? "–" : (100 * x).toFixed(digits) + "%";
}

// Put a formatted number into an element and keep its raw value beside it.
function setNum(el, value, text) {
  el.textContent = text;
  el.dataset.value = value === null || value === undefined ? "" : String(value);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "style") node.style.cssText = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function numCell(value, text, field) {
  const td = el("td", { class: "num" });
  setNum(td, value, text);
  if (field) td.dataset.field = field;
  return td;
}

function kv(list, label, value, text, field) {
  const dd = el("dd");
  setNum(dd, value, text);
  if (field) dd.dataset.field = field;
  list.append(el("dt", {}, label), dd);
}

function emptyNote(container, what) {
  container.append(el("div", { class: "empty" }, what));
}

async function getJSON(path) {
  const r = await fetch(path, { headers: { accept: "application/json" } });
  if (r.status === 404 || r.status === 503) return null;  // not published yet: the panel says so
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}

const charts = {};
function chart(id, config) {
  if (charts[id]) charts[id].destroy();
  config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
  charts[id] = new Chart($(id), config);
  return charts[id];
}

function renderHeader(kpis) {
  const f = (kpis && kpis.panels.freshness) || {};
  $("as-of").textContent = f.signals_last_date || f.bars_last_date || "–";
  $("published").textContent = f.snapshot_published_at || "–";
}

function renderRegime(summary) {
  if (!summary) { $("regime-label").textContent = "no regime yet"; return; }
  const r = summary.regime;
  const names = Object.keys(r.probabilities || {});
  const label = $("regime-label");
  label.textContent = r.regime;
  label.style.color = regimeColor(r.regime, names.indexOf(r.regime));
  setNum($("regime-duration"), summary.duration_sessions, String(summary.duration_sessions));
  $("regime-since").textContent = summary.since;
  const probs = $("regime-probs");
  probs.replaceChildren();
  names.forEach((name, i) => {
    const p = r.probabilities[name];
    const num = el("span", { class: "num", "data-field": "probability", "data-regime": name });
    setNum(num, p, fmt(p, 3));
    probs.append(el("div", { class: "bar" }, el("span", { class: "name" }, name),
      el("div", { class: "track" }, el("div", { class: "fill", style: `width:${100 * p}%;background:${regimeColor(name, i)}` })),
      num));
  });
  const strip = $("regime-strip");
  strip.replaceChildren(...summary.history.map((h) =>
    el("div", { title: `${h.date}: ${h.regime}`, style: `background:${regimeColor(h.regime, names.indexOf(h.regime))}` })));
  $("strip-count").textContent = summary.history.length;
  $("regime-legend").replaceChildren(...names.map((n, i) =>
    el("span", {}, el("i", { style: `background:${regimeColor(n, i)}` }), n)));
}

function renderMonitoring(rows) {
  const body = $("monitoring-rows");
  body.replaceChildren();
  if (!rows || !rows.length) { body.append(el("tr", {}, el("td", { colSpan: 5, class: "empty" }, "monitoring has not run yet"))); return; }
  for (const m of rows) {
    const link = m.html_path ? el("a", { href: `/dashboard/reports/${encodeURIComponent(m.model)}`, target: "_blank" }, "Evidently report") : "";
    body.append(el("tr", { "data-model": m.model },
      el("td", {}, `${m.model} v${m.version}`),
      el("td", {}, el("span", { class: `badge ${m.status}`, "data-field": "status" }, m.status)),
      el("td", {}, m.date || "–"),
      el("td", { class: "reasons" }, m.reasons || (m.status === "OK" ? "all checks within their thresholds" : "")),
      el("td", {}, link)));
  }
}

function renderOps(kpis) {
  const list = $("ops-list");
  list.replaceChildren();
  const f = kpis.panels.freshness || {};
  kv(list, "bars up to", f.bars_last_date, f.bars_last_date || "–", "bars_last_date");
  kv(list, "signals up to", f.signals_last_date, f.signals_last_date || "–", "signals_last_date");
  const p = kpis.panels.pipeline;
  if (p) {
    kv(list, "nightly run", p.status, `${p.status} (${p.as_of || "–"})`, "pipeline_status");
    kv(list, "finished at", p.finished_at, p.finished_at || "–");
  }
  const s = kpis.panels.signals;
  if (s) kv(list, "signal model", s.model_version, `v${s.model_version}, ${s.symbols} symbols`, "signal_model_version");
  const leading = kpis.panels.leading_indicators;
  const ll = $("leading-list");
  ll.replaceChildren();
  if (!leading || !Object.keys(leading).length) { emptyNote(ll, "none published yet"); return; }
  for (const [name, v] of Object.entries(leading)) {
    if (v !== null && typeof v === "object") {
      const text = `${v.value ?? "–"}${v.unit ? " " + v.unit : ""}${v.target !== undefined ? ` (target ${v.target})` : ""}`;
      const dd = el("dd", { "data-field": name }, text, v.status ? el("span", { class: `badge ${v.status}` }, v.status) : "");
      dd.dataset.value = String(v.value ?? "");
      ll.append(el("dt", {}, name), dd);
    } else {
      kv(ll, name, v, String(v), name);
    }
  }
}

function renderSkill(skill) {
  if (!skill || !skill.months.length) { $("skill-auc").textContent = "no matured signals yet"; return; }
  const last = skill.months[skill.months.length - 1];
  setNum($("skill-auc"), last.auc, fmt(last.auc, 3));
  setNum($("skill-ic"), last.ic, fmt(last.ic, 3));
  setNum($("skill-ece"), skill.ece, fmt(skill.ece, 3));
  chart("chart-skill", {
    type: "line",
    data: {
      labels: skill.months.map((m) => m.month),
      datasets: [
        { label: "AUC", data: skill.months.map((m) => m.auc), borderColor: PALETTE[0], yAxisID: "y" },
        { label: "rank IC", data: skill.months.map((m) => m.ic), borderColor: PALETTE[1], yAxisID: "y1" },
      ],
    },
    options: { plugins: { title: { display: true, text: `AUC / IC by month (H=${skill.horizon})` } },
      scales: { y: { position: "left", title: { display: true, text: "AUC" } },
        y1: { position: "right", grid: { drawOnChartArea: false }, title: { display: true, text: "IC" } } } },
  });
  chart("chart-reliability", {
    type: "scatter",
    data: { datasets: [
      { label: "observed", data: skill.reliability.map((b) => ({ x: b.mean_probability, y: b.observed_frequency })),
        backgroundColor: PALETTE[0], pointRadius: 4 },
      { label: "perfect", type: "line", data: [{ x: 0, y: 0 }, { x: 1, y: 1 }], borderColor: "#aaa",
        borderDash: [4, 4], pointRadius: 0 },
    ] },
    options: { plugins: { title: { display: true, text: `calibration ${skill.calibration_start} .. ${skill.calibration_end}` } },
      scales: { x: { min: 0, max: 1, title: { display: true, text: "predicted" } },
        y: { min: 0, max: 1, title: { display: true, text: "observed" } } } },
  });
}

function renderCoverage(kpis) {
  const cov = kpis.panels.forecast_coverage || {};
  const horizons = Object.keys(cov).sort((a, b) => Number(a) - Number(b));
  const body = $("coverage-rows");
  body.replaceChildren();
  if (!horizons.length) { body.append(el("tr", {}, el("td", { colSpan: 4, class: "empty" }, "no matured forecasts yet"))); return; }
  for (const h of horizons) {
    const c = cov[h];
    body.append(el("tr", { "data-horizon": h }, el("td", {}, `${h} d`), numCell(c.coverage, fmt(c.coverage, 3), "coverage"),
      numCell(c.pinball, fmt(c.pinball, 4), "pinball"), numCell(c.n, String(c.n), "n")));
  }
  chart("chart-coverage", {
    type: "bar",
    data: { labels: horizons.map((h) => `${h} d`), datasets: [
      { label: "coverage", data: horizons.map((h) => cov[h].coverage),
        backgroundColor: horizons.map((h) => (Math.abs(cov[h].coverage - 0.9) <= 0.05 ? "#66bd63" : "#f1a30b")) },
      { label: "target 0.90", type: "line", data: horizons.map(() => 0.9), borderColor: "#17212e", borderDash: [6, 3], pointRadius: 0 },
    ] },
    options: { scales: { y: { min: 0, max: 1 } } },
  });
}

function renderRisk(kpis) {
  const list = $("risk-list");
  list.replaceChildren();
  const fk = kpis.panels.forecast;
  const v = fk && fk.var;
  if (!v) { $("var-zone").textContent = "no VaR backtest yet"; } else {
    const zone = v.basel_zone || "–";
    $("var-zone").textContent = zone;
    $("var-light").className = `light ${zone}`;
    $("var-light").dataset.value = zone;
    setNum($("var-exceptions"), v.basel_exceptions, String(v.basel_exceptions));
    setNum($("var-window"), v.basel_window, String(v.basel_window));
    kv(list, "Kupiec p (99%)", v.var99.kupiec_p, fmt(v.var99.kupiec_p, 3), "kupiec_p");
    kv(list, "Christoffersen p (99%)", v.var99.cc_p, fmt(v.var99.cc_p, 3), "cc_p");
    kv(list, "realised max drawdown", v.realized_max_drawdown, pct(v.realized_max_drawdown), "realized_max_drawdown");
    kv(list, "its forecast percentile", v.max_drawdown_percentile,
      v.max_drawdown_percentile === null || v.max_drawdown_percentile === undefined ? "–" : `p${fmt(100 * v.max_drawdown_percentile, 0)}`,
      "max_drawdown_percentile");
  }
  const bt = kpis.panels.backtest;
  const bl = $("backtest-list");
  bl.replaceChildren();
  const ci = $("sharpe-ci");
  ci.replaceChildren();
  if (!bt) { emptyNote(bl, "no backtest stored yet"); return; }
  kv(bl, "Sharpe (net)", bt.sharpe, fmt(bt.sharpe, 2), "sharpe");
  kv(bl, "baseline Sharpe", bt.baseline_sharpe, fmt(bt.baseline_sharpe, 2), "baseline_sharpe");
  const [lo, hi] = bt.sharpe_delta_ci || [null, null];
  kv(bl, "delta", bt.sharpe_delta, `${fmt(bt.sharpe_delta, 2)} [${fmt(lo, 2)}, ${fmt(hi, 2)}]`, "sharpe_delta");
  if (lo !== null && hi !== null) {
    const span = Math.max(Math.abs(lo), Math.abs(hi), Math.abs(bt.sharpe_delta)) * 1.2 || 1;
    const x = (val) => `${50 + (50 * val) / span}%`;
    ci.append(el("div", { class: "band", style: `left:${x(lo)};width:calc(${x(hi)} - ${x(lo)})` }),
      el("div", { class: "zero", style: "left:50%" }), el("div", { class: "pt", style: `left:${x(bt.sharpe_delta)}` }));
    ci.title = "Sharpe delta and its confidence interval; the line is 0";
  }
}

function renderFan(fan) {
  if (!fan) { $("fan-model").textContent = "no forecast yet"; return; }
  const made = [...new Set(fan.forecasts.map((f) => `${f.model_name} v${f.model_version}${f.method ? ` · ${f.method}` : ""}`))];
  $("fan-model").textContent = `as of ${fan.as_of}, portfolio ${fan.portfolio}; made by ${made.join(", ")}`;
  const body = $("fan-rows");
  body.replaceChildren();
  for (const f of fan.forecasts) {
    body.append(el("tr", { "data-horizon": String(f.horizon_days) }, el("td", {}, `${f.horizon_days} d`), el("td", {}, f.target_date),
      numCell(f.p05, fmt(f.p05, 3), "p05"), numCell(f.p50, fmt(f.p50, 3), "p50"), numCell(f.p95, fmt(f.p95, 3), "p95"),
      el("td", { "data-field": "method" }, `${f.method || f.model_name} (v${f.model_version})`)));
  }
  // A linear time axis (ms since epoch) keeps the fan's horizons at their true distance from today.
  const t = (d) => Date.parse(`${d}T00:00:00Z`);
  const origin = { x: t(fan.as_of), y: fan.forecasts.length ? fan.forecasts[0].start_equity : null };
  const band = (key) => [origin, ...fan.forecasts.map((f) => ({ x: t(f.target_date), y: f[key] }))];
  chart("chart-fan", {
    type: "line",
    data: { datasets: [
      { label: "realised equity", data: fan.realised.map((p) => ({ x: t(p.date), y: p.equity })), borderColor: "#17212e", pointRadius: 0, borderWidth: 2 },
      { label: "p95", data: band("p95"), borderColor: "#7aa7e0", backgroundColor: "rgba(122,167,224,.25)", fill: "+2", pointRadius: 2 },
      { label: "p50", data: band("p50"), borderColor: "#2c6fbb", borderDash: [5, 3], pointRadius: 2 },
      { label: "p05", data: band("p05"), borderColor: "#7aa7e0", pointRadius: 2 },
    ] },
    options: { scales: { x: { type: "linear", ticks: { maxTicksLimit: 12,
      callback: (v) => new Date(v).toISOString().slice(0, 10) } } },
      plugins: { tooltip: { callbacks: { title: (items) => new Date(items[0].parsed.x).toISOString().slice(0, 10) } } } },
  });
}

function attributionBar(attribution) {
  const items = (attribution || []).filter((a) => a.contribution !== null);
  const total = items.reduce((s, a) => s + Math.abs(a.contribution), 0) || 1;
  const neg = el("div", { class: "neg" });
  const pos = el("div", { class: "pos" });
  for (const a of items) {
    const seg = el("div", { class: `seg ${a.contribution >= 0 ? "up" : "down"}`,
      style: `width:${(100 * Math.abs(a.contribution)) / total}%`,
      title: `${a.feature}: ${fmt(a.contribution, 3)} (value ${fmt(a.value, 3)})` });
    (a.contribution >= 0 ? pos : neg).append(seg);
  }
  return el("div", { class: "attr" }, neg, pos);
}

function renderSignals(cross, onPick) {
  const body = $("signal-rows");
  body.replaceChildren();
  if (!cross) { body.append(el("tr", {}, el("td", { colSpan: 4, class: "empty" }, "no signals yet"))); return; }
  $("signals-date").textContent = cross.date;
  for (const s of cross.signals) {
    const row = el("tr", { class: "pick", "data-symbol": s.symbol }, numCell(s.rank, String(s.rank), "rank"), el("td", {}, s.symbol),
      numCell(s.probability, fmt(s.probability, 3), "probability"), el("td", {}, attributionBar(s.attribution)));
    row.addEventListener("click", () => onPick(s.symbol));
    body.append(row);
  }
}

async function renderSymbol(symbol) {
  const hist = await getJSON(`/signals/${encodeURIComponent(symbol)}/history`);
  document.querySelectorAll("tr.pick").forEach((r) => r.classList.toggle("on", r.dataset.symbol === symbol));
  $("symbol-name").textContent = symbol;
  if (!hist) return;
  const lastPrice = hist.prices[hist.prices.length - 1];
  const lastSig = hist.signals[hist.signals.length - 1];
  setNum($("symbol-close"), lastPrice ? lastPrice.close : null, lastPrice ? fmt(lastPrice.close, 2) : "–");
  setNum($("symbol-prob"), lastSig ? lastSig.probability : null, lastSig ? fmt(lastSig.probability, 3) : "–");
  const probByDate = Object.fromEntries(hist.signals.map((s) => [s.date, s.probability]));
  chart("chart-price", {
    type: "line",
    data: { labels: hist.prices.map((p) => p.date), datasets: [
      { label: "adjusted close", data: hist.prices.map((p) => p.close), borderColor: "#17212e", pointRadius: 0, yAxisID: "y" },
      { label: "P(up)", data: hist.prices.map((p) => probByDate[p.date] ?? null), borderColor: PALETTE[1], pointRadius: 0, yAxisID: "y1", spanGaps: true },
    ] },
    options: { scales: { x: { ticks: { maxTicksLimit: 10 } }, y: { position: "left" },
      y1: { position: "right", min: 0, max: 1, grid: { drawOnChartArea: false } } } },
  });
  // The six features with the largest mean |contribution|; the rest are summed into "rest".
  const weight = {};
  for (const s of hist.signals) for (const a of s.attribution) weight[a.feature] = (weight[a.feature] || 0) + Math.abs(a.contribution);
  const top = Object.keys(weight).sort((a, b) => weight[b] - weight[a]).slice(0, 6);
  const contrib = (s, name) => (name === "rest"
    ? s.attribution.filter((a) => !top.includes(a.feature)).reduce((acc, a) => acc + a.contribution, 0)
    : (s.attribution.find((x) => x.feature === name) || { contribution: 0 }).contribution);
  const features = [...top, "rest"];
  chart("chart-attribution", {
    type: "bar",
    data: { labels: hist.signals.map((s) => s.date), datasets: features.map((name, i) => ({
      label: name, backgroundColor: name === "rest" ? "#c3cad3" : PALETTE[i % PALETTE.length],
      data: hist.signals.map((s) => contrib(s, name)),
    })) },
    options: { plugins: { title: { display: true, text: "attribution over time (log-odds)" } },
      scales: { x: { stacked: true, ticks: { maxTicksLimit: 10 } }, y: { stacked: true } } },
  });
}

async function main() {
  const [kpis, regime, skill, fan, cross] = await Promise.all([
    getJSON("/dashboard/kpis"), getJSON("/dashboard/regime"), getJSON("/dashboard/signal-skill"),
    getJSON("/dashboard/forecast-fan"), getJSON("/signals?top=15"),
  ]);
  if (kpis) {
    renderHeader(kpis);
    renderMonitoring(kpis.panels.monitoring);
    renderOps(kpis);
    renderCoverage(kpis);
    renderRisk(kpis);
  }
  renderRegime(regime);
  renderSkill(skill);
  renderFan(fan);
  const pick = (symbol) => { window.location.hash = `symbol=${symbol}`; return renderSymbol(symbol); };
  renderSignals(cross, pick);
  const wanted = new URLSearchParams(window.location.hash.slice(1)).get("symbol");
  const first = wanted || (cross && cross.signals.length ? cross.signals[0].symbol : null);
  if (first) await renderSymbol(first);
  document.body.dataset.ready = "1";
}

main().catch((err) => { console.error(err); document.body.dataset.ready = "error"; });
