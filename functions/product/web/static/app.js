// The portal page: sign in, show the account from /api/product/me, run forecasts through the
// Cloud API with the user's own API key and draw them. No libraries: plain DOM and SVG.
"use strict";

const API = "/api/product";
const FORECAST_URL = "/api/cloud/forecast";
const KEY_STORAGE = "meterline.apiKey"; // sessionStorage only: gone when the tab closes

const $ = (id) => document.getElementById(id);

function show(id, visible) { $(id).hidden = !visible; }

async function call(url, options) {
  const res = await fetch(url, Object.assign({ credentials: "same-origin" }, options));
  let body = null;
  if (res.status !== 204) {
    try { body = await res.json(); } catch (e) { body = null; }
  }
  return { status: res.status, body };
}

function money(minor, currency) {
  const cur = currency || "EUR";
  let fmt;
  try { fmt = new Intl.NumberFormat(undefined, { style: "currency", currency: cur }); }
  catch (e) { return (minor / 100).toFixed(2) + " " + cur; }
  const digits = fmt.resolvedOptions().maximumFractionDigits;
  return fmt.format(minor / Math.pow(10, digits));
}

function message(res, fallback) {
  return (res.body && res.body.message) ? res.body.message : fallback + " (HTTP " + res.status + ")";
}

// --- session ---------------------------------------------------------------------------------

async function loadMe() {
  const res = await call(API + "/me");
  if (res.status === 401) { signedOut(); return; }
  if (res.status !== 200) { signedOut(message(res, "Could not load your account")); return; }
  renderAccount(res.body);
}

function signedOut(error) {
  show("whoami", false); show("account-panel", false); show("forecast-panel", false);
  show("signin-panel", true);
  $("signin-error").textContent = error || "";
}

async function signIn(ev) {
  ev.preventDefault();
  $("signin-error").textContent = "";
  $("signin-button").disabled = true;
  try {
    const res = await call(API + "/signin", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: $("email").value, password: $("password").value }),
    });
    $("password").value = "";
    if (res.status !== 200) { $("signin-error").textContent = message(res, "Sign-in failed"); return; }
    await loadMe();
  } finally {
    $("signin-button").disabled = false;
  }
}

async function signOut() {
  await call(API + "/signout", { method: "POST" });
  sessionStorage.removeItem(KEY_STORAGE);
  $("api-key").value = "";
  $("chart").textContent = "";
  $("forecast-values").textContent = "";
  signedOut();
}

// --- account ---------------------------------------------------------------------------------

function renderAccount(me) {
  show("signin-panel", false);
  show("whoami", true); show("account-panel", true); show("forecast-panel", true);
  $("user-email").textContent = me.email;
  $("account-name").textContent = me.name || me.customerId;
  $("balance").textContent = money(me.balance, me.currency);
  $("balance").classList.toggle("negative", me.balance < 0);
  $("status").textContent = me.status;
  $("status").classList.toggle("locked", me.status === "locked");
  $("credit-limit").textContent = money(me.creditLimit, me.currency);
  $("usage").textContent = me.usage.reported + " / " + me.usage.billed;

  const tbody = $("invoices").tBodies[0];
  tbody.textContent = "";
  for (const inv of me.invoices) {
    const tr = document.createElement("tr");
    tr.className = "invoice";
    const cells = [inv.period, inv.invoiceId, money(inv.amount, inv.currency),
      inv.dueAt ? inv.dueAt.slice(0, 10) : "", inv.status];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i === 2) td.className = "amount";
      tr.appendChild(td);
    });
    tbody.appendChild(tr);
  }
  show("invoices", me.invoices.length > 0);
  show("no-invoices", me.invoices.length === 0);

  // Offer the customer's own daily usage as the series to forecast.
  if (!$("series").value && me.usage.daily && me.usage.daily.length >= 2) {
    $("series").value = me.usage.daily.map((d) => d.units).join(", ");
  }
  $("api-key").value = sessionStorage.getItem(KEY_STORAGE) || "";
}

// --- forecast --------------------------------------------------------------------------------

function requestId() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

async function runForecast(ev) {
  ev.preventDefault();
  const err = $("forecast-error");
  err.textContent = "";
  const key = $("api-key").value.trim();
  const series = $("series").value.split(/[\s,;]+/).filter((s) => s !== "").map(Number);
  const horizon = Number($("horizon").value);
  if (!key) { err.textContent = "Paste your API key first."; return; }
  if (series.length < 2 || series.some((x) => !Number.isFinite(x))) { err.textContent = "Series: at least two numbers."; return; }
  sessionStorage.setItem(KEY_STORAGE, key);
  $("run-forecast").disabled = true;
  try {
    const res = await call(FORECAST_URL, {
      method: "POST",
      credentials: "omit", // the Cloud API authenticates by key, never by the portal's cookie
      headers: { "Content-Type": "application/json", "Authorization": "Bearer " + key, "Idempotency-Key": requestId() },
      body: JSON.stringify({ series, horizon }),
    });
    if (res.status !== 200 || !res.body || !Array.isArray(res.body.forecast)) {
      err.textContent = message(res, "The forecast failed");
      return;
    }
    drawChart($("chart"), series, res.body.forecast);
    $("forecast-values").textContent = "Forecast: " + res.body.forecast.map((x) => +x.toFixed(2)).join(", ");
  } catch (e) {
    err.textContent = "The Cloud API could not be reached.";
  } finally {
    $("run-forecast").disabled = false;
  }
}

const SVG = "http://www.w3.org/2000/svg";

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}

// drawChart draws series (solid) and forecast (dashed, continuing from the last point) as an
// SVG line chart with a y grid and x ticks.
function drawChart(box, series, forecast) {
  const W = 640, H = 280, L = 48, R = 16, T = 28, B = 32;
  const all = series.concat(forecast);
  let lo = Math.min.apply(null, all), hi = Math.max.apply(null, all);
  if (lo === hi) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.08; lo -= pad; hi += pad;
  const n = all.length;
  const x = (i) => L + (n === 1 ? 0 : i * (W - L - R) / (n - 1));
  const y = (v) => T + (hi - v) * (H - T - B) / (hi - lo);

  const svg = el("svg", { id: "forecast-chart", viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": "series and forecast", "data-series-points": series.length, "data-forecast-points": forecast.length });
  for (let k = 0; k <= 4; k++) {
    const v = lo + (hi - lo) * k / 4;
    svg.appendChild(el("line", { class: "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    svg.appendChild(el("text", { class: "tick", x: L - 6, y: y(v) + 4, "text-anchor": "end" }, +v.toPrecision(3)));
  }
  svg.appendChild(el("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
  svg.appendChild(el("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
  const step = Math.max(1, Math.ceil(n / 12));
  for (let i = 0; i < n; i += step) {
    svg.appendChild(el("text", { class: "tick", x: x(i), y: H - B + 16, "text-anchor": "middle" }, i + 1));
  }
  const points = (vals, offset) => vals.map((v, i) => `${x(i + offset).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  svg.appendChild(el("polyline", { class: "series", points: points(series, 0) }));
  const bridge = [series[series.length - 1]].concat(forecast);
  svg.appendChild(el("polyline", { class: "forecast", points: points(bridge, series.length - 1) }));
  series.forEach((v, i) => svg.appendChild(el("circle", { class: "dot-series", cx: x(i), cy: y(v), r: 3 })));
  forecast.forEach((v, i) => svg.appendChild(el("circle", { class: "dot-forecast", cx: x(i + series.length), cy: y(v), r: 3 })));
  svg.appendChild(el("rect", { x: L + 8, y: 8, width: 12, height: 4, fill: "#2a6fdb" }));
  svg.appendChild(el("text", { class: "legend", x: L + 26, y: 14 }, "series"));
  svg.appendChild(el("rect", { x: L + 86, y: 8, width: 12, height: 4, fill: "#e76f51" }));
  svg.appendChild(el("text", { class: "legend", x: L + 104, y: 14 }, "forecast"));
  box.textContent = "";
  box.appendChild(svg);
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", signIn);
  $("signout").addEventListener("click", signOut);
  $("forecast-form").addEventListener("submit", runForecast);
  loadMe();
});
