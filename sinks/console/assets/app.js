// postbackd console. Every value is written with textContent (el()),
// never as HTML: ids, errors and partners' answers included.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// segment is s as one path segment; "." and ".." would move the path.
function segment(s) {
  if (s === "." || s === "..") throw new Error("not an id: " + s);
  return encodeURIComponent(s);
}

async function api(method, path, body) {
  const opts = { method, credentials: "same-origin", headers: {} };
  if (method !== "GET") opts.headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  if (res.status === 401) {
    location.href = "/console/login";
    throw new Error("logged out");
  }
  let data = null;
  try { data = await res.json(); } catch (_) { /* no body */ }
  return { status: res.status, data };
}

function showError(msg) {
  const p = document.getElementById("error");
  p.textContent = msg || "";
  p.hidden = !msg;
}

function fmtSeconds(s) {
  if (!s) return "–";
  if (s < 1) return Math.round(s * 1000) + " ms";
  if (s < 120) return s.toFixed(1) + " s";
  return Math.round(s / 60) + " min";
}

function fmtTime(t) {
  if (!t) return "–";
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

// Partners.
let partnerIDs = [];
async function loadPartners() {
  const { status, data } = await api("GET", "/v1/partners");
  if (status !== 200) { showError("partners: " + (data && data.error || status)); return; }
  const rows = data.partners.map(p => {
    const ratio = p.success_ratio === undefined ? null : p.success_ratio;
    const ratioCell = el("td", { class: "num " + (ratio === null ? "" : ratio >= 0.99 ? "ok" : ratio >= 0.9 ? "warn" : "bad") },
      ratio === null ? "–" : (ratio * 100).toFixed(1) + "%");
    const breaker = p.breaker_open ? el("td", { class: "bad" }, "open until " + fmtTime(p.breaker_until)) : el("td", { class: "ok" }, "closed");
    return el("tr", { "data-partner": p.partner },
      el("td", {}, p.partner),
      el("td", { class: "num delivered" }, p.delivered),
      ratioCell,
      el("td", { class: "num" }, fmtSeconds(p.latency_p50_seconds) + " / " + fmtSeconds(p.latency_p95_seconds)),
      el("td", { class: "num" }, fmtSeconds(p.end_to_end_p50_seconds) + " / " + fmtSeconds(p.end_to_end_p95_seconds) + " / " + fmtSeconds(p.end_to_end_p99_seconds)),
      el("td", { class: "num" }, p.retries),
      el("td", { class: "num deadlettered" }, p.deadlettered),
      breaker,
      el("td", { class: "num" }, p.backlog === undefined ? "–" : p.backlog));
  });
  fill(document.querySelector("#partners-table tbody"), rows);
  document.getElementById("partners-updated").textContent = "Updated " + fmtTime(new Date().toISOString());
  const ids = data.partners.map(p => p.partner);
  if (ids.join() !== partnerIDs.join()) {
    partnerIDs = ids;
    document.getElementById("redrive-partner").replaceChildren(...ids.map(id => el("option", { value: id }, id)));
  }
}

// Failures.
async function loadFailures() {
  const { status, data } = await api("GET", "/v1/failures?limit=100");
  if (status !== 200) { showError("failures: " + (data && data.error || status)); return; }
  const rows = data.failures.map(f => el("tr", {},
    el("td", {}, fmtTime(f.at)),
    el("td", {}, f.partner),
    el("td", {}, el("a", { href: "#postback", class: "postback-link", onclick: () => lookupPostback(f.postback_id) }, f.postback_id)),
    el("td", { class: "num" }, f.attempt),
    el("td", { class: f.outcome === "deadlettered" ? "bad" : "warn" }, f.outcome),
    el("td", { class: "num" }, f.status_code || "–"),
    el("td", {}, f.error || "", f.response ? el("div", { class: "excerpt" }, f.response) : null)));
  fill(document.querySelector("#failures-table tbody"), rows);
}

// Postback lookup.
async function lookupPostback(id) {
  document.getElementById("postback-id").value = id;
  location.hash = "#postback";
  const out = document.getElementById("postback-result");
  const { status, data } = await api("GET", "/v1/postbacks/" + segment(id));
  if (status === 404) { out.replaceChildren(el("p", { id: "postback-none" }, "This copy has no status for " + id + " (only recent postbacks it handled).")); return; }
  if (status !== 200) { out.replaceChildren(el("p", { class: "error" }, (data && data.error) || String(status))); return; }
  out.replaceChildren(...data.partners.map(s => el("div", { class: "partner-block", "data-partner": s.partner, "data-outcome": s.outcome },
    el("h3", {}, s.partner + ": ", el("span", { class: "outcome " + (s.outcome === "delivered" ? "ok" : "bad") }, s.outcome),
      " after " + s.attempts + " tries"),
    s.url ? el("p", { class: "excerpt" }, s.url) : null,
    el("table", {}, el("thead", {}, el("tr", {}, ...["Try", "At", "Outcome", "Status", "Latency", "Error / answer"].map(h => el("th", {}, h)))),
      el("tbody", {}, ...(s.tries || []).map(t => el("tr", {},
        el("td", { class: "num" }, t.attempt), el("td", {}, fmtTime(t.at)), el("td", {}, t.outcome),
        el("td", { class: "num" }, t.status_code || "–"), el("td", { class: "num" }, t.latency_ms ? t.latency_ms.toFixed(1) + " ms" : "–"),
        el("td", {}, t.error || "", t.response ? el("div", { class: "excerpt" }, t.response) : null))))),
    el("button", { type: "button", class: "resend", onclick: () => resend(id) }, "Resend now"))));
}

async function resend(id) {
  const { status, data } = await api("POST", "/v1/postbacks/" + segment(id) + "/resend");
  if (status !== 200) showError("resend: " + ((data && data.error) || status));
  else { showError(""); lookupPostback(id); }
}

// Device or user.
async function lookupState(ev) {
  ev.preventDefault();
  const app = document.getElementById("device-app").value, id = document.getElementById("device-id").value;
  const kind = document.getElementById("device-kind").value;
  const { status, data } = await api("GET", "/v1/" + kind + "/" + segment(app) + "/" + segment(id));
  document.getElementById("device-result").textContent = status === 404 ? "No state for it (never seen, erased or expired).\n" + JSON.stringify(data, null, 2)
    : JSON.stringify(data, null, 2);
}

// Redrive: a dry run first; Redrive sends what that dry run listed the
// filters of, and only once the form has not changed since.
let dryRunOf = null;
function redriveRequest() {
  const v = id => document.getElementById(id).value.trim();
  const list = s => s ? s.split(",").map(x => x.trim()).filter(Boolean) : undefined;
  const req = { partner: v("redrive-partner"), from: v("redrive-from"), types: list(v("redrive-types")), outcomes: list(v("redrive-outcome")),
    force: document.getElementById("redrive-force").checked };
  if (v("redrive-since")) req.since = v("redrive-since");
  if (v("redrive-until")) req.until = v("redrive-until");
  return req;
}

async function redrive(dry) {
  const req = redriveRequest();
  const key = JSON.stringify(req);
  if (!dry && dryRunOf !== key) { showError("Run a dry run of these settings first."); return; }
  req.dry_run = dry;
  const summary = document.getElementById("redrive-summary");
  summary.textContent = dry ? "Planning…" : "Queueing…";
  const { status, data } = await api("POST", "/v1/redrive", req);
  if (status !== 200) { summary.textContent = ""; showError("redrive: " + ((data && data.error) || status)); return; }
  showError("");
  const left = "left out: " + data.skipped_delivered + " delivered already, " + data.skipped_no_rule + " no rule, " + data.skipped_privacy + " privacy, " + data.skipped_trimmed + " trimmed";
  if (dry) {
    dryRunOf = key;
    document.getElementById("redrive-run").disabled = false;
    summary.textContent = "Dry run: would send " + data.count + " postbacks to " + req.partner + " (" + data.scanned + " records scanned; " + left + ")" + (data.listed ? "" : "; the first ones listed");
  } else {
    dryRunOf = null;
    document.getElementById("redrive-run").disabled = true;
    summary.textContent = "Queued " + data.queued + " of " + data.count + " postbacks to " + req.partner + " at its rate limit (" + left + "). Follow them under Partners and Postback.";
  }
  fill(document.querySelector("#redrive-table tbody"), (data.send || []).map(it => el("tr", {},
    el("td", {}, el("a", { href: "#postback", onclick: () => lookupPostback(it.postback_id) }, it.postback_id)),
    el("td", {}, it.type), el("td", {}, it.app_id || ""), el("td", {}, fmtTime(it.at)))));
}

// Views.
const refreshers = { partners: loadPartners, failures: loadFailures };
function refresher(name) { return Object.hasOwn(refreshers, name) ? refreshers[name] : null; }
function showView() {
  const name = (location.hash || "#partners").slice(1);
  for (const s of document.querySelectorAll(".view")) s.hidden = s.id !== "view-" + name;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.view === name);
  const r = refresher(name);
  if (r) r().catch(e => showError(e.message));
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("postback-form").addEventListener("submit", ev => {
    ev.preventDefault();
    lookupPostback(document.getElementById("postback-id").value.trim()).catch(e => showError(e.message));
  });
  document.getElementById("device-form").addEventListener("submit", ev => lookupState(ev).catch(e => showError(e.message)));
  document.getElementById("redrive-dry").addEventListener("click", () => redrive(true));
  document.getElementById("redrive-run").addEventListener("click", () => redrive(false));
  document.getElementById("redrive-run").disabled = true;
  document.getElementById("redrive-form").addEventListener("input", () => { document.getElementById("redrive-run").disabled = true; });
  document.getElementById("logout").addEventListener("click", async () => {
    await fetch("/console/logout", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf } });
    location.href = "/console/login";
  });
  window.addEventListener("hashchange", showView);
  showView();
  loadPartners().catch(e => showError(e.message));
  setInterval(() => {
    const name = (location.hash || "#partners").slice(1);
    const r = refresher(name);
    if (r) r().catch(e => showError(e.message));
  }, 5000);
});
