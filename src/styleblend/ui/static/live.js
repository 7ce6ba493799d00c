// styleblend web UI, live tuning (issue 13 items 3 and 8): progressive previews while a slider is dragged,
// undo/redo of α changes and the seed browser. Loaded before app.js, whose helpers (api, showImage, alphas,
// setAlphas, numberField, saveToURL, showError...) it uses at run time; app.js calls wireLive() and
// resetHistory().
"use strict";

// ---------------------------------------------------------------------------------------------
// Previews: throttled while dragging; each request is numbered in this tab's stream, and the server stops
// rendering one that a newer request superseded (409). A big model answers first with a low-resolution stage
// (X-Preview-Stage: low), then the page asks for the full-resolution rows one by one until the grid is final.

const PREVIEW_THROTTLE_MS = 120;  // at most one new preview request per this while a slider moves
const previewStream = Math.random().toString(36).slice(2, 12);
let previewRequest = 0;       // number of the newest preview request of this tab
let previewTimer = null;
let previewLastStart = -Infinity;
let previewSeq = 0;           // +1 per image drawn (tests and the status line follow it)

// delay 0: now (a seeds / ψ / mapping change); otherwise throttled: the first move of a drag is previewed at
// once, later moves at most every PREVIEW_THROTTLE_MS, and the last position always.
function schedulePreview(delay) {
  if (delay === 0) {
    clearTimeout(previewTimer);
    previewTimer = null;
    runPreview();
    return;
  }
  if (previewTimer !== null) return;  // a preview is already due: it will read the sliders then
  const wait = Math.max(0, previewLastStart + PREVIEW_THROTTLE_MS - performance.now());
  previewTimer = setTimeout(() => {
    previewTimer = null;
    runPreview();
  }, wait);
}

async function runPreview() {
  previewLastStart = performance.now();
  const request = ++previewRequest;
  const control = $("seeds");
  clearError(control);
  const img = $("preview");
  try {
    const started = performance.now();
    const version = modelsVersion;
    const body = { alphas: alphas(), seeds: $("seeds").value, psi: numberField("psi", "truncation ψ"),
                   mapping: $("mapping").value, stream: previewStream, seq: request, full_rows: 0 };
    for (;;) {
      let res;
      try {
        res = await api("/api/preview", body);
      } catch (e) {
        if (e.status === 409) return;  // superseded: the newer request draws
        throw e;
      }
      if (request !== previewRequest) return;  // a newer request started meanwhile
      const stage = res.headers.get("X-Preview-Stage") || "full";
      const fullRows = Number(res.headers.get("X-Preview-Full-Rows") || 0);
      const rows = Number(res.headers.get("X-Preview-Rows") || 0);
      const width = Number(res.headers.get("X-Preview-Width")) || undefined;  // the first stage is smaller
      if (!await showImage(img, res, version, width) || request !== previewRequest) return;
      img.dataset.seq = String(++previewSeq);
      img.dataset.stage = stage;
      img.dataset.fullRows = String(fullRows);
      const total = Math.round(performance.now() - started);
      const low = res.headers.get("X-Preview-Low-Resolution");
      const shown = stage === "low" ? ` · ${fullRows} of ${rows} seeds at full resolution, the next at ${low} px`
        : "";
      $("preview-status").textContent =
        `${res.headers.get("X-Schedule")} · server ${res.headers.get("X-Elapsed-Ms")} ms, total ${total} ms${shown}`;
      if (stage !== "low") {
        saveToURL(res.headers.get("X-Schedule"));
        break;
      }
      body.full_rows = fullRows + 1;  // the next seed at full resolution
    }
    if (toonReady) scheduleToonify();
  } catch (e) {
    if (request === previewRequest) showError(e.message, e.control || control);
  }
}

// ---------------------------------------------------------------------------------------------
// Undo / redo of α changes: a slider released, a preset, a recipe or an address makes one step; the buttons
// and Ctrl-Z / Ctrl-Shift-Z (Ctrl-Y) walk through them. New models start a new history.

const alphaHistory = { past: [], future: [], current: null };

function sameAlphas(a, b) {
  return a !== null && b !== null && a.length === b.length && a.every((v, i) => Number(v) === Number(b[i]));
}

function resetHistory() {
  alphaHistory.past = [];
  alphaHistory.future = [];
  alphaHistory.current = alphas();
  historyButtons();
}

// Call after the sliders took a new value that should be one undo step.
function recordAlphas() {
  const now = alphas();
  if (sameAlphas(now, alphaHistory.current)) return;
  if (alphaHistory.current !== null) alphaHistory.past.push(alphaHistory.current);
  alphaHistory.current = now;
  alphaHistory.future = [];
  historyButtons();
}

function historyButtons() {
  $("undo").disabled = alphaHistory.past.length === 0;
  $("redo").disabled = alphaHistory.future.length === 0;
}

function stepHistory(from, to) {
  if (!from.length) return;
  to.push(alphaHistory.current);
  alphaHistory.current = from.pop();
  setAlphas(alphaHistory.current);
  historyButtons();
  schedulePreview(0);
}

const undoAlphas = () => stepHistory(alphaHistory.past, alphaHistory.future);
const redoAlphas = () => stepHistory(alphaHistory.future, alphaHistory.past);

// Ctrl-Z in a text field undoes its text, as everywhere; elsewhere (sliders included) it undoes α.
function historyKeys(event) {
  if (!(event.ctrlKey || event.metaKey) || event.altKey) return;
  const target = event.target;
  const typing = target instanceof HTMLTextAreaElement ||
    (target instanceof HTMLInputElement && !["range", "checkbox", "button", "file"].includes(target.type));
  if (typing) return;
  const key = event.key.toLowerCase();
  if (key === "z" && !event.shiftKey) undoAlphas();
  else if ((key === "z" && event.shiftKey) || key === "y") redoAlphas();
  else return;
  event.preventDefault();
}

// ---------------------------------------------------------------------------------------------
// Seed browser: 16 base thumbnails from a first seed; a click adds the seed to the preview's seeds or
// removes it.

let seedPage = null;  // {seeds, columns, thumb} of the page shown

async function showSeedPage() {
  const start = numberField("seed-start", "first seed");
  const version = modelsVersion;
  const res = await api("/api/seeds", { start, psi: numberField("psi", "truncation ψ") });
  const page = { seeds: res.headers.get("X-Seeds").split(",").map(Number),
                 columns: Number(res.headers.get("X-Seed-Columns")), thumb: Number(res.headers.get("X-Seed-Thumb")) };
  if (await showImage($("seed-grid"), res, version)) {
    seedPage = page;
    $("seed-grid").dataset.first = String(page.seeds[0]);
    markPickedSeeds();
  }
}

function turnSeedPage(step) {
  const input = $("seed-start");
  input.value = String(Math.max(0, Number(input.value || 0) + step * 16));
  return showSeedPage();
}

function previewSeeds() {
  return $("seeds").value.split(",").map((s) => s.trim()).filter(Boolean);
}

function markPickedSeeds() {
  $("seed-picked").textContent = seedPage
    ? `preview seeds: ${$("seeds").value}` : "";
}

// The cell under the click (thumbnails are `thumb` px apart by 2 px, drawn scaled).
function pickSeed(event) {
  if (!seedPage) return;
  const img = $("seed-grid");
  const scale = img.naturalWidth / img.getBoundingClientRect().width;
  const x = event.offsetX * scale;
  const y = event.offsetY * scale;
  const pitch = seedPage.thumb + 2;
  const col = Math.floor(x / pitch);
  const row = Math.floor(y / pitch);
  if (x - col * pitch >= seedPage.thumb || y - row * pitch >= seedPage.thumb || col >= seedPage.columns) return;
  const seed = seedPage.seeds[row * seedPage.columns + col];
  if (seed === undefined) return;
  const seeds = previewSeeds();
  const at = seeds.indexOf(String(seed));
  if (at >= 0 && seeds.length > 1) seeds.splice(at, 1);
  else if (at < 0) seeds.push(String(seed));
  if (seeds.length > info.max_seeds) seeds.shift();  // the oldest pick makes room
  $("seeds").value = seeds.join(",");
  markPickedSeeds();
  schedulePreview(0);
}

// New models: another base, so the seed page and its thumbnails go (the history restarts in buildControls).
function liveModelsChanged() {
  seedPage = null;
  const grid = $("seed-grid");
  grid.removeAttribute("src");
  grid.style.width = "";
  markPickedSeeds();
  if ($("seed-browser").open) guarded(showSeedPage, $("seed-start"));
}

function wireLive() {
  $("undo").addEventListener("click", undoAlphas);
  $("redo").addEventListener("click", redoAlphas);
  document.addEventListener("keydown", historyKeys);
  $("seed-browser").addEventListener("toggle", () => {
    if ($("seed-browser").open && !seedPage) guarded(showSeedPage, $("seed-start"));
  });
  $("seed-show").addEventListener("click", () => guarded(showSeedPage, $("seed-start")));
  $("seed-prev").addEventListener("click", () => guarded(() => turnSeedPage(-1), $("seed-start")));
  $("seed-next").addEventListener("click", () => guarded(() => turnSeedPage(1), $("seed-start")));
  $("seed-grid").addEventListener("click", pickSeed);
  $("seeds").addEventListener("change", markPickedSeeds);
}
