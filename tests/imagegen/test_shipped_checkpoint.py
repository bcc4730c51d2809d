"""The shipped ``imagegen/checkpoints/default.pt`` (64 px, v1) is untouched by the v2 options (issue #10).

Three independent checks: its stored config lacks the new GANConfig fields and still reads as v1; the networks
rebuilt from it have exactly the v1 module structure and take its weights strictly; and its output on a fixed input
equals the output recorded BEFORE the v2 change (``data/default_checkpoint_reference.pt``, made with the old code).
The recorded output is exact on the machine that made it; across CPUs, convolution kernels may round differently,
so the cross-machine check is a tolerance far below any architectural change, and the byte-identity check runs the
new forward against the pre-change forward (``_v1_forward``, copied from the old ``UNet.forward``) in-process.
"""

from pathlib import Path

import pytest
import torch
from torch import nn

from imagegen.checkpoint import load_checkpoint
from imagegen.conditioning import GarmentFiLM
from imagegen.generator import DEFAULT_CHECKPOINT, StockImageGenerator
from imagegen.networks import GANConfig, build_generators, combine

REFERENCE = Path(__file__).parent / "data" / "default_checkpoint_reference.pt"
pytestmark = pytest.mark.skipif(not DEFAULT_CHECKPOINT.is_file(), reason="no shipped checkpoint")


@pytest.fixture(scope="module")
def reference():
    return torch.load(REFERENCE, weights_only=True)


@pytest.fixture(scope="module")
def shipped():
    return StockImageGenerator.from_checkpoint(DEFAULT_CHECKPOINT, device="cpu")


def _input(reference):
    return torch.rand(*reference["shape"], generator=torch.Generator().manual_seed(reference["seed"])) * 2 - 1


def _v1_forward(unet: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``UNet.forward`` as it was before the v2 options: every block called as a plain ``nn.Sequential``."""
    skips = []
    for block in unet.down:
        x = block(x)
        skips.append(x)
    skips.pop()
    for block in unet.up:
        x = block(x)
        if skips:
            x = torch.cat([x, skips.pop()], dim=1)
    return x


def test_stored_config_predates_the_new_fields_and_reads_as_v1():
    raw = torch.load(DEFAULT_CHECKPOINT, map_location="cpu", weights_only=True)["gan_config"]
    assert not {"garments", "upsample", "spectral_norm"} & set(raw)  # so the defaults below are what apply
    cfg = load_checkpoint(DEFAULT_CHECKPOINT).config
    assert cfg.arch == "v1" and cfg.garments == () and cfg.upsample == "transpose" and not cfg.spectral_norm
    assert cfg == GANConfig.from_dict(raw) == GANConfig(image_size=64)


def test_rebuilt_networks_have_the_v1_structure_and_load_strictly(shipped, reference):
    ckpt = load_checkpoint(DEFAULT_CHECKPOINT)
    g1, g2 = build_generators(ckpt.config)
    g1.load_state_dict(ckpt.g1_state, strict=True)  # raises on any missing or unexpected key
    g2.load_state_dict(ckpt.g2_state, strict=True)
    assert sorted(g1.state_dict()) == reference["g1_keys"] and sorted(g2.state_dict()) == reference["g2_keys"]
    for net in (shipped.g1, shipped.g2):
        kinds = {type(m) for m in net.modules()}
        assert nn.ConvTranspose2d in kinds
        assert not kinds & {GarmentFiLM, nn.Upsample, nn.Embedding}


def test_output_equals_the_output_recorded_before_the_change(shipped, reference):
    g1, g2 = shipped.forward_preprocessed(_input(reference))
    # Exact on the machine that recorded it; 1e-4 elsewhere (any change of architecture or weights moves it by ~0.1).
    assert torch.allclose(g1, reference["g1"], rtol=0, atol=1e-4)
    assert torch.allclose(g2, reference["g2"], rtol=0, atol=1e-4)


def test_new_forward_is_byte_identical_to_the_old_one(shipped, reference):
    x = _input(reference)
    with torch.inference_mode():
        old1 = _v1_forward(shipped.g1, x)
        old2 = _v1_forward(shipped.g2, combine(x, old1))
    new1, new2 = shipped.forward_preprocessed(x, ["bottom", "whole"])  # the type is ignored by a v1 model
    assert torch.equal(new1, old1) and torch.equal(new2, old2)
