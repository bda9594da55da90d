"""TokenMocap Blender extension: registration only (the manifest is blender_manifest.toml).

``bpy`` is imported lazily inside :func:`register`, so the bpy-free ``core`` package can be imported and
tested outside Blender.
"""


def register() -> None:
    """Register every class of the add-on (see ``registration.py``)."""
    from . import registration

    registration.register()


def unregister() -> None:
    """Unregister in reverse order."""
    from . import registration

    registration.unregister()
