// styleblend web UI: export an α sweep (issue 13, item 5) as GIF, MP4 or a zip of named PNGs. The server renders
// and writes the file (POST /api/export, styleblend/ui/export.py); this panel asks for it and saves it. Uses
// app.js's helpers ($, api, guarded, FieldError, numberField, alphas, info, modelsVersion).
"use strict";

(() => {
  // The formats the server offers (MP4 only with imageio-ffmpeg) and the sliders to sweep; rebuilt after a
  // model change (app.js fires styleblend:controls when it rebuilds its own controls).
  function buildExport() {
    const options = info.export;
    const format = $("export-format");
    const chosen = format.value || "gif";
    format.replaceChildren(...["gif", "mp4", "zip"].map((f) => {
      const option = document.createElement("option");
      option.value = f;
      option.textContent = { gif: "GIF", mp4: "MP4", zip: "zip of PNGs" }[f];
      option.disabled = !options.formats.includes(f);
      if (option.disabled) option.textContent += " (not available)";
      return option;
    }));
    format.value = options.formats.includes(chosen) ? chosen : "gif";
    $("export-note").textContent = options.mp4_note ? `MP4 is not available: ${options.mp4_note}` : "";
    fillSelect($("export-res"), info.resolutions, info.resolutions[info.resolutions.length - 1], (r) => `${r} px`);
    $("export-frames").max = options.max_frames;
    showKind();
  }

  function showKind() {
    const slider = $("export-kind").value === "slider";
    $("export-res-label").hidden = !slider;
    $("export-frames-label").hidden = !slider;
  }

  // The request, checked here first so that a mistake is shown next to the control at once (the server checks
  // it again before it renders anything).
  function exportBody() {
    const options = info.export;
    const kind = $("export-kind").value;
    const body = { kind, format: $("export-format").value, seeds: $("seeds").value, alphas: alphas(),
                   psi: numberField("psi", "truncation ψ"), mapping: $("mapping").value,
                   fps: numberField("export-fps", "fps"), flip: $("preset-flip").checked };
    if (!options.formats.includes(body.format)) {
      throw new FieldError(options.mp4_note || `${body.format} is not available here`, $("export-format"));
    }
    if (kind === "slider") {
      body.res = Number($("export-res").value);
      body.frames = numberField("export-frames", "frames");
      if (!Number.isInteger(body.frames) || body.frames < 2 || body.frames > options.max_frames) {
        throw new FieldError(`frames ${body.frames} must be a whole number from 2 to ${options.max_frames}`,
                             $("export-frames"));
      }
    }
    return body;
  }

  async function runExport() {
    const body = exportBody();
    const button = $("export-run");
    const status = $("export-status");
    const version = modelsVersion;
    const what = body.kind === "slider" ? `${body.frames} frames of the ${body.res} px slider` : "the swap resolutions";
    button.disabled = true;
    $("export-cancel").hidden = false;
    status.textContent = `rendering ${what} for seeds ${body.seeds}…`;
    const started = performance.now();
    let pending = true;
    const poll = async () => {  // the frames done, while the export request runs
      while (pending) {
        await new Promise((resolve) => setTimeout(resolve, 400));
        if (!pending) break;
        try {
          const p = await (await api("/api/export/status")).json();
          if (pending && p.running && p.total) {
            status.textContent = `rendering ${what}: frame ${p.done}/${p.total}${p.stopping ? ", stopping" : ""}…`;
          }
        } catch (_) { /* the export's own answer reports a lost server */ }
      }
    };
    poll();
    try {
      const res = await api("/api/export", body);
      const blob = await res.blob();
      if (version !== modelsVersion) {
        throw new FieldError("the models changed during the export; export again", button);
      }
      const match = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") || "");
      const name = match ? match[1] : `sweep.${body.format}`;
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = name;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      status.textContent = `saved ${name} (${Math.max(1, Math.round(blob.size / 1024))} kB, ${seconds} s)`;
      status.dataset.file = name;
    } catch (e) {
      status.textContent = "";
      if (e.message.startsWith("the export was cancelled")) {
        status.textContent = e.message;  // asked for, not an error
        return;
      }
      throw e;
    } finally {
      pending = false;
      button.disabled = false;
      $("export-cancel").hidden = true;
    }
  }

  async function cancelExport() {
    const p = await (await api("/api/export/cancel", {})).json();
    if (p.stopping) $("export-status").textContent = "stopping after the current frame…";
  }

  document.addEventListener("styleblend:controls", buildExport);
  document.addEventListener("DOMContentLoaded", () => {
    $("export-kind").addEventListener("change", showKind);
    $("export-run").addEventListener("click", () => guarded(runExport, $("export-run")));
    $("export-cancel").addEventListener("click", () => guarded(cancelExport, $("export-run")));
  });
})();
