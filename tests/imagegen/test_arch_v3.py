"""The v3 generators (issue #24): G1 warps the photo's own pixels, G2 refines G1's image; their training terms."""

import math

import pytest
import torch
import torch.nn.functional as F

from imagegen.checkpoint import load_checkpoint
from imagegen.generator import StockImageGenerator
from imagegen.networks import ARCHS, GANConfig, build_generators, combine
from imagegen.offline.train import SyntheticPairs, TrainConfig, Trainer, train
from imagegen.warping import (FlowGenerator, ResidualRefiner, flow_tv, garment_weight, identity_grid, warp,
                              warp_pyramid_l1)

V3 = GANConfig.for_arch("v3", image_size=32, base_width=8, disc_width=8)
TINY = dict(image_size=32, base_width=8, disc_width=8, batch_size=4, log_every=1, sample_every=0,
            checkpoint_every=0, progress_bar=False, device="cpu", arch="v3", warp_weight=10.0, tv_weight=0.1)


def _striped(n=2, size=32, period=4):
    """Garment-like test images: a striped block on white, the kind of texture a U-Net blurs."""
    img = torch.ones(n, 3, size, size)
    ys = torch.arange(size).view(size, 1).expand(size, size)
    stripes = ((ys // (period // 2)) % 2).float() * 1.4 - 0.9
    img[:, :, size // 4: 3 * size // 4, size // 4: 3 * size // 4] = stripes[size // 4: 3 * size // 4,
                                                                            size // 4: 3 * size // 4]
    return img


def _shift_grid(n, size, dx_px):
    theta = torch.tensor([[1.0, 0.0, 2.0 * dx_px / size], [0.0, 1.0, 0.0]]).expand(n, 2, 3)
    return F.affine_grid(theta, [n, 1, size, size], align_corners=False)


def test_v3_preset_and_config():
    assert V3.arch == "v3" and V3.g1 == "flow" and V3.g2_residual and V3.conditioned
    assert GANConfig.from_dict(V3.to_dict()) == V3
    assert GANConfig().g1 == "unet" and not GANConfig().g2_residual  # v1 checkpoints load unchanged
    assert set(ARCHS) == {"v1", "v2", "v3"}
    with pytest.raises(ValueError, match="g1"):
        GANConfig(g1="diffusion")
    assert GANConfig(image_size=64, levels=6).unet_levels == 6 and GANConfig(image_size=64).unet_levels == 5
    with pytest.raises(ValueError, match="levels"):
        GANConfig(image_size=64, levels=7)


def test_warp_is_exact_at_the_identity_and_white_outside_the_photo():
    photo = _striped(2, 32)
    assert torch.allclose(warp(photo, identity_grid(2, 32, 32)), photo, atol=1e-5)
    shifted = warp(photo, _shift_grid(2, 32, 40.0))  # every sample falls off the image
    assert torch.allclose(shifted, torch.ones_like(shifted))
    # an integer shift moves the pixels exactly, stripes and all
    moved = warp(photo, _shift_grid(2, 32, 3.0))
    assert torch.allclose(moved[..., :-3], photo[..., 3:], atol=1e-5)


def test_an_untrained_v3_g1_starts_at_the_identity_and_g2_passes_g1_through():
    torch.manual_seed(0)
    g1, g2 = build_generators(V3)
    assert isinstance(g1, FlowGenerator) and isinstance(g2, ResidualRefiner)
    photo = _striped(3, 32)
    garment = V3.garment_indices(["top", "bottom", "whole"], 3)
    with torch.no_grad():
        parts = g1.parts(photo, garment)
        expect_theta = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).expand(3, 2, 3)
        assert torch.equal(parts["theta"], expect_theta) and not parts["flow"].any()  # the identity warp
        assert torch.allclose(parts["warped"], photo, atol=1e-5)
        composed = parts["visibility"] * parts["warped"] + (1 - parts["visibility"]) * parts["residual"]
        assert torch.allclose(parts["out"], composed)
        assert parts["flow"].shape == (3, 32, 32, 2) and parts["visibility"].shape == (3, 1, 32, 32)
        assert float(parts["visibility"].min()) >= 0 and float(parts["visibility"].max()) <= 1
        assert torch.equal(g1(photo, garment), parts["out"])
        g1_out = parts["out"].clamp(-1, 1)
        assert torch.equal(g2(combine(photo, g1_out), garment), g1_out)  # zero-initialised correction


def test_the_warp_pyramid_finds_a_move_the_full_resolution_term_alone_cannot():
    """The reason for the pyramid: a garment panel 8 px wide whose catalogue position is 10 px away does not
    overlap itself, so at full resolution no sample near the target moves when the warp moves (zero gradient);
    the pooled scales blur it over neighbouring cells, and the affine transform is learnt back."""
    size = 64
    photo = torch.ones(1, 3, size, size)
    photo[:, :, 16:48, 28:36] = torch.tensor([-0.8, 0.2, 0.6]).view(3, 1, 1)
    stock = warp(photo, _shift_grid(1, size, -10.0))  # the panel sits 10 px further right in the catalogue image
    assert warp_pyramid_l1(photo, _shift_grid(1, size, -10.0), stock, levels=1) < 1e-5
    # pooling is not exactly shift-equivariant off its 2^k grid, so coarse scales leave a little at the truth
    at_truth = warp_pyramid_l1(photo, _shift_grid(1, size, -10.0), stock)
    assert at_truth < 0.2 * warp_pyramid_l1(photo, _shift_grid(1, size, 0.0), stock)

    def learn(levels):
        shift = torch.zeros(1, requires_grad=True)
        opt = torch.optim.Adam([shift], lr=0.02)
        for _ in range(150):
            row0 = torch.cat([torch.tensor([1.0, 0.0]), shift])
            theta = torch.stack([row0, torch.tensor([0.0, 1.0, 0.0])]).unsqueeze(0)
            grid = F.affine_grid(theta, [1, 1, size, size], align_corners=False)
            loss = warp_pyramid_l1(photo, grid, stock, levels=levels)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return float(shift.detach()) * size / 2  # normalised -> pixels

    learnt = learn(levels=5)
    assert abs(learnt + 10.0) < 1.5, learnt
    assert abs(learn(levels=1)) < 0.5  # stuck where it started
    assert learn(levels=4) > -8.0  # four levels (to 1/8) do not reach it either: a plateau at 0..6 px


def test_garment_weight_and_flow_tv():
    stock = torch.ones(1, 3, 8, 8)
    stock[:, :, 2:4, 2:4] = -0.5
    assert garment_weight(stock).sum() == 4
    assert flow_tv(torch.full((2, 8, 8, 2), 0.3)) == 0  # a constant flow (a shift) costs nothing
    noisy = torch.randn(2, 8, 8, 2, generator=torch.Generator().manual_seed(0)) * 0.1
    assert flow_tv(noisy) > 0.1


def test_v3_trains_resumes_exactly_and_ships_through_the_generator(tmp_path):
    data = SyntheticPairs(n_items=6, photos_per_item=2, image_size=32, seed=5)
    straight = train(TrainConfig(steps=8, **TINY), data, tmp_path / "straight", val_set=data)
    assert {"g1_warp_l1", "g1_flow_tv"} <= set(straight.history[-1])
    first = train(TrainConfig(steps=4, **TINY), data, tmp_path / "run")
    resumed = train(TrainConfig(steps=8, resume=True, **TINY), data, tmp_path / "run", val_set=data)
    assert resumed.resumed_from == 4 and resumed.history == straight.history
    assert all(math.isfinite(v) for h in resumed.history for v in h.values())
    assert first.step == 4

    ckpt = load_checkpoint(resumed.checkpoint_path)
    assert ckpt.config.arch == "v3"
    gen = StockImageGenerator.from_checkpoint(resumed.checkpoint_path, device="cpu")
    photo = torch.stack([it["photo"] for it in data.items[:3]])
    garments = [it["garment"] for it in data.items[:3]]
    g1, g2 = ckpt.build()
    idx = ckpt.config.garment_indices(garments, 3)
    with torch.no_grad():
        want1 = g1(photo, idx)
        want2 = g2(combine(photo, want1), idx)
    got1, got2 = gen.forward_preprocessed(photo, garments)
    assert torch.equal(got1, want1) and torch.equal(got2, want2)


def test_a_64px_leg_with_128px_depth_starts_the_128px_leg(tmp_path):
    """Progressive training: the 128 px model's 6 levels trained on 64 px images, then --init at 128 px."""
    small = SyntheticPairs(n_items=4, photos_per_item=2, image_size=64, seed=1)
    big = SyntheticPairs(n_items=4, photos_per_item=2, image_size=128, seed=1)
    cfg = {**TINY, "image_size": 64, "levels": 6}
    leg1 = train(TrainConfig(steps=2, **cfg), small, tmp_path / "leg1")
    leg2 = train(TrainConfig(steps=1, **{**cfg, "image_size": 128, "levels": 0}, init=str(leg1.checkpoint_path)),
                 big, tmp_path / "leg2")
    assert leg2.step == 1
    before = load_checkpoint(leg1.checkpoint_path)
    trainer = Trainer(GANConfig.for_arch("v3", image_size=128, base_width=8, disc_width=8),
                      TrainConfig(**{**cfg, "image_size": 128, "levels": 0}), torch.device("cpu"))
    from imagegen.offline.train import init_weights_from

    init_weights_from(trainer, leg1.checkpoint_path)
    assert all(torch.equal(trainer.g1.state_dict()[k].half().float(), v.half().float())
               for k, v in before.g1_state.items())
    with pytest.raises(ValueError, match="only the image size"):  # a 5-level 64 px model does not fit
        train(TrainConfig(steps=1, **{**cfg, "levels": 0}), small, tmp_path / "leg0")
        train(TrainConfig(steps=1, **{**cfg, "image_size": 128, "levels": 0},
                          init=str(tmp_path / "leg0" / "checkpoint.pt")), big, tmp_path / "bad")


def test_bf16_autocast_on_cpu_tracks_float32():
    data = SyntheticPairs(n_items=4, photos_per_item=2, image_size=32, seed=2)
    batch = [data[i] for i in range(8)]
    photo = torch.stack([b["photo"] for b in batch])
    stock = torch.stack([b["stock"] for b in batch])
    items = torch.tensor([b["item_index"] for b in batch])
    garments = [b["garment"] for b in batch]
    losses = {}
    for amp in (False, True):
        torch.manual_seed(0)
        cfg = TrainConfig(**{**TINY, "amp": amp})
        trainer = Trainer(cfg.gan_config(), cfg, torch.device("cpu"))
        losses[amp] = [trainer.train_step(photo, stock, items, garments) for _ in range(3)]
    for fp32, bf16 in zip(losses[False], losses[True]):
        for key in ("g1_recon_l1", "g2_l2", "g1_warp_l1"):
            assert abs(float(bf16[key]) - float(fp32[key])) <= 0.05 * abs(float(fp32[key])) + 1e-3, key


def test_the_perceptual_term_is_zero_for_the_truth_and_stays_frozen():
    from imagegen.offline.perceptual import Lite0Perceptual

    perc = Lite0Perceptual()
    real = _striped(2, 32)
    assert float(perc(real, real)) == 0.0
    blurred = F.avg_pool2d(real, 3, 1, 1)
    assert float(perc(blurred, real)) > 0.05
    assert not any(p.requires_grad for p in perc.parameters())
    perc.train()
    assert not perc.training  # frozen ImageNet batch-norm statistics, whatever the trainer sets


def test_the_committed_v3_milestone_loads_and_generates_at_128px():
    """A fresh machine continues training from this file (`--init`), so it must load as the v3 architecture."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "imagegen" / "checkpoints" / "v3_milestone.pt"
    ckpt = load_checkpoint(path)
    assert ckpt.config.arch == "v3" and ckpt.config.image_size == 128 and ckpt.stored_dtype == "float16"
    assert path.stat().st_size <= 25 * 2 ** 20
    gen = StockImageGenerator.from_checkpoint(path, device="cpu")
    photo = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0)) * 2 - 1
    g1, g2 = gen.forward_preprocessed(photo, "top")
    assert g2.shape == (1, 3, 128, 128) and torch.isfinite(g2).all() and float(g2.std()) > 0.01
