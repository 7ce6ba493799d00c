// styleblend web UI: the "Blend a region" and "Auto α" panels (server side: styleblend/ui/regions.py).
// Loaded after app.js, whose helpers it uses ($, api, guarded, showError, clearError, numberField, FieldError,
// showImage, alphas, setAlphas, runPreview, info, modelsVersion). app.js sends "styleblend:models" when the
// models are first loaded and after every upload; these panels then start again for the new pair.
"use strict";

(() => {
  const state = {
    meta: null,      // /api/regions/info: defaults, limits, auto α availability
    map: null,       // the last part map: geometry and labels, to find the part under a click
    region: null,    // {part: k} or {mask: true}: what the region blend renders
    mask: null,      // Uint8Array S*S, 1 = painted
    maskSize: 0,
    painting: false,
    autoJob: null,   // the auto α job the panel follows
    result: null,    // its result (alphas to apply)
    panelsSet: false,  // the fields took the server's defaults (once: later model changes keep the user's values)
  };

  const PANELS = `
    <section id="regions-panel">
      <h2>Blend a region</h2>
      <p class="hint">Parts of the base, found by clustering one layer's features over sample images (the numbers
        <code>styleblend regions</code> gives with the same parts, samples and layer). Click a part on the map, or
        paint a region on the image; the preview seeds are then rendered with the transfer's features mixed in
        inside the region (a feature blend: it needs both models at render time, so it is not a downloadable
        model), next to the blend of the sliders.</p>
      <div class="row">
        <label>parts <input id="region-parts" type="number" min="2" max="12" value="6"></label>
        <label>samples <input id="region-samples" type="number" min="1" max="64" value="16"></label>
        <label>layer <input id="region-layer" size="7" placeholder="b32"></label>
        <button id="region-find" type="button">Find parts</button>
      </div>
      <div class="region-sources">
        <div class="figure">
          <div class="columns"><span>base</span><span>parts (click one)</span></div>
          <img id="region-map" class="region-map" alt="the preview seeds and their part maps; click a part">
        </div>
        <div class="region-paint">
          <div class="paint-box">
            <img id="region-paint-base" alt="the first preview seed, to paint a region on">
            <canvas id="region-canvas" title="paint the region (drag); 'erase' removes paint"></canvas>
          </div>
          <div class="row">
            <label>brush <input id="region-brush" type="number" min="1" max="32" value="3"></label>
            <label><input id="region-erase" type="checkbox"> erase</label>
            <button id="region-clear" type="button">Clear</button>
          </div>
        </div>
      </div>
      <div class="row">
        <label>region α <input id="region-alpha" type="range" min="0" max="1" step="0.05" value="1">
          <output id="region-alpha-out">1.00</output></label>
        <label>feather <input id="region-feather" type="number" min="0" max="64" step="0.5" value="1"></label>
        <label title="blocks after which the features are mixed, e.g. 32-64 or 16,32 (default: from the analysed
          layer to the output)">mix after blocks <input id="region-layers" size="7" placeholder="32-64"></label>
        <button id="region-render" type="button">Render region blend</button>
      </div>
      <p id="region-status" class="status"></p>
      <div class="figure">
        <div class="columns"><span>base</span><span>transfer</span><span>blend</span><span>region blend</span>
          <span>region</span></div>
        <img id="region-image" class="zoom" alt="base | transfer | blend | feature region blend | region">
      </div>
    </section>
    <section id="auto-panel">
      <h2>Auto α</h2>
      <p class="hint">Search a per-resolution α table that a critic (a discriminator of the transfer's domain)
        finds realistic while the renderings stay close to the base's at low resolution; every plain swap is
        scored too. Shows the Pareto front and the chosen table, which you can put on the sliders.</p>
      <p id="auto-note" class="hint"></p>
      <div class="row">
        <label>budget (s) <input id="auto-budget" type="number" min="1" max="600" value="120"></label>
        <label>samples <input id="auto-samples" type="number" min="1" max="64" value="16"></label>
        <label>validation <input id="auto-validation" type="number" min="0" max="64" value="64"></label>
        <label title="one-sided level of the paired bounds that decide 'beats a swap' (0: compare the means)">confidence
          <input id="auto-confidence" type="number" min="0" max="0.999" step="0.01" value="0.95"></label>
        <button id="auto-run" type="button">Auto α</button>
        <button id="auto-cancel" type="button" disabled>Cancel</button>
      </div>
      <div class="row">
        <progress id="auto-progress" value="0" max="1"></progress>
        <span id="auto-status" class="status"></span>
      </div>
      <img id="auto-plot" class="auto-plot" alt="Pareto front: realism against structure distance">
      <table id="auto-table" class="auto-table"></table>
      <div class="row">
        <button id="auto-apply" type="button" disabled>Apply table to the sliders</button>
        <span id="auto-applied" class="status"></span>
      </div>
    </section>`;

  // ---------------------------------------------------------------------------------------------
  // Part map: find parts, click one

  function analysis() {
    return {
      parts: numberField("region-parts", "parts"), samples: numberField("region-samples", "samples"),
      layer: $("region-layer").value.trim() || null,
    };
  }

  async function findParts() {
    const version = modelsVersion;
    const body = { ...analysis(), seeds: $("seeds").value, psi: numberField("psi", "truncation ψ") };
    $("region-status").textContent = "finding parts…";
    const map = await (await api("/api/regions/parts", body)).json();
    if (version !== modelsVersion) return;
    state.map = map;
    const img = $("region-map");
    img.src = map.png;
    img.dataset.layer = map.layer;
    $("region-paint-base").src = map.base_png;
    if (state.region && state.region.part !== undefined && state.region.part >= map.parts) state.region = null;
    $("region-status").textContent = `${map.parts} parts of ${map.layer} found on seeds 0–${map.samples - 1}; ` +
      "click one, or paint a region";
    img.dataset.ready = String(Number(img.dataset.ready || 0) + 1);
  }

  // The part under a click: the grid cell (image or part map) and the pixel in it, read from the labels.
  function partAt(event) {
    const map = state.map;
    const img = $("region-map");
    if (!map || !img.clientWidth) return null;
    const x = event.offsetX * img.naturalWidth / img.clientWidth;
    const y = event.offsetY * img.naturalHeight / img.clientHeight;
    const step = map.cell + map.pad;
    const col = Math.floor(x / step);
    const row = Math.floor(y / step);
    const cx = x - col * step;
    const cy = y - row * step;
    if (col >= map.cols || row >= map.labels.length || cx >= map.cell || cy >= map.cell) return null;  // a gap
    const px = Math.floor(cx * map.res / map.cell);
    const py = Math.floor(cy * map.res / map.cell);
    return map.labels[row][py * map.res + px];
  }

  async function pickPart(event) {
    const part = partAt(event);
    if (part === null || part === undefined) return;
    state.region = { part };
    $("region-map").dataset.part = String(part);
    await renderRegion();
  }

  // ---------------------------------------------------------------------------------------------
  // Painting a mask

  function setupCanvas() {
    const sizes = (state.meta ? state.meta.mask_sizes : []).filter((s) => s <= Math.min(info.img_resolution, 128));
    const size = sizes.length ? sizes[sizes.length - 1] : 0;
    if (size !== state.maskSize) {
      state.maskSize = size;
      state.mask = new Uint8Array(size * size);
      $("region-canvas").width = size;
      $("region-canvas").height = size;
    }
    drawMask();
  }

  function drawMask() {
    const canvas = $("region-canvas");
    const size = state.maskSize;
    if (!size) return;
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(size, size);
    state.mask.forEach((v, i) => {
      if (v) image.data.set([230, 30, 30, 140], 4 * i);
    });
    ctx.putImageData(image, 0, 0);
    canvas.dataset.painted = String(state.mask.reduce((a, b) => a + b, 0));
  }

  function paintAt(event) {
    const canvas = $("region-canvas");
    const size = state.maskSize;
    const box = canvas.getBoundingClientRect();
    const cx = Math.floor((event.clientX - box.left) * size / box.width);
    const cy = Math.floor((event.clientY - box.top) * size / box.height);
    const radius = Math.max(0, Math.min(32, Number($("region-brush").value) || 1) - 1);
    const value = $("region-erase").checked ? 0 : 1;
    for (let y = Math.max(0, cy - radius); y <= Math.min(size - 1, cy + radius); y += 1) {
      for (let x = Math.max(0, cx - radius); x <= Math.min(size - 1, cx + radius); x += 1) {
        if ((x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2) state.mask[y * size + x] = value;
      }
    }
    drawMask();
  }

  async function strokeEnded() {
    if (!state.painting) return;
    state.painting = false;
    if (state.mask.some((v) => v)) {
      state.region = { mask: true };
      delete $("region-map").dataset.part;
      await renderRegion();
    }
  }

  function clearMask() {
    state.mask.fill(0);
    drawMask();
    if (state.region && state.region.mask) state.region = null;
  }

  // ---------------------------------------------------------------------------------------------
  // Rendering the region blend

  async function renderRegion() {
    const control = $("region-render");
    clearError(control);
    if (!state.region) throw new FieldError("pick a part on the part map or paint a region first", control);
    const body = {
      ...analysis(), seeds: $("seeds").value, psi: numberField("psi", "truncation ψ"), alphas: alphas(),
      mapping: $("mapping").value, alpha: Number($("region-alpha").value),
      feather: numberField("region-feather", "feather"), layers: $("region-layers").value.trim() || null,
    };
    if (state.region.mask) {
      body.mask = { size: state.maskSize, bits: state.mask.join("") };
    } else {
      body.part = state.region.part;
    }
    const version = modelsVersion;
    const res = await api("/api/regions/render", body);
    const img = $("region-image");
    if (!await showImage(img, res, version)) return;
    img.dataset.region = state.region.mask ? "mask" : `part ${state.region.part}`;
    img.dataset.seq = String(Number(img.dataset.seq || 0) + 1);
    const what = state.region.mask ? "the painted region" : `part ${state.region.part}`;
    $("region-status").textContent = `feature blend of ${what} · server ${res.headers.get("X-Elapsed-Ms")} ms`;
  }

  // ---------------------------------------------------------------------------------------------
  // Auto α: a background job (progress, cancel), then the front and the chosen table

  function showAutoNote() {
    const auto = state.meta.auto;
    $("auto-note").textContent = auto.available ? `critic: ${auto.critic}` : `unavailable: ${auto.reason}`;
    $("auto-note").dataset.available = auto.available ? "1" : "0";
    $("auto-run").disabled = !auto.available;
  }

  async function startAuto() {
    const body = {
      budget_s: numberField("auto-budget", "budget"), samples: numberField("auto-samples", "samples"),
      validation: numberField("auto-validation", "validation"),
      confidence: numberField("auto-confidence", "confidence"),
    };
    const data = await (await api("/api/auto/start", body)).json();
    clearResult();
    state.autoJob = data.job;
    showAutoStatus(data.status);
    watchAuto(data.job);
  }

  function showAutoStatus(status) {
    const running = status.state === "running";
    const stopping = running && status.stopping;
    $("auto-progress").max = status.total || 1;
    $("auto-progress").value = status.done;
    const extra = status.info || {};
    const why = status.stopped_because ? ` (${status.stopped_because})` : "";
    const stage = running && extra.stage ? ` · ${extra.stage}` : "";
    const line = $("auto-status");
    line.textContent = `${stopping ? "stopping" : status.state}${why}: ${status.done}/${status.total} s` +
      `${stage} · ${extra.evaluations || 0} tables scored`;
    line.dataset.state = stopping ? "stopping" : status.state;
    line.dataset.job = status.id;
    $("auto-cancel").disabled = !running || stopping;
    $("auto-run").disabled = (running && !stopping) || !state.meta.auto.available;
  }

  async function watchAuto(id) {
    for (;;) {
      if (id !== state.autoJob) return;
      const status = await (await api(`/api/job?id=${encodeURIComponent(id)}`)).json();
      if (id !== state.autoJob) return;
      showAutoStatus(status);
      if (status.state !== "running") {
        if (status.state === "failed") showError(status.error, $("auto-run"));
        if (status.state === "done" && status.has_result) await showResult(id);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
  }

  function clearResult() {
    state.result = null;
    $("auto-plot").removeAttribute("src");
    $("auto-table").replaceChildren();
    $("auto-apply").disabled = true;
    $("auto-applied").textContent = "";
  }

  function tableRow(cells, header = false) {
    const tr = document.createElement("tr");
    cells.forEach((text) => {
      const cell = document.createElement(header ? "th" : "td");
      cell.textContent = text;
      tr.append(cell);
    });
    return tr;
  }

  async function showResult(id) {
    const result = await (await api(`/api/auto/result?id=${encodeURIComponent(id)}`)).json();
    if (id !== state.autoJob) return;
    state.result = result;
    $("auto-plot").src = result.plot;
    const chosen = result.validation ? result.validation.chosen : result.chosen;
    const swaps = result.validation ? result.validation.swaps : result.swaps;
    const table = $("auto-table");
    table.replaceChildren(
      tableRow(["", ...result.resolutions.map((r) => `${r} px`), "realism", "distance"], true),
      tableRow([result.validation ? "chosen α (validation scores)" : "chosen α",
                ...result.alphas.map((a) => a.toFixed(3)), chosen.realism.toFixed(3),
                chosen.distance.toFixed(2)]),
    );
    table.dataset.alphas = JSON.stringify(result.alphas);
    const where = result.validation ? ` on ${result.validation.samples} validation latents` : "";
    // Beyond chance: every latent's paired margin, one-sided bounds at the search's confidence (as the CLI prints).
    const sure = result.confidence ? `, ${result.confident_swaps.length} of them beyond chance ` +
      `(${Math.round(result.confidence * 100)} % paired bounds)` : "";
    $("auto-applied").textContent = `beats ${result.beaten_swaps.length} of ${swaps.length} plain swaps on both ` +
      `scores${where}${sure}; ${result.evaluations} tables in ${result.elapsed_s} s (critic: ${result.critic})`;
    $("auto-apply").disabled = false;
  }

  async function applyResult() {
    if (!state.result) return;
    // The table has up to 4 decimals; the sliders' 0.01 step would round it to another blend than the one the
    // search scored, so they take any value from here on (until the models change and they are rebuilt).
    document.querySelectorAll("#sliders input").forEach((slider) => { slider.step = "any"; });
    setAlphas(state.result.alphas);
    $("auto-applied").textContent = `applied ${state.result.table}`;
    $("auto-apply").dataset.applied = state.result.job;
    await runPreview();
  }

  async function cancelAuto() {
    if (state.autoJob) {
      showAutoStatus(await (await api("/api/cancel", { job: state.autoJob })).json());
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Start, and again for new models

  async function modelsLoaded() {
    state.map = null;
    state.region = null;
    $("region-map").removeAttribute("src");
    $("region-image").removeAttribute("src");
    $("region-image").style.width = "";
    state.meta = await (await api("/api/regions/info")).json();
    const d = state.meta.defaults;
    if (!state.panelsSet) {  // the defaults come from the server (ui/regions.py DEFAULTS)
      state.panelsSet = true;
      $("region-parts").value = d.parts;
      $("region-samples").value = d.samples;
      $("region-feather").value = d.feather;
      $("auto-budget").value = d.budget_s;
      $("auto-samples").value = d.auto_samples;
      $("auto-validation").value = d.auto_validation;
      $("auto-confidence").value = d.auto_confidence;
    }
    state.maskSize = 0;
    setupCanvas();
    showAutoNote();
    const job = state.meta.auto_job;
    if (job && (job.state === "running" || job.has_result || job.stopped_because)) {
      if (job.id !== state.autoJob) clearResult();
      state.autoJob = job.id;
      showAutoStatus(job);
      if (job.state === "running" || job.has_result) watchAuto(job.id);
    }
    await guarded(findParts, $("region-find"));
  }

  function wire() {
    const main = document.querySelector("main");
    main.insertAdjacentHTML("beforeend", PANELS);
    $("region-find").addEventListener("click", () => guarded(findParts, $("region-find")));
    $("region-map").addEventListener("click", (e) => guarded(() => pickPart(e), $("region-render")));
    $("region-render").addEventListener("click", () => guarded(renderRegion, $("region-render")));
    $("region-alpha").addEventListener("input", () => {
      $("region-alpha-out").value = Number($("region-alpha").value).toFixed(2);
    });
    const canvas = $("region-canvas");
    canvas.addEventListener("pointerdown", (e) => {
      if (!state.maskSize) return;
      state.painting = true;
      canvas.setPointerCapture(e.pointerId);
      paintAt(e);
    });
    canvas.addEventListener("pointermove", (e) => { if (state.painting) paintAt(e); });
    ["pointerup", "pointercancel"].forEach((kind) =>
      canvas.addEventListener(kind, () => guarded(strokeEnded, $("region-render"))));
    $("region-clear").addEventListener("click", clearMask);
    $("auto-run").addEventListener("click", () => guarded(startAuto, $("auto-run")));
    $("auto-cancel").addEventListener("click", () => guarded(cancelAuto, $("auto-run")));
    $("auto-apply").addEventListener("click", () => guarded(applyResult, $("auto-apply")));
    ["seeds", "psi"].forEach((id) => $(id).addEventListener("change", () => {
      if (state.map) guarded(findParts, $("region-find"));
    }));
    document.addEventListener("styleblend:models", () => guarded(modelsLoaded, $("region-find")));
  }

  wire();
})();
