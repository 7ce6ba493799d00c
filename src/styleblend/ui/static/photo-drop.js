// styleblend web UI: a photo dropped on the photo panel, or chosen with 'crop first' ticked, opens a crop box: a
// square to move (drag it, or the arrow keys) and size (the slider). 'Embed this square' cuts it out here, in the
// page, at the photo's own pixels (PNG; at most MAX_SIDE px a side) and hands it to the photo input, whose change
// starts the embedding as a chosen file does (app.js). The status line says what happens while the request and
// the job's first step run (app.js; issue 13, item 7). Uses app.js's $, info, showError and clearError.
"use strict";

(() => {
  const MAX_SIDE = 1024;  // a larger square is scaled down here: the server only needs the model's resolution
  let source = null;  // {file, url, width, height} of the photo in the crop box
  let box = null;  // the square in the photo's pixels {x, y, size}
  let passing = false;  // the change event the crop box itself sends on

  function element(tag, props = {}, ...children) {
    const el = Object.assign(document.createElement(tag), props);
    el.append(...children);
    return el;
  }

  function setup() {
    const photo = $("photo");
    const row = photo.closest(".row");
    const first = element("input", { type: "checkbox", id: "crop-first" });
    row.insertBefore(element("label", { title: "choose the square to embed before the photo is sent" }, first,
                             " crop first"), $("embed-run"));
    const image = element("img", { id: "crop-image", alt: "the photo to crop", draggable: false });
    const square = element("div", { id: "crop-box", tabIndex: 0, title: "drag, or use the arrow keys" });
    const size = element("input", { type: "range", id: "crop-size", min: 5, max: 100, value: 100 });
    const embed = element("button", { type: "button", id: "crop-embed" }, "Embed this square");
    const cancel = element("button", { type: "button", id: "crop-cancel" }, "Cancel");
    const editor = element("div", { id: "crop", hidden: true },
                           element("div", { className: "crop-stage" }, image, square),
                           element("div", { className: "row" }, element("label", {}, "size ", size), embed, cancel),
                           element("span", { id: "crop-info", className: "status" }));
    row.after(editor);
    image.addEventListener("load", () => { if (source) place(); });
    size.addEventListener("input", () => resize(Number(size.value) / 100));
    embed.addEventListener("click", () => embedCrop().catch((e) => showError(e.message, $("photo"))));
    cancel.addEventListener("click", closeCrop);
    square.addEventListener("pointerdown", startDrag);
    square.addEventListener("keydown", nudge);
    window.addEventListener("resize", draw);

    const panel = $("toonify-panel");
    panel.addEventListener("dragover", (e) => {
      if (!Array.from(e.dataTransfer.types).includes("Files")) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = "copy";
      panel.classList.add("drop-target");
    });
    panel.addEventListener("dragleave", (e) => { if (!panel.contains(e.relatedTarget)) panel.classList.remove("drop-target"); });
    panel.addEventListener("drop", (e) => {
      e.preventDefault();
      panel.classList.remove("drop-target");
      const file = e.dataTransfer.files[0];
      if (file) openCrop(file);
    });
    // Capture on the document runs before app.js's listener on the input: with 'crop first' the chosen photo goes
    // to the crop box instead of straight to the server.
    document.addEventListener("change", (e) => {
      if (e.target !== photo || !photo.files.length || passing || !first.checked) return;
      e.stopPropagation();
      openCrop(photo.files[0]);
    }, true);
    panel.append(element("p", { className: "hint drop-hint" }, "or drop a photo here to crop it first"));
  }

  function openCrop(file) {
    clearError($("photo"));
    if (!file.type.startsWith("image/")) {
      showError(`${file.name} is not an image (${file.type || "unknown type"}); drop a photo (PNG, JPEG, WebP)`,
                $("photo"));
      return;
    }
    if (info && file.size > info.max_image_mb * 2 ** 20) {
      showError(`the photo is ${(file.size / 2 ** 20).toFixed(1)} MB; the limit is ${info.max_image_mb} MB`, $("photo"));
      return;
    }
    if (source) URL.revokeObjectURL(source.url);
    source = { file, url: URL.createObjectURL(file), width: 0, height: 0 };
    box = null;
    $("crop-size").value = 100;
    $("crop").hidden = false;
    const image = $("crop-image");
    image.onerror = () => {
      showError(`${file.name} cannot be read as an image; choose another photo`, $("photo"));
      closeCrop();
    };
    image.src = source.url;
  }

  function closeCrop() {
    $("crop").hidden = true;
    $("crop-image").removeAttribute("src");
    if (source) URL.revokeObjectURL(source.url);
    source = null;
    box = null;
  }

  // The largest centred square, as the server's own centre crop would take.
  function place() {
    const image = $("crop-image");
    source.width = image.naturalWidth;
    source.height = image.naturalHeight;
    const size = Math.min(source.width, source.height);
    box = { x: Math.floor((source.width - size) / 2), y: Math.floor((source.height - size) / 2), size };
    draw();
  }

  function clamp() {
    box.size = Math.max(1, Math.min(box.size, source.width, source.height));
    box.x = Math.round(Math.max(0, Math.min(box.x, source.width - box.size)));
    box.y = Math.round(Math.max(0, Math.min(box.y, source.height - box.size)));
  }

  function resize(share) {
    if (!box) return;
    const centre = [box.x + box.size / 2, box.y + box.size / 2];
    box.size = Math.max(1, Math.round(Math.min(source.width, source.height) * share));
    box.x = centre[0] - box.size / 2;
    box.y = centre[1] - box.size / 2;
    clamp();
    draw();
  }

  function draw() {
    if (!box) return;
    const image = $("crop-image");
    const scale = image.clientWidth / source.width;
    Object.assign($("crop-box").style, { left: `${box.x * scale}px`, top: `${box.y * scale}px`,
                                         width: `${box.size * scale}px`, height: `${box.size * scale}px` });
    const square = $("crop-box");
    square.dataset.x = box.x;
    square.dataset.y = box.y;
    square.dataset.size = box.size;
    $("crop-info").textContent = `${box.size} × ${box.size} px at (${box.x}, ${box.y}) of the ` +
      `${source.width} × ${source.height} photo`;
  }

  function startDrag(e) {
    if (!box) return;
    e.preventDefault();
    const square = $("crop-box");
    square.setPointerCapture(e.pointerId);
    const scale = $("crop-image").clientWidth / source.width;
    const from = { x: e.clientX, y: e.clientY, bx: box.x, by: box.y };
    const move = (m) => {
      box.x = from.bx + (m.clientX - from.x) / scale;
      box.y = from.by + (m.clientY - from.y) / scale;
      clamp();
      draw();
    };
    const stop = () => {
      square.removeEventListener("pointermove", move);
      square.removeEventListener("pointerup", stop);
      square.removeEventListener("pointercancel", stop);
    };
    square.addEventListener("pointermove", move);
    square.addEventListener("pointerup", stop);
    square.addEventListener("pointercancel", stop);
  }

  function nudge(e) {
    const step = e.shiftKey ? 10 : 1;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (!box || !moves[e.key]) return;
    e.preventDefault();
    box.x += moves[e.key][0];
    box.y += moves[e.key][1];
    clamp();
    draw();
  }

  // Cut the square out at the photo's pixels and send it through the photo input (app.js starts the embedding).
  async function embedCrop() {
    if (!box) throw new Error("the photo is still loading; wait a moment");
    const side = Math.min(box.size, MAX_SIDE);
    const canvas = element("canvas", { width: side, height: side });
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage($("crop-image"), box.x, box.y, box.size, box.size, 0, 0, side, side);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    if (!blob) throw new Error("the browser could not cut out the square; try another photo");
    const stem = source.file.name.replace(/\.[^.]*$/, "") || "photo";
    const file = new File([blob], `${stem}-crop${box.x}-${box.y}-${box.size}.png`, { type: "image/png" });
    const transfer = new DataTransfer();
    transfer.items.add(file);
    const photo = $("photo");
    photo.files = transfer.files;
    closeCrop();
    passing = true;
    try {
      photo.dispatchEvent(new Event("change", { bubbles: true }));
    } finally {
      passing = false;
    }
  }

  document.addEventListener("DOMContentLoaded", setup);
})();
