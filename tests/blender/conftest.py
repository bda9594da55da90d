"""Fixtures for the Blender (bpy) tests: a fresh scene per test and a synthetic rest body.

The synthetic body is a small skinned mesh in the ``body_model`` reply's layout (one box of 8 vertices per
joint, rigidly weighted to that joint, plus blended vertices between parent and child), with a random but
plausible SMPL-shaped skeleton. It needs no SMPL files and no backend.
"""

from __future__ import annotations

import atexit
import typing

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="the Blender tests need bpy (run them in .venv-blender)")

from blender_addon.core import SMPL_JOINT_NAMES, SMPL_PARENTS  # noqa: E402


def _clear_typing_caches() -> None:
    """Drop ``typing``'s subscription caches before the interpreter shuts down.

    The bpy 4.2 module shuts Blender down (WM_exit) when the ``bpy`` module object is freed. The glTF exporter's
    annotations (``typing.List[Keyframe]``) put classes whose modules import bpy into typing's never-collected
    caches, so after any glTF export bpy is never freed, WM_exit never runs, and Blender's static destructors
    call into the finalized interpreter: the process exits with SIGSEGV (139) after every test passed. Clearing
    the caches lets bpy 4.2 exit cleanly; bpy 5.0 exits cleanly either way.
    """
    for cleanup in typing._cleanups:
        cleanup()


atexit.register(_clear_typing_caches)

# SMPL-like rest joints (metres, SMPL canonical frame: Y up, facing +Z), rounded from a neutral body.
_REST_JOINTS = np.array([
    [0.00, -0.22, 0.03], [0.06, -0.31, 0.02], [-0.06, -0.31, 0.02], [0.00, -0.11, 0.00], [0.10, -0.69, 0.02],
    [-0.10, -0.69, 0.01], [0.00, 0.02, 0.03], [0.09, -1.09, -0.02], [-0.09, -1.09, -0.02], [0.00, 0.07, 0.03],
    [0.12, -1.15, 0.10], [-0.12, -1.15, 0.10], [0.00, 0.29, -0.01], [0.08, 0.19, -0.00], [-0.08, 0.19, -0.01],
    [0.00, 0.35, 0.05], [0.18, 0.23, -0.02], [-0.18, 0.23, -0.01], [0.44, 0.21, -0.04], [-0.44, 0.21, -0.04],
    [0.70, 0.22, -0.03], [-0.70, 0.22, -0.03], [0.78, 0.21, -0.05], [-0.78, 0.21, -0.05],
])


def synthetic_body_model(seed: int = 0) -> dict:
    """A ``body_model`` reply (arrays decoded) for a synthetic body; ``seed`` perturbs the shape."""
    rng = np.random.default_rng(seed)
    joints = _REST_JOINTS + rng.normal(scale=0.005, size=(24, 3))
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64) * 0.02
    box_faces = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                          [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    verts, faces, weights = [], [], []
    for j in range(24):
        parent = SMPL_PARENTS[j]
        centre = joints[j] if parent < 0 else 0.5 * (joints[j] + joints[parent])
        base = len(verts)
        verts.extend(centre + corners)
        faces.extend(box_faces + base)
        w = np.zeros((8, 24))
        if parent < 0:
            w[:, j] = 1.0
        else:
            w[:, j] = 0.7
            w[:, parent] = 0.3
        weights.extend(w)
    return {
        "vertices": np.asarray(verts),
        "faces": np.asarray(faces, dtype=np.int64),
        "weights": np.asarray(weights),
        "joints": joints,
        "parents": np.asarray(SMPL_PARENTS, dtype=np.int64),
        "joint_names": list(SMPL_JOINT_NAMES),
    }


def synthetic_person(seed: int = 0, t_z: float = 6.0, scale: float = 0.3) -> dict:
    """A ``PersonResult.to_json()`` object with a random pose, upright in front of the camera."""
    rng = np.random.default_rng(seed)
    return {
        "engine": "tokenhmr",
        "bbox": [100.0, 50.0, 300.0, 450.0],
        "score": 0.95,
        "global_orient": (np.array([np.pi, 0.0, 0.0]) + rng.normal(scale=0.1, size=3)).tolist(),
        "body_pose": rng.normal(scale=scale, size=(23, 3)).tolist(),
        "betas": rng.normal(scale=0.5, size=10).tolist(),
        "cam_crop": [0.8, 0.0, 0.1],
        "cam_t_full": [0.1 * rng.normal(), 0.2, t_z],
        "focal_length": 5000.0 / 256 * 640,
        "keypoints_2d": np.zeros((44, 2)).tolist(),
    }


@pytest.fixture
def fresh_scene():
    """An empty scene (factory settings) for each test."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield bpy.context.scene
    bpy.ops.wm.read_factory_settings(use_empty=True)


@pytest.fixture
def body_model() -> dict:
    return synthetic_body_model()


@pytest.fixture
def make_person():
    """``make_person(seed, t_z, scale)`` → a synthetic ``PersonResult`` JSON object."""
    return synthetic_person


# ----------------------------------------------------------------------------------------------------------------
# A scripted backend: a real ZeroMQ ROUTER on 127.0.0.1 (random port) speaking protocol v1 from the shared
# protocol module, answering with synthetic data. Used until/besides the real server test (test_real_backend.py).

import threading  # noqa: E402

import zmq  # noqa: E402

from blender_addon.bridge import protocol  # noqa: E402

MT = protocol.MessageType


class ScriptedBackend:
    """Serves hello, body_model, reconstruct and streamed video from a thread; records what it received.

    Video: each ``video_frame`` is answered with a ``frame_result`` ``hold_back`` frames later (like the real
    tracker's confirmation delay); ``video_end`` flushes the rest and sends ``video_done``. Tracks are given as
    {track_id: frame indices}; their people are synthetic, in TrackState.to_json's flat form.
    """

    def __init__(self, people: list[dict], video_tracks: dict[int, list[int]] | None = None,
                 fail_reconstruct: str | None = None, hold_back: int = 2, curve: bool = False) -> None:
        self.people = people
        self.video_tracks = video_tracks or {}
        self.fail_reconstruct = fail_reconstruct
        self.hold_back = hold_back
        self.received: list[dict] = []
        self.frames: dict[int, bytes] = {}  # video frame index -> JPEG bytes received
        self.cancelled = threading.Event()
        self.cancel_targets: list[str] = []
        self._context = zmq.Context()
        self._sock = self._context.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self.server_public = None
        if curve:  # CurveZMQ server: only clients that know its public key can talk to it
            public, secret = zmq.curve_keypair()
            self._sock.curve_server = True
            self._sock.curve_secretkey = secret
            self.server_public = public.decode("ascii")
        port = self._sock.bind_to_random_port("tcp://127.0.0.1")
        self.address = f"tcp://127.0.0.1:{port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _send(self, envelope, header, payloads=()):
        self._sock.send_multipart([*envelope, *protocol.encode(header, payloads)])

    def _frame_result(self, envelope, rid, index):
        tracks = [{"track_id": tid, "state": "observed",
                   **synthetic_person(seed=100 * tid + index, t_z=5 + 0.05 * index)}
                  for tid, frames in self.video_tracks.items() if index in frames]
        self._send(envelope, protocol.make_header(MT.FRAME_RESULT, rid, session="s1", index=index, tracks=tracks))

    def _run(self):
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        held: list[tuple[str, int]] = []
        while not self._stop.is_set():
            if not dict(poller.poll(10)).get(self._sock):
                continue
            frames = self._sock.recv_multipart()
            envelope, message = frames[:1], protocol.decode(frames[1:])
            self.received.append(message.header)
            rid, kind = message.id, message.type
            if kind == MT.HELLO:
                self._send(envelope, protocol.make_header(MT.HELLO, rid, server_version="scripted",
                                                          protocol_version=1, device="cpu", engines=["tokenhmr"]))
            elif kind == MT.BODY_MODEL:
                body = synthetic_body_model(seed=len(self.received))
                arrays = {k: body[k].astype(np.float32) for k in ("vertices", "weights", "joints")}
                arrays["faces"] = body["faces"].astype(np.int32)
                desc, payloads = protocol.encode_arrays(arrays)
                self._send(envelope, protocol.make_header(
                    MT.BODY_MODEL, rid, joint_names=body["joint_names"], parents=body["parents"].tolist(),
                    arrays=desc), payloads)
            elif kind == MT.RECONSTRUCT:
                if self.fail_reconstruct:
                    self._send(envelope, protocol.error_header(rid, "no_model", self.fail_reconstruct))
                else:
                    self._send(envelope, protocol.make_header(MT.RESULT, rid, people=self.people))
            elif kind == MT.VIDEO_START:
                self._send(envelope, protocol.make_header(MT.VIDEO_STARTED, rid, session="s1",
                                                          latency_frames=self.hold_back))
            elif kind == MT.VIDEO_FRAME:
                self.frames[message.header["index"]] = bytes(message.payloads[0])
                held.append((rid, message.header["index"]))
                while len(held) > self.hold_back:
                    self._frame_result(envelope, *held.pop(0))
            elif kind == MT.VIDEO_END:
                for item in held:
                    self._frame_result(envelope, *item)
                held = []
                self._send(envelope, protocol.make_header(MT.VIDEO_DONE, rid, session="s1"))
            elif kind == MT.CANCEL:
                self.cancel_targets.append(message.header["target"])
                self.cancelled.set()
                self._send(envelope, protocol.make_header(MT.CANCELLED, rid, target=message.header["target"]))

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self._sock.close(linger=0)
        self._context.term()


@pytest.fixture
def scripted_backend():
    """``scripted_backend(people=[...], video_tracks={id: frames}, ...)`` → a running ScriptedBackend."""
    started: list[ScriptedBackend] = []

    def _start(**kwargs) -> ScriptedBackend:
        backend = ScriptedBackend(**{"people": [], **kwargs})
        started.append(backend)
        return backend

    yield _start
    for backend in started:
        backend.close()


# ----------------------------------------------------------------------------------------------------------------
# The add-on installed as a real extension: copied (protocol symlink resolved) into a temporary extension
# repository and enabled through addon_utils, so __package__, preferences and relative imports are as in a user's
# Blender.

import importlib  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
EXT_REPO = "tmtest"
EXT_MODULE = f"bl_ext.{EXT_REPO}.tokenmocap"


@pytest.fixture
def addon(fresh_scene, tmp_path):
    """The enabled extension's top module (``bl_ext.tmtest.tokenmocap``); disabled and removed afterwards."""
    import addon_utils

    repo_dir = tmp_path / "extensions"
    shutil.copytree(REPO_ROOT / "blender_addon", repo_dir / "tokenmocap", symlinks=False,
                    ignore=shutil.ignore_patterns("__pycache__", "wheels"))
    repos = bpy.context.preferences.extensions.repos
    repo = repos.new(name=EXT_REPO, module=EXT_REPO, custom_directory=str(repo_dir), source="USER")
    module = addon_utils.enable(EXT_MODULE, default_set=True, handle_error=None)
    assert module is not None, f"enabling {EXT_MODULE} failed"
    yield importlib.import_module(EXT_MODULE)
    addon_utils.disable(EXT_MODULE, default_set=True)
    repos.remove(repo)


@pytest.fixture
def addon_prefs(addon):
    return bpy.context.preferences.addons[EXT_MODULE].preferences
