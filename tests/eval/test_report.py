from __future__ import annotations

import json

import cv2
import numpy as np

from backend.eval.body_eval import LSP14_NAMES, BodyEvalReport
from backend.eval.report import format_body_table, plot_body_report, write_report_json


def make_report(engine, dataset, mpjpe):
    r = BodyEvalReport(dataset=dataset, engine=engine, protocol="full", num_samples=3, mpjpe_mm=mpjpe,
                       pa_mpjpe_mm=mpjpe / 2, mve_mm=mpjpe * 1.2)
    r.per_joint_mm = {n: float(i) for i, n in enumerate(LSP14_NAMES)}
    r.per_sequence_mm = {"seq_a": {"mpjpe": mpjpe, "pa_mpjpe": 1.0, "mve": 2.0, "count": 3}}
    return r


def test_table_has_a_row_per_engine_and_the_values():
    table = format_body_table([make_report("tokenhmr", "3dpw", 70.0), make_report("hmr2", "3dpw", 81.3),
                               make_report("hmr2", "emdb", 99.0)])
    lines = table.splitlines()
    assert "3dpw" in lines[0] and "emdb" in lines[0]
    hmr2 = next(line for line in lines if line.startswith("hmr2"))
    assert "81.3" in hmr2 and "40.6" in hmr2 and "99.0" in hmr2
    tok = next(line for line in lines if line.startswith("tokenhmr"))
    assert "not run" in tok, "tokenhmr has no EMDB result and the table must say so"


def test_json_and_png_are_written(tmp_path):
    r = make_report("lite", "3dpw", 120.0)
    write_report_json([r], tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())[0]["mpjpe_mm"] == 120.0
    plot_body_report(r, tmp_path / "r.png")
    img = cv2.imread(str(tmp_path / "r.png"))
    assert img is not None and img.shape == (660, 900, 3)
    # the bars are drawn in one colour: some pixels must carry it
    assert np.any(np.all(img == (180, 110, 40), axis=-1))
