// vdc web UI: sends the session's CSRF token with every htmx request, reports actions, and
// draws the metric charts (uPlot) for the selected range.
"use strict";

function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)vdc_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

function toast(text) {
  const t = document.getElementById("toast");
  if (!t) return;
  t.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.textContent = ""; }, 6000);
}

document.addEventListener("htmx:configRequest", (e) => {
  e.detail.headers["X-CSRF-Token"] = csrfToken();
});

// A power action: say what happened, then refresh the state.
document.addEventListener("htmx:afterRequest", (e) => {
  const el = e.detail.elt;
  if (!el || !el.dataset || !el.dataset.action) return;
  const xhr = e.detail.xhr;
  let body = {};
  try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
  if (xhr.status >= 200 && xhr.status < 300) {
    toast(`${el.dataset.action}: accepted (job ${body.job ? body.job.id : ""})`);
  } else {
    toast(`${el.dataset.action} refused: ${body.message || xhr.status}`);
  }
  document.body.dispatchEvent(new Event("vdc-changed"));
});

const fmt = (v) => {
  if (v == null || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(1) + "G";
  if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (a >= 1e3) return (v / 1e3).toFixed(1) + "k";
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
};

let range = "1h";
const plots = new Map();

async function drawChart(el) {
  const summary = el.parentElement.querySelector(".chart-summary");
  let d;
  try {
    const r = await fetch(`${el.dataset.src}&range=${encodeURIComponent(range)}`, { credentials: "same-origin" });
    d = await r.json();
    if (!r.ok) throw new Error(d.message || r.status);
  } catch (err) {
    summary.textContent = `Could not load: ${err.message}`;
    return;
  }
  const x = d.t.map((t) => t / 1000);
  const old = plots.get(el);
  if (old) old.destroy();
  el.textContent = "";
  el.dataset.points = String(x.length);
  if (x.length === 0) {
    summary.textContent = `No samples in the last ${range} yet.`;
    plots.delete(el);
    return;
  }
  const opts = {
    width: Math.max(el.clientWidth, 200),
    height: 200,
    legend: { show: true },
    axes: [{}, { values: (u, vals) => vals.map(fmt), size: 60 }],
    series: [
      {},
      { label: `mean (${d.unit})`, stroke: "#0550ae", width: 2 },
      { label: "p95", stroke: "#bc4c00", width: 1 },
      { label: "max", stroke: "#8c959f", width: 1, dash: [4, 4] },
    ],
  };
  plots.set(el, new uPlot(opts, [x, d.mean, d.p95, d.max], el));
  const last = d.mean[d.mean.length - 1];
  const res = d.resolution_s === 0 ? "raw samples" : `${d.resolution_s / 60}-minute roll-ups`;
  summary.textContent = `${x.length} points (${res}); latest ${fmt(last)} ${d.unit}, highest p95 ${fmt(Math.max(...d.p95))} ${d.unit}.`;
}

function drawAll() {
  document.querySelectorAll(".chart[data-src]").forEach(drawChart);
}

document.addEventListener("click", (e) => {
  const b = e.target.closest("button.range");
  if (!b) return;
  range = b.dataset.range;
  document.querySelectorAll("button.range").forEach((o) => o.setAttribute("aria-pressed", String(o === b)));
  drawAll();
});

let resizeTimer;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    plots.forEach((p, el) => p.setSize({ width: Math.max(el.clientWidth, 200), height: 200 }));
  }, 150);
});

document.addEventListener("DOMContentLoaded", drawAll);
