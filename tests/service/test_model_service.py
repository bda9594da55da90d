"""The service with the real engine: TokenHMR (tiny, official-format files) + synthetic SMPL, installed with
`tokenmocap models install`, served on 127.0.0.1 and driven by the real client."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from backend.body import SMPL_JOINT_NAMES, SMPL_PARENTS, load_smpl_data, smpl_rest_body
from backend.lite import lite_available
from backend.vision import mediapipe_available

BOXES = [[60.0, 20.0, 360.0, 500.0], [300.0, 200.0, 500.0, 480.0]]


@pytest.fixture
def model_server(start_server, installed_models):
    return start_server(models_dir=installed_models, engine="tokenhmr", detector="full_frame", device="cpu")


def _assert_people_close(actual: list, expected: list) -> None:
    assert len(actual) == len(expected), (len(actual), len(expected))
    for a, e in zip(actual, expected):
        for key in ("bbox", "global_orient", "body_pose", "betas", "cam_crop", "cam_t_full", "keypoints_2d"):
            np.testing.assert_allclose(np.asarray(a[key]), np.asarray(e[key]), rtol=1e-4, atol=1e-4, err_msg=key)
        assert a["engine"] == "tokenhmr" and a["focal_length"] == pytest.approx(e["focal_length"]), (a, e)


def test_hello_lists_installed_tokenhmr(model_server, make_client):
    hello = make_client(model_server.address).hello()
    assert hello["engines"]["tokenhmr"] == {"available": True, "reason": "installed"}, hello["engines"]


def test_body_model_from_installed_smpl(model_server, make_client, installed_models):
    client = make_client(model_server.address)
    body = client.body_model()
    assert body.source == "smpl", body.source
    smpl = load_smpl_data(installed_models / "smpl" / "SMPL_NEUTRAL.pkl")
    assert body.vertices.shape == (6890, 3), body.vertices.shape
    np.testing.assert_array_equal(body.faces, smpl.faces, err_msg="faces")
    assert body.parents == list(SMPL_PARENTS) and body.joint_names == list(SMPL_JOINT_NAMES)
    np.testing.assert_allclose(body.weights.sum(axis=1), 1.0, atol=1e-5, err_msg="skin weight rows")
    betas = [1.5, -0.5, 0.0, 0.3]
    shaped = client.body_model(betas)
    expected = smpl_rest_body(smpl, np.array(betas))
    np.testing.assert_allclose(shaped.vertices, expected.vertices, atol=1e-5, err_msg="vertices for betas")
    np.testing.assert_allclose(shaped.joints, expected.joints, atol=1e-5, err_msg="joints for betas")
    assert np.abs(shaped.vertices - body.vertices).max() > 1e-3, "betas did not change the body"


def test_body_model_without_smpl_is_the_mannequin(start_server, make_client):
    running = start_server()  # empty models dir
    body = make_client(running.address).body_model()
    assert body.source == "mannequin", body.source
    assert body.joints.shape == (24, 3) and body.weights.shape[1] == 24, (body.joints.shape, body.weights.shape)
    assert body.parents == list(SMPL_PARENTS)


def test_reconstruct_with_boxes_matches_in_process_engine(model_server, make_client, reference_engine,
                                                          astronaut_bgr):
    ok, jpeg = cv2.imencode(".jpg", astronaut_bgr)
    result = make_client(model_server.address, timeout_ms=60_000).reconstruct(jpeg.tobytes(), boxes=BOXES)
    assert result["engine"] == "tokenhmr" and result["image_size"] == [512, 512], result
    image = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    expected = [p.to_json() for p in reference_engine.reconstruct(image, np.array(BOXES, np.float32))]
    _assert_people_close(result["people"], expected)
    person = result["people"][0]
    assert np.asarray(person["body_pose"]).shape == (23, 3) and np.asarray(person["keypoints_2d"]).shape == (44, 2)
    assert person["cam_t_full"][2] > 0, person["cam_t_full"]
    assert person["focal_length"] == pytest.approx(5000 / 256 * 512), person["focal_length"]
    assert [p["score"] for p in result["people"]] == [1.0, 1.0], "client boxes have score 1"


def test_concurrent_clients_with_the_model(model_server, make_client, reference_engine, astronaut_bgr):
    images = [np.ascontiguousarray(np.roll(astronaut_bgr, 40 * i, axis=1)) for i in range(3)]
    expected = [[p.to_json() for p in reference_engine.reconstruct(img, np.array(BOXES[:1], np.float32))]
                for img in images]
    results: dict[int, list] = {}

    def work(i: int) -> None:
        client = make_client(model_server.address, timeout_ms=60_000)
        results[i] = [client.reconstruct(images[i], boxes=BOXES[:1])["people"] for _ in range(2)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for i in range(3):
        for people in results[i]:
            _assert_people_close(people, expected[i])


@pytest.mark.skipif(not mediapipe_available()[0], reason="person detection needs the lite venv (mediapipe): "
                    f"{mediapipe_available()[1]}")
def test_reconstruct_with_detection(start_server, installed_models, make_client, astronaut_bgr):
    running = start_server(models_dir=installed_models, engine="tokenhmr", detector="mediapipe", device="cpu")
    ok, jpeg = cv2.imencode(".jpg", astronaut_bgr)
    result = make_client(running.address, timeout_ms=120_000).reconstruct(jpeg.tobytes())
    assert len(result["people"]) == 1, result["people"]
    x1, y1, x2, y2 = result["people"][0]["bbox"]
    # the astronaut's face is around (235, 130) and her torso around (250, 350) in this 512 x 512 photo
    assert x1 < 235 < x2 and y1 < 130 < y2 and y2 > 350, result["people"][0]["bbox"]
    assert 0.3 < result["people"][0]["score"] <= 1.0, result["people"][0]["score"]
    assert "detect_crop" in result["timing_ms"], result["timing_ms"]


def test_box_outside_the_image_is_a_bad_field_error(model_server, make_client, astronaut_bgr):
    from backend.client import ServerError

    client = make_client(model_server.address, timeout_ms=60_000)
    with pytest.raises(ServerError) as info:
        client.reconstruct(astronaut_bgr, boxes=[[2000, 2000, 2100, 2100]])
    assert info.value.code == "bad_field", info.value
    assert client.reconstruct(astronaut_bgr, boxes=BOXES[:1])["people"], "server unusable after a bad box"


@pytest.mark.skipif(not lite_available()[0], reason=f"the lite engine cannot run here: {lite_available()[1]}")
def test_auto_engine_is_lite_without_tokenhmr_and_tokenhmr_when_installed(tmp_path, installed_models):
    from backend.engine import make_engine

    from backend.engine import available_engines, resolve_engine_name

    assert resolve_engine_name("auto", available_engines(installed_models)) == "tokenhmr"
    nothing = {name: {"available": False, "reason": "test"} for name in ("tokenhmr", "hmr2", "lite")}
    assert resolve_engine_name("auto", nothing) is None
    assert resolve_engine_name("hmr2", nothing) == "hmr2"  # a named engine is never swapped for another
    lite = make_engine("auto", tmp_path / "empty")
    try:
        assert lite.name == "lite", lite.name
    finally:
        lite.close()
    tokenhmr = make_engine("auto", installed_models, device="cpu", detector="full_frame")
    try:
        assert tokenhmr.name == "tokenhmr", tokenhmr.name
    finally:
        tokenhmr.close()


@pytest.mark.skipif(not lite_available()[0], reason=f"the lite engine cannot run here: {lite_available()[1]}")
def test_server_without_models_serves_the_lite_engine(start_server, make_client, astronaut_bgr):
    running = start_server(engine="auto")  # empty models dir
    client = make_client(running.address, timeout_ms=120_000)
    hello = client.hello()
    assert hello["engines"]["lite"]["available"] is True and hello["engine"] == "lite", hello
    result = client.reconstruct(astronaut_bgr)
    assert result["engine"] == "lite" and len(result["people"]) == 1, result
    assert result["people"][0]["engine"] == "lite", result["people"][0]["engine"]


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="bf16 autocast runs only on a CUDA device; "
                    "none here")
def test_cuda_bf16_matches_cpu_fp32(installed_models, reference_engine, astronaut_bgr):
    from backend.engines import load_hmr_engine

    cuda = load_hmr_engine("tokenhmr", installed_models, device="cuda", detector="full_frame")
    try:
        prepared = reference_engine.prepare(astronaut_bgr, np.array(BOXES, np.float32))
        expected = reference_engine.infer(prepared.crops)
        actual = cuda.infer(prepared.crops)
    finally:
        cuda.close()
    for key in expected:
        assert actual[key].dtype == np.float32, (key, actual[key].dtype)
        # bf16 keeps about 3 significant digits
        np.testing.assert_allclose(actual[key], expected[key], rtol=5e-2, atol=5e-2, err_msg=key)


@pytest.mark.skipif(not mediapipe_available()[0], reason="person detection needs the lite venv (mediapipe): "
                    f"{mediapipe_available()[1]}")
def test_request_overrides_the_server_detector(model_server, make_client, astronaut_bgr):
    """The server's default is the whole frame; a request naming `mediapipe` gets a tight box around the person."""
    client = make_client(model_server.address, timeout_ms=120_000)
    whole = client.reconstruct(astronaut_bgr)
    assert whole["people"][0]["bbox"] == [0.0, 0.0, 512.0, 512.0], whole["people"][0]["bbox"]
    detected = client.reconstruct(astronaut_bgr, detector="mediapipe")
    x1, y1, x2, y2 = detected["people"][0]["bbox"]
    assert x1 < 235 < x2 and y1 < 130 < y2, detected["people"][0]["bbox"]
    assert (x2 - x1) * (y2 - y1) < 0.8 * 512 * 512, f"not a person box: {detected['people'][0]['bbox']}"


def test_unknown_detector_is_a_bad_field_error(model_server, make_client, astronaut_bgr):
    from backend.client import ServerError

    client = make_client(model_server.address, timeout_ms=60_000)
    with pytest.raises(ServerError) as info:
        client.reconstruct(astronaut_bgr, detector="yolo")
    assert info.value.code == "bad_field" and "unknown detector" in info.value.message, info.value


def test_a_crowd_result_larger_than_a_request_header_reaches_the_client(model_server, make_client, astronaut_bgr):
    """Each person is ~3.6 KB of JSON: 40 people exceed the 64 KiB a *request* header may use, and the client must
    still read the reply (replies are checked against protocol.REPLY_LIMITS)."""
    from backend import protocol

    boxes = [[x, y, x + 60.0, y + 120.0] for x in range(0, 480, 60) for y in range(0, 500, 100)]
    assert len(boxes) == 40 <= protocol.DEFAULT_LIMITS.max_boxes
    result = make_client(model_server.address, timeout_ms=60_000).reconstruct(astronaut_bgr, boxes=boxes)
    assert len(result["people"]) == 40 and result["people"][39]["bbox"] == boxes[39], len(result["people"])
    size = len(protocol.encode(result)[0])
    assert size > protocol.DEFAULT_LIMITS.max_header_bytes, f"reply header only {size} bytes; test needs more people"
