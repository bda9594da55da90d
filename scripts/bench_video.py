"""Benchmark video mocap end to end: frames/s, per-stage times, and the ratio to the bare model forward.

Runs the real pipeline (decode → detect + crop → batched TokenHMR → SMPL/camera → appearance → job file →
tracking + smoothing) on a real video, a sequential loop over the same engine (no threads, one frame per forward)
as the baseline, and the bare network forward on crops of the same video at the pipeline's batch size.

Weights are random (speed does not depend on their values): ``--size`` picks the backbone (tiny, vit_s, vit_b,
vit_l, vit_h = the released TokenHMR size), or ``--models-dir`` uses installed models.

    .venv/bin/python scripts/bench_video.py --size tiny --frames 60
    .venv/bin/python scripts/bench_video.py --size vit_h --device cuda --frames 300 --batch 32
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def _models_for_size(size: str, folder: Path) -> Path:
    from backend.body import write_synthetic_smpl_files
    from backend.install import install_models
    from backend.models import TINY_TOKENHMR_CONFIG, backbone_preset, write_tiny_tokenhmr_files

    config = TINY_TOKENHMR_CONFIG if size == "tiny" else TINY_TOKENHMR_CONFIG.with_backbone(backbone_preset(size))
    if size == "vit_h":  # the released decoder sizes too, not only the backbone
        from backend.models import TokenHMRConfig

        config = TokenHMRConfig()
    write_tiny_tokenhmr_files(folder / "src", seed=0, config=config)
    write_synthetic_smpl_files(folder / "src", seed=0)
    install_models(folder / "src", folder / "models")
    return folder / "models"


def _sync(device: str | None) -> None:
    import torch

    if device and device.startswith("cuda"):
        torch.cuda.synchronize()


def _in_thread(fn):
    box = {}

    def body() -> None:
        box["value"] = fn()

    t = threading.Thread(target=body)
    t.start()
    t.join()
    if "value" not in box:
        raise RuntimeError(f"{fn.__name__} failed in its thread (see the traceback above)")
    return box["value"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=VTEST, help="video file (default: OpenCV's vtest.avi)")
    parser.add_argument("--size", default="tiny", choices=("tiny", "vit_s", "vit_b", "vit_l", "vit_h"))
    parser.add_argument("--models-dir", type=Path, default=None, help="installed models instead of --size")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--batch", type=int, default=16, help="crops per forward (pipeline and bare forward)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--detector", default="full_frame", help="person detector (full_frame: one box per frame)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's choice; on a busy shared CPU 1 is often faster)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not args.video.is_file():
        print(f"video not found: {args.video} (install opencv-doc or pass --video)", file=sys.stderr)
        return 2

    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    from backend.engine import make_engine
    from backend.video import (
        FrameLog,
        JobOptions,
        PipelineConfig,
        build_sequences,
        frame_record,
        iter_video_frames,
        probe_video,
        run_video_job,
        skeleton_for_models_dir,
    )
    from backend.video.people_tracking import frame_appearances

    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp:
        tmp_path = Path(tmp)
        models = args.models_dir or _models_for_size(args.size, tmp_path)
        engine = make_engine("tokenhmr", models, device=args.device, detector=args.detector, max_batch=args.batch)
        skeleton = skeleton_for_models_dir(models)
        info = probe_video(args.video)
        frames = [img for _, img in iter_video_frames(args.video, stop=args.frames)]
        n = len(frames)

        # Bare forward: the network + SMPL on crops of this video, batch = --batch, after a warm-up.
        crops = np.concatenate([engine.prepare(img).crops for img in frames[: args.batch]])
        reps = int(np.ceil(args.batch / max(len(crops), 1)))
        batch = np.concatenate([crops] * reps)[: args.batch]
        def bare() -> float:
            engine.infer(batch)
            engine.infer(batch)
            # Median over repeats: on a shared machine single timings swing by several times.
            per_batch = []
            for _ in range(7):
                _sync(args.device)
                t0 = time.perf_counter()
                engine.infer(batch)
                _sync(args.device)
                per_batch.append(time.perf_counter() - t0)
            return len(batch) / float(np.median(per_batch))

        def sequential() -> tuple[float, int]:
            # Baseline: the same work (decode, model, appearance, job file, tracking + smoothing) in one loop, one
            # frame per engine call, no overlap between stages.
            t0 = time.perf_counter()
            people_seq = 0
            records = []
            with FrameLog(tmp_path / "sequential.jsonl") as log:
                for index, img in iter_video_frames(args.video, stop=n):
                    people = engine.reconstruct(img)
                    record = frame_record(index, people, frame_appearances(img, people))
                    log.append(record)
                    records.append(record)
                    people_seq += len(people)
            _sync(args.device)
            build_sequences(records, skeleton, float(info.fps))
            return n / (time.perf_counter() - t0), people_seq

        # Both run in a worker thread, as the pipeline's model stage does: the thread a forward runs in changes
        # CPU timings a lot under contention (OpenMP teams spin per calling thread).
        bare_people_s = _in_thread(bare)
        seq_fps, people_seq = _in_thread(sequential)

        # The pipeline through the job runner (decode thread, cross-frame batches, job file, tracking, smoothing).
        options = JobOptions(end_frame=n, pipeline=PipelineConfig(batch_crops=args.batch))
        t0 = time.perf_counter()
        result = run_video_job(args.video, tmp_path / "job", engine, skeleton, options)
        wall = time.perf_counter() - t0
        times = result.times
        e2e_fps = n / wall
        people_per_frame = times.people / max(times.frames, 1)

    print(f"video mocap benchmark: {args.video.name}, {n} frames, model {args.models_dir or args.size}, "
          f"device {args.device or 'auto'}, torch threads {torch.get_num_threads()}, detector {args.detector}, "
          f"batch {args.batch}, "
          f"{people_per_frame:.2f} people/frame")
    print(f"{'stage':<22}{'ms/frame':>10}{'share of wall':>15}")
    for stage in ("decode", "detect+crop", "model", "smpl+camera", "appearance", "write", "track+smooth"):
        sec = times.seconds.get(stage, 0.0)
        print(f"{stage:<22}{1000 * sec / n:>10.2f}{100 * sec / wall:>14.1f}%")
    print(f"{'wall (pipelined)':<22}{1000 * wall / n:>10.2f}{100.0:>14.1f}%")
    print()
    print(f"{'run':<34}{'frames/s':>10}{'people/s':>10}{'ratio to bare':>15}")
    print(f"{'bare model forward (batch ' + str(args.batch) + ')':<34}{'-':>10}{bare_people_s:>10.1f}{1.0:>15.2f}")
    print(f"{'sequential baseline':<34}{seq_fps:>10.1f}{seq_fps * people_seq / n:>10.1f}"
          f"{seq_fps * people_seq / n / bare_people_s:>15.2f}")
    print(f"{'pipeline end to end':<34}{e2e_fps:>10.1f}{e2e_fps * people_per_frame:>10.1f}"
          f"{e2e_fps * people_per_frame / bare_people_s:>15.2f}")
    print(f"pipeline speed-up over the sequential baseline: {e2e_fps / seq_fps:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
