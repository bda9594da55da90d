"""Presenting evaluation results: the papers' table layout as text, JSON, and a PNG of errors per joint and
per sequence (drawn with OpenCV, so no plotting library is needed)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np

from .body_eval import BodyEvalReport

__all__ = [
    "format_body_table",
    "format_pck_table",
    "format_tokenizer_table",
    "format_tracking_table",
    "plot_body_report",
    "plot_pck_report",
    "write_report_json",
]


def _fmt(v: float) -> str:
    return "  -  " if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:5.1f}"


def format_body_table(reports: list[BodyEvalReport]) -> str:
    """TokenHMR Table 1 layout: one row per engine, per dataset the columns MVE, MPJPE, PA-MPJPE (mm); an Accel
    column (mm/frame², VIBE / WHAM) is added when any report has an acceleration error."""
    datasets = sorted({(r.dataset, r.protocol) for r in reports})
    engines = list(dict.fromkeys(r.engine for r in reports))  # in the order the user asked for them
    by_key = {(r.engine, r.dataset, r.protocol): r for r in reports}
    accel = any(not math.isnan(r.accel_mm) for r in reports)
    cols = "| MVE   MPJPE PA-MPJPE " + ("Accel " if accel else "")
    width = len(cols) - 2
    head1 = f"{'method':<12}" + "".join(f"| {d + ('' if p == 'full' else ' ' + p):^{width}}" for d, p in datasets)
    head2 = f"{'':<12}" + cols * len(datasets)
    lines = [head1, head2, "-" * len(head2)]
    for e in engines:
        row = f"{e:<12}"
        for d, p in datasets:
            r = by_key.get((e, d, p))
            if r is None:
                row += "| " + f"{'not run':<{width}}"
                continue
            cells = _fmt(r.mve_mm) + " " + _fmt(r.mpjpe_mm) + " " + _fmt(r.pa_mpjpe_mm) + "   "
            if accel:
                cells += " " + _fmt(r.accel_mm)
            row += "| " + f"{cells:<{width}}"
        lines.append(row)
    return "\n".join(lines)


def format_pck_table(reports: list) -> str:
    """HMR 2.0 Table 2 layout: one row per engine, PoseTrack PCK@0.05 and PCK@0.1 (percent, higher is better)."""
    thresholds = list(dict.fromkeys(k for r in reports for k in r.pck))
    head = f"{'method':<12}| " + " ".join(f"PCK@{t:<5}" for t in thresholds) + " | people  missed"
    lines = [f"{'':<12}| PoseTrack {reports[0].split if reports else ''}", head, "-" * len(head)]
    for r in reports:
        cells = " ".join(f"{'  -  ' if math.isnan(r.pck.get(t, float('nan'))) else f'{100 * r.pck[t]:5.1f}':<9}"
                         for t in thresholds)
        lines.append(f"{r.engine:<12}| {cells} | {r.num_people:<7} {r.num_missed}")
    return "\n".join(lines)


def format_tracking_table(rows: list[dict]) -> str:
    """4DHumans Table 3 layout: one row per engine / tracker, HOTA, MOTA, IDF1 (percent) and ID switches."""
    head = f"{'method':<12}|  HOTA   DetA   AssA   MOTA   IDF1    IDs"
    lines = [head, "-" * len(head)]
    for r in rows:
        cells = "".join(f"{100 * r[k]:6.1f} " for k in ("hota", "deta", "assa", "mota", "idf1"))
        lines.append(f"{r['engine']:<12}| {cells}{r['id_switches']:6d}")
    return "\n".join(lines)


def format_tokenizer_table(reports: list) -> str:
    """TokenHMR Table 3 layout: one row per tokenizer and data set, MVE and MPJPE (mm) overall and per file."""
    lines = [f"{'data':<22}| MVE    MPJPE  poses", "-" * 44]
    for r in reports:
        lines.append(f"{(r.dataset + ' ' + r.split):<22}| {_fmt(r.mve_mm)}  {_fmt(r.mpjpe_mm)}  {r.num_poses}")
        for name, v in r.per_dataset_mm.items():
            lines.append(f"{'  ' + name:<22}| {_fmt(v['mve'])}  {_fmt(v['mpjpe'])}  {v['count']}")
    return "\n".join(lines)


def write_report_json(reports: list, path: str | Path) -> None:
    """Writes reports (objects with ``to_json`` or plain dicts) as one JSON list."""
    Path(path).write_text(json.dumps([r if isinstance(r, dict) else r.to_json() for r in reports], indent=2))


def _bar_panel(title: str, labels: list[str], values: list[float], width: int, height: int,
               unit: str = "mm") -> np.ndarray:
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
    cv2.putText(panel, unit, (5, top + 10), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return panel


def plot_body_report(report: BodyEvalReport, path: str | Path) -> None:
    """Writes a PNG with two bar charts: MPJPE per joint (of the report's joint set), and MPJPE per sequence (at
    most 30 shown)."""
    joints = _bar_panel(f"{report.engine} on {report.dataset} ({report.protocol}): MPJPE per {report.joints} joint",
                        list(report.per_joint_mm), list(report.per_joint_mm.values()), 900, 330)
    seqs = sorted(report.per_sequence_mm.items(), key=lambda kv: -kv[1]["mpjpe"])[:30]
    sequences = _bar_panel("MPJPE per sequence (worst first)", [k for k, _ in seqs], [v["mpjpe"] for _, v in seqs],
                           900, 330)
    if not cv2.imwrite(str(path), np.vstack([joints, sequences])):
        raise OSError(f"could not write the plot to {path}")


def plot_pck_report(report, path: str | Path) -> None:
    """Writes a PNG with PCK per PoseTrack keypoint (percent) for each threshold."""
    panels = [_bar_panel(f"{report.engine} on PoseTrack {report.split}: PCK@{t} per keypoint (%)", list(v),
                         [100 * x for x in v.values()], 900, 330, "%") for t, v in report.per_joint.items()]
    if not panels:
        panels = [_bar_panel(f"{report.engine} on PoseTrack {report.split}", [], [], 900, 330)]
    if not cv2.imwrite(str(path), np.vstack(panels)):
        raise OSError(f"could not write the plot to {path}")
