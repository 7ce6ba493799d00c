"""Library messages as the page shows them: in the page's words, without the server's temporary paths.

The library names the parameter an error is about in backticks (```flip``` ..., see
:class:`styleblend.errors.StyleblendError`); the CLI shows the flag that sets it (``--flip``), the page
shows the control that sets it (the 'flip' box). A parameter the page has no control for is named by what
the person can do instead (restart the server with an option). Uploaded files live in the session's
temporary folder; a message names them by their file name only, which is what the person chose.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: What sets each library parameter in the page, for error messages ('use `flip`' -> "use the 'flip' box").
PAGE_CONTROLS = {
    "flip": "the 'flip' box",
    "steps": "the 'steps' field",
    "seeds": "the 'seeds' field",
    "layers": "the 'layers from B' field",
    "truncation_psi": "the 'truncation ψ' field",
    "encoder": "an encoder (restart the server with 'styleblend ui --encoder FILE')",
    "vgg_path": "VGG-16 weights (restart the server with 'styleblend ui --vgg FILE')",
}

#: Shown instead of the projector's pixel-loss warning, whose advice (`vgg_path`, `download`, a
#: discriminator) names arguments the page does not have.
PIXEL_LOSS_NOTE = ("no VGG-16 weights were found, so the photo is matched by pixel MSE + MS-SSIM and its "
                   "reconstruction is blurrier; to use VGG-16, restart the server with 'styleblend ui --vgg FILE'")

_BACKTICKED = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")



def page_message(text: str, params: Sequence[str] | None = None, workdir: str | Path | None = None) -> str:
    """``text`` for the page: ``params`` in backticks become the controls that set them (the other backticked
    names lose their backticks), and paths inside ``workdir`` become their file names.

    ``params`` None (a job's error or warning, a plain string): every backticked name :data:`PAGE_CONTROLS`
    knows - the library backticks parameter names only.
    """
    if workdir is not None:
        text = hide_paths(text, workdir)
    for name in PAGE_CONTROLS if params is None else params:
        control = PAGE_CONTROLS.get(name)
        if control is not None:
            text = text.replace(f"`{name}`", control)
    return _BACKTICKED.sub(r"\1", text)


def hide_paths(text: str, workdir: str | Path) -> str:
    """Replace every path inside ``workdir`` (as given and resolved) by its last part, the uploaded file's name."""
    for root in {str(workdir), str(Path(workdir).resolve())}:
        text = re.sub(re.escape(root.rstrip("/")) + r"/[^\s'\"]*", lambda m: Path(m.group(0)).name, text)
    return text


def page_status(status: dict[str, Any], workdir: str | Path | None = None) -> dict[str, Any]:
    """A job status (:meth:`styleblend.ui.jobs.Job.snapshot`) with its error and warning as :func:`page_message`."""
    out = dict(status, info=dict(status.get("info") or {}))
    if out.get("error"):
        out["error"] = page_message(out["error"], None, workdir)
    if out["info"].get("warning"):
        out["info"]["warning"] = page_message(out["info"]["warning"], None, workdir)
    return out
