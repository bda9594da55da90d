"""Pose VQ-VAE: token-count formula, official layer layout, strict load of the official tokenizer, quantizer maths
(nearest code, EMA update, dead-code reset, perplexity) on tiny tensors, and one training step."""

from __future__ import annotations

import json

import pytest
import torch

from backend.models import (
    EMAState,
    PoseVQVAE,
    QuantizeEMAReset,
    TokenizerArch,
    code_perplexity,
    ema_codebook_update,
    filter_tokenizer_state_dict,
    load_state_dict_strict,
    nearest_code,
    read_tokenizer_file,
    rot6d_to_rotmat,
)


@pytest.mark.parametrize(
    "mul, down_t, div, tokens, sizes",
    [(4, 1, 4, 160, [125, 90, 55, 21]), (2, 1, 4, 40, [35, 30, 25, 21]), (3, 2, 3, 40, [33, 27, 21])],
)
def test_token_count_and_decoder_sizes(mul, down_t, div, tokens, sizes):
    arch = TokenizerArch(token_size_mul=mul, down_t=down_t, token_size_div=div)
    assert arch.num_tokens == tokens, f"expected {tokens} tokens, got {arch.num_tokens}"
    assert arch.decoder_upsample_sizes == sizes, f"expected sizes {sizes}, got {arch.decoder_upsample_sizes}"


def test_layer_indices_follow_the_architecture():
    # DIV 3 and DOWN_T 2 shift the decoder's last indices to 11, 12 and 13 (spec section 5.1).
    arch = TokenizerArch(code_dim=8, nb_code=16, down_t=2, width=8, depth=3, dilation_rate=2, token_size_mul=3,
                         token_size_div=3)
    keys = {k.split(".")[2] for k in PoseVQVAE(arch).state_dict() if k.startswith("decoder.decoder.")}
    assert keys == {"0", "3", "6", "9", "11", "12", "13"}, f"decoder layer indices {sorted(keys, key=int)}"
    latent = PoseVQVAE(arch).encode_latent(torch.randn(2, 21, 6))
    assert latent.shape == (2, 8, arch.num_tokens), f"encoder output {tuple(latent.shape)}"


def test_official_tokenizer_loads_strictly_into_the_whole_vqvae(parity_fixture):
    tokenizer = read_tokenizer_file(parity_fixture / "tokenizer.pth")
    expected = json.loads((parity_fixture / "fixture_config.json").read_text())["tokenizer"]
    assert tokenizer.arch.num_tokens == expected["num_tokens"], f"derived {tokenizer.arch.num_tokens} tokens"
    assert tokenizer.hparams["ARCH"]["NUM_TOKENS"] == 10, "the stale stored NUM_TOKENS must not be used"
    model = PoseVQVAE(tokenizer.arch)
    load_state_dict_strict(model, filter_tokenizer_state_dict(tokenizer.net, ("encoder", "decoder", "quantizer")),
                           "tokenizer.pth")
    # Hard one-hot tokens decode exactly like the soft path with one-hot probabilities.
    codes = model.encode(rot6d_to_rotmat(torch.randn(2 * 21, 6), "rows").reshape(2, 21, 3, 3))
    assert codes.shape == (2, tokenizer.arch.num_tokens), f"token indices {tuple(codes.shape)}"
    onehot = torch.nn.functional.one_hot(codes, tokenizer.arch.nb_code).float()
    torch.testing.assert_close(model.decode_tokens(codes), model.decode_probs(onehot), rtol=1e-5, atol=1e-6)


def test_nearest_code_and_perplexity():
    codebook = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    x = torch.tensor([[0.1, -0.1], [0.9, 0.2], [0.2, 1.5], [1.2, 0.1]])
    idx = nearest_code(x, codebook)
    assert idx.tolist() == [0, 1, 2, 1], f"nearest codes {idx.tolist()}"
    assert abs(float(code_perplexity(torch.tensor([0, 1, 2, 3]), 4)) - 4.0) < 1e-4, "uniform usage -> perplexity 4"
    assert abs(float(code_perplexity(torch.tensor([2, 2, 2]), 4)) - 1.0) < 1e-4, "one code -> perplexity 1"


def test_ema_update_and_dead_code_reset():
    state = EMAState(codebook=torch.tensor([[0.0, 0.0], [5.0, 5.0]]), code_sum=torch.tensor([[0.0, 0.0], [5.0, 5.0]]),
                     code_count=torch.tensor([1.0, 1.0]))
    x = torch.tensor([[1.0, 1.0], [3.0, 1.0]])
    new = ema_codebook_update(state, x, torch.tensor([0, 0]), mu=0.5)
    # code 0: sum 0.5*0 + 0.5*(4,2) = (2,1); count 0.5*1 + 0.5*2 = 1.5 -> centre (4/3, 2/3)
    torch.testing.assert_close(new.code_sum[0], torch.tensor([2.0, 1.0]))
    torch.testing.assert_close(new.codebook[0], torch.tensor([4.0 / 3.0, 2.0 / 3.0]))
    # code 1 unused: count 0.5 < 1 -> reset to a batch vector (the first K rows of the batch, as upstream)
    assert float(new.code_count[1]) == 0.5, f"code 1 count {float(new.code_count[1])}"
    torch.testing.assert_close(new.codebook[1], x[1])


def test_quantizer_module_trains_on_cpu():
    torch.manual_seed(0)
    q = QuantizeEMAReset(nb_code=8, code_dim=4).train()
    x = torch.randn(1, 4, 5)  # 5 vectors < 8 codes: the codebook is the batch tiled with N(0, 0.005^2) noise
    quantized, commit, perplexity = q(x)
    assert bool(q.initialized), "the first training batch must initialise the codebook"
    assert quantized.shape == x.shape, f"quantized shape {tuple(quantized.shape)}"
    assert float(commit) < 1e-3, f"codes initialised from the batch should nearly match it (commit {float(commit)})"
    assert 1.0 <= float(perplexity) <= 5.0, f"perplexity {float(perplexity)}"
    assert set(q.state_dict()) == {"codebook"}, f"only the codebook is in state_dict, found {set(q.state_dict())}"


def test_one_training_step_lowers_the_loss_and_reaches_every_parameter():
    torch.manual_seed(0)
    arch = TokenizerArch(code_dim=8, nb_code=16, down_t=1, width=16, depth=1, dilation_rate=2, token_size_mul=1,
                         token_size_div=2)
    model = PoseVQVAE(arch).train()
    pose = rot6d_to_rotmat(torch.randn(8 * 21, 6), "rows").reshape(8, 21, 3, 3)
    target = pose[..., :2, :].reshape(8, 21, 6)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(3):
        recon, commit, _ = model(pose)
        loss = torch.nn.functional.mse_loss(recon, target) + 0.02 * commit
        optimiser.zero_grad()
        loss.backward()
        if not losses:
            no_grad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
            assert not no_grad, f"parameters without a finite gradient: {no_grad}"
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], f"loss did not decrease: {losses}"
