"""``tokenmocap reconstruct IMAGE``: people in one photo, in-process or through a running server."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from backend.commands._checks import UsageError

NAME = "reconstruct"
HELP = "reconstruct the people in one image (in-process, or --server ADDRESS) and write JSON / a preview PNG"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from backend.commands._checks import box_xyxy, positive_int

    parser.add_argument("image", type=Path, help="JPEG or PNG photo")
    parser.add_argument("--out", type=Path, default=None, help="result JSON (default: print to stdout)")
    parser.add_argument("--preview", type=Path, default=None, help="PNG with the mesh/skeleton drawn over the photo")
    parser.add_argument("--server", default=None, help="use a running server at this address instead of in-process")
    parser.add_argument("--engine", default="auto", choices=("auto", "tokenhmr", "hmr2", "lite"))
    parser.add_argument("--detector", default="auto", choices=("auto", "torchvision", "mediapipe", "hog", "full_frame"))
    parser.add_argument("--box", action="append", default=None, metavar="X1,Y1,X2,Y2", type=box_xyxy,
                        help="person box in pixels (repeatable); skips detection")
    parser.add_argument("--device", default=None, help="torch device for in-process use")
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--timeout-ms", type=positive_int, default=120_000, help="server reply timeout")
    parser.add_argument("--curve-server-key", type=Path, default=None,
                        help="the encrypted server's public key file (<name>.key)")
    parser.add_argument("--curve-client-secret", type=Path, default=None,
                        help="this client's secret key file (<name>.key_secret); its public key must be in the "
                             "server's allow-list")


def reconstruct_result(args: argparse.Namespace, data: bytes, encoding: str) -> dict:
    """The ``result`` object ({engine, image_size, people}) for the command's arguments.

    Args:
        args: the parsed command line.
        data: the image file's bytes, read once by :func:`run`.
        encoding: "jpeg" or "png", from the bytes.
    """
    boxes = args.box
    if args.server:
        from backend.client import Client, ClientCurveKeys

        if (args.curve_server_key is None) != (args.curve_client_secret is None):
            raise ValueError("--curve-server-key and --curve-client-secret go together")
        curve = (ClientCurveKeys.from_files(args.curve_server_key, args.curve_client_secret)
                 if args.curve_server_key is not None else None)
        with Client(args.server, timeout_ms=args.timeout_ms, retries=1, curve=curve) as client:
            reply = client.reconstruct(data, boxes=boxes, engine=None if args.engine == "auto" else args.engine,
                                       detector=None if args.detector == "auto" else args.detector)
        return {key: reply[key] for key in ("engine", "image_size", "people", "timing_ms")}
    import numpy as np

    from backend.engine import make_engine
    from backend.vision import decode_image

    image = decode_image(data, encoding)
    engine = make_engine(args.engine, args.models_dir, device=args.device, detector=args.detector)
    try:
        people = engine.reconstruct(image, None if boxes is None else np.asarray(boxes, np.float32))
    finally:
        close = getattr(engine, "close", None)
        if close is not None:
            close()
    return {"engine": engine.name, "image_size": [int(image.shape[1]), int(image.shape[0])],
            "people": [person.to_json() for person in people]}


def _encoding_of(path: Path, data: bytes, image_encoding_of) -> str:
    try:
        return image_encoding_of(data)
    except ValueError:
        raise UsageError(f"{path}: expected a JPEG or PNG photo, found a file that starts with {data[:8]!r} (another "
                         "format, or not an image despite its name); convert it to JPEG/PNG") from None


def run(args: argparse.Namespace) -> int:
    from backend.client import ServerError, ServerUnavailable, image_encoding_of
    from backend.commands._checks import check_endpoint, check_input_file, check_output_file
    from backend.engine import EngineUnavailable
    from backend.lite import LiteUnavailableError

    # Everything the user typed is checked before an engine loads or a request leaves.
    check_input_file(args.image, "IMAGE, a JPEG or PNG photo")
    data = args.image.read_bytes()
    encoding = _encoding_of(args.image, data, image_encoding_of)
    if args.server:
        check_endpoint(args.server, "--server")
    for option, path in (("--out", args.out), ("--preview", args.preview)):
        if path is not None:
            check_output_file(path, option)
    if args.preview is not None and args.preview.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise UsageError(f"--preview {args.preview}: expected a .png (or .jpg) file name; the suffix picks the "
                         f"image format. Use e.g. --preview {args.preview.with_suffix('.png')}")
    try:
        result = reconstruct_result(args, data, encoding)
    except (EngineUnavailable, LiteUnavailableError, ServerError, ServerUnavailable, ValueError) as e:
        log.error("%s", e)
        return 1
    except FileNotFoundError as e:  # e.g. --detector torchvision without its weights: the message names the fix
        log.error("%s", e)
        return 2
    if not result["people"]:
        log.warning("no person found in %s by the %s engine (detector %s). If someone is there: pass their box with "
                    "--box X1,Y1,X2,Y2, or try --detector hog for small people in a wide shot", args.image,
                    result["engine"], args.detector)
    text = json.dumps(result, indent=1)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        log.info("wrote %s (%d people)", args.out, len(result["people"]))
    else:
        print(text)
    if args.preview is not None:
        import cv2

        from backend.install import installed_state
        from backend.paths import models_dir
        from backend.preview import draw_preview
        from backend.vision import decode_image
        from backend.client import image_encoding_of

        data = args.image.read_bytes()
        image = decode_image(data, image_encoding_of(data))
        smpl_path = installed_state(args.models_dir or models_dir()).smpl_path
        preview = draw_preview(image, result["people"], smpl_path=smpl_path)
        args.preview.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(args.preview), preview):
            log.error("could not write %s", args.preview)
            return 1
        log.info("wrote %s", args.preview)
    return 0
