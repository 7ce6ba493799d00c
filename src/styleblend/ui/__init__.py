"""The local web UI: interactive blending by resolution, style mixing, morphing and photo toonify.

:mod:`.service` holds all the logic (no web imports; usable from a notebook) with :mod:`.inputs`
(validation), :mod:`.photo` (the photo panel: encoder, embedding jobs, toonify) over :mod:`.embedding`
(photo -> W+ job) and :mod:`.images` (PNG and grid helpers); :mod:`.jobs` runs long work in threads with
progress and cancellation; :mod:`.server` is the thin stdlib HTTP layer and ``static/`` the page. Start it with ``styleblend ui``. Importing this package loads no models and
starts no server.
"""

from .embedding import Embedding
from .jobs import JobCancelled, JobContext, JobRunner
from .service import BlendSession, open_session, png_bytes

__all__ = ["BlendSession", "Embedding", "JobCancelled", "JobContext", "JobRunner", "open_session", "png_bytes"]
