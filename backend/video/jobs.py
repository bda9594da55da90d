"""Crash-safe job files: one JSON line per finished frame, appended and fsync'd as each frame completes.

A job folder holds ``job.json`` (what is being processed, written atomically) and ``frames.jsonl`` (one record per
finished frame, in frame order). What a record holds is the expensive part, the model's people for that frame;
tracking and smoothing are cheap and deterministic, so a resumed job replays them over the stored records and
carries on with exactly the tracker state it would have had.

A kill can only damage the last line (a write interrupted mid-line): reading ignores an unterminated or
undecodable last line and resuming truncates it away before appending. Damage anywhere else is reported, never
skipped.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["JobFileError", "FrameLog", "read_frame_log", "write_json_atomic", "read_json"]


class JobFileError(ValueError):
    """A job file that is damaged in a way a crash cannot explain."""


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Writes JSON to ``path`` via a temporary file, fsync and rename, so readers see the old or the new file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise JobFileError(f"{path}: not valid JSON ({e}); delete the job folder and start again") from e


def read_frame_log(path: str | Path) -> tuple[list[dict], int]:
    """Reads the finished-frame records.

    Args:
        path: ``frames.jsonl``.
    Returns:
        (records in file order, byte length of the intact part). A missing file gives ([], 0).
    Raises:
        JobFileError: a damaged line that is not the last one, or records out of frame order.
    """
    path = Path(path)
    if not path.exists():
        return [], 0
    data = path.read_bytes()
    records: list[dict] = []
    good_end = 0
    lines = data.split(b"\n")
    # Everything before the last "\n" is complete lines; the remainder (possibly empty) is an interrupted write.
    for n, line in enumerate(lines[:-1]):
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            if n == len(lines) - 2 and not lines[-1]:
                break  # a garbled final line (e.g. filesystem zero-fill after a crash) counts as unfinished
            raise JobFileError(f"{path}: line {n + 1} is damaged ({e}) but is not the last line; the job cannot "
                               "be resumed safely. Delete the folder and start again.") from e
        if not isinstance(rec, dict) or not isinstance(rec.get("index"), int):
            raise JobFileError(f"{path}: line {n + 1} is not a frame record with an integer 'index'")
        if records and rec["index"] <= records[-1]["index"]:
            raise JobFileError(f"{path}: line {n + 1} has frame {rec['index']} after frame {records[-1]['index']}")
        records.append(rec)
        good_end += len(line) + 1
    return records, good_end


class FrameLog:
    """Appends frame records to ``frames.jsonl``.

    Each append is flushed to the operating system before it returns, so a killed or crashed *process* loses no
    finished frame. ``fsync`` additionally protects against an OS crash or power loss; it costs a few ms per call
    on ordinary disks, so at high frame rates it can be batched with ``fsync_interval_s`` (power loss may then
    lose the frames of the last interval, never more, and never a process kill).

    Args:
        path: the file; created if missing. Anything after ``truncate_to`` bytes (an interrupted last line) is cut.
        truncate_to: byte length of the intact part (from :func:`read_frame_log`), or None to keep the file as is.
        fsync_interval_s: 0 (default) fsyncs every record; > 0 at most once per interval and on close.
    """

    def __init__(self, path: str | Path, truncate_to: int | None = None, fsync_interval_s: float = 0.0) -> None:
        if fsync_interval_s < 0:
            raise ValueError(f"FrameLog: fsync_interval_s must be >= 0; got {fsync_interval_s}")
        self.fsync_interval_s = float(fsync_interval_s)
        self._last_sync = time.monotonic()
        self._dirty = False
        self.path = Path(path)
        self._f = open(self.path, "ab")
        if truncate_to is not None and self._f.tell() != truncate_to:
            self._f.truncate(truncate_to)
            self._f.seek(truncate_to)
            os.fsync(self._f.fileno())

    def append(self, record: dict) -> None:
        """Writes one record as a single line, then flushes and fsyncs."""
        line = json.dumps(record, separators=(",", ":")).encode("utf-8") + b"\n"
        self._f.write(line)
        self._f.flush()
        self._dirty = True
        now = time.monotonic()
        if self.fsync_interval_s == 0 or now - self._last_sync >= self.fsync_interval_s:
            os.fsync(self._f.fileno())
            self._last_sync, self._dirty = now, False

    def close(self) -> None:
        if not self._f.closed:
            if self._dirty:
                os.fsync(self._f.fileno())
            self._f.close()

    def __enter__(self) -> "FrameLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
