// styleblend web UI: vanilla JS over the JSON API of styleblend/ui/server.py.
"use strict";

const $ = (id) => document.getElementById(id);
let info = null;          // /api/info: resolutions, models, limits
let embedJob = null;      // id of the embedding job the photo panel's status line follows
let toonJob = null;       // the job whose latent is drawn through the blend (none once the models changed)
let toonReady = false;    // that job has a result to render through the blend
let modelsVersion = 0;    // +1 per model change: an image asked for under older models is not drawn
const watching = new Set();  // jobs being polled

// An error about one field: shown next to it.
class FieldError extends Error {
  constructor(message, control) {
    super(message);
    this.control = control;
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

async function api(path, body) {
  const init = { method: body === undefined ? "GET" : "POST", headers: {} };
  if (body instanceof Blob) {
    init.body = body;
    init.headers["Content-Type"] = "application/octet-stream";
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new Error(`cannot reach the server (${e.message}); is 'styleblend ui' still running?`);
  }
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try { message = (await res.json()).error || message; } catch (_) { /* not JSON */ }
    const error = new Error(message);
    error.status = res.status;  // 409: a preview superseded by a newer one (live.js)
    throw error;
  }
  return res;
}

// Errors appear next to the control that caused them: in a line after the control's row (made when first
// needed). Only an error with no control (the server unreachable at start) uses the banner at the top.
function errorSlot(control, create = true) {
  const row = control.closest(".row, .presets, #sliders") || control;
  const next = row.nextElementSibling;
  if (next && next.classList.contains("field-error")) return next;
  if (!create) return null;
  const slot = document.createElement("p");
  slot.className = "field-error";
  slot.setAttribute("role", "alert");
  slot.hidden = true;
  row.after(slot);
  return slot;
}

function showError(message, control) {
  if (!control) {
    $("error-text").textContent = message;
    $("error").hidden = false;
    return;
  }
  const slot = errorSlot(control);
  slot.textContent = message;
  slot.dataset.control = control.id;
  slot.hidden = false;
  const box = slot.getBoundingClientRect();
  if (box.top < 0 || box.bottom > window.innerHeight) slot.scrollIntoView({ block: "nearest" });
}

function clearError(control) {
  if (!control) {
    $("error").hidden = true;
    $("error-text").textContent = "";
    return;
  }
  const slot = errorSlot(control, false);
  if (slot) {
    slot.hidden = true;
    slot.textContent = "";
  }
}

// A number from an input; an empty or malformed field is an error next to it (never a silent 0).
function numberField(id, what) {
  const input = $(id);
  const text = input.value.trim();
  if (input.validity && input.validity.badInput) throw new FieldError(`${what} is not a number; enter one`, input);
  if (text === "") throw new FieldError(`${what} is empty; enter a number`, input);
  const value = Number(text);
  if (!Number.isFinite(value)) throw new FieldError(`${what} '${text}' is not a number; enter one`, input);
  return value;
}

function toDataURL(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

// Show a PNG response asked for under models ``version``; small models are enlarged with crisp pixels.
// ``width``: the image's width in model pixels when it is not its own (a low-resolution preview stage).
// Returns false (and draws nothing) when the models changed meanwhile.
async function showImage(img, res, version, width) {
  const url = await toDataURL(await res.blob());
  if (version !== modelsVersion) return false;
  const zoom = Math.max(1, Math.floor(160 / (info ? info.img_resolution : 64)));
  img.onload = () => { img.style.width = `${(width || img.naturalWidth) * zoom}px`; };
  img.src = url;
  img.dataset.models = String(version);
  return true;
}

// Run an async action; its error is shown next to ``control`` (or the control a FieldError names). A new
// attempt clears the control's old error first.
async function guarded(action, control) {
  if (control) clearError(control);
  try {
    await action();
    return true;
  } catch (e) {
    showError(e.message, e.control || control);
    return false;
  }
}

function fillSelect(select, values, selected, label = (v) => v) {
  select.replaceChildren(...values.map((v) => {
    const option = document.createElement("option");
    option.value = v;
    option.textContent = label(v);
    option.selected = String(v) === String(selected);
    return option;
  }));
}

// ---------------------------------------------------------------------------------------------
// Blending panel

function alphas() {
  return Array.from(document.querySelectorAll("#sliders input")).map((s) => Number(s.value));
}

// Values off the sliders' 0.01 grid (presets, recipes, the URL, auto α) would be rounded by the range input to
// another blend than the one asked for, so such a slider takes any value from then on.
function setAlphas(values) {
  document.querySelectorAll("#sliders input").forEach((slider, i) => {
    const value = Number(values[i]);
    if (Math.abs(value * 100 - Math.round(value * 100)) > 1e-9) slider.step = "any";
    slider.value = String(value);
    slider.nextElementSibling.value = value.toFixed(2);  // the exact value is in the title
    slider.nextElementSibling.title = String(Number(value.toFixed(4)));
  });
}

function buildControls() {
  const res = info.resolutions;
  // The server's label of each slider: "16 px" (a StyleGAN2 block), "sampling rate 32 · 52 px" (a StyleGAN3 group).
  const px = (r) => (info.sliders.find((s) => s.key === r) || { label: `${r} px` }).label;
  const sliders = $("sliders");
  sliders.replaceChildren();
  res.forEach((r) => {
    const label = document.createElement("label");
    label.textContent = px(r);
    label.htmlFor = `alpha-${r}`;
    const block = info.ws_layers.blocks.find((b) => b.res === r);
    if (block) {  // the W+ rows this resolution's layers read: what 'layers from B' in mixing counts
      const ws = document.createElement("small");
      ws.className = "ws";
      ws.textContent = `W+ ${wsRange(block.ws)}`;
      label.append(ws);
    }
    const slider = document.createElement("input");
    Object.assign(slider, { type: "range", id: `alpha-${r}`, min: 0, max: 1, step: 0.01 });
    slider.dataset.res = r;
    const out = document.createElement("output");
    slider.addEventListener("input", () => {
      out.value = Number(slider.value).toFixed(2);
      schedulePreview();  // throttled while dragging (live.js)
    });
    slider.addEventListener("change", recordAlphas);  // released: one undo step
    sliders.append(label, slider, out);
  });
  setAlphas(info.alphas);
  resetHistory();
  // The presets' defaults come from the server (BlendSession.preset_defaults), not from here.
  const presets = info.presets;
  fillSelect($("swap-res"), res, presets.swap.res, px);
  fillSelect($("linear-from"), res, presets.linear.from_res, px);
  fillSelect($("linear-to"), res, presets.linear.to_res, px);
  fillSelect($("sigmoid-centre"), res, presets.sigmoid.centre, px);
  $("sigmoid-width").value = presets.sigmoid.width;
  fillSelect($("mapping"), info.mappings, info.mapping, (m) => `from ${m}`);
  document.querySelectorAll(".model-select").forEach((s) => fillSelect(s, info.models, "blend"));
  $("mix-hint").textContent = `W+ layers 0-${info.num_ws - 1}: low = coarse (pose, shape), high = fine (colour).`;
  buildLayerRow();
  embedDefaults();
  $("models").textContent = `base: ${info.base} · transfer: ${info.transfer}`;
  if (info.pair_error) showError(info.pair_error, $("upload-base"));
  document.dispatchEvent(new CustomEvent("styleblend:controls"));  // export.js, compare.js build theirs
}

function wsRange(list) {
  return list.length > 1 ? `${list[0]}–${list[list.length - 1]}` : String(list[0]);
}

// One row of W+ indices grouped under the resolution whose convolutions read them, so that the sliders (px)
// and the mixing ranges (W+ indices) speak one language; the indices 'layers from B' picks are marked.
function buildLayerRow() {
  const row = $("layer-row");
  row.replaceChildren();
  const owner = info.ws_layers.owner;
  info.resolutions.forEach((r) => {
    const indices = owner.map((o, i) => (o === r ? i : -1)).filter((i) => i >= 0);
    if (!indices.length) return;
    const group = document.createElement("span");
    group.className = "ws-group";
    group.dataset.res = r;
    const cells = document.createElement("span");
    cells.className = "ws-cells";
    indices.forEach((i) => {
      const cell = document.createElement("span");
      cell.className = "ws-cell";
      cell.dataset.ws = i;
      cell.textContent = i;
      cells.append(cell);
    });
    const name = document.createElement("span");
    name.className = "ws-res";
    name.textContent = `${r} px`;
    group.append(cells, name);
    row.append(group);
  });
  markLayers();
}

// 'layers from B' as a set of indices ('0-3,5'); an unreadable field marks nothing (the server says why).
function pickedLayers(text) {
  const picked = new Set();
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return new Set();
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let i = lo; i <= Math.min(hi, info.num_ws - 1); i += 1) picked.add(i);
  }
  return picked;
}

function markLayers() {
  const picked = pickedLayers($("mix-layers").value);
  document.querySelectorAll("#layer-row .ws-cell").forEach((cell) => {
    cell.classList.toggle("picked", picked.has(Number(cell.dataset.ws)));
  });
}

// Previews (schedulePreview, runPreview), undo/redo and the seed browser are in live.js.

async function applyPreset(kind) {
  const body = { kind, flip: $("preset-flip").checked };
  if (kind === "swap") body.res = Number($("swap-res").value);
  if (kind === "linear") {
    body.from_res = Number($("linear-from").value);
    body.to_res = Number($("linear-to").value);
  }
  if (kind === "sigmoid") {
    body.centre = Number($("sigmoid-centre").value);
    body.width = numberField("sigmoid-width", "sigmoid width");
  }
  const data = await (await api("/api/preset", body)).json();
  setAlphas(data.alphas);
  recordAlphas();
  await runPreview();
}

async function download() {
  const button = $("download");
  button.disabled = true;
  button.textContent = "Preparing…";
  try {
    const res = await api("/api/download", { alphas: alphas(), mapping: $("mapping").value });
    const match = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") || "");
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = match ? match[1] : "blend.safetensors";
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } finally {
    button.disabled = false;
    button.textContent = "Download blended model";
  }
}

// ---------------------------------------------------------------------------------------------
// Recipes: the blend in the page's address (#schedule=...&mapping=...&seeds=...&psi=...), as JSON to copy
// (with the styleblend blend command that rebuilds it), and loaded from a recipe file (the CLI's
// <out>.recipe.json or one copied here). The server turns a recipe into sliders, or says why it cannot.

function saveToURL(spec) {
  if (!spec) return;
  const params = new URLSearchParams({ schedule: spec, mapping: $("mapping").value, seeds: $("seeds").value,
                                       psi: $("psi").value });
  history.replaceState(null, "", `#${params}`);
}

async function applyRecipe(recipe) {
  const data = await (await api("/api/recipe/load", { recipe })).json();
  setAlphas(data.alphas);
  recordAlphas();
  $("mapping").value = data.mapping;
  return data;
}

async function restoreFromURL() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  if (!params.get("schedule")) return;
  if (params.get("seeds")) $("seeds").value = params.get("seeds");
  if (params.get("psi")) $("psi").value = params.get("psi");
  await applyRecipe({ schedule: params.get("schedule"), mapping: params.get("mapping") || "base" });
}

async function copyRecipe() {
  const recipe = await (await api("/api/recipe", { alphas: alphas(), mapping: $("mapping").value })).json();
  const text = JSON.stringify(recipe, null, 2);
  $("recipe-json").value = text;
  $("recipe-details").open = true;
  let copied = false;
  try {
    await navigator.clipboard.writeText(text);
    copied = true;
  } catch (_) { /* no clipboard here (permission, plain http): the text box below has it */ }
  $("recipe-status").textContent = copied ? "recipe copied" : "recipe below: select it and copy";
}

async function loadRecipeFile() {
  const input = $("recipe-file");
  const file = input.files[0];
  if (!file) return;
  if (file.size > 2 ** 20) throw new FieldError(`${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MB; a recipe ` +
                                                "is a small JSON file (at most 1 MB)", input);
  let recipe;
  try {
    recipe = JSON.parse(await file.text());
  } catch (e) {
    throw new FieldError(`${file.name} is not JSON (${e.message}); choose a .recipe.json file`, input);
  }
  input.value = "";  // the same file can be chosen again
  const data = await applyRecipe(recipe);
  $("recipe-status").textContent = `loaded ${file.name}: ${data.spec}` +
    (data.notes.length ? ` · ${data.notes.join(" · ")}` : "");
  await runPreview();
}

// ---------------------------------------------------------------------------------------------
// Editing panels

function editBody(prefix) {
  return {
    seed_a: numberField(`${prefix}-a`, "seed A"), seed_b: numberField(`${prefix}-b`, "seed B"),
    psi: numberField("psi", "truncation ψ"), model: $(`${prefix}-model`).value, alphas: alphas(),
    mapping: $("mapping").value,
  };
}

async function runMix() {
  const version = modelsVersion;
  const res = await api("/api/mix", { ...editBody("mix"), layers: $("mix-layers").value });
  await showImage($("mix-image"), res, version);
}

async function runMorph() {
  const version = modelsVersion;
  const res = await api("/api/morph", { ...editBody("morph"), steps: numberField("morph-steps", "morph steps") });
  await showImage($("morph-image"), res, version);
}

// ---------------------------------------------------------------------------------------------
// Photo embedding and toonify. With an encoder for the base the server predicts the photo's latent while
// the upload request waits, so its toonify is shown at once; a background job refines it (progress,
// cancel) and the refined latent replaces it. Without one, the page shows the optimisation's result when
// it ends. A new photo or new models make the old job stale: the server cancels it.

let toonTimer = null;
let toonSeq = 0;          // only the newest toonify request may draw

const STAGE_TEXT = {
  encoder: "encoder result",
  refined: "refined",
  optimised: "optimised",
};

function scheduleToonify() {
  clearTimeout(toonTimer);
  toonTimer = setTimeout(() => guarded(runToonify, $("photo")), 150);
}

async function runToonify() {
  if (!toonJob) return;
  const job = toonJob;
  const seq = ++toonSeq;
  const version = modelsVersion;
  const res = await api("/api/toonify", { job, alphas: alphas(), mapping: $("mapping").value });
  if (seq !== toonSeq || job !== toonJob) return;  // a newer photo, a newer request or new models won
  const stage = res.headers.get("X-Embedding-Stage") || "";
  const steps = res.headers.get("X-Embedding-Steps") || "0";
  const img = $("toonify-image");
  if (!await showImage(img, res, version)) return;
  img.dataset.stage = stage;
  img.dataset.job = job;
  img.dataset.steps = steps;
  let text = `${STAGE_TEXT[stage] || stage}`;
  if (stage === "refined") text += ` (encoder + ${steps} steps)`;
  if (stage === "optimised") text += ` (${steps} steps)`;
  if (res.headers.get("X-Embedding-Cancelled") === "1") text += ", stopped early";
  // Which latent the image is: a pure W+ latent (editable) or W+ + the base's features at one block.
  const latent = res.headers.get("X-Embedding-Latent") || "W+";
  img.dataset.latent = latent;
  text += latent === "W+" ? " · W+" : ` · ${latent}, not a pure latent`;
  $("toonify-shown").textContent = `${text} · server ${res.headers.get("X-Elapsed-Ms")} ms`;
}

function embedDefaults() {
  const label = $("embed-steps-label");
  const steps = $("embed-steps");
  if (info.encoder) {
    label.firstChild.textContent = "refine steps ";
    steps.min = 0;
    steps.value = info.refine_steps;
  } else {
    label.firstChild.textContent = "steps ";
    steps.min = 1;
    steps.value = info.embed_steps;
  }
  $("encoder-note").textContent = info.encoder
    ? `${info.encoder_note}: the photo's latent is shown at once, then refined in the background.` +
      (info.feature_head ? ` With ${info.feature_head_note}, it is W+ + the base's ${info.feature_block} px ` +
        "features (sharper, not a pure latent); untick 'W+ + features' for W+ only." : "")
    : info.encoder_note;
  $("embed-features-label").hidden = !info.feature_head;
}

function clearToonify() {
  const img = $("toonify-image");
  img.removeAttribute("src");
  img.style.width = "";
  ["stage", "job", "steps", "models", "latent"].forEach((k) => delete img.dataset[k]);
  $("toonify-shown").textContent = "";
}

async function startEmbedding() {
  const input = $("photo");
  const file = input.files[0];
  if (!file) throw new FieldError("choose a photo first", input);
  if (info && file.size > info.max_image_mb * 2 ** 20) {
    throw new FieldError(`the photo is ${(file.size / 2 ** 20).toFixed(1)} MB; the limit is ${info.max_image_mb} MB`,
                         input);
  }
  const steps = numberField("embed-steps", "steps");
  const align = $("embed-align").checked ? "1" : "0";
  // Without a feature head the server decides (W+); with one the checkbox says W+ + features or W+ only.
  const features = info.feature_head ? `&features=${$("embed-features").checked ? "1" : "0"}` : "";
  const query = `steps=${encodeURIComponent(steps)}&align=${align}${features}` +
    `&filename=${encodeURIComponent(file.name)}`;
  // Until the server answers (it reads and crops the photo, and an encoder predicts its latent), say so.
  const line = $("embed-status");
  line.textContent = `sending ${file.name} (${Math.max(1, Math.round(file.size / 1024))} kB): the server reads and ` +
    `crops it${info.encoder ? " and predicts its latent with the encoder" : ""}…`;
  line.dataset.state = "sending";
  let data;
  try {
    data = await (await api(`/api/embed?${query}`, file)).json();
  } catch (e) {
    line.textContent = "";
    delete line.dataset.state;
    throw e;
  }
  embedJob = data.job;
  toonJob = data.job;
  toonReady = false;
  showStatus(data.status);
  if (data.status.has_result) {  // the encoder's latent: draw it now, refine meanwhile
    toonReady = true;
    await guarded(runToonify, input);
  }
  watchJob(data.job);
}

// The status line and the buttons follow the job: Cancel while it runs, Embed once it ends or is stopping
// (a new photo need not wait for the old job's last step).
function showStatus(status) {
  const running = status.state === "running";
  const stopping = running && status.stopping;
  $("embed-progress").max = status.total || 1;
  $("embed-progress").value = status.done;
  const extra = status.info;
  const loss = extra.loss == null ? "" : ` · loss ${Number(extra.loss).toPrecision(4)}`;
  const encoder = extra.encoder_ms == null ? "" : ` · encoder ${extra.encoder_ms} ms`;
  const note = extra.warning ? ` · ${extra.warning}` : "";
  // What the job does before its first step (loading the loss, sampling w statistics): the server says.
  const phase = running && !stopping && !status.done && extra.phase ? ` · ${extra.phase}…` : "";
  const state = (stopping ? "stopping" : status.state) + (status.stopped_because ? ` (${status.stopped_because})` : "");
  const line = $("embed-status");
  line.textContent =
    `${state}: step ${status.done}/${status.total}${loss}${encoder} · ${status.seconds} s${phase}${note}`;
  line.dataset.state = stopping ? "stopping" : status.state;
  line.dataset.job = status.id;
  $("embed-cancel").disabled = !running || stopping;
  $("embed-run").disabled = running && !stopping;
}

// Poll a job until it ends (once per job, however often asked); the newest job of the panel is shown.
async function watchJob(id) {
  if (watching.has(id)) return;
  watching.add(id);
  try {
    for (;;) {
      let status;
      try {
        status = await (await api(`/api/job?id=${encodeURIComponent(id)}`)).json();
      } catch (e) {
        if (id === embedJob) {
          showError(e.message, $("photo"));
          $("embed-cancel").disabled = true;
          $("embed-run").disabled = false;
        }
        return;
      }
      if (id !== embedJob) return;  // a newer photo replaced this job
      showStatus(status);
      if (status.state !== "running") {
        if (status.state === "failed") showError(status.error, $("photo"));
        if (status.has_result && id === toonJob) {
          toonReady = true;
          await guarded(runToonify, $("photo"));
        }
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  } finally {
    watching.delete(id);
  }
}

async function cancelEmbedding() {
  if (embedJob) showStatus(await (await api("/api/cancel", { job: embedJob })).json());
}

// A reloaded page takes up the job the server still runs: its status, its Cancel button, its result.
async function resumeJob(status) {
  if (!status || status.state !== "running") return;
  embedJob = status.id;
  toonJob = status.stopping ? null : status.id;
  showStatus(status);
  if (status.has_result && toonJob) {
    toonReady = true;
    await guarded(runToonify, $("photo"));
  }
  watchJob(status.id);
}

// ---------------------------------------------------------------------------------------------
// Uploading checkpoints

async function uploadModel(kind) {
  const input = $(`upload-${kind}`);
  const file = input.files[0];
  if (!file) throw new FieldError(`choose a ${kind} checkpoint file first`, input);
  if (info && file.size > info.max_upload_mb * 2 ** 20) {
    throw new FieldError(`the file is ${(file.size / 2 ** 20).toFixed(0)} MB; the server accepts at most ` +
                         `${info.max_upload_mb} MB (restart it with 'styleblend ui --max-upload-mb' and a larger ` +
                         "number)", input);
  }
  $("upload-status").textContent = `uploading ${file.name}…`;
  let data;
  try {
    const query = `kind=${kind}&filename=${encodeURIComponent(file.name)}`;
    data = await (await api(`/api/upload?${query}`, file)).json();
  } catch (e) {
    $("upload-status").textContent = `${kind} not loaded`;
    throw new FieldError(e.message, input);
  }
  info = { ...info, ...data };
  $("upload-status").textContent = `loaded ${kind}: ${kind === "base" ? data.base : data.transfer}`;
  ["base", "transfer"].forEach((k) => clearError($(`upload-${k}`)));
  await modelsChanged();
  if (data.warning) showError(data.warning, input);
}

// New models: every panel drops the old pair's images and renders again; the embedding the server cancelled
// says so, and its latent (of the old base) is not drawn again.
async function modelsChanged() {
  modelsVersion += 1;
  toonJob = null;
  toonReady = false;
  ["preview", "mix-image", "morph-image"].forEach((id) => {
    const img = $(id);
    img.removeAttribute("src");
    img.style.width = "";
    delete img.dataset.models;
  });
  $("preview-status").textContent = "";
  liveModelsChanged();
  clearToonify();
  buildControls();
  const job = info.embed_job;
  if (job && job.id === embedJob) {
    showStatus(job);
    if (job.state === "running") watchJob(job.id);
  }
  await renderPanels();
  document.dispatchEvent(new CustomEvent("styleblend:models"));  // regions.js: the panels start again
}

async function renderPanels() {
  await runPreview();
  await Promise.all([guarded(runMix, $("mix-run")), guarded(runMorph, $("morph-run"))]);
}

// ---------------------------------------------------------------------------------------------
// Start

function wire() {
  $("error-close").addEventListener("click", () => clearError());
  wireLive();
  ["swap", "linear", "sigmoid"].forEach((kind) =>
    $(`preset-${kind}`).addEventListener("click", () => guarded(() => applyPreset(kind), $(`preset-${kind}`))));
  ["seeds", "psi", "mapping"].forEach((id) => $(id).addEventListener("change", () => schedulePreview(0)));
  $("download").addEventListener("click", () => guarded(download, $("download")));
  $("recipe-copy").addEventListener("click", () => guarded(copyRecipe, $("recipe-copy")));
  $("mix-layers").addEventListener("input", markLayers);
  $("recipe-file").addEventListener("change", () => guarded(loadRecipeFile, $("recipe-file")));
  $("mix-run").addEventListener("click", () => guarded(runMix, $("mix-run")));
  $("morph-run").addEventListener("click", () => guarded(runMorph, $("morph-run")));
  $("embed-run").addEventListener("click", () => guarded(startEmbedding, $("photo")));
  $("photo").addEventListener("change", () => { if ($("photo").files.length) guarded(startEmbedding, $("photo")); });
  // Turning the feature head on or off embeds the chosen photo again (the other kind of latent).
  $("embed-features").addEventListener("change", () => {
    if ($("photo").files.length) guarded(startEmbedding, $("photo"));
  });
  $("embed-cancel").addEventListener("click", () => guarded(cancelEmbedding, $("photo")));
  ["base", "transfer"].forEach((kind) => $(`upload-${kind}-run`).addEventListener(
    "click", () => guarded(() => uploadModel(kind), $(`upload-${kind}`))));
}

async function start() {
  wire();
  const loaded = await guarded(async () => { info = await (await api("/api/info")).json(); });
  if (loaded) {
    buildControls();
    await guarded(restoreFromURL, $("recipe-copy"));
    await resumeJob(info.embed_job);
    await renderPanels();
    document.dispatchEvent(new CustomEvent("styleblend:models"));  // regions.js: the models are loaded
  }
  document.body.dataset.ready = "1";
}

document.addEventListener("DOMContentLoaded", start);
