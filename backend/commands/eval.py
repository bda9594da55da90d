"""``tokenmocap eval DATASET``: reproduce the papers' accuracy tables with our code.

Examples (the dataset folders are the public downloads, unmodified):
    tokenmocap eval 3dpw --root ~/data/3DPW --split test --model tokenhmr --out 3dpw_tokenhmr.json
    tokenmocap eval emdb --root ~/data/EMDB --split 1 --model hmr2 --out emdb_hmr2.json
    tokenmocap eval 3dpw --root ~/data/3DPW --model tokenhmr --protocol crop50 --out crop50.json
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

NAME = "eval"
HELP = "evaluate an engine on 3DPW or EMDB (MVE, MPJPE, PA-MPJPE) and write a JSON report and a PNG plot"

log = logging.getLogger(__name__)

DATASETS = ("3dpw", "emdb")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", choices=DATASETS)
    parser.add_argument("--root", type=Path, required=True, help="the dataset's folder as downloaded")
    parser.add_argument("--split", default="test", help="3DPW: train|validation|test; EMDB: 1|2 (default test / 1)")
    parser.add_argument("--model", default="tokenhmr", choices=("tokenhmr", "hmr2", "lite"))
    parser.add_argument("--protocol", default="full", choices=("full", "crop30", "crop50"),
                        help="full image, or the bottom 30%% / 50%% of each person cut away")
    parser.add_argument("--out", type=Path, required=True, help="report JSON; the plot is written beside it (.png)")
    parser.add_argument("--models-dir", type=Path, default=None, help="installed models (default: user data dir)")
    parser.add_argument("--smpl-dir", type=Path, default=None,
                        help="folder with SMPL_{NEUTRAL,MALE,FEMALE}.pkl (default: <models-dir>/smpl)")
    parser.add_argument("--h36m-regressor", type=Path, default=None,
                        help="J_regressor_h36m.npy (default: <models-dir>/J_regressor_h36m.npy)")
    parser.add_argument("--device", default=None, help="torch device (default: CUDA when available)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N samples")


def _samples(args: argparse.Namespace):
    from backend.eval import read_3dpw, read_emdb

    if args.dataset == "3dpw":
        return read_3dpw(args.root, "test" if args.split in (None, "") else args.split)
    split = "1" if args.split in (None, "", "test") else args.split
    if split not in ("1", "2"):
        raise ValueError(f"EMDB split must be 1 or 2; got {args.split!r}")
    return read_emdb(args.root, protocol=int(split))


class _Progress:
    def __init__(self, total: int | None) -> None:
        self.total = total

    def __call__(self, done: int) -> None:
        total = f"/{self.total}" if self.total else ""
        sys.stderr.write(f"\r  evaluated {done}{total} people")
        sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    import itertools

    import cv2
    import numpy as np

    from backend.engine import make_engine
    from backend.eval import CROP_PROTOCOLS, evaluate_bodies, format_body_table, plot_body_report, write_report_json
    from backend.eval.body_model import GenderedSMPL, H36M_REGRESSOR_FILE, load_h36m_regressor
    from backend.paths import models_dir as default_models_dir

    models = args.models_dir or default_models_dir()
    regressor = load_h36m_regressor(args.h36m_regressor or models / H36M_REGRESSOR_FILE)
    bodies = GenderedSMPL(args.smpl_dir or models / "smpl")
    engine = make_engine(args.model, models, device=args.device, detector="full_frame")
    samples = _samples(args)
    if args.limit:
        samples = itertools.islice(samples, args.limit)

    def load_image(sample):
        image = cv2.imread(str(sample.image_path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"{sample.image_path}: image missing or unreadable (is the dataset complete?)")
        return image

    def reconstruct(image, box):
        people = engine.reconstruct(image, np.asarray(box, dtype=np.float64)[None])
        return people[0] if people else None

    try:
        report = evaluate_bodies(samples, reconstruct, bodies, regressor, dataset=args.dataset, engine=args.model,
                                 protocol=CROP_PROTOCOLS[args.protocol], load_image=load_image,
                                 progress=_Progress(args.limit))
    finally:
        sys.stderr.write("\n")
        close = getattr(engine, "close", None)
        if close:
            close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_report_json([report], args.out)
    plot_path = args.out.with_suffix(".png")
    plot_body_report(report, plot_path)
    print(format_body_table([report]))
    for note in report.notes:
        print(f"note: {note}")
    if report.num_missed:
        print(f"note: the engine found nobody in {report.num_missed} of the ground-truth boxes (not scored)")
    print(f"report: {args.out}\nplot:   {plot_path}")
    return 0 if report.num_samples else 1
