"""Driving a backend job from Blender's main thread: the timer/modal body as plain functions tests can call.

``bpy.app.timers`` and modal timers do not fire in the ``bpy`` module, so the operators' modal method only calls
:func:`drive_job`; scripts and tests call it (or :func:`run_blocking`) directly. Progress goes to window-manager
properties that the panel draws, and to the status bar when there is a window.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import bpy

from ..blender_io import BuildSettings, Character, build_keyed_character, fit_video_characters
from ..bridge import BridgeWorker, CurveKeyPair, JobError, check_online_access
from ..ui.preferences import addon_preferences

__all__ = ["JobRun", "drive_job", "run_blocking", "make_worker", "set_progress", "finish_progress"]

_log = logging.getLogger(__name__)


@dataclass
class JobRun:
    """A running job and what it has built so far."""

    worker: BridgeWorker
    job: object  # bridge.ImageJob or bridge.VideoJob
    settings: BuildSettings
    characters: list[Character] = field(default_factory=list)
    error: str | None = None
    cleanup: Callable[[], None] | None = None  # frees what the run opened (the video decoder), called once

    def close(self) -> None:
        """Stop the bridge and run ``cleanup``; safe to call twice."""
        self.worker.stop()
        if self.cleanup is not None:
            cleanup, self.cleanup = self.cleanup, None
            cleanup()


def make_worker(context: bpy.types.Context) -> BridgeWorker:
    """A started bridge to the backend address (and CURVE keys) in the add-on preferences."""
    prefs = addon_preferences(context)
    curve = None
    if prefs.use_curve:
        if not (prefs.server_public_key and prefs.client_public_key and prefs.client_secret_key):
            raise JobError("CurveZMQ is on but a key is empty: fill in the server public key and this client's "
                           "key pair in Preferences > Add-ons > TokenMocap")
        curve = CurveKeyPair(prefs.server_public_key, prefs.client_public_key, prefs.client_secret_key)
    try:
        check_online_access(prefs.backend_address, bpy.app.online_access)
        return BridgeWorker(prefs.backend_address, curve).start()
    except ValueError as e:
        raise JobError(str(e)) from e


def set_progress(context: bpy.types.Context, status: str, progress: float, running: bool = True) -> None:
    """Show progress in the panel (window-manager properties) and the status bar."""
    wm = context.window_manager
    wm.tokenmocap_status = status
    wm.tokenmocap_progress = max(0.0, min(1.0, progress))
    wm.tokenmocap_running = running
    workspace = getattr(context, "workspace", None)
    if workspace is not None:
        workspace.status_text_set(f"TokenMocap: {status} ({progress * 100:.0f}%)  Esc to cancel" if running else None)


def finish_progress(context: bpy.types.Context, status: str) -> None:
    set_progress(context, status, 1.0, running=False)
    context.window_manager.tokenmocap_cancel_requested = False


def drive_job(context: bpy.types.Context, run: JobRun) -> bool:
    """One timer/modal tick: drain the bridge's events, build ready characters. Returns True when finished.

    Errors (backend ``error`` replies, timeouts, bad data) end the run with ``run.error`` set to the message to
    report; the worker is stopped in every finishing case.
    """
    job = run.job
    if context.window_manager.tokenmocap_cancel_requested and not job.done:
        job.cancel()
    try:
        for event in run.worker.poll_events():
            built = [build_keyed_character(r.track_id, r.track, r.body, run.settings) for r in job.handle(event)]
            if built:
                run.characters.extend(built)
                if run.settings.fps_source:  # a video: the range spans every track; each shows only over its own
                    fit_video_characters(context.scene, run.characters)
            if job.done:
                break
        job.pump()
    except (JobError, ValueError, OSError) as e:
        _log.warning("TokenMocap job failed: %s", e)
        run.error = str(e)
    if run.error is not None or job.done:
        run.close()
        finish_progress(context, run.error or job.status)
        return True
    set_progress(context, job.status, job.progress)
    return False


def run_blocking(context: bpy.types.Context, run: JobRun, timeout_s: float = 600.0, tick_s: float = 0.02) -> JobRun:
    """Drive a job to the end on the calling thread (scripts, tests and ``execute`` without a window)."""
    deadline = time.monotonic() + timeout_s
    while not drive_job(context, run):
        if time.monotonic() > deadline:
            run.job.cancel()
            run.close()
            run.error = f"the job did not finish within {timeout_s:.0f} s"
            finish_progress(context, run.error)
            break
        time.sleep(tick_s)
    return run
