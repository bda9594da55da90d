"""Register the add-on's classes from a list of submodules, in order, and unregister them in reverse.

Each listed module has a ``classes`` tuple and may have ``register_properties()`` / ``unregister_properties()``.
Retargeting (another owner) plugs in by adding its module, e.g. ``"ops.retarget"``, to ``MODULES``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import bpy

__all__ = ["MODULES", "register", "unregister"]

MODULES: tuple[str, ...] = (
    "ui.properties",
    "ui.preferences",
    "ops.reconstruct",
    "ops.video",
    "ops.export",
    "ops.control",
    "ops.pick",
    "ui.image_overlay",
    "ui.panels",
    "ops.retarget",  # retargeting (H7); after ui.panels: its sub-panel is parented to TOKENMOCAP_PT_main
)


def _modules() -> list[ModuleType]:
    return [importlib.import_module(f".{name}", __package__) for name in MODULES]


def register() -> None:
    for module in _modules():
        for cls in module.classes:
            bpy.utils.register_class(cls)
        if hasattr(module, "register_properties"):
            module.register_properties()


def unregister() -> None:
    for module in reversed(_modules()):
        if hasattr(module, "unregister_properties"):
            module.unregister_properties()
        for cls in reversed(module.classes):
            bpy.utils.unregister_class(cls)
