"""``tokenmocap serve``: run the backend service (one process, or a broker with ``--workers N``)."""

from __future__ import annotations

import argparse
import errno
import logging
import signal
from pathlib import Path

from backend.protocol import DEFAULT_ADDRESS

NAME = "serve"
HELP = "run the backend service the Blender add-on talks to (ZeroMQ, loopback by default)"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from backend.commands._checks import positive_int

    parser.add_argument("--address", default=DEFAULT_ADDRESS,
                        help=f"endpoint to bind (default {DEFAULT_ADDRESS}); a non-loopback address needs CURVE keys")
    parser.add_argument("--engine", default="auto", choices=("auto", "tokenhmr", "hmr2", "lite"),
                        help="default engine (auto: TokenHMR when installed, else lite)")
    parser.add_argument("--detector", default="auto", choices=("auto", "torchvision", "mediapipe", "hog", "full_frame"),
                        help="person detector for images sent without boxes")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--max-batch", type=positive_int, default=16, help="most person crops per forward pass")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="worker processes behind the address (e.g. one per GPU); >1 starts a broker")
    parser.add_argument("--worker-devices", default=None,
                        help="comma-separated device per worker, e.g. cuda:0,cuda:1")
    parser.add_argument("--models-dir", type=Path, default=None, help="installed models (default: the data dir)")
    parser.add_argument("--no-preload", action="store_true",
                        help="load the engine on the first request instead of at start")
    parser.add_argument("--curve-secret", type=Path, default=None,
                        help="server secret key file (<name>.key_secret) for CurveZMQ encryption")
    parser.add_argument("--curve-clients", type=Path, default=None,
                        help="folder of allowed clients' public keys (<name>.key); required with --curve-secret")


def config_from_args(args: argparse.Namespace):
    from backend.service import CurveConfig, ServerConfig

    if (args.curve_secret is None) != (args.curve_clients is None):
        raise ValueError("--curve-secret and --curve-clients go together: encryption without an allow-list would "
                         "let any client in")
    curve = CurveConfig(args.curve_secret, args.curve_clients) if args.curve_secret is not None else None
    return ServerConfig(address=args.address, engine=args.engine, models_dir=args.models_dir,
                        detector=args.detector, device=args.device, max_batch=args.max_batch, curve=curve,
                        preload=not args.no_preload)


def run(args: argparse.Namespace) -> int:
    import zmq

    from backend.commands._checks import check_endpoint

    check_endpoint(args.address, "--address", bind=True)
    if args.worker_devices and len(args.worker_devices.split(",")) != args.workers:
        from backend.commands._checks import UsageError

        raise UsageError(f"--worker-devices {args.worker_devices!r} names {len(args.worker_devices.split(','))} "
                         f"device(s) for --workers {args.workers}; expected one per worker, e.g. --workers 2 "
                         "--worker-devices cuda:0,cuda:1")
    try:
        config = config_from_args(args)
        config.check()
    except (ValueError, FileNotFoundError) as e:
        log.error("%s", e)
        return 2
    if args.workers > 1:
        from backend.service.workers import Broker

        devices = args.worker_devices.split(",") if args.worker_devices else None
        runner = Broker(config, args.workers, devices=devices)
    else:
        from backend.service import Server

        runner = Server(config)
    previous = {sig: signal.signal(sig, lambda *_: runner.stop()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        runner.run()
    except zmq.ZMQError as e:
        if e.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise
        log.error("cannot bind %s: %s. Another `tokenmocap serve` (or another program) may hold that port, or the "
                  "host is not an address of this machine; stop it, or pass another --address (e.g. "
                  "tcp://127.0.0.1:5556)", args.address, e.strerror)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
