"""``tokenmocap demo``: a real result from a real photo on a fresh machine, before any licensed file is installed.

It reconstructs the astronaut photo that ships inside scikit-image (``skimage.data.astronaut()``, offline) with
the best engine available (``make_engine("auto")``: TokenHMR when its files are installed, else the lite engine:
MediaPipe BlazePose + IK, no licence needed), then writes into ``--out``:

- ``result.json``: the protocol's ``result`` object (engine, image size, people as ``PersonResult`` JSON);
- ``preview.png``: the photo with the posed body mesh and the skeleton drawn over it;
- ``character.fbx``: the posed character (armature + skinned mesh), exported by Blender through the add-on's
  code in ``.venv-blender``.

It prints where each file is and, when the lite engine ran, what to install for TokenHMR quality.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

NAME = "demo"
HELP = "reconstruct a bundled photo (no licensed files needed) and write result JSON, preview PNG and FBX"

logger = logging.getLogger(__name__)

DEFAULT_OUT = Path("demo_out")
UPGRADE_HINT = (
    "This ran the lite engine (MediaPipe BlazePose + inverse kinematics): good for blocking, coarse in depth and\n"
    "twist. For TokenHMR quality: register at https://smpl.is.tue.mpg.de (SMPL_NEUTRAL.pkl) and\n"
    "https://tokenhmr.is.tue.mpg.de (checkpoint, tokenizer and data.zip), put the downloads in one folder, then run\n"
    "  .venv/bin/tokenmocap models install PATH_TO_FOLDER_OR_ZIP\n"
    "and run this demo again; `tokenmocap doctor` shows what is still missing."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: ./{DEFAULT_OUT})")
    parser.add_argument("--image", type=Path, default=None, help="use this photo instead of the bundled astronaut")
    parser.add_argument("--engine", default="auto", choices=("auto", "tokenhmr", "hmr2", "lite"))
    parser.add_argument("--models-dir", type=Path, default=None, help="installed models (default: user data dir)")
    parser.add_argument("--no-fbx", action="store_true", help="skip the FBX export (no Blender venv needed)")


def _load_image(path: Path | None):
    import numpy as np

    if path is None:
        import skimage.data

        return np.ascontiguousarray(skimage.data.astronaut()[:, :, ::-1]), "skimage.data.astronaut()"
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"--image {path}: expected a JPEG or PNG photo, found a file OpenCV cannot decode as an "
                         "image (another format, or a damaged file); convert it to JPEG/PNG or pass another photo")
    return image, str(path)


def _reconstruct(image, engine_name: str, models_dir: Path | None):
    # The seam: one engine factory for every command. "auto" is TokenHMR when installed, else lite.
    from backend.engine import make_engine

    engine = make_engine(engine_name, models_dir)
    try:
        return engine.name, engine.reconstruct(image)
    finally:
        close = getattr(engine, "close", None)
        if callable(close):
            close()


def run(args: argparse.Namespace) -> int:
    import cv2

    from backend.body import rest_body
    from backend.demo import FBXExportError, draw_preview, export_fbx
    from backend.engine import EngineUnavailable
    from backend.lite import LiteUnavailableError
    from backend.commands._checks import check_input_file, check_output_folder
    from backend.paths import models_dir

    out: Path = args.out
    if args.image is not None:  # before OpenCV prints its own warning about a missing file
        check_input_file(args.image, "--image, a JPEG or PNG photo of a person")
    check_output_folder(out, "--out")  # before the engine loads, not after
    try:
        image, source = _load_image(args.image)
        engine_name, people = _reconstruct(image, args.engine, args.models_dir)
    except (EngineUnavailable, LiteUnavailableError, ValueError) as e:
        logger.error("%s", e)
        return 1
    if not people:
        logger.error("no person found in %s by the %s engine; expected a photo with a person whose head and hips "
                     "are in view and not tiny in the frame. Pass another --image (or leave --image out for the "
                     "bundled photo)", source, engine_name)
        return 1
    body = rest_body(
        betas=people[0].betas if engine_name != "lite" else None,
        models_dir=args.models_dir if args.models_dir is not None else models_dir(),
    )
    result = {
        "engine": engine_name,
        "image": source,
        "image_size": [int(image.shape[1]), int(image.shape[0])],
        "body": body.source,
        "people": [p.to_json() for p in people],
    }
    json_path, png_path, fbx_path = out / "result.json", out / "preview.png", out / "character.fbx"
    json_path.write_text(json.dumps(result, indent=1), encoding="utf-8")
    if not cv2.imwrite(str(png_path), draw_preview(image, people, body)):
        logger.error("could not write %s", png_path)
        return 1
    lines = [
        f"tokenmocap demo: {len(people)} person(s) in {source}, engine {engine_name}, body {body.source}",
        f"  result JSON  {json_path.resolve()}",
        f"  preview PNG  {png_path.resolve()}",
    ]
    status = 0
    if args.no_fbx:
        lines.append("  FBX          skipped (--no-fbx)")
    else:
        try:
            export_fbx(body, people[0], fbx_path)
            lines.append(f"  FBX          {fbx_path.resolve()}  (armature + mesh, pose on frame 1)")
        except FBXExportError as e:
            lines.append(f"  FBX          NOT written: {e}")
            status = 1
    if engine_name == "lite":
        lines.append(UPGRADE_HINT)
    print("\n".join(lines))
    return status
