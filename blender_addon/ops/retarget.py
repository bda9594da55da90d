"""``tokenmocap.retarget``: bake a TokenMocap character's motion onto an artist's armature, with progress, Esc to
cancel and a live constraint preview; plus clear-preview and save-map operators and a sidebar sub-panel.

Registered by ``registration.py`` through :data:`classes` (after ``ui.panels``, whose main panel is the parent of
the sub-panel) and :func:`register_properties`. The modal tick is the plain function :func:`retarget_tick`, so
scripts and tests drive the chunked bake without a window.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from ..blender_io import find_character
from ..retarget import (
    ROOT_MOTION_MODES,
    BoneMap,
    BoneMapError,
    RetargetSettings,
    auto_map,
    list_presets,
    load_bone_map,
    load_preset,
    save_bone_map,
)

__all__ = [
    "RetargetRequest",
    "TOKENMOCAP_OT_retarget",
    "TOKENMOCAP_OT_retarget_clear_preview",
    "TOKENMOCAP_OT_retarget_save_map",
    "TOKENMOCAP_PT_retarget",
    "classes",
    "register_properties",
    "retarget_tick",
    "unregister_properties",
]

LOW_CONFIDENCE = 0.5  # auto-mapped joints below this are reported for checking
VERIFY_LIMIT_DEG = 2.0  # a baked limb further than this from the source's direction is reported
_TIMER_S = 0.02
_MAP_MODES = [
    ("AUTO", "Auto-map", "Propose a map from the target's bone names and hierarchy (presets are tried first)"),
    ("PRESET", "Preset", "A shipped bone-map preset"),
    ("FILE", "Map file", "A bone map saved as JSON"),
]
_ROOT_ITEMS = [
    ("REST", "Full", "Hips travel like the source, relative to the rest pose, scaled by leg length"),
    ("START", "From start", "Horizontal travel relative to the first frame, so the rig starts where it stands"),
    ("IN_PLACE", "In place", "Keep vertical motion only"),
    ("ROOT_BONE", "Root bone", "Horizontal travel on the map's ground root bone (engine root motion)"),
    ("NONE", "None", "No location keys"),
]
if tuple(i[0] for i in _ROOT_ITEMS) != ROOT_MOTION_MODES:  # internal invariant: the UI lists every mode
    raise RuntimeError(f"root-motion items {[i[0] for i in _ROOT_ITEMS]} differ from {ROOT_MOTION_MODES}")


# Static: the shipped presets do not change while Blender runs (a dynamic items callback would also need its
# strings kept alive by hand).
_PRESET_ITEMS = [(pid, load_preset(pid).name, load_preset(pid).description) for pid in list_presets()]


def _is_armature(self, obj: bpy.types.Object) -> bool:
    return obj.type == "ARMATURE"


@dataclass(frozen=True)
class RetargetRequest:
    """What one run of the operator retargets, read from its properties."""

    source: bpy.types.Object  # the TokenMocap character's armature
    target: bpy.types.Object  # the artist's armature
    bone_map: BoneMap  # not yet resolved against the target
    settings: RetargetSettings  # root-motion options
    frame_start: int  # first frame (inclusive)
    frame_end: int  # last frame (inclusive)
    action_name: str  # "" = automatic name


def retarget_tick(context: bpy.types.Context, job) -> bool:
    """One chunk of a bake plus progress; the modal TIMER body and what tests call. True when solved."""
    done = job.step()
    context.window_manager.progress_update(int(round(job.progress * 100)))
    return done


class _RetargetProps:
    source: StringProperty(name="Source", description="TokenMocap character armature (empty: the panel's choice, "
                                                      "else the active character)")
    target: StringProperty(name="Target", description="Armature to animate (empty: the panel's choice, else the "
                                                      "other selected armature)")
    map_mode: EnumProperty(name="Bone map", items=_MAP_MODES, default="AUTO")
    preset: EnumProperty(name="Preset", items=_PRESET_ITEMS)
    map_file: StringProperty(name="Map file", subtype="FILE_PATH")
    root_motion: EnumProperty(name="Root motion", items=_ROOT_ITEMS, default="REST")
    root_scale: FloatProperty(name="Root scale", default=0.0, min=0.0,
                              description="Scale of the travel; 0 matches the target's leg length to the source's")

    def _source(self, context: bpy.types.Context) -> bpy.types.Object:
        source = bpy.data.objects.get(self.source) if self.source else getattr(
            context.scene, "tokenmocap_retarget_source", None)
        if source is None and not self.source:
            selected = list(getattr(context, "selected_objects", None) or [])
            source = find_character(context.active_object) or next(
                (find_character(o) for o in selected if find_character(o) is not None), None)
        if source is None or source.type != "ARMATURE":
            raise ValueError(f"retarget: no source character ({self.source or 'nothing chosen'}); choose the "
                             "TokenMocap character in the Retarget panel or make it the active object")
        return source

    def _target(self, context: bpy.types.Context, source: bpy.types.Object | None) -> bpy.types.Object:
        target = bpy.data.objects.get(self.target) if self.target else getattr(
            context.scene, "tokenmocap_retarget_target", None)
        if target is None and not self.target:
            selected = list(getattr(context, "selected_objects", None) or [])
            target = next((o for o in selected if o.type == "ARMATURE" and o != source), None)
        if target is None or target.type != "ARMATURE":
            raise ValueError(f"retarget: no target armature ({self.target or 'nothing chosen'}); choose your rig in "
                             "the Retarget panel or select it together with the character")
        if source is not None and source == target:
            raise ValueError(f"retarget: source and target are the same object {source.name!r}; pick your own rig as "
                             "the target")
        return target

    def _bone_map(self, target: bpy.types.Object) -> tuple[BoneMap, list[str]]:
        """The chosen map and warnings about low-confidence auto-mapped joints."""
        if self.map_mode == "PRESET":
            return load_preset(self.preset), []
        if self.map_mode == "FILE":
            if not self.map_file:
                raise BoneMapError("retarget: bone map mode is 'Map file' but no file is chosen")
            return load_bone_map(bpy.path.abspath(self.map_file)), []
        from ..retarget.scene import rig_rest

        rest = rig_rest(target)
        result = auto_map(rest.names, rest.parents.tolist(), rest.heads_world())
        weak = [f"{j} → {result.bone_map.bones.get(j, '?')} ({c:.1f})"
                for j, c in result.bone_map.confidence.items() if c < LOW_CONFIDENCE]
        return result.bone_map, weak

    def _settings(self) -> RetargetSettings:
        return RetargetSettings(root_motion=self.root_motion, root_scale=self.root_scale or None)


def _frame_range(source: bpy.types.Object, scene: bpy.types.Scene, start: int, end: int) -> tuple[int, int]:
    if start >= 0 and end >= 0:
        return start, end
    anim = source.animation_data
    if anim is not None and anim.action is not None:
        first, last = anim.action.frame_range
        return int(first), int(last)
    return scene.frame_start, scene.frame_end


class TOKENMOCAP_OT_retarget(_RetargetProps, bpy.types.Operator):
    """Retarget the character's motion onto another armature: bake a new action (rest pose and existing actions
    untouched), or show a live preview"""

    bl_idname = "tokenmocap.retarget"
    bl_label = "Retarget to Rig"
    bl_options = {"REGISTER", "UNDO"}

    frame_start: IntProperty(name="Start", default=-1, description="First frame; -1 = the source action's range")
    frame_end: IntProperty(name="End", default=-1, description="Last frame; -1 = the source action's range")
    action_name: StringProperty(name="Action name", description="Name of the new action (empty: automatic)")
    preview: BoolProperty(name="Preview", default=False,
                          description="Drive the target live with constraints instead of baking (Clear Preview or "
                                      "a bake removes them)")
    chunk_frames: IntProperty(name="Frames per step", default=25, min=1)

    _job = None
    _timer = None

    def _request(self, context: bpy.types.Context) -> tuple[RetargetRequest, list[str]]:
        source = self._source(context)
        target = self._target(context, source)
        bone_map, weak = self._bone_map(target)
        start, end = _frame_range(source, context.scene, self.frame_start, self.frame_end)
        return RetargetRequest(source, target, bone_map, self._settings(), start, end, self.action_name), weak

    def _begin(self, context: bpy.types.Context):
        from ..retarget.bake import BakeSettings, RetargetJob
        from ..retarget.preview import add_preview

        request, weak = self._request(context)
        if weak:
            self.report({"WARNING"}, "check these auto-mapped joints: " + ", ".join(weak))
        if self.preview:
            count = add_preview(request.source, request.target, request.bone_map, request.settings,
                                request.frame_start, context.scene)
            self.report({"INFO"}, f"previewing {request.source.name} on {request.target.name} ({count} constraints); "
                                  "run Retarget to bake or Clear Preview to remove")
            return None
        settings = BakeSettings(frame_start=request.frame_start, frame_end=request.frame_end,
                                action_name=request.action_name, root_motion=request.settings.root_motion,
                                root_scale=request.settings.root_scale, chunk_frames=self.chunk_frames)
        job = RetargetJob(request.source, request.target, request.bone_map, settings, context.scene)
        context.window_manager.progress_begin(0, 100)
        return job

    def _end(self, context: bpy.types.Context, job) -> set[str]:
        context.window_manager.progress_end()
        if job.cancel_requested:
            job.cancel()
            self.report({"WARNING"}, f"retarget cancelled; {job.target.name} is unchanged")
            return {"CANCELLED"}
        action = job.finish()
        frames = job.frames[np.linspace(0, len(job.frames) - 1, min(5, len(job.frames))).astype(int)]
        error_deg, where = job.verify(frames.tolist())
        message = (f"baked {len(job.frames)} frames onto {job.target.name} as action {action.name!r}; "
                   f"limb directions within {error_deg:.2f}° of the source")
        if error_deg > VERIFY_LIMIT_DEG:
            self.report({"WARNING"}, f"{message} (worst {where}: bones above it are driven by constraints or the map "
                                     "pairs different limbs; check the map)")
        else:
            self.report({"INFO"}, message)
        return {"FINISHED"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            job = self._begin(context)
            if job is None:
                return {"FINISHED"}
            while not retarget_tick(context, job):
                pass
            return self._end(context, job)
        except (BoneMapError, ValueError, FileNotFoundError) as e:
            context.window_manager.progress_end()
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if context.window is None or self.preview:
            return self.execute(context)
        try:
            job = self._begin(context)
        except (BoneMapError, ValueError, FileNotFoundError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self._job = job
        wm = context.window_manager
        self._timer = wm.event_timer_add(_TIMER_S, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        job = self._job
        if event.type == "ESC" and event.value == "PRESS":
            job.cancel_requested = True
        elif event.type != "TIMER":
            return {"PASS_THROUGH"}
        if job.cancel_requested or retarget_tick(context, job):
            context.window_manager.event_timer_remove(self._timer)
            try:
                return self._end(context, job)
            except (BoneMapError, ValueError) as e:
                self.report({"ERROR"}, str(e))
                return {"CANCELLED"}
        return {"RUNNING_MODAL"}


class TOKENMOCAP_OT_retarget_clear_preview(bpy.types.Operator):
    """Remove the live retarget preview (constraints and helper empties) from the target armature"""

    bl_idname = "tokenmocap.retarget_clear_preview"
    bl_label = "Clear Retarget Preview"
    bl_options = {"REGISTER", "UNDO"}

    target: StringProperty(name="Target", description="Armature with the preview (empty: the panel's target)")

    def execute(self, context: bpy.types.Context) -> set[str]:
        from ..retarget.preview import remove_preview

        target = bpy.data.objects.get(self.target) if self.target else getattr(
            context.scene, "tokenmocap_retarget_target", None)
        if target is None or target.type != "ARMATURE":
            self.report({"ERROR"}, f"clear preview: no target armature ({self.target or 'nothing chosen'})")
            return {"CANCELLED"}
        removed = remove_preview(target)
        self.report({"INFO"}, f"removed {removed} preview constraints from {target.name}")
        return {"FINISHED"}


class TOKENMOCAP_OT_retarget_save_map(_RetargetProps, bpy.types.Operator):
    """Save the bone map (auto-mapped, preset or file) for the target as JSON, to edit and reuse"""

    bl_idname = "tokenmocap.retarget_save_map"
    bl_label = "Save Bone Map"

    filepath: StringProperty(name="File", subtype="FILE_PATH")

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if not self.filepath:
            self.filepath = bpy.path.abspath("//") + "bone_map.json"
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        from ..retarget import resolve_bone_map
        from ..retarget.scene import rig_rest

        try:
            target = self._target(context, None)
            bone_map, weak = self._bone_map(target)
            rest = rig_rest(target)
            resolved = resolve_bone_map(bone_map, rest.names, rest.parents.tolist(), f"armature {target.name!r}")
            path = save_bone_map(resolved, bpy.path.abspath(self.filepath))
        except (BoneMapError, ValueError, OSError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        note = f"; check: {', '.join(weak)}" if weak else ""
        self.report({"INFO"}, f"saved bone map for {target.name} to {path}{note}")
        return {"FINISHED"}


class TOKENMOCAP_PT_retarget(bpy.types.Panel):
    bl_idname = "TOKENMOCAP_PT_retarget"
    bl_label = "Retarget"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "TokenMocap"
    bl_parent_id = "TOKENMOCAP_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        scene = context.scene
        layout = self.layout
        layout.prop(scene, "tokenmocap_retarget_source", text="Character")
        layout.prop(scene, "tokenmocap_retarget_target", text="Rig")
        layout.prop(scene, "tokenmocap_retarget_map_mode", text="Map")
        if scene.tokenmocap_retarget_map_mode == "PRESET":
            layout.prop(scene, "tokenmocap_retarget_preset", text="Preset")
        elif scene.tokenmocap_retarget_map_mode == "FILE":
            layout.prop(scene, "tokenmocap_retarget_map_file", text="File")
        layout.prop(scene, "tokenmocap_retarget_root_motion", text="Root")
        row = layout.row(align=True)
        for label, icon, preview in (("Preview", "HIDE_OFF", True), ("Bake", "ACTION", False)):
            op = row.operator("tokenmocap.retarget", text=label, icon=icon)
            op.preview = preview
            op.map_mode = scene.tokenmocap_retarget_map_mode
            if scene.tokenmocap_retarget_map_mode == "PRESET":
                op.preset = scene.tokenmocap_retarget_preset
            op.map_file = scene.tokenmocap_retarget_map_file
            op.root_motion = scene.tokenmocap_retarget_root_motion
        row = layout.row(align=True)
        row.operator("tokenmocap.retarget_clear_preview", text="Clear Preview", icon="X")
        save = row.operator("tokenmocap.retarget_save_map", text="Save Map", icon="FILE_TICK")
        save.map_mode = scene.tokenmocap_retarget_map_mode
        save.map_file = scene.tokenmocap_retarget_map_file


_SCENE_PROPS = {
    "tokenmocap_retarget_source": lambda: PointerProperty(name="Character", type=bpy.types.Object, poll=_is_armature),
    "tokenmocap_retarget_target": lambda: PointerProperty(name="Rig", type=bpy.types.Object, poll=_is_armature),
    "tokenmocap_retarget_map_mode": lambda: EnumProperty(name="Bone map", items=_MAP_MODES, default="AUTO"),
    "tokenmocap_retarget_preset": lambda: EnumProperty(name="Preset", items=_PRESET_ITEMS),
    "tokenmocap_retarget_map_file": lambda: StringProperty(name="Map file", subtype="FILE_PATH"),
    "tokenmocap_retarget_root_motion": lambda: EnumProperty(name="Root motion", items=_ROOT_ITEMS, default="REST"),
}


def register_properties() -> None:
    for name, make in _SCENE_PROPS.items():
        setattr(bpy.types.Scene, name, make())


def unregister_properties() -> None:
    for name in reversed(list(_SCENE_PROPS)):
        delattr(bpy.types.Scene, name)


classes = (TOKENMOCAP_OT_retarget, TOKENMOCAP_OT_retarget_clear_preview, TOKENMOCAP_OT_retarget_save_map,
           TOKENMOCAP_PT_retarget)
