"""TokenHMR training: webdataset shards, augmentation consistency, TALS in the loss, smoke run, resume, export."""

from __future__ import annotations

import io
import json
import pickle
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from backend.body import SMPLBody
from backend.geometry import axis_angle_to_rotmat
from backend.models import filter_tokenizer_state_dict, load_installed_model, load_tokenhmr, read_tokenizer_file
from backend.models.tiny import backbone_config_from_json
from training.augment import (
    CROP_REGIONS,
    FLIP_KEYPOINT_PERMUTATION,
    NO_AUGMENT,
    AugmentConfig,
    AugmentParams,
    choose_crop_region,
    crop_and_augment,
    draw_augmentation,
)
from training.hmr import HMRTrainer, compute_losses, smoke_config
from training.runtime import Runtime, save_training_checkpoint
from training.webdataset import WebDatasetError, index_shards, read_item

CPU = Runtime(device=torch.device("cpu"), rank=0, world_size=1, local_rank=0)


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hmr")
    smoke_config(folder)  # writes synthetic SMPL, a tiny tokenizer and synthetic shards once
    return folder


def _dot_colour(k: int) -> np.ndarray:
    # the colour write_synthetic_hmr_shards draws keypoint k with (RGB order as stored)
    return np.array([50 + 4 * k, 255 - 4 * k, 128 + (k % 4) * 30], dtype=np.float32)


def test_shards_index_and_read_back(smoke_dir: Path) -> None:
    index = index_shards(sorted((smoke_dir / "smoke_data_rank0" / "shards_3d").glob("*.tar")))
    assert len(index) == 24, f"24 persons were written, indexed {len(index)}"
    image, person, key = read_item(index, 5)
    assert image.shape == (320, 320, 3) and image.dtype == np.uint8, f"image {image.shape} {image.dtype}"
    assert person["keypoints_2d"].shape == (44, 3) and person["body_pose"].shape == (72,), "annotation shapes"
    u, v = np.round(person["keypoints_2d"][43, :2]).astype(int)  # drawn last, so never covered by another dot
    assert np.abs(image[v, u].astype(np.float32) - _dot_colour(43)).max() < 40, "keypoint 43 is not on its dot"


def test_malicious_annotation_pickle_is_refused(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):  # noqa: ANN204
            return (print, ("owned",))

    path = tmp_path / "evil.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in (("x.jpg", b"\xff\xd8"), ("x.data.pyd", pickle.dumps([{"center": Evil()}]))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(WebDatasetError, match="builtins.print"):
        index_shards([path])


@pytest.mark.parametrize("params", [
    NO_AUGMENT,
    AugmentParams(scale=1.2, rot_deg=25.0, flip=False, color=(1.0, 1.0, 1.0), tx=0.02, ty=-0.01),
    AugmentParams(scale=0.9, rot_deg=-15.0, flip=True, color=(1.0, 1.0, 1.0), tx=0.0, ty=0.02),
    AugmentParams(scale=1.1, rot_deg=10.0, flip=True, color=(1.0, 1.0, 1.0), tx=0.01, ty=0.0, extreme_crop=0.1),
])  # fmt: skip
def test_augmented_keypoints_land_on_their_dots(smoke_dir: Path, params: AugmentParams) -> None:
    """Image and 2D keypoints stay consistent under scale, rotation and flip (with the flip permutation)."""
    index = index_shards(sorted((smoke_dir / "smoke_data_rank0" / "shards_3d").glob("*.tar")))
    image, person, _ = read_item(index, 3)
    # keypoints whose dot is visible in the source image (later dots may cover earlier ones)
    visible = set()
    for k in range(44):
        u, v = np.round(person["keypoints_2d"][k, :2]).astype(int)
        if 0 <= u < image.shape[1] and 0 <= v < image.shape[0]:
            if np.abs(image[v, u].astype(np.float32) - _dot_colour(k)).max() < 40:
                visible.add(k)
    assert len(visible) >= 15, f"too few visible dots in the synthetic image: {len(visible)}"
    out = crop_and_augment(image, person, params)
    rgb = out["img"].transpose(1, 2, 0) * np.array([0.229, 0.224, 0.225]) * 255 + np.array([0.485, 0.456, 0.406]) * 255
    hits, checked = 0, 0
    for k in range(44):
        source = FLIP_KEYPOINT_PERMUTATION[k] if params.flip else k
        u, v = np.round((out["keypoints_2d"][k, :2] + 0.5) * 256).astype(int)
        if source not in visible or not (3 <= u < 253 and 3 <= v < 253):
            continue
        checked += 1
        hits += np.abs(rgb[v, u] - _dot_colour(source)).max() < 40
    assert checked >= 10, f"too few visible keypoints inside the crop: {checked}"
    assert hits >= 0.9 * checked, f"only {hits}/{checked} visible keypoints land on their drawn dot"


def test_extreme_crop_regions_and_box(smoke_dir: Path) -> None:
    """Upstream's extreme crop: region tables by visibility, and a box of margin·1.2·extent around the kept part."""
    index = index_shards(sorted((smoke_dir / "smoke_data_rank0" / "shards_3d").glob("*.tar")))
    image, person, _ = read_item(index, 2)
    kp = person["keypoints_2d"]
    got = [choose_crop_region(kp, u, level=1) for u in np.arange(0.05, 1.0, 0.1)]
    expected = ["hips", "shoulders", "head", "torso", "right_arm", "left_arm", "legs", "right_leg", "left_leg"]
    assert got == expected[:1] + expected, f"full-body level-1 regions: expected {expected}, got {got}"
    assert choose_crop_region(kp, 0.75, level=0) == "shoulders", "level 0: u in [0.7, 0.9) crops to the shoulders"
    upper = kp.copy()
    upper[[10, 11, 13, 14, 25, 26, 29, 30, 19, 20, 21, 22, 23, 24], 2] = 0.0  # legs and feet not visible
    assert choose_crop_region(upper, 0.5, level=1) == "torso", "upper body: u in [0.4, 0.6) crops to the torso"
    lonely = np.zeros_like(kp)
    lonely[0, 2] = 1.0
    assert choose_crop_region(lonely, 0.5) is None, "one visible keypoint allows no extreme crop"
    for u, region in ((0.65, "left_arm"), (0.35, "head"), (0.85, "right_leg")):
        params = replace(NO_AUGMENT, extreme_crop=u)
        out = crop_and_augment(image, person, params)
        hidden, margin = CROP_REGIONS[region]
        kept = [k for k in range(44) if k not in hidden]
        xy = out["keypoints_2d"][kept, :2]
        extent, centre = (xy.max(0) - xy.min(0)).max(), (xy.max(0) + xy.min(0)) / 2
        assert abs(extent - 1 / (1.2 * margin)) < 1e-4, f"{region}: kept extent {extent}, expected {1 / (1.2 * margin)}"
        assert np.abs(centre).max() < 1e-4, f"{region}: the kept part must be centred in the crop, centre {centre}"
    always = draw_augmentation(AugmentConfig(extreme_crop_rate=1.0), np.random.default_rng(0))
    never = draw_augmentation(AugmentConfig(extreme_crop_rate=0.0), np.random.default_rng(0))
    assert 0.0 <= always.extreme_crop < 1.0 and never.extreme_crop < 0, f"{always.extreme_crop}, {never.extreme_crop}"


def test_rotation_moves_pose_and_3d_keypoints_together(smoke_dir: Path) -> None:
    files = smoke_dir / "smoke_data_rank0" / "body_models"
    smpl = SMPLBody.from_files(files / "smpl" / "SMPL_NEUTRAL.pkl", files / "SMPL_to_J19.pkl")
    index = index_shards(sorted((smoke_dir / "smoke_data_rank0" / "shards_3d").glob("*.tar")))
    image, person, _ = read_item(index, 1)
    params = AugmentParams(scale=1.0, rot_deg=30.0, flip=False, color=(1.0, 1.0, 1.0), tx=0.0, ty=0.0)
    out = crop_and_augment(image, person, params)
    rot = axis_angle_to_rotmat(torch.from_numpy(out["body_pose"]).reshape(24, 3))
    joints = smpl(rot[None, :1], rot[None, 1:], torch.from_numpy(out["betas"])[None]).joints[0].numpy()
    joints -= joints[39]
    kp3d = out["keypoints_3d"][:, :3] - out["keypoints_3d"][39, :3]
    err = np.abs(joints - kp3d).max()
    assert err < 1e-4, f"rotated pose and rotated 3D keypoints disagree by {err} m"


def test_tals_changes_only_pseudo_gt_losses(smoke_dir: Path) -> None:
    config = smoke_config(smoke_dir)
    trainer = HMRTrainer(config, CPU)
    batch = next(iter(trainer._loader(trainer.train_items, trainer.train_weights, 0, 1, 0)))
    with torch.no_grad():
        pred = trainer.forward(batch["img"], False)
    loose = {k: torch.full_like(v, 1e3) for k, v in trainer.thresholds.items()}  # everything "within threshold"
    batch_3d = {**batch, "gt_3d": torch.ones_like(batch["gt_3d"])}
    plain = compute_losses(pred, batch_3d, config, loose, use_tals=False)
    tals_3d = compute_losses(pred, batch_3d, config, loose, use_tals=True)
    for k in ("global_orient", "body_pose", "betas", "keypoints_3d", "keypoints_2d"):
        assert torch.allclose(plain[k], tals_3d[k]), f"{k}: 3D-GT samples must keep the full loss"
    batch_pgt = {**batch, "gt_3d": torch.zeros_like(batch["gt_3d"])}
    tals_pgt = compute_losses(pred, batch_pgt, config, loose, use_tals=True)
    for k in ("global_orient", "body_pose", "keypoints_2d"):
        expected = config.loose_weight * plain[k]
        assert torch.allclose(tals_pgt[k], expected, rtol=1e-5), f"{k}: expected α·loss {expected}, got {tals_pgt[k]}"
    assert float(tals_pgt["betas"]) == 0.0 and float(tals_pgt["keypoints_3d"]) == 0.0, "p-GT: no betas / 3D loss"


def test_smoke_training_reduces_loss_resumes_and_loads_in_backend(smoke_dir: Path, tmp_path: Path) -> None:
    steps = 200
    config = replace(smoke_config(smoke_dir, total_steps=steps), out_dir=str(tmp_path / "run"), tals=False)
    trainer = HMRTrainer(config, CPU)
    before = trainer.validate()["val/loss"]
    trainer.train()
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    after = [r["val/loss"] for r in rows if "val/loss" in r][-1]
    assert after < 0.5 * before, f"validation loss should fall by more than half in {steps} steps: {before:.3f} → {after:.3f}"

    # exported files load strictly through the backend loader and give the trained model's outputs
    out = tmp_path / "run"
    backbone = backbone_config_from_json(json.loads((out / "backbone.json").read_text()))
    loaded = load_tokenhmr(out / "tokenhmr_model.ckpt", out / "tokenizer.pth", out / "model_config.yaml", backbone)
    img = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    trainer.model.eval()
    with torch.no_grad():
        a, b = trainer.model(img), loaded(img)
    assert torch.allclose(a.body_pose, b.body_pose, atol=1e-6), "loaded model's body pose differs"
    assert torch.allclose(a.pred_cam, b.pred_cam, atol=1e-6), "loaded model's camera differs"
    # the installed layout (safetensors + config.json) loads through the backend's service loader too
    installed = load_installed_model(out)
    with torch.no_grad():
        c = installed(img)
    assert torch.allclose(a.body_pose, c.body_pose, atol=1e-6), "installed model's body pose differs"
    assert torch.allclose(a.betas, c.betas, atol=1e-6), "installed model's betas differ"
    # the tokenizer decoder stayed frozen: it still equals the tokenizer file training started from
    tok = read_tokenizer_file(config.tokenizer_path)
    frozen = filter_tokenizer_state_dict(tok.net)
    trained = trainer.model.token_decoder.state_dict()
    changed = [k for k in frozen if not torch.equal(frozen[k], trained[k])]
    assert not changed, f"the frozen tokenizer decoder changed during training: {changed}"


def test_one_step_gives_every_trainable_parameter_a_finite_gradient(smoke_dir: Path, tmp_path: Path) -> None:
    config = replace(smoke_config(smoke_dir, total_steps=1), out_dir=str(tmp_path), val_data={})
    trainer = HMRTrainer(config, CPU)
    batch = next(iter(trainer._loader(trainer.train_items, trainer.train_weights, 0, 1, config.seed)))
    values = trainer.train_step(batch)
    assert all(np.isfinite(v) for v in values.values()), f"non-finite logged values: {values}"
    params = dict(trainer.model.named_parameters())
    no_grad = [n for n, p in params.items() if p.requires_grad and p.grad is None]
    assert not no_grad, f"trainable parameters without a gradient after one step: {no_grad}"
    # The head's transformer reads one all-zero token (as upstream), so its embedding weight's gradient is exactly 0.
    zero_input = {"smpl_head.transformer.to_token_embedding.weight"}
    zero = sorted(n for n, p in params.items() if p.requires_grad and not p.grad.abs().sum() > 0)
    assert set(zero) <= zero_input, f"trainable parameters with an all-zero gradient: {sorted(set(zero) - zero_input)}"
    bad = [n for n, p in params.items() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients: {bad}"
    decoder = list(trainer.model.token_decoder.parameters())
    assert decoder and all(not p.requires_grad and p.grad is None for p in decoder), "tokenizer decoder not frozen"


def test_resume_is_exact(smoke_dir: Path, tmp_path: Path) -> None:
    config = replace(smoke_config(smoke_dir, total_steps=4), out_dir=str(tmp_path), val_data={})
    straight = HMRTrainer(config, CPU)
    for batch in straight._loader(straight.train_items, straight.train_weights, 0, 4, config.seed):
        straight.train_step(batch)
    first = HMRTrainer(config, CPU)
    for batch in first._loader(first.train_items, first.train_weights, 0, 2, config.seed):
        first.train_step(batch)
    save_training_checkpoint(tmp_path / "mid.ckpt", first.state())
    torch.manual_seed(999)
    resumed = HMRTrainer(config, CPU)
    resumed.resume(tmp_path / "mid.ckpt")
    for batch in resumed._loader(resumed.train_items, resumed.train_weights, resumed.step, 4, config.seed):
        resumed.train_step(batch)
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    diff = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    assert diff == 0.0, f"resumed run differs from the straight run by {diff}"
    assert resumed.step == straight.step == 4, f"steps {resumed.step} vs {straight.step}"


def test_our_tokenizer_file_and_a_pretrained_backbone_initialise_training(smoke_dir: Path, tmp_path: Path) -> None:
    """A tokenizer exported by training.tokenizer feeds the HMR trainer; an HMR checkpoint's backbone loads."""
    from backend.models import PoseVQVAE
    from training.hmr import export_tokenhmr
    from training.tokenizer import TokenizerTrainConfig, export_tokenizer

    base = smoke_config(smoke_dir)
    arch = HMRTrainer(base, CPU).model.config.tokenizer
    vqvae = PoseVQVAE(arch)
    torch.nn.init.normal_(vqvae.quantizer.codebook)
    export_tokenizer(vqvae, TokenizerTrainConfig(arch=arch), tmp_path / "tok")
    first = HMRTrainer(replace(base, tokenizer_path=str(tmp_path / "tok" / "tokenizer.pth")), CPU)
    codebook = first.model.token_decoder.quantizer.codebook
    assert torch.equal(codebook, vqvae.quantizer.codebook), "the trainer did not load our tokenizer's codebook"
    export_tokenhmr(first.model, replace(base, tokenizer_path=str(tmp_path / "tok" / "tokenizer.pth")), tmp_path / "m")
    second = HMRTrainer(replace(base, pretrained_backbone=str(tmp_path / "m" / "tokenhmr_model.ckpt"), seed=5), CPU)
    a, b = first.model.backbone.state_dict(), second.model.backbone.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "pretrained backbone weights were not loaded"
