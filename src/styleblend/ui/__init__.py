"""The local web UI: interactive blending by resolution, style mixing, morphing and photo toonify.

:mod:`.service` holds all the logic (no web imports; usable from a notebook) with :mod:`.inputs`
(validation), :mod:`.photo` (the photo panel: encoder, embedding jobs, toonify) over :mod:`.embedding`
(photo -> W+ job), :mod:`.progressive` (low-resolution preview stages, superseded previews stopped),
:mod:`.seeds` (the seed browser), :mod:`.regions` (the Blend a region and Auto α panels) and
:mod:`.images` (PNG and grid helpers); :mod:`.jobs` runs long work in
threads with progress and cancellation; :mod:`.export` turns the page's α-sweep export into a
:mod:`styleblend.blend.sweep` call; :mod:`.server` is the thin stdlib HTTP layer and ``static/`` the page
(``app.js``, with ``live.js`` for live tuning, ``compare.js``, ``export.js`` and ``photo-drop.js`` for
comparing, exporting and cropping). Start it with ``styleblend ui``. Importing this package loads no models
and starts no server.
"""

from .embedding import Embedding
from .jobs import JobCancelled, JobContext, JobRunner
from .service import BlendSession, open_session, png_bytes

__all__ = ["BlendSession", "Embedding", "JobCancelled", "JobContext", "JobRunner", "open_session", "png_bytes"]
