"""The v2 network options (issue #10): garment-type FiLM, resize-conv up-sampling, spectral-normalised Ds."""

import pytest
import torch
from torch import nn

from imagegen.conditioning import GarmentFiLM, garment_indices
from imagegen.generator import StockImageGenerator
from imagegen.networks import (ARCHS, GANConfig, ResizeConv2d, _up_conv, association_garments, association_pairs,
                               build_discriminators, build_generators, combine)

V2 = GANConfig.for_arch("v2", image_size=32, base_width=8, disc_width=8)


def _photos(n, size=32, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.fixture(scope="module")
def v2_nets():
    torch.manual_seed(0)
    g1, g2 = build_generators(V2)
    return g1.eval(), g2.eval(), {k: d.eval() for k, d in build_discriminators(V2).items()}


def test_arch_presets_and_config_round_trip():
    assert GANConfig() == GANConfig.for_arch("v1") and GANConfig().arch == "v1"
    assert V2.arch == "v2" and V2.garments == ("top", "bottom", "whole") and V2.upsample == "nearest"
    assert V2.spectral_norm and V2.conditioned and not GANConfig().conditioned
    assert GANConfig.from_dict(V2.to_dict()) == V2 and isinstance(V2.to_dict()["garments"], list)
    assert GANConfig(garments=["top", "bottom"]).garments == ("top", "bottom")  # a list from JSON is normalised
    assert GANConfig(upsample="bilinear").arch == "custom"
    with pytest.raises(ValueError):
        GANConfig(upsample="pixelshuffle")
    with pytest.raises(ValueError):
        GANConfig(garments="top")  # a string is not a sequence of names
    with pytest.raises(ValueError):
        GANConfig(garments=("top", "top"))
    with pytest.raises(ValueError):
        GANConfig.for_arch("v9")
    assert {"v1", "v2"} <= set(ARCHS)


def test_garment_indices():
    vocab = ("top", "bottom", "whole")
    assert garment_indices("bottom", vocab, 3).tolist() == [1, 1, 1]
    assert garment_indices(["whole", "top"], vocab, 2).tolist() == [2, 0]
    assert garment_indices(torch.tensor([1, 0]), vocab, 2).tolist() == [1, 0]
    with pytest.raises(ValueError, match="unknown garment"):
        garment_indices(["dress"], vocab, 1)
    with pytest.raises(ValueError, match="2 images but 1"):
        garment_indices(["top"], vocab, 2)
    with pytest.raises(ValueError, match="conditioned"):
        garment_indices(None, vocab, 1)
    with pytest.raises(ValueError):
        garment_indices(torch.tensor([3]), vocab, 1)
    assert GANConfig().garment_indices(None, 4) is None  # an unconditioned config ignores the type


def test_resize_conv_upsampling_has_no_transposed_conv(v2_nets):
    g1, g2, _ = v2_nets
    for net in (g1, g2):
        kinds = [type(m) for m in net.modules()]
        assert nn.ConvTranspose2d not in kinds
        assert kinds.count(ResizeConv2d) == V2.unet_levels  # one resize-conv per decoder level
        for block in net.up:  # resize x2 then a 3x3 stride-1 conv, at the conv's pre-fusion index (state-dict keys)
            conv = block[2]
            assert isinstance(conv, ResizeConv2d) and conv.mode == "nearest" and conv.fused
            assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
    bilinear, _ = build_generators(GANConfig(image_size=32, base_width=8, upsample="bilinear"))
    assert {(m.mode, m.fused) for m in bilinear.modules() if isinstance(m, ResizeConv2d)} == {("bilinear", False)}
    v1, _ = build_generators(GANConfig(image_size=32, base_width=8))
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in v1.modules()) == V2.unet_levels


@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
def test_resize_conv_has_no_checkerboard_on_a_flat_input(upsample):
    """A flat feature map must come out flat (away from the zero-padded border). A stride-2 4x4 transposed conv
    gives its output pixels 4 different kernel-tap subsets (the 2x2 phases), hence a period-2 pattern."""
    from imagegen.networks import _up_conv

    torch.manual_seed(0)
    flat = torch.ones(1, 8, 8, 8)
    with torch.no_grad():
        resize = nn.Sequential(*_up_conv(8, 4, upsample))(flat)[..., 2:-2, 2:-2]
        transpose = nn.Sequential(*_up_conv(8, 4, "transpose"))(flat)[..., 2:-2, 2:-2]
    assert resize.shape == transpose.shape == (1, 4, 12, 12)
    assert (resize - resize.mean(dim=(2, 3), keepdim=True)).abs().max() < 1e-5
    phases = transpose.unfold(2, 2, 2).unfold(3, 2, 2)  # [1, 4, 6, 6, 2, 2]: each 2x2 phase cell
    assert (phases - phases[:, :, :1, :1]).abs().max() < 1e-5  # the pattern repeats every 2 pixels...
    assert (transpose - transpose.mean(dim=(2, 3), keepdim=True)).abs().max() > 1e-3  # ...and is not flat


def _plain_resize_conv(x, conv):
    """The definition the fused path must reproduce: nearest x2, then the 3x3 conv with zero padding 1."""
    return nn.functional.conv2d(nn.functional.interpolate(x, scale_factor=2, mode="nearest"), conv.weight,
                                conv.bias, padding=1)


@pytest.mark.parametrize("hw", [(1, 1), (2, 2), (4, 4), (5, 7), (8, 8), (32, 32), (64, 64), (63, 128)])
@pytest.mark.parametrize("bias", [True, False])
def test_fused_nearest_resize_conv_equals_resize_then_conv(hw, bias, monkeypatch):
    """The fused nearest path (one 2x2 conv at input resolution per output phase) must be the same function as
    resize-then-3x3-conv, borders included (the up-sampled map's zero padding), in values and in the gradients
    w.r.t. the input, the 3x3 weight and the bias that training relies on. Forced on at every size (the size
    threshold would leave the small ones on the plain path); odd, even, non-square and the U-Net's map sizes."""
    monkeypatch.setattr(ResizeConv2d, "MIN_FUSED_PIXELS", 0)
    torch.manual_seed(0)
    conv = ResizeConv2d(6, 5, "nearest", bias=bias)
    nn.init.normal_(conv.weight, 0.0, 0.5)
    if bias:
        nn.init.normal_(conv.bias)
    x = torch.randn(2, 6, *hw, requires_grad=True)
    out = conv(x)
    ref = _plain_resize_conv(x, conv)
    assert out.shape == ref.shape == (2, 5, 2 * hw[0], 2 * hw[1])
    assert (out - ref).abs().max() < 1e-5
    upstream = torch.randn_like(out)
    params = [x, conv.weight] + ([conv.bias] if bias else [])
    got = torch.autograd.grad(out, params, upstream)
    want = torch.autograd.grad(ref, params, upstream)
    for g, w in zip(got, want):
        assert (g - w).abs().max() < 1e-4 * max(1.0, w.abs().max().item())


def test_fused_resize_conv_follows_weight_updates_and_switches_by_size():
    """The fused kernels are derived from the stored 3x3 weight on every call, so an optimizer step is seen at
    once; and the size threshold only picks the arithmetic: both sides of it give the same outputs."""
    torch.manual_seed(0)
    conv = ResizeConv2d(4, 3, "nearest")
    x = torch.randn(1, 4, 16, 16)  # 256 pixels: fused
    assert 1 * 16 * 16 >= ResizeConv2d.MIN_FUSED_PIXELS > 4 * 4
    opt = torch.optim.SGD(conv.parameters(), lr=1.0)
    conv(x).square().mean().backward()
    opt.step()
    with torch.no_grad():
        assert (conv(x) - _plain_resize_conv(x, conv)).abs().max() < 1e-5
        small = torch.randn(1, 4, 4, 4)  # 16 pixels: the plain path
        assert torch.equal(conv(small), _plain_resize_conv(small, conv))
        conv.fused = False
        assert torch.equal(conv(x), _plain_resize_conv(x, conv))


def test_resize_conv_loads_state_dicts_of_the_separate_upsample_and_conv():
    """Checkpoints of v2 networks written when the block was ``[ReLU, Upsample, Conv2d]`` must load unchanged
    (strict) into ``[ReLU, Identity, ResizeConv2d]`` and give the same output."""
    torch.manual_seed(0)
    legacy = nn.Sequential(nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(8, 4, 3, 1, 1))
    block = nn.Sequential(nn.ReLU(), *_up_conv(8, 4, "nearest"))
    assert list(block.state_dict()) == list(legacy.state_dict()) == ["2.weight", "2.bias"]
    block.load_state_dict(legacy.state_dict())
    x = torch.randn(3, 8, 16, 16)
    with torch.no_grad():
        assert (block(x) - legacy(x)).abs().max() < 1e-5


def test_spectral_norm_is_on_every_discriminator_conv(v2_nets):
    _, _, ds = v2_nets
    for name, d in ds.items():
        convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
        assert len(convs) == V2.n_disc_layers + 2, name
        for conv in convs:
            assert nn.utils.parametrize.is_parametrized(conv, "weight"), name
            assert type(conv.parametrizations.weight[0]).__name__ == "_SpectralNorm"
        assert any(k.endswith("weight.original") for k in d.state_dict())
    plain = build_discriminators(GANConfig(image_size=32, disc_width=8))
    assert not any(nn.utils.parametrize.is_parametrized(m) for d in plain.values() for m in d.modules())
    # only the Ds: the generators (what ships) are never spectral-normalised
    assert not any(nn.utils.parametrize.is_parametrized(m) for g in v2_nets[:2] for m in g.modules())


def test_spectral_norm_bounds_the_weight_norm():
    torch.manual_seed(0)
    d = build_discriminators(GANConfig(image_size=32, disc_width=8, spectral_norm=True))["real"].train()
    for _ in range(30):  # power iterations run in training-mode forwards
        d(_photos(2))
    for conv in (m for m in d.modules() if isinstance(m, nn.Conv2d)):
        sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, abs=0.05)


def test_film_layers_sit_in_all_five_networks(v2_nets):
    g1, g2, ds = v2_nets
    for net in (g1, g2, *ds.values()):
        films = [m for m in net.modules() if isinstance(m, GarmentFiLM)]
        assert films and all(f.table.num_embeddings == 3 for f in films)


def test_conditioning_changes_the_output_when_only_the_type_changes(v2_nets):
    g1, g2, ds = v2_nets
    x = _photos(1).expand(3, -1, -1, -1).contiguous()  # one photo, three times
    garment = torch.tensor([0, 1, 2])
    with torch.no_grad():
        out1 = g1(x, garment)
        out2 = g2(combine(x, out1), garment)
        logits = ds["real"](out1, garment)
    for out in (out1, out2, logits):
        for a, b in ((0, 1), (0, 2), (1, 2)):
            assert (out[a] - out[b]).abs().max() > 1e-4, (a, b)
    with pytest.raises(ValueError, match="conditioned"):
        g1(x)  # a conditioned network must be told the type, not guess it


def test_a_mixed_batch_gives_each_row_its_own_types_output(v2_nets):
    g1, g2, ds = v2_nets
    x = _photos(4, seed=1)
    garment = torch.tensor([2, 0, 1, 0])
    with torch.no_grad():
        b1 = g1(x, garment)
        b2 = g2(combine(x, b1), garment)
        bd = ds["assoc1"](combine(x, b1), garment)
        for i in range(4):
            a1 = g1(x[i:i + 1], garment[i:i + 1])
            a2 = g2(combine(x[i:i + 1], a1), garment[i:i + 1])
            ad = ds["assoc1"](combine(x[i:i + 1], a1), garment[i:i + 1])
            assert torch.allclose(b1[i:i + 1], a1, atol=1e-5) and torch.allclose(b2[i:i + 1], a2, atol=1e-5)
            assert torch.allclose(bd[i:i + 1], ad, atol=1e-5)


def test_association_garments_follow_the_pair_rows():
    photo, stock, fake = _photos(4), _photos(4, seed=1), _photos(4, seed=2)
    item = torch.tensor([0, 0, 1, 2])
    garment = torch.tensor([0, 0, 1, 2])
    pairs, labels = association_pairs(photo, stock, fake, item)
    rows = association_garments(garment, item, with_fake=True)
    assert rows.shape[0] == pairs.shape[0] == labels.shape[0]
    # every row's garment is its photo's: find each pair's photo by its first three channels
    for pair, g in zip(pairs, rows):
        owner = next(i for i in range(4) if torch.equal(pair[:3], photo[i]))
        assert g == garment[owner]
    assert association_garments(None, item, with_fake=True) is None
    assert association_garments(garment, item, with_fake=False).shape[0] == association_pairs(
        photo, stock, None, item)[0].shape[0]


def test_stock_image_generator_routes_each_photos_type():
    gen = StockImageGenerator.untrained(image_size=32, seed=0, device="cpu", arch="v2")
    assert gen.garments == ("top", "bottom", "whole") and gen.label == "untrained-v2-seed0"
    x = _photos(3, seed=4)
    mixed = gen.forward_preprocessed(x, ["whole", "top", "bottom"])[1]
    for i, g in enumerate(["whole", "top", "bottom"]):
        assert torch.allclose(mixed[i], gen.forward_preprocessed(x[i:i + 1], g)[1][0], atol=1e-5)
    assert (mixed[0] - gen.forward_preprocessed(x[0:1], "top")[1][0]).abs().max() > 1e-4
    with pytest.raises(ValueError, match="conditioned"):
        gen.forward_preprocessed(x)
    with pytest.raises(ValueError, match="unknown garment"):
        gen.forward_preprocessed(x[:1], "hat")
