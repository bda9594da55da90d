"""The lite engine on real photos that ship offline, checked against hand annotations of each photo.

Photos: ``skimage.data.astronaut()`` (scikit-image wheel) and OpenCV's sample data from Debian's ``opencv-doc``
(``messi5.jpg``: a footballer mid-kick; ``basketball1.png``: a man catching a ball). The annotations below were
read off the photos by eye (pixels): the person's box and a few joints, each named from the person's own side.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from backend.body import KEYPOINT_NAMES
from backend.lite import LiteEngine, joint_limits, lite_available, within_limits
from backend.lite.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from backend.results import PersonResult

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
KP = {name: i for i, name in enumerate(KEYPOINT_NAMES)}

# Per photo: person box (x1, y1, x2, y2), annotated joints {keypoint: (x, y)}, joints whose opposite-side twin is
# also annotated (for the left/right test), elbows / knees clearly bent (SMPL joint, minimum flexion in degrees).
PHOTOS = {
    "astronaut": {
        "box": (15, 10, 420, 512),
        "joints": {"OP Nose": (222, 130), "OP RShoulder": (110, 242), "OP LShoulder": (305, 255),
                   "OP RElbow": (62, 410)},
        "bent": {19: 30.0},  # right elbow: the forearm comes across to the waist
    },
    "messi5": {
        "box": (60, 55, 465, 342),
        "joints": {"OP RWrist": (72, 92), "OP LWrist": (358, 165), "OP RAnkle": (270, 315),
                   "OP LAnkle": (420, 262), "OP Nose": (248, 120)},
        "bent": {5: 45.0},  # right knee: the standing leg is deeply bent
    },
    "basketball1": {
        "box": (25, 75, 170, 480),
        "joints": {"OP Nose": (90, 122), "OP RAnkle": (57, 452), "OP LAnkle": (122, 450)},
        "bent": {18: 45.0, 19: 45.0},  # both elbows: hands up at the ball in front of the chest
    },
}  # fmt: skip
LOCATE_TOLERANCE = 0.12  # a joint must land within this fraction of the box's larger side of its annotation
BOX_SLACK = 0.05  # projected visible joints may leave the annotated box by this fraction of its size


def _load(name: str) -> np.ndarray:
    if name == "astronaut":
        skimage_data = pytest.importorskip("skimage.data")
        return np.ascontiguousarray(skimage_data.astronaut()[:, :, ::-1])
    path = OPENCV_DATA / ("messi5.jpg" if name == "messi5" else f"{name}.png")
    if not path.is_file():
        pytest.skip(f"{path} is missing: install Debian's opencv-doc (scripts/setup.sh does when run as root)")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"OpenCV could not read {path}"
    return image


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    ok, reason = lite_available()
    if not ok:
        pytest.skip(f"lite engine unavailable: {reason}")
    # An empty models folder: the built-in mannequin's skeleton, whatever this machine has installed.
    with LiteEngine(models_dir=tmp_path_factory.mktemp("models")) as e:
        assert e.body_source == "mannequin", e.body_source
        yield e


@pytest.fixture(scope="module")
def results(engine: LiteEngine) -> dict[str, PersonResult]:
    out = {}
    for name in PHOTOS:
        people = engine.reconstruct(_load(name))
        assert len(people) == 1, f"{name}: expected one person, got {len(people)}"
        out[name] = people[0]
    return out


@pytest.mark.parametrize("name", list(PHOTOS))
def test_result_schema_and_camera(name: str, results: dict[str, PersonResult]) -> None:
    person = results[name]
    image = _load(name)
    height, width = image.shape[:2]
    assert person.engine == "lite", person.engine
    assert person.body_pose.shape == (23, 3) and person.keypoints_2d.shape == (44, 2), person.keypoints_2d.shape
    assert np.all(person.betas == 0.0), person.betas
    assert person.focal_length_px == pytest.approx(5000 / 256 * max(width, height)), person.focal_length_px
    assert 2.0 < person.cam_t_full[2] < 60.0, f"depth {person.cam_t_full[2]:.1f} m is implausible for {name}"
    # cam_crop is the inverse of the official cam_crop_to_full for this box.
    from backend.vision import cam_crop_to_full, crop_box_square

    center, size = crop_box_square(np.asarray(person.bbox_xyxy, np.float32), (width, height))
    back = cam_crop_to_full(
        person.cam_crop[None], center[None].astype(np.float64), np.array([size], np.float64),
        np.array([[width, height]], np.float64), np.array([person.focal_length_px]),
    )[0]  # fmt: skip
    np.testing.assert_allclose(back, person.cam_t_full, rtol=1e-5, atol=1e-4)
    # The person faces the camera: the body's forward axis (+z in SMPL) points towards the camera (-z).
    forward = axis_angle_to_matrix(person.global_orient) @ np.array([0.0, 0.0, 1.0])
    assert forward[2] < -0.3, f"{name}: body forward axis {forward.round(2)} does not face the camera"


@pytest.mark.parametrize("name", list(PHOTOS))
def test_joints_land_on_their_own_side(name: str, results: dict[str, PersonResult]) -> None:
    person, spec = results[name], PHOTOS[name]
    x1, y1, x2, y2 = spec["box"]
    radius = LOCATE_TOLERANCE * max(x2 - x1, y2 - y1)
    for kp_name, target in spec["joints"].items():
        got = person.keypoints_2d[KP[kp_name]]
        dist = float(np.linalg.norm(got - target))
        assert dist < radius, f"{name} {kp_name}: at {got.round(0)}, expected within {radius:.0f} px of {target}"
        twin = kp_name.replace("OP R", "OP X").replace("OP L", "OP R").replace("OP X", "OP L")
        if twin != kp_name and twin in spec["joints"]:
            other = float(np.linalg.norm(got - spec["joints"][twin]))
            assert dist < other, f"{name} {kp_name} lies nearer the person's other side ({twin}): left/right swapped"


@pytest.mark.parametrize("name", list(PHOTOS))
def test_joints_within_limits_and_bent_the_right_way(
    name: str, results: dict[str, PersonResult], engine: LiteEngine
) -> None:
    person = results[name]
    resolved = joint_limits(engine.skeleton.joints_rest, engine.skeleton.parents)
    for j in range(1, 24):
        rot = axis_angle_to_matrix(person.body_pose[j - 1])
        assert within_limits(j, rot, resolved), f"{name}: joint {j} beyond its limit ({person.body_pose[j - 1]})"
    for j, min_deg in PHOTOS[name]["bent"].items():
        flexion = float(np.degrees(matrix_to_axis_angle(axis_angle_to_matrix(person.body_pose[j - 1]))
                                   @ resolved.hinge_axes[j]))  # fmt: skip
        assert flexion >= min_deg, f"{name}: joint {j} flexes {flexion:.0f} deg, expected at least {min_deg}"


@pytest.mark.parametrize("name", list(PHOTOS))
def test_visible_projected_joints_within_the_person_box(name: str, results: dict[str, PersonResult]) -> None:
    person, (x1, y1, x2, y2) = results[name], PHOTOS[name]["box"]
    image = _load(name)
    sx, sy = BOX_SLACK * (x2 - x1), BOX_SLACK * (y2 - y1)
    # Joints inside the frame (a cropped-out leg may project below the photo, as it should).
    height, width = image.shape[:2]
    for i, (x, y) in enumerate(person.keypoints_2d[:25]):
        if not (0 <= x < width and 0 <= y < height):
            continue
        inside = x1 - sx <= x <= x2 + sx and y1 - sy <= y <= y2 + sy
        assert inside, f"{name}: {KEYPOINT_NAMES[i]} projects to ({x:.0f}, {y:.0f}), outside the person's box"


def test_given_boxes_one_result_per_person_in_box_order(engine: LiteEngine, results: dict[str, PersonResult]) -> None:
    image = _load("basketball1")
    person_box = np.array(PHOTOS["basketball1"]["box"], dtype=np.float64)
    wall_box = np.array([250.0, 150.0, 330.0, 300.0])  # bare wall between the two men
    people = engine.reconstruct(image, np.stack([person_box, wall_box]))
    assert len(people) == 1, f"expected the man in the first box only, got {len(people)} results"
    person = people[0]
    np.testing.assert_allclose(person.bbox_xyxy, person_box)
    assert person.score == 1.0, person.score
    nose = person.keypoints_2d[KP["OP Nose"]]
    assert np.linalg.norm(nose - PHOTOS["basketball1"]["joints"]["OP Nose"]) < 30, nose
    assert engine.reconstruct(image, np.zeros((0, 4))) == [], "no boxes must give no people"


def test_make_engine_lite_is_this_engine(tmp_path: Path) -> None:
    from backend.engine import available_engines, make_engine

    ok, reason = lite_available()
    if not ok:
        pytest.skip(f"lite engine unavailable: {reason}")
    assert available_engines(tmp_path)["lite"]["available"], available_engines(tmp_path)["lite"]
    engine = make_engine("auto", tmp_path)  # nothing installed in tmp_path: auto must fall back to lite
    try:
        assert engine.name == "lite" and isinstance(engine, LiteEngine), type(engine)
    finally:
        engine.close()
