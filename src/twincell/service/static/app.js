// TwinCell page: calls the service's /v1 API and shows what it returns. No computation happens here.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { signature: null, context: null, direction: "both", targets: [], drugTargets: [] };

const DRUG_TARGET_COLUMNS = ["gene", "rank", "overall_rank", "score", "direction", "z_score", "drugs", "drug_actions",
  "direction_agrees", "indications", "top_walk_share", "n_signature_genes_reached"];
const TARGET_COLUMNS = ["gene", "score", "direction", "rank", "z_score", "druggable"];

// Rows of the last answer as a CSV file the browser saves (the same columns as targets.csv / ranking.csv).
function download(rows, columns, filename) {
  const quote = (v) => {
    const s = v === null || v === undefined ? "" : String(v);
    return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  };
  const text = [columns.join(","), ...rows.map((r) => columns.map((c) => quote(r[c])).join(","))].join("\n") + "\n";
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  link.download = filename;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

function headers(json) {
  const h = {};
  const token = $("token").value.trim();
  if (token) h["Authorization"] = "Bearer " + token;
  if (json) h["Content-Type"] = "application/json";
  return h;
}

// Turn an error answer of the API into one readable message (field, problem, hint).
async function failure(resp) {
  let body;
  try { body = await resp.json(); } catch (e) { return `HTTP ${resp.status}`; }
  if (typeof body.detail === "string") return `HTTP ${resp.status}: ${body.detail}`;
  return body.detail.map((d) => {
    const where = d.loc.filter((p) => p !== "body").join(".");
    return (where ? where + ": " : "") + d.msg + (d.hint ? "\n  hint: " + d.hint : "");
  }).join("\n");
}

async function api(path, options = {}) {
  const resp = await fetch(path, options);
  if (resp.status === 401) {
    $("token").classList.add("needed");
    $("token").focus();
    throw new Error("This service requires an API token: enter it in the \"API token\" box above, then try again.\n" +
                    (await failure(resp)));
  }
  if (!resp.ok) throw new Error(await failure(resp));
  $("token").classList.remove("needed");
  return resp;
}

// Show or hide the busy indicator and lock the button while a request runs.
function busy(on, what) {
  $("busy").textContent = what || "working…";
  $("busy").hidden = !on;
  $("rank").disabled = on;
  document.body.setAttribute("aria-busy", on ? "true" : "false");
}

// Remove the results of an earlier submit so that an error never sits above stale results.
function clearResults() {
  for (const id of ["drug-targets", "targets", "paths"]) $(id).tBodies[0].replaceChildren();
  state.targets = state.drugTargets = [];  // nothing stale to download either
  $("results").hidden = true;
  $("explanation").hidden = true;
  showUnknown([], {});
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

// What the service left out of the signature, each kind with its own label: nothing is dropped silently.
function showUnknown(genes, report) {
  const shown = (items) => items.slice(0, 50).join(", ") + (items.length > 50 ? " ..." : "");
  const parts = [];
  if (genes.length) parts.push(`${genes.length} signature gene(s) not used (not mapped to HGNC or not in the network): ${shown(genes)}`);
  const sex = report.sex_genes_removed || [];
  if (sex.length) parts.push(`${sex.length} sex-chromosome gene(s) left out: ${shown(sex)}`);
  const noValue = report.rows_without_value || [];
  if (noValue.length) parts.push(`${noValue.length} row(s) without a finite value left out: ${shown(noValue)}`);
  if (report.rows_without_gene_id) parts.push(`${report.rows_without_gene_id} row(s) without a gene ID left out`);
  const box = $("unknown");
  box.hidden = parts.length === 0;
  box.textContent = parts.join(". ");
}

function cell(row, text, numeric) {
  const td = row.insertCell();
  td.textContent = text;
  if (numeric) td.className = "num";
  return td;
}

function fmt(x) {
  return Math.abs(x) >= 1e-3 || x === 0 ? x.toFixed(3) : x.toExponential(2);
}

async function loadModel() {
  try {
    const info = await (await api("v1/model", { headers: headers(false) })).json();
    $("model-info").textContent =
      `twincell ${info.twincell_version} · contexts ${info.encoder || "(no encoder)"} · network ${info.interactome.nodes} nodes, ` +
      `${info.interactome.edges} edges (${info.interactome.sources.join(", ")})`;
    const contexts = await (await api("v1/contexts", { headers: headers(false) })).json();
    const select = $("context");
    select.length = 1;
    for (const id of contexts.contexts) select.add(new Option(id, id));
    showError("");
  } catch (e) {
    showError(e.message);
  }
}

async function signatureText() {
  const file = $("signature-file").files[0];
  return file ? file : new Blob([$("signature-text").value], { type: "text/csv" });
}

async function rank() {
  showError("");
  clearResults();
  busy(true, "ranking targets…");
  try {
    const form = new FormData();
    const blob = await signatureText();
    form.append("file", blob, blob.name || "pasted.csv");
    const parsed = await (await api("v1/signature", { method: "POST", headers: headers(false), body: form })).json();
    state.signature = parsed.signature;
    state.context = $("context").value || null;
    state.direction = $("direction").value;
    const body = {
      signature: state.signature, context: state.context,
      direction: state.direction, top: parseInt($("top").value, 10) || 25,
    };
    const result = await (await api("v1/targets", { method: "POST", headers: headers(true), body: JSON.stringify(body) })).json();
    showUnknown([...new Set([...parsed.report.unmapped_genes, ...result.signature.absent_genes])], parsed.report);
    renderDrugTargets(result.drug_targets);
    renderTargets(result.targets);
  } catch (e) {
    showError(e.message);
  } finally {
    busy(false);
  }
}

// Fill a results table: one clickable row per target, cells from cellsOf(t) as [text, numeric] pairs.
function renderRows(tableId, targets, cellsOf) {
  const tbody = $(tableId).tBodies[0];
  tbody.replaceChildren();
  for (const t of targets) {
    const row = tbody.insertRow();
    row.dataset.gene = t.gene;
    for (const [text, numeric] of cellsOf(t)) cell(row, text, numeric);
    if (t.fragile) row.classList.add("fragile");
    row.addEventListener("click", () => explain(row));
  }
}

const list = (text) => text.split(";").join(", ");
const num = (x) => (x === null ? "" : fmt(x));

function renderDrugTargets(targets) {
  state.drugTargets = targets;
  renderRows("drug-targets", targets, (t) => [
    [t.rank, true], [t.gene], [t.overall_rank, true], [t.direction], [num(t.z_score), true], [list(t.drugs)],
    [list(t.drug_actions)], [t.direction_agrees], [list(t.indications)], [num(t.top_walk_share), true],
    [t.n_signature_genes_reached, true], [t.fragile ? "fragile" : ""],
  ]);
}

function renderTargets(targets) {
  state.targets = targets;
  renderRows("targets", targets, (t) => [
    [t.rank, true], [t.gene], [t.direction], [fmt(t.score), true], [num(t.z_score), true], [t.druggable ? "yes" : ""],
  ]);
  $("results").hidden = false;
  $("explanation").hidden = true;
}

async function explain(row) {
  showError("");
  for (const r of row.parentElement.rows) r.classList.toggle("selected", r === row);
  const body = JSON.stringify({
    target: row.dataset.gene, signature: state.signature, context: state.context, direction: state.direction, k: 8,
  });
  $("explanation").hidden = true;
  busy(true, "explaining " + row.dataset.gene + "…");
  try {
    const [result, figure] = await Promise.all([
      api("v1/explain", { method: "POST", headers: headers(true), body }).then((r) => r.json()),
      api("v1/explain/figure?format=svg", { method: "POST", headers: headers(true), body }).then((r) => r.blob()),
    ]);
    $("explained-target").textContent = result.target;
    $("covered").textContent =
      `score ${fmt(result.score)}; the ${result.paths.length} paths below cover ` +
      (result.covered_share === null ? "none of it." : `${(100 * result.covered_share).toFixed(1)}% of it.`);
    const img = $("path-figure");
    if (img.src) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(figure);
    const tbody = $("paths").tBodies[0];
    tbody.replaceChildren();
    for (const p of result.paths) {
      const r = tbody.insertRow();
      cell(r, p.path);
      cell(r, p.gene);
      cell(r, fmt(p.contribution), true);
      cell(r, p.share === null ? "" : (100 * p.share).toFixed(1) + "%", true);
    }
    $("explanation").hidden = false;
  } catch (e) {
    showError(e.message);
  } finally {
    busy(false);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("rank").addEventListener("click", rank);
  $("download-drug-targets").addEventListener("click",
    () => download(state.drugTargets, DRUG_TARGET_COLUMNS, "targets.csv"));
  $("download-targets").addEventListener("click", () => download(state.targets, TARGET_COLUMNS, "ranking.csv"));
  $("token").addEventListener("change", loadModel);
  loadModel();
});
