// styleblend web UI: comparing blends (issue 13, item 2). The preview grid (rows = seeds, columns = base |
// transfer | blend) is drawn as large as the panel and the window allow, with seed labels on its rows and the
// models' names on its columns; holding B (or the A/B button) shows the base in the blend column; a click on any
// cell of a grid image opens it at the model's native resolution (whole multiples, crisp pixels, when the cell is
// smaller than the window). Uses app.js's $ and info; app.js sets the preview's data-seeds.
"use strict";

(() => {
  const PAD = 2;  // white pixels between grid cells (PAD in styleblend/ui/service.py)
  const BLEND_COLUMN = 2;
  const HEIGHT_SHARE = 0.8;  // of the window's height the preview may take (its controls stay in reach)
  let held = false;  // B held: the blend column shows the base
  let zoomed = null;  // {img, row, col} of the cell the overlay shows

  const cellSize = () => (info ? info.img_resolution : 0);

  // How many whole cells a grid image of natural size w x h holds, or null when it is not a grid of cells.
  function gridOf(img) {
    const R = cellSize();
    const cols = (img.naturalWidth + PAD) / (R + PAD);
    const rows = (img.naturalHeight + PAD) / (R + PAD);
    return R && Number.isInteger(cols) && Number.isInteger(rows) ? { cols, rows, R } : null;
  }

  function typing(target) {
    return target instanceof HTMLElement && (target.isContentEditable ||
      ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  // ------------------------------------------------------------------------------------------
  // The preview: its size, its row and column labels

  function setup() {
    const img = $("preview");
    const figure = img.closest(".figure");
    figure.classList.add("compare");
    const body = document.createElement("div");
    body.className = "compare-body";
    const rows = document.createElement("div");
    rows.id = "preview-rows";
    rows.className = "row-labels";
    const stage = document.createElement("div");
    stage.className = "compare-stage";
    const ab = document.createElement("canvas");
    ab.id = "preview-ab";
    ab.hidden = true;
    img.replaceWith(body);
    stage.append(img, ab);
    body.append(rows, stage);

    const tools = document.createElement("div");
    tools.className = "row compare-tools";
    const hold = document.createElement("button");
    hold.type = "button";
    hold.id = "ab-hold";
    hold.textContent = "hold: base in the blend column (B)";
    hold.title = "press and hold (or hold the B key) to see the base where the blend is; release to see the blend";
    const wide = document.createElement("button");
    wide.type = "button";
    wide.id = "preview-wide";
    wide.textContent = "wide preview";
    wide.title = "let the blend panel take the whole width of the window, so the preview can be larger";
    const hint = document.createElement("span");
    hint.className = "status";
    hint.textContent = "click an image to see it at the model's resolution";
    tools.append(hold, wide, hint);
    figure.after(tools);

    hold.addEventListener("pointerdown", (e) => { e.preventDefault(); setHeld(true); });
    ["pointerup", "pointerleave", "pointercancel"].forEach((t) => hold.addEventListener(t, () => setHeld(false)));
    wide.addEventListener("click", () => {
      const on = $("blend-panel").classList.toggle("wide");
      wide.setAttribute("aria-pressed", String(on));
      layout();
    });
    img.addEventListener("load", layout);
    new MutationObserver(layout).observe(img, { attributes: true, attributeFilter: ["src", "data-seeds"] });
    window.addEventListener("resize", layout);
  }

  // Column names with the models' names under them (after each model change).
  function labelColumns() {
    const spans = $("preview").closest(".figure").querySelectorAll(".columns span");
    const names = [["base", info.base], ["transfer", info.transfer], ["blend", "as the sliders say"]];
    spans.forEach((span, i) => {
      if (!names[i]) return;
      const small = document.createElement("small");
      small.className = "model-name";
      small.textContent = names[i][1];
      span.title = `${names[i][0]}: ${names[i][1]}`;
      span.dataset.column = names[i][0];
      span.replaceChildren(document.createTextNode(names[i][0]), small);
    });
    layout();
  }

  // The largest size at which the whole grid fits the figure's width and a share of the window's height: whole
  // multiples of the image's pixels when it is smaller (crisp), a fraction when it is larger.
  function fitScale(img, labelsWidth) {
    const figure = img.closest(".figure");
    const width = figure.clientWidth - labelsWidth;
    const height = window.innerHeight * HEIGHT_SHARE;
    const scale = Math.min(width / img.naturalWidth, height / img.naturalHeight);
    return scale >= 1 ? Math.floor(scale) : Math.max(scale, 0.05);
  }

  function layout() {
    const img = $("preview");
    const rows = $("preview-rows");
    const header = img.closest(".figure").querySelector(".columns");
    const grid = img.getAttribute("src") && img.naturalWidth ? gridOf(img) : null;
    if (!grid) {
      rows.replaceChildren();
      delete img.dataset.fit;
      header.style.marginLeft = "";
      header.style.width = "";
      drawAB();
      return;
    }
    const seeds = (img.dataset.seeds || "").split(",").filter(Boolean);
    rows.replaceChildren(...Array.from({ length: grid.rows }, (_, r) => {
      const label = document.createElement("span");
      label.className = "row-label";
      label.textContent = seeds[r] !== undefined ? `seed ${seeds[r]}` : `row ${r + 1}`;
      return label;
    }));
    const labelsWidth = rows.offsetWidth + 6;
    const scale = fitScale(img, labelsWidth);
    img.dataset.fit = String(scale);
    img.style.setProperty("--fit-width", `${img.naturalWidth * scale}px`);
    rows.style.height = `${img.naturalHeight * scale}px`;
    Array.from(rows.children).forEach((label, r) => {
      label.style.top = `${r * (grid.R + PAD) * scale}px`;
      label.style.height = `${grid.R * scale}px`;
    });
    header.style.marginLeft = `${labelsWidth}px`;
    header.style.width = `${img.naturalWidth * scale}px`;
    drawAB();
  }

  // ------------------------------------------------------------------------------------------
  // A/B: the base column drawn over the blend column while B is held

  function setHeld(on) {
    if (held === on) return;
    held = on;
    document.body.dataset.ab = on ? "base" : "blend";
    const span = $("preview").closest(".figure").querySelector(".columns span[data-column=blend]");
    if (span) span.classList.toggle("ab-base", on);
    drawAB();
    drawZoom();
  }

  function drawAB() {
    const img = $("preview");
    const canvas = $("preview-ab");
    const grid = img.getAttribute("src") && img.naturalWidth ? gridOf(img) : null;
    if (!held || !grid || grid.cols <= BLEND_COLUMN) {
      canvas.hidden = true;
      return;
    }
    const scale = Number(img.dataset.fit) || img.getBoundingClientRect().width / img.naturalWidth;
    canvas.width = grid.R;
    canvas.height = img.naturalHeight;
    canvas.getContext("2d").drawImage(img, 0, 0, grid.R, img.naturalHeight, 0, 0, grid.R, img.naturalHeight);
    Object.assign(canvas.style, { left: `${BLEND_COLUMN * (grid.R + PAD) * scale}px`,
                                  width: `${grid.R * scale}px`, height: `${img.naturalHeight * scale}px` });
    canvas.hidden = false;
  }

  // ------------------------------------------------------------------------------------------
  // Zoom: one cell at the model's resolution

  function makeOverlay() {
    const overlay = document.createElement("div");
    overlay.id = "zoom";
    overlay.hidden = true;
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-label", "image at the model's resolution");
    const box = document.createElement("div");
    box.className = "zoom-box";
    const canvas = document.createElement("canvas");
    canvas.id = "zoom-canvas";
    const caption = document.createElement("p");
    caption.id = "zoom-label";
    const close = document.createElement("button");
    close.type = "button";
    close.id = "zoom-close";
    close.textContent = "close (Esc)";
    box.append(canvas, caption, close);
    overlay.append(box);
    document.body.append(overlay);
    overlay.addEventListener("click", (e) => { if (e.target === overlay || e.target === close) closeZoom(); });
  }

  function columnName(img, col) {
    const spans = img.closest(".figure")?.querySelectorAll(".columns span") || [];
    if (spans[col]) return spans[col].dataset.column || spans[col].firstChild.textContent.trim();
    return img.id === "morph-image" ? `step ${col + 1}` : `image ${col + 1}`;
  }

  function openZoom(img, event) {
    const grid = gridOf(img);
    if (!grid) return;
    const box = img.getBoundingClientRect();
    const scale = box.width / img.naturalWidth;
    const x = (event.clientX - box.left) / scale;
    const y = (event.clientY - box.top) / scale;
    const col = Math.floor(x / (grid.R + PAD));
    const row = Math.floor(y / (grid.R + PAD));
    if (col >= grid.cols || row >= grid.rows) return;
    zoomed = { img, row, col };
    drawZoom();
    $("zoom").hidden = false;
    $("zoom-close").focus();
  }

  function closeZoom() {
    zoomed = null;
    $("zoom").hidden = true;
  }

  function drawZoom() {
    if (!zoomed) return;
    const { img, row, col } = zoomed;
    const grid = gridOf(img);
    if (!grid || !img.getAttribute("src")) {
      closeZoom();
      return;
    }
    const flipped = held && img.id === "preview" && col === BLEND_COLUMN;
    const source = flipped ? 0 : col;
    const canvas = $("zoom-canvas");
    canvas.width = grid.R;
    canvas.height = grid.R;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, source * (grid.R + PAD), row * (grid.R + PAD), grid.R, grid.R, 0, 0, grid.R, grid.R);
    // Native size, or the largest whole multiple that fits the window (crisp pixels) for a small model.
    const fit = Math.min(window.innerWidth, window.innerHeight) * 0.85 / grid.R;
    const factor = fit >= 1 ? Math.floor(fit) : 1;
    canvas.style.width = `${grid.R * factor}px`;
    canvas.dataset.factor = String(factor);
    canvas.dataset.row = String(row);
    canvas.dataset.col = String(source);
    const seeds = (img.dataset.seeds || "").split(",").filter(Boolean);
    const parts = [];
    if (img.id === "preview" && seeds[row] !== undefined) parts.push(`seed ${seeds[row]}`);
    parts.push(columnName(img, source) + (flipped ? " (B held; release for the blend)" : ""));
    parts.push(`${grid.R} px` + (factor > 1 ? `, shown ×${factor}` : ""));
    if (img.id === "preview" && col === BLEND_COLUMN && !flipped) parts.push("hold B for the base");
    $("zoom-label").textContent = parts.join(" · ");
  }

  document.addEventListener("DOMContentLoaded", () => {
    setup();
    makeOverlay();
    document.addEventListener("click", (e) => {
      const img = e.target;
      // The seed browser's grid is for picking seeds (live.js), not for zooming.
      if (img instanceof HTMLImageElement && img.classList.contains("zoom") && !img.classList.contains("seeds")
          && img.getAttribute("src")) {
        openZoom(img, e);
      }
    });
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && zoomed) closeZoom();
      if ((e.key === "b" || e.key === "B") && !typing(e.target) && !e.ctrlKey && !e.metaKey && !e.altKey) {
        e.preventDefault();
        setHeld(true);
      }
    });
    document.addEventListener("keyup", (e) => { if (e.key === "b" || e.key === "B") setHeld(false); });
    window.addEventListener("blur", () => setHeld(false));  // a key released in another window
  });
  document.addEventListener("styleblend:controls", labelColumns);
  // A redrawn preview keeps the held view (and a zoomed preview cell follows the new image).
  document.addEventListener("DOMContentLoaded", () => $("preview").addEventListener("load", drawZoom));
})();
