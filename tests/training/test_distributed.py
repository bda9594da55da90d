"""DDP through torchrun: two CPU processes (gloo) run the tokenizer and the TokenHMR smoke trainings end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("module", "exported"), [("training.tokenizer", "tokenizer.pth"),
                                                  ("training.hmr", "tokenhmr_model.ckpt")])
def test_torchrun_two_processes_train_and_only_rank0_writes(tmp_path: Path, module: str, exported: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", module, "--smoke", "--steps", "4", "--out-dir", str(tmp_path)]  # fmt: skip
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"torchrun did not finish in 240 s: {e}")
    assert proc.returncode == 0, f"torchrun failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}"
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in rows if "train/loss" in r]
    assert train_steps == sorted(set(train_steps)), f"only rank 0 may log: duplicated steps {train_steps}"
    assert train_steps[-1] == 4, f"expected the last logged step to be 4, got {train_steps}"
    assert (tmp_path / exported).is_file() and (tmp_path / "last.ckpt").is_file(), "rank 0 must save"
    assert (tmp_path / "smoke_data_rank1").is_dir(), "each rank writes its own smoke data"
