"""``tokenmocap eval DATASET``: reproduce the papers' accuracy tables with our code.

Examples (the dataset folders are the public downloads, unmodified; docs/evaluation.md has every table's command):
    tokenmocap eval 3dpw --root ~/data/3DPW --split test --model tokenhmr,hmr2,lite --out 3dpw.json
    tokenmocap eval emdb --root ~/data/EMDB --split 1 --model hmr2 --out emdb_hmr2.json
    tokenmocap eval 3dpw --root ~/data/3DPW --model tokenhmr --protocol crop50 --out crop50.json
    tokenmocap eval posetrack --root ~/data/posetrack_data --split val --model hmr2 --out posetrack.json
    tokenmocap eval amass --root ~/data/tokenization_data/smplh --tokenizer tokenizer.pth --out amass.json
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path

NAME = "eval"
HELP = ("evaluate engines on 3DPW / EMDB (MVE, MPJPE, PA-MPJPE, Accel), PoseTrack (PCK, HOTA, MOTA, IDF1) or the "
        "tokenizer on AMASS / MOYO (MVE, MPJPE); writes a JSON report and a PNG plot")

log = logging.getLogger(__name__)

DATASETS = ("3dpw", "emdb", "posetrack", "amass", "moyo")
ENGINES = ("tokenhmr", "hmr2", "lite")
POSETRACK_TASKS = ("pck", "tracking")


def _engine_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in ENGINES]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"--model takes engines from {list(ENGINES)}, comma-separated "
                                         f"(e.g. tokenhmr,hmr2,lite); got {text!r}")
    return list(dict.fromkeys(names))


def _task_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names or any(n not in POSETRACK_TASKS for n in names):
        raise argparse.ArgumentTypeError(f"--tasks takes {list(POSETRACK_TASKS)}, comma-separated; got {text!r}")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from backend.commands._checks import positive_int

    parser.add_argument("dataset", choices=DATASETS)
    parser.add_argument("--root", type=Path, required=True, help="the dataset's folder as downloaded")
    parser.add_argument("--split", default=None,
                        help="3DPW: train|validation|test (test); EMDB: 1|2 (1); PoseTrack: train|val (val); "
                             "AMASS: test|val|train (test); MOYO: val|test|train (val)")
    parser.add_argument("--model", type=_engine_list, default=["tokenhmr"],
                        help="engine(s), comma-separated, one table row each: tokenhmr, hmr2, lite")
    parser.add_argument("--protocol", default="full", choices=("full", "crop30", "crop50"),
                        help="3DPW/EMDB: full image, or the bottom 30%% / 50%% of each person cut away")
    parser.add_argument("--joints", default="auto", choices=("auto", "lsp14", "smpl24"),
                        help="3DPW/EMDB joints for MPJPE / PA-MPJPE: lsp14 (14 LSP joints of the H36M regressor), "
                             "smpl24 (24 SMPL joints, neutral J_regressor); auto: lsp14 on 3DPW, smpl24 on EMDB, "
                             "as TokenHMR's eval.py")
    parser.add_argument("--out", type=Path, required=True, help="report JSON; the plot is written beside it (.png)")
    parser.add_argument("--models-dir", type=Path, default=None, help="installed models (default: user data dir)")
    parser.add_argument("--smpl-dir", type=Path, default=None,
                        help="folder with SMPL_{NEUTRAL,MALE,FEMALE}.pkl (default: <models-dir>/smpl)")
    parser.add_argument("--h36m-regressor", type=Path, default=None,
                        help="J_regressor_h36m.npy (default: <models-dir>/J_regressor_h36m.npy)")
    parser.add_argument("--device", default=None, help="torch device (default: CUDA when available)")
    parser.add_argument("--batch-size", type=positive_int, default=16,
                        help="3DPW/EMDB: people per batched forward pass (default 16)")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="evaluate only the first N samples (3DPW/EMDB) or videos (PoseTrack)")
    video = parser.add_argument_group("3DPW / EMDB through the video path")
    video.add_argument("--video", action="store_true",
                       help="run every frame of each sequence in order through the streaming video path (detector, "
                            "tracker, smoothing) and score the tracked person on each ground-truth box")
    video.add_argument("--fps", type=float, default=30.0, help="--video: frame rate of the sequences (default 30)")
    video.add_argument("--no-smooth", action="store_true", help="--video: turn the causal smoothing off")
    posetrack = parser.add_argument_group("PoseTrack")
    posetrack.add_argument("--tasks", type=_task_list, default=list(POSETRACK_TASKS),
                           help="pck (ground-truth boxes), tracking (detector + video tracker), or both (default)")
    posetrack.add_argument("--detector", default="auto",
                           choices=("auto", "torchvision", "mediapipe", "hog", "full_frame"),
                           help="person detector for PoseTrack tracking and --video (default auto: the best one "
                                "installed)")
    posetrack.add_argument("--box-scale", type=float, default=1.2,
                           help="PCK normaliser: the crop side is this times the box's longer side at 192:256")
    posetrack.add_argument("--include-predicted", action="store_true",
                           help="tracking: also score tracks the tracker only predicts in a frame")
    tok = parser.add_argument_group("AMASS / MOYO (tokenizer reconstruction)")
    tok.add_argument("--tokenizer", type=Path, default=None, help="tokenizer.pth to evaluate (required there)")


class _Progress:
    """A text progress bar on stderr: ``  what [########......]  57%  4/7  2.1/s  ETA 0:00:01``.

    Without a known total it shows the count and the rate. Redraws at most ten times a second, and always at the end.
    """

    WIDTH = 30

    def __init__(self, what: str, total: int | None, stream=None) -> None:
        self.what = what
        self.total = total
        self.stream = stream
        self.start = time.monotonic()
        self._last_draw = float("-inf")

    @staticmethod
    def _clock(seconds: float) -> str:
        if not math.isfinite(seconds):
            return "-:--:--"
        s = int(round(seconds))
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"

    def line(self, done: int, now: float | None = None) -> str:
        """The bar for ``done`` items at time ``now`` (monotonic seconds)."""
        elapsed = (time.monotonic() if now is None else now) - self.start
        rate = done / elapsed if elapsed > 0 else float("nan")
        if not self.total:
            return f"  {self.what}: {done}  {rate:.1f}/s"
        frac = min(max(done / self.total, 0.0), 1.0)
        filled = int(frac * self.WIDTH)
        eta = (self.total - done) / rate if rate and math.isfinite(rate) and rate > 0 else float("nan")
        bar = "#" * filled + "." * (self.WIDTH - filled)
        return f"  {self.what} [{bar}] {frac:4.0%}  {done}/{self.total}  {rate:.1f}/s  ETA {self._clock(eta)}"

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if now - self._last_draw < 0.1 and done != self.total:
            return
        self._last_draw = now
        stream = self.stream or sys.stderr
        stream.write("\r" + self.line(done, now))
        stream.flush()


def _close(engine) -> None:
    close = getattr(engine, "close", None)
    if close:
        close()


def _plot_path(out: Path, engine: str, several: bool) -> Path:
    return out.with_name(f"{out.stem}_{engine}.png") if several else out.with_suffix(".png")


# --------------------------------------------------------------------------------------------------------------------
def _body_samples(args: argparse.Namespace):
    import itertools

    from backend.eval import read_3dpw, read_emdb

    if args.dataset == "3dpw":
        samples = read_3dpw(args.root, args.split or "test")
    else:
        split = "1" if args.split in (None, "", "test") else args.split
        if split not in ("1", "2"):
            raise ValueError(f"EMDB split must be 1 or 2; got {args.split!r}")
        samples = read_emdb(args.root, protocol=int(split))
    return itertools.islice(samples, args.limit) if args.limit else samples


def _load_image(path: Path):
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"{path}: image missing or unreadable (is the dataset complete?)")
    return image


def _run_bodies(args: argparse.Namespace, models: Path) -> int:
    import numpy as np

    from backend.engine import make_engine
    from backend.eval import CROP_PROTOCOLS, evaluate_bodies, format_body_table, plot_body_report, write_report_json
    from backend.eval.body_eval import lsp14_joint_set, smpl24_joint_set
    from backend.eval.body_model import H36M_REGRESSOR_FILE, GenderedSMPL, load_h36m_regressor

    bodies = GenderedSMPL(args.smpl_dir or models / "smpl")
    joints = args.joints if args.joints != "auto" else ("smpl24" if args.dataset == "emdb" else "lsp14")
    if joints == "lsp14":
        joint_set = lsp14_joint_set(load_h36m_regressor(args.h36m_regressor or models / H36M_REGRESSOR_FILE))
    else:
        joint_set = smpl24_joint_set(bodies.joint_regressor("neutral"))
    if args.video and args.protocol != "full":
        raise ValueError(f"--video runs the unmodified frames; it cannot be combined with --protocol {args.protocol}")
    samples = list(_body_samples(args))  # read once: the progress bar's total, and the same people for every engine
    reports = []
    for name in args.model:
        engine = make_engine(name, models, device=args.device, detector=args.detector if args.video else "full_frame")

        def reconstruct_batch(images, boxes, engine=engine):
            people = engine.reconstruct_batch(images, [np.asarray(b, dtype=np.float64)[None] for b in boxes])
            return [found[0] if found else None for found in people]

        try:
            video = _video_results(args, engine, models) if args.video else None
            report = evaluate_bodies(
                samples, None, bodies, joint_set, dataset=args.dataset, engine=name,
                protocol=CROP_PROTOCOLS[args.protocol], load_image=lambda s: _load_image(s.image_path),
                progress=_Progress(f"{name}: people", len(samples)), reconstruct_batch=reconstruct_batch,
                batch_size=args.batch_size, reconstruct_sample=video)
            if args.video:
                report.protocol = "video" if not args.no_smooth else "video-raw"
                report.notes.append(
                    f"{report.protocol}: every frame through the streaming video path (detector {args.detector}, "
                    f"tracker, {'no smoothing' if args.no_smooth else 'causal smoothing'} at {args.fps:g} fps); each "
                    "ground-truth box is scored against the tracked person overlapping it most (IoU >= 0.3)")
            reports.append(report)
        finally:
            sys.stderr.write("\n")
            _close(engine)
    write_report_json(reports, args.out)
    print(format_body_table(reports))
    for report in reports:
        plot = _plot_path(args.out, report.engine, len(reports) > 1)
        plot_body_report(report, plot)
        for note in report.notes:
            print(f"note ({report.engine}): {note}")
        if report.num_missed:
            print(f"note ({report.engine}): the engine found nobody in {report.num_missed} of the ground-truth boxes "
                  "(not scored)")
        print(f"plot ({report.engine}): {plot}")
    print(f"report: {args.out}")
    return 0 if all(r.num_samples for r in reports) else 1


def _video_results(args: argparse.Namespace, engine, models: Path):
    from backend.eval.video_eval import VideoResults
    from backend.video import VideoOptions, VideoSession, skeleton_for_models_dir

    skeleton = skeleton_for_models_dir(models)
    options = VideoOptions(smooth=not args.no_smooth, batch_frames=min(max(args.batch_size, 1), 64))
    return VideoResults(lambda: VideoSession(engine, args.fps, options, skeleton=skeleton), _load_image)


# --------------------------------------------------------------------------------------------------------------------
def _posetrack_files(args: argparse.Namespace) -> list[Path]:
    split = args.split or "val"
    folder = args.root / "annotations" / split
    files = sorted(folder.glob("*.json"))
    if not files:
        raise FileNotFoundError(f"{folder}: no PoseTrack annotation files; expected annotations/{split}/*.json "
                                "from the PoseTrack 2018 download (posetrack.net), with images/ beside annotations/")
    return files[: args.limit] if args.limit else files


def _run_posetrack(args: argparse.Namespace, models: Path) -> int:
    import numpy as np

    from backend.engine import make_engine
    from backend.eval import evaluate_tracking, read_posetrack
    from backend.eval.datasets import posetrack_video_images
    from backend.eval.posetrack import (PCKCounter, concat_videos, people_for_boxes, track_boxes,
                                        tracking_frames)
    from backend.eval.report import format_pck_table, format_tracking_table, plot_pck_report, write_report_json
    from backend.video import PeopleTracker, skeleton_for_models_dir

    files = _posetrack_files(args)
    split = args.split or "val"
    pck_reports, tracking_rows = [], []
    for name in args.model:
        engine = make_engine(name, models, device=args.device, detector=args.detector)
        try:
            if "pck" in args.tasks:
                counter = PCKCounter(box_scale=args.box_scale)
                progress = _Progress(f"{name}: PCK videos", len(files))
                for v, path in enumerate(files, start=1):
                    for frame in read_posetrack(path):
                        if not len(frame.track_ids):
                            continue
                        image = _load_image(args.root / frame.image_path)
                        people = people_for_boxes(engine.reconstruct(image, frame.boxes_xyxy), frame.boxes_xyxy)
                        for person, kp, box in zip(people, frame.keypoints, frame.boxes_xyxy):
                            counter.add(None if person is None else person.keypoints_2d, kp, box)
                    progress(v)
                sys.stderr.write("\n")
                pck_reports.append(counter.report(name, split))
            if "tracking" in args.tasks:
                skeleton = skeleton_for_models_dir(models)
                videos = []
                for v, path in enumerate(files, start=1):
                    images = posetrack_video_images(path)
                    frames = ((fid, _load_image(args.root / file_name)) for fid, file_name in images)
                    tracks = track_boxes(frames, engine, PeopleTracker(skeleton),
                                         include_predicted=args.include_predicted,
                                         progress=_Progress(f"{name}: video {v}/{len(files)} frames", len(images)))
                    sys.stderr.write("\n")
                    videos.append(tracking_frames(read_posetrack(path), tracks))
                scores = evaluate_tracking(concat_videos(videos))
                row = {"dataset": "posetrack", "split": split, "engine": name, "videos": len(files),
                       "detector": args.detector, "include_predicted": args.include_predicted}
                row.update({k: (float(v) if isinstance(v, (float, np.floating)) else int(v))
                            for k, v in scores.__dict__.items()})
                tracking_rows.append(row)
        finally:
            _close(engine)
    write_report_json([*pck_reports, *tracking_rows], args.out)
    if pck_reports:
        print(format_pck_table(pck_reports))
        for report in pck_reports:
            plot = _plot_path(args.out, report.engine, len(pck_reports) > 1)
            plot_pck_report(report, plot)
            print(f"plot ({report.engine}): {plot}")
    if tracking_rows:
        print(format_tracking_table(tracking_rows))
    print(f"report: {args.out}")
    return 0 if all(r.num_keypoints for r in pck_reports) and all(r["num_gt"] for r in tracking_rows) else 1


# --------------------------------------------------------------------------------------------------------------------
def _run_tokenizer(args: argparse.Namespace, models: Path) -> int:
    from backend.body import SMPLBody
    from backend.eval.report import format_tokenizer_table, write_report_json
    from backend.eval.tokenizer_eval import evaluate_tokenizer, load_pose_vqvae, smpl_pose_forward, tokenizer_roundtrip
    from training.pose_data import load_pose_collection

    if args.tokenizer is None:
        raise ValueError(f"eval {args.dataset} evaluates a pose tokenizer: pass its file with --tokenizer "
                         "(the tokenizer.pth of the TokenHMR download, or one written by training)")
    split = args.split or ("test" if args.dataset == "amass" else "val")
    collection = load_pose_collection(args.root, split)
    if args.dataset == "moyo":
        chosen = [n for n in collection.names if n == "MOYO"]
    else:
        chosen = [n for n in collection.names if n != "MOYO"]
    if not chosen:
        raise FileNotFoundError(f"{args.root / split}: no {args.dataset.upper()} pose file among "
                                f"{list(collection.names)} (MOYO is {split}_MOYO.npz; AMASS is every other "
                                f"{split}_<NAME>.npz)")
    poses = {n: p for n, p in zip(collection.names, collection.poses) if n in chosen}
    smpl_path = (args.smpl_dir or models / "smpl") / "SMPL_NEUTRAL.pkl"
    if not smpl_path.is_file():
        raise FileNotFoundError(f"{smpl_path}: the neutral SMPL model is needed to measure MVE / MPJPE; install the "
                                "SMPL files (`tokenmocap models install`) or pass their folder with --smpl-dir")
    device = args.device or "cpu"
    smpl = SMPLBody.from_files(smpl_path).to(device).eval()
    vqvae = load_pose_vqvae(args.tokenizer, device)
    total = sum(p.shape[0] for p in poses.values())

    def roundtrip(rot, fn=tokenizer_roundtrip(vqvae)):
        return fn(rot.to(device))

    def forward(rot, fn=smpl_pose_forward(smpl)):
        return fn(rot.to(device))

    try:
        report = evaluate_tokenizer(poses, roundtrip, forward, dataset=args.dataset, split=split,
                                    tokenizer=str(args.tokenizer), progress=_Progress("poses", total))
    finally:
        sys.stderr.write("\n")
    report.notes.append("posed on the neutral SMPL model (zero shape, identity root and hands); MPJPE over the 24 "
                        "SMPL joints")
    write_report_json([report], args.out)
    print(format_tokenizer_table([report]))
    for note in report.notes:
        print(f"note: {note}")
    print(f"report: {args.out}")
    return 0 if report.num_poses else 1


def run(args: argparse.Namespace) -> int:
    from backend.commands._checks import UsageError, check_input_file, check_output_file
    from backend.engine import EngineUnavailable
    from backend.lite import LiteUnavailableError
    from backend.paths import models_dir as default_models_dir

    models = args.models_dir or default_models_dir()
    # The dataset folder first: every later message (missing SMPL, regressor, annotations) assumes it is there.
    if not args.root.is_dir():
        raise UsageError(f"--root {args.root}: expected the {args.dataset} dataset's folder as downloaded, found "
                         f"{'a file' if args.root.exists() else 'nothing there'}; pass the folder that holds it "
                         "(docs/evaluation.md lists each dataset's layout)")
    check_output_file(args.out, "--out")
    if args.tokenizer is not None:
        check_input_file(args.tokenizer, "--tokenizer, a pose tokenizer file (tokenizer.pth)")
    try:
        if args.dataset in ("3dpw", "emdb"):
            return _run_bodies(args, models)
        if args.dataset == "posetrack":
            return _run_posetrack(args, models)
        return _run_tokenizer(args, models)
    except (FileNotFoundError, ValueError) as e:  # a missing or malformed input file: the message names the fix
        log.error("%s", e, exc_info=getattr(args, "verbose", False))
        return 2
    except (EngineUnavailable, LiteUnavailableError) as e:  # the message names what to install
        log.error("%s", e)
        return 1
