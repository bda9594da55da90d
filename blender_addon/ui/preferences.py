"""Add-on preferences: backend address, optional CURVE keys, the local backend command, connection status."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, StringProperty

from .. import __package__ as base_package
from ..bridge import protocol

__all__ = ["TOKENMOCAP_AddonPreferences", "addon_preferences", "classes", "DEFAULT_BACKEND_COMMAND"]

DEFAULT_BACKEND_COMMAND = "tokenmocap serve --address {address}"


class TOKENMOCAP_AddonPreferences(bpy.types.AddonPreferences):
    bl_idname = base_package

    backend_address: StringProperty(
        name="Backend address", default=protocol.DEFAULT_ADDRESS,
        description="ZeroMQ address of the TokenMocap backend (tcp://HOST:PORT); loopback by default",
    )
    use_curve: BoolProperty(
        name="Encrypt (CurveZMQ)", default=False,
        description="Use CurveZMQ keys for a backend on another machine (the server refuses unknown keys)",
    )
    server_public_key: StringProperty(name="Server public key", description="Z85 text, 40 characters")
    client_public_key: StringProperty(name="Client public key", description="Z85 text, 40 characters")
    client_secret_key: StringProperty(name="Client secret key", subtype="PASSWORD",
                                      description="Z85 text, 40 characters; keep it private")
    backend_command: StringProperty(
        name="Local backend command", default=DEFAULT_BACKEND_COMMAND,
        description="Command line that starts a local backend; {address} is replaced by the backend address",
    )
    connection_status: StringProperty(name="Status", default="not tested")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(self, "backend_address")
        row = layout.row(align=True)
        row.operator("tokenmocap.test_connection", icon="LINKED")
        row.operator("tokenmocap.start_backend", icon="PLAY")
        layout.label(text=self.connection_status,
                     icon="CHECKMARK" if self.connection_status.startswith("connected") else "INFO")
        layout.prop(self, "backend_command")
        layout.prop(self, "use_curve")
        if self.use_curve:
            col = layout.column()
            col.prop(self, "server_public_key")
            col.prop(self, "client_public_key")
            col.prop(self, "client_secret_key")


def addon_preferences(context: bpy.types.Context) -> TOKENMOCAP_AddonPreferences:
    """This add-on's preferences; raises RuntimeError when the add-on is not enabled."""
    addon = context.preferences.addons.get(base_package)
    if addon is None:
        raise RuntimeError(f"the TokenMocap add-on ({base_package}) is not enabled; enable it in Preferences > Add-ons")
    return addon.preferences


classes = (TOKENMOCAP_AddonPreferences,)
