"""Feature matching (``TrainConfig.fm_weight``, issue #10's loss work): the discriminators' inner features, the
term's value, and a training run that uses it."""

import pytest
import torch

from imagegen.networks import GANConfig, build_discriminators
from imagegen.offline.train import SyntheticPairs, TrainConfig, _feature_matching, train

TINY = dict(image_size=32, base_width=8, disc_width=8, batch_size=4, log_every=1, sample_every=0,
            checkpoint_every=0, progress_bar=False, device="cpu")


@pytest.mark.parametrize("arch", ["v1", "v2"])
def test_features_are_the_forward_pass_minus_its_logit_layer(arch):
    cfg = GANConfig.for_arch(arch, image_size=32, disc_width=8)
    d = build_discriminators(cfg)["assoc1"].eval()
    x = torch.randn(3, 6, 32, 32)
    gi = cfg.garment_indices(["top", "bottom", "whole"], 3)
    feats = d.features(x, gi)
    assert len(feats) == cfg.n_disc_layers + 1  # the first conv and every normalised layer
    assert [f.shape[1] for f in feats] == [8, 16, 32, 64]
    with torch.no_grad():
        assert torch.allclose(d.model[-1](feats[-1]), d(x, gi))


def test_v2_features_need_the_garment_type():
    d = build_discriminators(GANConfig.for_arch("v2", image_size=32, disc_width=8))["real"]
    with pytest.raises(ValueError, match="garment"):
        d.features(torch.randn(1, 3, 32, 32))


def test_feature_matching_is_zero_for_the_real_image_and_grows_with_the_difference():
    cfg = GANConfig.for_arch("v2", image_size=32, disc_width=8)
    d = build_discriminators(cfg)["real"].eval()  # train mode steps spectral norm's power iteration every call
    real = torch.rand(2, 3, 32, 32) * 2 - 1
    gi = cfg.garment_indices(["top", "whole"], 2)
    assert _feature_matching(d, real, real.clone(), gi).item() == 0.0
    near = _feature_matching(d, real, real + 0.05 * torch.randn_like(real), gi).item()
    far = _feature_matching(d, real, torch.zeros_like(real), gi).item()
    assert 0.0 < near < far

    fake = torch.zeros_like(real, requires_grad=True)
    _feature_matching(d, real, fake, gi).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0  # it reaches the generator's output


def test_a_run_with_feature_matching_logs_the_term(tmp_path):
    data = SyntheticPairs(n_items=6, photos_per_item=2, image_size=32, seed=3)
    result = train(TrainConfig(arch="v2", steps=30, fm_weight=10.0, **TINY), data, tmp_path / "fm")
    first, last = result.history[0], result.history[-1]
    assert {"g1_fm", "g2_fm"} <= set(first)
    assert all(h["g1_fm"] >= 0 and h["g2_fm"] >= 0 for h in result.history)
    # the totals include the weighted term
    assert first["g2_total"] >= 10.0 * first["g2_fm"] - 1e-4
    plain = train(TrainConfig(arch="v2", steps=2, **TINY), data, tmp_path / "plain")
    assert "g1_fm" not in plain.history[0]  # off by default: the shipped recipe's losses are unchanged
