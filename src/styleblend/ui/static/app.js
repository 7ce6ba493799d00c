// styleblend web UI: vanilla JS over the JSON API of styleblend/ui/server.py.
"use strict";

const $ = (id) => document.getElementById(id);
let info = null;          // /api/info: resolutions, models, limits
let embedJob = null;      // id of the last embedding job
let toonReady = false;    // that job has a result to render through the blend

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
    throw new Error(message);
  }
  return res;
}

function showError(message) {
  $("error-text").textContent = message;
  $("error").hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error-text").textContent = "";
}

function toDataURL(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

// Show a PNG response; small models are enlarged with crisp pixels.
async function showImage(img, res) {
  const url = await toDataURL(await res.blob());
  const zoom = Math.max(1, Math.floor(160 / (info ? info.img_resolution : 64)));
  img.onload = () => { img.style.width = `${img.naturalWidth * zoom}px`; };
  img.src = url;
}

// Run an async action; show its error in the page instead of breaking it.
async function guarded(action) {
  try {
    await action();
  } catch (e) {
    showError(e.message);
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

function setAlphas(values) {
  document.querySelectorAll("#sliders input").forEach((slider, i) => {
    slider.value = values[i];
    slider.nextElementSibling.value = Number(values[i]).toFixed(2);
  });
}

function buildControls() {
  const res = info.resolutions;
  const px = (r) => `${r} px`;
  const sliders = $("sliders");
  sliders.replaceChildren();
  res.forEach((r) => {
    const label = document.createElement("label");
    label.textContent = px(r);
    label.htmlFor = `alpha-${r}`;
    const slider = document.createElement("input");
    Object.assign(slider, { type: "range", id: `alpha-${r}`, min: 0, max: 1, step: 0.01 });
    slider.dataset.res = r;
    const out = document.createElement("output");
    slider.addEventListener("input", () => {
      out.value = Number(slider.value).toFixed(2);
      schedulePreview();
    });
    sliders.append(label, slider, out);
  });
  setAlphas(info.alphas);
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
  embedDefaults();
  $("models").textContent = `base: ${info.base} · transfer: ${info.transfer}`;
  if (info.pair_error) showError(info.pair_error);
}

let previewTimer = null;
let previewBusy = false;
let previewAgain = false;
let previewSeq = 0;

function schedulePreview(delay = 60) {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(runPreview, delay);
}

// One request at a time; moves made meanwhile are previewed as soon as it returns.
async function runPreview() {
  if (previewBusy) {
    previewAgain = true;
    return;
  }
  previewBusy = true;
  try {
    const started = performance.now();
    const res = await api("/api/preview", {
      alphas: alphas(), seeds: $("seeds").value, psi: Number($("psi").value), mapping: $("mapping").value,
    });
    await showImage($("preview"), res);
    $("preview").dataset.seq = String(++previewSeq);
    const total = Math.round(performance.now() - started);
    $("preview-status").textContent =
      `${res.headers.get("X-Schedule")} · server ${res.headers.get("X-Elapsed-Ms")} ms, total ${total} ms`;
    if (toonReady) scheduleToonify();
  } catch (e) {
    showError(e.message);
  } finally {
    previewBusy = false;
    if (previewAgain) {
      previewAgain = false;
      runPreview();
    }
  }
}

async function applyPreset(kind) {
  const body = { kind, flip: $("preset-flip").checked };
  if (kind === "swap") body.res = Number($("swap-res").value);
  if (kind === "linear") {
    body.from_res = Number($("linear-from").value);
    body.to_res = Number($("linear-to").value);
  }
  if (kind === "sigmoid") {
    body.centre = Number($("sigmoid-centre").value);
    body.width = Number($("sigmoid-width").value);
  }
  const data = await (await api("/api/preset", body)).json();
  setAlphas(data.alphas);
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
// Editing panels

function editBody(prefix) {
  return {
    seed_a: Number($(`${prefix}-a`).value), seed_b: Number($(`${prefix}-b`).value),
    psi: Number($("psi").value), model: $(`${prefix}-model`).value, alphas: alphas(), mapping: $("mapping").value,
  };
}

async function runMix() {
  const res = await api("/api/mix", { ...editBody("mix"), layers: $("mix-layers").value });
  await showImage($("mix-image"), res);
}

async function runMorph() {
  const res = await api("/api/morph", { ...editBody("morph"), steps: Number($("morph-steps").value) });
  await showImage($("morph-image"), res);
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
  toonTimer = setTimeout(() => guarded(runToonify), 150);
}

async function runToonify() {
  if (!embedJob) return;
  const job = embedJob;
  const seq = ++toonSeq;
  const res = await api("/api/toonify", { job, alphas: alphas(), mapping: $("mapping").value });
  if (seq !== toonSeq || job !== embedJob) return;  // a newer photo or a newer request won
  const stage = res.headers.get("X-Embedding-Stage") || "";
  const steps = res.headers.get("X-Embedding-Steps") || "0";
  const img = $("toonify-image");
  await showImage(img, res);
  img.dataset.stage = stage;
  img.dataset.job = job;
  img.dataset.steps = steps;
  let text = `${STAGE_TEXT[stage] || stage}`;
  if (stage === "refined") text += ` (encoder + ${steps} steps)`;
  if (stage === "optimised") text += ` (${steps} steps)`;
  if (res.headers.get("X-Embedding-Cancelled") === "1") text += ", stopped early";
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
    ? `${info.encoder_note}: the photo's latent is shown at once, then refined in the background.`
    : info.encoder_note;
}

async function startEmbedding() {
  const file = $("photo").files[0];
  if (!file) throw new Error("choose a photo first");
  if (info && file.size > info.max_image_mb * 2 ** 20) {
    throw new Error(`the photo is ${(file.size / 2 ** 20).toFixed(1)} MB; the limit is ${info.max_image_mb} MB`);
  }
  const steps = Number($("embed-steps").value);
  const align = $("embed-align").checked ? "1" : "0";
  const query = `steps=${encodeURIComponent(steps)}&align=${align}&filename=${encodeURIComponent(file.name)}`;
  const data = await (await api(`/api/embed?${query}`, file)).json();
  embedJob = data.job;
  toonReady = false;
  $("embed-cancel").disabled = false;
  $("embed-run").disabled = true;
  $("embed-progress").max = steps || 1;
  $("embed-progress").value = 0;
  showStatus(data.status);
  if (data.status.has_result) {  // the encoder's latent: draw it now, refine meanwhile
    toonReady = true;
    await guarded(runToonify);
  }
  pollJob(data.job);
}

function showStatus(status) {
  $("embed-progress").max = status.total || 1;
  $("embed-progress").value = status.done;
  const extra = status.info;
  const loss = extra.loss == null ? "" : ` · loss ${Number(extra.loss).toPrecision(4)}`;
  const encoder = extra.encoder_ms == null ? "" : ` · encoder ${extra.encoder_ms} ms`;
  const note = extra.warning ? ` · ${extra.warning}` : "";
  $("embed-status").textContent =
    `${status.state}: step ${status.done}/${status.total}${loss}${encoder} · ${status.seconds} s${note}`;
}

async function pollJob(id) {
  let status;
  try {
    status = await (await api(`/api/job?id=${encodeURIComponent(id)}`)).json();
  } catch (e) {
    if (id === embedJob) {
      showError(e.message);
      finishJob();
    }
    return;
  }
  if (id !== embedJob) return;  // a newer photo replaced this job
  showStatus(status);
  if (status.state === "running") {
    setTimeout(() => pollJob(id), 300);
    return;
  }
  finishJob();
  if (status.state === "failed") showError(status.error);
  if (status.has_result) {
    toonReady = true;
    await guarded(runToonify);
  }
}

function finishJob() {
  $("embed-cancel").disabled = true;
  $("embed-run").disabled = false;
}

async function cancelEmbedding() {
  if (embedJob) await api("/api/cancel", { job: embedJob });
}

// ---------------------------------------------------------------------------------------------
// Uploading checkpoints

async function uploadModel(kind) {
  const file = $(`upload-${kind}`).files[0];
  if (!file) throw new Error(`choose a ${kind} checkpoint file first`);
  if (info && file.size > info.max_upload_mb * 2 ** 20) {
    throw new Error(`the file is ${(file.size / 2 ** 20).toFixed(0)} MB; the server accepts at most ` +
                    `${info.max_upload_mb} MB (restart it with a larger --max-upload-mb)`);
  }
  $("upload-status").textContent = `uploading ${file.name}…`;
  try {
    const query = `kind=${kind}&filename=${encodeURIComponent(file.name)}`;
    const data = await (await api(`/api/upload?${query}`, file)).json();
    info = { ...info, ...data };
    embedJob = null;  // the server cancelled its job: the latent belongs to the old models
    toonReady = false;
    finishJob();
    buildControls();
    $("upload-status").textContent = `loaded ${kind}: ${kind === "base" ? data.base : data.transfer}`;
    if (data.warning) {
      showError(data.warning);
    } else {
      clearError();
      await runPreview();
    }
  } catch (e) {
    $("upload-status").textContent = `${kind} not loaded`;
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Start

function wire() {
  $("error-close").addEventListener("click", clearError);
  ["swap", "linear", "sigmoid"].forEach((kind) =>
    $(`preset-${kind}`).addEventListener("click", () => guarded(() => applyPreset(kind))));
  ["seeds", "psi", "mapping"].forEach((id) => $(id).addEventListener("change", () => schedulePreview(0)));
  $("download").addEventListener("click", () => guarded(download));
  $("mix-run").addEventListener("click", () => guarded(runMix));
  $("morph-run").addEventListener("click", () => guarded(runMorph));
  $("embed-run").addEventListener("click", () => guarded(startEmbedding));
  $("photo").addEventListener("change", () => { if ($("photo").files.length) guarded(startEmbedding); });
  $("embed-cancel").addEventListener("click", () => guarded(cancelEmbedding));
  $("upload-base-run").addEventListener("click", () => guarded(() => uploadModel("base")));
  $("upload-transfer-run").addEventListener("click", () => guarded(() => uploadModel("transfer")));
}

async function start() {
  wire();
  await guarded(async () => {
    info = await (await api("/api/info")).json();
    buildControls();
    await runPreview();
    await Promise.all([guarded(runMix), guarded(runMorph)]);
  });
  document.body.dataset.ready = "1";
}

document.addEventListener("DOMContentLoaded", start);
