"""The lite worker's pipe framing and process handling (real subprocesses, real pipes)."""

from __future__ import annotations

import io
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from backend.lite import LITE_PYTHON_ENV, LiteUnavailableError, LiteWorker, find_lite_python, lite_available
from backend.lite.worker import read_message, write_message

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_framing_round_trip() -> None:
    buf = io.BytesIO()
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    world = np.linspace(-1, 1, 99, dtype=np.float32).reshape(33, 3)
    write_message(buf, {"type": "pose", "id": 7, "boxes": [[1, 2, 3, 4]]}, {"image": image, "world": world})
    write_message(buf, {"type": "quit"})
    buf.seek(0)
    header, arrays = read_message(buf)
    assert header["type"] == "pose" and header["id"] == 7 and header["boxes"] == [[1, 2, 3, 4]], header
    np.testing.assert_array_equal(arrays["image"], image)
    np.testing.assert_array_equal(arrays["world"], world)
    assert arrays["world"].dtype == np.float32, arrays["world"].dtype
    header, arrays = read_message(buf)
    assert header["type"] == "quit" and arrays == {}, (header, arrays)
    with pytest.raises(EOFError):
        read_message(buf)


def test_framing_rejects_bad_frames() -> None:
    raw = b'{"type": "pose", "arrays": [{"name": "x", "dtype": "object", "shape": [1]}]}'
    with pytest.raises(ValueError, match="dtype object"):
        read_message(io.BytesIO(struct.pack(">I", len(raw)) + raw))
    with pytest.raises(ValueError, match="exceeds"):
        read_message(io.BytesIO(struct.pack(">I", 1 << 30)))
    raw = b"[1, 2]"
    with pytest.raises(ValueError, match="JSON object"):
        read_message(io.BytesIO(struct.pack(">I", len(raw)) + raw))


def test_missing_lite_venv_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(LITE_PYTHON_ENV, str(tmp_path / "no-such-python"))
    with pytest.raises(LiteUnavailableError, match="scripts/setup.sh"):
        find_lite_python()
    available, reason = lite_available()
    assert not available and "scripts/setup.sh" in reason, reason


def test_python_without_mediapipe_fails_with_the_fix() -> None:
    """The main venv's Python has no mediapipe: the worker must say so, not hang or crash the caller."""
    try:
        import mediapipe  # noqa: F401

        pytest.skip("this interpreter has mediapipe installed; the test needs one without it")
    except ImportError:
        pass
    with pytest.raises(LiteUnavailableError, match="cannot import mediapipe") as info:
        LiteWorker(python=Path(sys.executable), start_timeout_s=60)
    assert "scripts/setup.sh" in str(info.value), str(info.value)


@pytest.fixture(scope="module")
def worker():
    ok, reason = lite_available()
    if not ok:
        pytest.skip(f"lite venv unavailable: {reason}")
    with LiteWorker() as w:
        yield w


def test_worker_reports_bad_requests_and_keeps_running(worker: LiteWorker) -> None:
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        worker.detect(np.zeros((8, 8), np.uint8))
    # A box outside the image is rejected by the worker itself, which then still answers.
    with pytest.raises(ValueError, match="outside"):
        worker.detect(np.zeros((64, 64, 3), np.uint8), np.array([[200.0, 200.0, 300.0, 300.0]]))
    (nobody,) = worker.detect(np.zeros((64, 64, 3), np.uint8))
    assert nobody is None, "a black image has no person"
    assert worker.mediapipe_version == "0.10.21", worker.mediapipe_version


def test_worker_finds_the_astronaut_in_a_box(worker: LiteWorker) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    image = skimage_data.astronaut()
    (person,) = worker.detect(image, np.array([[20.0, 10.0, 420.0, 512.0]]))
    assert person is not None, "MediaPipe found no person in the astronaut photo"
    assert person.world.shape == (33, 3) and person.image_px.shape == (33, 2), (person.world.shape,)
    nose = person.image_px[0]
    assert 180 < nose[0] < 270 and 90 < nose[1] < 170, f"nose at {nose}, expected near (222, 130)"
    # World landmarks: metres, origin between the hips, y down (the head is above the hips: negative y).
    assert -0.9 < person.world[0, 1] < -0.4, f"nose y = {person.world[0, 1]:.2f} m, expected 0.4-0.9 m above hips"


def test_worker_process_ends_on_close() -> None:
    ok, reason = lite_available()
    if not ok:
        pytest.skip(f"lite venv unavailable: {reason}")
    w = LiteWorker()
    w.close()
    assert w._proc.poll() is not None, "the worker process is still running after close()"


def test_unrunnable_python_names_the_fix(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("not a program")  # exists, but is neither executable nor a binary
    with pytest.raises(LiteUnavailableError, match="scripts/setup.sh"):
        LiteWorker(python=fake, start_timeout_s=30)
