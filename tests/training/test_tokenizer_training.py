"""Pose tokenizer training: schedules, data, noise augmentation, a CPU smoke run, exact resume, export."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from backend.models import (
    PoseTokenDecoder,
    TokenizerArch,
    filter_tokenizer_state_dict,
    load_state_dict_strict,
    read_tokenizer_file,
)
from training.pose_data import (
    BODY_PARTS,
    add_joint_noise,
    load_pose_collection,
    noise_multiplier,
    write_synthetic_pose_folder,
)
from training.runtime import Runtime, lr_factor, make_lr_scheduler, save_training_checkpoint
from training.tokenizer import TokenizerTrainer, smoke_config

CPU = Runtime(device=torch.device("cpu"), rank=0, world_size=1, local_rank=0)


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tok")
    smoke_config(folder)  # writes the synthetic SMPL files and poses once
    return folder


def test_lr_schedule_decays_at_int_milestones() -> None:
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = make_lr_scheduler(opt, warmup_steps=4, milestones=(10, 20), gamma=0.1)
    lrs = []
    for _ in range(25):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0]), f"warm-up wrong: {lrs[:4]}"
    assert lrs[9] == pytest.approx(1.0) and lrs[10] == pytest.approx(0.1), f"no decay at 10: {lrs[8:12]}"
    assert lrs[20] == pytest.approx(0.01), f"expected 0.01 after the 2nd milestone, got {lrs[20]}"
    with pytest.raises(TypeError, match="must be ints"):
        lr_factor(0, 0, ("75000", "100000"), 0.1)  # the upstream bug: string milestones


def test_noise_schedule_and_augmentation_perturb_inputs() -> None:
    levels = (0.01, 0.05, 0.5)
    got = [noise_multiplier(s, 100, levels) for s in (0, 99, 100, 250, 10_000)]
    assert got == [0.01, 0.01, 0.05, 0.5, 0.5], f"progressive levels wrong: {got}"
    x = torch.randn(8, 21, 6)
    noisy, mask = add_joint_noise(x, 0.1, torch.Generator().manual_seed(0))
    changed = (noisy - x).abs().amax(dim=-1) > 0
    assert torch.equal(changed, mask), "exactly the masked joints must change"
    rows = mask.any(dim=1)
    assert int(rows.sum()) == 4, f"half of the batch (4) must be perturbed, got {int(rows.sum())}"
    for r in rows.nonzero().flatten().tolist():
        joints = tuple(mask[r].nonzero().flatten().tolist())
        assert joints in {tuple(sorted(p)) for p in BODY_PARTS}, f"row {r}: {joints} is not one body part"
    spread = float((noisy - x)[mask].std())
    assert 0.07 < spread < 0.13, f"noise std should be ≈0.1, got {spread}"
    same, none = add_joint_noise(x, 0.0, torch.Generator().manual_seed(0))
    assert torch.equal(same, x) and not none.any(), "level 0 must leave the input untouched"


def test_pose_collection_mixing_weights(tmp_path: Path) -> None:
    write_synthetic_pose_folder(tmp_path, {"A": 50, "B": 500}, "train", seed=0)
    coll = load_pose_collection(tmp_path, "train", {"A": 0.8, "B": 0.2, "MISSING": 1.0})
    assert coll.names == ("A", "B"), f"expected datasets A, B, got {coll.names}"
    assert coll.weights.tolist() == pytest.approx([0.8, 0.2]), f"weights renormalised wrongly: {coll.weights}"
    batch = coll.sample(4000, torch.Generator().manual_seed(1))
    a = coll.poses[0].reshape(50, -1)
    from_a = (batch.reshape(4000, 1, -1) == a[None]).all(dim=-1).any(dim=-1).float().mean()
    assert abs(float(from_a) - 0.8) < 0.03, f"expected ~80% of samples from A, got {float(from_a):.3f}"
    np.savez(tmp_path / "train" / "train_BAD.npz", poses=np.zeros((3, 72)))
    with pytest.raises(ValueError, match="missing key 'pose_body'"):
        load_pose_collection(tmp_path, "train", {"BAD": 1.0})


def test_smoke_training_reduces_loss_and_exports(smoke_dir: Path, tmp_path: Path) -> None:
    config = replace(smoke_config(smoke_dir, total_steps=300), out_dir=str(tmp_path), log_every=10)
    trainer = TokenizerTrainer(config, CPU)
    first = trainer.validate()
    trainer.train()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [r["train/loss"] for r in rows if "train/loss" in r]
    assert losses[-1] < 0.6 * losses[0], f"loss should fall by >40% in 300 steps: {losses}"
    last = rows[-1]
    assert last["val/mpjpe_mm"] < first["val/mpjpe_mm"], f"MPJPE did not improve: {first} → {last}"
    # the exported file loads through the backend's restricted reader and strict loader, and decodes
    tok = read_tokenizer_file(tmp_path / "tokenizer.pth")
    assert tok.arch == config.arch, f"exported arch {tok.arch} != trained {config.arch}"
    decoder = PoseTokenDecoder(tok.arch)
    load_state_dict_strict(decoder, filter_tokenizer_state_dict(tok.net), "tokenizer.pth")
    probs = torch.softmax(torch.randn(2, tok.arch.num_tokens, tok.arch.nb_code), -1)
    expected = trainer.vqvae.decode_probs(probs)
    assert torch.allclose(decoder(probs), expected, atol=1e-6), "loaded decoder differs from the trained one"
    # the safetensors file is the backend's installed tokenizer layout: strict into PoseTokenDecoder, same output
    with safe_open(str(tmp_path / "tokenizer.safetensors"), "pt") as f:
        hparams = json.loads(f.metadata()["hparams"])
    st_decoder = PoseTokenDecoder(TokenizerArch.from_hparams(hparams["ARCH"]))
    load_state_dict_strict(st_decoder, load_file(str(tmp_path / "tokenizer.safetensors")), "tokenizer.safetensors")
    assert torch.allclose(st_decoder(probs), expected, atol=1e-6), "safetensors decoder differs from the trained one"
    usage, perplexity = last["val/codebook_usage"], last["val/perplexity"]
    assert usage > 0.5, f"expected more than half of the {config.arch.nb_code} codes in use, got {usage:.1%}"
    assert 1.0 < perplexity <= usage * config.arch.nb_code + 1e-6, f"perplexity {perplexity} vs usage {usage}"


def test_resume_is_exact(smoke_dir: Path, tmp_path: Path) -> None:
    config = replace(smoke_config(smoke_dir, total_steps=6), out_dir=str(tmp_path), log_every=100, val_every=100)
    straight = TokenizerTrainer(config, CPU)
    for _ in range(6):
        straight.train_step()
    first = TokenizerTrainer(config, CPU)
    for _ in range(3):
        first.train_step()
    ckpt = tmp_path / "mid.ckpt"
    save_training_checkpoint(ckpt, first.state())
    torch.manual_seed(12345)  # disturb the global RNG: resume must restore it
    resumed = TokenizerTrainer(config, CPU)
    resumed.resume(ckpt)
    assert resumed.step == 3, f"expected step 3 after resume, got {resumed.step}"
    for _ in range(3):
        resumed.train_step()
    a, b = straight.vqvae.state_dict(), resumed.vqvae.state_dict()
    diff = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    assert diff == 0.0, f"resumed run differs from the straight run by {diff}"
    assert torch.equal(straight.vqvae.quantizer.code_count, resumed.vqvae.quantizer.code_count), "EMA state differs"
    assert resumed.scheduler.get_last_lr() == straight.scheduler.get_last_lr(), "scheduler state differs"


def test_chain_joints_equal_full_smpl_joints(smoke_dir: Path) -> None:
    from backend.body import SMPLBody
    from training.pose_data import poses_to_matrices, random_body_poses
    from training.tokenizer import _body_joints, _chain_joints

    smpl = SMPLBody.from_files(smoke_config(smoke_dir).smpl_path)
    rot = poses_to_matrices(random_body_poses(4, torch.Generator().manual_seed(0)))
    full, _ = _body_joints(smpl, rot)
    fast = _chain_joints(smpl, rot)
    assert torch.allclose(full, fast, atol=1e-5), f"max diff {float((full - fast).abs().max())}"


def test_training_step_feeds_noisy_poses_to_the_encoder(smoke_dir: Path, tmp_path: Path) -> None:
    """The noise must reach the encoder (upstream's augmentation silently did nothing)."""
    from backend.models import rotmat_to_rot6d
    from training.pose_data import poses_to_matrices

    config = replace(smoke_config(smoke_dir, total_steps=4), out_dir=str(tmp_path), noise_levels=(0.2,))
    trainer = TokenizerTrainer(config, CPU)
    seen: list[torch.Tensor] = []
    trainer.vqvae.encoder.register_forward_hook(lambda m, args, out: seen.append(args[0].detach().clone()))
    replay = torch.Generator()
    replay.set_state(trainer.data_gen.get_state())
    clean = rotmat_to_rot6d(poses_to_matrices(trainer.train_data.sample(config.batch_size, replay)), "rows")
    trainer.train_step()
    fed = seen[0].permute(0, 2, 1)  # (B, 6, 21) → (B, 21, 6)
    changed_rows = ((fed - clean).abs().amax(dim=(1, 2)) > 1e-3).sum()
    half = config.batch_size // 2
    assert int(changed_rows) == half, f"expected {half} noisy rows, got {int(changed_rows)}"


def test_one_step_gives_every_parameter_a_finite_gradient(smoke_dir: Path, tmp_path: Path) -> None:
    config = replace(smoke_config(smoke_dir, total_steps=2), out_dir=str(tmp_path))
    trainer = TokenizerTrainer(config, CPU)
    before = {k: v.clone() for k, v in trainer.vqvae.state_dict().items()}
    values = trainer.train_step()
    assert all(np.isfinite(v) for v in values.values()), f"non-finite logged values: {values}"
    params = dict(trainer.vqvae.named_parameters())
    no_grad = [n for n, p in params.items() if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]
    assert not no_grad, f"parameters without a gradient after one step: {no_grad}"
    bad = [n for n, p in params.items() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients: {bad}"
    unchanged = [n for n in params if torch.equal(before[n], params[n].detach())]
    assert not unchanged, f"parameters the optimiser did not move: {unchanged}"
    assert not torch.equal(before["quantizer.codebook"], trainer.vqvae.quantizer.codebook), "the EMA did not update"
