"""Presenting evaluation results: the papers' table layout as text, JSON, and a PNG of errors per joint and
per sequence (drawn with OpenCV, so no plotting library is needed)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np

from .body_eval import BodyEvalReport

__all__ = ["format_body_table", "write_report_json", "plot_body_report"]


def _fmt(v: float) -> str:
    return "  -  " if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:5.1f}"


def format_body_table(reports: list[BodyEvalReport]) -> str:
    """TokenHMR Table 1 layout: one row per engine, per dataset the columns MVE, MPJPE, PA-MPJPE (mm)."""
    datasets = sorted({(r.dataset, r.protocol) for r in reports})
    engines = sorted({r.engine for r in reports})
    by_key = {(r.engine, r.dataset, r.protocol): r for r in reports}
    head1 = f"{'method':<12}" + "".join(f"| {d + ('' if p == 'full' else ' ' + p):^23}" for d, p in datasets)
    head2 = f"{'':<12}" + "| MVE   MPJPE PA-MPJPE " * len(datasets)
    lines = [head1, head2, "-" * len(head2)]
    for e in engines:
        row = f"{e:<12}"
        for d, p in datasets:
            r = by_key.get((e, d, p))
            row += "| " + (" ".join([_fmt(r.mve_mm), _fmt(r.mpjpe_mm), _fmt(r.pa_mpjpe_mm) + "   "]) if r else
                           f"{'not run':<21}") + " "
        lines.append(row)
    return "\n".join(lines)


def write_report_json(reports: list[BodyEvalReport], path: str | Path) -> None:
    Path(path).write_text(json.dumps([r.to_json() for r in reports], indent=2))


def _bar_panel(title: str, labels: list[str], values: list[float], width: int, height: int) -> np.ndarray:
    panel = np.full((height, width, 3), 255, np.uint8)
    cv2.putText(panel, title, (10, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    if not values:
        cv2.putText(panel, "no data", (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 200), 1, cv2.LINE_AA)
        return panel
    top, bottom, left = 40, height - 90, 50
    vmax = max(max(values), 1e-6)
    step = (width - left - 10) / len(values)
    for i, (label, v) in enumerate(zip(labels, values)):
        x0 = int(left + i * step + 0.15 * step)
        x1 = int(left + (i + 1) * step - 0.15 * step)
        y = int(bottom - (bottom - top) * v / vmax)
        cv2.rectangle(panel, (x0, y), (x1, bottom), (180, 110, 40), -1)
        cv2.putText(panel, f"{v:.0f}", (x0, y - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
        # Vertical label under the bar: draw on a strip and rotate it.
        strip = np.full((14, 85, 3), 255, np.uint8)
        cv2.putText(strip, label[:14], (0, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
        strip = cv2.rotate(strip, cv2.ROTATE_90_COUNTERCLOCKWISE)
        xs = min(x0, width - strip.shape[1])
        panel[bottom + 4:bottom + 4 + strip.shape[0], xs:xs + strip.shape[1]] = strip
    cv2.line(panel, (left, bottom), (width - 10, bottom), (0, 0, 0), 1)
    cv2.putText(panel, "mm", (5, top + 10), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return panel


def plot_body_report(report: BodyEvalReport, path: str | Path) -> None:
    """Writes a PNG with two bar charts: MPJPE per LSP joint, and MPJPE per sequence (at most 30 shown)."""
    joints = _bar_panel(f"{report.engine} on {report.dataset} ({report.protocol}): MPJPE per joint",
                        list(report.per_joint_mm), list(report.per_joint_mm.values()), 900, 330)
    seqs = sorted(report.per_sequence_mm.items(), key=lambda kv: -kv[1]["mpjpe"])[:30]
    sequences = _bar_panel("MPJPE per sequence (worst first)", [k for k, _ in seqs], [v["mpjpe"] for _, v in seqs],
                           900, 330)
    if not cv2.imwrite(str(path), np.vstack([joints, sequences])):
        raise OSError(f"could not write the plot to {path}")
