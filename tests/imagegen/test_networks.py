"""Shapes of the six networks and the association discriminator's targets (PLDT's batch)."""

import pytest
import torch

from imagegen.networks import (GANConfig, PatchDiscriminator, association_pairs, build_discriminators,
                               build_generators, combine, count_params, mismatch_partner)


@pytest.mark.parametrize("size", [64, 128, 256])
def test_network_shapes(size):
    cfg = GANConfig(image_size=size, base_width=8, disc_width=8)
    g1, g2 = build_generators(cfg)
    ds = build_discriminators(cfg)
    photo = torch.randn(2, 3, size, size)
    with torch.no_grad():
        out1 = g1(photo)
        out2 = g2(combine(photo, out1))
        patch = size // 8 - 2  # 3 stride-2 convs, then two stride-1 4x4 convs (pix2pix's 70x70 PatchGAN)
        assert out1.shape == (2, 3, size, size)
        assert out2.shape == (2, 3, size, size)
        assert out1.abs().max() <= 1 and out2.abs().max() <= 1  # tanh: the image range
        assert ds["real"](out1).shape == (2, 1, patch, patch)
        assert ds["assoc1"](combine(photo, out1)).shape == (2, 1, patch, patch)
        assert ds["assoc2"](combine(photo, out2)).shape == (2, 1, patch, patch)
    assert cfg.unet_levels == {64: 5, 128: 6, 256: 7}[size]  # halving down to a 2x2 bottleneck
    with pytest.raises(RuntimeError):  # the association Ds really take 6 channels, not 3
        ds["assoc1"](photo)


def test_default_config_size():
    """The default 64 px model: ~8 M generator parameters (the measured CPU speed budget)."""
    g1, g2 = build_generators(GANConfig())
    total = count_params(g1) + count_params(g2)
    assert 7_000_000 < total < 10_000_000, total


def test_config_validation():
    for bad in (48, 16, 1024):
        with pytest.raises(ValueError, match="power of two"):
            GANConfig(image_size=bad)
    with pytest.raises(ValueError, match="norm"):
        GANConfig(norm="layer")
    assert GANConfig.from_dict(GANConfig(image_size=128).to_dict()) == GANConfig(image_size=128)


def test_skip_connections_carry_detail():
    """A U-Net must pass fine detail through its skips: perturbing one input pixel changes the output near it."""
    torch.manual_seed(0)
    g1, _ = build_generators(GANConfig(image_size=64, base_width=8))
    x = torch.zeros(1, 3, 64, 64)
    y = x.clone()
    y[0, :, 5, 5] = 1.0
    with torch.no_grad():
        diff = (g1(x) - g1(y)).abs()[0].sum(0)
    assert diff[3:8, 3:8].sum() > 0
    assert diff[3:8, 3:8].mean() > diff[40:, 40:].mean()


def test_patch_discriminator_depth():
    d = PatchDiscriminator(3, width=8, n_layers=4)
    assert d(torch.randn(1, 3, 128, 128)).shape == (1, 1, 6, 6)


def test_combine_channel_order():
    photo, g1 = torch.zeros(2, 3, 8, 8), torch.ones(2, 3, 8, 8)
    both = combine(photo, g1)
    assert both.shape == (2, 6, 8, 8)
    assert both[:, :3].eq(0).all() and both[:, 3:].eq(1).all()
    with pytest.raises(ValueError):
        combine(photo, torch.ones(2, 3, 4, 4))


# --- association pairs ---------------------------------------------------------------------------------------------
# Each image is a constant so a pair can be decoded back to (photo index, which image): photo i = 0.1*(i+1),
# stock j = 0.5 + 0.01*j, fake j = -0.5 - 0.01*j.

def _batch(items):
    n = len(items)
    photo = torch.stack([torch.full((3, 4, 4), 0.1 * (i + 1)) for i in range(n)])
    stock = torch.stack([torch.full((3, 4, 4), 0.5 + 0.01 * j) for j in range(n)])
    fake = torch.stack([torch.full((3, 4, 4), -0.5 - 0.01 * j) for j in range(n)])
    return photo, stock, fake, torch.tensor(items)


def _decode(pairs):
    out = []
    for p in pairs:
        assert p[:3].unique().numel() == 1 and p[3:].unique().numel() == 1
        i = round(p[:3].mean().item() * 10) - 1
        v = p[3:].mean().item()
        out.append((i, "stock", round((v - 0.5) * 100)) if v > 0 else (i, "fake", round((-v - 0.5) * 100)))
    return out


def test_association_pairs_labels():
    items = [7, 7, 3, 5, 3]  # photos 0 and 1 show the SAME item; so do 2 and 4
    photo, stock, fake, idx = _batch(items)
    pairs, labels = association_pairs(photo, stock, fake, idx)
    assert pairs.shape[1:] == (6, 4, 4) and labels.shape == (pairs.shape[0],)
    decoded = list(zip(_decode(pairs), labels.tolist()))

    n = len(items)
    for i in range(n):  # (photo_i, its own stock) -> associated
        assert ((i, "stock", i), 1.0) in decoded
        assert ((i, "fake", i), 0.0) in decoded  # (photo_i, G output) -> not associated
    for (i, what, j), label in decoded:
        if what == "stock" and j != i:
            assert label == 0.0
            assert items[i] != items[j], f"same-item pair ({i}, {j}) labelled not-associated"
        if what == "stock" and j == i:
            assert label == 1.0
        if what == "fake":
            assert label == 0.0 and j == i
    mismatched = [(i, j) for (i, what, j), _ in decoded if what == "stock" and j != i]
    assert sorted(i for i, _ in mismatched) == list(range(n))  # every photo got one wrong-item negative
    # the roll: photo 0's shift-1 neighbour (photo 1) is the same item, so it moves on to shift 2 (photo 2)
    assert (0, 2) in mismatched and (0, 1) not in mismatched and (2, 4) not in mismatched
    assert len(decoded) == 3 * n


def test_association_pairs_single_item_batch_has_no_wrong_item_negatives():
    photo, stock, fake, idx = _batch([4, 4, 4])
    pairs, labels = association_pairs(photo, stock, fake, idx)
    decoded = _decode(pairs)
    assert all(what == "fake" or i == j for i, what, j in decoded)
    assert labels.tolist() == [1, 1, 1, 0, 0, 0]
    assert mismatch_partner(idx).tolist() == [-1, -1, -1]


def test_association_pairs_without_fake():
    photo, stock, _, idx = _batch([0, 1])
    pairs, labels = association_pairs(photo, stock, None, idx)
    assert _decode(pairs) == [(0, "stock", 0), (1, "stock", 1), (0, "stock", 1), (1, "stock", 0)]
    assert labels.tolist() == [1, 1, 0, 0]
