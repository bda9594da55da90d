"""The shared modal/blocking driver of the two job operators (reconstruct image, video mocap)."""

from __future__ import annotations

import bpy

from ..bridge import JobError
from .runtime import JobRun, drive_job, finish_progress, run_blocking, set_progress

__all__ = ["JobOperatorMixin"]

_TIMER_S = 0.05


class JobOperatorMixin:
    """``execute`` runs the job to the end (scripts); ``invoke`` runs it modally with Esc to cancel (the UI).

    Subclasses implement ``start_run(context) -> JobRun`` and ``needs_file(context)`` (open the file browser
    first), may override ``on_finished(context, run)``, and declare a hidden ``run_modal`` BoolProperty: set by
    ``invoke`` before the file browser, so the ``execute`` Blender calls after it runs modally too.
    """

    _run: JobRun | None = None
    _timer = None

    def start_run(self, context: bpy.types.Context) -> JobRun:
        raise NotImplementedError

    def on_finished(self, context: bpy.types.Context, run: JobRun) -> None:
        """Called once after a successful run (e.g. to fill the person list)."""

    def needs_file(self, context: bpy.types.Context) -> bool:
        """True when the file browser must be shown first."""
        return False

    def _start(self, context: bpy.types.Context) -> JobRun | None:
        if context.window_manager.tokenmocap_running:
            self.report({"ERROR"}, "a TokenMocap job is already running; cancel it first (Esc or Cancel)")
            return None
        context.window_manager.tokenmocap_cancel_requested = False
        try:
            run = self.start_run(context)
        except (JobError, ValueError, OSError, RuntimeError) as e:
            self.report({"ERROR"}, str(e))
            return None
        set_progress(context, run.job.status, 0.0)
        return run

    def _finish(self, context: bpy.types.Context, run: JobRun) -> set[str]:
        if run.error is not None:
            self.report({"ERROR"}, run.error)
            return {"CANCELLED"}
        if run.job.cancelled:
            self.report({"WARNING"}, f"cancelled; kept {len(run.characters)} finished character(s)")
            return {"CANCELLED"}
        self.on_finished(context, run)
        if run.characters:
            names = ", ".join(c.armature.name for c in run.characters)
            self.report({"INFO"}, f"built {len(run.characters)} character(s): {names}")
        else:
            self.report({"INFO"}, run.job.status)
        return {"FINISHED"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        if self.run_modal and context.window is not None:
            return self._start_modal(context)
        run = self._start(context)
        if run is None:
            return {"CANCELLED"}
        return self._finish(context, run_blocking(context, run))

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if context.window is None:
            return self.execute(context)
        if self.needs_file(context):
            self.run_modal = True
            context.window_manager.fileselect_add(self)
            return {"RUNNING_MODAL"}
        return self._start_modal(context)

    def _start_modal(self, context: bpy.types.Context) -> set[str]:
        run = self._start(context)
        if run is None:
            return {"CANCELLED"}
        self._run = run
        wm = context.window_manager
        self._timer = wm.event_timer_add(_TIMER_S, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        run = self._run
        if event.type == "ESC" and event.value == "PRESS":
            context.window_manager.tokenmocap_cancel_requested = True
        if event.type not in {"TIMER", "ESC"}:
            return {"PASS_THROUGH"}
        if not drive_job(context, run):
            for area in context.screen.areas if context.screen else ():
                if area.type == "VIEW_3D":
                    area.tag_redraw()
            return {"RUNNING_MODAL"}
        context.window_manager.event_timer_remove(self._timer)
        return self._finish(context, run)

    def cancel(self, context: bpy.types.Context) -> None:
        """Blender calls this when the modal operator is aborted (e.g. the file is closed)."""
        if self._run is not None:
            self._run.job.cancel()
            self._run.close()
            finish_progress(context, "cancelled")
