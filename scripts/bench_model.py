#!/usr/bin/env python
"""Crops per second of the TokenHMR network with ViT-S, ViT-B and ViT-H backbones on the current device.

Usage:
    .venv/bin/python scripts/bench_model.py                      # CPU: fp32, batch 1, 2 warm-up + 2 timed runs
    .venv/bin/python scripts/bench_model.py --device cuda --batch 16 --iters 20 --bf16 --compile

Random weights (timing does not depend on their values); the release head (decoder dim 1024, 160 tokens x 2048
codes, release tokenizer decoder) on every backbone. Prints a table with the ratio against the first backbone
listed in the same run. No assertions: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch

from backend.models import TokenHMR, TokenHMRConfig, backbone_preset


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(name: str, device: torch.device, batch: int, warmup: int, iters: int, bf16: bool, compile_model: bool):
    """Time one backbone; returns (parameters in millions, wall seconds per batch, process CPU seconds per batch)."""
    torch.manual_seed(0)
    model = TokenHMR(TokenHMRConfig().with_backbone(backbone_preset(name))).to(device).eval()
    params = sum(p.numel() for p in model.parameters()) / 1e6
    forward = torch.compile(model) if compile_model else model
    img = torch.randn(batch, 3, 256, 256, device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with torch.inference_mode(), autocast:
        for _ in range(warmup):
            forward(img)
        _sync(device)
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(iters):
            forward(img)
        _sync(device)
    seconds = (time.perf_counter() - start) / iters
    cpu_seconds = (time.process_time() - start_cpu) / iters
    del model, forward
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return params, seconds, cpu_seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="TokenHMR crops/s per backbone size")
    parser.add_argument("--models", default="vit_s,vit_b,vit_h", help="comma-separated backbone presets")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=None, help="crops per forward (default 1 on CPU, 16 on CUDA)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed runs (default 2 on CPU, 5 on CUDA)")
    parser.add_argument("--iters", type=int, default=None, help="timed runs (default 2 on CPU, 20 on CUDA)")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast (meant for CUDA)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (meant for CUDA)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    batch = args.batch or (16 if cuda else 1)
    warmup = args.warmup if args.warmup is not None else (5 if cuda else 2)
    iters = args.iters or (20 if cuda else 2)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    where = torch.cuda.get_device_name(device) if cuda else f"CPU ({torch.get_num_threads()} threads)"
    precision = "bf16 autocast" if args.bf16 else "fp32"
    print(f"device: {where}; {precision}; compile={args.compile}; batch {batch}; {warmup} warm-up + {iters} timed")
    # CPU time per batch helps read CPU runs on a shared machine, where wall time includes waiting for a core.
    header = f"{'backbone':<9} {'params M':>9} {'ms/batch':>10} {'cpu ms/batch':>13} {'crops/s':>9} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    baseline = None
    for name in names:
        params, seconds, cpu_seconds = bench(name, device, batch, warmup, iters, args.bf16, args.compile)
        rate = batch / seconds
        baseline = baseline or rate
        print(f"{name:<9} {params:>9.1f} {seconds * 1e3:>10.1f} {cpu_seconds * 1e3:>13.1f} {rate:>9.2f} "
              f"{rate / baseline:>6.2f}x")
    print(f"(ratio: crops/s relative to {names[0]} in this run)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
