"""Small operators: cancel the running job, test the backend connection, start a local backend."""

from __future__ import annotations

import shlex
import subprocess

import bpy

from ..bridge import BridgeWorker, CurveKeyPair, check_online_access, protocol
from ..ui.preferences import addon_preferences

__all__ = ["TOKENMOCAP_OT_cancel", "TOKENMOCAP_OT_test_connection", "TOKENMOCAP_OT_start_backend", "classes",
           "describe_hello", "check_connection"]


class TOKENMOCAP_OT_cancel(bpy.types.Operator):
    """Stop the running TokenMocap job (characters already finished are kept)"""

    bl_idname = "tokenmocap.cancel"
    bl_label = "Cancel"

    def execute(self, context: bpy.types.Context) -> set[str]:
        wm = context.window_manager
        if not wm.tokenmocap_running:
            self.report({"INFO"}, "no TokenMocap job is running")
            return {"CANCELLED"}
        wm.tokenmocap_cancel_requested = True
        return {"FINISHED"}


def describe_hello(header: dict) -> str:
    """One status line from a ``hello`` reply."""
    engines = header.get("engines") or []
    if isinstance(engines, dict):  # {name: {"available": bool, "reason": str}}
        engines = [name for name, info in engines.items() if isinstance(info, dict) and info.get("available")]
    text = (f"connected: server {header.get('server_version', '?')}, protocol {header.get('protocol_version', '?')}, "
            f"device {header.get('device', '?')}, engines: {', '.join(map(str, engines)) or 'none installed'}")
    if not engines:
        text += " (run 'tokenmocap models install' on the backend machine)"
    runs = header.get("engine")  # what a request runs when it names no engine (protocol 1, newer servers)
    if runs:
        text += f"; runs {runs}"
        if runs == "lite":
            text += " (MediaPipe + IK; install the TokenHMR files with 'tokenmocap models install' for full quality)"
    return text


def check_connection(address: str, curve: CurveKeyPair | None, timeout_ms: int = protocol.HELLO_TIMEOUT_MS,
                     online_access: bool = True) -> tuple[bool, str]:
    """Send ``hello`` and wait for the answer. Returns (ok, status line)."""
    try:
        check_online_access(address, online_access)
        worker = BridgeWorker(address, curve).start()
    except ValueError as e:
        return False, str(e)
    try:
        rid = worker.send(protocol.MessageType.HELLO, {"client": "tokenmocap-blender"}, timeout_ms=timeout_ms)
        while True:
            event = worker.wait_event(timeout_ms / 1000.0 + 1.0)
            if event is None or event.kind == "timeout":
                return False, (f"no answer from {address} within {timeout_ms / 1000:.0f} s: is the backend running? "
                               "Start it with the button below or 'tokenmocap serve'")
            if event.kind == "failure":
                return False, event.message
            if event.request_id != rid:
                continue
            if event.header.get("type") == protocol.MessageType.ERROR:
                return False, f"backend error ({event.header.get('code')}): {event.header.get('message')}"
            return True, describe_hello(event.header)
    finally:
        worker.stop()


class TOKENMOCAP_OT_test_connection(bpy.types.Operator):
    """Ask the backend for its version, device and installed models"""

    bl_idname = "tokenmocap.test_connection"
    bl_label = "Test Connection"

    def execute(self, context: bpy.types.Context) -> set[str]:
        prefs = addon_preferences(context)
        curve = None
        if prefs.use_curve:
            curve = CurveKeyPair(prefs.server_public_key, prefs.client_public_key, prefs.client_secret_key)
        ok, status = check_connection(prefs.backend_address, curve, online_access=bpy.app.online_access)
        prefs.connection_status = status
        self.report({"INFO"} if ok else {"ERROR"}, status)
        return {"FINISHED"} if ok else {"CANCELLED"}


class TOKENMOCAP_OT_start_backend(bpy.types.Operator):
    """Start a local backend with the command line from the preferences (it keeps running in the background)"""

    bl_idname = "tokenmocap.start_backend"
    bl_label = "Start Local Backend"

    def execute(self, context: bpy.types.Context) -> set[str]:
        prefs = addon_preferences(context)
        command = prefs.backend_command.replace("{address}", prefs.backend_address)
        try:
            args = shlex.split(command)
            process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
        except (ValueError, OSError) as e:
            self.report({"ERROR"}, f"could not start the backend with {command!r}: {e}. Fix the command in "
                                   "Preferences > Add-ons > TokenMocap (e.g. the full path to 'tokenmocap')")
            return {"CANCELLED"}
        prefs.connection_status = f"started backend (pid {process.pid}); press Test Connection when it is up"
        self.report({"INFO"}, prefs.connection_status)
        return {"FINISHED"}


classes = (TOKENMOCAP_OT_cancel, TOKENMOCAP_OT_test_connection, TOKENMOCAP_OT_start_backend)
