"""The HTTP layer of the web UI: a stdlib ``ThreadingHTTPServer``, one static page and a small JSON API.

Why not Gradio (the field's habit): it is a heavy dependency tree for one page, starts slowly, wants
network access for some assets, and renders a DOM we do not control. The stdlib server starts at once,
works offline, needs nothing beyond Python, and its page is ours to test in a real browser.

This module only routes requests, parses JSON and query strings, enforces body-size limits and turns
exceptions into JSON errors; all the work is in :class:`~styleblend.ui.service.BlendSession`. Every
error becomes ``{"error": "<one line>"}`` - status 400 for user errors (the library's message), 500 for
a bug - and the server keeps serving.

API (POST bodies are JSON unless said otherwise; images come back as ``image/png``)::

    GET  /                 the page            GET  /static/<file>    its script and style
    GET  /api/info         models, resolutions, limits
    POST /api/preset       {kind, res?, from_res?, to_res?, centre?, width?, flip?} -> {alphas, spec}
    POST /api/preview      {alphas, seeds, psi, mapping, full_rows?, stream?, seq?}
                           -> PNG rows=seeds, cols base|transfer|blend (headers X-Preview-Stage: low|full,
                           X-Preview-Full-Rows, X-Preview-Low-Resolution, X-Preview-Scale: the first stage's grid
                           is shrunk by it, X-Preview-Width: draw it so wide); a request superseded by a newer
                           one of its stream answers 409 {"error", "superseded": true} (ui/progressive.py)
    POST /api/seeds        {start, psi, count?}                -> PNG grid of base thumbnails (headers X-Seeds:
                           '3,4,...', X-Seed-Columns, X-Seed-Thumb: px) for the seed browser
    POST /api/mix          {seed_a, seed_b, layers, psi, model, alphas?, mapping?} -> PNG A | B | mixed
    POST /api/morph        {seed_a, seed_b, steps, psi, model, alphas?, mapping?}  -> PNG strip
    POST /api/embed?steps=&seed=&align=&features=&filename=   raw image bytes   -> {job, status, elapsed_ms}
                           (features=0: W+ only though a feature head fits; absent: the head when there is one)
    GET  /api/job?id=      job status          POST /api/cancel {job} -> job status
    POST /api/toonify      {job, alphas?, mapping?}            -> PNG photo | base | blend
                           (headers X-Embedding-Stage: encoder|refined|optimised, X-Embedding-Steps,
                           X-Embedding-Latent: 'W+' or 'W+ + 16 px features')
    POST /api/download     {alphas?, mapping?}                 -> the blended checkpoint (attachment)
    POST /api/upload?kind=base|transfer&filename=   raw checkpoint bytes -> info (+ warning)
    POST /api/recipe       {alphas?, mapping?}                 -> the blend's recipe and its CLI command
    POST /api/recipe/load  {recipe}                            -> {alphas, mapping, spec, notes}
    POST /api/export       {kind, format, seeds, psi, mapping, alphas?, res?, frames?, flip?, fps?}
                           -> an α sweep as GIF, MP4 or zip of PNGs (attachment; :mod:`.export`)
    GET  /api/export/status  frames done of the running export   POST /api/export/cancel {} -> that status
    /api/regions/*, /api/auto/*   the Regions and Auto α panels (:mod:`.regions`, its ``ROUTES``)

Two guards for a server on localhost: when bound to a loopback address it only answers requests
addressed to a loopback host name (so a web page cannot reach it through DNS rebinding), and POSTs
must be ``application/json`` or ``application/octet-stream``, which a cross-origin page cannot send
without a CORS preflight this server never grants.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import math
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from ..errors import InvalidArgumentError, StyleblendError
from .export import SweepExports, export_options
from .inputs import parse_int, parse_seeds
from .messages import page_message, page_status
from .progressive import PreviewSuperseded
from .regions import ROUTES as REGION_ROUTES
from .regions import RegionTools
from .service import BlendSession

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
MAX_JSON_BYTES = 1 << 20
_DRAIN_BYTES = 64 << 20
_STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}
_STATIC_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")
_CSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'"
_REQUIRED = object()
# What writing to a client that hung up raises.
_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


class HTTPError(Exception):
    """An error with its own status (404, 403, 405, 413) raised by the routing layer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class UIServer(ThreadingHTTPServer):
    """The web UI's server: serves one :class:`BlendSession` until :meth:`shutdown`.

    Args:
        session: the models and caches behind the API (the server does not close it).
        host, port: where to listen; port 0 picks a free port (see :attr:`url`).
        max_upload_mb: largest checkpoint upload accepted.
        max_image_mb: largest photo upload accepted.
        regions: the Regions and Auto α panels (default: over ``session``, auto α with the transfer's own
            discriminator if it has one).
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, session: BlendSession, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 max_upload_mb: float = 1024, max_image_mb: float = 32, regions: RegionTools | None = None) -> None:
        if not 0 <= int(port) <= 65535:
            raise InvalidArgumentError(f"port {port} must be in [0, 65535] (0 picks a free port)")
        self.session = session
        self.exports = SweepExports(session)
        self.regions = RegionTools(session) if regions is None else regions
        self.max_upload_bytes = int(max_upload_mb * 2**20)
        self.max_image_bytes = int(max_image_mb * 2**20)
        try:
            super().__init__((host, int(port)), _Handler)
        except OSError as exc:
            raise InvalidArgumentError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another "
                                       "--port (or 0 for any free port)") from None
        self.loopback = _is_loopback(host)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = str(self.server_address[0])  # a str for the TCP server (bytes only for Unix sockets)
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{host}:{self.port}/"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (closed tab, reload) is routine; anything else is logged with its traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, _GONE):
            log.debug("client %s went away: %s", client_address, exc)
            return
        log.exception("error while serving %s", client_address)

    def server_close(self) -> None:
        """Stop a running export first (it writes into the session's folder, which the caller removes next)."""
        self.exports.close()
        super().server_close()

    def start_thread(self) -> threading.Thread:
        """Serve in a daemon thread (tests, notebooks); stop with :meth:`shutdown` then :meth:`server_close`."""
        thread = threading.Thread(target=self.serve_forever, name="styleblend-ui", daemon=True)
        thread.start()
        return thread


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _field(data: dict[str, Any], name: str, kind: Callable[[Any], Any], default: Any = _REQUIRED) -> Any:
    """``data[name]`` converted by ``kind``; a clear InvalidArgumentError when missing or malformed.

    An empty string is a value, not a missing field: an emptied ψ box must be an error, not the default ψ.
    """
    if name not in data or data[name] is None:
        if default is _REQUIRED:
            raise InvalidArgumentError(f"the request lacks the field '{name}'")
        return default
    try:
        return kind(data[name])
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf) from a JSON 'Infinity'
        shown = repr(data[name])
        shown = shown if len(shown) <= 60 else shown[:60] + "..."
        raise InvalidArgumentError(f"field '{name}' = {shown} is malformed (expected {kind.__name__})") \
            from None


def number(value: Any) -> float:
    """A finite float (JSON allows NaN and Infinity; neither is a usable position, width or ψ)."""
    if isinstance(value, bool):
        raise ValueError("a boolean")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError("not finite")
    return x


def integer(value: Any) -> int:
    """An int from JSON or a query string: 3, 3.0 or '3'; 3.5, NaN, Infinity and booleans are malformed."""
    try:
        return parse_int(value, "value")
    except InvalidArgumentError as exc:
        raise ValueError(str(exc)) from None


def _alphas(value: Any) -> list[float]:
    if not isinstance(value, list):
        raise ValueError("not a list")
    return value


def _flag(value: Any) -> bool:
    return value in (True, 1, "1", "true", "on")


class _Handler(BaseHTTPRequestHandler):
    server: UIServer
    protocol_version = "HTTP/1.1"
    server_version = "styleblend-ui"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)

    # -- dispatch ------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        start = time.perf_counter()
        try:
            self._check_host()
            route = _ROUTES.get((method, url.path))
            if route is None:
                if method == "GET" and (url.path == "/" or url.path.startswith("/static/")):
                    self._static(url.path)
                    return
                known = sorted({p for m, p in _ROUTES if p == url.path})
                raise HTTPError(405 if known else 404, f"{method} {url.path}: "
                                + ("method not allowed" if known else "no such page or API route"))
            if method == "POST":
                self._check_content_type()
            route(self)
        except _GONE as exc:
            self._client_gone(exc)
        except HTTPError as exc:
            self._reply_error(str(exc), exc.status)
        except PreviewSuperseded as exc:  # routine while a slider is dragged: the page drops it
            try:
                self._json({"error": str(exc), "superseded": True}, 409)
            except _GONE as gone:
                self._client_gone(gone)
        except StyleblendError as exc:
            self._reply_error(page_message(str(exc), exc.params, self.server.session.workdir), 400)
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the server; it is logged in full
            log.exception("%s %s failed", method, url.path)
            self._reply_error(page_message(f"internal error: {type(exc).__name__}: {exc}", None,
                                           self.server.session.workdir), 500)
        finally:
            log.debug("%s %s %.0f ms", method, url.path, 1000 * (time.perf_counter() - start))

    def _client_gone(self, exc: BaseException) -> None:
        """The client closed the connection (a closed tab, a reload): routine, no traceback."""
        self.close_connection = True
        log.debug("client %s went away: %s", self.client_address, exc)

    def _reply_error(self, message: str, status: int) -> None:
        try:
            self._json({"error": message}, status)
        except _GONE as exc:
            self._client_gone(exc)

    def _check_host(self) -> None:
        if not self.server.loopback:
            return
        host = (self.headers.get("Host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name not in ("127.0.0.1", "localhost", "[::1]"):
            self.close_connection = True
            raise HTTPError(403, f"this server only answers requests for localhost, not {host!r} (a guard against "
                                 "DNS rebinding); open http://127.0.0.1:PORT/")

    def _check_content_type(self) -> None:
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype not in ("application/json", "application/octet-stream"):
            self.close_connection = True
            raise HTTPError(415, f"POST bodies must be application/json or application/octet-stream, not "
                                 f"{ctype or 'missing'!r}")

    # -- request bodies ------------------------------------------------------------------------

    def _body(self, limit: int, what: str) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.strip().isdigit():
            self.close_connection = True
            raise InvalidArgumentError(f"the {what} request has no valid Content-Length header")
        n = int(length)
        if n > limit:
            # Read and drop a moderately oversized body so that the client, still sending, gets our answer
            # rather than a reset connection; a huge one is left unread. Either way the connection closes.
            self.close_connection = True
            if n <= limit + _DRAIN_BYTES:
                while n > 0:
                    chunk = self.rfile.read(min(n, 1 << 20))
                    if not chunk:
                        break
                    n -= len(chunk)
            hint = "; restart with a larger --max-upload-mb" if what == "checkpoint" else ""
            raise HTTPError(413, f"the {what} is {int(length) / 2**20:.1f} MB, more than the limit of "
                                 f"{limit / 2**20:.0f} MB{hint}")
        return self.rfile.read(n) if n else b""

    def _json_body(self) -> dict[str, Any]:
        raw = self._body(MAX_JSON_BYTES, "JSON")
        try:
            data = json.loads(raw.decode("utf-8") or "{}")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidArgumentError(f"the request body is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise InvalidArgumentError("the request body must be a JSON object like {\"seeds\": \"1,2\"}")
        return data

    # -- responses -----------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if self.close_connection:
            self.send_header("Connection", "close")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, data: Any, status: int = 200) -> None:
        self._send(status, json.dumps(data).encode("utf-8"), "application/json")

    def _png(self, png: bytes, start: float, extra: dict[str, str] | None = None) -> None:
        headers = {"X-Elapsed-Ms": f"{1000 * (time.perf_counter() - start):.1f}"}
        headers.update(extra or {})
        self._send(200, png, "image/png", headers)

    def _static(self, path: str) -> None:
        name = "index.html" if path == "/" else path[len("/static/"):]
        folder = resources.files(__package__) / "static"
        suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
        if not _STATIC_NAME.match(name) or suffix not in _STATIC_TYPES or not (folder / name).is_file():
            raise HTTPError(404, f"no static file {name!r}")
        headers = {"Content-Security-Policy": _CSP} if suffix == ".html" else None
        self._send(200, (folder / name).read_bytes(), _STATIC_TYPES[suffix], headers)

    # -- routes --------------------------------------------------------------------------------

    def _page_info(self, data: dict[str, Any]) -> dict[str, Any]:
        """:meth:`BlendSession.info` with the limits of this server, and its messages in the page's words."""
        workdir = self.server.session.workdir
        out = dict(data, max_upload_mb=self.server.max_upload_bytes / 2**20,
                   max_image_mb=self.server.max_image_bytes / 2**20, export=export_options())
        if out.get("embed_job") is not None:
            out["embed_job"] = page_status(out["embed_job"], workdir)
        for key in ("warning", "pair_error"):
            if out.get(key):
                out[key] = page_message(out[key], None, workdir)
        return out

    def info(self) -> None:
        self._json(self._page_info(self.server.session.info()))

    def preset(self) -> None:
        d = self._json_body()
        alphas = self.server.session.preset(
            _field(d, "kind", str), res=_field(d, "res", integer, None),
            from_res=_field(d, "from_res", integer, None), to_res=_field(d, "to_res", integer, None),
            centre=_field(d, "centre", number, None),
            width=_field(d, "width", number, None), flip=_flag(d.get("flip")))
        self._json({"alphas": alphas, "spec": self.server.session.schedule(alphas).spec()})

    def preview(self) -> None:
        start = time.perf_counter()
        d = self._json_body()
        session = self.server.session
        alphas = _field(d, "alphas", _alphas, None)
        png, meta = session.preview_result(alphas, _field(d, "seeds", str), _field(d, "psi", number, 0.7),
                                           _field(d, "mapping", str, None),
                                           full_rows=_field(d, "full_rows", integer, None),
                                           stream=_field(d, "stream", str, None), seq=_field(d, "seq", integer, None))
        # The seeds the rows show (the page labels rows with them, whatever the field says by then).
        seeds = ",".join(str(s) for s in parse_seeds(_field(d, "seeds", str)))
        self._png(png, start, {"X-Schedule": session.schedule(alphas).spec(), "X-Seeds": seeds,
                               "X-Preview-Stage": meta["stage"],
                               "X-Preview-Full-Rows": str(meta["full_rows"]), "X-Preview-Rows": str(meta["rows"]),
                               "X-Preview-Low-Resolution": str(meta["low_resolution"] or ""),
                               "X-Preview-Scale": str(meta["scale"]), "X-Preview-Width": str(meta["width"])})

    def seeds(self) -> None:
        start = time.perf_counter()
        d = self._json_body()
        png, meta = self.server.session.seed_page(_field(d, "start", integer), _field(d, "psi", number, 0.7),
                                                  _field(d, "count", integer, 16))
        self._png(png, start, {"X-Seeds": ",".join(map(str, meta["seeds"])), "X-Seed-Columns": str(meta["columns"]),
                               "X-Seed-Thumb": str(meta["thumb"])})

    def _edit_args(self, d: dict[str, Any]) -> dict[str, Any]:
        return {"psi": _field(d, "psi", number, 0.7), "model": _field(d, "model", str, "blend"),
                "alphas": _field(d, "alphas", _alphas, None), "mapping": _field(d, "mapping", str, None)}

    def mix(self) -> None:
        start = time.perf_counter()
        d = self._json_body()
        png = self.server.session.mix(_field(d, "seed_a", integer), _field(d, "seed_b", integer),
                                      _field(d, "layers", str), **self._edit_args(d))
        self._png(png, start)

    def morph(self) -> None:
        start = time.perf_counter()
        d = self._json_body()
        png = self.server.session.morph(_field(d, "seed_a", integer), _field(d, "seed_b", integer),
                                        _field(d, "steps", integer, 8), **self._edit_args(d))
        self._png(png, start)

    def embed(self) -> None:
        q = self.query
        data = self._body(self.server.max_image_bytes, "photo")
        start = time.perf_counter()
        job = self.server.session.start_embedding(data, steps=_field(q, "steps", integer, None),
                                                  seed=_field(q, "seed", integer, 0), filename=q.get("filename"),
                                                  align=_flag(q.get("align")),
                                                  features=None if q.get("features") is None else
                                                  _flag(q.get("features")))
        # The status tells the page whether an encoder's latent can be shown now (has_result) or later.
        status = page_status(self.server.session.job_status(job), self.server.session.workdir)
        self._json({"job": job, "status": status,
                    "elapsed_ms": round(1000 * (time.perf_counter() - start), 1)})

    def job(self) -> None:
        self._json(page_status(self.server.session.job_status(_field(self.query, "id", str)),
                               self.server.session.workdir))

    def cancel(self) -> None:
        self._json(page_status(self.server.session.cancel(_field(self._json_body(), "job", str)),
                               self.server.session.workdir))

    def toonify(self) -> None:
        start = time.perf_counter()
        d = self._json_body()
        png, shown = self.server.session.toonify_result(_field(d, "job", str),
                                                        alphas=_field(d, "alphas", _alphas, None),
                                                        mapping=_field(d, "mapping", str, None))
        self._png(png, start, {"X-Embedding-Stage": shown["stage"], "X-Embedding-Steps": str(shown["steps"]),
                               "X-Embedding-Cancelled": "1" if shown["cancelled"] else "0",
                               "X-Embedding-Latent": shown["latent"]})

    def download(self) -> None:
        d = self._json_body()
        data, name = self.server.session.download_blend(_field(d, "alphas", _alphas, None),
                                                        _field(d, "mapping", str, None))
        self._send(200, data, "application/octet-stream",
                   {"Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"})

    def recipe(self) -> None:
        d = self._json_body()
        self._json(self.server.session.recipe(_field(d, "alphas", _alphas, None), _field(d, "mapping", str, None)))

    def load_recipe(self) -> None:
        d = self._json_body()
        self._json(self.server.session.apply_recipe(_field(d, "recipe", dict)))

    def export(self) -> None:
        data, name, ctype = self.server.exports.export(self._json_body())
        self._send(200, data, ctype,
                   {"Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"})

    def export_status(self) -> None:
        self._json(self.server.exports.status())

    def export_cancel(self) -> None:
        self._json_body()
        self._json(self.server.exports.cancel())

    def upload(self) -> None:
        q = self.query
        kind = _field(q, "kind", str)
        data = self._body(self.server.max_upload_bytes, "checkpoint")
        self._json(self._page_info(self.server.session.load_uploaded(kind, data, q.get("filename"))))


_ROUTES: dict[tuple[str, str], Callable[[_Handler], None]] = {
    ("GET", "/api/info"): _Handler.info,
    ("POST", "/api/preset"): _Handler.preset,
    ("POST", "/api/preview"): _Handler.preview,
    ("POST", "/api/seeds"): _Handler.seeds,
    ("POST", "/api/mix"): _Handler.mix,
    ("POST", "/api/morph"): _Handler.morph,
    ("POST", "/api/embed"): _Handler.embed,
    ("GET", "/api/job"): _Handler.job,
    ("POST", "/api/cancel"): _Handler.cancel,
    ("POST", "/api/toonify"): _Handler.toonify,
    ("POST", "/api/download"): _Handler.download,
    ("POST", "/api/upload"): _Handler.upload,
    ("POST", "/api/recipe"): _Handler.recipe,
    ("POST", "/api/recipe/load"): _Handler.load_recipe,
    ("POST", "/api/export"): _Handler.export,
    ("GET", "/api/export/status"): _Handler.export_status,
    ("POST", "/api/export/cancel"): _Handler.export_cancel,
}


def _region_route(action: Callable[[RegionTools, dict[str, Any]], Any], kind: str) -> Callable[[_Handler], None]:
    """A route of :mod:`.regions`: the JSON body (or a GET's query) in, its JSON or PNG out."""
    def handle(self: _Handler) -> None:
        start = time.perf_counter()
        out = action(self.server.regions, self.query if self.command == "GET" else self._json_body())
        self._png(out, start) if kind == "png" else self._json(out)
    return handle


_ROUTES.update({key: _region_route(action, kind) for key, (action, kind) in REGION_ROUTES.items()})


def serve(session: BlendSession, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          max_upload_mb: float = 1024, max_image_mb: float = 32,
          ready: Callable[[UIServer], None] | None = None, regions: RegionTools | None = None) -> None:
    """Serve until Ctrl-C or SIGTERM, then stop cleanly; ``ready(server)`` is called once listening.

    SIGTERM (what ``kill``, systemd and container runtimes send) stops the server like Ctrl-C, so the
    caller's cleanup runs (:meth:`BlendSession.close` removes the session's folder with its uploads).
    The handler is installed only when called from the main thread, and the previous one restored.
    """
    server = UIServer(session, host, port, max_upload_mb=max_upload_mb, max_image_mb=max_image_mb, regions=regions)
    with sigterm_interrupts():
        try:
            if ready is not None:
                ready(server)
            server.serve_forever()
        except KeyboardInterrupt:
            log.info("stopping")
        finally:
            server.server_close()


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block SIGTERM raises KeyboardInterrupt, as Ctrl-C does, so ``finally`` clauses run.

    `styleblend ui` enters it before it loads the models: a SIGTERM while they load (the session's folder
    already made) then removes the folder too. Only the main thread can install it (elsewhere this does
    nothing); the previous handler is restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
