"""``styleblend ui``: serve the local web app for interactive blending and editing."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..errors import InvalidArgumentError
from .common import add_device, add_threads, resolve_device

if TYPE_CHECKING:
    from ..ui.regions import RegionTools
    from ..ui.service import BlendSession


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ui", help="serve the web UI: blend by resolution with sliders, mix, morph, toonify a photo",
        description="Serve a local web app (stdlib HTTP server, no extra dependencies, works offline) for "
                    "tuning a resolution-dependent blend by eye: one alpha slider per resolution with a live "
                    "base | transfer | blend preview, style mixing, morphing, photo embedding rendered through "
                    "the blend, and download of the blended model. Uses the bundled model pair unless "
                    "--base/--transfer are given; other checkpoints can also be uploaded in the page.")
    p.add_argument("--base", default=None, help="base checkpoint (default: the bundled base)")
    p.add_argument("--transfer", default=None, help="transfer checkpoint (default: the bundled transfer)")
    # Defaults None: run() takes them from ui.server, whose import loads torch (a test holds this help to them).
    p.add_argument("--host", default=None,
                   help="address to listen on (default 127.0.0.1, this machine only; the server has no "
                        "authentication, so only widen it on a trusted network)")
    p.add_argument("--port", type=int, default=None, help="port (default 7860; 0 = any free port)")
    p.add_argument("--vgg", default=None, metavar="PATH",
                   help="VGG-16 weights for the photo embedding loss (default: look in the torch hub cache, "
                        "else use pixel MSE + MS-SSIM)")
    p.add_argument("--encoder", default=None, metavar="FILE",
                   help="an encoder for the base ('styleblend encoder train'): a photo's latent is shown at once and "
                        "refined in the background (default: the bundled encoder when the base is the bundled base; "
                        "otherwise photos are embedded by optimisation)")
    p.add_argument("--feature-head", default=None, metavar="FILE",
                   help="a feature head for that encoder ('styleblend encoder train-features'): a photo is shown at "
                        "once as W+ + the base's features at the head's block (sharper; not a pure latent) and W+ and "
                        "the features are refined together; the page can turn it off (default: the bundled head "
                        "with the bundled encoder; otherwise W+ only)")
    p.add_argument("--critic", default=None, metavar="CKPT",
                   help="a checkpoint whose discriminator judges realism in the transfer's domain, for the page's "
                        "Auto alpha search (default: the transfer's own discriminator if its file has one; the "
                        "bundled models have none: use runs/bundle/twemoji-072.safetensors)")
    p.add_argument("--embed-steps", type=int, default=200,
                   help="default optimisation steps of a photo embedding without an encoder (default 200; at most "
                        "5000)")
    p.add_argument("--max-upload-mb", type=float, default=1024, help="largest checkpoint upload (default 1024)")
    p.add_argument("--cache-mb", type=float, default=256,
                   help="memory for cached blends, so revisited slider positions are instant (default 256)")
    add_threads(p, 1, "previews stay fast on a busy 2-core machine, where 2 threads measured ~40x slower, "
                      "and an embedding and previews each get a core")
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # The library is imported here, so that `ui --help` needs no torch.
    from ..ui.embedding import MAX_STEPS
    from ..ui.server import DEFAULT_HOST, DEFAULT_PORT, sigterm_interrupts
    from ..ui.service import open_session

    if not 1 <= args.embed_steps <= MAX_STEPS:
        raise InvalidArgumentError(f"--embed-steps {args.embed_steps} must be in [1, {MAX_STEPS}]")
    args.host = DEFAULT_HOST if args.host is None else args.host
    args.port = DEFAULT_PORT if args.port is None else args.port
    device = resolve_device(args.device)
    session = None
    with sigterm_interrupts():  # a SIGTERM while the models load also removes the session's folder
        try:
            session = open_session(args.base, args.transfer, device=device, vgg_path=args.vgg,
                                   embed_steps=args.embed_steps, cache_mb=args.cache_mb, encoder=args.encoder,
                                   feature_head=args.feature_head)
            _serve(args, session, _regions(session, args.critic))
        finally:
            if session is not None:
                session.close()
    return 0


def _regions(session: BlendSession, critic: str | None) -> RegionTools:
    """The Regions and Auto alpha panels, with the --critic checkpoint (read as data, like any model)."""
    from pathlib import Path

    from ..io import load_checkpoint
    from ..ui.regions import RegionTools

    if critic is None:
        return RegionTools(session)
    return RegionTools(session, load_checkpoint(critic), Path(critic).name)


def _serve(args: argparse.Namespace, session: BlendSession, regions: RegionTools | None = None) -> None:
    from ..ui.server import UIServer, _is_loopback, serve

    def ready(server: UIServer) -> None:
        if not args.quiet:
            info = session.info()
            print(f"base: {info['base']}; transfer: {info['transfer']}")
            if not _is_loopback(args.host):
                print(f"warning: listening on {args.host}: anyone who can reach this port can use the UI")
            print(f"styleblend ui: open {server.url} (Ctrl-C to stop)", flush=True)

    serve(session, args.host, args.port, max_upload_mb=args.max_upload_mb, ready=ready, regions=regions)
