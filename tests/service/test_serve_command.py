"""`tokenmocap serve` / `reconstruct` commands: SIGTERM and SIGINT shut the service down gracefully (pending requests
are answered or failed with `shutting_down`), a public address is refused without CURVE, and `reconstruct` gives
the same result in-process and through a server, with a preview drawn where the result says."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest

from backend import cli
from backend.client import Client
from backend.protocol import MessageType

from .test_model_service import _assert_people_close


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_shuts_down_gracefully(installed_models, zmq_context, astronaut_bgr, sig):
    """Runs `tokenmocap serve` in this process's main thread (signal handlers live there) and signals itself."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    answers: dict = {}
    ids: list = []
    failures: list = []

    def drive() -> None:
        client = Client(address, context=zmq_context, timeout_ms=60_000, retries=1)
        try:
            client.hello(timeout_ms=30_000)
            ids.extend(client.send(MessageType.RECONSTRUCT, *client.image_fields(astronaut_bgr)) for _ in range(6))
            time.sleep(0.3)
            os.kill(os.getpid(), sig)
            deadline = time.monotonic() + 60
            while len(answers) < len(ids) and time.monotonic() < deadline:
                reply = client.receive(1000)
                if reply is not None:
                    answers[reply.id] = reply.header
        except Exception as e:  # report in the main thread
            failures.append(repr(e))
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            client.close()

    before = signal.getsignal(sig)
    thread = threading.Thread(target=drive)
    thread.start()
    code = cli.main(["serve", "--address", address, "--models-dir", str(installed_models), "--device", "cpu",
                     "--detector", "full_frame", "--engine", "tokenhmr"])
    thread.join(60)
    assert not failures, failures
    assert code == 0, code
    assert signal.getsignal(sig) is before, "serve did not restore the previous signal handler"
    assert ids and set(answers) == set(ids), f"unanswered requests {set(ids) - set(answers)}"
    kinds = {h["type"] if h["type"] == "result" else h.get("code") for h in answers.values()}
    assert kinds <= {"result", "shutting_down"}, kinds


def test_serve_refuses_a_public_address_without_curve():
    out = subprocess.run([sys.executable, "-m", "backend.cli", "serve", "--address", "tcp://0.0.0.0:5599"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "CURVE" in out.stderr and "--curve-secret" in out.stderr, out.stderr


def test_reconstruct_command_in_process_and_through_a_server(start_server, installed_models, tmp_path,
                                                             astronaut_bgr):
    image_path = tmp_path / "astronaut.jpg"
    cv2.imwrite(str(image_path), astronaut_bgr)
    running = start_server(models_dir=installed_models, engine="tokenhmr", detector="full_frame", device="cpu")
    args = ["reconstruct", str(image_path), "--box", "60,20,360,500", "--models-dir", str(installed_models)]
    assert cli.main([*args, "--server", running.address, "--out", str(tmp_path / "remote.json")]) == 0
    assert cli.main([*args, "--device", "cpu", "--engine", "tokenhmr", "--out", str(tmp_path / "local.json"),
                     "--preview", str(tmp_path / "preview.png")]) == 0
    remote = json.loads((tmp_path / "remote.json").read_text())
    local = json.loads((tmp_path / "local.json").read_text())
    assert local["engine"] == remote["engine"] == "tokenhmr", (local["engine"], remote["engine"])
    _assert_people_close(remote["people"], local["people"])
    photo = cv2.imread(str(image_path))
    preview = cv2.imread(str(tmp_path / "preview.png"))
    assert preview is not None and preview.shape == photo.shape, "preview not written"
    changed = (preview.astype(int) - photo.astype(int)).any(axis=2)
    assert changed.mean() > 0.01, f"preview barely differs from the photo ({changed.mean():.4f} of pixels)"
    k = np.round(np.asarray(local["people"][0]["keypoints_2d"])[:25]).astype(int)
    inside = (k[:, 0] >= 0) & (k[:, 0] < 512) & (k[:, 1] >= 0) & (k[:, 1] < 512)
    assert inside.any() and changed[k[inside, 1], k[inside, 0]].all(), "keypoints not drawn where the result says"


def test_reconstruct_command_reports_missing_models(tmp_path, astronaut_bgr, caplog):
    image_path = tmp_path / "astronaut.png"
    cv2.imwrite(str(image_path), astronaut_bgr)
    code = cli.main(["reconstruct", str(image_path), "--engine", "tokenhmr", "--models-dir", str(tmp_path / "none")])
    assert code == 1, code
    assert "tokenmocap models install" in caplog.text, caplog.text
