"""video_start / video_frame / video_end / cancel through the server, driving backend.video.VideoSession with the
tiny installed TokenHMR."""

from __future__ import annotations

import time

import numpy as np
import pytest

from backend.client import ServerError
from backend.protocol import ErrorCode, MessageType

N_FRAMES = 8


@pytest.fixture
def video_server(start_server, installed_models):
    return start_server(models_dir=installed_models, engine="tokenhmr", detector="full_frame", device="cpu")


def _frames(astronaut_bgr):
    small = astronaut_bgr[::2, ::2]
    return [np.ascontiguousarray(np.roll(small, 3 * i, axis=1)) for i in range(N_FRAMES)]


def _collect(client, until_type: str, timeout_s: float = 120) -> list:
    replies = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reply = client.receive(1000)
        if reply is None:
            continue
        replies.append(reply.header)
        if reply.type in (until_type, MessageType.ERROR):
            return replies
    raise AssertionError(f"no {until_type} within {timeout_s} s; got {[r['type'] for r in replies]}")


def test_video_session_streams_tracked_frames(video_server, make_client, astronaut_bgr):
    client = make_client(video_server.address, timeout_ms=60_000)
    started = client.request(MessageType.VIDEO_START, {"fps": 25.0, "options": {"smooth": True}}).header
    assert started["type"] == MessageType.VIDEO_STARTED and started["engine"] == "tokenhmr", started
    session = started["session"]
    assert isinstance(started["latency_frames"], int) and started["latency_frames"] >= 0, started
    results = []
    for i, frame in enumerate(_frames(astronaut_bgr)):
        fields, payloads = client.image_fields(frame)
        client.send(MessageType.VIDEO_FRAME, {"session": session, "index": i, **fields}, payloads)
    client.send(MessageType.VIDEO_END, {"session": session})
    replies = _collect(client, MessageType.VIDEO_DONE)
    errors = [r for r in replies if r["type"] == MessageType.ERROR]
    assert not errors, errors
    results = [r for r in replies if r["type"] == MessageType.FRAME_RESULT]
    assert [r["index"] for r in results] == list(range(N_FRAMES)), [r["index"] for r in results]
    assert replies[-1]["type"] == MessageType.VIDEO_DONE and replies[-1]["frames"] == N_FRAMES, replies[-1]
    track_ids = {t["track_id"] for r in results for t in r["tracks"]}
    assert len(track_ids) == 1, f"one person in every frame must keep one track id, got {track_ids}"
    states = [t["state"] for r in results for t in r["tracks"]]
    assert set(states) <= {"observed", "predicted"} and "observed" in states, states
    first = results[0]["tracks"][0]
    assert np.asarray(first["body_pose"]).shape == (23, 3) and len(first["cam_t_full"]) == 3, first.keys()
    with pytest.raises(ServerError) as info:  # the session is closed after video_end
        client.request(MessageType.VIDEO_END, {"session": session})
    assert info.value.code == ErrorCode.UNKNOWN_SESSION, info.value


def test_video_session_belongs_to_its_client_and_can_be_cancelled(video_server, make_client, astronaut_bgr):
    owner = make_client(video_server.address, timeout_ms=60_000)
    other = make_client(video_server.address, timeout_ms=60_000)
    session = owner.request(MessageType.VIDEO_START, {"fps": 30}).header["session"]
    fields, payloads = other.image_fields(_frames(astronaut_bgr)[0])
    with pytest.raises(ServerError) as info:
        other.request(MessageType.VIDEO_FRAME, {"session": session, "index": 0, **fields}, payloads)
    assert info.value.code == ErrorCode.UNKNOWN_SESSION, info.value
    cancelled = owner.request(MessageType.CANCEL, {"target": session}).header
    assert cancelled["type"] == MessageType.CANCELLED and cancelled["found"] is True, cancelled
    with pytest.raises(ServerError) as info:
        owner.request(MessageType.VIDEO_FRAME, {"session": session, "index": 0, **fields}, payloads)
    assert info.value.code == ErrorCode.UNKNOWN_SESSION, info.value


def test_video_start_with_bad_options_is_bad_field(video_server, make_client):
    client = make_client(video_server.address, timeout_ms=60_000)
    with pytest.raises(ServerError) as info:
        client.request(MessageType.VIDEO_START, {"fps": 25, "options": {"warp_speed": 9}})
    assert info.value.code == ErrorCode.BAD_FIELD and "warp_speed" in info.value.message, info.value


def test_out_of_order_frame_is_bad_field(video_server, make_client, astronaut_bgr):
    client = make_client(video_server.address, timeout_ms=60_000)
    session = client.request(MessageType.VIDEO_START, {"fps": 25}).header["session"]
    fields, payloads = client.image_fields(_frames(astronaut_bgr)[0])
    client.send(MessageType.VIDEO_FRAME, {"session": session, "index": 5, **fields}, payloads)
    with pytest.raises(ServerError) as info:
        client.request(MessageType.VIDEO_FRAME, {"session": session, "index": 3, **fields}, payloads)
    assert info.value.code == ErrorCode.BAD_FIELD and "not after" in info.value.message, info.value
