"""Person detectors behind one interface: whole frame, mediapipe's BlazePose detector (lite venv), OpenCV HOG
(when this OpenCV has it), torchvision from a local weights file (never downloaded)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from backend.vision import (
    FullFrameDetector,
    PersonDetector,
    TorchvisionDetector,
    hog_available,
    make_detector,
    mediapipe_available,
    torchvision_weights_path,
)

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")


def test_full_frame_detector():
    boxes, scores = FullFrameDetector().detect(np.zeros((30, 40, 3), np.uint8))
    np.testing.assert_array_equal(boxes, [[0, 0, 40, 30]])
    np.testing.assert_array_equal(scores, [1.0])
    assert isinstance(FullFrameDetector(), PersonDetector)


def test_bad_image_is_a_value_error():
    with pytest.raises(ValueError, match="uint8 BGR"):
        FullFrameDetector().detect(np.zeros((30, 40), np.float32))


def test_unknown_detector_name():
    with pytest.raises(ValueError, match="unknown detector"):
        make_detector("yolo")


def test_torchvision_without_local_weights_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert torchvision_weights_path(tmp_path / "models") is None
    with pytest.raises(FileNotFoundError, match="--detector"):
        make_detector("torchvision", tmp_path / "models")
    assert not (tmp_path / "torch").exists(), "something was downloaded into the torch cache"


def test_torchvision_detector_loads_local_weights_strictly(tmp_path, monkeypatch):
    """A randomly initialised Faster R-CNN saved under the official file name is found, loaded and run."""
    import torch
    import torchvision.models.detection as detection

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    torch.manual_seed(0)
    model = detection.fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None, num_classes=91)
    folder = tmp_path / "models" / "detectors"
    folder.mkdir(parents=True)
    torch.save(model.state_dict(), folder / "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth")
    found = torchvision_weights_path(tmp_path / "models")
    assert found is not None and found[0] == "fasterrcnn_mobilenet_v3_large_fpn", found
    assert isinstance(make_detector("auto", tmp_path / "models"), TorchvisionDetector), "auto did not pick it"
    # random weights: keep whatever it finds, to check shapes and ordering; small working size for CPU speed
    detector = TorchvisionDetector(found[0], found[1], min_score=0.0, max_side=160)
    boxes, scores = detector.detect(np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8))
    assert boxes.shape == (len(scores), 4) and boxes.dtype == np.float32, (boxes.shape, boxes.dtype)
    assert np.all(np.diff(scores) <= 0), f"scores not sorted: {scores}"
    torch.save({"not": torch.zeros(1)}, folder / "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth")
    with pytest.raises(RuntimeError, match="Missing key"):
        make_detector("torchvision", tmp_path / "models")


@pytest.mark.skipif(not mediapipe_available()[0], reason=f"needs the lite venv: {mediapipe_available()[1]}")
def test_mediapipe_detector_on_real_photos(astronaut_bgr):
    detector = make_detector("mediapipe")
    try:
        boxes, scores = detector.detect(astronaut_bgr)
        assert boxes.shape == (1, 4), boxes
        x1, y1, x2, y2 = boxes[0]
        assert x1 < 235 < x2 and y1 < 130 < y2, f"astronaut's face (235, 130) not in {boxes[0]}"
        basketball = cv2.imread(str(OPENCV_DATA / "basketball1.png"))
        if basketball is not None:
            boxes, _ = detector.detect(basketball)
            assert len(boxes) == 1 and (boxes[0, 3] - boxes[0, 1]) > 200, boxes
        boxes, scores = detector.detect(np.full((240, 320, 3), 128, np.uint8))
        assert boxes.shape == (0, 4) and scores.shape == (0,), (boxes, scores)
    finally:
        detector.close()


@pytest.mark.skipif(not hog_available(), reason=f"OpenCV {cv2.__version__} has no HOGDescriptor (moved to contrib "
                    "in OpenCV 5)")
def test_hog_detector_finds_pedestrians():
    frame_path = OPENCV_DATA / "vtest.avi"
    if not frame_path.exists():
        pytest.skip("opencv-doc's vtest.avi is not installed")
    ok, frame = cv2.VideoCapture(str(frame_path)).read()
    boxes, scores = make_detector("hog").detect(frame)
    assert len(boxes) >= 2, f"expected several pedestrians in vtest.avi, got {boxes}"


def test_hog_unavailable_says_how_to_fix(monkeypatch):
    import backend.vision.detect as detect

    monkeypatch.setattr(detect, "hog_available", lambda: False)  # plain opencv-python-headless 5 has no HOG
    with pytest.raises(RuntimeError, match="install opencv-contrib-python-headless"):
        make_detector("hog")


def test_auto_without_torchvision_weights_picks_the_first_offline_detector(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    detector = make_detector("auto", tmp_path / "models")
    try:
        expected = "mediapipe" if mediapipe_available()[0] else "hog" if hog_available() else "full_frame"
        assert detector.name == expected, (detector.name, expected)
    finally:
        close = getattr(detector, "close", None)
        if close is not None:
            close()


def test_auto_falls_back_to_the_whole_frame_when_nothing_else_runs(tmp_path, monkeypatch):
    import backend.vision.detect as detect

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(detect, "mediapipe_available", lambda: (False, "no lite venv"))
    monkeypatch.setattr(detect, "hog_available", lambda: False)
    assert isinstance(make_detector("auto", tmp_path / "models"), FullFrameDetector)
    assert make_detector("full_frame", tmp_path / "models").name == "full_frame", "explicit choice overridden"
