"""`tokenmocap eval` end to end: a 3DPW folder in the release layout, the tiny TokenHMR installed through
`tokenmocap models install`, synthetic SMPL models."""

from __future__ import annotations

import io
import json
import pickle
import shutil

import cv2
import numpy as np
import pytest
import skimage.data

from backend import cli
from backend.body import write_synthetic_smpl_files
from backend.eval.body_model import GenderedSMPL
from backend.models import write_tiny_tokenhmr_files

from .test_datasets import write_3dpw


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("downloads")
    write_tiny_tokenhmr_files(root / "checkpoints", seed=1)
    files = write_synthetic_smpl_files(root / "body_models", seed=1)
    models = tmp_path_factory.mktemp("models")
    assert cli.main(["models", "install", str(root), "--models-dir", str(models)]) == 0
    smpl_dir = tmp_path_factory.mktemp("smpl")
    for gender in ("NEUTRAL", "MALE", "FEMALE"):
        shutil.copy(files.smpl_path, smpl_dir / f"SMPL_{gender}.pkl")
    rng = np.random.default_rng(0)
    reg = np.abs(rng.normal(size=(17, 6890)))
    np.save(models / "J_regressor_h36m.npy", reg / reg.sum(1, keepdims=True))
    return models, smpl_dir


def test_eval_3dpw_writes_report_plot_and_table(installed, tmp_path, capsys):
    models, smpl_dir = installed
    write_3dpw(tmp_path / "3DPW")
    frames = tmp_path / "3DPW" / "imageFiles" / "courtyard_test_00"
    frames.mkdir(parents=True)
    for i in range(4):
        cv2.imwrite(str(frames / f"image_{i:05d}.jpg"), skimage.data.astronaut()[:, :, ::-1])
    out = tmp_path / "report" / "3dpw.json"
    rc = cli.main(["eval", "3dpw", "--root", str(tmp_path / "3DPW"), "--model", "tokenhmr", "--models-dir",
                   str(models), "--smpl-dir", str(smpl_dir), "--out", str(out), "--device", "cpu"])
    assert rc == 0
    report = json.loads(out.read_text())[0]
    assert report["num_samples"] == 2, report  # frames 0 and 1 are the valid ones in the synthetic sequence
    assert report["engine"] == "tokenhmr" and report["dataset"] == "3dpw"
    assert np.isfinite(report["mpjpe_mm"]) and report["pa_mpjpe_mm"] <= report["mpjpe_mm"] + 1e-6
    assert set(report["per_sequence_mm"]) == {"courtyard_test_00"}
    assert report["joints"] == "lsp14" and len(report["per_joint_mm"]) == 14
    assert cv2.imread(str(out.with_suffix(".png"))) is not None
    captured = capsys.readouterr()
    assert "PA-MPJPE" in captured.out and f"{report['mpjpe_mm']:5.1f}" in captured.out
    assert "tokenhmr: people [" in captured.err and "100%  2/2" in captured.err, captured.err


def write_emdb(root, image_bgr, n=4):
    """One EMDB sequence in the release layout: P0/<seq>/P0_<seq>_data.pkl and P0/<seq>/images/NNNNN.jpg."""
    seq = root / "P0" / "09_outdoor_walk"
    (seq / "images").mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(str(seq / "images" / f"{i:05d}.jpg"), image_bgr)
    rng = np.random.default_rng(2)
    data = {
        "gender": "female", "name": "P0_09_outdoor_walk", "emdb1": True, "emdb2": False, "n_frames": n,
        "good_frames_mask": np.array([True, True, False, True])[:n],
        "camera": {"intrinsics": np.array([[1000.0, 0, 256], [0, 1000.0, 256], [0, 0, 1]]),
                   "extrinsics": np.tile(np.eye(4), (n, 1, 1)), "width": 512, "height": 512},
        "smpl": {"poses_root": np.tile([np.pi, 0.0, 0.0], (n, 1)), "poses_body": rng.normal(0, 0.1, (n, 69)),
                 "trans": np.zeros((n, 3)), "betas": rng.normal(size=10)},
        "kp2d": np.zeros((n, 24, 2)),
        "bboxes": {"bboxes": np.tile([100.0, 40.0, 400.0, 500.0], (n, 1)), "invalid_idxs": np.array([], int)},
    }
    with open(seq / "P0_09_outdoor_walk_data.pkl", "wb") as f:
        pickle.dump(data, f)


def test_eval_emdb_scores_the_24_smpl_joints_by_default(installed, tmp_path, capsys):
    models, smpl_dir = installed
    write_emdb(tmp_path / "EMDB", skimage.data.astronaut()[:, :, ::-1])
    out = tmp_path / "emdb.json"
    args = ["eval", "emdb", "--root", str(tmp_path / "EMDB"), "--model", "tokenhmr", "--models-dir", str(models),
            "--smpl-dir", str(smpl_dir), "--device", "cpu", "--batch-size", "2", "--out", str(out)]
    assert cli.main(args) == 0
    report = json.loads(out.read_text())[0]
    assert report["dataset"] == "emdb" and report["num_samples"] == 3, report  # frame 2 is not a good frame
    assert report["joints"] == "smpl24" and list(report["per_joint_mm"])[:3] == ["pelvis", "left_hip", "right_hip"]
    assert report["per_joint_mm"]["pelvis"] < report["per_joint_mm"]["right_wrist"], "pelvis-aligned"
    assert cv2.imread(str(out.with_suffix(".png"))) is not None
    assert "100%  3/3" in capsys.readouterr().err
    assert cli.main(args + ["--joints", "lsp14"]) == 0
    lsp = json.loads(out.read_text())[0]
    assert lsp["joints"] == "lsp14" and len(lsp["per_joint_mm"]) == 14
    assert lsp["mpjpe_mm"] != pytest.approx(report["mpjpe_mm"], abs=1e-3)


def test_progress_bar_shows_fraction_rate_and_eta():
    from backend.commands.eval import _Progress

    stream = io.StringIO()
    bar = _Progress("people", 8, stream=stream)
    line = bar.line(2, now=bar.start + 4.0)
    assert line == "  people [#######.......................]  25%  2/8  0.5/s  ETA 0:00:12", line
    assert _Progress("people", None).line(3, now=0.0).startswith("  people: 3  ")
    bar(8)
    assert stream.getvalue().startswith("\r  people [" + "#" * 30 + "] 100%  8/8"), stream.getvalue()


def test_missing_gendered_model_is_an_error_not_a_fallback(installed, tmp_path):
    _, smpl_dir = installed
    only_neutral = tmp_path / "smpl"
    only_neutral.mkdir()
    shutil.copy(smpl_dir / "SMPL_NEUTRAL.pkl", only_neutral)
    bodies = GenderedSMPL(only_neutral)
    assert bodies("neutral", np.zeros(3), np.zeros(69), np.zeros(10)).shape == (6890, 3)
    with pytest.raises(FileNotFoundError, match="SMPL_FEMALE.pkl"):
        bodies("female", np.zeros(3), np.zeros(69), np.zeros(10))


def test_missing_regressor_names_the_file(installed, tmp_path, caplog):
    models, smpl_dir = installed
    write_3dpw(tmp_path / "3DPW")
    rc = cli.main(["eval", "3dpw", "--root", str(tmp_path / "3DPW"), "--models-dir", str(models), "--smpl-dir",
                   str(smpl_dir), "--h36m-regressor", str(tmp_path / "nope.npy"), "--out", str(tmp_path / "r.json")])
    assert rc == 2, f"expected exit code 2 for a missing input file, got {rc}"
    assert "J_regressor_h36m.npy" in caplog.text and "--h36m-regressor" in caplog.text, caplog.text


def write_posetrack(root, image_bgr, frames=3, labelled=(0, 2)):
    """One PoseTrack 2018 val video: annotations/val/<video>.json and images/val/<video>/NNNNNN.jpg."""
    video = "000001_mpii_test"
    (root / "annotations" / "val").mkdir(parents=True)
    (root / "images" / "val" / video).mkdir(parents=True)
    h, w = image_bgr.shape[:2]
    images, annotations = [], []
    kp = np.zeros((17, 3))
    kp[:, 0], kp[:, 1] = np.linspace(150, 350, 17), np.linspace(60, 480, 17)
    kp[[0, 1, 2, 5, 6, 9, 10], 2] = 1  # 7 visible keypoints per person
    for f in range(frames):
        name = f"images/val/{video}/{f:06d}.jpg"
        cv2.imwrite(str(root / name), image_bgr)
        image_id = 10000010000 + f
        images.append({"id": image_id, "frame_id": image_id, "file_name": name, "is_labeled": f in labelled,
                       "vid_id": "000001", "nframes": frames})
        if f in labelled:
            annotations.append({"image_id": image_id, "track_id": 0, "bbox": [0, 0, w, h],
                                "keypoints": kp.reshape(-1).tolist(), "category_id": 1})
    doc = {"images": images, "annotations": annotations,
           "categories": [{"id": 1, "name": "person", "keypoints": []}]}
    (root / "annotations" / "val" / f"{video}.json").write_text(json.dumps(doc))


def test_eval_posetrack_pck_and_tracking(installed, tmp_path, capsys):
    models, _ = installed
    write_posetrack(tmp_path / "pt", skimage.data.astronaut()[:, :, ::-1])
    out = tmp_path / "posetrack.json"
    rc = cli.main(["eval", "posetrack", "--root", str(tmp_path / "pt"), "--model", "tokenhmr", "--models-dir",
                   str(models), "--detector", "full_frame", "--device", "cpu", "--out", str(out)])
    assert rc == 0
    pck, tracking = json.loads(out.read_text())
    assert (pck["num_people"], pck["num_keypoints"], pck["num_missed"]) == (2, 14, 0), pck
    assert 0.0 <= pck["pck"]["0.05"] <= pck["pck"]["0.1"] <= 1.0
    # One person filling the frame, detected as the whole frame on every frame: one track, a perfect score.
    assert (tracking["num_gt"], tracking["misses"], tracking["false_positives"]) == (2, 0, 0), tracking
    assert tracking["mota"] == 1.0 and tracking["idf1"] == 1.0 and tracking["id_switches"] == 0
    printed = capsys.readouterr().out
    assert "PCK@0.05" in printed and "HOTA" in printed
    assert cv2.imread(str(out.with_suffix(".png"))) is not None


def test_model_list_is_parsed_and_checked():
    from backend.commands.eval import _engine_list

    assert _engine_list("tokenhmr, hmr2,lite,hmr2") == ["tokenhmr", "hmr2", "lite"]
    with pytest.raises(Exception, match="comma-separated"):
        _engine_list("tokenhmr,vibe")


def test_posetrack_without_annotations_says_what_is_expected(tmp_path, caplog):
    rc = cli.main(["eval", "posetrack", "--root", str(tmp_path), "--models-dir", str(tmp_path), "--out",
                   str(tmp_path / "r.json")])
    assert rc == 2 and "annotations/val" in caplog.text, (rc, caplog.text)


def test_nonexistent_dataset_root_is_named_before_any_model_file(tmp_path, caplog):
    """--root is checked first: a typo in it must not surface as a missing SMPL / regressor file."""
    rc = cli.main(["eval", "3dpw", "--root", str(tmp_path / "no_3DPW"), "--models-dir", str(tmp_path / "none"),
                   "--model", "lite", "--out", str(tmp_path / "r.json")])
    assert rc == 2, f"expected exit code 2, got {rc}"
    assert "--root" in caplog.text and "no_3DPW" in caplog.text and "found nothing there" in caplog.text, caplog.text
    assert "SMPL" not in caplog.text and "regressor" not in caplog.text, caplog.text
    assert "Traceback" not in caplog.text, caplog.text


def test_eval_3dpw_through_the_video_path(installed, tmp_path, capsys, caplog):
    models, smpl_dir = installed
    write_3dpw(tmp_path / "3DPW")
    frames = tmp_path / "3DPW" / "imageFiles" / "courtyard_test_00"
    frames.mkdir(parents=True)
    for i in range(4):
        cv2.imwrite(str(frames / f"image_{i:05d}.jpg"), skimage.data.astronaut()[:, :, ::-1])
    out = tmp_path / "video.json"
    args = ["eval", "3dpw", "--root", str(tmp_path / "3DPW"), "--models-dir", str(models), "--smpl-dir",
            str(smpl_dir), "--device", "cpu", "--video", "--detector", "full_frame", "--out", str(out)]
    assert cli.main(args) == 0
    report = json.loads(out.read_text())[0]
    # The whole-frame detection overlaps the ground-truth box (IoU 0.44), so frames 0 and 1 are scored.
    assert report["protocol"] == "video" and report["num_samples"] == 2 and report["num_missed"] == 0, report
    assert any("streaming video path" in n for n in report["notes"])
    assert "3dpw video" in capsys.readouterr().out
    caplog.clear()
    assert cli.main(args + ["--protocol", "crop30"]) == 2, "--video with a crop protocol must be refused"
    assert "--protocol crop30" in caplog.text, caplog.text
